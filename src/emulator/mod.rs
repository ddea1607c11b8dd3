//! A local emulator of the ApsaraVideo Live pull-to-push API.
//!
//! No test machine reaches Alibaba Cloud, and users want to rehearse a migration before touching
//! production. The emulator speaks the same wire protocol (RPC over GET/POST, V3 and V2
//! signatures), enforces the same rules (through [`crate::rules`], so the validator, the planner
//! and the emulator cannot disagree) and the same quota, so any official SDK pointed at it works
//! unchanged.
//!
//! Embedding (tests, `apply --sandbox`):
//! ```no_run
//! # async fn demo() -> Result<(), livebatch::emulator::EmulatorError> {
//! use livebatch::emulator::{Emulator, EmulatorConfig};
//! let emu = Emulator::start(EmulatorConfig::default()).await?; // 127.0.0.1:0
//! println!("{}", emu.url());
//! let stats = emu.stats();
//! emu.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod faults;
pub mod operations;
pub mod quota;
pub mod seed;
pub mod server;
pub mod state_file;
pub mod stats;
pub mod store;
pub mod sts;
pub mod task;
pub mod wal;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::api::credentials::Secret;
use crate::model::ApiTime;

pub use faults::FaultConfig;
pub use server::{Emulator, EmulatorHandle};
pub use state_file::StateFile;
pub use stats::{StatsSnapshot, WindowStat};
pub use task::{PatternError, SeedError, SeedTask, SourcePattern};

/// The default key pair. It is a public test key, documented in the README: it protects nothing
/// and exists so that a client can sign without any setup.
pub const DEFAULT_ACCESS_KEY_ID: &str = "livebatch-emulator";
/// The secret of [`DEFAULT_ACCESS_KEY_ID`] (public, see there).
pub const DEFAULT_ACCESS_KEY_SECRET: &str = "livebatch-emulator-secret";
/// How far `x-acs-date` / `Timestamp` may be from the server's clock, as the service allows.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
/// The documented quota: calls per second per account and operation.
pub const DEFAULT_QPS: u32 = 10;
/// A keep-alive connection with no request for this long is closed, as load balancers in front
/// of the service do. 60 s, below the 90 s that reqwest and urllib3 pools keep idle connections,
/// would make clients race the close; the client retries a request that meets a closed pooled
/// connection (it is a transport error), which is also what it must do against the service.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;

/// One access key the emulator accepts, and the account it belongs to. Keys of one account
/// share that account's quota per operation, as the service counts an account and its RAM users
/// together.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub access_key_id: String,
    pub secret: Secret,
    /// The Alibaba Cloud account (a numeric ID, as `GetCallerIdentity` answers it).
    pub account_id: String,
}

impl KeyPair {
    /// A key that is its own account (an ID derived from the key ID, stable across runs).
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> KeyPair {
        let id = id.into();
        let account_id = sts::account_for_key(&id);
        KeyPair {
            access_key_id: id,
            secret: Secret::new(secret),
            account_id,
        }
    }

    /// A key of the account `account_id` (sharing its quota with the account's other keys).
    pub fn with_account(
        id: impl Into<String>,
        secret: impl Into<String>,
        account_id: impl Into<String>,
    ) -> KeyPair {
        KeyPair {
            account_id: account_id.into(),
            ..KeyPair::new(id, secret)
        }
    }

    /// `ID:SECRET[:ACCOUNT]`, the form of `livebatch emulator --key`. Errors never quote the
    /// secret.
    pub fn parse(spec: &str) -> Result<KeyPair, String> {
        let mut parts = spec.splitn(3, ':');
        let id = parts.next().unwrap_or_default().trim();
        let secret = parts.next().unwrap_or_default();
        let account = parts.next().map(str::trim);
        if id.is_empty() || secret.is_empty() {
            return Err(
                "expected ID:SECRET or ID:SECRET:ACCOUNT (e.g. ak-1:s3cret:1234567890123456)"
                    .into(),
            );
        }
        match account {
            None => Ok(KeyPair::new(id, secret)),
            Some(a)
                if !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                Ok(KeyPair::with_account(id, secret, a))
            }
            Some(_) => Err(format!(
                "key {id:?}: the account after the second `:` must be letters, digits or `-` (e.g. 1234567890123456)"
            )),
        }
    }
}

impl Default for KeyPair {
    fn default() -> KeyPair {
        KeyPair::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
    }
}

/// The emulator's notion of "now", for task lifecycles and signature dates. Tests use a manual
/// clock so that a task can start, run and end without a single sleep. Quota windows always use
/// the real monotonic clock: pacing is about real time.
#[derive(Debug, Clone)]
pub struct Clock(Arc<ClockKind>);

#[derive(Debug)]
enum ClockKind {
    System,
    /// System time shifted by a fixed number of seconds.
    Offset(i64),
    /// Stands still until advanced; unix seconds.
    Manual(Mutex<i64>),
}

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(ClockKind::System))
    }

    /// System time plus `secs` (negative: in the past).
    pub fn offset(secs: i64) -> Clock {
        Clock(Arc::new(ClockKind::Offset(secs)))
    }

    /// A clock that reads `start` until [`Clock::advance`] or [`Clock::set`] moves it.
    pub fn manual(start: ApiTime) -> Clock {
        Clock(Arc::new(ClockKind::Manual(Mutex::new(start.unix()))))
    }

    pub fn now(&self) -> ApiTime {
        let secs = match &*self.0 {
            ClockKind::System => chrono::Utc::now().timestamp(),
            ClockKind::Offset(o) => chrono::Utc::now().timestamp() + o,
            ClockKind::Manual(m) => *m.lock().unwrap_or_else(|e| e.into_inner()),
        };
        ApiTime::from_unix(secs).unwrap_or(ApiTime(chrono::DateTime::UNIX_EPOCH))
    }

    /// Moves a manual clock forward by `secs`; other clocks ignore it (and return false).
    pub fn advance(&self, secs: i64) -> bool {
        match &*self.0 {
            ClockKind::Manual(m) => {
                *m.lock().unwrap_or_else(|e| e.into_inner()) += secs;
                true
            }
            _ => false,
        }
    }

    /// Sets a manual clock; other clocks ignore it (and return false).
    pub fn set(&self, t: ApiTime) -> bool {
        match &*self.0 {
            ClockKind::Manual(m) => {
                *m.lock().unwrap_or_else(|e| e.into_inner()) = t.unix();
                true
            }
            _ => false,
        }
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

/// Everything an emulator is started with.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where to listen; port 0 picks a free port (read it back with [`EmulatorHandle::addr`]).
    pub listen: SocketAddr,
    /// Accepted key pairs; empty means the default pair.
    pub keys: Vec<KeyPair>,
    /// Accepted calls per account and operation in any sliding one-second window; 0 means unlimited.
    pub qps: u32,
    /// Lifetime of the temporary credentials STS `AssumeRole`/`AssumeRoleWithOIDC` issue, in
    /// seconds (`None`: the `DurationSeconds` asked for, as the service does).
    pub sts_ttl_secs: Option<u64>,
    pub faults: FaultConfig,
    pub clock: Clock,
    /// Tasks survive restarts here: a snapshot (JSON, written atomically) plus a write-ahead log
    /// beside it (`<file>.wal`) to which every change is appended and fsync'd before it is
    /// answered. When the file exists at start, its tasks are loaded and `seed` is ignored.
    pub state_file: Option<PathBuf>,
    /// Tasks present at start (when no state file supplies them).
    pub seed: Vec<SeedTask>,
    /// Largest accepted distance between the request's date and the clock.
    pub max_skew_secs: i64,
    /// Close keep-alive connections idle this long; `None` keeps them open.
    pub idle_timeout: Option<std::time::Duration>,
}

impl Default for EmulatorConfig {
    fn default() -> EmulatorConfig {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            keys: vec![KeyPair::default()],
            qps: DEFAULT_QPS,
            sts_ttl_secs: None,
            faults: FaultConfig::default(),
            clock: Clock::system(),
            state_file: None,
            seed: Vec::new(),
            max_skew_secs: MAX_CLOCK_SKEW_SECS,
            idle_timeout: Some(std::time::Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS)),
        }
    }
}

/// Why the emulator could not start, seed or save.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("state file {path}: {message}")]
    State { path: PathBuf, message: String },
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// Tasks seeded into a running emulator are in its memory, but their log records did not
    /// reach the state file's log.
    #[error(
        "state file {path}: {count} seeded task(s) were added but could not be logged to disk: {reason} (they are lost if the emulator stops without writing its final snapshot)"
    )]
    SeedNotDurable {
        path: PathBuf,
        count: usize,
        reason: String,
    },
    #[error("{0}")]
    Config(String),
}

/// An API error answer: HTTP status, the service's error code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFault {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Set on throttling: milliseconds until a call would be accepted (`x-acs-retry-after`).
    pub retry_after_ms: Option<u64>,
}

impl ApiFault {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> ApiFault {
        ApiFault {
            status,
            code: code.into(),
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// A 400 answer, the status of every documented parameter and state error.
    pub fn bad(code: impl Into<String>, message: impl Into<String>) -> ApiFault {
        ApiFault::new(400, code, message)
    }

    pub fn missing(param: &str) -> ApiFault {
        ApiFault::bad(
            crate::rules::code::MISSING_PARAMETER,
            format!(
                "The input parameter \"{param}\" that is mandatory for processing this request is not supplied."
            ),
        )
    }
}
