//! A rollout in waves, the async side: after a wave's last call, the bake, the gate's read of the
//! wave's tasks (on the read quotas, min(list pages, describes) as planning reads), the verdict
//! journaled, and a failed wave rolled back through the same item runner — paced, each step
//! journaled, stop → update → restart where the task's state needs it. The judgement itself is
//! pure ([`super::waves::gate`]); the dispatcher calls [`Rollout::after_wave`] at each wave's end.
//!
//! Order of records, so that a `kill -9` at any moment is resumed correctly: the wave's items;
//! then (bake, read) the `gated` record; then the rollback items; then `rolled_back`. A journal
//! with items and no `gated` record re-evaluates the gate on resume; one with `gated` (failed)
//! and no `rolled_back` finishes the rollback; a failed gate otherwise is final.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

use super::halt::ExternalHalt;
use super::item::{ItemRunner, WorkItem};
use super::journal::{ItemRecord, Record, update_hash};
use super::ops::TaskOps;
use super::progress::{Progress, human_duration};
use super::waves::gate::{self, Member, Members, WaveShape};
use super::waves::record::{GATED, ROLLED_BACK, RolloutRecord, WaveRecord};
use super::waves::spec::{OnUnhealthy, Threshold};
use super::waves::state::RolloutState;
use crate::api::models::TaskState;
use crate::model::{ApiTime, Region};
use crate::outcome::{
    HaltReason, ItemResult, ItemStatus, Outcome, TaskHealth, Verdict, WaveResult,
};
use crate::plan::diff::{Decision, PlanOptions, decide_in};
use crate::plan::fetch::fetch_live;

/// A run's waves and how each is gated.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// Written after the run header (its `run_id` set then).
    pub record: RolloutRecord,
    pub threshold: Threshold,
    pub bake: Duration,
    pub on_unhealthy: OnUnhealthy,
    /// Stop (outcome `paused`) after this wave's gate passes.
    pub pause_after: Option<u32>,
    /// What the journal says of this rollout's earlier runs (empty for a new rollout).
    pub earlier: RolloutState,
    /// A failed wave whose rollback a killed run left unfinished: finish it, send nothing else.
    pub finish_rollback: Option<(WaveResult, Vec<Member>)>,
}

/// How a wave's end went: its gate's result, and the outcome that ends the run, if it does.
#[derive(Debug)]
pub(super) struct WaveEnd {
    pub result: WaveResult,
    pub stop: Option<Outcome>,
}

/// What a gate works with besides the wave: the runner (engine and journal), the first Ctrl-C, a
/// halt from outside, the display, and how many rollback items may be in flight.
pub(super) struct GateContext<'a, S> {
    pub runner: &'a ItemRunner<S>,
    pub cancel: &'a CancellationToken,
    pub halt: Option<&'a ExternalHalt>,
    pub progress: &'a dyn Progress,
    pub concurrency: usize,
}

/// Why waiting (the bake, the read) ended early.
enum Broken {
    Cancelled,
    Halted(HaltReason),
}

impl Broken {
    fn outcome(self) -> Outcome {
        match self {
            Broken::Cancelled => Outcome::Interrupted,
            Broken::Halted(halt_reason) => Outcome::Halted { halt_reason },
        }
    }
}

impl Rollout {
    /// How many waves.
    pub fn waves(&self) -> u32 {
        self.record.ends.len() as u32
    }

    /// The wave (1-based) of the item at `at` in the run's list; items after the last change
    /// item belong to the last wave.
    pub fn wave_of(&self, at: usize) -> u32 {
        let i = self.record.ends.partition_point(|&end| end <= at);
        (i.min(self.record.ends.len().saturating_sub(1)) + 1) as u32
    }

    /// Where wave `k` ends (exclusive), as a position in the run's list.
    pub fn end_of(&self, wave: u32) -> usize {
        self.record
            .ends
            .get(wave as usize - 1)
            .copied()
            .unwrap_or(usize::MAX)
    }

    fn shape(&self, wave: u32) -> WaveShape {
        WaveShape {
            index: wave,
            of: self.waves(),
            size: self
                .record
                .sizes
                .get(wave as usize - 1)
                .copied()
                .unwrap_or(0),
            threshold: self.threshold,
            bake_seconds: self.bake.as_secs_f64(),
        }
    }

    /// Waves `from..=n` as never reached, for the report of a run that stopped before them.
    pub fn not_reached(&self, from: u32) -> Vec<WaveResult> {
        (from..=self.waves())
            .map(|k| gate::not_reached(self.shape(k)))
            .collect()
    }

    /// Wave `k` has ended (its items settled; `this_run` are the ones this run applied, `sent`
    /// how many this run sent): bake, read its tasks back, judge, journal the verdict, roll a
    /// failed wave back. A wave whose gate passed in an earlier run and that this run sent
    /// nothing of is not gated again.
    pub(super) async fn after_wave<S: TaskOps>(
        &self,
        wave: u32,
        this_run: Vec<Member>,
        sent: usize,
        ctx: &GateContext<'_, S>,
    ) -> WaveEnd {
        let n = self.waves();
        if sent == 0
            && let Some(passed) = self.earlier.passed(wave)
        {
            return WaveEnd {
                result: passed.clone(),
                stop: None,
            };
        }
        let mut merged = Members::default();
        for m in self.earlier.members(wave).iter().cloned().chain(this_run) {
            merged.upsert(m);
        }
        let members = merged.as_slice();
        let shape = self.shape(wave);
        if members.is_empty() {
            let mut result = gate::assess(shape, &[], &HashMap::new());
            result.bake_seconds = 0.0;
            return self.journal_and_go_on(wave, result, ctx).await;
        }
        ctx.progress.milestone(&format!(
            "wave {wave}/{n}: {} task(s) applied; baking {} before the health gate",
            members.len(),
            human_duration(self.bake)
        ));
        if let Err(b) = self.bake(wave, ctx).await {
            return WaveEnd {
                result: gate::inconclusive(shape, members.len()),
                stop: Some(b.outcome()),
            };
        }
        let read = until_broken(ctx, read_back(members, ctx)).await;
        let live = match read {
            Ok(Ok(live)) => live,
            Ok(Err(e)) => {
                let result = gate::inconclusive(shape, members.len());
                let message = e.to_string();
                self.journal_wave(&result, GATED, ctx).await.ok();
                ctx.progress.milestone(&format!(
                    "wave {wave}/{n} gate: inconclusive — the tasks could not be read back ({}); nothing rolled back, --resume evaluates the gate again",
                    crate::text::escape(&message)
                ));
                return WaveEnd {
                    result,
                    stop: Some(Outcome::Halted {
                        halt_reason: HaltReason::GateInconclusive { wave, message },
                    }),
                };
            }
            Err(b) => {
                return WaveEnd {
                    result: gate::inconclusive(shape, members.len()),
                    stop: Some(b.outcome()),
                };
            }
        };
        let mut result = gate::assess(shape, members, &live);
        say_verdict(&result, ctx.progress);
        if result.verdict == Verdict::Passed {
            return self.journal_and_go_on(wave, result, ctx).await;
        }
        if let Err(stop) = self.journal_wave(&result, GATED, ctx).await {
            return WaveEnd {
                result,
                stop: Some(stop),
            };
        }
        if self.on_unhealthy == OnUnhealthy::Rollback {
            self.roll_back(&mut result, members, &live, ctx).await;
        }
        WaveEnd {
            result,
            stop: Some(Outcome::GateFailed { wave }),
        }
    }

    /// A passed gate journaled; the run goes on, or pauses here when asked to.
    async fn journal_and_go_on<S: TaskOps>(
        &self,
        wave: u32,
        result: WaveResult,
        ctx: &GateContext<'_, S>,
    ) -> WaveEnd {
        if let Err(stop) = self.journal_wave(&result, GATED, ctx).await {
            return WaveEnd {
                result,
                stop: Some(stop),
            };
        }
        let pause = self.pause_after == Some(wave) && wave < self.waves();
        WaveEnd {
            result,
            stop: pause.then_some(Outcome::Paused { wave }),
        }
    }

    /// Finishes the rollback a killed run left (the rollout's `finish_rollback`): the members
    /// not yet restored are read, restored, and the wave journaled as rolled back.
    pub(super) async fn finish_rollback<S: TaskOps>(
        &self,
        wave: &WaveResult,
        members: &[Member],
        ctx: &GateContext<'_, S>,
    ) -> WaveEnd {
        let mut result = wave.clone();
        ctx.progress.milestone(&format!(
            "wave {}/{} failed its health gate in an earlier run, which was stopped during its rollback: finishing it ({} task(s) left to restore); nothing else is sent",
            result.index,
            result.of,
            members.len()
        ));
        let live = match read_back(members, ctx).await {
            Ok(live) => live,
            Err(e) => {
                return WaveEnd {
                    stop: Some(Outcome::Halted {
                        halt_reason: HaltReason::GateInconclusive {
                            wave: result.index,
                            message: format!(
                                "the rollback's tasks could not be read ({e}); --resume tries again"
                            ),
                        },
                    }),
                    result,
                };
            }
        };
        self.roll_back(&mut result, members, &live, ctx).await;
        WaveEnd {
            stop: Some(Outcome::GateFailed { wave: result.index }),
            result,
        }
    }

    /// Waits out the bake, saying every so often how long is left; a Ctrl-C or a halt ends it.
    async fn bake<S: TaskOps>(&self, wave: u32, ctx: &GateContext<'_, S>) -> Result<(), Broken> {
        // A countdown line at most every 10 s: a CI log of a 5-minute bake shows it is alive
        // without a line a second.
        const EVERY: Duration = Duration::from_secs(10);
        let end = tokio::time::Instant::now() + self.bake;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            let step = left.min(EVERY);
            until_broken(ctx, tokio::time::sleep(step)).await?;
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            if !left.is_zero() {
                ctx.progress.milestone(&format!(
                    "wave {wave}/{}: health gate in {}",
                    self.waves(),
                    human_duration(left)
                ));
            }
        }
    }

    async fn journal_wave<S: TaskOps>(
        &self,
        result: &WaveResult,
        phase: &str,
        ctx: &GateContext<'_, S>,
    ) -> Result<(), Outcome> {
        let rec = Record::Wave(WaveRecord {
            run_id: ctx.runner.run_id.clone(),
            rollout_id: self.record.rollout_id.clone(),
            phase: phase.to_string(),
            wave: result.clone(),
            at: now_rfc3339(),
        });
        ctx.runner
            .journal
            .record(&rec)
            .await
            .map_err(|e| Outcome::Halted {
                halt_reason: HaltReason::Journal {
                    message: e.to_string(),
                },
            })
    }

    /// Restores every member of a failed wave to its before-image, as decided against the state
    /// the gate read (stop → update → restart for a running task whose fields need it), through
    /// the item runner: paced, each step and outcome journaled as a rollback. A first Ctrl-C does
    /// not stop it — a wave left half restored is worse than a late exit; a second exits between
    /// records, and `--resume` finishes it.
    async fn roll_back<S: TaskOps>(
        &self,
        result: &mut WaveResult,
        members: &[Member],
        live: &HashMap<(Region, String), TaskState>,
        ctx: &GateContext<'_, S>,
    ) {
        let (wave, n) = (result.index, result.of);
        ctx.progress.milestone(&format!(
            "wave {wave}/{n}: rolling back {} task(s) to their before-images",
            members.len()
        ));
        let now = ApiTime::from_unix(chrono::Utc::now().timestamp())
            .unwrap_or(ApiTime(chrono::DateTime::UNIX_EPOCH));
        // A runner of its own, whose stop the first Ctrl-C does not fire: the run's is cancelled
        // with it, and would leave the wave half restored.
        let runner = ItemRunner {
            engine: ctx.runner.engine.clone(),
            journal: ctx.runner.journal.clone(),
            run_id: ctx.runner.run_id.clone(),
            stop: CancellationToken::new(),
        };
        let mut todo = members.iter();
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < ctx.concurrency.max(1) {
                let Some(m) = todo.next() else { break };
                let state = live.get(&(m.region, m.task_id.clone()));
                running.push(restore(m, state, wave, now, &runner));
            }
            let Some((m, restored)) = running.next().await else {
                break;
            };
            match restored {
                Ok(()) => result.rolled_back.push(m.task_id.clone()),
                Err(reason) => result.rollback_failed.push(TaskHealth {
                    task_id: m.task_id.clone(),
                    region: m.region,
                    status: live
                        .get(&(m.region, m.task_id.clone()))
                        .map(|s| s.task_status),
                    reason,
                }),
            }
        }
        let _ = self.journal_wave(result, ROLLED_BACK, ctx).await;
        ctx.progress.milestone(&format!(
            "wave {wave}/{n}: rolled back {} task(s){}",
            result.rolled_back.len(),
            if result.rollback_failed.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} could not be rolled back (listed at the end)",
                    result.rollback_failed.len()
                )
            }
        ));
    }
}

/// One member restored to its before-image: `Err` says why it was not.
async fn restore<'m, S: TaskOps>(
    m: &'m Member,
    live: Option<&TaskState>,
    wave: u32,
    now: ApiTime,
    runner: &ItemRunner<S>,
) -> (&'m Member, Result<(), String>) {
    let Some(state) = live else {
        return (m, Err(format!("no longer exists in {}", m.region)));
    };
    let before = match gate::before_update(m) {
        Ok((u, _empty)) => u,
        Err(e) => return (m, Err(e.to_string())),
    };
    let opts = PlanOptions {
        restart_running: true,
        partial: false,
    };
    let (decision, narrowed) = decide_in(&before, Some(state), m.region, now, opts);
    let mut item = WorkItem::new(narrowed, format!("rollback of wave {wave}"));
    item.wave = Some(wave);
    item.rollback = true;
    item.before_status = Some(state.task_status);
    match decision {
        Decision::Change { changes, steps, .. } => {
            item.steps = steps;
            item.changes = changes.iter().map(crate::outcome::Change::from).collect();
            let hash = update_hash(&item.update);
            let done = runner.item(item, hash).await;
            match done.result.status {
                ItemStatus::Succeeded => (m, Ok(())),
                _ => (
                    m,
                    Err(done
                        .result
                        .error_message
                        .unwrap_or_else(|| done.result.status.as_str().to_string())),
                ),
            }
        }
        // Already as it was before the change (the update never took): journaled as restored.
        Decision::NoOp => {
            let hash = update_hash(&item.update);
            let mut r: ItemResult = item.pending_result(hash);
            r.status = ItemStatus::Succeeded;
            r.error_message = Some("already at its before-image; nothing sent".into());
            let rec = Record::Item(ItemRecord {
                run_id: runner.run_id.clone(),
                item: r,
                at: now_rfc3339(),
            });
            match runner.journal.record(&rec).await {
                Ok(()) => (m, Ok(())),
                Err(e) => (m, Err(format!("cannot journal the rollback: {e}"))),
            }
        }
        Decision::Blocked { reasons, .. } => {
            let why: Vec<String> = reasons
                .iter()
                .map(|r| format!("{}: {}", r.field, r.message))
                .collect();
            (
                m,
                Err(format!("cannot be restored now: {}", why.join("; "))),
            )
        }
        Decision::Missing => (m, Err(format!("no longer exists in {}", m.region))),
    }
}

/// The members' tasks as they are now, where each change left it, in as few reads as planning
/// makes.
async fn read_back<S: TaskOps>(
    members: &[Member],
    ctx: &GateContext<'_, S>,
) -> Result<HashMap<(Region, String), TaskState>, crate::api::error::ApiError> {
    let wanted: Vec<(Region, String)> = members
        .iter()
        .map(|m| (m.region, m.task_id.clone()))
        .collect();
    fetch_live(ctx.runner.engine.as_ref(), &wanted).await
}

/// Runs `f` unless the first Ctrl-C or an outside halt comes first.
async fn until_broken<S, T>(
    ctx: &GateContext<'_, S>,
    f: impl std::future::Future<Output = T>,
) -> Result<T, Broken> {
    let halted = async {
        match ctx.halt {
            Some(h) => {
                h.token.cancelled().await;
                (h.reason)()
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        reason = halted => Err(Broken::Halted(reason)),
        _ = ctx.cancel.cancelled() => Err(Broken::Cancelled),
        v = f => Ok(v),
    }
}

/// Says a gate's verdict, naming the first unhealthy tasks.
fn say_verdict(r: &WaveResult, progress: &dyn Progress) {
    let mut text = format!(
        "wave {}/{} gate: {} — {} healthy, {} unhealthy (at most {} allowed){}",
        r.index,
        r.of,
        r.verdict.name(),
        r.healthy,
        r.unhealthy.len(),
        r.max_unhealthy,
        if r.not_counted.is_empty() {
            String::new()
        } else {
            format!(
                ", {} already abnormal before the change (not counted)",
                r.not_counted.len()
            )
        }
    );
    // The first few here; every one is in the reports and at the end of the run.
    const SHOWN: usize = 5;
    for h in r.unhealthy.iter().take(SHOWN) {
        text.push_str(&format!(
            "\n  task {}: {}",
            crate::text::escape(&h.task_id),
            h.reason
        ));
    }
    if r.unhealthy.len() > SHOWN {
        text.push_str(&format!("\n  … and {} more", r.unhealthy.len() - SHOWN));
    }
    progress.milestone(&text);
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::api::error::ApiError;
    use crate::api::models::{ListResponse, TaskInfo};
    use crate::apply::config::ExecConfig;
    use crate::apply::dispatch::{RunContext, Work, run_stream};
    use crate::apply::engine::Engine;
    use crate::apply::journal::{Journal, JournalState, JournalWriter, RunHeader};
    use crate::apply::ops::Sent;
    use crate::apply::progress::Silent;
    use crate::model::Update;
    use crate::outcome::{Change, Settled};
    use crate::pace::Pacers;
    use crate::plan::diff::Step;

    /// Running tasks that turn abnormal when restarted on a source at `bad.example`, as the
    /// emulator's `--unreachable-source` does (at once, here).
    #[derive(Default)]
    struct Fleet {
        tasks: Mutex<Vec<(String, i32, Vec<String>)>>,
        /// Fires the token at the n-th Stop call (an operator's Ctrl-C at that moment).
        ctrl_c_at_stop: Mutex<Option<(usize, CancellationToken)>>,
        stops: std::sync::atomic::AtomicUsize,
    }

    impl Fleet {
        fn with(ids: &[&str]) -> Fleet {
            let tasks = ids
                .iter()
                .map(|id| {
                    (
                        id.to_string(),
                        1,
                        vec![format!("https://old.example/{id}.mp4")],
                    )
                })
                .collect();
            Fleet {
                tasks: Mutex::new(tasks),
                ..Fleet::default()
            }
        }
        fn state(&self, id: &str) -> (i32, Vec<String>) {
            let t = self.tasks.lock().unwrap();
            let (_, s, u) = t.iter().find(|(i, ..)| i == id).unwrap();
            (*s, u.clone())
        }
        fn set(&self, id: &str, f: impl FnOnce(&mut i32, &mut Vec<String>)) {
            let mut t = self.tasks.lock().unwrap();
            let (_, s, u) = t.iter_mut().find(|(i, ..)| i == id).unwrap();
            f(s, u);
        }
        fn task_state(id: &str, status: i32, urls: &[String]) -> TaskState {
            TaskState {
                task_id: id.into(),
                task_status: status,
                task_invalid_reason: if status == 2 {
                    "PullStreamFailed".into()
                } else {
                    String::new()
                },
                task_info: TaskInfo {
                    source_urls: urls.to_vec(),
                    source_type: "url".into(),
                    ..TaskInfo::default()
                },
                ..TaskState::default()
            }
        }
    }

    impl TaskOps for Fleet {
        async fn update(&self, u: &Update) -> Result<Sent, ApiError> {
            if let Some(urls) = &u.source_urls {
                self.set(&u.task_id, |_, s| *s = urls.clone());
            }
            Ok(Sent::default())
        }
        async fn stop(&self, t: &str, _r: Region) -> Result<Sent, ApiError> {
            let n = self.stops.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if let Some((at, token)) = &*self.ctrl_c_at_stop.lock().unwrap()
                && *at == n
            {
                token.cancel();
            }
            self.set(t, |s, _| *s = 3);
            Ok(Sent::default())
        }
        async fn restart(&self, t: &str, _r: Region) -> Result<Sent, ApiError> {
            self.set(t, |s, u| {
                *s = if u[0].contains("bad.example") { 2 } else { 1 }
            });
            Ok(Sent::default())
        }
        async fn describe(&self, t: &str, _r: Region) -> Result<Option<TaskState>, ApiError> {
            let (s, u) = self.state(t);
            Ok(Some(Fleet::task_state(t, s, &u)))
        }
        async fn list_page(&self, _r: Region, _p: u32, _s: u32) -> Result<ListResponse, ApiError> {
            let t = self.tasks.lock().unwrap();
            Ok(ListResponse {
                total: t.len() as u64,
                task_list: t
                    .iter()
                    .map(|(id, s, u)| Fleet::task_state(id, *s, u))
                    .collect(),
                ..ListResponse::default()
            })
        }
    }

    /// A stop → update → restart item moving `id` to `new`, planned on a running task.
    fn item(id: &str, new: &str) -> WorkItem {
        let mut u = Update::new(id, Region::CnShanghai);
        u.source_urls = Some(vec![new.to_string()]);
        let mut w = WorkItem::new(u, "m.yaml:1");
        w.steps = vec![Step::Stop, Step::Update, Step::Restart];
        w.before_status = Some(1);
        w.changes = vec![Change {
            field: "SourceUrls".into(),
            old: format!(r#"["https://old.example/{id}.mp4"]"#),
            new: format!(r#"["{new}"]"#),
        }];
        w
    }

    fn rollout(ends: Vec<usize>, sizes: Vec<usize>, pause_after: Option<u32>) -> Rollout {
        Rollout {
            record: RolloutRecord {
                run_id: "run".into(),
                rollout_id: "run".into(),
                spec: "1,100%".into(),
                items: *ends.last().unwrap(),
                ends,
                sizes,
                tasks_digest: String::new(),
                bake_ms: 1000,
                max_unhealthy: "0".into(),
                on_unhealthy: "rollback".into(),
            },
            threshold: Threshold::Count(0),
            bake: Duration::from_secs(1),
            on_unhealthy: OnUnhealthy::Rollback,
            pause_after,
            earlier: RolloutState::default(),
            finish_rollback: None,
        }
    }

    async fn go(
        fleet: Arc<Fleet>,
        items: Vec<WorkItem>,
        rollout: &Rollout,
        dir: &std::path::Path,
    ) -> crate::outcome::RunRecord {
        go_until(fleet, items, rollout, dir, CancellationToken::new()).await
    }

    async fn go_until(
        fleet: Arc<Fleet>,
        items: Vec<WorkItem>,
        rollout: &Rollout,
        dir: &std::path::Path,
        cancel: CancellationToken,
    ) -> crate::outcome::RunRecord {
        let journal =
            Journal::new(JournalWriter::open(&dir.join("j.jsonl"), &RunHeader::now(&[])).unwrap());
        let config = ExecConfig::new(100.0);
        let engine = Arc::new(Engine::new(fleet, Pacers::clock(100.0), &config));
        let mut sink = |_at: usize, _s: Settled| Ok(());
        let ctx = RunContext {
            engine,
            journal: &journal,
            previous: &JournalState::default(),
            config: &config,
            cancel,
            halt: None,
            progress: &Silent,
            rollout: Some(rollout),
        };
        let work = Work {
            total: items.len(),
            to_send: items.len() as u64,
        };
        run_stream(items.into_iter().map(Ok), work, &mut sink, &ctx).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_wave_with_a_broken_stream_is_rolled_back_and_the_run_stops_there() {
        let ids = ["t0", "t1", "t2", "t3", "t4"];
        let fleet = Arc::new(Fleet::with(&ids));
        let items = vec![
            item("t0", "https://new.example/t0.mp4"),
            item("t1", "https://new.example/t1.mp4"),
            item("t2", "https://bad.example/t2.mp4"),
            item("t3", "https://new.example/t3.mp4"),
            item("t4", "https://new.example/t4.mp4"),
        ];
        let r = rollout(vec![1, 4, 5], vec![1, 3, 1], None);
        let dir = tempfile::tempdir().unwrap();
        let record = go(fleet.clone(), items, &r, dir.path()).await;
        assert_eq!(record.outcome, Outcome::GateFailed { wave: 2 });
        let verdicts: Vec<Verdict> = record.waves.iter().map(|w| w.verdict).collect();
        assert_eq!(
            verdicts,
            [Verdict::Passed, Verdict::Failed, Verdict::NotReached]
        );
        let failed = &record.waves[1];
        assert_eq!(failed.unhealthy.len(), 1);
        assert_eq!(failed.unhealthy[0].task_id, "t2");
        assert_eq!(
            failed.unhealthy[0].reason,
            "running abnormally: PullStreamFailed"
        );
        assert!(
            failed.rollback_failed.is_empty(),
            "{:?}",
            failed.rollback_failed
        );
        let mut back = failed.rolled_back.clone();
        back.sort();
        assert_eq!(back, ["t1", "t2", "t3"]);
        // Wave 1 stays applied; wave 2 is back on its old sources and runs; t4 was never sent.
        assert_eq!(
            fleet.state("t0"),
            (1, vec!["https://new.example/t0.mp4".to_string()])
        );
        for id in ["t1", "t2", "t3", "t4"] {
            assert_eq!(
                fleet.state(id),
                (1, vec![format!("https://old.example/{id}.mp4")]),
                "{id}"
            );
        }
        assert_eq!(record.tally.not_attempted, 1);
        // The journal: the verdict before the rollback items, the rollback's end after them.
        let text = std::fs::read_to_string(dir.path().join("j.jsonl")).unwrap();
        let kinds: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Record>(l).ok())
            .filter_map(|r| match r {
                Record::Wave(w) => Some(format!("{}:{}", w.wave.index, w.phase)),
                Record::Item(i) if i.item.rollback => Some(format!("rollback:{}", i.item.task_id)),
                _ => None,
            })
            .collect();
        assert_eq!(kinds[0], "1:gated");
        assert_eq!(kinds[1], "2:gated");
        assert_eq!(kinds.last().unwrap(), "2:rolled_back");
        assert_eq!(kinds.len(), 6, "{kinds:?}");
    }

    /// A Ctrl-C during the rollback does not leave the wave half restored.
    #[tokio::test(start_paused = true)]
    async fn a_first_ctrl_c_during_a_rollback_lets_it_finish() {
        let fleet = Arc::new(Fleet::with(&["t0", "t1", "t2"]));
        let cancel = CancellationToken::new();
        // Stops 1–3 are the wave's; the 4th is the rollback's first.
        *fleet.ctrl_c_at_stop.lock().unwrap() = Some((4, cancel.clone()));
        let items = vec![
            item("t0", "https://new.example/t0.mp4"),
            item("t1", "https://bad.example/t1.mp4"),
            item("t2", "https://new.example/t2.mp4"),
        ];
        let r = rollout(vec![3], vec![3], None);
        let dir = tempfile::tempdir().unwrap();
        let record = go_until(fleet.clone(), items, &r, dir.path(), cancel.clone()).await;
        assert!(cancel.is_cancelled());
        assert_eq!(record.outcome, Outcome::GateFailed { wave: 1 });
        assert_eq!(record.waves[0].rolled_back.len(), 3);
        for id in ["t0", "t1", "t2"] {
            assert_eq!(
                fleet.state(id),
                (1, vec![format!("https://old.example/{id}.mp4")]),
                "{id}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pause_after_stops_once_the_gate_passes() {
        let fleet = Arc::new(Fleet::with(&["t0", "t1"]));
        let items = vec![
            item("t0", "https://new.example/t0.mp4"),
            item("t1", "https://new.example/t1.mp4"),
        ];
        let r = rollout(vec![1, 2], vec![1, 1], Some(1));
        let dir = tempfile::tempdir().unwrap();
        let record = go(fleet.clone(), items, &r, dir.path()).await;
        assert_eq!(record.outcome, Outcome::Paused { wave: 1 });
        assert_eq!(record.waves[0].verdict, Verdict::Passed);
        assert_eq!(record.waves[1].verdict, Verdict::NotReached);
        assert_eq!(
            fleet.state("t1"),
            (1, vec!["https://old.example/t1.mp4".to_string()])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn halt_on_unhealthy_leaves_the_wave_as_it_is() {
        let fleet = Arc::new(Fleet::with(&["t0"]));
        let mut r = rollout(vec![1], vec![1], None);
        r.on_unhealthy = OnUnhealthy::Halt;
        let dir = tempfile::tempdir().unwrap();
        let record = go(
            fleet.clone(),
            vec![item("t0", "https://bad.example/t0.mp4")],
            &r,
            dir.path(),
        )
        .await;
        assert_eq!(record.outcome, Outcome::GateFailed { wave: 1 });
        assert!(record.waves[0].rolled_back.is_empty());
        assert_eq!(
            fleet.state("t0"),
            (2, vec!["https://bad.example/t0.mp4".to_string()])
        );
    }
}
