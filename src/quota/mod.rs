//! A quota shared by several runners: one account's calls/s booked in Redis, so several livebatch
//! processes (CI jobs on different machines) together stay under the account's quota.
//!
//! Why a reservation GCRA in one server-side script (`gcra.lua`): the script reads Redis's `TIME`
//! (one clock for every runner), keeps the next free slot of one key as integer microseconds,
//! books the caller that slot and answers how long to wait; the runner sleeps until its slot and
//! then calls. Each call costs one round trip (`EVALSHA`), and a runner further from Redis is not
//! starved: it waits for a booked slot instead of retrying a denied one (a deny-and-retry design
//! gave a runner 20 ms further away 0 of 60 calls in 6 s in a simulation against redis 7.0.15).
//! Slots are evenly spaced at 97 % of the quota, with no burst, as in-process
//! (`pace::PACE_HEADROOM`).
//!
//! - [`model`]: the script's arithmetic as a pure Rust model, checked against the real script.
//! - [`store`]: the Redis side (connection manager, `EVALSHA` with reload on `NOSCRIPT`).
//! - [`pacer`]: [`pacer::SharedPacer`], a `pace::Pacer` that books slots in the store,
//!   bounds each runner's outstanding reservations (fairness), shares throttles, and pauses,
//!   halts or falls back to the in-process limiter when Redis is unreachable. Never fails open.
//!
//! Keys: `livebatch:{ACCOUNT}:OPERATION` (the schedule) and `…:OPERATION:runners` (leases and
//! recent rates), hash-tagged on the account so one account's keys share a Redis Cluster slot.
//! The account, not the AccessKey: the service counts an account and its RAM users together.

pub mod model;
pub mod pacer;
pub mod store;

use std::fmt;

/// What can go wrong with the quota store.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuotaError {
    #[error(
        "--quota-store {shown}: {reason}; expected redis://HOST[:PORT][/DB] or rediss://HOST[:PORT][/DB]"
    )]
    BadUrl { shown: String, reason: String },
    #[error(
        "--quota-key {0:?}: a quota key is 1 to 128 characters of letters, digits, '-', '_', '.', ':' or '@' \
         (it is placed inside a Redis hash tag, so no braces or spaces)"
    )]
    BadKey(String),
    #[error("quota store {store}: {message}")]
    Store { store: String, message: String },
    #[error("quota store {store}: no answer within {secs:.1} s")]
    Timeout { store: String, secs: f64 },
    #[error("quota store {store}: unexpected answer from the quota script: {message}")]
    Protocol { store: String, message: String },
}

/// A `--quota-store` URL: `redis://` or `rediss://` (TLS, rustls), optional password and DB.
/// Its `Display` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    url: url::Url,
}

impl StoreUrl {
    pub fn parse(s: &str) -> Result<StoreUrl, QuotaError> {
        let bad = |shown: String, reason: &str| QuotaError::BadUrl {
            shown,
            reason: reason.to_string(),
        };
        let url =
            url::Url::parse(s.trim()).map_err(|e| bad("(unparsable)".into(), &e.to_string()))?;
        let shown = redact(&url);
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err(bad(
                shown,
                &format!("scheme {:?} is not supported", url.scheme()),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad(shown, "no host"));
        }
        let path = url.path().trim_start_matches('/');
        if !path.is_empty() && path.parse::<u32>().is_err() {
            return Err(bad(shown, "the path must be a database number"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(shown, "no query or fragment is allowed"));
        }
        Ok(StoreUrl { url })
    }

    /// The full URL, password included: only for connecting.
    pub fn expose(&self) -> &str {
        self.url.as_str()
    }
}

/// The URL as it may be shown: the password, and any query or fragment (which can carry one,
/// `redis://host/0?password=…`, a form some clients accept), as `***`.
fn redact(url: &url::Url) -> String {
    let mut u = url.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        u.set_query(Some("***"));
    }
    if u.fragment().is_some() {
        u.set_fragment(Some("***"));
    }
    u.to_string()
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.url))
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

/// Whose quota: the account (learnt with GetCallerIdentity, or `--quota-key`) and the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaKey {
    account: String,
    operation: String,
}

fn valid_part(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'@'))
}

impl QuotaKey {
    pub fn new(account: &str, operation: &str) -> Result<QuotaKey, QuotaError> {
        if !valid_part(account) {
            return Err(QuotaError::BadKey(account.to_string()));
        }
        if !valid_part(operation) {
            return Err(QuotaError::BadKey(operation.to_string()));
        }
        Ok(QuotaKey {
            account: account.to_string(),
            operation: operation.to_string(),
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The schedule's key, hash-tagged on the account.
    pub fn schedule(&self) -> String {
        format!("livebatch:{{{}}}:{}", self.account, self.operation)
    }

    /// The runners' key (same hash tag, so the script touches one Cluster slot).
    pub fn runners(&self) -> String {
        format!("{}:runners", self.schedule())
    }
}

impl fmt::Display for QuotaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.schedule())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_never_show_the_password() {
        let u = StoreUrl::parse("redis://:hunter2@127.0.0.1:6380/2").unwrap();
        assert_eq!(u.to_string(), "redis://:***@127.0.0.1:6380/2");
        assert!(!format!("{u:?}").contains("hunter2"));
        assert!(u.expose().contains("hunter2"));
        assert!(StoreUrl::parse("rediss://cache.internal:6379").is_ok());
        for bad in [
            "http://127.0.0.1:6379",
            "redis://",
            "redis://h/x",
            "redis://h/0?x=1",
            "nonsense",
        ] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad}");
        }
        let e = StoreUrl::parse("http://u:secret@h")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret") && e.contains("***"), "{e}");
        // A password in the query (refused: no query is allowed) is not shown either.
        let e = StoreUrl::parse("redis://host/0?password=S3cret#S3cret")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("S3cret") && e.contains("no query"), "{e}");
    }

    #[test]
    fn keys_are_hash_tagged_on_the_account() {
        let k = QuotaKey::new("1234567890", "UpdateLivePullToPush").unwrap();
        assert_eq!(k.schedule(), "livebatch:{1234567890}:UpdateLivePullToPush");
        assert_eq!(
            k.runners(),
            "livebatch:{1234567890}:UpdateLivePullToPush:runners"
        );
        for bad in ["", "a b", "a{b", "a}b", &"x".repeat(129)] {
            assert!(QuotaKey::new(bad, "Op").is_err(), "{bad:?}");
        }
    }
}
