//! Talking to the ApsaraVideo Live API: credentials, signing, transport, errors and wire models.

pub mod client;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod models;
pub mod operation;
pub mod sign;
pub mod sts;
