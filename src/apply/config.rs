//! How one run behaves: concurrency, retries and their budget, the halt policy, resuming, and the
//! cadence of rate samples and progress. The pace of each operation is its pacer's
//! ([`crate::pace::Pacers`]).

use std::time::Duration;

use super::halt::HaltPolicy;
use super::journal::ResumeMode;
use super::retry::{RetryBudget, RetryPolicy};

/// The concurrency that keeps `qps` calls/s flowing when each call takes up to a second: `qps`
/// calls on the wire plus as many waiting for their slot, plus a small margin for retries
/// waiting out their backoff.
pub fn default_concurrency(qps: f64) -> usize {
    let q = if qps.is_finite() { qps.max(1.0) } else { 10.0 };
    (q * 2.0).ceil() as usize + 4
}

/// How one run behaves.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// Items in flight at most (including those waiting for a slot or a retry).
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub budget: RetryBudget,
    pub halt: HaltPolicy,
    pub resume: ResumeMode,
    /// Seed for retry jitter (tests); `None` seeds from the OS.
    pub seed: Option<u64>,
    /// Rate samples at most this often (plus every decrease).
    pub sample_every: Duration,
    /// How often the progress display is refreshed when nothing completes.
    pub progress_every: Duration,
}

impl ExecConfig {
    /// Defaults for a quota of `qps` calls/s per operation.
    pub fn new(qps: f64) -> ExecConfig {
        ExecConfig {
            concurrency: default_concurrency(qps),
            retry: RetryPolicy::default(),
            budget: RetryBudget::default(),
            halt: HaltPolicy::Never,
            resume: ResumeMode::Fresh,
            seed: None,
            sample_every: Duration::from_secs(1),
            progress_every: Duration::from_millis(250),
        }
    }

    /// Concurrency for items of up to `calls` calls each: each call of an item takes its own
    /// round trip, so keeping every operation's pace needs that many more items in flight.
    pub fn scaled_for(mut self, calls: usize) -> ExecConfig {
        self.concurrency = self.concurrency.saturating_mul(calls.max(1));
        self
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_concurrency_covers_one_second_of_latency() {
        assert!(default_concurrency(10.0) >= 20);
        assert!(default_concurrency(0.5) >= 2);
        assert_eq!(ExecConfig::new(10.0).scaled_for(3).concurrency, 72);
    }
}
