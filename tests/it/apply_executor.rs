//! The apply engine against an in-test fake sender, under tokio's paused time: pacing, retries of
//! each class, budget, halts, cancellation and journal/resume semantics.

#![allow(clippy::result_large_err)] // ApiError is the shared by-value error type.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::executor::run;
use livebatch::api::error::{ApiError, TransportKind};
use livebatch::api::models::{ListResponse, TaskState};
use livebatch::api::operation::Operation;
use livebatch::apply::config::ExecConfig;
use livebatch::apply::engine::Engine;
use livebatch::apply::halt::HaltPolicy;
use livebatch::apply::item::WorkItem;
use livebatch::apply::journal::{
    ItemStatus, Journal, JournalState, JournalWriter, Record, ResumeMode, RunHeader,
};
use livebatch::apply::ops::{Sent, TaskOps};
use livebatch::apply::progress::Silent;
use livebatch::apply::retry::{GiveUp, RetryBudget};
use livebatch::model::{Region, Update};
use livebatch::outcome::Accept;
use livebatch::outcome::{HaltReason, Outcome, RunResult};
use livebatch::pace::PACE_HEADROOM;
use livebatch::pace::Pacers;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

type Reply = Result<(), ApiError>;

/// Answers from a per-task script (then succeeds), after a fixed latency; logs every call.
struct Fake {
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    latency: Duration,
    calls: Mutex<Vec<(String, Instant)>>,
    /// When set, throttles any call that would make more than this many in the last second
    /// (a quota shared with another caller).
    shared_quota: Option<usize>,
}

impl Fake {
    fn new(latency_ms: u64) -> Fake {
        Fake {
            script: Mutex::new(HashMap::new()),
            latency: Duration::from_millis(latency_ms),
            calls: Mutex::new(Vec::new()),
            shared_quota: None,
        }
    }
    fn script(self, task: &str, replies: Vec<Reply>) -> Fake {
        self.script
            .lock()
            .unwrap()
            .insert(task.to_string(), replies.into());
        self
    }
    fn times(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().iter().map(|c| c.1).collect()
    }
    fn calls_for(&self, task: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.0 == task)
            .count()
    }
}

impl TaskOps for Fake {
    async fn stop(&self, _: &str, _: Region) -> Result<Sent, ApiError> {
        unreachable!("manifest items only update")
    }
    async fn restart(&self, _: &str, _: Region) -> Result<Sent, ApiError> {
        unreachable!("manifest items only update")
    }
    async fn describe(&self, _: &str, _: Region) -> Result<Option<TaskState>, ApiError> {
        unreachable!("manifest items are not re-read")
    }
    async fn list_page(&self, _: Region, _: u32, _: u32) -> Result<ListResponse, ApiError> {
        unreachable!("manifest items are not re-read")
    }
    async fn update(&self, u: &Update) -> Result<Sent, ApiError> {
        let now = Instant::now();
        let over_quota = {
            let mut calls = self.calls.lock().unwrap();
            calls.push((u.task_id.clone(), now));
            self.shared_quota.is_some_and(|q| {
                calls
                    .iter()
                    .filter(|c| now.duration_since(c.1) < Duration::from_secs(1))
                    .count()
                    > q
            })
        };
        let next = self
            .script
            .lock()
            .unwrap()
            .get_mut(&u.task_id)
            .and_then(VecDeque::pop_front);
        tokio::time::sleep(self.latency).await;
        if over_quota {
            return Err(svc("Throttling.User", 400, None));
        }
        match next {
            Some(Err(e)) => Err(e),
            _ => Ok(Sent {
                request_id: format!("req-{}", u.task_id),
            }),
        }
    }
}

fn svc(code: &str, status: u16, retry_after: Option<Duration>) -> ApiError {
    ApiError::Service {
        http_status: status,
        code: code.into(),
        message: format!("{code} happened"),
        request_id: format!("rid-{code}"),
        host_id: "live.aliyuncs.com".into(),
        recommend: String::new(),
        retry_after,
    }
}

fn items(n: usize) -> Vec<WorkItem> {
    (0..n)
        .map(|i| {
            let mut u = Update::new(format!("t{i:04}"), Region::CnShanghai);
            u.repeat_number = Some(-1);
            WorkItem::new(u, format!("m.yaml:{}", i + 3))
        })
        .collect()
}

fn journal(dir: &Path) -> (Journal, PathBuf) {
    let path = dir.join("m.yaml.journal.jsonl");
    let w = JournalWriter::open(&path, &RunHeader::now(&[PathBuf::from("m.yaml")])).unwrap();
    (Journal::new(w), path)
}

/// Seeded jitter; pacing at exactly 10 calls/s (no headroom, see [`go`]), so expected counts are
/// round numbers.
fn cfg(qps: f64) -> ExecConfig {
    ExecConfig {
        seed: Some(7),
        ..ExecConfig::new(qps)
    }
}

/// An engine over `fake`, every operation paced at exactly `cap` calls/s on tokio's clock.
fn engine(fake: &Arc<Fake>, cap: f64, config: &ExecConfig) -> Arc<Engine<Fake>> {
    Arc::new(Engine::new(fake.clone(), Pacers::clock(cap), config))
}

async fn go(
    items: Vec<WorkItem>,
    fake: &Arc<Fake>,
    dir: &Path,
    config: &ExecConfig,
    previous: &JournalState,
    cancel: CancellationToken,
) -> RunResult {
    go_at(10.0, items, fake, dir, config, previous, cancel).await
}

async fn go_at(
    cap: f64,
    items: Vec<WorkItem>,
    fake: &Arc<Fake>,
    dir: &Path,
    config: &ExecConfig,
    previous: &JournalState,
    cancel: CancellationToken,
) -> RunResult {
    let (j, _) = journal(dir);
    run(
        items,
        engine(fake, cap, config),
        &j,
        previous,
        config,
        cancel,
        &Silent,
    )
    .await
}

fn max_in_any_second(times: &[Instant]) -> usize {
    let mut t = times.to_vec();
    t.sort();
    (0..t.len())
        .map(|i| {
            t[i..]
                .iter()
                .take_while(|x| x.duration_since(t[i]) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn status_of(r: &RunResult, task: &str) -> ItemStatus {
    r.items.iter().find(|i| i.task_id == task).unwrap().status
}

#[tokio::test(start_paused = true)]
async fn paces_at_the_cap_with_no_second_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(300));
    let r = go(
        items(60),
        &fake,
        dir.path(),
        &cfg(10.0),
        &JournalState::default(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r.summary.outcome, Outcome::Completed);
    assert_eq!(r.summary.succeeded, 60);
    assert_eq!(r.exit_code(Accept::default()), 0);
    assert_eq!(max_in_any_second(&fake.times()), 10);
    // 60 evenly spaced calls at 10/s: the last leaves at 5.9 s; latency does not slow the run.
    assert!(
        r.summary.elapsed_seconds < 6.3,
        "{}",
        r.summary.elapsed_seconds
    );
    assert!(r.summary.calls_per_second > 9.5);
    assert_eq!(r.summary.latency_ms.p50, Some(300.0));
    assert_eq!(r.items[0].request_id.as_deref(), Some("req-t0000"));
    assert_eq!(r.items[0].source, "m.yaml:3");
}

#[tokio::test(start_paused = true)]
async fn default_pace_keeps_headroom_under_the_quota() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(100));
    let config = ExecConfig {
        seed: Some(1),
        ..ExecConfig::new(10.0)
    };
    // What real runs pace each operation at: PACE_HEADROOM of the quota.
    let r = go_at(
        10.0 * PACE_HEADROOM,
        items(41),
        &fake,
        dir.path(),
        &config,
        &JournalState::default(),
        CancellationToken::new(),
    )
    .await;
    let t = fake.times();
    // 40 gaps of 1/9.7 s: 4.12 s, and never 10 calls within 0.95 s.
    assert!(t[40].duration_since(t[0]) >= Duration::from_millis(4120));
    for w in t.windows(10) {
        assert!(w[9].duration_since(w[0]) >= Duration::from_millis(920));
    }
    assert!(
        r.summary.updates_per_second >= 9.5,
        "{}",
        r.summary.updates_per_second
    );
}

#[tokio::test(start_paused = true)]
async fn low_concurrency_bounds_calls_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(1000));
    let config = ExecConfig {
        concurrency: 2,
        ..cfg(10.0)
    };
    let r = go(
        items(6),
        &fake,
        dir.path(),
        &config,
        &JournalState::default(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r.summary.succeeded, 6);
    // Two at a time, one second each: three rounds.
    assert!(
        r.summary.elapsed_seconds >= 3.0,
        "{}",
        r.summary.elapsed_seconds
    );
}

#[tokio::test(start_paused = true)]
async fn each_error_class_is_handled_by_its_rule() {
    let dir = tempfile::tempdir().unwrap();
    let transient = || {
        Err(ApiError::Transport {
            kind: TransportKind::Reset,
            message: "connection reset".into(),
        })
    };
    let fake = Arc::new(
        Fake::new(50)
            .script("t0000", vec![Err(svc("Throttling.User", 400, None))])
            .script(
                "t0001",
                vec![Err(svc("ServiceUnavailable", 503, None)), transient()],
            )
            .script("t0002", vec![Err(svc("CodeTaskNotExist", 400, None))])
            .script(
                "t0003",
                vec![transient(), transient(), transient(), transient()],
            )
            .script(
                "t0004",
                vec![Err(svc("Whatever", 400, Some(Duration::from_millis(2500))))],
            ),
    );
    let config = ExecConfig {
        retry: livebatch::apply::retry::RetryPolicy {
            max_attempts: 3,
            ..Default::default()
        },
        ..cfg(10.0)
    };
    let r = go(
        items(5),
        &fake,
        dir.path(),
        &config,
        &JournalState::default(),
        CancellationToken::new(),
    )
    .await;
    let by = |t: &str| r.items.iter().find(|i| i.task_id == t).unwrap().clone();
    assert_eq!(by("t0000").status, ItemStatus::Succeeded);
    assert_eq!(by("t0000").attempts, 2);
    assert_eq!(by("t0001").status, ItemStatus::Succeeded);
    assert_eq!(by("t0001").attempts, 3);
    let p = by("t0002");
    assert_eq!((p.status, p.attempts), (ItemStatus::Failed, 1));
    assert_eq!(p.error_code.as_deref(), Some("CodeTaskNotExist"));
    assert_eq!(p.gave_up, Some(GiveUp::Permanent));
    assert_eq!(p.request_id.as_deref(), Some("rid-CodeTaskNotExist"));
    let x = by("t0003");
    assert_eq!((x.status, x.attempts), (ItemStatus::Failed, 3));
    assert_eq!(x.gave_up, Some(GiveUp::AttemptsExhausted));
    assert_eq!(x.error_code.as_deref(), Some("Transport.Reset"));
    assert_eq!(by("t0004").status, ItemStatus::Succeeded);
    // x-acs-retry-after was honoured: the second call waited 2.5 s after the first answer.
    let t4: Vec<Instant> = fake
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.0 == "t0004")
        .map(|c| c.1)
        .collect();
    assert!(t4[1].duration_since(t4[0]) >= Duration::from_millis(2550));
    assert_eq!(r.summary.throttled, 2);
    assert_eq!(r.summary.retries, 2 + 1 + 2 + 1);
    assert_eq!(r.summary.outcome, Outcome::Completed);
    assert_eq!(r.exit_code(Accept::default()), 1, "some failed");
    // Throttling lowered the rate; samples show it.
    assert!(r.summary.rate_samples.iter().any(|s| s.rate < 10.0));
}

#[tokio::test(start_paused = true)]
async fn retry_budget_exhaustion_stops_retrying_across_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut fake = Fake::new(10);
    for i in 0..10 {
        fake = fake.script(
            &format!("t{i:04}"),
            (0..10)
                .map(|_| Err(svc("InternalError", 500, None)))
                .collect(),
        );
    }
    let fake = Arc::new(fake);
    let config = ExecConfig {
        budget: RetryBudget::new(20, 5, 1),
        ..cfg(10.0)
    };
    let r = go(
        items(10),
        &fake,
        dir.path(),
        &config,
        &JournalState::default(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r.summary.failed, 10);
    assert_eq!(r.summary.retries, 4, "20 tokens / 5 per retry");
    assert_eq!(r.summary.calls, 14);
    assert!(
        r.items
            .iter()
            .filter(|i| i.gave_up == Some(GiveUp::BudgetExhausted))
            .count()
            >= 6
    );
}

#[tokio::test(start_paused = true)]
async fn systemic_error_halts_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(
        Fake::new(100).script("t0005", vec![Err(svc("SignatureDoesNotMatch", 400, None))]),
    );
    let r = go(
        items(200),
        &fake,
        dir.path(),
        &cfg(10.0),
        &JournalState::default(),
        CancellationToken::new(),
    )
    .await;
    assert!(matches!(
        &r.summary.outcome,
        Outcome::Halted { halt_reason: HaltReason::Systemic { code, .. } } if code == "SignatureDoesNotMatch"
    ));
    assert_eq!(r.exit_code(Accept::default()), 77);
    assert_eq!(status_of(&r, "t0005"), ItemStatus::Failed);
    assert_eq!(
        fake.calls_for("t0005"),
        1,
        "systemic errors are not retried"
    );
    // Calls already on the wire (sent within the 100 ms latency) finish; nothing after.
    assert!(fake.times().len() <= 7, "{}", fake.times().len());
    assert_eq!(
        r.summary.not_attempted,
        200 - r.summary.succeeded - r.summary.failed
    );
    assert!(r.summary.not_attempted >= 193);
}

#[tokio::test(start_paused = true)]
async fn halt_policy_stops_dispatching_once_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let mut fake = Fake::new(100);
    for i in 0..50 {
        if i % 2 == 0 {
            fake = fake.script(
                &format!("t{i:04}"),
                vec![Err(svc("InvalidParameter", 400, None))],
            );
        }
    }
    let fake = Arc::new(fake);
    let config = ExecConfig {
        halt: "3".parse::<HaltPolicy>().unwrap(),
        ..cfg(10.0)
    };
    let r = go(
        items(50),
        &fake,
        dir.path(),
        &config,
        &JournalState::default(),
        CancellationToken::new(),
    )
    .await;
    assert!(matches!(
        r.summary.outcome,
        Outcome::Halted {
            halt_reason: HaltReason::MaxFailures { failed: 4, .. }
        }
    ));
    assert_eq!(r.exit_code(Accept::default()), 3);
    // The 4th failure is item 6; item 7 was on the wire then (100 ms latency, 100 ms spacing)
    // and was recorded; nothing later was sent.
    assert_eq!(r.summary.failed, 4);
    assert_eq!(
        r.summary.succeeded + r.summary.failed,
        fake.times().len() as u64
    );
    assert!(r.summary.not_attempted >= 40);
    assert_eq!(status_of(&r, "t0049"), ItemStatus::NotAttempted);
}

#[tokio::test(start_paused = true)]
async fn cancellation_finishes_in_flight_calls_and_journals_them() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(250));
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1050)).await;
        c2.cancel();
    });
    let (j, path) = journal(dir.path());
    let r = run(
        items(100),
        engine(&fake, 10.0, &cfg(10.0)),
        &j,
        &JournalState::default(),
        &cfg(10.0),
        cancel,
        &Silent,
    )
    .await;
    assert_eq!(r.summary.outcome, Outcome::Interrupted);
    assert_eq!(r.exit_code(Accept::default()), 3);
    let sent = fake.times().len() as u64;
    assert_eq!(sent, 11, "calls at 0..=1000 ms");
    assert_eq!(r.summary.succeeded, sent, "in-flight calls finished");
    assert_eq!(r.summary.not_attempted, 100 - sent);
    // Every outcome is in the journal, followed by the run-end record.
    let text = std::fs::read_to_string(&path).unwrap();
    let recs: Vec<Record> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(matches!(recs.first(), Some(Record::Run(_))));
    assert!(matches!(recs.last(), Some(Record::End(e)) if e.outcome == "interrupted"));
    let st = JournalState::read(&path).unwrap();
    assert_eq!(st.items as u64, sent);
}

#[tokio::test(start_paused = true)]
async fn resume_skips_identical_successes_resends_changed_and_survives_reordering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml.journal.jsonl");
    // Run 1: interrupted after ~1 s; t0002 fails permanently.
    let fake =
        Arc::new(Fake::new(100).script("t0002", vec![Err(svc("InvalidParameter", 400, None))]));
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(550)).await;
        c2.cancel();
    });
    let r1 = go(
        items(20),
        &fake,
        dir.path(),
        &cfg(10.0),
        &JournalState::default(),
        cancel,
    )
    .await;
    assert_eq!(r1.summary.outcome, Outcome::Interrupted);
    let done1: Vec<String> = r1
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Succeeded)
        .map(|i| i.task_id.clone())
        .collect();
    assert_eq!(done1.len(), 5, "{done1:?}");

    // Run 2: reordered manifest, and t0001's content changed.
    let mut second = items(20);
    second.reverse();
    for it in &mut second {
        if it.update.task_id == "t0001" {
            it.update.repeat_number = Some(3);
        }
    }
    let st = JournalState::read(&path).unwrap();
    let fake2 = Arc::new(Fake::new(100));
    let config = ExecConfig {
        resume: ResumeMode::Resume,
        ..cfg(10.0)
    };
    let r2 = go(
        second,
        &fake2,
        dir.path(),
        &config,
        &st,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r2.summary.outcome, Outcome::Completed);
    for t in &done1 {
        let expect = if t == "t0001" {
            ItemStatus::Succeeded
        } else {
            ItemStatus::Skipped
        };
        assert_eq!(status_of(&r2, t), expect, "{t}");
    }
    assert_eq!(fake2.calls_for("t0001"), 1, "changed update re-sent");
    assert_eq!(fake2.calls_for("t0000"), 0);
    assert_eq!(fake2.calls_for("t0002"), 1, "failed update re-sent");
    assert_eq!(r2.summary.skipped, 4);
    assert_eq!(r2.summary.succeeded, 16);
    // Run 3: --retry-failed after a fully successful run sends nothing.
    let st = JournalState::read(&path).unwrap();
    let fake3 = Arc::new(Fake::new(100));
    let config = ExecConfig {
        resume: ResumeMode::RetryFailed,
        ..cfg(10.0)
    };
    let r3 = go(
        items(20),
        &fake3,
        dir.path(),
        &config,
        &st,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(fake3.times().len(), 0, "nothing failed last time");
    assert_eq!(r3.summary.skipped, 20);
}

#[tokio::test(start_paused = true)]
async fn retry_failed_sends_only_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml.journal.jsonl");
    let fake = Arc::new(
        Fake::new(50)
            .script("t0003", vec![Err(svc("CodeTaskHasStarted", 400, None))])
            .script("t0007", vec![Err(svc("InvalidParameter", 400, None))]),
    );
    let r1 = go(
        items(10),
        &fake,
        dir.path(),
        &cfg(10.0),
        &JournalState::default(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r1.summary.failed, 2);
    let st = JournalState::read(&path).unwrap();
    let fake2 = Arc::new(Fake::new(50));
    let config = ExecConfig {
        resume: ResumeMode::RetryFailed,
        ..cfg(10.0)
    };
    let r2 = go(
        items(10),
        &fake2,
        dir.path(),
        &config,
        &st,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(fake2.times().len(), 2);
    assert_eq!(fake2.calls_for("t0003"), 1);
    assert_eq!(fake2.calls_for("t0007"), 1);
    assert_eq!(r2.summary.skipped, 8);
    assert_eq!(r2.exit_code(Accept::default()), 0);
}

#[tokio::test(start_paused = true)]
async fn adaptive_rate_converges_on_a_shared_quota() {
    let dir = tempfile::tempdir().unwrap();
    // Another caller uses 4 of the 10 calls/s: only 6 are left for us.
    let fake = Arc::new(Fake {
        shared_quota: Some(6),
        ..Fake::new(100)
    });
    let r = go(
        items(300),
        &fake,
        dir.path(),
        &cfg(10.0),
        &JournalState::default(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r.summary.succeeded, 300, "throttled calls were retried");
    let min_rate = r
        .summary
        .rate_samples
        .iter()
        .map(|s| s.rate)
        .fold(f64::MAX, f64::min);
    assert!(min_rate <= 6.0, "slowed down to what is left: {min_rate}");
    // Without adaptation every 10-call second would throttle 4 calls (40 %).
    let share = r.summary.throttled as f64 / r.summary.calls as f64;
    assert!(share < 0.15, "throttled share {share}");
}

#[tokio::test(start_paused = true)]
async fn a_throttled_operation_slows_only_its_own_pacer() {
    let fake = Arc::new(Fake::new(10));
    let config = cfg(10.0);
    let engine = engine(&fake, 10.0, &config);
    let stop = CancellationToken::new();
    let (mut attempts, mut latency) = (0, None);
    let throttles = std::sync::atomic::AtomicU32::new(1);
    let got = engine
        .call(
            Operation::Describe,
            &stop,
            &mut attempts,
            &mut latency,
            || {
                let first = throttles.swap(0, std::sync::atomic::Ordering::SeqCst) == 1;
                async move {
                    if first {
                        Err(svc("Throttling.User", 400, None))
                    } else {
                        Ok(7)
                    }
                }
            },
        )
        .await;
    assert!(matches!(got, Ok(7)), "retried after the throttle");
    assert_eq!(attempts, 2);
    let p = engine.pacers();
    assert!(p.rate(Operation::Describe) < 10.0, "Describe slowed down");
    for op in [Operation::Update, Operation::Stop, Operation::Restart] {
        assert_eq!(p.rate(op), 10.0, "{op} kept its pace");
    }
    let c = engine.counts();
    assert_eq!(c.by_op[Operation::Describe.index()].throttled, 1);
    assert_eq!(c.by_op[Operation::Update.index()].calls, 0);
}
