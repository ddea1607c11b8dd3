//! The HTTP server: hyper 1 on tokio, HTTP/1.1 keep-alive, RPC style (GET or POST, parameters in
//! the query and/or a form body).
//!
//! Order of a request: jitter hold → signature and date → replay → operation known → quota
//! (counted here) → latency → injected failure or reset → the operation → durable (with a state
//! file) → the answer, or a dropped connection (`--drop-after-apply-rate`). Throttled calls are
//! not counted; failed and reset calls were admitted and are. Everything after admission runs as
//! its own task, so an admitted request takes effect even if its client disconnects meanwhile,
//! as on a real server.
//!
//! Three parts, in the order a request meets them:
//! - [`listener`]: start-up, the accept loop, keep-alive and the idle close, shutdown;
//! - [`admission`]: from the bytes received to an admitted call — each check a small step that
//!   lets the request go on or answers it, in the order above;
//! - [`dispatch`]: an admitted call — latency, injected fault, the operation, durability, the
//!   answer — and the STS operations.
//!
//! This file holds what all three share: the server's state ([`Shared`]) and the answers' form.

mod admission;
mod dispatch;
mod listener;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use rand::Rng;

use super::auth::NonceCache;
use super::faults::Faults;
use super::quota::Limiter;
use super::stats::Stats;
use super::store::Store;
use super::sts::StsStore;
use super::wal::Committer;
use super::{ApiFault, Clock, EmulatorConfig, KeyPair};
use crate::api::models::ErrorBody;

pub use listener::{Emulator, EmulatorHandle};

/// Largest request body accepted (the API's parameters are small).
const MAX_BODY: usize = 1 << 20;
/// Where the stats live, outside the API's path.
pub const STATS_PATH: &str = "/_emulator/stats";
const HOST_ID: &str = "live.aliyuncs.com";

/// What every request reads and changes.
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
    /// The state of a server started with `cfg`, holding `store` and logging to `wal`.
    fn new(cfg: &EmulatorConfig, store: Arc<Mutex<Store>>, wal: Option<Committer>) -> Shared {
        let keys = if cfg.keys.is_empty() {
            vec![KeyPair::default()]
        } else {
            cfg.keys.clone()
        };
        Shared {
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
            wal,
            idle_timeout: cfg.idle_timeout.filter(|d| !d.is_zero()),
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sts(&self) -> std::sync::MutexGuard<'_, StsStore> {
        self.sts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Resp = Response<Full<Bytes>>;

/// How a request ends: a response, or a dropped connection.
type Answer = Result<Resp, InjectedReset>;

/// A dropped connection: hyper closes the connection when the service fails.
#[derive(Debug)]
struct InjectedReset;

impl std::fmt::Display for InjectedReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection reset")
    }
}

impl std::error::Error for InjectedReset {}

fn request_id() -> String {
    format!("{:X}", uuid::Uuid::from_u128(rand::rng().random()))
}

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

/// Answers `f` and counts it under `action` (`-` when the operation is unknown).
fn refuse(shared: &Shared, action: &str, f: &ApiFault, request_id: &str) -> Answer {
    shared.stats.outcome(action, &f.code);
    Ok(error_response(f, request_id))
}
