//! Talking to the ApsaraVideo Live API: credentials, signing, transport, errors and wire models.
//!
//! Layers, each importing only those below it: `secret`, `clock`, `endpoint`, `error`, `models`,
//! `sign` at the bottom; `config`, `request`, `response`, then `transport`; `sts` on the
//! transport; `credentials` (the chain and the provider) on STS; `client` on top of all.

pub mod client;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod models;
pub mod operation;
pub mod request;
pub mod response;
pub mod secret;
pub mod sign;
pub mod sts;
pub mod transport;
