//! Dispatch: feeds a run's items to the engine as there is room (bounded concurrency), settles
//! those never sent (decided before the run, or skipped by the journal) in their place, and stops
//! on a halt or the caller's cancellation.
//!
//! One coordinator loop dispatches items and counts their outcomes; each item runs as its own
//! tokio task ([`super::item`]), which writes its outcome to the group-commit journal before
//! handing it back, so what the report and the progress bar say has always been made durable
//! first.
//!
//! Stopping: a halt (systemic error, `--max-failures` exceeded, journal write failure, an outcome
//! that cannot be kept or an item that cannot be read) or the caller's cancellation token (first
//! Ctrl-C) stops dispatching; calls already on the wire finish and are recorded; items still
//! waiting for their turn are `not_attempted`; an item waiting to retry is recorded `not_attempted`
//! with its last error (it may be resumed). The run-end record is journaled last; if the journal
//! refuses it, the run ends halted saying so.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::config::ExecConfig;
use super::engine::Engine;
use super::item::WorkItem;
use super::item::{Done, ItemRunner};
use super::journal::{Journal, JournalState, Record, RunEnd, update_hash};
use super::ops::TaskOps;
use super::progress::{Progress, Snapshot};
use super::record::{Mark, Recorder, Sink};
use super::rollout::{GateContext, Rollout, WaveEnd};
use super::waves::gate::Member;
use crate::api::operation::Operation;
use crate::outcome::{HaltReason, ItemResult, ItemStatus, Outcome, RunRecord, Settled};
use crate::pace::PACE_HEADROOM;

/// How much work a stream of items holds, known before it is read: every item, and those that
/// will be sent (neither decided unsent before the run nor skipped by the journal). The second is
/// what a `--max-failures` percentage is a percentage of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    pub total: usize,
    pub to_send: u64,
}

/// What a run works with besides its items: the engine, the journal (opened, with its run
/// header), what the journal said before this run (empty for a fresh run; with
/// `config.resume` it decides which items are skipped), how the run behaves, the caller's stop
/// request (the CLI fires it on the first Ctrl-C), and the display (a snapshot on every outcome
/// and every `config.progress_every`).
pub struct RunContext<'a, S> {
    pub engine: Arc<Engine<S>>,
    pub journal: &'a Journal,
    pub previous: &'a JournalState,
    pub config: &'a ExecConfig,
    pub cancel: CancellationToken,
    pub progress: &'a dyn Progress,
    /// A halt decided outside the run (the quota store unreachable), if the caller has one.
    pub halt: Option<ExternalHalt>,
    /// With `--waves`: the waves, each gated before the next starts.
    pub rollout: Option<&'a Rollout>,
}

pub use super::halt::ExternalHalt;

/// Everything a run produced, held in memory (see [`run`]).
#[derive(Debug, Clone)]
pub struct Applied {
    pub record: RunRecord,
    /// In input order.
    pub items: Vec<ItemResult>,
}

/// Applies `items` all in memory: [`run_stream`] over the list, its outcomes collected in input
/// order.
pub async fn run<S: TaskOps>(items: Vec<WorkItem>, ctx: &RunContext<'_, S>) -> Applied {
    let total = items.len();
    let to_send = items
        .iter()
        .filter(|it| it.is_sent(ctx.previous, ctx.config.resume))
        .count() as u64;
    let mut results: Vec<Option<ItemResult>> = vec![None; total];
    let mut keep = |at: usize, s: Settled| {
        if let Some(slot) = results.get_mut(at) {
            *slot = Some(s.item);
        }
        Ok(())
    };
    let work = Work { total, to_send };
    let record = run_stream(items.into_iter().map(Ok), work, &mut keep, ctx).await;
    Applied {
        record,
        items: results.into_iter().flatten().collect(),
    }
}

/// Applies a stream of items, holding only the items in flight.
///
/// `items` are read one at a time as there is room to send (input order); `work` says how many
/// there are and how many will be sent. Each outcome goes to `sink` with its position, once, when
/// it is final; nothing per item is kept here (a million-item run is reported from what the sink
/// wrote). Every sent item's outcome is journaled before it is counted, and a run-end record is
/// appended at the end. Items decided before the run ([`WorkItem::unsent`]) are settled in place
/// and never sent.
pub async fn run_stream<'s, S: TaskOps>(
    items: impl Iterator<Item = std::io::Result<WorkItem>>,
    work: Work,
    sink: &'s mut Sink<'s>,
    ctx: &RunContext<'_, S>,
) -> RunRecord {
    let mut d = Dispatch::new(items, work, sink, ctx);
    ctx.progress.start(&d.snapshot());
    if let Some(r) = ctx.rollout
        && let Some((wave, members)) = &r.finish_rollback
    {
        // A failed wave's rollback left unfinished by a killed run: finish it, send nothing else.
        let end = r.finish_rollback(wave, members, &d.gate_context()).await;
        d.wave_ended(end);
    }
    d.feed_next();
    let sem = Arc::new(Semaphore::new(ctx.config.concurrency.max(1)));
    let every = ctx.config.progress_every.max(Duration::from_millis(10));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if let Some(message) = d.rec.take_failure() {
            d.halt(HaltReason::Journal { message });
        }
        let can_dispatch = d.outcome.is_none() && d.next.is_some() && !d.at_wave_end();
        if !can_dispatch && d.set.is_empty() {
            if d.outcome.is_none()
                && let Some(r) = ctx.rollout
                && d.wave <= r.waves()
            {
                // Every item of the wave has settled: its gate decides whether the next starts.
                let wave = d.wave;
                let (members, sent) = (std::mem::take(&mut d.members), d.sent_in_wave);
                let end = r.after_wave(wave, members, sent, &d.gate_context()).await;
                d.wave_ended(end);
                continue;
            }
            break;
        }
        let halted = async {
            match &ctx.halt {
                Some(h) => h.token.cancelled().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = halted, if d.outcome.is_none() => {
                if let Some(h) = &ctx.halt {
                    d.halt((h.reason)());
                }
            }
            _ = ctx.cancel.cancelled(), if d.outcome.is_none() => {
                d.outcome = Some(Outcome::Interrupted);
                d.runner.stop.cancel();
            }
            Some(joined) = d.set.join_next_with_id(), if !d.set.is_empty() => d.joined(joined),
            permit = sem.clone().acquire_owned(), if can_dispatch => {
                let Ok(permit) = permit else { break };
                d.dispatch(permit);
            }
            _ = tick.tick() => {
                ctx.engine.refresh_rate(Operation::Update);
                ctx.progress.update(&d.snapshot());
            }
        }
    }
    d.finish().await
}

/// The next item to send: its position, the item, its hash.
type Next = (usize, WorkItem, String);

/// The coordinator's state while a run goes.
struct Dispatch<'c, 's, S, I> {
    ctx: &'c RunContext<'c, S>,
    runner: Arc<ItemRunner<S>>,
    feed: Feed<I>,
    rec: Recorder<'s>,
    work: Work,
    mark: Mark,
    next: Option<Next>,
    set: JoinSet<Done>,
    /// The items in flight: position, and the outcome to report if its task ends abnormally.
    running: HashMap<tokio::task::Id, (usize, ItemResult)>,
    outcome: Option<Outcome>,
    /// With `--waves`: the wave being sent (1-based; past the last once all are gated), what it
    /// applied in this run, how many of its items this run sent, and the gates so far.
    wave: u32,
    members: Vec<Member>,
    sent_in_wave: usize,
    waves: Vec<crate::outcome::WaveResult>,
}

impl<'c, 's, S: TaskOps, I: Iterator<Item = std::io::Result<WorkItem>>> Dispatch<'c, 's, S, I> {
    fn new(items: I, work: Work, sink: &'s mut Sink<'s>, ctx: &'c RunContext<'c, S>) -> Self {
        let runner = Arc::new(ItemRunner {
            engine: ctx.engine.clone(),
            journal: ctx.journal.clone(),
            run_id: ctx.journal.run_id(),
            stop: ctx.cancel.child_token(),
        });
        Dispatch {
            mark: Mark::now(&ctx.engine),
            ctx,
            runner,
            feed: Feed {
                items: items.enumerate(),
                ended: false,
            },
            rec: Recorder::new(sink),
            work,
            next: None,
            set: JoinSet::new(),
            running: HashMap::new(),
            outcome: None,
            wave: 1,
            members: Vec::new(),
            sent_in_wave: 0,
            waves: Vec::new(),
        }
    }

    /// The next item to send belongs to a later wave than the one being sent.
    fn at_wave_end(&self) -> bool {
        match (self.ctx.rollout, &self.next) {
            (Some(r), Some((at, ..))) => *at >= r.end_of(self.wave),
            _ => false,
        }
    }

    fn gate_context(&self) -> GateContext<'_, S> {
        GateContext {
            runner: &self.runner,
            cancel: &self.ctx.cancel,
            halt: self.ctx.halt.as_ref(),
            progress: self.ctx.progress,
            concurrency: self.ctx.config.concurrency,
        }
    }

    /// A wave's gate has spoken: keep its result; stop the run, or go on with the next wave.
    fn wave_ended(&mut self, end: WaveEnd) {
        let index = end.result.index;
        self.waves.push(end.result);
        self.sent_in_wave = 0;
        self.members.clear();
        if end.stop.is_none() {
            self.wave = index + 1;
        }
        if let Some(outcome) = end.stop
            && self.outcome.is_none()
        {
            self.outcome = Some(outcome);
            self.runner.stop.cancel();
        }
    }

    /// Reads up to the next item to send (settling those not sent on the way).
    fn feed_next(&mut self) {
        let (previous, resume) = (self.ctx.previous, self.ctx.config.resume);
        self.next = self
            .feed
            .next(previous, resume, &mut self.rec, false, self.ctx.rollout);
    }

    /// Stops dispatching for `reason` (the first reason stands).
    fn halt(&mut self, reason: HaltReason) {
        if self.outcome.is_none() {
            self.outcome = Some(Outcome::Halted {
                halt_reason: reason,
            });
            self.runner.stop.cancel();
        }
    }

    /// Sends the waiting item as its own task, and reads the next.
    fn dispatch(&mut self, permit: OwnedSemaphorePermit) {
        let Some((at, item, hash)) = self.next.take() else {
            return;
        };
        let pending = item.pending_result(hash.clone());
        self.sent_in_wave += 1;
        let runner = self.runner.clone();
        let handle = self.set.spawn(async move {
            let done = runner.item(item, hash).await;
            drop(permit);
            done
        });
        self.running.insert(handle.id(), (at, pending));
        self.feed_next();
    }

    /// An item task ended: settle its outcome (it made it durable first), and halt if it says so.
    fn joined(&mut self, joined: Result<(tokio::task::Id, Done), tokio::task::JoinError>) {
        let (id, done) = match joined {
            Ok(x) => x,
            Err(e) => {
                let Some((at, mut r)) = self.running.remove(&e.id()) else {
                    return;
                };
                r.status = ItemStatus::Failed;
                r.error_message = Some(format!(
                    "internal error: the item's task ended abnormally ({e})"
                ));
                self.rec.settle(
                    at,
                    Settled {
                        item: r,
                        sent: None,
                    },
                );
                return;
            }
        };
        let Some((at, _)) = self.running.remove(&id) else {
            return;
        };
        let Done {
            result,
            sent,
            systemic,
            journal_error,
        } = done;
        let (code, message) = (result.error_code.clone(), result.error_message.clone());
        if self.ctx.rollout.is_some()
            && let Some(m) = Member::from_result(&result)
        {
            self.members.push(m);
        }
        self.rec.settle(at, Settled { item: result, sent });
        if let Some(message) = journal_error {
            self.halt(HaltReason::Journal { message });
        }
        let (failed, policy) = (self.rec.tally.failed, self.ctx.config.halt);
        if systemic {
            self.halt(HaltReason::Systemic {
                code: code.unwrap_or_default(),
                message: message.unwrap_or_default(),
            });
        } else if policy.exceeded(failed, self.work.to_send) {
            self.halt(HaltReason::MaxFailures {
                failed,
                policy: policy.to_string(),
            });
        }
        self.ctx.progress.update(&self.snapshot());
    }

    /// What the display shows now.
    fn snapshot(&self) -> Snapshot {
        let engine = &self.ctx.engine;
        let c = engine.counts().since(&self.mark.calls);
        let t = &self.rec.tally;
        Snapshot {
            total: self.work.total as u64,
            done: t.done(),
            succeeded: t.succeeded + t.already_applied,
            failed: t.failed,
            skipped: t.skipped + t.noop + t.blocked + t.missing,
            retrying: engine.retrying(),
            rate: engine.pacers().rate(Operation::Update),
            elapsed: self.mark.start.elapsed(),
            sent_done: t.succeeded + t.failed + t.stale + t.already_applied,
            calls: c.busiest(),
            retries: c.retries,
            throttled: c.throttled(),
            quota: engine.pacers().rate(Operation::Update) / PACE_HEADROOM,
            wave: self
                .ctx
                .rollout
                .map(|r| (self.wave.min(r.waves()), r.waves())),
        }
    }

    /// Halted or interrupted with items left: the rest are settled as they are, those to send as
    /// not attempted. Then the run's record, and its end in the journal.
    async fn finish(mut self) -> RunRecord {
        if let Some((at, item, hash)) = self.next.take() {
            let r = item.pending_result(hash);
            self.rec.settle(
                at,
                Settled {
                    item: r,
                    sent: None,
                },
            );
        }
        let (previous, resume) = (self.ctx.previous, self.ctx.config.resume);
        let rollout = self.ctx.rollout;
        self.feed
            .next(previous, resume, &mut self.rec, true, rollout);
        if let Some(message) = self.rec.take_failure() {
            self.halt(HaltReason::Journal { message });
        }
        let outcome = self.outcome.take().unwrap_or(Outcome::Completed);
        let engine = &self.ctx.engine;
        let total = self.work.total as u64;
        let mut record = self.mark.finish(engine, outcome, total, self.rec.tally);
        record.waves = std::mem::take(&mut self.waves);
        if let Some(r) = self.ctx.rollout {
            let next = record.waves.last().map_or(1, |w| w.index + 1);
            record.waves.extend(r.not_reached(next));
        }
        let end = Record::End(RunEnd {
            run_id: self.runner.run_id.clone(),
            outcome: record.outcome.name().to_string(),
            finished_at: now_rfc3339(),
        });
        // The end of the run is a journal record like any other: one that cannot be written ends
        // the run halted, saying so (a halt already decided keeps its reason).
        if let Err(e) = self.ctx.journal.append(&end)
            && record.outcome.halt_reason().is_none()
        {
            record.outcome = Outcome::Halted {
                halt_reason: HaltReason::Journal {
                    message: e.to_string(),
                },
            };
        }
        self.ctx.progress.finish(&self.snapshot());
        record
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

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
        resume: super::journal::ResumeMode,
        rec: &mut Recorder<'_>,
        not_sent: bool,
        rollout: Option<&Rollout>,
    ) -> Option<Next> {
        while !self.ended {
            let Some((at, it)) = self.items.next() else {
                self.ended = true;
                break;
            };
            let mut it = match it {
                Ok(it) => it,
                Err(e) => {
                    rec.unreadable(&e);
                    self.ended = true;
                    break;
                }
            };
            if let Some(r) = rollout {
                it.wave = Some(r.wave_of(at));
            }
            let hash = update_hash(&it.update);
            let mut r = it.pending_result(hash);
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
            rec.settle(
                at,
                Settled {
                    item: r,
                    sent: None,
                },
            );
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::api::error::ApiError;
    use crate::api::models::{ListResponse, TaskState};
    use crate::apply::journal::{JournalWriter, RunHeader};
    use crate::apply::ops::Sent;
    use crate::apply::progress::Silent;
    use crate::model::{Region, Update};
    use crate::pace::Pacers;
    use crate::plan::diff::Step;

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

    /// A journal in `dir` whose `fail`-th record after the header cannot be written (`None`:
    /// every record is written).
    fn journal(dir: &std::path::Path, fail: Option<usize>) -> Journal {
        let w = JournalWriter::open(&dir.join("j.jsonl"), &RunHeader::now(&[])).unwrap();
        Journal::new(match fail {
            Some(n) => w.fail_write(n),
            None => w,
        })
    }

    fn item(i: usize) -> WorkItem {
        WorkItem::new(Update::new(format!("t{i}"), Region::CnShanghai), "m.csv:2")
    }

    /// Runs `items` (all to be sent) against tasks that always succeed.
    async fn go(
        items: impl Iterator<Item = std::io::Result<WorkItem>>,
        total: usize,
        journal: &Journal,
        kept: &mut Vec<(usize, ItemStatus)>,
    ) -> RunRecord {
        let config = ExecConfig::new(100.0);
        let engine = Arc::new(Engine::new(Arc::new(Ok200), Pacers::clock(100.0), &config));
        let mut sink = |at: usize, s: Settled| {
            kept.push((at, s.item.status));
            Ok(())
        };
        let ctx = RunContext {
            engine,
            journal,
            previous: &JournalState::default(),
            config: &config,
            cancel: CancellationToken::new(),
            halt: None,
            progress: &Silent,
            rollout: None,
        };
        let work = Work {
            total,
            to_send: total as u64,
        };
        run_stream(items, work, &mut sink, &ctx).await
    }

    /// Items are read as they are sent; one that cannot be read back halts the run (the
    /// outcomes of those read before it kept), and nothing after it is read.
    #[tokio::test(start_paused = true)]
    async fn an_item_that_cannot_be_read_back_halts_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal(dir.path(), None);
        let read = AtomicUsize::new(0);
        let items = (0..6).map(|i| {
            read.fetch_add(1, Ordering::SeqCst);
            if i == 3 {
                Err(std::io::Error::other("disk gone"))
            } else {
                Ok(item(i))
            }
        });
        let mut kept: Vec<(usize, ItemStatus)> = Vec::new();
        let record = go(items, 6, &journal, &mut kept).await;
        let Some(HaltReason::Journal { message }) = record.outcome.halt_reason() else {
            panic!("{:?}", record.outcome)
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
        assert_eq!((record.tally.not_attempted, record.tally.failed), (3, 0));
        assert_eq!(
            read.load(Ordering::SeqCst),
            4,
            "nothing read after the failure"
        );
    }

    /// The journal record of a stop → update → restart step that cannot be written halts the run
    /// with the file and the OS error (README: a journal failure halts the run), though the item
    /// still finishes its steps (its task is not left stopped) and its own record is written.
    #[tokio::test(start_paused = true)]
    async fn a_step_record_the_journal_refuses_halts_the_run() {
        let dir = tempfile::tempdir().unwrap();
        // Write 0 is the first item's intent (`begin`), write 1 its stop step; its update and
        // restart steps, its item record and everything after are written.
        let journal = journal(dir.path(), Some(1));
        let mut first = item(0);
        first.steps = vec![Step::Stop, Step::Update, Step::Restart];
        let items = std::iter::once(Ok(first)).chain((1..50).map(|i| Ok(item(i))));
        let mut kept = Vec::new();
        let record = go(items, 50, &journal, &mut kept).await;
        let Some(HaltReason::Journal { message }) = record.outcome.halt_reason() else {
            panic!("{:?}", record.outcome)
        };
        assert!(message.contains("j.jsonl"), "{message}");
        assert!(message.contains("os error 28"), "{message}");
        assert!(kept.contains(&(0, ItemStatus::Succeeded)), "{kept:?}");
        assert!(record.tally.not_attempted > 0, "dispatching stopped");
        let text = std::fs::read_to_string(dir.path().join("j.jsonl")).unwrap();
        assert!(!text.contains("\"step\":\"stop\""), "{text}");
        assert!(text.contains("\"step\":\"restart\""), "{text}");
    }

    /// Reports count only what is durable (issue 22 item 8): an outcome whose record the journal
    /// refused is not counted succeeded; it is failed, saying so, and the run halts.
    #[tokio::test(start_paused = true)]
    async fn an_outcome_the_journal_refuses_is_not_counted_succeeded() {
        let dir = tempfile::tempdir().unwrap();
        // Write 2 is the third item's record.
        let journal = journal(dir.path(), Some(2));
        let mut kept = Vec::new();
        let record = go((0..5).map(|i| Ok(item(i))), 5, &journal, &mut kept).await;
        assert!(matches!(
            record.outcome.halt_reason(),
            Some(HaltReason::Journal { .. })
        ));
        let text = std::fs::read_to_string(dir.path().join("j.jsonl")).unwrap();
        let durable = text
            .lines()
            .filter(|l| l.contains("\"type\":\"item\"") && l.contains("\"succeeded\""))
            .count() as u64;
        assert_eq!(record.tally.succeeded, durable, "{text}");
        assert!(kept.contains(&(2, ItemStatus::Failed)), "{kept:?}");
        assert_eq!(
            record.tally.succeeded + record.tally.failed + record.tally.not_attempted,
            5
        );
    }

    /// The run-end record is a journal record like the others: one that cannot be written ends
    /// the run halted, saying why, instead of a completed run whose journal never says so.
    #[tokio::test(start_paused = true)]
    async fn a_run_end_the_journal_refuses_halts_the_run() {
        let dir = tempfile::tempdir().unwrap();
        // Writes 0 and 1 are the two items' records; write 2 is the run's end.
        let journal = journal(dir.path(), Some(2));
        let mut kept = Vec::new();
        let record = go((0..2).map(|i| Ok(item(i))), 2, &journal, &mut kept).await;
        assert_eq!(record.tally.succeeded, 2);
        let Some(HaltReason::Journal { message }) = record.outcome.halt_reason() else {
            panic!("{:?}", record.outcome)
        };
        assert!(message.contains("os error 28"), "{message}");
        let text = std::fs::read_to_string(dir.path().join("j.jsonl")).unwrap();
        assert!(!text.contains("\"outcome\":"), "{text}");
    }

    /// With every record written, the same run completes: the halts above are the journal's.
    #[tokio::test(start_paused = true)]
    async fn a_run_whose_records_are_all_written_completes() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal(dir.path(), None);
        let mut first = item(0);
        first.steps = vec![Step::Stop, Step::Update, Step::Restart];
        let items = std::iter::once(Ok(first)).chain((1..3).map(|i| Ok(item(i))));
        let mut kept = Vec::new();
        let record = go(items, 3, &journal, &mut kept).await;
        assert_eq!(record.outcome, Outcome::Completed);
        assert_eq!(record.tally.succeeded, 3);
    }
}
