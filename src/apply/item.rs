//! One item: what it is ([`WorkItem`]: an update, its steps, what a saved plan expects of its
//! task, or why it is not sent) and its steps: for a saved-plan item, re-read the task and refuse it if it moved
//! ([`crate::plan::stale`]); then its calls in order — one update, or stop → update → restart with
//! each step journaled and the task restarted with its old configuration if the update fails after
//! the stop —; then its outcome made durable in the journal before it is handed back.
//!
//! A journal write that fails (a step's record or the item's) is handed back with the outcome and
//! halts the run: the journal is how `--resume` knows what happened.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::engine::{Engine, Failure};
use super::journal::{
    ItemRecord, Journal, JournalState, Record, ResumeMode, StepRecord, update_hash,
};
use super::ops::{Sent, TaskOps};
use super::retry::GiveUp;
use crate::api::error::ApiError;
use crate::api::operation::Operation;
use crate::model::Update;
use crate::outcome::{ItemResult, ItemStatus};
use crate::plan::diff::Step;
pub use crate::plan::stale::Expect;
use crate::plan::stale::{Freshness, freshness};

/// An item decided before the run and never sent: a no-op, a blocked or a missing task. It is
/// reported in its place with the reason (and the code the service would answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Unsent {
    pub status: ItemStatus,
    pub error_code: Option<String>,
    pub message: Option<String>,
}

/// One update to apply, with where it came from (for reports and journal).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    /// Exactly what `UpdateLivePullToPush` gets (narrowed to the differing fields when planned).
    pub update: Update,
    /// `file:line` of the update in its manifest.
    pub source: String,
    /// The calls, in order: `[Update]` for a manifest; `[Stop, Update, Restart]` for a running
    /// task planned with `--restart-running`.
    pub steps: Vec<Step>,
    /// From a saved plan: refuse the item (status `stale`) when the task moved since planning.
    pub expect: Option<Box<Expect>>,
    /// Decided from live state not to send (no-op, blocked, missing).
    pub unsent: Option<Box<Unsent>>,
    /// What the plan found it changes (or would, blocked), for the reports; empty unplanned.
    pub changes: Vec<crate::outcome::Change>,
    /// What `--partial` held back from this item (not sent), for the reports.
    pub held: Vec<crate::outcome::Held>,
    /// The task's `TaskStatus` when planned (with `changes`' old values, its before-image).
    pub before_status: Option<i32>,
    /// With `--waves`: the wave it belongs to (set as the run reads it).
    pub wave: Option<u32>,
    /// It restores an earlier item's before-image (a failed wave's rollback).
    pub rollback: bool,
}

impl WorkItem {
    /// A plain update from a manifest: one call, no expectation about live state.
    pub fn new(update: Update, source: impl Into<String>) -> WorkItem {
        WorkItem {
            update,
            source: source.into(),
            steps: vec![Step::Update],
            expect: None,
            unsent: None,
            changes: Vec::new(),
            held: Vec::new(),
            before_status: None,
            wave: None,
            rollback: false,
        }
    }

    /// Its outcome before it is sent: what it is, where, what it changes and in which steps.
    pub fn pending_result(&self, hash: String) -> ItemResult {
        let mut r = ItemResult::pending(self.update.task_id.clone(), self.source.clone(), hash);
        r.region = Some(self.update.region.as_str().to_string());
        r.changes = self.changes.clone();
        r.held = self.held.clone();
        r.before_status = self.before_status;
        r.wave = self.wave;
        r.rollback = self.rollback;
        if self.steps.len() > 1 {
            r.steps = self
                .steps
                .iter()
                .map(|s| {
                    match s {
                        Step::Stop => "stop",
                        Step::Update => "update",
                        Step::Restart => "restart",
                    }
                    .to_string()
                })
                .collect();
        }
        r
    }

    /// The operations this item calls, in order (a staleness check first when it has one).
    pub fn calls(&self) -> usize {
        if self.unsent.is_some() {
            0
        } else {
            self.steps.len() + usize::from(self.expect.is_some())
        }
    }

    /// Whether a run sends this item: decided before the run (`unsent`) or skipped by the
    /// journal (`resume`), it is settled without a call.
    pub fn is_sent(&self, previous: &JournalState, resume: ResumeMode) -> bool {
        self.unsent.is_none()
            && previous
                .skip(resume, &self.update.task_id, &update_hash(&self.update))
                .is_none()
    }
}

/// The error code reports give an item refused because its task moved since planning.
pub const STALE_CODE: &str = "Plan.Stale";

/// What an item task hands back: its outcome (already journaled), and what the run must do.
#[derive(Debug)]
pub(super) struct Done {
    pub result: ItemResult,
    /// The update, when it was sent and succeeded (for `--verify`).
    pub sent: Option<Update>,
    /// The run must halt: this item hit a systemic error.
    pub systemic: bool,
    /// A record of the item (a step's or its outcome's) could not be journaled: the run must
    /// halt.
    pub journal_error: Option<String>,
}

/// An item's outcome while it runs.
#[derive(Debug)]
struct Ended {
    status: ItemStatus,
    attempts: u32,
    error: Option<ApiError>,
    gave_up: Option<GiveUp>,
    request_id: Option<String>,
    latency_ms: Option<f64>,
    systemic: bool,
    /// What else the report should say (what moved for a stale item; a rollback).
    note: Option<String>,
}

impl Ended {
    fn from_failure(f: Failure, attempts: u32, latency_ms: Option<f64>) -> Ended {
        let (status, error, gave_up, systemic) = match f {
            // Stopped before its first call: never sent.
            Failure::Stopped { last: None } if attempts == 0 => {
                (ItemStatus::NotAttempted, None, None, false)
            }
            // Stopped while waiting to retry: the run ended before the next attempt, so the
            // update is left to do (`--resume`), not failed; the last error says why it waited.
            Failure::Stopped { last } => (ItemStatus::NotAttempted, last, None, false),
            Failure::GaveUp { error, why } => (ItemStatus::Failed, Some(error), Some(why), false),
            // Refused only because the credentials expired (a static STS token): the call took
            // no effect, so the update is left for `--resume` once they are renewed, not failed.
            Failure::Systemic { error }
                if crate::api::error::is_credential_expiry(&error.code()) =>
            {
                (ItemStatus::NotAttempted, Some(error), None, true)
            }
            Failure::Systemic { error } => (ItemStatus::Failed, Some(error), None, true),
        };
        Ended {
            status,
            attempts,
            request_id: error
                .as_ref()
                .and_then(|e| e.request_id().map(str::to_string)),
            error,
            gave_up,
            latency_ms: if status == ItemStatus::NotAttempted {
                None
            } else {
                latency_ms
            },
            systemic,
            note: None,
        }
    }

    /// Settled by the staleness read alone, with nothing sent: already applied, or stale.
    fn unsent(status: ItemStatus, tries: &Tries, note: String) -> Ended {
        Ended {
            status,
            attempts: tries.attempts,
            error: None,
            gave_up: None,
            request_id: None,
            latency_ms: tries.latency_ms,
            systemic: false,
            note: Some(note),
        }
    }
}

fn step_op(step: Step) -> Operation {
    match step {
        Step::Stop => Operation::Stop,
        Step::Update => Operation::Update,
        Step::Restart => Operation::Restart,
    }
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Stop => "stop",
        Step::Update => "update",
        Step::Restart => "restart",
    }
}

/// What one run shares with its item tasks.
pub(super) struct ItemRunner<S> {
    pub engine: Arc<Engine<S>>,
    pub journal: Journal,
    pub run_id: String,
    /// Stops item tasks: set on halt or cancellation.
    pub stop: CancellationToken,
}

/// The calls of one item so far, and the first of its records the journal refused.
#[derive(Debug, Default)]
struct Tries {
    attempts: u32,
    latency_ms: Option<f64>,
    journal_error: Option<String>,
}

impl<S: TaskOps> ItemRunner<S> {
    /// One call of a step of `update`'s task.
    async fn step(
        &self,
        step: Step,
        update: &Update,
        stop: &CancellationToken,
        tries: &mut Tries,
    ) -> Result<Sent, Failure> {
        let ops = self.engine.ops();
        let (id, region) = (update.task_id.as_str(), update.region);
        let f = || async move {
            match step {
                Step::Update => ops.update(update).await,
                Step::Stop => ops.stop(id, region).await,
                Step::Restart => ops.restart(id, region).await,
            }
        };
        let (attempts, latency_ms) = (&mut tries.attempts, &mut tries.latency_ms);
        self.engine
            .call(step_op(step), stop, attempts, latency_ms, f)
            .await
    }

    /// Records one step of a multi-call item, so a crash between a stop and its restart leaves
    /// the journal saying which tasks were left stopped. A record the journal refuses is kept in
    /// `tries` (the item goes on: a stopped task is still restarted) and halts the run.
    async fn journal_step(&self, tries: &mut Tries, update: &Update, step: StepOutcome<'_>) {
        let rec = Record::Step(StepRecord {
            run_id: self.run_id.clone(),
            task_id: update.task_id.clone(),
            region: Some(update.region),
            step: step.name.to_string(),
            ok: step.ok,
            error_code: step.error_code,
            request_id: step.request_id,
            at: now_rfc3339(),
        });
        // Boxed, as every rarely taken await of an item (see `item`).
        if let Err(e) = Box::pin(self.journal.record(&rec)).await {
            tries.journal_error.get_or_insert(e.to_string());
        }
    }

    /// Runs one item and makes its outcome durable.
    ///
    /// Thousands of items wait for their slot at a raised quota (the default concurrency is
    /// 2 × qps + 4), each holding its future the whole time, so the awaits an item rarely or
    /// briefly takes (the journal, a staleness read, a rollback) are boxed: only their pointer
    /// stays in every item's state (measured with a probe future: 2,344 bytes per item before).
    pub async fn item(&self, item: WorkItem, hash: String) -> Done {
        let mut tries = Tries::default();
        let ended = self.run_item(&item, &mut tries).await;
        let mut r = item.pending_result(hash);
        r.status = ended.status;
        r.attempts = ended.attempts;
        r.error_class = ended.error.as_ref().map(ApiError::class);
        r.error_code = ended.error.as_ref().map(ApiError::code);
        r.error_message = match (ended.error.as_ref().map(ApiError::message), ended.note) {
            (Some(m), Some(n)) => Some(format!("{m}; {n}")),
            (m, n) => m.or(n),
        };
        if ended.status == ItemStatus::Stale {
            r.error_code = Some(STALE_CODE.to_string());
        }
        r.gave_up = ended.gave_up;
        r.request_id = ended.request_id;
        r.latency_ms = ended.latency_ms;
        if matches!(
            r.status,
            ItemStatus::Succeeded
                | ItemStatus::Failed
                | ItemStatus::Stale
                | ItemStatus::AlreadyApplied
        ) {
            let rec = Record::Item(ItemRecord {
                run_id: self.run_id.clone(),
                item: r,
                at: now_rfc3339(),
            });
            let written = Box::pin(self.journal.record(&rec)).await;
            let Record::Item(ItemRecord { item, .. }) = rec else {
                unreachable!("built as an item record just above")
            };
            r = item;
            if let Err(e) = written {
                let e = e.to_string();
                not_durable(&mut r, &e);
                tries.journal_error.get_or_insert(e);
            }
        }
        Done {
            sent: (r.status == ItemStatus::Succeeded).then_some(item.update),
            result: r,
            systemic: ended.systemic,
            journal_error: tries.journal_error,
        }
    }

    /// For a planned item, first check that the task has not moved since planning (or is already
    /// where the plan takes it); then each step in order (see [`ItemRunner::steps`]).
    async fn run_item(&self, item: &WorkItem, tries: &mut Tries) -> Ended {
        let update = &item.update;
        if let Some(expect) = &item.expect {
            // Read where the task was planned (a Region move has not happened yet); an item
            // applied before has moved it already, so a task not found there is looked for
            // where the update takes it.
            let id = update.task_id.as_str();
            let ops = self.engine.ops();
            let mut state = None;
            let mut found_in = expect.region;
            let mut regions = vec![expect.region];
            if update.region != expect.region {
                regions.push(update.region);
            }
            for region in regions {
                state = match Box::pin(self.engine.call(
                    Operation::Describe,
                    &self.stop,
                    &mut tries.attempts,
                    &mut tries.latency_ms,
                    || ops.describe(id, region),
                ))
                .await
                {
                    Ok(s) => s,
                    Err(f) => return Ended::from_failure(f, tries.attempts, tries.latency_ms),
                };
                if state.is_some() {
                    found_in = region;
                    break;
                }
            }
            match freshness(expect, update, &item.steps, state.as_ref(), found_in) {
                Freshness::Fresh => {}
                Freshness::AlreadyApplied => {
                    return Ended::unsent(
                        ItemStatus::AlreadyApplied,
                        tries,
                        "the task is already in the state this plan item leads to; nothing sent"
                            .into(),
                    );
                }
                Freshness::Stale(why) => {
                    return Ended::unsent(
                        ItemStatus::Stale,
                        tries,
                        format!("{why}; re-run `livebatch plan` and review it again"),
                    );
                }
            }
        }
        self.steps(item, tries).await
    }

    /// Each step in order. If the update fails after the task was stopped for it, the task is
    /// restarted with its old configuration (the update did not take) and the item is failed.
    async fn steps(&self, item: &WorkItem, tries: &mut Tries) -> Ended {
        let update = &item.update;
        let multi = item.steps.len() > 1;
        let mut stopped_task = false;
        let mut last = Sent::default();
        // A task already stopped for this item is finished even when the run is stopping: leaving
        // a task stopped that was running is worse than a few more calls.
        let never = CancellationToken::new();
        for &step in &item.steps {
            let stop = if stopped_task { &never } else { &self.stop };
            if step == Step::Stop {
                if self.stop.is_cancelled() {
                    return Ended::from_failure(
                        Failure::Stopped { last: None },
                        tries.attempts,
                        None,
                    );
                }
                // The intent, durable before the stop is sent: a crash that loses the stop's
                // answer (or its record) still leaves the journal saying this task may be
                // stopped, and the next run looks at it (`super::recover`).
                let rec = StepOutcome::ok(super::recover::BEGIN, None);
                self.journal_step(tries, update, rec).await;
                if tries.journal_error.is_some() {
                    return Ended::from_failure(
                        Failure::Stopped { last: None },
                        tries.attempts,
                        None,
                    );
                }
            }
            match self.step(step, update, stop, tries).await {
                Ok(sent) => {
                    if multi {
                        let rid = Some(sent.request_id.clone()).filter(|r| !r.is_empty());
                        let rec = StepOutcome::ok(step_name(step), rid);
                        self.journal_step(tries, update, rec).await;
                    }
                    stopped_task |= step == Step::Stop;
                    last = sent;
                }
                Err(f) => {
                    let mut ended = Ended::from_failure(f, tries.attempts, tries.latency_ms);
                    if stopped_task && ended.status == ItemStatus::NotAttempted {
                        // Its task was stopped for it: the item did something, and says so.
                        ended.status = ItemStatus::Failed;
                    }
                    if multi && ended.status != ItemStatus::NotAttempted {
                        let code = ended.error.as_ref().map(ApiError::code);
                        let rec =
                            StepOutcome::failed(step_name(step), code, ended.request_id.clone());
                        self.journal_step(tries, update, rec).await;
                    }
                    if ended.systemic {
                        // Stop the other items now, not when the coordinator gets to this outcome.
                        self.stop.cancel();
                    }
                    if stopped_task && step == Step::Update {
                        ended.note = Some(Box::pin(self.rollback(update, tries)).await);
                        ended.attempts = tries.attempts;
                    } else if stopped_task && step == Step::Restart {
                        ended.note = Some(
                            "the update was applied, but restarting the task failed: it is left STOPPED; \
                             restart it once the cause is fixed"
                                .into(),
                        );
                    }
                    return ended;
                }
            }
        }
        Ended {
            status: ItemStatus::Succeeded,
            attempts: tries.attempts,
            error: None,
            gave_up: None,
            request_id: Some(last.request_id).filter(|r| !r.is_empty()),
            latency_ms: tries.latency_ms,
            systemic: false,
            note: None,
        }
    }

    /// Restarts a task whose update failed after it was stopped (retried like any call, and even
    /// when the run is stopping). Returns what the report should add.
    async fn rollback(&self, update: &Update, tries: &mut Tries) -> String {
        let never = CancellationToken::new();
        match self.step(Step::Restart, update, &never, tries).await {
            Ok(_) => {
                let rec = StepOutcome::ok("rollback-restart", None);
                self.journal_step(tries, update, rec).await;
                "the update failed after the task was stopped; it was restarted with its old configuration".into()
            }
            Err(f) => {
                let error = f.into_error();
                let code = error.as_ref().map(ApiError::code);
                let rid = error
                    .as_ref()
                    .and_then(|e| e.request_id().map(str::to_string));
                let rec = StepOutcome::failed("rollback-restart", code, rid);
                self.journal_step(tries, update, rec).await;
                let why = error
                    .map(|e| format!("{}: {}", e.code(), e.message()))
                    .unwrap_or_default();
                format!(
                    "the update failed after the task was stopped, and restarting it failed too ({why}): the task is left STOPPED"
                )
            }
        }
    }
}

/// The error code reports give an item whose outcome the journal could not keep.
pub const NOT_DURABLE_CODE: &str = "Journal.NotDurable";

/// An outcome whose journal record could not be written is not counted as what it was: the
/// reports count only what is durable (a success the journal does not hold would be sent again
/// by `--resume`, and a report should not promise otherwise). It is failed, saying why.
fn not_durable(r: &mut ItemResult, error: &str) {
    let was = r.status;
    r.status = ItemStatus::Failed;
    r.error_class = None;
    r.error_code = Some(NOT_DURABLE_CODE.to_string());
    let said = r
        .error_message
        .take()
        .map(|m| format!("; {m}"))
        .unwrap_or_default();
    r.error_message = Some(format!(
        "outcome {} not recorded: the journal could not be written ({error}); --resume sends it again{said}",
        was.as_str()
    ));
}

/// How one step of a multi-call item went, as its journal record says it.
struct StepOutcome<'a> {
    name: &'a str,
    ok: bool,
    error_code: Option<String>,
    request_id: Option<String>,
}

impl<'a> StepOutcome<'a> {
    fn ok(name: &'a str, request_id: Option<String>) -> StepOutcome<'a> {
        StepOutcome {
            name,
            ok: true,
            error_code: None,
            request_id,
        }
    }

    fn failed(
        name: &'a str,
        error_code: Option<String>,
        request_id: Option<String>,
    ) -> StepOutcome<'a> {
        StepOutcome {
            name,
            ok: false,
            error_code,
            request_id,
        }
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
