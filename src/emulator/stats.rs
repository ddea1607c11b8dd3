//! Counters behind `GET /_emulator/stats`. Benchmarks read `max_accepted_in_any_window` to prove
//! that the quota was never exceeded; it is measured here, independently of the limiter's own
//! bookkeeping, from the times calls were accepted.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One (access key, operation) pair's accepted calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowStat {
    pub access_key_id: String,
    pub action: String,
    pub accepted: u64,
    /// The most calls accepted in any one-second sliding window.
    pub max_accepted_in_any_window: u64,
}

/// What `/_emulator/stats` answers, and what [`super::EmulatorHandle::stats`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// The configured quota (0: unlimited).
    pub qps: u32,
    pub requests: u64,
    pub throttled: u64,
    /// Counts per operation, then per outcome: `ok` or the error code answered (`reset` for
    /// dropped connections). Requests without a known operation are under `-`.
    pub operations: BTreeMap<String, BTreeMap<String, u64>>,
    pub windows: Vec<WindowStat>,
    /// The largest `max_accepted_in_any_window` over every key and operation.
    pub max_accepted_in_any_window: u64,
}

impl StatsSnapshot {
    pub fn count(&self, action: &str, outcome: &str) -> u64 {
        self.operations
            .get(action)
            .and_then(|m| m.get(outcome))
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, Default)]
struct Window {
    stamps: VecDeque<Duration>,
    accepted: u64,
    max: u64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: u64,
    throttled: u64,
    operations: BTreeMap<String, BTreeMap<String, u64>>,
    windows: HashMap<(String, String), Window>,
}

#[derive(Debug)]
pub struct Stats {
    qps: u32,
    origin: Instant,
    inner: Mutex<Inner>,
}

impl Stats {
    pub fn new(qps: u32) -> Stats {
        Stats {
            qps,
            origin: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one answered (or dropped) request.
    pub fn outcome(&self, action: &str, outcome: &str) {
        let mut i = self.lock();
        i.requests += 1;
        if outcome.starts_with("Throttling") {
            i.throttled += 1;
        }
        *i.operations
            .entry(action.to_string())
            .or_default()
            .entry(outcome.to_string())
            .or_default() += 1;
    }

    /// Records one call accepted by the quota, now.
    pub fn accepted(&self, key: &str, action: &str) {
        let now = self.origin.elapsed();
        let mut i = self.lock();
        let w = i
            .windows
            .entry((key.to_string(), action.to_string()))
            .or_default();
        record(w, now);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let i = self.lock();
        let mut windows: Vec<WindowStat> = i
            .windows
            .iter()
            .map(|((k, a), w)| WindowStat {
                access_key_id: k.clone(),
                action: a.clone(),
                accepted: w.accepted,
                max_accepted_in_any_window: w.max,
            })
            .collect();
        windows.sort_by(|a, b| (&a.access_key_id, &a.action).cmp(&(&b.access_key_id, &b.action)));
        StatsSnapshot {
            qps: self.qps,
            requests: i.requests,
            throttled: i.throttled,
            operations: i.operations.clone(),
            max_accepted_in_any_window: windows
                .iter()
                .map(|w| w.max_accepted_in_any_window)
                .max()
                .unwrap_or(0),
            windows,
        }
    }
}

/// The busiest one-second window always ends at an accepted call, so counting the calls in the
/// second before each one finds the maximum exactly.
fn record(w: &mut Window, now: Duration) {
    while let Some(&t) = w.stamps.front() {
        if t + Duration::from_secs(1) <= now {
            w.stamps.pop_front();
        } else {
            break;
        }
    }
    w.stamps.push_back(now);
    w.accepted += 1;
    w.max = w.max.max(w.stamps.len() as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_window_counts_the_busiest_second() {
        let mut w = Window::default();
        for ms in [0, 100, 200, 1150, 1160, 1170, 1180, 2500] {
            record(&mut w, Duration::from_millis(ms));
        }
        // 200, 1150, 1160, 1170, 1180 lie within one second.
        assert_eq!(w.max, 5);
        assert_eq!(w.accepted, 8);
    }
}
