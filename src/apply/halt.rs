//! `--max-failures`: the halt policy, when to stop dispatching because too much is failing (a
//! systemic error or a journal failure halts whatever the policy); and a halt decided outside the
//! run ([`ExternalHalt`]: the quota store unreachable), which the dispatcher and the wave gates
//! both watch.

use std::str::FromStr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::outcome::HaltReason;

/// `--max-failures`: when to stop dispatching because too much is failing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum HaltPolicy {
    /// Never halt for failures (systemic errors still halt).
    #[default]
    Never,
    /// Halt once more than this many items failed.
    Count(u64),
    /// Halt once more than this percentage of the items to send failed.
    Percent(f64),
}

/// `--max-failures` did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--max-failures expects a count (e.g. 10) or a percentage (e.g. 5%), got {0:?}")]
pub struct HaltPolicyError(pub String);

impl FromStr for HaltPolicy {
    type Err = HaltPolicyError;
    fn from_str(s: &str) -> Result<HaltPolicy, HaltPolicyError> {
        let bad = || HaltPolicyError(s.to_string());
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&v) {
                return Err(bad());
            }
            Ok(HaltPolicy::Percent(v))
        } else {
            t.parse().map(HaltPolicy::Count).map_err(|_| bad())
        }
    }
}

impl std::fmt::Display for HaltPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HaltPolicy::Never => f.write_str("none"),
            HaltPolicy::Count(n) => write!(f, "{n}"),
            HaltPolicy::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl HaltPolicy {
    /// Whether `failed` failures out of `to_send` items exceed the policy.
    pub fn exceeded(self, failed: u64, to_send: u64) -> bool {
        match self {
            HaltPolicy::Never => false,
            HaltPolicy::Count(n) => failed > n,
            HaltPolicy::Percent(p) => (failed as f64) > (to_send as f64) * p / 100.0,
        }
    }
}
/// A halt decided outside the run: once `token` fires, the run halts (not `interrupted`) with
/// the reason `reason` gives then. It wins over the caller's cancellation when both fire.
#[derive(Clone)]
pub struct ExternalHalt {
    pub token: CancellationToken,
    pub reason: Arc<dyn Fn() -> HaltReason + Send + Sync>,
}

impl std::fmt::Debug for ExternalHalt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalHalt").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halt_policy_parses_and_triggers_past_the_limit() {
        assert_eq!("3".parse::<HaltPolicy>(), Ok(HaltPolicy::Count(3)));
        assert_eq!("5%".parse::<HaltPolicy>(), Ok(HaltPolicy::Percent(5.0)));
        assert_eq!(
            " 2.5 % ".parse::<HaltPolicy>(),
            Ok(HaltPolicy::Percent(2.5))
        );
        for bad in ["", "-1", "x", "101%", "3.5", "%"] {
            assert!(bad.parse::<HaltPolicy>().is_err(), "{bad}");
        }
        assert!(!HaltPolicy::Count(3).exceeded(3, 100));
        assert!(HaltPolicy::Count(3).exceeded(4, 100));
        assert!(!HaltPolicy::Percent(5.0).exceeded(5, 100));
        assert!(HaltPolicy::Percent(5.0).exceeded(6, 100));
        assert!(HaltPolicy::Count(0).exceeded(1, 1));
        assert!(!HaltPolicy::Never.exceeded(u64::MAX, 1));
    }
}
