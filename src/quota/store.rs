//! The Redis side: one connection manager (reconnects by itself), the one script (`EVALSHA`,
//! reloaded with `SCRIPT LOAD` when Redis answers `NOSCRIPT`, e.g. after a restart or a
//! `SCRIPT FLUSH`), and the typed answers of its four modes.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, ScriptInvocation, Value};

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

/// A connection to the quota store. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    shown: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.shown).finish()
    }
}

impl Store {
    /// Connects (one attempt, bounded by [`CALL_TIMEOUT`]), so a wrong URL or a Redis that is not
    /// there is reported before anything is sent. Later outages are retried by the pacer.
    pub async fn connect(url: &StoreUrl) -> Result<Store, QuotaError> {
        let shown: Arc<str> = url.to_string().into();
        let err = |e: redis::RedisError| QuotaError::Store {
            store: shown.to_string(),
            message: describe(&e),
        };
        let client = redis::Client::open(url.expose()).map_err(err)?;
        // The connection manager retries a reconnection only briefly: the pacer owns the
        // outage policy (pause with backoff, halt, or fall back) and its timing.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = match tokio::time::timeout(
            CALL_TIMEOUT,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(err(e)),
            Err(_) => {
                return Err(QuotaError::Timeout {
                    store: shown.to_string(),
                    secs: CALL_TIMEOUT.as_secs_f64(),
                });
            }
        };
        // One round trip now: a store that refuses this client (a password missing or wrong)
        // says so at once, instead of at the first booking as if it were unreachable.
        let mut probe = conn.clone();
        match tokio::time::timeout(
            CALL_TIMEOUT,
            redis::cmd("PING").query_async::<Value>(&mut probe),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(err(e)),
            Err(_) => {
                return Err(QuotaError::Timeout {
                    store: shown.to_string(),
                    secs: CALL_TIMEOUT.as_secs_f64(),
                });
            }
        }
        Ok(Store { conn, shown })
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
        let mut conn = self.conn.clone();
        let inv = invocation(key, mode, runner, p);
        match tokio::time::timeout(CALL_TIMEOUT, inv.invoke_async::<Value>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(QuotaError::Store {
                store: self.shown.to_string(),
                message: describe(&e),
            }),
            Err(_) => Err(QuotaError::Timeout {
                store: self.shown.to_string(),
                secs: CALL_TIMEOUT.as_secs_f64(),
            }),
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
