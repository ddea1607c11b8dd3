//! What a run produced, as one set of types used all the way: the engine fills them, the journal
//! writes an item as it is (with its run id and time), the reports render them, and the exit code
//! is mapped from them. Nothing is copied field by field into a look-alike type on the way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::adaptive::RateSample;
use super::retry::GiveUp;
use crate::api::error::ErrorClass;
use crate::exit;

/// What happened to one item, as the journal and the reports say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Succeeded,
    Failed,
    /// Not sent in this run because the journal says it is not needed (`--resume`,
    /// `--retry-failed`).
    Skipped,
    /// Never sent: the run halted or was interrupted first.
    NotAttempted,
    /// Refused: the task's live state moved since the saved plan was made (`apply --plan`).
    Stale,
    /// Live state already matches the manifest: nothing sent.
    #[serde(rename = "noop")]
    NoOp,
    /// The task's state forbids the change (the service would refuse it): never sent.
    Blocked,
    /// No such task in that region: never sent.
    Missing,
    /// A saved plan's item whose task is already in its planned end state: nothing sent.
    AlreadyApplied,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Succeeded => "succeeded",
            ItemStatus::Failed => "failed",
            ItemStatus::Skipped => "skipped",
            ItemStatus::NotAttempted => "not_attempted",
            ItemStatus::Stale => "stale",
            ItemStatus::NoOp => "noop",
            ItemStatus::Blocked => "blocked",
            ItemStatus::Missing => "missing",
            ItemStatus::AlreadyApplied => "already_applied",
        }
    }

    /// Decided before sending (from live state) and never sent.
    pub fn is_unsent(self) -> bool {
        matches!(
            self,
            ItemStatus::NoOp | ItemStatus::Blocked | ItemStatus::Missing
        )
    }
}

/// Why an item is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// This exact update already succeeded (per the journal).
    AlreadySucceeded,
    /// `--retry-failed`, and this update did not fail before.
    NotFailed,
}

impl SkipReason {
    pub fn message(self) -> &'static str {
        match self {
            SkipReason::AlreadySucceeded => "identical update already succeeded (journal)",
            SkipReason::NotFailed => "--retry-failed: this update did not fail before",
        }
    }
}

/// One item's outcome: what the journal records and every report shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    pub task_id: String,
    /// `file:line` of the update in its manifest.
    pub source: String,
    /// `update_hash` of the update that was (or would be) sent.
    #[serde(default)]
    pub hash: String,
    pub status: ItemStatus,
    /// Calls made for this item (0 when not sent).
    #[serde(default)]
    pub attempts: u32,
    /// The service's error code (or the code the service would answer, for blocked items).
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    /// Why retrying stopped, for failed items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gave_up: Option<GiveUp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<SkipReason>,
    #[serde(default)]
    pub request_id: Option<String>,
    /// Latency of the item's last call, in milliseconds (to 0.1 ms).
    #[serde(default)]
    pub latency_ms: Option<f64>,
}

impl ItemResult {
    /// An item that has not been sent (yet).
    pub fn pending(task_id: String, source: String, hash: String) -> ItemResult {
        ItemResult {
            task_id,
            source,
            hash,
            status: ItemStatus::NotAttempted,
            attempts: 0,
            error_code: None,
            error_message: None,
            error_class: None,
            gave_up: None,
            skip_reason: None,
            request_id: None,
            latency_ms: None,
        }
    }
}

/// Why a run stopped before sending everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HaltReason {
    /// The service refused the account or key: every call would fail the same way.
    Systemic { code: String, message: String },
    /// `--max-failures` was exceeded.
    MaxFailures { failed: u64, policy: String },
    /// The journal could not be written, so outcomes could no longer be made durable.
    Journal { message: String },
}

impl std::fmt::Display for HaltReason {
    /// One line for the terminal and the reports: what stopped the run, from where.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HaltReason::Systemic { code, message } => write!(
                f,
                "the service refused the account or key ({}: {})",
                crate::text::escape(code),
                crate::text::escape(message)
            ),
            HaltReason::MaxFailures { failed, policy } => {
                write!(
                    f,
                    "{failed} update(s) failed, more than --max-failures {policy}"
                )
            }
            HaltReason::Journal { message } => {
                write!(f, "outcomes could no longer be recorded: {message}")
            }
        }
    }
}

/// How the run ended (in reports: `outcome` and, when halted, `halt_reason`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    Halted {
        halt_reason: HaltReason,
    },
    /// The caller's cancellation token (Ctrl-C) fired.
    Interrupted,
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Halted { .. } => "halted",
            Outcome::Interrupted => "interrupted",
        }
    }

    pub fn halt_reason(&self) -> Option<&HaltReason> {
        match self {
            Outcome::Halted { halt_reason } => Some(halt_reason),
            _ => None,
        }
    }
}

/// Latency percentiles over every call, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// Calls of one operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationCalls {
    pub calls: u64,
    pub throttled: u64,
}

/// The run's totals: the summary of every report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(flatten)]
    pub outcome: Outcome,
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Refused because the task moved since the saved plan was made (`apply --plan`).
    #[serde(default)]
    pub stale: u64,
    pub not_attempted: u64,
    /// Already as the manifest asks: not sent.
    #[serde(default)]
    pub noop: u64,
    /// Forbidden by the task's state: not sent.
    #[serde(default)]
    pub blocked: u64,
    /// No such task: not sent.
    #[serde(default)]
    pub missing: u64,
    /// A saved plan's items already in their planned end state: not sent.
    #[serde(default)]
    pub already_applied: u64,
    /// Calls sent, retries and reads included.
    pub calls: u64,
    pub retries: u64,
    /// Responses classified as throttled.
    pub throttled: u64,
    pub calls_per_second: f64,
    /// Successful updates per second of the run.
    pub updates_per_second: f64,
    pub elapsed_seconds: f64,
    pub latency_ms: Latency,
    /// The Update pace over time (seconds since start, calls/s).
    pub rate_samples: Vec<RateSample>,
    /// Calls and throttled answers per operation (by its `Action` name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_operation: BTreeMap<String, OperationCalls>,
    /// Each second of the run (from its start): calls sent, throttled answers, p95 latency.
    #[serde(default)]
    pub per_second: Vec<SecondStats>,
}

/// One call as the engine saw it: when it was sent (since the engine started), how long it took,
/// whether it was throttled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallPoint {
    pub at: std::time::Duration,
    pub latency_ms: f64,
    pub throttled: bool,
}

/// One second of a run, for the reports' chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondStats {
    /// Seconds since the run started (this second is `[second, second + 1)`).
    pub second: u64,
    pub calls: u64,
    pub throttled: u64,
    /// Nearest-rank p95 of the latency of the calls sent in this second; `None` without calls.
    pub p95_ms: Option<f64>,
}

/// The wall time a rate is counted over: the run's, but at least one second, the window the
/// quota counts in — 7 calls in 0.6 s were 7 calls in that second, not 11.7 calls/s.
pub fn wall_seconds(elapsed: std::time::Duration) -> f64 {
    elapsed.as_secs_f64().max(1.0)
}

/// The time a run's calls occupied at the pace they were sent: n calls from the first send to
/// the last span n − 1 gaps but take n of them (17 calls 103 ms apart span 1.65 s: counted over
/// the span they read 10.3 calls/s, an alarming figure under a 10/s quota; over the 17 gaps they
/// take, 9.7, the pace they left at). With fewer than two sends, the run's wall time. Never less
/// than one second, as [`wall_seconds`].
pub fn rate_seconds<P: std::borrow::Borrow<CallPoint>>(
    points: impl IntoIterator<Item = P>,
    elapsed: std::time::Duration,
) -> f64 {
    let mut span: Option<(std::time::Duration, std::time::Duration)> = None;
    let mut n = 0u64;
    for p in points {
        let at = p.borrow().at;
        n += 1;
        span = Some(span.map_or((at, at), |(a, b)| (a.min(at), b.max(at))));
    }
    match span {
        Some((first, last)) if n >= 2 && last > first => {
            let n = n as f64;
            ((last - first).as_secs_f64() * n / (n - 1.0)).max(1.0)
        }
        _ => wall_seconds(elapsed),
    }
}

/// Buckets calls by the second of the run they were sent in (seconds without calls included, so
/// a chart's axis is time), counting from `start`; calls before `start` are not this run's.
pub fn per_second<P: std::borrow::Borrow<CallPoint>>(
    points: impl IntoIterator<Item = P>,
    start: std::time::Duration,
) -> Vec<SecondStats> {
    let mut buckets: Vec<(u64, u64, Vec<f64>)> = Vec::new();
    for p in points {
        let p = p.borrow();
        let Some(since) = p.at.checked_sub(start) else {
            continue;
        };
        let i = since.as_secs() as usize;
        if buckets.len() <= i {
            buckets.resize_with(i + 1, || (0, 0, Vec::new()));
        }
        let b = &mut buckets[i];
        b.0 += 1;
        b.1 += u64::from(p.throttled);
        b.2.push(p.latency_ms);
    }
    buckets
        .into_iter()
        .enumerate()
        .map(|(i, (calls, throttled, mut lat))| {
            lat.sort_by(f64::total_cmp);
            SecondStats {
                second: i as u64,
                calls,
                throttled,
                p95_ms: percentile(&lat, 95.0),
            }
        })
        .collect()
}

/// Which items that were never sent a run accepts (`--allow-blocked`, `--allow-missing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accept {
    pub blocked: bool,
    pub missing: bool,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub summary: Summary,
    /// In input order.
    pub items: Vec<ItemResult>,
}

impl RunResult {
    /// The process exit code: see [`Summary::exit_code`].
    pub fn exit_code(&self, accept: Accept) -> u8 {
        self.summary.exit_code(accept)
    }
}

impl Summary {
    /// The process exit code: 0 all done, 1 some failed (or the journal failed, or an item was
    /// blocked or missing and not accepted), 3 halted or interrupted with work left, 4 stale
    /// plan items, 77 the service refused the credentials.
    pub fn exit_code(&self, accept: Accept) -> u8 {
        let s = self;
        let unaccepted = (!accept.blocked && s.blocked > 0) || (!accept.missing && s.missing > 0);
        match &s.outcome {
            Outcome::Completed if s.stale > 0 => exit::STALE_PLAN,
            Outcome::Completed if s.failed == 0 && !unaccepted => exit::SUCCESS,
            Outcome::Completed => exit::FAILURE,
            Outcome::Interrupted => exit::INTERRUPTED,
            // An expired STS token that could not be refreshed: the work left is fine; renew
            // the token and --resume (the hook of issue 14, see api::error::is_credential_expiry).
            Outcome::Halted {
                halt_reason: HaltReason::Systemic { code, .. },
            } if crate::api::error::is_credential_expiry(code) => exit::INTERRUPTED,
            Outcome::Halted {
                halt_reason: HaltReason::Systemic { .. },
            } => exit::CREDENTIALS,
            Outcome::Halted {
                halt_reason: HaltReason::Journal { .. },
            } => exit::FAILURE,
            Outcome::Halted { .. } => exit::INTERRUPTED,
        }
    }
}

#[cfg(test)]
mod per_second_tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64, latency_ms: f64, throttled: bool) -> CallPoint {
        CallPoint {
            at: Duration::from_millis(ms),
            latency_ms,
            throttled,
        }
    }

    #[test]
    fn calls_are_bucketed_by_the_second_they_were_sent_in() {
        let start = Duration::from_millis(500);
        let points = [
            at(100, 1.0, false), // before the run: planning
            at(500, 10.0, false),
            at(1400, 30.0, true),
            at(1499, 20.0, false),
            at(3600, 40.0, false),
        ];
        let s = per_second(points, start);
        let rows: Vec<_> = s
            .iter()
            .map(|b| (b.second, b.calls, b.throttled, b.p95_ms))
            .collect();
        assert_eq!(
            rows,
            vec![
                (0, 3, 1, Some(30.0)),
                (1, 0, 0, None),
                (2, 0, 0, None),
                (3, 1, 0, Some(40.0)),
            ]
        );
    }

    #[test]
    fn rates_count_the_gaps_calls_take_not_the_span_between_them() {
        let at = |ms: u64| CallPoint {
            at: Duration::from_millis(ms),
            latency_ms: 50.0,
            throttled: false,
        };
        // 17 calls on a 103 ms grid: 9.71 calls/s, not 17 / 1.648 s = 10.3.
        let grid: Vec<CallPoint> = (0..17).map(|i| at(5 + i * 103)).collect();
        let secs = rate_seconds(&grid, Duration::from_millis(1900));
        assert!((17.0 / secs - 9.709).abs() < 0.01, "{}", 17.0 / secs);
        // 600 calls at 9.7/s: the same figure as over the wall time, to within a call.
        let long: Vec<CallPoint> = (0..600).map(|i| at(i * 103)).collect();
        assert!((600.0 / rate_seconds(&long, Duration::from_secs(62)) - 9.709).abs() < 0.01);
        // A burst in one instant, or a single call: over the wall time, at least one second.
        assert_eq!(
            rate_seconds([at(10), at(10)], Duration::from_millis(300)),
            1.0
        );
        assert_eq!(rate_seconds([at(10)], Duration::from_millis(2500)), 2.5);
        assert_eq!(rate_seconds(&[] as &[CallPoint], Duration::ZERO), 1.0);
        // Seven calls within 0.6 s were seven calls in one second.
        let seven: Vec<CallPoint> = (0..7).map(|i| at(i * 100)).collect();
        assert_eq!(rate_seconds(&seven, Duration::from_millis(650)), 1.0);
    }

    #[test]
    fn rates_count_at_least_one_second() {
        assert_eq!(wall_seconds(Duration::from_millis(20)), 1.0);
        assert_eq!(wall_seconds(Duration::from_millis(600)), 1.0);
        assert_eq!(wall_seconds(Duration::from_millis(4120)), 4.12);
        assert_eq!(wall_seconds(Duration::ZERO), 1.0);
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// To 0.1 (latencies in reports).
pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// To 0.001 (rates and durations in reports).
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(outcome: Outcome) -> Summary {
        Summary {
            outcome,
            total: 3,
            succeeded: 1,
            failed: 0,
            skipped: 0,
            stale: 0,
            not_attempted: 0,
            noop: 1,
            blocked: 1,
            missing: 0,
            already_applied: 0,
            calls: 1,
            retries: 0,
            throttled: 0,
            calls_per_second: 1.0,
            updates_per_second: 1.0,
            elapsed_seconds: 1.0,
            latency_ms: Latency::default(),
            rate_samples: vec![],
            by_operation: BTreeMap::new(),
            per_second: vec![],
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn blocked_items_fail_the_run_unless_accepted() {
        let r = RunResult {
            summary: summary(Outcome::Completed),
            items: vec![],
        };
        assert_eq!(r.exit_code(Accept::default()), exit::FAILURE);
        let ok = Accept {
            blocked: true,
            missing: false,
        };
        assert_eq!(r.exit_code(ok), exit::SUCCESS);
    }

    #[test]
    fn outcome_flattens_to_outcome_and_halt_reason() {
        let s = summary(Outcome::Halted {
            halt_reason: HaltReason::MaxFailures {
                failed: 2,
                policy: "1".into(),
            },
        });
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["outcome"], "halted");
        assert_eq!(v["halt_reason"]["kind"], "max_failures");
        let back: Summary = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
        let v = serde_json::to_value(summary(Outcome::Completed)).unwrap();
        assert_eq!(v["outcome"], "completed");
        assert!(v.get("halt_reason").is_none());
    }
}
