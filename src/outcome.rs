//! What a run produced, as one set of types used all the way: the engine fills them, the journal
//! writes an item as it is (with its run id and time), the reports render them, and the exit code
//! is mapped from them. Nothing is copied field by field into a look-alike type on the way.
//!
//! A leaf: `apply` produces these and `report` renders them, and neither imports the other for
//! them. What a run records is [`RunRecord`] (counts, calls, the pace over time); the figures the
//! reports derive from it (latency percentiles, rates, the per-second chart) are the reports'
//! (`report::stats`), kept in [`Summary`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::error::ErrorClass;
use crate::exit;
use crate::model::{Region, Update};
use crate::pace::adaptive::RateSample;
use crate::plan::diff::FieldChange;

/// Why an item is not retried any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiveUp {
    /// The failure is about this item; retrying cannot help.
    Permanent,
    /// `max_attempts` calls were made.
    AttemptsExhausted,
    /// The run's retry budget is spent: too much is failing.
    BudgetExhausted,
}

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
    /// The task's region (absent in records of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What the item changes (or would, blocked), each field's live value and the new one, when
    /// it was planned against live state; empty for a blind (`--no-refresh`) update.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// The calls of a multi-step item in order (`stop`, `update`, `restart`); empty for one call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// With `--partial`: the fields of the update that were not sent because the task's state
    /// forbids them now, each with the code the service would answer and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Held>,
    /// With `--waves`: the wave (1-based) the item belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
    /// The task's `TaskStatus` when it was planned: with `changes`' old values, the item's
    /// before-image (what a gate expects after the change, what a rollback or `revert` restores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_status: Option<i32>,
    /// This record restores an earlier item's before-image: its wave failed its health gate and
    /// was rolled back (`changes` are then the fields restored, `new` the values restored).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback: bool,
}

/// A field `--partial` held back (not sent), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub field: String,
    pub old: String,
    pub new: String,
    pub code: String,
    pub reason: String,
}

/// One field's change as planned: its live value and the value sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub field: String,
    pub old: String,
    pub new: String,
}

impl From<&FieldChange> for Change {
    /// A planned field change as reports and the journal keep it (the field by its name).
    fn from(c: &FieldChange) -> Change {
        Change {
            field: c.field.to_string(),
            old: c.old.clone(),
            new: c.new.clone(),
        }
    }
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
            region: None,
            changes: Vec::new(),
            steps: Vec::new(),
            held: Vec::new(),
            wave: None,
            before_status: None,
            rollback: false,
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
    /// The shared quota store (`--quota-store`) stayed unreachable past its timeout.
    QuotaStore { message: String },
    /// A wave's health gate could not read its tasks back: no verdict, so nothing was rolled
    /// back; `--resume` evaluates the gate again.
    GateInconclusive { wave: u32, message: String },
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
            HaltReason::QuotaStore { message } => {
                write!(f, "the quota store stayed unreachable: {message}")
            }
            HaltReason::GateInconclusive { wave, message } => write!(
                f,
                "wave {wave}'s health gate could not read its tasks back ({}); nothing was rolled back",
                crate::text::escape(message)
            ),
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
    /// A wave failed its health gate (`--waves`): the run stopped there, the wave rolled back
    /// unless `--on-unhealthy halt`. Final: `--resume` refuses to go on.
    GateFailed {
        wave: u32,
    },
    /// Stopped as asked after this wave's gate passed (`--pause-after`); `--resume` goes on.
    Paused {
        wave: u32,
    },
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Halted { .. } => "halted",
            Outcome::Interrupted => "interrupted",
            Outcome::GateFailed { .. } => "gate_failed",
            Outcome::Paused { .. } => "paused",
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

/// One item's outcome as the run keeps it for the end: its result, and the update that was sent
/// when it succeeded and `--verify` will read it back (so verify learns what was sent from the
/// run's own records, not from the work list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settled {
    pub item: ItemResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<Update>,
}

/// Items by status, counted as their outcomes settle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    pub stale: u64,
    pub not_attempted: u64,
    pub noop: u64,
    pub blocked: u64,
    pub missing: u64,
    pub already_applied: u64,
}

impl Tally {
    pub fn add(&mut self, s: ItemStatus) {
        match s {
            ItemStatus::Succeeded => self.succeeded += 1,
            ItemStatus::Failed => self.failed += 1,
            ItemStatus::Skipped => self.skipped += 1,
            ItemStatus::Stale => self.stale += 1,
            ItemStatus::NoOp => self.noop += 1,
            ItemStatus::Blocked => self.blocked += 1,
            ItemStatus::Missing => self.missing += 1,
            ItemStatus::AlreadyApplied => self.already_applied += 1,
            ItemStatus::NotAttempted => self.not_attempted += 1,
        }
    }

    /// Items settled for good (a `not_attempted` one is left to do).
    pub fn done(&self) -> u64 {
        self.succeeded
            + self.failed
            + self.skipped
            + self.stale
            + self.noop
            + self.blocked
            + self.missing
            + self.already_applied
    }
}

/// Calls made so far, per operation, and the run-wide retry figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallCounts {
    pub by_op: [OperationCalls; 7],
    pub retries: u64,
}

impl CallCounts {
    pub fn calls(&self) -> u64 {
        self.by_op.iter().map(|c| c.calls).sum()
    }
    /// The calls of the operation that made the most. Each operation has its own quota, so this
    /// is the count a pace is compared with: a saved-plan run's staleness reads and its updates
    /// both run at 9.7/s, and their sum (19.4/s) is over no quota.
    pub fn busiest(&self) -> u64 {
        self.by_op.iter().map(|c| c.calls).max().unwrap_or(0)
    }
    pub fn throttled(&self) -> u64 {
        self.by_op.iter().map(|c| c.throttled).sum()
    }
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &CallCounts) -> CallCounts {
        let mut d = self.clone();
        for (a, b) in d.by_op.iter_mut().zip(&earlier.by_op) {
            a.calls -= b.calls;
            a.throttled -= b.throttled;
        }
        d.retries -= earlier.retries;
        d
    }
}

/// One call as the engine keeps it, packed: 16 bytes (a call point and a separate latency list
/// took 40), so the calls of a million-update run take 16 MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedCall {
    /// Sent at, since the engine started.
    pub at_nanos: u64,
    /// Latency in tenths of a millisecond (latencies are kept to 0.1 ms).
    pub tenths: u32,
    pub throttled: bool,
}

impl RecordedCall {
    pub fn new(at: std::time::Duration, latency_ms: f64, throttled: bool) -> RecordedCall {
        RecordedCall {
            at_nanos: u64::try_from(at.as_nanos()).unwrap_or(u64::MAX),
            tenths: (latency_ms * 10.0).round() as u32,
            throttled,
        }
    }

    /// When it was sent, since the engine started.
    pub fn at(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.at_nanos)
    }

    /// The latency as it was measured (to 0.1 ms: k tenths is exactly k / 10).
    pub fn latency_ms(&self) -> f64 {
        f64::from(self.tenths) / 10.0
    }
}

/// What one run recorded, as it ended: how it ended, its items by status, its calls (each one,
/// for the reports' latency and per-second figures) and its Update pace over time. The reports
/// derive their figures from it (`report::stats::summarize`).
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub outcome: Outcome,
    /// Items in the run.
    pub total: u64,
    pub tally: Tally,
    /// Calls made during the run (planning's reads before it not counted).
    pub calls: CallCounts,
    pub elapsed: std::time::Duration,
    /// When the run started, on the engine's clock (the calls' `at`).
    pub started: std::time::Duration,
    /// Every call of the run, in the order they completed.
    pub timeline: Vec<RecordedCall>,
    pub rate_samples: Vec<RateSample>,
    /// With `--waves`: each wave and its gate, in order (waves never reached included).
    pub waves: Vec<WaveResult>,
}

/// One wave of a rollout (`apply --waves`) and its health gate, as the journal keeps it and the
/// reports show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaveResult {
    /// 1-based.
    pub index: u32,
    /// How many waves the rollout has.
    pub of: u32,
    /// Change items in the wave (its share of the plan).
    pub size: usize,
    /// Of those, applied (this run or an earlier run of the same rollout): what the gate read.
    pub applied: usize,
    pub healthy: usize,
    /// Tasks counted against the gate: healthy before the change, not as it should leave them
    /// after the bake.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unhealthy: Vec<TaskHealth>,
    /// Tasks already abnormal when planned: reported, not counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_counted: Vec<TaskHealth>,
    /// Tasks the gate could not read (a failed read makes the whole gate inconclusive).
    pub inconclusive: usize,
    /// The most unhealthy tasks the wave may have (`--max-unhealthy`, resolved for its size).
    pub max_unhealthy: usize,
    pub verdict: Verdict,
    /// Tasks whose change was rolled back to its before-image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rolled_back: Vec<String>,
    /// Tasks whose rollback failed, with why: restore them by hand or with `livebatch revert`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_failed: Vec<TaskHealth>,
    /// The bake before the gate read, in seconds.
    pub bake_seconds: f64,
}

/// One task as a gate judged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskHealth {
    pub task_id: String,
    pub region: Region,
    /// `TaskStatus` as read at the gate (absent: the task was not found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// What is wrong, in words (`running abnormally: PullStreamFailed`, `stopped, should run`,
    /// `CallbackURL is http://other, not what was sent`).
    pub reason: String,
}

/// A wave's gate verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// At most `max_unhealthy` tasks unhealthy: the next wave may start.
    Passed,
    /// More unhealthy tasks than allowed: the run stops here (exit 5).
    Failed,
    /// A read failed: no verdict; the run halts (exit 3) and `--resume` evaluates it again.
    Inconclusive,
    /// The run ended before this wave.
    NotReached,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotReached => "not reached",
        }
    }
}

/// A task whose live state does not match the update that succeeded on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub task_id: String,
    pub region: Region,
    /// Sent value as `new`, live value as `old`; empty when the task is gone.
    pub differences: Vec<FieldChange>,
    pub missing: bool,
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
            Outcome::GateFailed { .. } => exit::GATE_FAILED,
            Outcome::Completed | Outcome::Paused { .. } if s.stale > 0 => exit::STALE_PLAN,
            Outcome::Completed | Outcome::Paused { .. } if s.failed == 0 && !unaccepted => {
                exit::SUCCESS
            }
            Outcome::Completed | Outcome::Paused { .. } => exit::FAILURE,
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
