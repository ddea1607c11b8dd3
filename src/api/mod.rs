//! Talking to the ApsaraVideo Live API: credentials, signing, transport, errors and wire models.

pub mod credentials;
pub mod error;
pub mod models;
pub mod sign;
