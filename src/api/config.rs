//! Where and how to call, checked: the user's settings ([`ApiSettings`]) become a
//! [`ClientConfig`] (endpoint, timeouts, credentials), or a [`ClientError`] saying which setting
//! is wrong. The Live client, the STS client and the credential provider are all built from one.

use std::time::Duration;

use super::endpoint::{Endpoint, EndpointError};
use super::secret::Credentials;

/// What a user says about where and how to call, before it is checked: the endpoint (`None` or
/// blank for the default) and the two timeouts in seconds. The CLI builds it from its flags, so the
/// API layer knows nothing of the CLI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiSettings<'a> {
    pub endpoint: Option<&'a str>,
    pub connect_timeout: f64,
    pub read_timeout: f64,
}

/// Everything a client needs. Timeouts: `connect_timeout` bounds the TCP/TLS handshake;
/// `read_timeout` bounds each wait for data and, added to `connect_timeout`, the whole call.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub endpoint: Endpoint,
    pub credentials: Credentials,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

/// Why a client could not be set up (before any call).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("--{flag} {value}: expected a positive number of seconds, e.g. 5 or 0.5")]
    Timeout { flag: &'static str, value: f64 },
    #[error("cannot set up the HTTP client: {0}")]
    Http(String),
}

impl ClientConfig {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

    /// Endpoint and timeouts as the user gave them (the CLI's shared API flags convert into
    /// [`ApiSettings`]); credentials are resolved separately (see [`super::credentials::load`]) so
    /// their errors can map to their own exit code.
    pub fn from_args<'a>(
        args: impl Into<ApiSettings<'a>>,
        credentials: Credentials,
    ) -> Result<ClientConfig, ClientError> {
        let args = args.into();
        let secs = |flag: &'static str, value: f64| {
            if value > 0.0 {
                Duration::try_from_secs_f64(value).map_err(|_| ClientError::Timeout { flag, value })
            } else {
                Err(ClientError::Timeout { flag, value })
            }
        };
        Ok(ClientConfig {
            endpoint: Endpoint::from_setting(args.endpoint)?,
            credentials,
            connect_timeout: secs("connect-timeout", args.connect_timeout)?,
            read_timeout: secs("read-timeout", args.read_timeout)?,
        })
    }
}
