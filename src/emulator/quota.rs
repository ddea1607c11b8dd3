//! The quota: at most `qps` accepted calls per account and operation in any sliding one-second
//! window (the service counts an account and all its RAM users' keys together). An exact sliding window (the accepted timestamps themselves), not a token bucket: the
//! service's limit is stated per second, and a bucket would let a burst through at the start.
//! Hand-written because no crate keeps one: rate-limit crates (`governor` and the like) are GCRA or
//! token buckets, which approximate a window and admit a boundary burst the service would refuse.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The accepted calls of one account and operation within the last window.
#[derive(Debug, Default, Clone)]
pub struct SlidingWindow {
    stamps: VecDeque<Duration>,
}

impl SlidingWindow {
    /// Admits a call at `now` when fewer than `limit` were accepted in `(now - window, now]`;
    /// otherwise answers how long until the oldest of them leaves the window. Times are offsets
    /// from any fixed origin, so the function is pure and testable with made-up times.
    pub fn try_admit(
        &mut self,
        now: Duration,
        limit: u32,
        window: Duration,
    ) -> Result<usize, Duration> {
        while let Some(&t) = self.stamps.front() {
            if t + window <= now {
                self.stamps.pop_front();
            } else {
                break;
            }
        }
        if limit > 0 && self.stamps.len() >= limit as usize {
            let oldest = self.stamps.front().copied().unwrap_or(now);
            return Err((oldest + window).saturating_sub(now));
        }
        self.stamps.push_back(now);
        Ok(self.stamps.len())
    }
}

/// Sliding windows of every (account, operation) pair.
#[derive(Debug)]
pub struct Limiter {
    qps: u32,
    window: Duration,
    origin: Instant,
    windows: Mutex<HashMap<(String, String), SlidingWindow>>,
}

impl Limiter {
    /// `qps == 0` admits everything.
    pub fn new(qps: u32) -> Limiter {
        Limiter::with_window(qps, Duration::from_secs(1))
    }

    /// At most `limit` calls in any sliding `window` (tests use a long one, so that what they
    /// assert does not depend on how fast the machine runs them).
    pub fn with_window(limit: u32, window: Duration) -> Limiter {
        Limiter {
            qps: limit,
            window,
            origin: Instant::now(),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one call now, or answers the wait in whole milliseconds (at least 1, since the
    /// official SDK ignores a retry-after of 0).
    pub fn admit(&self, account: &str, action: &str) -> Result<(), u64> {
        if self.qps == 0 {
            return Ok(());
        }
        let now = self.origin.elapsed();
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let entry = w
            .entry((account.to_string(), action.to_string()))
            .or_default();
        entry
            .try_admit(now, self.qps, self.window)
            .map(|_| ())
            .map_err(|wait| (wait.as_micros().div_ceil(1000) as u64).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn admits_limit_then_refuses_with_the_wait() {
        let mut w = SlidingWindow::default();
        for i in 0..10 {
            assert!(w.try_admit(ms(i * 10), 10, ms(1000)).is_ok());
        }
        assert_eq!(w.try_admit(ms(100), 10, ms(1000)), Err(ms(900)));
        assert_eq!(w.try_admit(ms(999), 10, ms(1000)), Err(ms(1)));
        // At exactly 1000 ms the first call (at 0) has left the window.
        assert_eq!(w.try_admit(ms(1000), 10, ms(1000)), Ok(10));
        assert_eq!(w.try_admit(ms(1005), 10, ms(1000)), Err(ms(5)));
    }

    #[test]
    fn refused_calls_do_not_count() {
        let mut w = SlidingWindow::default();
        assert!(w.try_admit(ms(0), 1, ms(1000)).is_ok());
        for t in 1..100 {
            assert!(w.try_admit(ms(t * 5), 1, ms(1000)).is_err());
        }
        assert!(w.try_admit(ms(1000), 1, ms(1000)).is_ok());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever the arrival times, no one-second window ever holds more than the limit.
            #[test]
            fn never_more_than_limit_in_any_window(
                gaps in proptest::collection::vec(0u64..300, 1..200),
                limit in 1u32..12,
            ) {
                let mut w = SlidingWindow::default();
                let mut t = 0;
                let mut accepted = Vec::new();
                for g in gaps {
                    t += g;
                    if w.try_admit(ms(t), limit, ms(1000)).is_ok() {
                        accepted.push(t);
                    }
                }
                for (i, &a) in accepted.iter().enumerate() {
                    let n = accepted[i..].iter().take_while(|&&b| b < a + 1000).count();
                    prop_assert!(n <= limit as usize, "{n} accepted in the window from {a} ms");
                }
            }
        }
    }
}
