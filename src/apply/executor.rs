//! The apply engine: dispatch every update through the pacer, retry, adapt, journal, count.
//!
//! One coordinator loop owns the counts and the journal; each item runs as its own tokio task
//! (pace → send → decide → maybe back off and go again). The coordinator writes an item's outcome
//! to the journal before counting it, so what the report and the progress bar say has always been
//! made durable first.
//!
//! Stopping: a halt (systemic error, `--max-failures` exceeded, journal write failure) or the
//! caller's cancellation token (first Ctrl-C) stops dispatching; calls already on the wire finish
//! and are recorded; items still waiting for their turn are `not_attempted`; an item waiting to
//! retry is recorded `failed` with its last error (it was sent, and may be resumed).
//!
//! The executor is generic over [`UpdateSender`] (one call) and [`Pacer`] (the clock), so the whole
//! run is tested with in-test fakes under tokio's paused time and wired to the real client as is.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::adaptive::{AdaptiveConfig, AdaptiveRate, RateEvent, RateRecorder, RateSample};
use super::journal::{
    ItemRecord, ItemStatus, Journal, JournalState, Record, ResumeMode, RunEnd, SkipReason,
    StepRecord, update_hash,
};
use super::limiter::Pacer;
use super::progress::{Progress, Snapshot};
use super::retry::{Decision, GiveUp, RetryBudget, RetryPolicy, decide};
use crate::api::error::{ApiError, ErrorClass, TransportKind};
use crate::api::models::TaskState;
use crate::exit;
use crate::model::{Region, Update};
use crate::plan::diff::{Step, drift, fingerprint};

/// What a successful call returned that the report keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sent {
    pub request_id: String,
}

/// Sends one update. Implemented by the real API client and by the sandbox; tests use fakes.
/// Each call must be signed afresh (new date and nonce): the executor calls it again to retry.
///
/// Items from a saved plan also stop and restart tasks and re-read them before acting; senders
/// that only ever apply manifests need not implement those calls.
pub trait UpdateSender: Send + Sync + 'static {
    fn send(&self, update: &Update) -> impl Future<Output = Result<Sent, ApiError>> + Send;

    fn stop(
        &self,
        task_id: &str,
        region: Region,
    ) -> impl Future<Output = Result<Sent, ApiError>> + Send {
        let _ = (task_id, region);
        async { Err(unsupported("StopLivePullToPush")) }
    }

    fn restart(
        &self,
        task_id: &str,
        region: Region,
    ) -> impl Future<Output = Result<Sent, ApiError>> + Send {
        let _ = (task_id, region);
        async { Err(unsupported("RestartLivePullToPush")) }
    }

    /// The task's live state, `None` when it does not exist.
    fn describe(
        &self,
        task_id: &str,
        region: Region,
    ) -> impl Future<Output = Result<Option<TaskState>, ApiError>> + Send {
        let _ = (task_id, region);
        async { Err(unsupported("DescribeLivePullToPush")) }
    }
}

fn unsupported(action: &str) -> ApiError {
    ApiError::Transport {
        kind: TransportKind::Other,
        message: format!("this sender cannot call {action}"),
    }
}

/// What a saved plan expects of a task before touching it: the fingerprint of the live state it
/// was planned against, and that state, to say what moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub fingerprint: String,
    pub planned: TaskState,
}

/// One update to apply, with where it came from (for reports and journal).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    pub update: Update,
    /// `file:line` of the update in its manifest.
    pub source: String,
    /// The calls, in order: `[Update]` for a manifest; `[Stop, Update, Restart]` for a running
    /// task planned with `--restart-running`.
    pub steps: Vec<Step>,
    /// From a saved plan: refuse the item (status `stale`) when the task moved since planning.
    pub expect: Option<Box<Expect>>,
}

impl WorkItem {
    /// A plain update from a manifest: one call, no expectation about live state.
    pub fn new(update: Update, source: impl Into<String>) -> WorkItem {
        WorkItem {
            update,
            source: source.into(),
            steps: vec![Step::Update],
            expect: None,
        }
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

/// How one run behaves.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// The account's quota (calls/s): the hard ceiling. The pace is `adaptive.cap`, at or below it.
    pub quota: f64,
    /// Calls in flight at most (including those waiting for a slot or a retry).
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub budget: RetryBudget,
    /// Cap, floor and recovery of the send rate; the pacer is kept at its current rate.
    pub adaptive: AdaptiveConfig,
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
    /// Defaults for a quota of `qps` calls/s, paced at [`PACE_HEADROOM`] of it.
    pub fn new(qps: f64) -> ExecConfig {
        ExecConfig {
            quota: qps,
            ..ExecConfig::with_cap(qps * PACE_HEADROOM)
        }
    }

    /// Defaults for pacing at exactly `cap` calls/s (no headroom).
    pub fn with_cap(qps: f64) -> ExecConfig {
        ExecConfig {
            quota: qps,
            concurrency: default_concurrency(qps),
            retry: RetryPolicy::default(),
            budget: RetryBudget::default(),
            adaptive: AdaptiveConfig::for_cap(qps),
            halt: HaltPolicy::Never,
            resume: ResumeMode::Fresh,
            seed: None,
            sample_every: Duration::from_secs(1),
            progress_every: Duration::from_millis(250),
        }
    }
}

/// One item's outcome, for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    pub task_id: String,
    pub source: String,
    pub hash: String,
    pub status: ItemStatus,
    /// Calls made for this item (0 when skipped or not attempted).
    pub attempts: u32,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub error_class: Option<ErrorClass>,
    /// Why retrying stopped, for failed items.
    pub gave_up: Option<GiveUp>,
    pub skip_reason: Option<SkipReason>,
    pub request_id: Option<String>,
    /// Latency of the item's last call, in milliseconds.
    pub latency_ms: Option<f64>,
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

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    Halted {
        reason: HaltReason,
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
}

/// Run totals, for the summary of every report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Refused: a saved plan's task moved since planning (`apply --plan`).
    #[serde(default)]
    pub stale: u64,
    pub not_attempted: u64,
    /// Calls sent, retries included.
    pub calls: u64,
    pub retries: u64,
    /// Responses classified as throttled.
    pub throttled: u64,
    pub elapsed_seconds: f64,
    pub calls_per_second: f64,
    /// Successful updates per second of the run.
    pub updates_per_second: f64,
    /// Percentiles over every call's latency, in milliseconds (`None` when no call was made).
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    pub rate_samples: Vec<RateSample>,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub outcome: Outcome,
    pub items: Vec<ItemResult>,
    pub totals: Totals,
}

impl RunResult {
    /// The process exit code: 0 all done, 1 some failed (or the journal failed), 3 halted or
    /// interrupted with work left, 77 the service refused the credentials.
    pub fn exit_code(&self) -> u8 {
        match &self.outcome {
            Outcome::Completed if self.totals.stale > 0 => exit::STALE_PLAN,
            Outcome::Completed if self.totals.failed == 0 => exit::SUCCESS,
            Outcome::Completed => exit::FAILURE,
            Outcome::Interrupted => exit::INTERRUPTED,
            // An expired STS token that could not be refreshed: the work left is fine; renew
            // the token and --resume (the hook of issue 14, see api::error::is_credential_expiry).
            Outcome::Halted {
                reason: HaltReason::Systemic { code, .. },
            } if crate::api::error::is_credential_expiry(code) => exit::INTERRUPTED,
            Outcome::Halted {
                reason: HaltReason::Systemic { .. },
            } => exit::CREDENTIALS,
            Outcome::Halted {
                reason: HaltReason::Journal { .. },
            } => exit::FAILURE,
            Outcome::Halted { .. } => exit::INTERRUPTED,
        }
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

/// State shared by the coordinator and the item tasks.
struct Shared<S, P> {
    sender: Arc<S>,
    /// Step records of multi-call items are written by the item tasks themselves, as they happen.
    journal: Journal,
    run_id: String,
    pacer: Arc<P>,
    config: ExecConfig,
    start: Instant,
    /// Stops item tasks: set on halt or cancellation.
    stop: CancellationToken,
    adaptive: Mutex<AdaptiveRate>,
    recorder: Mutex<RateRecorder>,
    budget: Mutex<RetryBudget>,
    rng: Mutex<StdRng>,
    latencies: Mutex<Vec<f64>>,
    calls: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    retrying: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<S: UpdateSender, P: Pacer> Shared<S, P> {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Brings the pacer to the adaptive rate in force now, and samples it.
    fn refresh_rate(&self) -> f64 {
        let now = self.now();
        let rate = lock(&self.adaptive).rate_at(now);
        self.pacer.set_rate(rate);
        lock(&self.recorder).observe(now, rate);
        rate
    }

    fn on_throttled(&self) {
        let now = self.now();
        let mut a = lock(&self.adaptive);
        *a = a.on_event(RateEvent::Throttled, now);
        let rate = a.rate_at(now);
        drop(a);
        self.pacer.set_rate(rate);
        lock(&self.recorder).observe(now, rate);
    }
}

/// What an item task hands back.
#[derive(Debug)]
struct Done {
    status: ItemStatus,
    attempts: u32,
    error: Option<ApiError>,
    gave_up: Option<GiveUp>,
    request_id: Option<String>,
    latency_ms: Option<f64>,
    /// The run must halt: this item hit a systemic error.
    systemic: bool,
    /// What else the report should say (what moved for a stale item; a rollback).
    note: Option<String>,
}

/// One call of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Describe,
    Step(Step),
}

/// What a successful call brought back.
enum Got {
    Sent(Sent),
    State(Option<Box<TaskState>>),
}

/// Makes one call of an item: pace, send, and on failure decide (retry after a backoff, give up,
/// or halt the run). `attempts` counts every call the item makes, across its steps.
async fn call<S: UpdateSender, P: Pacer>(
    sh: &Shared<S, P>,
    update: &Update,
    op: Op,
    attempts: &mut u32,
    latency_ms: &mut Option<f64>,
    must_finish: bool,
) -> Result<Got, Done> {
    let mut last_err: Option<ApiError> = None;
    let mut tries = 0u32;
    // A task already stopped for this item is finished even when the run is stopping: leaving a
    // task stopped that was running is worse than a few more calls.
    let stop = if must_finish {
        CancellationToken::new()
    } else {
        sh.stop.clone()
    };
    loop {
        sh.refresh_rate();
        tokio::select! {
            biased;
            _ = stop.cancelled() => {
                return Err(stopped(*attempts, last_err, *latency_ms));
            }
            _ = sh.pacer.acquire() => {}
        }
        if stop.is_cancelled() {
            return Err(stopped(*attempts, last_err, *latency_ms));
        }
        *attempts += 1;
        tries += 1;
        sh.calls.fetch_add(1, Ordering::Relaxed);
        let t0 = Instant::now();
        let (id, region) = (update.task_id.as_str(), update.region);
        let result = match op {
            Op::Step(Step::Update) => sh.sender.send(update).await.map(Got::Sent),
            Op::Step(Step::Stop) => sh.sender.stop(id, region).await.map(Got::Sent),
            Op::Step(Step::Restart) => sh.sender.restart(id, region).await.map(Got::Sent),
            Op::Describe => sh
                .sender
                .describe(id, region)
                .await
                .map(|s| Got::State(s.map(Box::new))),
        };
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        *latency_ms = Some(ms);
        lock(&sh.latencies).push(ms);
        let err = match result {
            Ok(got) => {
                lock(&sh.budget).on_success(tries - 1);
                return Ok(got);
            }
            Err(e) => e,
        };
        let class = err.class();
        if class == ErrorClass::Throttled {
            sh.throttled.fetch_add(1, Ordering::Relaxed);
            sh.on_throttled();
        }
        let unit: f64 = lock(&sh.rng).random();
        let decision = {
            let mut budget = lock(&sh.budget);
            decide(
                &sh.config.retry,
                &mut budget,
                class,
                tries,
                err.retry_after(),
                unit,
            )
        };
        match decision {
            Decision::Retry { after } => {
                sh.retries.fetch_add(1, Ordering::Relaxed);
                last_err = Some(err);
                sh.retrying.fetch_add(1, Ordering::Relaxed);
                let stopped_early = tokio::select! {
                    biased;
                    _ = stop.cancelled() => true,
                    _ = tokio::time::sleep(after) => false,
                };
                sh.retrying.fetch_sub(1, Ordering::Relaxed);
                if stopped_early {
                    return Err(stopped(*attempts, last_err, *latency_ms));
                }
            }
            Decision::GiveUp(why) => {
                return Err(Done {
                    status: ItemStatus::Failed,
                    attempts: *attempts,
                    request_id: err.request_id().map(str::to_string),
                    error: Some(err),
                    gave_up: Some(why),
                    latency_ms: *latency_ms,
                    systemic: false,
                    note: None,
                });
            }
            Decision::Halt => {
                // Stop the other items now, not when the coordinator gets to this outcome.
                sh.stop.cancel();
                return Err(Done {
                    status: ItemStatus::Failed,
                    attempts: *attempts,
                    request_id: err.request_id().map(str::to_string),
                    error: Some(err),
                    gave_up: None,
                    latency_ms: *latency_ms,
                    systemic: true,
                    note: None,
                });
            }
        }
    }
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Stop => "stop",
        Step::Update => "update",
        Step::Restart => "restart",
    }
}

impl<S: UpdateSender, P: Pacer> Shared<S, P> {
    /// Records one step of a multi-call item, so a crash between a stop and its restart leaves
    /// the journal saying which tasks were left stopped.
    fn journal_step(
        &self,
        task_id: &str,
        step: &str,
        ok: bool,
        error_code: Option<String>,
        request_id: Option<String>,
    ) {
        let _ = self.journal.append(&Record::Step(StepRecord {
            run_id: self.run_id.clone(),
            task_id: task_id.to_string(),
            step: step.to_string(),
            ok,
            error_code,
            request_id,
            at: now_rfc3339(),
        }));
    }
}

/// Runs one item: for a planned item, first check that the task has not moved since planning;
/// then each step in order. If the update fails after the task was stopped for it, the task is
/// restarted with its old configuration (the update did not take) and the item is failed.
async fn run_item<S: UpdateSender, P: Pacer>(sh: Arc<Shared<S, P>>, item: WorkItem) -> Done {
    let mut attempts = 0u32;
    let mut latency_ms = None;
    let update = &item.update;
    if let Some(expect) = &item.expect {
        let state = match call(
            &sh,
            update,
            Op::Describe,
            &mut attempts,
            &mut latency_ms,
            false,
        )
        .await
        {
            Ok(Got::State(s)) => s,
            Ok(Got::Sent(_)) => None,
            Err(done) => return done,
        };
        let moved = match &state {
            None => Some("the task no longer exists".to_string()),
            Some(now) if fingerprint(now.as_ref()) != expect.fingerprint => {
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
            return Done {
                status: ItemStatus::Stale,
                attempts,
                error: None,
                gave_up: None,
                request_id: None,
                latency_ms,
                systemic: false,
                note: Some(format!(
                    "{why}; re-run `livebatch plan` and review it again"
                )),
            };
        }
    }
    let multi = item.steps.len() > 1;
    let mut stopped_task = false;
    let mut last = Sent::default();
    for &step in &item.steps {
        match call(
            &sh,
            update,
            Op::Step(step),
            &mut attempts,
            &mut latency_ms,
            stopped_task,
        )
        .await
        {
            Ok(got) => {
                let sent = match got {
                    Got::Sent(s) => s,
                    Got::State(_) => Sent::default(),
                };
                if multi {
                    let rid = Some(sent.request_id.clone()).filter(|r| !r.is_empty());
                    sh.journal_step(&update.task_id, step_name(step), true, None, rid);
                }
                stopped_task |= step == Step::Stop;
                last = sent;
            }
            Err(mut done) => {
                if multi {
                    let code = done.error.as_ref().map(ApiError::code);
                    sh.journal_step(
                        &update.task_id,
                        step_name(step),
                        false,
                        code,
                        done.request_id.clone(),
                    );
                }
                if stopped_task && step == Step::Update {
                    done.note = Some(rollback(&sh, update, &mut attempts, &mut latency_ms).await);
                    done.attempts = attempts;
                } else if stopped_task && step == Step::Restart {
                    done.note = Some(
                        "the update was applied, but restarting the task failed: it is left STOPPED; \
                         restart it once the cause is fixed"
                            .into(),
                    );
                }
                return done;
            }
        }
    }
    Done {
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

/// Restarts a task whose update failed after it was stopped (retried like any call, and even when
/// the run is stopping: leaving a task stopped that was running is worse than one more call).
/// Returns what the report should add.
async fn rollback<S: UpdateSender, P: Pacer>(
    sh: &Shared<S, P>,
    update: &Update,
    attempts: &mut u32,
    latency_ms: &mut Option<f64>,
) -> String {
    let restart = Op::Step(Step::Restart);
    match call(sh, update, restart, attempts, latency_ms, true).await {
        Ok(_) => {
            sh.journal_step(&update.task_id, "rollback-restart", true, None, None);
            "the update failed after the task was stopped; it was restarted with its old configuration".into()
        }
        Err(done) => {
            let code = done.error.as_ref().map(ApiError::code);
            sh.journal_step(
                &update.task_id,
                "rollback-restart",
                false,
                code,
                done.request_id.clone(),
            );
            let why = done
                .error
                .map(|e| format!("{}: {}", e.code(), e.message()))
                .unwrap_or_default();
            format!(
                "the update failed after the task was stopped, and restarting it failed too ({why}): the task is left STOPPED"
            )
        }
    }
}

/// The outcome of an item whose run was stopped before its next call.
fn stopped(attempts: u32, last_err: Option<ApiError>, latency_ms: Option<f64>) -> Done {
    if attempts == 0 {
        return Done {
            status: ItemStatus::NotAttempted,
            attempts,
            error: None,
            gave_up: None,
            request_id: None,
            latency_ms: None,
            systemic: false,
            note: None,
        };
    }
    Done {
        status: ItemStatus::Failed,
        attempts,
        request_id: last_err
            .as_ref()
            .and_then(|e| e.request_id().map(str::to_string)),
        error: last_err,
        gave_up: None,
        latency_ms,
        systemic: false,
        note: None,
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Applies `items`.
///
/// - `journal` has already been opened (with its run header); every sent item's outcome is
///   appended to it before being counted, and a run-end record is appended at the end.
/// - `previous` is what the journal said before this run (empty for a fresh run); with
///   `config.resume` it decides which items are skipped.
/// - `cancel` is the caller's stop request (the CLI fires it on the first Ctrl-C).
/// - `progress` receives a snapshot on every outcome and every `config.progress_every`.
///
/// Items come back in input order, whatever order they completed in.
#[allow(clippy::too_many_arguments)]
pub async fn run<S: UpdateSender, P: Pacer>(
    items: Vec<WorkItem>,
    sender: Arc<S>,
    pacer: Arc<P>,
    journal: &Journal,
    previous: &JournalState,
    config: &ExecConfig,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> RunResult {
    let start = Instant::now();
    let rng = match config.seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_rng(&mut rand::rng()),
    };
    let sh = Arc::new(Shared {
        sender,
        journal: journal.clone(),
        run_id: journal.run_id(),
        pacer,
        config: config.clone(),
        start,
        stop: cancel.child_token(),
        adaptive: Mutex::new(AdaptiveRate::new(config.adaptive)),
        recorder: Mutex::new(RateRecorder::new(config.sample_every)),
        budget: Mutex::new(config.budget),
        rng: Mutex::new(rng),
        latencies: Mutex::new(Vec::new()),
        calls: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
        retrying: AtomicU64::new(0),
    });
    let run_id = journal.run_id();

    // Decide what to send.
    let mut results: Vec<ItemResult> = Vec::with_capacity(items.len());
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut counts = Counts::default();
    for (i, it) in items.iter().enumerate() {
        let hash = update_hash(&it.update);
        let skip = previous.skip(config.resume, &it.update.task_id, &hash);
        if skip.is_some() {
            counts.skipped += 1;
        } else {
            queue.push_back(i);
        }
        results.push(ItemResult {
            task_id: it.update.task_id.clone(),
            source: it.source.clone(),
            hash,
            status: if skip.is_some() {
                ItemStatus::Skipped
            } else {
                ItemStatus::NotAttempted
            },
            attempts: 0,
            error_code: None,
            error_message: skip.map(|s| s.message().to_string()),
            error_class: None,
            gave_up: None,
            skip_reason: skip,
            request_id: None,
            latency_ms: None,
        });
    }
    let total = items.len() as u64;
    let to_send = queue.len() as u64;
    let snapshot = |counts: &Counts, sh: &Shared<S, P>| Snapshot {
        total,
        done: counts.succeeded + counts.failed + counts.skipped + counts.stale,
        succeeded: counts.succeeded,
        failed: counts.failed,
        skipped: counts.skipped,
        retrying: sh.retrying.load(Ordering::Relaxed),
        rate: sh.pacer.rate(),
        elapsed: sh.start.elapsed(),
    };
    progress.start(&snapshot(&counts, &sh));

    let sem = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut set: JoinSet<Done> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut outcome: Option<Outcome> = None;
    let mut tick = tokio::time::interval(config.progress_every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        let can_dispatch = outcome.is_none() && !queue.is_empty();
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
                    Ok((id, done)) => (id, done),
                    Err(e) => (e.id(), Done {
                        status: ItemStatus::Failed,
                        attempts: 0,
                        error: Some(ApiError::Transport {
                            kind: crate::api::error::TransportKind::Other,
                            message: format!("internal error: the item's task ended abnormally ({e})"),
                        }),
                        gave_up: None,
                        request_id: None,
                        latency_ms: None,
                        systemic: false,
                        note: None,
                    }),
                };
                let Some(idx) = running.remove(&id) else { continue };
                let systemic = done.systemic;
                let r = &mut results[idx];
                r.status = done.status;
                r.attempts = done.attempts;
                r.error_class = done.error.as_ref().map(ApiError::class);
                r.error_code = done.error.as_ref().map(ApiError::code);
                r.error_message = match (done.error.as_ref().map(ApiError::message), done.note) {
                    (Some(m), Some(n)) => Some(format!("{m}; {n}")),
                    (m, n) => m.or(n),
                };
                if done.status == ItemStatus::Stale {
                    r.error_code = Some(STALE_CODE.to_string());
                }
                r.gave_up = done.gave_up;
                r.request_id = done.request_id;
                r.latency_ms = done.latency_ms;
                // Durable first, counted second.
                if matches!(r.status, ItemStatus::Succeeded | ItemStatus::Failed | ItemStatus::Stale) {
                    let rec = Record::Item(ItemRecord {
                        run_id: run_id.clone(),
                        task_id: r.task_id.clone(),
                        hash: r.hash.clone(),
                        status: r.status,
                        attempts: r.attempts,
                        error_code: r.error_code.clone(),
                        error_message: r.error_message.clone(),
                        request_id: r.request_id.clone(),
                        source: r.source.clone(),
                        latency_ms: r.latency_ms.map(|v| v.round() as u64),
                        at: now_rfc3339(),
                    });
                    if let Err(e) = journal.append(&rec)
                        && outcome.is_none()
                    {
                        outcome = Some(Outcome::Halted {
                            reason: HaltReason::Journal { message: e.to_string() },
                        });
                        sh.stop.cancel();
                    }
                }
                match r.status {
                    ItemStatus::Succeeded => counts.succeeded += 1,
                    ItemStatus::Failed => counts.failed += 1,
                    ItemStatus::Skipped => counts.skipped += 1,
                    ItemStatus::Stale => counts.stale += 1,
                    ItemStatus::NotAttempted => {}
                }
                if outcome.is_none() {
                    if systemic {
                        outcome = Some(Outcome::Halted {
                            reason: HaltReason::Systemic {
                                code: r.error_code.clone().unwrap_or_default(),
                                message: r.error_message.clone().unwrap_or_default(),
                            },
                        });
                        sh.stop.cancel();
                    } else if config.halt.exceeded(counts.failed, to_send) {
                        outcome = Some(Outcome::Halted {
                            reason: HaltReason::MaxFailures {
                                failed: counts.failed,
                                policy: config.halt.to_string(),
                            },
                        });
                        sh.stop.cancel();
                    }
                }
                progress.update(&snapshot(&counts, &sh));
            }
            permit = sem.clone().acquire_owned(), if can_dispatch => {
                let Ok(permit) = permit else { break };
                let Some(idx) = queue.pop_front() else { continue };
                let item = items[idx].clone();
                let shc = sh.clone();
                let handle = set.spawn(async move {
                    let done = run_item(shc, item).await;
                    drop(permit);
                    done
                });
                running.insert(handle.id(), idx);
            }
            _ = tick.tick() => {
                sh.refresh_rate();
                progress.update(&snapshot(&counts, &sh));
            }
        }
    }

    let outcome = outcome.unwrap_or(Outcome::Completed);
    let elapsed = start.elapsed();
    let _ = journal.append(&Record::End(RunEnd {
        run_id,
        outcome: outcome.name().to_string(),
        finished_at: now_rfc3339(),
    }));
    let not_attempted = results
        .iter()
        .filter(|r| r.status == ItemStatus::NotAttempted)
        .count() as u64;
    let mut lat = std::mem::take(&mut *lock(&sh.latencies));
    lat.sort_by(f64::total_cmp);
    let calls = sh.calls.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64();
    let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let final_rate = lock(&sh.adaptive).rate_at(elapsed);
    let samples = lock(&sh.recorder).clone().finish(elapsed, final_rate);
    let totals = Totals {
        total,
        succeeded: counts.succeeded,
        failed: counts.failed,
        skipped: counts.skipped,
        stale: counts.stale,
        not_attempted,
        calls,
        retries: sh.retries.load(Ordering::Relaxed),
        throttled: sh.throttled.load(Ordering::Relaxed),
        elapsed_seconds: secs,
        calls_per_second: per_sec(calls),
        updates_per_second: per_sec(counts.succeeded),
        latency_ms_p50: percentile(&lat, 50.0),
        latency_ms_p95: percentile(&lat, 95.0),
        latency_ms_p99: percentile(&lat, 99.0),
        rate_samples: samples,
    };
    progress.finish(&snapshot(&counts, &sh));
    RunResult {
        outcome,
        items: results,
        totals,
    }
}

#[derive(Debug, Default)]
struct Counts {
    succeeded: u64,
    failed: u64,
    skipped: u64,
    stale: u64,
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

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn default_concurrency_covers_one_second_of_latency() {
        assert!(default_concurrency(10.0) >= 20);
        assert!(default_concurrency(0.5) >= 2);
    }
}
