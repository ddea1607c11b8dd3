//! The engine: every call of a run — planning reads, staleness checks, stops, updates, restarts,
//! `--verify` read-backs — goes through one retrying call path ([`Engine::call`]), paced by the
//! pacer of its own operation, and every item's outcome is journaled before it is counted.
//!
//! - **One call path.** [`Engine::call`] takes the operation's slot from its pacer, makes the
//!   call, classifies a failure, and retries throttled and transient ones with full-jitter backoff
//!   within a run-wide budget. A throttled answer slows only its own operation's adaptive rate.
//!   The engine is also the [`LiveSource`] planning and verification read through, so reads and
//!   writes share one set of rules.
//! - **One pacer per operation.** The service's quota is per operation, so a Describe never
//!   waits for an Update's slot: the staleness check of one item runs on the Describe quota while
//!   another item's update runs on the Update quota.
//! - **The run.** One coordinator loop dispatches items (bounded concurrency) and counts their
//!   outcomes; each item runs as its own tokio task (check live state → steps in order), and
//!   writes its outcome to the group-commit journal before handing it back, so what the report and
//!   the progress bar say has always been made durable first.
//!
//! Stopping: a halt (systemic error, `--max-failures` exceeded, journal write failure) or the
//! caller's cancellation token (first Ctrl-C) stops dispatching; calls already on the wire finish
//! and are recorded; items still waiting for their turn are `not_attempted`; an item waiting to
//! retry is recorded `failed` with its last error (it was sent, and may be resumed).
//!
//! The engine is generic over [`TaskOps`] (the calls) and takes its pacers as [`Pacers`] (any
//! [`super::limiter::Pacer`] per operation), so whole runs are tested with in-test fakes under
//! tokio's paused time and wired to the real client as is.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::adaptive::{AdaptiveConfig, AdaptiveRate, RateEvent, RateRecorder};
use super::journal::{
    ItemRecord, Journal, JournalState, Record, ResumeMode, RunEnd, StepRecord, update_hash,
};
use super::limiter::Pacers;
pub use super::ops::{Sent, TaskOps};
use super::outcome::{CallPoint, per_second, rate_seconds, round1, round3};
pub use super::outcome::{
    HaltReason, ItemResult, ItemStatus, Latency, OperationCalls, Outcome, RunResult, Summary,
    percentile,
};
use super::progress::{Progress, Snapshot};
use super::retry::{Decision, GiveUp, RetryBudget, RetryPolicy, decide};
use crate::api::error::{ApiError, ErrorClass, TransportKind};
use crate::api::models::{ListResponse, TaskState};
use crate::api::operation::Operation;
use crate::model::{Region, Update};
use crate::plan::diff::{Step, already_applied, drift, fingerprint};
use crate::plan::fetch::LiveSource;

/// What a saved plan expects of a task before touching it: the fingerprint of the live state it
/// was planned against, and that state, to say what moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub fingerprint: String,
    pub planned: TaskState,
}

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
        }
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

/// The concurrency that keeps `qps` calls/s flowing when each call takes up to a second: `qps`
/// calls on the wire plus as many waiting for their slot, plus a small margin for retries
/// waiting out their backoff.
pub fn default_concurrency(qps: f64) -> usize {
    let q = if qps.is_finite() { qps.max(1.0) } else { 10.0 };
    (q * 2.0).ceil() as usize + 4
}

/// The share of `--qps` actually paced at. Calls leave evenly spaced, but the network delays each
/// one a little differently, so at exactly 1/qps spacing the service could see qps + 1 calls inside
/// one of its 1-second windows and throttle. Pacing at 97 % absorbs about 30 ms of jitter per call
/// at 10 calls/s (10 gaps of 103 ms span 1.03 s) for a 3 % cost in throughput.
pub const PACE_HEADROOM: f64 = 0.97;

/// How one run behaves. The pace of each operation is its pacer's (see [`Pacers`]).
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

/// Why a call (with its retries) did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The run is stopping: no further attempt was made (`last` is the previous attempt's error).
    Stopped { last: Option<ApiError> },
    /// A permanent error, or retries ran out.
    GaveUp { error: ApiError, why: GiveUp },
    /// The service refused the account or key: the run must halt.
    Systemic { error: ApiError },
}

impl Failure {
    /// The error to show, if any call was made.
    pub fn into_error(self) -> Option<ApiError> {
        match self {
            Failure::Stopped { last } => last,
            Failure::GaveUp { error, .. } | Failure::Systemic { error } => Some(error),
        }
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

/// One call as the engine keeps it for the reports, packed: 16 bytes (a [`CallPoint`] and a
/// separate latency list took 40), so the calls of a million-update run take 16 MB.
#[derive(Debug, Clone, Copy)]
struct Point {
    /// Sent at, since the engine started.
    at_nanos: u64,
    /// Latency in tenths of a millisecond (latencies are kept to 0.1 ms: [`round1`]).
    tenths: u32,
    throttled: bool,
}

impl Point {
    fn new(at: Duration, latency_ms: f64, throttled: bool) -> Point {
        Point {
            at_nanos: u64::try_from(at.as_nanos()).unwrap_or(u64::MAX),
            tenths: (latency_ms * 10.0).round() as u32,
            throttled,
        }
    }

    /// The latency as it was measured (`round1` of it: k tenths is exactly k / 10).
    fn latency_ms(&self) -> f64 {
        f64::from(self.tenths) / 10.0
    }

    fn call_point(&self) -> CallPoint {
        CallPoint {
            at: Duration::from_nanos(self.at_nanos),
            latency_ms: self.latency_ms(),
            throttled: self.throttled,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The one call path: pacing per operation, retries, adaptive rates, counts. Shared by planning,
/// the run and verification (see the module docs).
pub struct Engine<S> {
    ops: Arc<S>,
    pacers: Pacers,
    retry: RetryPolicy,
    start: Instant,
    adaptive: [Mutex<AdaptiveRate>; 7],
    /// The Update pace over time, for the reports.
    recorder: Mutex<RateRecorder>,
    budget: Mutex<RetryBudget>,
    rng: Mutex<StdRng>,
    /// Every call's send time, latency and throttling, for the reports' latency percentiles and
    /// per-second chart.
    timeline: Mutex<Vec<Point>>,
    calls: [AtomicU64; 7],
    throttled: [AtomicU64; 7],
    retries: AtomicU64,
    retrying: AtomicU64,
}

impl<S> std::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("pacers", &self.pacers)
            .finish_non_exhaustive()
    }
}

impl<S: TaskOps> Engine<S> {
    /// An engine over `ops`, each operation paced by its pacer in `pacers` (whose pace at this
    /// moment is also the ceiling its adaptive rate recovers to).
    pub fn new(ops: Arc<S>, pacers: Pacers, config: &ExecConfig) -> Engine<S> {
        let rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        let adaptive = Operation::ALL
            .map(|op| Mutex::new(AdaptiveRate::new(AdaptiveConfig::for_cap(pacers.rate(op)))));
        Engine {
            ops,
            pacers,
            retry: config.retry,
            start: Instant::now(),
            adaptive,
            recorder: Mutex::new(RateRecorder::new(config.sample_every)),
            budget: Mutex::new(config.budget),
            rng: Mutex::new(rng),
            timeline: Mutex::new(Vec::new()),
            calls: Default::default(),
            throttled: Default::default(),
            retries: AtomicU64::new(0),
            retrying: AtomicU64::new(0),
        }
    }

    pub fn ops(&self) -> &Arc<S> {
        &self.ops
    }

    pub fn pacers(&self) -> &Pacers {
        &self.pacers
    }

    /// Calls so far, per operation.
    pub fn counts(&self) -> CallCounts {
        let mut c = CallCounts::default();
        for op in Operation::ALL {
            c.by_op[op.index()] = OperationCalls {
                calls: self.calls[op.index()].load(Ordering::Relaxed),
                throttled: self.throttled[op.index()].load(Ordering::Relaxed),
            };
        }
        c.retries = self.retries.load(Ordering::Relaxed);
        c
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Brings `op`'s pacer to its adaptive rate in force now (and samples Update's).
    fn refresh_rate(&self, op: Operation) -> f64 {
        let now = self.now();
        let rate = lock(&self.adaptive[op.index()]).rate_at(now);
        self.pacers.set_rate(op, rate);
        if op == Operation::Update {
            lock(&self.recorder).observe(now, rate);
        }
        rate
    }

    /// Tells `op`'s adaptive rate a call left (it measures what gets through).
    fn on_sent(&self, op: Operation) {
        let now = self.now();
        let mut a = lock(&self.adaptive[op.index()]);
        *a = a.on_event(RateEvent::Sent, now);
    }

    fn on_throttled(&self, op: Operation) {
        let now = self.now();
        let mut a = lock(&self.adaptive[op.index()]);
        *a = a.on_event(RateEvent::Throttled, now);
        let rate = a.rate_at(now);
        drop(a);
        self.pacers.set_rate(op, rate);
        if op == Operation::Update {
            lock(&self.recorder).observe(now, rate);
        }
    }

    /// Makes one call of `op` (`f` makes it; it is called again to retry): take the slot from
    /// `op`'s pacer, send, and on failure decide — retry after a backoff, give up, or report a
    /// systemic error. `attempts` counts every call of an item across its steps; `latency_ms` is
    /// the last call's. When `stop` fires, no further attempt is made.
    pub async fn call<T, F, Fut>(
        &self,
        op: Operation,
        stop: &CancellationToken,
        attempts: &mut u32,
        latency_ms: &mut Option<f64>,
        f: F,
    ) -> Result<T, Failure>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut last: Option<ApiError> = None;
        let mut tries = 0u32;
        loop {
            self.refresh_rate(op);
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Err(Failure::Stopped { last }),
                _ = self.pacers.acquire(op) => {}
            }
            if stop.is_cancelled() {
                return Err(Failure::Stopped { last });
            }
            *attempts += 1;
            tries += 1;
            self.on_sent(op);
            self.calls[op.index()].fetch_add(1, Ordering::Relaxed);
            let t0 = Instant::now();
            let sent_at = self.now();
            // Boxed: the client's future is large (the HTTP exchange), and at a raised quota
            // thousands of items wait for their slot here; inline, each would carry its size the
            // whole time (measured: peak RSS grew by about 8 KB per item in flight).
            let result = Box::pin(f()).await;
            let ms = round1(t0.elapsed().as_secs_f64() * 1000.0);
            *latency_ms = Some(ms);
            lock(&self.timeline).push(Point::new(
                sent_at,
                ms,
                matches!(&result, Err(e) if e.class() == ErrorClass::Throttled),
            ));
            let err = match result {
                Ok(v) => {
                    lock(&self.budget).on_success(tries - 1);
                    return Ok(v);
                }
                Err(e) => e,
            };
            let class = err.class();
            if class == ErrorClass::Throttled {
                self.throttled[op.index()].fetch_add(1, Ordering::Relaxed);
                self.on_throttled(op);
            }
            let unit: f64 = lock(&self.rng).random();
            let decision = {
                let mut budget = lock(&self.budget);
                decide(
                    &self.retry,
                    &mut budget,
                    class,
                    tries,
                    err.retry_after(),
                    unit,
                )
            };
            match decision {
                Decision::Retry { after } => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    last = Some(err);
                    self.retrying.fetch_add(1, Ordering::Relaxed);
                    let stopped_early = tokio::select! {
                        biased;
                        _ = stop.cancelled() => true,
                        _ = tokio::time::sleep(after) => false,
                    };
                    self.retrying.fetch_sub(1, Ordering::Relaxed);
                    if stopped_early {
                        return Err(Failure::Stopped { last });
                    }
                }
                Decision::GiveUp(why) => return Err(Failure::GaveUp { error: err, why }),
                Decision::Halt => return Err(Failure::Systemic { error: err }),
            }
        }
    }

    /// A read outside any run (planning, verification): never stopped, the error as it came.
    async fn read<T, F, Fut>(&self, op: Operation, f: F) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let (mut attempts, mut latency) = (0, None);
        let never = CancellationToken::new();
        self.call(op, &never, &mut attempts, &mut latency, f)
            .await
            .map_err(|f| {
                f.into_error().unwrap_or_else(|| ApiError::Transport {
                    kind: TransportKind::Other,
                    message: "the read was cancelled".into(),
                })
            })
    }
}

/// Planning and verification read live state through the engine: paced on the read
/// operations' own quotas, retried by the same rules as the updates.
impl<S: TaskOps> LiveSource for Engine<S> {
    async fn list_page(
        &self,
        region: Region,
        page_number: u32,
        page_size: u32,
    ) -> Result<ListResponse, ApiError> {
        self.read(Operation::DescribeList, || {
            self.ops.list_page(region, page_number, page_size)
        })
        .await
    }

    async fn describe(&self, task_id: &str, region: Region) -> Result<Option<TaskState>, ApiError> {
        self.read(Operation::Describe, || self.ops.describe(task_id, region))
            .await
    }
}

/// What an item task hands back: its outcome (already journaled), and what the run must do.
#[derive(Debug)]
struct Done {
    result: ItemResult,
    /// The run must halt: this item hit a systemic error.
    systemic: bool,
    /// The outcome could not be journaled: the run must halt.
    journal_error: Option<String>,
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
    fn unsent(status: ItemStatus, attempts: u32, latency_ms: Option<f64>, note: String) -> Ended {
        Ended {
            status,
            attempts,
            error: None,
            gave_up: None,
            request_id: None,
            latency_ms,
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
struct Run<S> {
    engine: Arc<Engine<S>>,
    journal: Journal,
    run_id: String,
    /// Stops item tasks: set on halt or cancellation.
    stop: CancellationToken,
}

impl<S: TaskOps> Run<S> {
    /// One call of a step of `update`'s task.
    async fn step(
        &self,
        step: Step,
        update: &Update,
        stop: &CancellationToken,
        attempts: &mut u32,
        latency_ms: &mut Option<f64>,
    ) -> Result<Sent, Failure> {
        let ops = &self.engine.ops;
        let (id, region) = (update.task_id.as_str(), update.region);
        let f = || async move {
            match step {
                Step::Update => ops.update(update).await,
                Step::Stop => ops.stop(id, region).await,
                Step::Restart => ops.restart(id, region).await,
            }
        };
        self.engine
            .call(step_op(step), stop, attempts, latency_ms, f)
            .await
    }

    /// Records one step of a multi-call item, so a crash between a stop and its restart leaves
    /// the journal saying which tasks were left stopped.
    async fn journal_step(
        &self,
        task_id: &str,
        step: &str,
        ok: bool,
        error_code: Option<String>,
        request_id: Option<String>,
    ) {
        let rec = Record::Step(StepRecord {
            run_id: self.run_id.clone(),
            task_id: task_id.to_string(),
            step: step.to_string(),
            ok,
            error_code,
            request_id,
            at: now_rfc3339(),
        });
        // Boxed, as every rarely taken await of an item (see `run_item`).
        let _ = Box::pin(self.journal.record(&rec)).await;
    }

    /// Runs one item and makes its outcome durable.
    ///
    /// Thousands of items wait for their slot at a raised quota (the default concurrency is
    /// 2 × qps + 4), each holding its future the whole time, so the awaits an item rarely or
    /// briefly takes (the journal, a staleness read, a rollback) are boxed: only their pointer
    /// stays in every item's state (measured with a probe future: 2,344 bytes per item before).
    async fn item(&self, item: WorkItem, hash: String) -> Done {
        let ended = self.run_item(&item).await;
        let mut r = ItemResult::pending(item.update.task_id, item.source, hash);
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
        let mut journal_error = None;
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
            if let Err(e) = Box::pin(self.journal.record(&rec)).await {
                journal_error = Some(e.to_string());
            }
            let Record::Item(ItemRecord { item, .. }) = rec else {
                unreachable!("built as an item record just above")
            };
            r = item;
        }
        Done {
            result: r,
            systemic: ended.systemic,
            journal_error,
        }
    }

    /// For a planned item, first check that the task has not moved since planning (or is already
    /// where the plan takes it); then each step in order. If the update fails after the task was
    /// stopped for it, the task is restarted with its old configuration (the update did not take)
    /// and the item is failed.
    async fn run_item(&self, item: &WorkItem) -> Ended {
        let mut attempts = 0u32;
        let mut latency_ms = None;
        let update = &item.update;
        if let Some(expect) = &item.expect {
            let (id, region) = (update.task_id.as_str(), update.region);
            let ops = &self.engine.ops;
            let state = match Box::pin(self.engine.call(
                Operation::Describe,
                &self.stop,
                &mut attempts,
                &mut latency_ms,
                || ops.describe(id, region),
            ))
            .await
            {
                Ok(s) => s,
                Err(f) => return Ended::from_failure(f, attempts, latency_ms),
            };
            let moved = match &state {
                None => Some("the task no longer exists".to_string()),
                Some(now) if fingerprint(now) != expect.fingerprint => {
                    if already_applied(&expect.planned, update, &item.steps, now) {
                        return Ended::unsent(
                            ItemStatus::AlreadyApplied,
                            attempts,
                            latency_ms,
                            "the task is already in the state this plan item leads to; nothing sent"
                                .into(),
                        );
                    }
                    let what: Vec<String> = drift(&expect.planned, now)
                        .into_iter()
                        .map(|d| format!("{}: {:?} → {:?}", d.what, d.then, d.now))
                        .collect();
                    Some(format!(
                        "live state changed since planning ({})",
                        what.join("; ")
                    ))
                }
                Some(_) => None,
            };
            if let Some(why) = moved {
                return Ended::unsent(
                    ItemStatus::Stale,
                    attempts,
                    latency_ms,
                    format!("{why}; re-run `livebatch plan` and review it again"),
                );
            }
        }
        let multi = item.steps.len() > 1;
        let mut stopped_task = false;
        let mut last = Sent::default();
        // A task already stopped for this item is finished even when the run is stopping: leaving
        // a task stopped that was running is worse than a few more calls.
        let never = CancellationToken::new();
        for &step in &item.steps {
            let stop = if stopped_task { &never } else { &self.stop };
            match self
                .step(step, update, stop, &mut attempts, &mut latency_ms)
                .await
            {
                Ok(sent) => {
                    if multi {
                        let rid = Some(sent.request_id.clone()).filter(|r| !r.is_empty());
                        self.journal_step(&update.task_id, step_name(step), true, None, rid)
                            .await;
                    }
                    stopped_task |= step == Step::Stop;
                    last = sent;
                }
                Err(f) => {
                    let mut ended = Ended::from_failure(f, attempts, latency_ms);
                    if multi && ended.status != ItemStatus::NotAttempted {
                        let code = ended.error.as_ref().map(ApiError::code);
                        self.journal_step(
                            &update.task_id,
                            step_name(step),
                            false,
                            code,
                            ended.request_id.clone(),
                        )
                        .await;
                    }
                    if ended.systemic {
                        // Stop the other items now, not when the coordinator gets to this outcome.
                        self.stop.cancel();
                    }
                    if stopped_task && step == Step::Update {
                        ended.note = Some(
                            Box::pin(self.rollback(update, &mut attempts, &mut latency_ms)).await,
                        );
                        ended.attempts = attempts;
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
            attempts,
            error: None,
            gave_up: None,
            request_id: Some(last.request_id).filter(|r| !r.is_empty()),
            latency_ms,
            systemic: false,
            note: None,
        }
    }

    /// Restarts a task whose update failed after it was stopped (retried like any call, and even
    /// when the run is stopping). Returns what the report should add.
    async fn rollback(
        &self,
        update: &Update,
        attempts: &mut u32,
        latency_ms: &mut Option<f64>,
    ) -> String {
        let never = CancellationToken::new();
        match self
            .step(Step::Restart, update, &never, attempts, latency_ms)
            .await
        {
            Ok(_) => {
                self.journal_step(&update.task_id, "rollback-restart", true, None, None)
                    .await;
                "the update failed after the task was stopped; it was restarted with its old configuration".into()
            }
            Err(f) => {
                let error = f.into_error();
                let code = error.as_ref().map(ApiError::code);
                let rid = error
                    .as_ref()
                    .and_then(|e| e.request_id().map(str::to_string));
                self.journal_step(&update.task_id, "rollback-restart", false, code, rid)
                    .await;
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

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Debug, Default)]
struct Counts {
    succeeded: u64,
    failed: u64,
    skipped: u64,
    stale: u64,
    noop: u64,
    blocked: u64,
    missing: u64,
    already_applied: u64,
}

impl Counts {
    fn add(&mut self, s: ItemStatus) {
        match s {
            ItemStatus::Succeeded => self.succeeded += 1,
            ItemStatus::Failed => self.failed += 1,
            ItemStatus::Skipped => self.skipped += 1,
            ItemStatus::Stale => self.stale += 1,
            ItemStatus::NoOp => self.noop += 1,
            ItemStatus::Blocked => self.blocked += 1,
            ItemStatus::Missing => self.missing += 1,
            ItemStatus::AlreadyApplied => self.already_applied += 1,
            ItemStatus::NotAttempted => {}
        }
    }

    fn done(&self) -> u64 {
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

/// Applies `items` through `engine`, all in memory: see [`run_stream`], whose outcomes this
/// collects in input order.
pub async fn run<S: TaskOps>(
    items: Vec<WorkItem>,
    engine: Arc<Engine<S>>,
    journal: &Journal,
    previous: &JournalState,
    config: &ExecConfig,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> RunResult {
    let total = items.len();
    let to_send = items
        .iter()
        .filter(|it| it.is_sent(previous, config.resume))
        .count() as u64;
    let mut results: Vec<Option<ItemResult>> = vec![None; total];
    let mut keep = |at: usize, r: ItemResult| {
        if let Some(slot) = results.get_mut(at) {
            *slot = Some(r);
        }
        Ok(())
    };
    let summary = run_stream(
        items.into_iter().map(Ok),
        Work { total, to_send },
        &mut keep,
        engine,
        journal,
        previous,
        config,
        cancel,
        progress,
    )
    .await;
    RunResult {
        summary,
        items: results.into_iter().flatten().collect(),
    }
}

/// How much work a stream of items holds, known before it is read: every item, and those that
/// will be sent (neither decided unsent before the run nor skipped by the journal). The second is
/// what a `--max-failures` percentage is a percentage of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    pub total: usize,
    pub to_send: u64,
}

/// Where each item's outcome goes, by its position in the input (called once per item, in the
/// order items finish). An error halts the run: the outcome could not be kept for the reports.
pub type Sink<'a> = dyn FnMut(usize, ItemResult) -> std::io::Result<()> + 'a;

/// The items of a stream, read one at a time: those decided before the run (unsent) or skipped
/// by the journal are settled as they are read; the next item to send waits in `next`.
struct Feed<I> {
    items: std::iter::Enumerate<I>,
    ended: bool,
}

impl<I: Iterator<Item = std::io::Result<WorkItem>>> Feed<I> {
    /// The next item to send (position, item, hash), settling the unsent and skipped ones before
    /// it; `not_sent` settles the items to send as `not_attempted` instead (after a halt).
    fn next(
        &mut self,
        previous: &JournalState,
        resume: ResumeMode,
        settle: &mut dyn FnMut(usize, ItemResult, &mut Option<String>),
        not_sent: bool,
        failed: &mut Option<String>,
    ) -> Option<(usize, WorkItem, String)> {
        while !self.ended {
            let Some((at, it)) = self.items.next() else {
                self.ended = true;
                break;
            };
            let it = match it {
                Ok(it) => it,
                Err(e) => {
                    failed.get_or_insert(format!("cannot read the run's items back: {e}"));
                    self.ended = true;
                    break;
                }
            };
            let hash = update_hash(&it.update);
            let mut r = ItemResult::pending(it.update.task_id.clone(), it.source.clone(), hash);
            if let Some(u) = &it.unsent {
                r.status = u.status;
                r.error_code = u.error_code.clone();
                r.error_message = u.message.clone();
            } else if let Some(skip) = previous.skip(resume, &it.update.task_id, &r.hash) {
                r.status = ItemStatus::Skipped;
                r.error_message = Some(skip.message().to_string());
                r.skip_reason = Some(skip);
            } else if !not_sent {
                return Some((at, it, r.hash));
            }
            settle(at, r, failed);
        }
        None
    }
}

/// Applies a stream of items through `engine`, holding only the items in flight.
///
/// - `items` are read one at a time as there is room to send (input order); `work` says how many
///   there are and how many will be sent.
/// - Each outcome goes to `sink` with its position, once, when it is final; nothing per item is
///   kept here (a million-item run is reported from what the sink wrote).
/// - `journal` has already been opened (with its run header); every sent item's outcome is
///   appended to it before being counted, and a run-end record is appended at the end.
/// - `previous` is what the journal said before this run (empty for a fresh run); with
///   `config.resume` it decides which items are skipped.
/// - `cancel` is the caller's stop request (the CLI fires it on the first Ctrl-C).
/// - `progress` receives a snapshot on every outcome and every `config.progress_every`.
///
/// Items decided before the run ([`WorkItem::unsent`]) are settled in place and never sent.
// Each argument is a distinct input of the run; bundling them would only rename the list.
#[allow(clippy::too_many_arguments)]
pub async fn run_stream<S: TaskOps>(
    items: impl Iterator<Item = std::io::Result<WorkItem>>,
    work: Work,
    sink: &mut Sink<'_>,
    engine: Arc<Engine<S>>,
    journal: &Journal,
    previous: &JournalState,
    config: &ExecConfig,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> Summary {
    let start = Instant::now();
    let before = engine.counts();
    let timeline_before = lock(&engine.timeline).len();
    let run_started = engine.now();
    let run_id = journal.run_id();
    let sh = Arc::new(Run {
        engine: engine.clone(),
        journal: journal.clone(),
        run_id: run_id.clone(),
        stop: cancel.child_token(),
    });

    let total = work.total as u64;
    let to_send = work.to_send;
    let mut counts = Counts::default();
    let mut not_attempted = 0u64;
    // An outcome that could not be kept, or an item that could not be read: halts the run.
    let mut failed: Option<String> = None;
    let mut settle =
        |at: usize, r: ItemResult, counts: &mut Counts, failed: &mut Option<String>| {
            counts.add(r.status);
            if r.status == ItemStatus::NotAttempted {
                not_attempted += 1;
            }
            if let Err(e) = sink(at, r) {
                failed.get_or_insert(format!(
                    "cannot keep an item's outcome for the reports: {e}"
                ));
            }
        };
    let snapshot = |counts: &Counts| {
        let c = engine.counts().since(&before);
        Snapshot {
            total,
            done: counts.done(),
            succeeded: counts.succeeded + counts.already_applied,
            failed: counts.failed,
            skipped: counts.skipped + counts.noop + counts.blocked + counts.missing,
            retrying: engine.retrying.load(Ordering::Relaxed),
            rate: engine.pacers.rate(Operation::Update),
            elapsed: start.elapsed(),
            sent_done: counts.succeeded + counts.failed + counts.stale + counts.already_applied,
            calls: c.busiest(),
            retries: c.retries,
            throttled: c.throttled(),
            quota: engine.pacers.rate(Operation::Update) / PACE_HEADROOM,
        }
    };
    progress.start(&snapshot(&counts));

    let mut feed = Feed {
        items: items.enumerate(),
        ended: false,
    };
    let mut next = feed.next(
        previous,
        config.resume,
        &mut |at, r, f| settle(at, r, &mut counts, f),
        false,
        &mut failed,
    );

    let sem = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut set: JoinSet<Done> = JoinSet::new();
    // The items in flight: position, and the outcome to report if its task ends abnormally.
    let mut running: HashMap<tokio::task::Id, (usize, ItemResult)> = HashMap::new();
    let mut outcome: Option<Outcome> = None;
    let mut tick = tokio::time::interval(config.progress_every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let halt = |outcome: &mut Option<Outcome>, reason: HaltReason, sh: &Run<S>| {
        if outcome.is_none() {
            *outcome = Some(Outcome::Halted {
                halt_reason: reason,
            });
            sh.stop.cancel();
        }
    };

    loop {
        if let Some(message) = failed.take() {
            halt(&mut outcome, HaltReason::Journal { message }, &sh);
        }
        let can_dispatch = outcome.is_none() && next.is_some();
        if !can_dispatch && set.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled(), if outcome.is_none() => {
                outcome = Some(Outcome::Interrupted);
                sh.stop.cancel();
            }
            Some(joined) = set.join_next_with_id(), if !set.is_empty() => {
                let (id, done) = match joined {
                    Ok(x) => x,
                    Err(e) => {
                        let Some((idx, mut r)) = running.remove(&e.id()) else { continue };
                        r.status = ItemStatus::Failed;
                        r.error_message = Some(format!("internal error: the item's task ended abnormally ({e})"));
                        settle(idx, r, &mut counts, &mut failed);
                        continue;
                    }
                };
                let Some((idx, _)) = running.remove(&id) else { continue };
                let Done { result, systemic, journal_error } = done;
                let (code, message) = (result.error_code.clone(), result.error_message.clone());
                // The item task made it durable first; counted second.
                settle(idx, result, &mut counts, &mut failed);
                if let Some(message) = journal_error {
                    halt(&mut outcome, HaltReason::Journal { message }, &sh);
                }
                if systemic {
                    let reason = HaltReason::Systemic {
                        code: code.unwrap_or_default(),
                        message: message.unwrap_or_default(),
                    };
                    halt(&mut outcome, reason, &sh);
                } else if config.halt.exceeded(counts.failed, to_send) {
                    let reason = HaltReason::MaxFailures {
                        failed: counts.failed,
                        policy: config.halt.to_string(),
                    };
                    halt(&mut outcome, reason, &sh);
                }
                progress.update(&snapshot(&counts));
            }
            permit = sem.clone().acquire_owned(), if can_dispatch => {
                let Ok(permit) = permit else { break };
                let Some((idx, item, hash)) = next.take() else { continue };
                let pending = ItemResult::pending(item.update.task_id.clone(), item.source.clone(), hash.clone());
                let shc = sh.clone();
                let handle = set.spawn(async move {
                    let done = shc.item(item, hash).await;
                    drop(permit);
                    done
                });
                running.insert(handle.id(), (idx, pending));
                next = feed.next(
                    previous,
                    config.resume,
                    &mut |at, r, f| settle(at, r, &mut counts, f),
                    false,
                    &mut failed,
                );
            }
            _ = tick.tick() => {
                engine.refresh_rate(Operation::Update);
                progress.update(&snapshot(&counts));
            }
        }
    }

    // Halted or interrupted with items left: the rest are settled as they are, those to send as
    // not attempted.
    if let Some((idx, item, hash)) = next.take() {
        let r = ItemResult::pending(item.update.task_id, item.source, hash);
        settle(idx, r, &mut counts, &mut failed);
    }
    feed.next(
        previous,
        config.resume,
        &mut |at, r, f| settle(at, r, &mut counts, f),
        true,
        &mut failed,
    );
    if let Some(message) = failed {
        halt(&mut outcome, HaltReason::Journal { message }, &sh);
    }
    let outcome = outcome.unwrap_or(Outcome::Completed);
    let elapsed = start.elapsed();
    let _ = journal.append(&Record::End(RunEnd {
        run_id,
        outcome: outcome.name().to_string(),
        finished_at: now_rfc3339(),
    }));
    let c = engine.counts().since(&before);
    let calls = c.calls();
    let secs = elapsed.as_secs_f64();
    let (lat, rate_secs, per_second) = {
        let timeline = lock(&engine.timeline);
        let points = timeline.get(timeline_before..).unwrap_or_default();
        let mut lat: Vec<f64> = points.iter().map(Point::latency_ms).collect();
        lat.sort_by(f64::total_cmp);
        // Over the gaps the calls took (see `rate_seconds`), at least the one second the quota
        // counts in: 7 calls in 0.6 s are 7 calls in that second, not 11.7 calls/s.
        let rate_secs = rate_seconds(points.iter().map(Point::call_point), elapsed);
        let per_second = per_second(points.iter().map(Point::call_point), run_started);
        (lat, rate_secs, per_second)
    };
    let per_sec = |n: u64| n as f64 / rate_secs;
    let final_rate = lock(&engine.adaptive[Operation::Update.index()]).rate_at(engine.now());
    let samples = lock(&engine.recorder)
        .clone()
        .finish(engine.now(), final_rate);
    let by_operation: BTreeMap<String, OperationCalls> = Operation::ALL
        .into_iter()
        .filter(|op| c.by_op[op.index()].calls > 0)
        .map(|op| (op.action().to_string(), c.by_op[op.index()].clone()))
        .collect();
    let summary = Summary {
        outcome,
        total,
        succeeded: counts.succeeded,
        failed: counts.failed,
        skipped: counts.skipped,
        stale: counts.stale,
        not_attempted,
        noop: counts.noop,
        blocked: counts.blocked,
        missing: counts.missing,
        already_applied: counts.already_applied,
        calls,
        retries: c.retries,
        throttled: c.throttled(),
        calls_per_second: round3(per_sec(calls)),
        updates_per_second: round3(per_sec(counts.succeeded)),
        elapsed_seconds: round3(secs),
        latency_ms: Latency {
            p50: percentile(&lat, 50.0),
            p95: percentile(&lat, 95.0),
            p99: percentile(&lat, 99.0),
        },
        rate_samples: samples,
        by_operation,
        per_second,
    };
    progress.finish(&snapshot(&counts));
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Task operations that always succeed at once.
    struct Ok200;

    impl TaskOps for Ok200 {
        async fn update(&self, _u: &Update) -> Result<Sent, ApiError> {
            Ok(Sent::default())
        }
        async fn stop(&self, _t: &str, _r: Region) -> Result<Sent, ApiError> {
            Ok(Sent::default())
        }
        async fn restart(&self, _t: &str, _r: Region) -> Result<Sent, ApiError> {
            Ok(Sent::default())
        }
        async fn describe(&self, _t: &str, _r: Region) -> Result<Option<TaskState>, ApiError> {
            Ok(None)
        }
        async fn list_page(&self, _r: Region, _p: u32, _s: u32) -> Result<ListResponse, ApiError> {
            Ok(ListResponse::default())
        }
    }

    /// Items are read as they are sent; one that cannot be read back halts the run (the
    /// outcomes of those read before it kept), and nothing after it is read.
    #[tokio::test(start_paused = true)]
    async fn an_item_that_cannot_be_read_back_halts_the_run() {
        use super::super::journal::{JournalWriter, RunHeader};
        use super::super::progress::Silent;
        let dir = tempfile::tempdir().unwrap();
        let w = JournalWriter::open(&dir.path().join("j.jsonl"), &RunHeader::now(&[])).unwrap();
        let journal = Journal::new(w);
        let config = ExecConfig::new(100.0);
        let engine = Arc::new(Engine::new(Arc::new(Ok200), Pacers::clock(100.0), &config));
        let read = std::sync::atomic::AtomicUsize::new(0);
        let items = (0..6).map(|i| {
            read.fetch_add(1, Ordering::SeqCst);
            if i == 3 {
                Err(std::io::Error::other("disk gone"))
            } else {
                Ok(WorkItem::new(
                    Update::new(format!("t{i}"), Region::CnShanghai),
                    "m.csv:2",
                ))
            }
        });
        let mut kept: Vec<(usize, ItemStatus)> = Vec::new();
        let mut sink = |at: usize, r: ItemResult| {
            kept.push((at, r.status));
            Ok(())
        };
        let summary = run_stream(
            items,
            Work {
                total: 6,
                to_send: 6,
            },
            &mut sink,
            engine,
            &journal,
            &JournalState::default(),
            &config,
            CancellationToken::new(),
            &Silent,
        )
        .await;
        let Some(HaltReason::Journal { message }) = summary.outcome.halt_reason() else {
            panic!("{:?}", summary.outcome)
        };
        assert!(
            message.contains("cannot read the run's items back: disk gone"),
            "{message}"
        );
        kept.sort_unstable_by_key(|(at, _)| *at);
        // The three read before it had been dispatched; the halt stopped them before their first
        // call (they were waiting for their slot): each has exactly one outcome, none failed.
        assert_eq!(
            kept,
            [0, 1, 2].map(|i| (i, ItemStatus::NotAttempted)).to_vec()
        );
        assert_eq!((summary.not_attempted, summary.failed), (3, 0));
        assert_eq!(
            read.load(Ordering::SeqCst),
            4,
            "nothing read after the failure"
        );
    }

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

    #[test]
    fn default_concurrency_covers_one_second_of_latency() {
        assert!(default_concurrency(10.0) >= 20);
        assert!(default_concurrency(0.5) >= 2);
        assert_eq!(ExecConfig::new(10.0).scaled_for(3).concurrency, 72);
    }

    #[test]
    fn call_counts_subtract_per_operation() {
        let mut a = CallCounts::default();
        a.by_op[1].calls = 5;
        a.by_op[1].throttled = 1;
        a.retries = 2;
        let mut b = a.clone();
        b.by_op[1].calls = 9;
        b.by_op[3].calls = 4;
        b.retries = 3;
        let d = b.since(&a);
        assert_eq!((d.calls(), d.throttled(), d.retries), (8, 0, 1));
    }
}
