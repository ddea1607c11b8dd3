//! Retry decisions: which failures to retry, how long to wait, and when to stop retrying.
//!
//! - Throttled and transient failures retry, up to `max_attempts` calls per item, after a full-jitter
//!   exponential backoff `rand(0, min(cap, base·2^n))` (jitter spreads retries of many items that
//!   failed together, so they do not fail together again). A throttled response that names its
//!   wait in `x-acs-retry-after` is honoured, clamped so a wild value cannot stall the run.
//! - Permanent failures (this item is wrong) never retry: reported, and the run goes on.
//! - Systemic failures (bad key, signature, permission) halt the run: every call would fail alike.
//! - A retry budget shared by the whole run (a token bucket in the spirit of AWS's: 500 tokens, 5 per
//!   retry, refunded on success) turns a storm of failures into a stop, not a storm of calls.
//!
//! Every function here is pure: the randomness is a number in [0, 1) passed in.
//!
//! Hand-written rather than `backoff`/`backon`/`tokio-retry`: those retry a closure by a single
//! policy, while here the decision depends on the error's class (halt, fail, wait as told, back off)
//! and spends from a budget shared by the whole run, which none of them has.

use std::time::Duration;

use crate::api::error::ErrorClass;

/// Backoff and attempt limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls per item at most, the first included (so 1 means "never retry").
    pub max_attempts: u32,
    /// Backoff base for transient failures.
    pub transient_base: Duration,
    /// Backoff base for throttled failures without `x-acs-retry-after` (longer: the quota needs a
    /// moment to refill, and the adaptive rate is slowing down meanwhile).
    pub throttled_base: Duration,
    /// Longest computed backoff.
    pub cap: Duration,
    /// Longest `x-acs-retry-after` honoured.
    pub retry_after_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            transient_base: Duration::from_millis(200),
            throttled_base: Duration::from_millis(500),
            cap: Duration::from_secs(20),
            retry_after_cap: Duration::from_secs(60),
        }
    }
}

/// `rand(0, min(cap, base·2^retry))`, `retry` counting from 0 for the first retry; `unit` in [0, 1).
pub fn full_jitter(base: Duration, cap: Duration, retry: u32, unit: f64) -> Duration {
    let ceiling = base
        .checked_mul(2u32.saturating_pow(retry.min(30)))
        .unwrap_or(cap)
        .min(cap);
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    ceiling.mul_f64(unit)
}

/// The run-wide retry budget: a token bucket. A retry costs tokens; a success refunds some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    pub capacity: u32,
    pub tokens: u32,
    /// Tokens one retry costs.
    pub retry_cost: u32,
    /// Tokens a first-try success gives back (a retried success gives back its retry cost).
    pub success_refund: u32,
}

impl Default for RetryBudget {
    fn default() -> RetryBudget {
        RetryBudget::new(500, 5, 1)
    }
}

impl RetryBudget {
    pub fn new(capacity: u32, retry_cost: u32, success_refund: u32) -> RetryBudget {
        RetryBudget {
            capacity,
            tokens: capacity,
            retry_cost,
            success_refund,
        }
    }

    /// Takes the cost of one retry, if the budget allows it.
    pub fn try_spend(&mut self) -> bool {
        if self.tokens >= self.retry_cost {
            self.tokens -= self.retry_cost;
            true
        } else {
            false
        }
    }

    /// A call succeeded after `retries` retries: refund.
    pub fn on_success(&mut self, retries: u32) {
        let refund = if retries == 0 {
            self.success_refund
        } else {
            self.retry_cost
        };
        self.tokens = self.tokens.saturating_add(refund).min(self.capacity);
    }
}

pub use crate::outcome::GiveUp;

/// What to do after a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then call again (re-signed).
    Retry { after: Duration },
    /// Record the item as failed and go on with the others.
    GiveUp(GiveUp),
    /// Stop the whole run: every further call would fail the same way.
    Halt,
}

/// Decides after the `attempts`-th call (1-based) of an item failed with `class`.
/// `retry_after` is the service's `x-acs-retry-after`; `unit` is a random number in [0, 1).
/// Spends from `budget` only when the answer is [`Decision::Retry`].
pub fn decide(
    policy: &RetryPolicy,
    budget: &mut RetryBudget,
    class: ErrorClass,
    attempts: u32,
    retry_after: Option<Duration>,
    unit: f64,
) -> Decision {
    let base = match class {
        ErrorClass::Systemic => return Decision::Halt,
        ErrorClass::Permanent => return Decision::GiveUp(GiveUp::Permanent),
        ErrorClass::Throttled => policy.throttled_base,
        ErrorClass::Transient => policy.transient_base,
    };
    if attempts >= policy.max_attempts {
        return Decision::GiveUp(GiveUp::AttemptsExhausted);
    }
    if !budget.try_spend() {
        return Decision::GiveUp(GiveUp::BudgetExhausted);
    }
    let after = match retry_after {
        Some(wait) => wait.min(policy.retry_after_cap),
        None => full_jitter(base, policy.cap, attempts.saturating_sub(1), unit),
    };
    Decision::Retry { after }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn each_class_gets_its_decision() {
        let p = RetryPolicy::default();
        let mut b = RetryBudget::default();
        assert_eq!(
            decide(&p, &mut b, ErrorClass::Systemic, 1, None, 0.5),
            Decision::Halt
        );
        assert_eq!(
            decide(&p, &mut b, ErrorClass::Permanent, 1, None, 0.5),
            Decision::GiveUp(GiveUp::Permanent)
        );
        assert_eq!(b.tokens, 500, "no retry, no spend");
        assert_eq!(
            decide(&p, &mut b, ErrorClass::Transient, 1, None, 0.5),
            Decision::Retry { after: ms(100) }
        );
        assert_eq!(
            decide(&p, &mut b, ErrorClass::Throttled, 2, None, 0.5),
            Decision::Retry { after: ms(500) }
        );
        assert_eq!(b.tokens, 490);
        assert_eq!(
            decide(&p, &mut b, ErrorClass::Transient, 5, None, 0.5),
            Decision::GiveUp(GiveUp::AttemptsExhausted)
        );
    }

    #[test]
    fn retry_after_is_honoured_and_clamped() {
        let p = RetryPolicy::default();
        let mut b = RetryBudget::default();
        assert_eq!(
            decide(&p, &mut b, ErrorClass::Throttled, 1, Some(ms(1500)), 0.0),
            Decision::Retry { after: ms(1500) }
        );
        assert_eq!(
            decide(
                &p,
                &mut b,
                ErrorClass::Throttled,
                1,
                Some(Duration::from_secs(3600)),
                0.0
            ),
            Decision::Retry {
                after: Duration::from_secs(60)
            }
        );
    }

    #[test]
    fn budget_runs_out_and_successes_refill_it() {
        let p = RetryPolicy::default();
        let mut b = RetryBudget::new(12, 5, 1);
        assert!(matches!(
            decide(&p, &mut b, ErrorClass::Transient, 1, None, 0.1),
            Decision::Retry { .. }
        ));
        assert!(matches!(
            decide(&p, &mut b, ErrorClass::Transient, 1, None, 0.1),
            Decision::Retry { .. }
        ));
        assert_eq!(b.tokens, 2);
        assert_eq!(
            decide(&p, &mut b, ErrorClass::Transient, 1, None, 0.1),
            Decision::GiveUp(GiveUp::BudgetExhausted)
        );
        b.on_success(0);
        b.on_success(0);
        b.on_success(0);
        assert_eq!(b.tokens, 5);
        b.on_success(2);
        assert_eq!(b.tokens, 10);
        b.on_success(2);
        assert_eq!(b.tokens, 12, "never above capacity");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = ms(100);
        let cap = ms(1000);
        assert_eq!(full_jitter(base, cap, 0, 0.999_999).as_millis(), 99);
        assert_eq!(full_jitter(base, cap, 3, 0.5), ms(400));
        assert_eq!(full_jitter(base, cap, 4, 0.5), ms(500));
        assert_eq!(full_jitter(base, cap, 60, 1.0), cap);
        assert_eq!(full_jitter(base, cap, 2, f64::NAN), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn jitter_is_within_zero_and_the_ceiling(
            base_ms in 1u64..2000, cap_ms in 1u64..60_000, retry in 0u32..100, unit in 0.0f64..1.0,
        ) {
            let d = full_jitter(ms(base_ms), ms(cap_ms), retry, unit);
            let ceiling = ms(base_ms).saturating_mul(2u32.saturating_pow(retry.min(30))).min(ms(cap_ms));
            prop_assert!(d <= ceiling);
        }

        #[test]
        fn budget_never_exceeds_capacity_nor_underflows(
            ops in proptest::collection::vec((0u8..3, 0u32..4), 0..300)
        ) {
            let mut b = RetryBudget::default();
            let p = RetryPolicy { max_attempts: 100, ..RetryPolicy::default() };
            for (op, n) in ops {
                match op {
                    0 => { let _ = decide(&p, &mut b, ErrorClass::Transient, 1, None, 0.3); }
                    1 => b.on_success(n),
                    _ => { let _ = decide(&p, &mut b, ErrorClass::Permanent, 1, None, 0.3); }
                }
                prop_assert!(b.tokens <= b.capacity);
            }
        }
    }
}
