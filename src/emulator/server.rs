//! The HTTP server: hyper 1 on tokio, HTTP/1.1 keep-alive, RPC style (GET or POST, parameters in
//! the query and/or a form body).
//!
//! Order of a request: jitter hold → signature and date → replay → operation known → quota
//! (counted here) → latency → injected failure or reset → the operation → durable (with a state
//! file) → the answer, or a dropped connection (`--drop-after-apply-rate`). Throttled calls are
//! not counted; failed and reset calls were admitted and are. Everything after admission runs as
//! its own task, so an admitted request takes effect even if its client disconnects meanwhile,
//! as on a real server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::Rng;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::auth::{self, NonceCache, SignedRequest};
use super::faults::{Faults, Outcome};
use super::operations::Params;
use super::quota::Limiter;
use super::stats::{Stats, StatsSnapshot};
use super::store::Store;
use super::sts::{self as emu_sts, StsStore};
use super::task::{Abnormal, SeedTask};
use super::wal::{self, Committer, Record};
use super::{ApiFault, Clock, EmulatorConfig, EmulatorError, KeyPair};
use crate::api::models::{API_VERSION, ErrorBody, action};
use crate::api::sign;

/// Largest request body accepted (the API's parameters are small).
const MAX_BODY: usize = 1 << 20;
/// Where the stats live, outside the API's path.
pub const STATS_PATH: &str = "/_emulator/stats";
const HOST_ID: &str = "live.aliyuncs.com";

struct Shared {
    keys: Vec<KeyPair>,
    clock: Clock,
    max_skew: i64,
    store: Arc<Mutex<Store>>,
    nonces: Mutex<NonceCache>,
    limiter: Limiter,
    /// Temporary keys issued by STS calls, and `--sts-ttl`.
    sts: Mutex<StsStore>,
    sts_ttl: Option<u64>,
    faults: Faults,
    stats: Stats,
    /// Makes changes durable before they are answered (when a state file is configured).
    wal: Option<Committer>,
    idle_timeout: Option<Duration>,
}

impl Shared {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts emulators.
pub struct Emulator;

/// A running emulator. Dropping it without [`EmulatorHandle::shutdown`] stops accepting when the
/// runtime ends; call `shutdown` to stop cleanly and flush the state file.
pub struct EmulatorHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    state_file: Option<std::path::PathBuf>,
}

/// A dropped connection: hyper closes the connection when the service fails.
#[derive(Debug)]
struct InjectedReset;

impl std::fmt::Display for InjectedReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection reset")
    }
}

impl std::error::Error for InjectedReset {}

impl Emulator {
    /// Binds, loads the state file (or the seed), and serves until [`EmulatorHandle::shutdown`].
    pub async fn start(cfg: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        for r in [
            cfg.faults.fail_rate,
            cfg.faults.reset_rate,
            cfg.faults.drop_after_apply_rate,
            cfg.faults.abnormal_rate,
        ] {
            if !(0.0..=1.0).contains(&r) {
                return Err(EmulatorError::Config(format!(
                    "a fault rate of {r} is outside 0 to 1"
                )));
            }
        }
        let mut store = Store::new();
        store.set_abnormal(Some(Abnormal {
            rate: cfg.faults.abnormal_rate,
            seed: cfg.faults.rng_seed.unwrap_or_else(rand::random),
        }));
        let state_err = |p: &std::path::Path, message: String| EmulatorError::State {
            path: p.to_path_buf(),
            message,
        };
        match &cfg.state_file {
            Some(p) if p.exists() => {
                wal::recover(p, &mut store).map_err(|m| state_err(p, m))?;
            }
            _ => store.seed(cfg.seed.clone())?,
        }
        if let Some(p) = &cfg.state_file {
            wal::checkpoint(p, &store).map_err(|e| state_err(p, format!("cannot write: {e}")))?;
        }
        let store = Arc::new(Mutex::new(store));
        let committer = match &cfg.state_file {
            Some(p) => Some(
                Committer::start(p, store.clone())
                    .map_err(|e| state_err(p, format!("cannot open its log: {e}")))?,
            ),
            None => None,
        };
        let listener =
            TcpListener::bind(cfg.listen)
                .await
                .map_err(|source| EmulatorError::Bind {
                    addr: cfg.listen,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let keys = if cfg.keys.is_empty() {
            vec![KeyPair::default()]
        } else {
            cfg.keys.clone()
        };
        let shared = Arc::new(Shared {
            keys,
            clock: cfg.clock.clone(),
            max_skew: cfg.max_skew_secs,
            store,
            nonces: Mutex::new(NonceCache::default()),
            limiter: Limiter::new(cfg.qps),
            sts: Mutex::new(StsStore::default()),
            sts_ttl: cfg.sts_ttl_secs,
            faults: Faults::new(cfg.faults.clone()),
            stats: Stats::new(cfg.qps),
            wal: committer,
            idle_timeout: cfg.idle_timeout.filter(|d| !d.is_zero()),
        });
        let (stop, stop_rx) = watch::channel(false);
        let server = tokio::spawn(accept_loop(listener, shared.clone(), stop_rx));
        Ok(EmulatorHandle {
            addr,
            shared,
            stop,
            server,
            state_file: cfg.state_file.clone(),
        })
    }
}

impl EmulatorHandle {
    /// The address actually bound (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, the endpoint to point a client at.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The clock the emulator reads; advance a manual clock to move task lifecycles.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// How many temporary credentials `AssumeRole` and `AssumeRoleWithOIDC` issued so far.
    pub fn sts_issued(&self) -> (u64, u64) {
        let s = self.shared.sts.lock().unwrap_or_else(|e| e.into_inner());
        (s.assume_role_count, s.oidc_count)
    }

    /// Adds tasks while running; an ID already present is an error and nothing is added. With
    /// a state file they are logged (durable shortly after; this does not wait).
    pub fn seed(&self, tasks: Vec<SeedTask>) -> Result<(), EmulatorError> {
        let ids: Vec<String> = tasks.iter().map(|t| t.task_id.clone()).collect();
        let mut store = self.shared.store();
        store.seed(tasks)?;
        if let Some(w) = &self.shared.wal {
            for id in ids {
                let seq = store.next_seq();
                let _ = w.submit(Record::of(seq, &store, &id).encode());
            }
        }
        Ok(())
    }

    /// How many tasks are in each status now (abnormal ones included), for the start-up line.
    pub fn status_counts(&self) -> Vec<(crate::model::TaskStatus, usize)> {
        let now = self.shared.clock.now();
        self.shared.store().status_counts(now)
    }

    /// Every task as it is now, in creation order (with its recorded status).
    pub fn tasks(&self) -> Vec<SeedTask> {
        self.shared.store().tasks().to_vec()
    }

    /// Stops accepting, lets open connections finish their request, and writes the state file
    /// (a snapshot with the log folded in).
    pub async fn shutdown(self) -> Result<(), EmulatorError> {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        if let Some(path) = self.state_file {
            let shared = self.shared.clone();
            let p = path.clone();
            let r = tokio::task::spawn_blocking(move || {
                if let Some(w) = &shared.wal {
                    w.stop();
                }
                wal::checkpoint(&p, &shared.store())
            })
            .await;
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return Err(EmulatorError::State {
                        path,
                        message: format!("cannot write: {e}"),
                    });
                }
                Err(e) => {
                    return Err(EmulatorError::State {
                        path,
                        message: format!("the final write did not finish: {e}"),
                    });
                }
            }
        }
        Ok(())
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(_) => {
                // Out of descriptors or similar: back off briefly rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let mut stop = stop.clone();
        conns.spawn(async move {
            let idle = shared.idle_timeout;
            let activity = Arc::new(Activity::new());
            let act = activity.clone();
            let svc = service_fn(move |req| {
                let busy = idle.map(|_| act.begin());
                let fut = handle(shared.clone(), peer, req);
                async move {
                    let r = fut.await;
                    drop(busy);
                    r
                }
            });
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            loop {
                let wait = idle.map(|d| activity.idle_left(d));
                tokio::select! {
                    _ = conn.as_mut() => break,
                    _ = stop.changed() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
                        break;
                    }
                    _ = tokio::time::sleep(wait.flatten().unwrap_or(Duration::ZERO)), if wait.is_some() => {
                        if wait.flatten().is_none() {
                            // Idle too long: close it (a request half-sent gets 5 s more).
                            conn.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
                            break;
                        }
                    }
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
}

/// When a connection last finished a request, and whether one is in progress: what the idle
/// timeout reads.
struct Activity {
    inflight: std::sync::atomic::AtomicUsize,
    /// Milliseconds from `born` to the end of the last request.
    last_ms: std::sync::atomic::AtomicU64,
    born: std::time::Instant,
}

/// Marks a request in progress until dropped (also when the request's future is dropped).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let ms = self.0.born.elapsed().as_millis() as u64;
        self.0
            .last_ms
            .store(ms, std::sync::atomic::Ordering::SeqCst);
        self.0
            .inflight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Activity {
    fn new() -> Activity {
        Activity {
            inflight: std::sync::atomic::AtomicUsize::new(0),
            last_ms: std::sync::atomic::AtomicU64::new(0),
            born: std::time::Instant::now(),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.inflight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Busy(self.clone())
    }

    /// Time left before the connection counts as idle for `limit`: `limit` while a request is in
    /// progress, `None` when it is idle already.
    fn idle_left(&self, limit: Duration) -> Option<Duration> {
        if self.inflight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            return Some(limit);
        }
        let last = Duration::from_millis(self.last_ms.load(std::sync::atomic::Ordering::SeqCst));
        let since = self.born.elapsed().saturating_sub(last);
        limit.checked_sub(since).filter(|d| !d.is_zero())
    }
}

fn request_id() -> String {
    format!("{:X}", uuid::Uuid::from_u128(rand::rng().random()))
}

type Resp = Response<Full<Bytes>>;

fn json_response(status: u16, body: &serde_json::Value, request_id: &str) -> Resp {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-acs-request-id", v);
    }
    r
}

fn error_response(f: &ApiFault, request_id: &str) -> Resp {
    let body = serde_json::to_value(ErrorBody {
        request_id: request_id.into(),
        host_id: HOST_ID.into(),
        code: f.code.clone(),
        message: f.message.clone(),
        recommend: format!("https://api.aliyun.com/troubleshoot?q={}", f.code),
    })
    .unwrap_or_default();
    let mut r = json_response(f.status, &body, request_id);
    if let Some(ms) = f.retry_after_ms
        && let Ok(v) = HeaderValue::from_str(&ms.to_string())
    {
        r.headers_mut().insert("x-acs-retry-after", v);
    }
    r
}

async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Resp, InjectedReset> {
    let rid = request_id();
    if req.uri().path() == STATS_PATH {
        return Ok(stats_response(&shared, peer, &rid));
    }
    let draw = shared.faults.draw();
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let f = ApiFault::bad(
                "InvalidParameter",
                format!("The request body is unreadable or larger than {MAX_BODY} bytes."),
            );
            shared.stats.outcome("-", &f.code);
            return Ok(error_response(&f, &rid));
        }
    };
    if !draw.jitter.is_zero() {
        tokio::time::sleep(draw.jitter).await;
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let prepared = prepare(&parts, &body);
    let (query, params) = match prepared {
        Ok(x) => x,
        Err(f) => {
            shared.stats.outcome("-", &f.code);
            return Ok(error_response(&f, &rid));
        }
    };
    let claimed = params.get("Action").map(str::to_string).or_else(|| {
        parts
            .headers
            .get("x-acs-action")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    let label = |a: Option<&str>| -> String {
        match a {
            Some(a) if action::ALL.contains(&a) => a.to_string(),
            _ => "-".to_string(),
        }
    };
    let now = shared.clock.now();
    // STS (version 2015-04-01) shares the port; AssumeRoleWithOIDC is unsigned.
    let version = params.get("Version").map(str::to_string).or_else(|| {
        parts
            .headers
            .get("x-acs-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    let is_sts = version.as_deref() == Some(crate::api::sts::STS_API_VERSION);
    if is_sts && claimed.as_deref() == Some(crate::api::sts::action::ASSUME_ROLE_WITH_OIDC) {
        let mut store = shared.sts.lock().unwrap_or_else(|e| e.into_inner());
        let r = emu_sts::assume_role_with_oidc(&mut store, &params.0, now, shared.sts_ttl, &rid);
        drop(store);
        return Ok(sts_reply(r, &rid));
    }
    // A temporary key is verified with its own secret, then its token and expiry are checked.
    let temporary = emu_sts::claimed_key_id(&headers, &params.0).and_then(|id| {
        shared
            .sts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .lookup(&id)
    });
    let keys: &[KeyPair] = match &temporary {
        Some(t) => std::slice::from_ref(&t.key),
        None => &shared.keys,
    };
    let signed = SignedRequest {
        method: &method,
        path: &path,
        query: &query,
        params: &params.0,
        headers: &headers,
        body: &body,
    };
    let verified =
        match auth::verify(&signed, keys, now, shared.max_skew).and_then(|v| match &temporary {
            Some(t) => emu_sts::check_temporary(t, &headers, &params.0, now).map(|()| v),
            None => Ok(v),
        }) {
            Ok(v) => v,
            Err(f) => {
                shared.stats.outcome(&label(claimed.as_deref()), &f.code);
                return Ok(error_response(&f, &rid));
            }
        };
    let account = match &temporary {
        Some(t) => t.key.account_id.clone(),
        None => shared
            .keys
            .iter()
            .find(|k| k.access_key_id == verified.access_key_id)
            .map(|k| k.account_id.clone())
            .unwrap_or_default(),
    };
    let op = label(verified.action.as_deref());
    let fresh = shared
        .nonces
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .check_and_insert(
            &verified.access_key_id,
            &verified.nonce,
            now.unix(),
            shared.max_skew,
        );
    if !fresh {
        let f = auth::nonce_used(&verified.nonce);
        shared.stats.outcome(&op, &f.code);
        return Ok(error_response(&f, &rid));
    }
    if is_sts {
        let r = match verified.action.as_deref() {
            Some(crate::api::sts::action::GET_CALLER_IDENTITY) => {
                let id = emu_sts::caller_identity(
                    &shared.keys,
                    &verified.access_key_id,
                    temporary.as_ref(),
                    &rid,
                );
                Ok(serde_json::to_value(id).unwrap_or_default())
            }
            Some(crate::api::sts::action::ASSUME_ROLE) => {
                let mut store = shared.sts.lock().unwrap_or_else(|e| e.into_inner());
                emu_sts::assume_role(&mut store, &params.0, now, shared.sts_ttl, &rid)
            }
            other => Err(ApiFault::new(
                404,
                "InvalidAction.NotFound",
                format!(
                    "Specified api {} is not found, please check your url and method.",
                    other.unwrap_or_default()
                ),
            )),
        };
        return Ok(sts_reply(r, &rid));
    }
    let Some(act) = verified
        .action
        .as_deref()
        .filter(|a| action::ALL.contains(a))
    else {
        let f = match verified.action.as_deref() {
            None => ApiFault::missing("Action"),
            Some(a) => ApiFault::new(
                404,
                "InvalidAction.NotFound",
                format!("Specified api {a} is not found, please check your url and method."),
            ),
        };
        shared.stats.outcome("-", &f.code);
        return Ok(error_response(&f, &rid));
    };
    if verified.api_version.as_deref() != Some(API_VERSION) {
        let f = ApiFault::bad(
            "InvalidVersion",
            format!(
                "Specified parameter Version {:?} is not valid; this API is {API_VERSION}.",
                verified.api_version.unwrap_or_default()
            ),
        );
        shared.stats.outcome(act, &f.code);
        return Ok(error_response(&f, &rid));
    }
    if let Err(wait_ms) = shared.limiter.admit(&account, act) {
        let mut f = ApiFault::bad(
            "Throttling.User",
            "Request was denied due to user flow control.",
        );
        f.retry_after_ms = Some(wait_ms);
        shared.stats.outcome(act, &f.code);
        return Ok(error_response(&f, &rid));
    }
    shared.stats.accepted(&verified.access_key_id, act);
    // From here the request is admitted: a change runs to the end even if the client goes away
    // (its own task, when it has anything to wait for); a read has nothing to finish.
    let act = act.to_string();
    let waits = !draw.latency.is_zero() || shared.wal.is_some();
    if waits && is_write(&act) {
        let run = tokio::spawn(perform(shared, act, params, rid, draw));
        return run.await.unwrap_or(Err(InjectedReset));
    }
    perform(shared, act, params, rid, draw).await
}

/// Operations that change tasks.
fn is_write(act: &str) -> bool {
    !matches!(act, action::DESCRIBE | action::DESCRIBE_LIST)
}

/// An admitted request: latency, injected outcome, the operation, durability, the answer.
async fn perform(
    shared: Arc<Shared>,
    act: String,
    params: Params,
    rid: String,
    draw: super::faults::Draw,
) -> Result<Resp, InjectedReset> {
    let act = act.as_str();
    if !draw.latency.is_zero() {
        tokio::time::sleep(draw.latency).await;
    }
    match draw.outcome {
        Outcome::Reset => {
            shared.stats.outcome(act, "reset");
            return Err(InjectedReset);
        }
        Outcome::Fail(status) => {
            let f = if status == 503 {
                ApiFault::new(
                    503,
                    "ServiceUnavailable",
                    "The request has failed due to a temporary failure of the server.",
                )
            } else {
                ApiFault::new(
                    500,
                    "InternalError",
                    "The request processing has failed due to some unknown error.",
                )
            };
            shared.stats.outcome(act, &f.code);
            return Ok(error_response(&f, &rid));
        }
        Outcome::Normal | Outcome::DropAfterApply => {}
    }
    let now = shared.clock.now();
    let mut created = None;
    let (result, durable) = {
        let mut store = shared.store();
        let result = store.execute(act, &params, now, &rid, || {
            let id = super::seed::uuid_from(&mut rand::rng());
            created = Some(id.clone());
            id
        });
        let mut durable = None;
        if let (Ok((_, true)), Some(w)) = (&result, &shared.wal) {
            let id = created
                .clone()
                .or_else(|| params.get("TaskId").map(str::to_string))
                .unwrap_or_default();
            let seq = store.next_seq();
            durable = Some(w.submit(Record::of(seq, &store, &id).encode()));
        }
        (result, durable)
    };
    // An answer is sent only once its change is on disk.
    match durable {
        None => {}
        Some(Some(rx)) => {
            if let Ok(Err(e)) | Err(e) = rx.await.map_err(|e| e.to_string()) {
                let f = ApiFault::new(
                    500,
                    "InternalError",
                    format!("The change could not be made durable: {e}"),
                );
                shared.stats.outcome(act, &f.code);
                return Ok(error_response(&f, &rid));
            }
        }
        Some(None) => {
            let f = ApiFault::new(
                503,
                "ServiceUnavailable",
                "The emulator is stopping; the change is in its final snapshot.",
            );
            shared.stats.outcome(act, &f.code);
            return Ok(error_response(&f, &rid));
        }
    }
    if draw.outcome == Outcome::DropAfterApply {
        shared.stats.outcome(act, "dropped after apply");
        return Err(InjectedReset);
    }
    match result {
        Ok((body, _)) => {
            shared.stats.outcome(act, "ok");
            Ok(json_response(200, &body, &rid))
        }
        Err(f) => {
            shared.stats.outcome(act, &f.code);
            Ok(error_response(&f, &rid))
        }
    }
}

/// An STS answer (not counted in the Live operations' stats or quota).
fn sts_reply(r: Result<serde_json::Value, ApiFault>, rid: &str) -> Resp {
    match r {
        Ok(body) => json_response(200, &body, rid),
        Err(f) => error_response(&f, rid),
    }
}

/// Decoded query parameters, and the query and form body merged.
fn prepare(
    parts: &hyper::http::request::Parts,
    body: &[u8],
) -> Result<(Vec<(String, String)>, Params), ApiFault> {
    let bad_utf8 = |_| {
        ApiFault::bad(
            "InvalidParameter",
            "A parameter is not valid percent-encoded UTF-8.",
        )
    };
    let query = sign::parse_query(parts.uri.query().unwrap_or(""), true).map_err(bad_utf8)?;
    let mut all = query.clone();
    let is_form = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if is_form && !body.is_empty() {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiFault::bad("InvalidParameter", "The form body is not UTF-8."))?;
        all.extend(sign::parse_query(text, true).map_err(bad_utf8)?);
    }
    Ok((query, Params(all)))
}

fn stats_response(shared: &Shared, peer: SocketAddr, rid: &str) -> Resp {
    if !peer.ip().is_loopback() {
        let f = ApiFault::new(
            403,
            "Forbidden",
            "The emulator's stats are served to loopback peers only.",
        );
        return error_response(&f, rid);
    }
    let body = serde_json::to_value(shared.stats.snapshot()).unwrap_or_default();
    json_response(200, &body, rid)
}
