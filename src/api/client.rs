//! The ApsaraVideo Live client: the typed operations, each signed at send time with the
//! credential provider's current credentials and sent through a [`Transport`], whatever comes back
//! turned into a typed response or a typed [`ApiError`].
//!
//! The client never retries. The executor owns retries, pacing and backoff; a retry is simply
//! another call, which is signed afresh (new `x-acs-date`, new nonce). A [`Client`] is an `Arc`
//! inside, cheap to clone into every task; the HTTP connection pool is shared. The one exception:
//! a call refused only because its credentials expired is sent once more with fresh ones.
//!
//! What a call is built from lives below this module, so that STS and the credential provider can
//! use it without the client: [`config`](super::config), [`clock`](super::clock),
//! [`request`](super::request) (signing), [`response`](super::response) (interpretation) and
//! [`transport`](super::transport). Their public items are re-exported here.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::credentials::CredentialsError;
use super::credentials::provider::{CredentialProvider, Issued};
use super::endpoint::Endpoint;
use super::error::{ApiError, TransportKind, is_credential_expiry};
use super::models::{
    API_VERSION, DescribeResponse, ListResponse, RetCodeResponse, TaskIdResponse, TaskState, action,
};
use super::sts::{CallerIdentity, StsClient, sts_endpoint_for};
use super::transport::send_signed;
use crate::model::{Region, Update};

pub use super::clock::{Clock, NonceSource, RandomNonce, SystemClock};
pub use super::config::{ApiSettings, ClientConfig, ClientError};
pub use super::request::{SignedRequest, sign_request, sign_request_for};
pub use super::response::interpret_response;
pub use super::transport::{MAX_BODY_BYTES, Transport};

/// `PageSize` used when listing everything (the API's maximum).
pub const MAX_PAGE_SIZE: u32 = 100;

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
            endpoint: sts_endpoint_for(&c.endpoint)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApiTime, SourceType};

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
