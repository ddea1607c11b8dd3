//! The ApsaraVideo Live client: signs each call at send time, sends it, and turns whatever comes
//! back into a typed response or a typed [`ApiError`].
//!
//! The client never retries. The executor owns retries, pacing and backoff; a retry is simply
//! another call, which is signed afresh (new `x-acs-date`, new nonce). A [`Client`] is an `Arc`
//! inside, cheap to clone into every task; the HTTP connection pool is shared.
//!
//! Signing ([`sign_request`]) and response interpretation ([`interpret_response`]) are pure
//! functions; only [`Client::call_raw`] touches the network.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::credentials::provider::{CredentialProvider, Issued};
use super::credentials::{Credentials, CredentialsError};
use super::endpoint::{Endpoint, EndpointError};
use super::error::{ApiError, TransportKind, is_credential_expiry};
use super::models::{
    API_VERSION, DescribeResponse, ErrorBody, ListResponse, RetCodeResponse, TaskIdResponse,
    TaskState, action,
};
use super::sign;
use super::sts::{CallerIdentity, StsClient};
use crate::model::{Region, Update};

/// Largest response body read; anything bigger is refused as malformed rather than buffered.
/// A full page of 100 tasks is well under 1 MiB.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// `PageSize` used when listing everything (the API's maximum).
pub const MAX_PAGE_SIZE: u32 = 100;

/// Where the signing time comes from. Injected so tests can reproduce exact signatures.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Where `x-acs-signature-nonce` values come from; each call (and so each retry) takes a new one.
pub trait NonceSource: Send + Sync + 'static {
    fn nonce(&self) -> String;
}

/// 128 random bits as 32 hex digits, like the official SDKs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomNonce;

impl NonceSource for RandomNonce {
    fn nonce(&self) -> String {
        format!("{:032x}", rand::random::<u128>())
    }
}

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

/// A signed request, ready to send: the exact query string and the headers to add (`host` is
/// included because it is signed; the HTTP stack sends the same value itself).
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub query: String,
    pub headers: Vec<(String, String)>,
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let v = if n == "x-acs-security-token" {
                    "***"
                } else {
                    v.as_str()
                };
                (n.as_str(), v)
            })
            .collect();
        f.debug_struct("SignedRequest")
            .field("query", &self.query)
            .field("headers", &headers)
            .finish()
    }
}

/// Signs a GET of `action` with `params` (all in the query, empty body) with V3, for `date` and
/// `nonce`. Pure: the same inputs give the same bytes, which is what the published vectors check.
pub fn sign_request<K: AsRef<str>, V: AsRef<str>>(
    host: &str,
    action: &str,
    params: &[(K, V)],
    credentials: &Credentials,
    date: DateTime<Utc>,
    nonce: &str,
) -> SignedRequest {
    sign_request_for(host, action, API_VERSION, params, credentials, date, nonce)
}

/// [`sign_request`] for any API version (STS calls name `2015-04-01`).
pub fn sign_request_for<K: AsRef<str>, V: AsRef<str>>(
    host: &str,
    action: &str,
    version: &str,
    params: &[(K, V)],
    credentials: &Credentials,
    date: DateTime<Utc>,
    nonce: &str,
) -> SignedRequest {
    let query: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host.into()),
        ("x-acs-action".into(), action.into()),
        ("x-acs-version".into(), version.into()),
        (
            "x-acs-date".into(),
            date.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ),
        ("x-acs-signature-nonce".into(), nonce.into()),
        ("x-acs-content-sha256".into(), sign::EMPTY_SHA256.into()),
    ];
    if let Some(token) = &credentials.security_token {
        headers.push(("x-acs-security-token".into(), token.expose().into()));
        headers.push((
            "x-acs-accesskey-id".into(),
            credentials.access_key_id.clone(),
        ));
    }
    let req = sign::V3Request {
        method: "GET",
        path: "/",
        query: &query,
        headers: &headers,
        payload_sha256: sign::EMPTY_SHA256,
    };
    let authorization = sign::v3_authorization(
        &req,
        &credentials.access_key_id,
        credentials.access_key_secret.expose(),
    );
    headers.push(("authorization".into(), authorization));
    SignedRequest {
        query: sign::canonical_query(&query),
        headers,
    }
}

/// Turns a complete HTTP response into the body's JSON or a typed error. Pure.
///
/// - 2xx with a JSON object: success, unless it carries `RetCode != 0` (then a service error
///   with code `RetCode.<n>` and the `Description` as message).
/// - 4xx/5xx with the documented error body: a service error with everything it says.
/// - Anything else (not JSON, not an object): a `Malformed` transport error naming the status.
// `ApiError` is returned by value on purpose (it is the shared error every caller matches on);
// one response is interpreted per network round trip, so its size costs nothing measurable.
#[allow(clippy::result_large_err)]
pub fn interpret_response(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let retry_after = retry_after.and_then(parse_retry_after);
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body)
        .ok()
        .filter(serde_json::Value::is_object);
    let Some(value) = parsed else {
        return Err(ApiError::Transport {
            kind: TransportKind::Malformed,
            message: format!(
                "HTTP {status} with a body that is not a JSON object ({} bytes{})",
                body.len(),
                preview(body)
            ),
        });
    };
    if (200..300).contains(&status) {
        let ret_code = value.get("RetCode").and_then(serde_json::Value::as_i64);
        if let Some(n) = ret_code.filter(|n| *n != 0) {
            let text = |k: &str| {
                value
                    .get(k)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            return Err(ApiError::Service {
                http_status: status,
                code: format!("RetCode.{n}"),
                message: text("Description"),
                request_id: text("RequestId"),
                host_id: text("HostId"),
                recommend: text("Recommend"),
                retry_after,
            });
        }
        return Ok(value);
    }
    let e: ErrorBody = serde_json::from_value(value).unwrap_or_default();
    Err(ApiError::Service {
        http_status: status,
        code: e.code,
        message: e.message,
        request_id: e.request_id,
        host_id: e.host_id,
        recommend: e.recommend,
        retry_after,
    })
}

/// `x-acs-retry-after` is milliseconds; fractions are accepted, anything else ignored.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let ms: f64 = v.trim().parse().ok()?;
    (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0))
}

/// The start of an unexpected body, printable, for error messages.
fn preview(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(", starting {:?}", clean.trim())
}

/// The filters of `DescribeLivePullToPushList` (the service matches them fuzzily).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub region: Region,
    pub task_id: Option<String>,
    pub task_name: Option<String>,
    pub dst_url: Option<String>,
}

impl ListQuery {
    pub fn new(region: Region) -> ListQuery {
        ListQuery {
            region,
            task_id: None,
            task_name: None,
            dst_url: None,
        }
    }

    fn params(&self, page_number: u32, page_size: u32) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("Region", self.region.as_str().to_string()),
            ("PageNumber", page_number.to_string()),
            ("PageSize", page_size.to_string()),
        ];
        for (name, v) in [
            ("TaskId", &self.task_id),
            ("TaskName", &self.task_name),
            ("DstUrl", &self.dst_url),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                p.push((name, v.clone()));
            }
        }
        p
    }
}

/// The parameters of `CreateLivePullToPush` (`None` leaves the service's default): the same type
/// the emulator checks with [`crate::rules::check_create`], so a request the client can build is
/// one the rules can judge.
pub use crate::rules::NewTask as CreateRequest;

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
            .map_err(|e| ClientError::Http(error_chain(&e)))?;
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

struct Inner {
    live: Transport,
    sts: StsClient,
    provider: Arc<CredentialProvider>,
    access_key_id: String,
}

/// The API client. Clone it freely: clones share one connection pool and configuration.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.live.endpoint.to_string())
            .field("access_key_id", &self.inner.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`] with a non-default clock, nonce source, body limit or credential provider
/// (tests, the emulator, refreshable credentials).
pub struct ClientBuilder {
    config: ClientConfig,
    clock: Arc<dyn Clock>,
    nonces: Arc<dyn NonceSource>,
    max_body: usize,
    provider: Option<Arc<CredentialProvider>>,
}

impl ClientBuilder {
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn nonces(mut self, nonces: Arc<dyn NonceSource>) -> Self {
        self.nonces = nonces;
        self
    }

    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sign with whatever `provider` holds at each call (refreshed as it expires) instead of the
    /// config's fixed credentials.
    pub fn provider(mut self, provider: Arc<CredentialProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    pub fn build(self) -> Result<Client, ClientError> {
        let c = &self.config;
        let live = Transport::new(
            c.endpoint.clone(),
            c.connect_timeout,
            c.read_timeout,
            self.clock.clone(),
            self.nonces.clone(),
            self.max_body,
        )?;
        let sts = StsClient(Transport {
            endpoint: super::sts::sts_endpoint_for(&c.endpoint)?,
            ..live.clone()
        });
        let provider = self
            .provider
            .unwrap_or_else(|| CredentialProvider::fixed(c.credentials.clone()));
        Ok(Client {
            inner: Arc::new(Inner {
                live,
                sts,
                provider,
                access_key_id: c.credentials.access_key_id.clone(),
            }),
        })
    }
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        Client::builder(config).build()
    }

    pub fn builder(config: ClientConfig) -> ClientBuilder {
        ClientBuilder {
            config,
            clock: Arc::new(SystemClock),
            nonces: Arc::new(RandomNonce),
            max_body: MAX_BODY_BYTES,
            provider: None,
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.live.endpoint
    }

    /// Where STS calls go (`sts.aliyuncs.com`, or the `--endpoint` override).
    pub fn sts(&self) -> &StsClient {
        &self.inner.sts
    }

    /// The credentials in use and how they are obtained.
    pub fn credential_provider(&self) -> &Arc<CredentialProvider> {
        &self.inner.provider
    }

    /// How many times the credentials were refreshed (0 for static keys).
    pub fn credential_refreshes(&self) -> u64 {
        self.inner.provider.refreshes()
    }

    /// Runs `op` with the current credentials; when the service answers that they expired,
    /// refreshes them (once, shared with concurrent calls) and runs `op` again. The caller sees
    /// the retried call's result, so an expiry mid-run is not an error class of its own.
    async fn with_credentials<T, F, Fut>(&self, op: F) -> Result<T, ApiError>
    where
        F: Fn(Arc<Issued>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let provider = &self.inner.provider;
        let issued = provider.credentials().await.map_err(credentials_error)?;
        match op(issued.clone()).await {
            Err(e) if is_credential_expiry(&e.code()) => {
                match provider
                    .refresh_rejected(&issued)
                    .await
                    .map_err(credentials_error)?
                {
                    Some(fresh) => op(fresh).await,
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    /// STS `GetCallerIdentity` for the credentials in use: which account (and user or role)
    /// they belong to. Keys of one account share its quotas.
    pub async fn caller_identity(&self) -> Result<CallerIdentity, ApiError> {
        let sts = &self.inner.sts;
        self.with_credentials(|c| async move { sts.caller_identity(&c.credentials).await })
            .await
    }

    /// One call: sign now with a fresh nonce, GET, read at most the body limit, interpret.
    /// Returns the response's JSON object; `RetCode != 0` and error bodies are `Err`. Credentials
    /// the service calls expired are refreshed and the call is sent once more (see
    /// [`CredentialProvider`]); nothing else is retried here.
    pub async fn call_raw<K: AsRef<str>, V: AsRef<str>>(
        &self,
        action: &str,
        params: &[(K, V)],
    ) -> Result<serde_json::Value, ApiError> {
        let live = &self.inner.live;
        self.with_credentials(|c| async move {
            send_signed(live, action, API_VERSION, params, &c.credentials).await
        })
        .await
    }

    async fn call<T: DeserializeOwned, K: AsRef<str>, V: AsRef<str>>(
        &self,
        action: &str,
        params: &[(K, V)],
    ) -> Result<T, ApiError> {
        let value = self.call_raw(action, params).await?;
        serde_json::from_value(value).map_err(|e| ApiError::Transport {
            kind: TransportKind::Malformed,
            message: format!("{action}: the response does not have the documented shape: {e}"),
        })
    }

    /// `UpdateLivePullToPush` with exactly the parameters of [`Update::to_params`].
    pub async fn update(&self, update: &Update) -> Result<RetCodeResponse, ApiError> {
        self.call(action::UPDATE, &update.to_params()).await
    }

    /// `DescribeLivePullToPush`: one task's status and configuration.
    pub async fn describe(&self, task_id: &str, region: Region) -> Result<TaskState, ApiError> {
        let r: DescribeResponse = self
            .call(action::DESCRIBE, &task_params(task_id, region))
            .await?;
        Ok(r.task)
    }

    /// One page of `DescribeLivePullToPushList` (`page_number` from 1, `page_size` 1–100).
    pub async fn describe_list_page(
        &self,
        query: &ListQuery,
        page_number: u32,
        page_size: u32,
    ) -> Result<ListResponse, ApiError> {
        self.call(action::DESCRIBE_LIST, &query.params(page_number, page_size))
            .await
    }

    /// Every task matching `query`, all pages of 100.
    pub async fn describe_list_all(&self, query: &ListQuery) -> Result<Vec<TaskState>, ApiError> {
        self.describe_list_all_with(query, |_| {}).await
    }

    /// Like [`Client::describe_list_all`], calling `on_page` after each page (for progress).
    /// Stops at the first empty page or when `Total` tasks are collected, and never asks for
    /// more pages than `Total` allows, so a service that repeats pages cannot loop it forever.
    pub async fn describe_list_all_with(
        &self,
        query: &ListQuery,
        on_page: impl FnMut(&ListResponse),
    ) -> Result<Vec<TaskState>, ApiError> {
        list_all_pages(
            |page| self.describe_list_page(query, page, MAX_PAGE_SIZE),
            on_page,
        )
        .await
    }

    pub async fn stop(&self, task_id: &str, region: Region) -> Result<TaskIdResponse, ApiError> {
        self.call(action::STOP, &task_params(task_id, region)).await
    }

    pub async fn restart(&self, task_id: &str, region: Region) -> Result<TaskIdResponse, ApiError> {
        self.call(action::RESTART, &task_params(task_id, region))
            .await
    }

    pub async fn delete(&self, task_id: &str, region: Region) -> Result<RetCodeResponse, ApiError> {
        self.call(action::DELETE, &task_params(task_id, region))
            .await
    }

    /// `CreateLivePullToPush`; returns the new task's ID.
    pub async fn create(&self, req: &CreateRequest) -> Result<String, ApiError> {
        let r: TaskIdResponse = self.call(action::CREATE, &req.to_params()).await?;
        if r.task_id.is_empty() {
            return Err(ApiError::Transport {
                kind: TransportKind::Malformed,
                message: format!(
                    "{}: success response without a TaskId (RequestId {})",
                    action::CREATE,
                    r.request_id
                ),
            });
        }
        Ok(r.task_id)
    }
}

/// Turns a credentials failure during a run into the API error the executor classifies: a
/// network failure reaching the source is transient (retried); anything else is systemic (the
/// run halts, exit 77), coded `Credentials.Unavailable`.
fn credentials_error(e: CredentialsError) -> ApiError {
    match e {
        CredentialsError::Fetch {
            transient: true,
            message,
            source_name,
        } => ApiError::Transport {
            kind: TransportKind::Connect,
            message: format!("refreshing credentials from {source_name}: {message}"),
        },
        other => ApiError::Service {
            http_status: 401,
            code: "Credentials.Unavailable".into(),
            message: other.to_string(),
            request_id: String::new(),
            host_id: String::new(),
            recommend: String::new(),
            retry_after: None,
        },
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
    secret_field: (&str, &super::credentials::Secret),
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
            .map_err(|e| transport_error(action, host, &e))?;
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
            .map_err(|e| transport_error(action, host, &e))?
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

/// Every page of a listing, `MAX_PAGE_SIZE` tasks at a time, fetched by `fetch(page_number)`:
/// stops at the reported total, at an empty page, or at the last page the total implies (so a
/// total that changes while paging cannot loop forever). `fetch` is the plain call or a paced,
/// retried one; the error is whatever it fails with.
pub async fn list_all_pages<E, F, Fut>(
    mut fetch: F,
    mut on_page: impl FnMut(&ListResponse),
) -> Result<Vec<TaskState>, E>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<ListResponse, E>>,
{
    let mut all = Vec::new();
    let mut page = 1u32;
    loop {
        let r = fetch(page).await?;
        on_page(&r);
        let got = r.task_list.len();
        all.extend(r.task_list);
        let max_pages = r.total.div_ceil(u64::from(MAX_PAGE_SIZE));
        if got == 0 || all.len() as u64 >= r.total || u64::from(page) >= max_pages {
            return Ok(all);
        }
        page += 1;
    }
}

fn task_params(task_id: &str, region: Region) -> [(&'static str, String); 2] {
    [
        ("Region", region.as_str().to_string()),
        ("TaskId", task_id.to_string()),
    ]
}

/// The error and its causes, joined, without the URL (which is long and says nothing new).
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

fn transport_error(action: &str, host: &str, e: &reqwest::Error) -> ApiError {
    let kind = transport_kind(e);
    ApiError::Transport {
        kind,
        message: format!("{action} to {host}: {}", error_chain(&ReqwestNoUrl(e))),
    }
}

/// Shows a reqwest error's own text without its URL suffix.
struct ReqwestNoUrl<'a>(&'a reqwest::Error);

impl fmt::Debug for ReqwestNoUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ReqwestNoUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        let text = match text.find(" for url (") {
            Some(i) => &text[..i],
            None => &text,
        };
        f.write_str(text)
    }
}

impl std::error::Error for ReqwestNoUrl<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(self.0)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::credentials::Secret;
    use crate::model::{ApiTime, SourceType};

    fn fixed_date() -> DateTime<Utc> {
        ApiTime::parse("2024-08-23T15:30:00Z").unwrap().0
    }

    /// The published UpdateLivePullToPush vector, produced through the client's own signing path
    /// from a typed `Update`.
    #[test]
    fn update_vector_through_the_client_path() {
        let mut u = Update::new("fd245384-4067-4f91-9d75-9666a6bc0000", Region::CnShanghai);
        u.source_urls = Some(vec!["rtmp://pulltest.example.com/app/stream".into()]);
        u.repeat_number = Some(-1);
        u.callback_url = Some("https://callback.example.com/notify?a=1 b*".into());
        let creds = Credentials::new("YourAccessKeyId", "YourAccessKeySecret");
        let s = sign_request(
            "live.aliyuncs.com",
            action::UPDATE,
            &u.to_params(),
            &creds,
            fixed_date(),
            "3156853299f313e23d1673dc12e1703d",
        );
        assert_eq!(
            s.query,
            "CallbackUrl=https%3A%2F%2Fcallback.example.com%2Fnotify%3Fa%3D1%20b%2A&Region=cn-shanghai&RepeatNumber=-1&SourceUrls=%5B%22rtmp%3A%2F%2Fpulltest.example.com%2Fapp%2Fstream%22%5D&TaskId=fd245384-4067-4f91-9d75-9666a6bc0000"
        );
        let auth = &s.headers.iter().find(|h| h.0 == "authorization").unwrap().1;
        assert_eq!(
            auth,
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=0917c8f55ce83608038446f1a40a9eb7f0a85c0056cec54d488d63d0bbe77935"
        );
    }

    #[test]
    fn sts_token_is_sent_signed_and_never_debug_printed() {
        let mut creds = Credentials::new("STS.id", "sec");
        creds.security_token = Some(Secret::new("tok-en-value"));
        let s = sign_request(
            "h",
            action::STOP,
            &[("TaskId", "t")],
            &creds,
            fixed_date(),
            "n",
        );
        let auth = &s.headers.iter().find(|h| h.0 == "authorization").unwrap().1;
        assert!(auth.contains("x-acs-accesskey-id;"), "{auth}");
        assert!(auth.contains("x-acs-security-token;"), "{auth}");
        assert!(
            s.headers
                .contains(&("x-acs-accesskey-id".into(), "STS.id".into()))
        );
        assert!(!format!("{s:?}").contains("tok-en-value"));
    }

    #[test]
    fn different_nonce_or_date_different_signature() {
        let creds = Credentials::new("id", "sec");
        let a = sign_request("h", "A", &[("x", "1")], &creds, fixed_date(), "n1");
        let b = sign_request("h", "A", &[("x", "1")], &creds, fixed_date(), "n2");
        let c = sign_request(
            "h",
            "A",
            &[("x", "1")],
            &creds,
            fixed_date() + chrono::Duration::seconds(1),
            "n1",
        );
        let auth = |s: &SignedRequest| s.headers.last().unwrap().1.clone();
        assert_ne!(auth(&a), auth(&b));
        assert_ne!(auth(&a), auth(&c));
    }

    #[test]
    fn random_nonces_differ() {
        let n = RandomNonce;
        let (a, b) = (n.nonce(), n.nonce());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn interpret_success_and_retcode() {
        let ok = interpret_response(200, None, br#"{"RequestId":"r","RetCode":0}"#).unwrap();
        assert_eq!(ok["RequestId"], "r");
        let e = interpret_response(
            200,
            None,
            br#"{"RequestId":"r9","RetCode":3,"Description":"task busy"}"#,
        )
        .unwrap_err();
        match &e {
            ApiError::Service {
                code,
                message,
                request_id,
                http_status,
                ..
            } => {
                assert_eq!(code, "RetCode.3");
                assert_eq!(message, "task busy");
                assert_eq!(request_id, "r9");
                assert_eq!(*http_status, 200);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.class(), crate::api::error::ErrorClass::Permanent);
    }

    #[test]
    fn interpret_error_bodies() {
        let e = interpret_response(
            400,
            Some("1500"),
            br#"{"RequestId":"r","HostId":"live.aliyuncs.com","Code":"Throttling.User","Message":"flow control","Recommend":"https://x"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            ApiError::Service {
                http_status: 400,
                code: "Throttling.User".into(),
                message: "flow control".into(),
                request_id: "r".into(),
                host_id: "live.aliyuncs.com".into(),
                recommend: "https://x".into(),
                retry_after: Some(Duration::from_millis(1500)),
            }
        );
        for bad in [&b"<html>502</html>"[..], b"", b"[1,2]", b"{\"a\":"] {
            let e = interpret_response(502, None, bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    ApiError::Transport {
                        kind: TransportKind::Malformed,
                        ..
                    }
                ),
                "{e:?}"
            );
        }
        let e = interpret_response(200, None, b"not json\x01").unwrap_err();
        assert!(e.message().contains("HTTP 200"), "{e}");
        assert!(!e.message().contains('\x01'));
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(parse_retry_after("250"), Some(Duration::from_millis(250)));
        assert_eq!(
            parse_retry_after(" 1.5 "),
            Some(Duration::from_micros(1500))
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn list_query_params() {
        let mut q = ListQuery::new(Region::CnBeijing);
        q.task_id = Some("abc".into());
        q.task_name = Some(String::new());
        let p = q.params(2, 100);
        assert!(p.contains(&("TaskId", "abc".into())));
        assert!(p.contains(&("PageNumber", "2".into())));
        assert!(!p.iter().any(|x| x.0 == "TaskName"));
    }

    #[test]
    fn create_params_are_wire_shaped() {
        let req = CreateRequest {
            region: Region::CnShanghai,
            source_type: SourceType::Url,
            source_urls: vec!["http://a/b.mp4".into()],
            source_protocol: None,
            dst_url: "rtmp://push/app/s".into(),
            start_time: ApiTime::parse("2026-01-01T00:00:00Z").unwrap(),
            end_time: ApiTime::parse("2026-01-02T00:00:00Z").unwrap(),
            task_name: Some("n".into()),
            callback_url: None,
            repeat_number: Some(-1),
            offset: None,
            file_index: None,
            retry_count: None,
            retry_interval: Some(60),
        };
        let p = req.to_params();
        let names: Vec<_> = p.iter().map(|x| x.0).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(p.contains(&("SourceUrls", r#"["http://a/b.mp4"]"#.into())));
        assert!(p.contains(&("RetryInterval", "60".into())));
        assert!(!names.contains(&"CallbackUrl"));
    }
}
