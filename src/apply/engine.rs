//! The engine: the one retrying call path. Every call of a run — planning reads, staleness
//! checks, stops, updates, restarts, `--verify` read-backs — goes through [`Engine::call`], paced
//! by the pacer of its own operation.
//!
//! - **One call path.** [`Engine::call`] takes the operation's slot from its pacer, makes the
//!   call, classifies a failure, and retries throttled and transient ones with full-jitter backoff
//!   within a run-wide budget. A throttled answer slows only its own operation's adaptive rate.
//!   The engine is also the [`LiveSource`] planning and verification read through, so reads and
//!   writes share one set of rules.
//! - **One pacer per operation.** The service's quota is per operation, so a Describe never
//!   waits for an Update's slot: the staleness check of one item runs on the Describe quota while
//!   another item's update runs on the Update quota.
//! - **Every call recorded**, packed ([`RecordedCall`]), for the reports' figures.
//!
//! The engine is generic over [`TaskOps`] (the calls) and takes its pacers as [`Pacers`] (any
//! [`crate::pace::Pacer`] per operation), so whole runs are tested with in-test fakes under
//! tokio's paused time and wired to the real client as is.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::ExecConfig;
use super::ops::TaskOps;
use super::retry::{Decision, GiveUp, RetryBudget, RetryPolicy, decide};
use crate::api::error::{ApiError, ErrorClass, TransportKind};
use crate::api::models::{ListResponse, TaskState};
use crate::api::operation::Operation;
use crate::model::Region;
use crate::outcome::{CallCounts, OperationCalls, RecordedCall};
use crate::pace::Pacers;
use crate::pace::adaptive::{AdaptiveConfig, AdaptiveRate, RateEvent, RateRecorder, RateSample};
use crate::plan::fetch::LiveSource;

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
    timeline: Mutex<Vec<RecordedCall>>,
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

    /// Time since the engine started: the clock of [`RecordedCall::at`].
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Items waiting out a retry's backoff now.
    pub fn retrying(&self) -> u64 {
        self.retrying.load(Ordering::Relaxed)
    }

    /// How many calls the engine has recorded so far.
    pub fn calls_recorded(&self) -> usize {
        lock(&self.timeline).len()
    }

    /// The calls recorded from position `from` on, taken out of the engine (a run takes its own
    /// once it ends: planning's reads before it are not its calls).
    pub fn take_calls_from(&self, from: usize) -> Vec<RecordedCall> {
        let mut t = lock(&self.timeline);
        let from = from.min(t.len());
        t.split_off(from)
    }

    /// The Update pace over time, up to now.
    pub fn rate_samples(&self) -> Vec<RateSample> {
        let final_rate = lock(&self.adaptive[Operation::Update.index()]).rate_at(self.now());
        lock(&self.recorder).clone().finish(self.now(), final_rate)
    }

    /// Brings `op`'s pacer to its adaptive rate in force now (and samples Update's).
    pub fn refresh_rate(&self, op: Operation) -> f64 {
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
            lock(&self.timeline).push(RecordedCall::new(
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
/// To 0.1 (latencies are kept to 0.1 ms).
fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
