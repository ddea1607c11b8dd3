//! One endpoint's transport: the HTTP connection pool, timeouts, clock, nonces and body limit
//! ([`Transport`]), sending a signed or form request and reading its answer bounded, and turning
//! reqwest's failures into classified [`ApiError`]s. The Live client and the STS client each own
//! one; nothing here knows which API it talks to.

use std::sync::Arc;
use std::time::Duration;

use super::clock::{Clock, NonceSource};
use super::config::ClientError;
use super::endpoint::Endpoint;
use super::error::{ApiError, TransportKind};
use super::request::sign_request_for;
use super::response::interpret_response;
use super::secret::{Credentials, Secret};
use super::sign;

/// Largest response body read; anything bigger is refused as malformed rather than buffered.
/// A full page of 100 tasks is well under 1 MiB.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// One endpoint's transport: connection pool, timeouts, clock, nonces and body limit. The Live
/// client and the STS client each have one (sharing the pool).
#[derive(Clone)]
pub struct Transport {
    pub(crate) http: reqwest::Client,
    pub(crate) endpoint: Endpoint,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) nonces: Arc<dyn NonceSource>,
    pub(crate) max_body: usize,
    pub(crate) call_timeout: Duration,
}

impl Transport {
    pub(crate) fn new(
        endpoint: Endpoint,
        connect_timeout: Duration,
        read_timeout: Duration,
        clock: Arc<dyn Clock>,
        nonces: Arc<dyn NonceSource>,
        max_body: usize,
    ) -> Result<Transport, ClientError> {
        Transport::with_pool(
            endpoint,
            connect_timeout,
            read_timeout,
            clock,
            nonces,
            max_body,
            true,
        )
    }

    /// `pooled: false` keeps no idle connection: for credential fetches (rare, and possibly made
    /// on a runtime other than the one that makes the calls, which a pooled connection would
    /// outlive).
    pub(crate) fn with_pool(
        endpoint: Endpoint,
        connect_timeout: Duration,
        read_timeout: Duration,
        clock: Arc<dyn Clock>,
        nonces: Arc<dyn NonceSource>,
        max_body: usize,
        pooled: bool,
    ) -> Result<Transport, ClientError> {
        let mut builder = reqwest::Client::builder();
        if !pooled {
            builder = builder.pool_max_idle_per_host(0);
        }
        // A loopback endpoint (the sandbox, the emulator) is plain http on this machine: through an
        // HTTP_PROXY/HTTPS_PROXY/ALL_PROXY it would carry signed requests in clear text to
        // another host. Other endpoints keep reqwest's reading of those variables and NO_PROXY.
        if endpoint.is_loopback() {
            builder = builder.no_proxy();
        }
        let http = builder
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .user_agent(concat!("livebatch/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Http(error_text(e)))?;
        Ok(Transport {
            http,
            endpoint,
            clock,
            nonces,
            max_body,
            call_timeout: connect_timeout.saturating_add(read_timeout),
        })
    }
}

/// Signs (V3) and sends one GET of `action` to `t`'s endpoint, and interprets the answer.
pub(crate) async fn send_signed<K: AsRef<str>, V: AsRef<str>>(
    t: &Transport,
    action: &str,
    version: &str,
    params: &[(K, V)],
    credentials: &Credentials,
) -> Result<serde_json::Value, ApiError> {
    let signed = sign_request_for(
        t.endpoint.host_header(),
        action,
        version,
        params,
        credentials,
        t.clock.now(),
        &t.nonces.nonce(),
    );
    let mut url = t.endpoint.url().clone();
    url.set_query(Some(&signed.query));
    let mut req = t.http.get(url);
    for (name, value) in &signed.headers {
        if name != "host" {
            req = req.header(name.as_str(), value.as_str());
        }
    }
    exchange(t, action, req).await
}

/// An unsigned POST of `action` with a form body (`AssumeRoleWithOIDC`: the OIDC token is the
/// proof). `secret_field` is added to the body only, never to the URL.
pub(crate) async fn send_unsigned_form(
    t: &Transport,
    action: &str,
    version: &str,
    form: &[(&str, String)],
    secret_field: (&str, &Secret),
) -> Result<serde_json::Value, ApiError> {
    let now = t.clock.now();
    let query = [
        ("Action", action.to_string()),
        ("Format", "JSON".to_string()),
        ("Timestamp", now.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ("Version", version.to_string()),
    ];
    let mut body: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    body.push((
        secret_field.0.to_string(),
        secret_field.1.expose().to_string(),
    ));
    let mut url = t.endpoint.url().clone();
    url.set_query(Some(&sign::canonical_query(&query)));
    let req = t
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-acs-action", action)
        .header("x-acs-version", version)
        .body(sign::canonical_query(&body));
    exchange(t, action, req).await
}

/// Sends a built request, reads at most the body limit within the call timeout, interprets it.
async fn exchange(
    t: &Transport,
    action: &str,
    req: reqwest::RequestBuilder,
) -> Result<serde_json::Value, ApiError> {
    let host = t.endpoint.host_header();
    let exchange = async {
        let mut resp = req
            .send()
            .await
            .map_err(|e| transport_error(action, host, e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("x-acs-retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let too_big = |n: u64| ApiError::Transport {
            kind: TransportKind::Malformed,
            message: format!(
                "{action} to {host}: HTTP {status} response body of {n} bytes or more exceeds the {} byte limit",
                t.max_body
            ),
        };
        if let Some(n) = resp.content_length().filter(|n| *n > t.max_body as u64) {
            return Err(too_big(n));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| transport_error(action, host, e))?
        {
            if body.len() + chunk.len() > t.max_body {
                return Err(too_big((body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, retry_after, body))
    };
    let (status, retry_after, body) = tokio::time::timeout(t.call_timeout, exchange)
        .await
        .map_err(|_| ApiError::Transport {
            kind: TransportKind::Timeout,
            message: format!(
                "{action} to {host}: no complete response within {:?}",
                t.call_timeout
            ),
        })??;
    interpret_response(status, retry_after.as_deref(), &body).map_err(|e| match e {
        ApiError::Transport { kind, message } => ApiError::Transport {
            kind,
            message: format!("{action} to {host}: {message}"),
        },
        other => other,
    })
}

/// A reqwest error and its causes, joined, without its URL: the URL is long and says nothing the
/// message does not (callers name the action and host), and a credentials URI may carry a token
/// in its query.
pub(crate) fn error_text(e: reqwest::Error) -> String {
    error_chain(&e.without_url())
}

/// The error and its causes, joined; a cause whose text is already shown is left out.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn transport_error(action: &str, host: &str, e: reqwest::Error) -> ApiError {
    let kind = transport_kind(&e);
    ApiError::Transport {
        kind,
        message: format!("{action} to {host}: {}", error_text(e)),
    }
}

/// What kind of network failure a reqwest error is, from its own flags and the I/O or hyper
/// error beneath it.
fn transport_kind(e: &reqwest::Error) -> TransportKind {
    if e.is_timeout() {
        return TransportKind::Timeout;
    }
    if e.is_connect() {
        return TransportKind::Connect;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                TimedOut => return TransportKind::Timeout,
                ConnectionRefused => return TransportKind::Connect,
                ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe => {
                    return TransportKind::Reset;
                }
                _ => {}
            }
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_closed() || h.is_canceled() {
                return TransportKind::Reset;
            }
            if h.is_timeout() {
                return TransportKind::Timeout;
            }
            if h.is_parse() {
                return TransportKind::Malformed;
            }
        }
        source = s.source();
    }
    if e.is_body() || e.is_decode() {
        TransportKind::Reset
    } else {
        TransportKind::Other
    }
}
