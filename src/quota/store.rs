//! The Redis side: one multiplexed connection, opened again after it fails, over a stream whose
//! replies are bounded before the parser sees them ([`bounded`]); the one script (`EVALSHA`,
//! reloaded with `SCRIPT LOAD` when Redis answers `NOSCRIPT`, e.g. after a restart or a
//! `SCRIPT FLUSH`), and the typed answers of its four modes.

mod bounded;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisError,
    RedisResult, Script, ScriptInvocation, Value,
};

use super::model::{Booking, Params, Slowed};
use super::{QuotaError, QuotaKey, StoreUrl};

/// The script's source; see `gcra.lua` and its model in [`super::model`].
pub const SCRIPT_SOURCE: &str = include_str!("gcra.lua");

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SCRIPT_SOURCE));

/// The script, hashed once (its SHA1 is what `EVALSHA` sends).
pub fn script() -> &'static Script {
    &SCRIPT
}

/// One call of the script: the two keys of `key`, the mode, the runner and the parameters.
pub fn invocation(
    key: &QuotaKey,
    mode: &str,
    runner: &str,
    p: &Params,
) -> ScriptInvocation<'static> {
    let mut inv = script().prepare_invoke();
    inv.key(key.schedule())
        .key(key.runners())
        .arg(mode)
        .arg(runner)
        .arg(p.cap)
        .arg(p.floor)
        .arg(p.increase)
        .arg(p.cooldown_us)
        .arg(p.factor_permille)
        .arg(p.lease_us);
    inv
}

/// How long one store call may take before it counts as a failure. A round trip on a LAN is
/// well under a millisecond; 2 s leaves room for a busy Redis without stalling a run for long.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// One runner as `quota status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerStatus {
    pub id: String,
    /// Time left on its lease, µs.
    pub lease_left_us: i64,
    /// Reservations/s recently, milli-calls/s.
    pub rate: i64,
    pub total: i64,
}

/// A key's state as `quota status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub now: i64,
    pub interval_us: i64,
    pub rate: i64,
    /// How far ahead the schedule is booked, µs.
    pub ahead_us: i64,
    pub throttles: i64,
    pub runners: Vec<RunnerStatus>,
}

fn ints(v: &Value, n: usize) -> Result<Vec<i64>, String> {
    let Value::Array(items) = v else {
        return Err(format!("expected an array, got {v:?}"));
    };
    if items.len() < n {
        return Err(format!("expected {n} values, got {}", items.len()));
    }
    items[..n]
        .iter()
        .map(|x| match x {
            Value::Int(i) => Ok(*i),
            other => Err(format!("expected an integer, got {other:?}")),
        })
        .collect()
}

/// Reads the answer of `reserve`: `{now, wait, interval, rate, runners}`.
pub fn parse_booking(v: &Value) -> Result<Booking, String> {
    let x = ints(v, 5)?;
    Ok(Booking {
        now: x[0],
        wait_us: x[1],
        interval_us: x[2],
        rate: x[3],
        runners: x[4],
    })
}

/// Reads the answer of `throttle`: `{now, applied, interval, rate, throttles}`.
pub fn parse_slowed(v: &Value) -> Result<Slowed, String> {
    let x = ints(v, 5)?;
    Ok(Slowed {
        now: x[0],
        applied: x[1] == 1,
        interval_us: x[2],
        rate: x[3],
        throttles: x[4],
    })
}

/// Reads the answer of `status`: five integers, then `id, lease left, rate, total` per runner.
pub fn parse_status(v: &Value) -> Result<Status, String> {
    let x = ints(v, 5)?;
    let Value::Array(items) = v else {
        unreachable!("ints checked the shape")
    };
    let rest = &items[5..];
    if rest.len() % 4 != 0 {
        return Err(format!(
            "runner list of {} values is not in fours",
            rest.len()
        ));
    }
    let mut runners = Vec::new();
    for r in rest.chunks(4) {
        let id = match &r[0] {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => return Err(format!("expected a runner id, got {other:?}")),
        };
        let n = ints(&Value::Array(r[1..].to_vec()), 3)?;
        runners.push(RunnerStatus {
            id,
            lease_left_us: n[0],
            rate: n[1],
            total: n[2],
        });
    }
    runners.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Status {
        now: x[0],
        interval_us: x[1],
        rate: x[2],
        ahead_us: x[3],
        throttles: x[4],
        runners,
    })
}

/// What went wrong with the store, in words: an authentication refusal is named as such, with
/// what to check, because Redis answers it in ways that read like an outage (an unauthenticated
/// client sending a command of many arguments is disconnected: "broken pipe").
pub fn describe(e: &redis::RedisError) -> String {
    let text = e.to_string();
    let code = e.code().unwrap_or_default();
    let refused = e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(code, "NOAUTH" | "WRONGPASS")
        || text.contains("NOAUTH")
        || text.contains("WRONGPASS")
        || text.contains("unauthenticated");
    if !refused {
        return text;
    }
    // The client sends AUTH only with a password in the URL, so a refused AUTH is a wrong
    // password (Redis answers WRONGPASS; the crate reports it as an authentication failure).
    let which = if code == "NOAUTH" || text.contains("NOAUTH") || text.contains("unauthenticated") {
        "NOAUTH: Redis requires a password and the URL gives none"
    } else {
        "WRONGPASS: Redis refused the password (or user) in the URL"
    };
    format!(
        "authentication failed ({which}); check the password in --quota-store / \
         LIVEBATCH_QUOTA_STORE: redis://[USER]:PASSWORD@HOST[:PORT][/DB]"
    )
}

/// How the store is reached: its address, and the TLS connector for `rediss://`.
struct Link {
    info: ConnectionInfo,
    tls: Option<tokio_rustls::TlsConnector>,
    /// The connection in use and its generation (so that a failure forgets only the connection
    /// it happened on, not one opened since).
    current: tokio::sync::Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: AtomicU64,
}

impl Link {
    fn new(info: ConnectionInfo) -> RedisResult<Link> {
        let tls = match info.addr() {
            ConnectionAddr::TcpTls { .. } => {
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                let config = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
            }
            _ => None,
        };
        Ok(Link {
            info,
            tls,
            current: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
        })
    }

    /// Opens a connection (TCP, TLS for `rediss://`), authenticates and selects the database as
    /// the URL says; its replies go through [`bounded::Bounded`].
    async fn open(&self) -> RedisResult<MultiplexedConnection> {
        let (host, port) = match self.info.addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                (host.as_str(), *port)
            }
            _ => {
                return Err(RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "only redis:// and rediss:// stores are supported",
                )));
            }
        };
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        let config = AsyncConnectionConfig::new().set_response_timeout(Some(CALL_TIMEOUT));
        let settings = self.info.redis_settings();
        let (conn, driver) = match &self.tls {
            None => {
                let (c, d) = MultiplexedConnection::new_with_config(
                    settings,
                    bounded::Bounded::new(tcp),
                    config,
                )
                .await?;
                (
                    c,
                    Box::pin(d) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
                )
            }
            Some(tls) => {
                let name =
                    rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
                        RedisError::from((
                            redis::ErrorKind::InvalidClientConfig,
                            "the store's host is not a TLS server name",
                            e.to_string(),
                        ))
                    })?;
                let stream = tls.connect(name, tcp).await?;
                let (c, d) = MultiplexedConnection::new_with_config(
                    settings,
                    bounded::Bounded::new(stream),
                    config,
                )
                .await?;
                (
                    c,
                    Box::pin(d) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
                )
            }
        };
        tokio::spawn(driver);
        Ok(conn)
    }

    /// The connection in use, opened first if there is none.
    async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        let mut slot = self.current.lock().await;
        if let Some((g, c)) = &*slot {
            return Ok((*g, c.clone()));
        }
        let c = self.open().await?;
        let g = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *slot = Some((g, c.clone()));
        Ok((g, c))
    }

    /// Drops connection `generation` after a failure that may have left it unusable; the next
    /// call opens another. (An error answer of Redis's, such as a script error, leaves it be.)
    async fn forget(&self, generation: u64) {
        let mut slot = self.current.lock().await;
        if slot.as_ref().is_some_and(|(g, _)| *g == generation) {
            *slot = None;
        }
    }
}

/// Whether `e` may have left its connection unusable (rather than being Redis's answer).
fn connection_failed(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

/// A connection to the quota store. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Store {
    link: Arc<Link>,
    shown: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.shown).finish()
    }
}

impl Store {
    /// Connects (one attempt, bounded by [`CALL_TIMEOUT`]) and sends one `PING`, so a wrong
    /// URL, a Redis that is not there, one that refuses this client's authentication or one
    /// that answers what no Redis would is reported before anything is sent. Later outages are
    /// retried by the pacer.
    pub async fn connect(url: &StoreUrl) -> Result<Store, QuotaError> {
        let shown: Arc<str> = url.to_string().into();
        let err = |e: RedisError| QuotaError::Store {
            store: shown.to_string(),
            message: describe(&e),
        };
        let info = url.expose().into_connection_info().map_err(err)?;
        let store = Store {
            link: Arc::new(Link::new(info).map_err(err)?),
            shown: shown.clone(),
        };
        // One round trip now: a store that refuses this client (a password missing or wrong)
        // says so at once, instead of at the first booking as if it were unreachable.
        let ping = async {
            let (_, mut conn) = store.link.connection().await?;
            redis::cmd("PING").query_async::<Value>(&mut conn).await
        };
        match tokio::time::timeout(CALL_TIMEOUT, ping).await {
            Ok(Ok(_)) => Ok(store),
            Ok(Err(e)) => Err(err(e)),
            Err(_) => Err(QuotaError::Timeout {
                store: shown.to_string(),
                secs: CALL_TIMEOUT.as_secs_f64(),
            }),
        }
    }

    /// The store's URL without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    async fn run(
        &self,
        key: &QuotaKey,
        mode: &str,
        runner: &str,
        p: &Params,
    ) -> Result<Value, QuotaError> {
        let inv = invocation(key, mode, runner, p);
        let generation = Arc::new(AtomicU64::new(0));
        let used = generation.clone();
        let call = async {
            let (g, mut conn) = self.link.connection().await?;
            used.store(g, Ordering::Relaxed);
            inv.invoke_async::<Value>(&mut conn).await
        };
        let outcome = tokio::time::timeout(CALL_TIMEOUT, call).await;
        let g = generation.load(Ordering::Relaxed);
        match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if connection_failed(&e) && g != 0 {
                    self.link.forget(g).await;
                }
                Err(QuotaError::Store {
                    store: self.shown.to_string(),
                    message: describe(&e),
                })
            }
            Err(_) => {
                if g != 0 {
                    self.link.forget(g).await;
                }
                Err(QuotaError::Timeout {
                    store: self.shown.to_string(),
                    secs: CALL_TIMEOUT.as_secs_f64(),
                })
            }
        }
    }

    fn protocol(&self, message: String) -> QuotaError {
        QuotaError::Protocol {
            store: self.shown.to_string(),
            message,
        }
    }

    /// Books `runner` the next free slot of `key` (one round trip).
    pub async fn reserve(
        &self,
        key: &QuotaKey,
        runner: &str,
        p: &Params,
    ) -> Result<Booking, QuotaError> {
        let v = self.run(key, "reserve", runner, p).await?;
        parse_booking(&v).map_err(|m| self.protocol(m))
    }

    /// Reports a throttle: slows the schedule for every runner of `key`.
    pub async fn throttled(
        &self,
        key: &QuotaKey,
        runner: &str,
        p: &Params,
    ) -> Result<Slowed, QuotaError> {
        let v = self.run(key, "throttle", runner, p).await?;
        parse_slowed(&v).map_err(|m| self.protocol(m))
    }

    /// Unregisters `runner` from `key` (end of its run).
    pub async fn leave(&self, key: &QuotaKey, runner: &str, p: &Params) -> Result<(), QuotaError> {
        self.run(key, "leave", runner, p).await.map(|_| ())
    }

    /// The schedule and the live runners of `key`.
    pub async fn status(&self, key: &QuotaKey, p: &Params) -> Result<Status, QuotaError> {
        let v = self.run(key, "status", "", p).await?;
        parse_status(&v).map_err(|m| self.protocol(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_strictly() {
        let ok = Value::Array((1..=5).map(Value::Int).collect());
        let b = parse_booking(&ok).unwrap();
        assert_eq!((b.now, b.wait_us, b.runners), (1, 2, 5));
        assert!(parse_booking(&Value::Nil).is_err());
        assert!(parse_booking(&Value::Array(vec![Value::Int(1)])).is_err());
        let mut st = (1..=5).map(Value::Int).collect::<Vec<_>>();
        st.extend([
            Value::BulkString(b"r2".to_vec()),
            Value::Int(10),
            Value::Int(3000),
            Value::Int(7),
            Value::BulkString(b"r1".to_vec()),
            Value::Int(11),
            Value::Int(3100),
            Value::Int(8),
        ]);
        let s = parse_status(&Value::Array(st.clone())).unwrap();
        assert_eq!(s.runners.len(), 2);
        assert_eq!(s.runners[0].id, "r1");
        st.pop();
        assert!(parse_status(&Value::Array(st)).is_err());
    }
}
