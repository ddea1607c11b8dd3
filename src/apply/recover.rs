//! Finishing what a crashed run left half done. A stop → update → restart item journals an intent
//! (`begin`) before its stop and a record per step; a run killed between them can leave its task
//! stopped with nothing in the journal to say the item ended. Before planning, every run reads
//! those unfinished items ([`Tracker`], fed by [`super::journal::JournalState`]), looks at each
//! task live and restarts the ones found stopped ([`recover`]), each as a journaled step, so the
//! plan that follows sees the task as it runs and nothing is left stopped unnoticed.
//!
//! The restart is right whichever step the crash cut: if the update never took, the task runs
//! its old configuration again and the plan sends the update anew; if it took, the task runs its
//! new configuration and the plan finds it up to date.

use rustc_hash::FxHashMap;
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::journal::{ItemRecord, JournalError, JournalWriter, Record, StepRecord};
use super::ops::TaskOps;
use crate::api::operation::Operation;
use crate::model::{Region, TaskStatus};

/// The step recorded before a multi-call item's stop is sent: after a crash the task may be
/// stopped even if the stop's own record was lost.
pub const BEGIN: &str = "begin";
/// A task found stopped by an unfinished item, restarted before the next run planned.
pub const RECOVER_RESTART: &str = "recover-restart";
/// A task of an unfinished item found not stopped (or gone): nothing to do, the item is closed.
pub const RECOVER_CHECKED: &str = "recover-checked";

/// Steps after which a task stopped for an item runs again (or was looked at and needs nothing).
const CLOSING: [&str; 4] = [
    "restart",
    "rollback-restart",
    RECOVER_RESTART,
    RECOVER_CHECKED,
];

/// A multi-call item a run began and never finished: its task may be left stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub task_id: String,
    /// Absent in journals written before steps carried it: every region is looked in.
    pub region: Option<Region>,
    /// The run that began it.
    pub run_id: String,
}

/// Follows a journal's records in order and keeps the items begun (an intent or a stop) and not
/// closed by a restart, a rollback, a recovery or an item record. Only items in flight are held.
#[derive(Debug, Default)]
pub struct Tracker {
    open: FxHashMap<String, Unfinished>,
    /// Order of first appearance, so recovery goes through them as the run did.
    order: Vec<String>,
}

impl Tracker {
    pub fn step(&mut self, s: &StepRecord) {
        if s.step == BEGIN || s.step == "stop" {
            let entry = Unfinished {
                task_id: s.task_id.clone(),
                region: s.region,
                run_id: s.run_id.clone(),
            };
            if self.open.insert(s.task_id.clone(), entry).is_none() {
                self.order.push(s.task_id.clone());
            }
        } else if s.ok && CLOSING.contains(&s.step.as_str()) {
            self.open.remove(&s.task_id);
        }
        self.compact();
    }

    pub fn item(&mut self, it: &ItemRecord) {
        self.open.remove(&it.item.task_id);
        self.compact();
    }

    /// Keeps `order` from growing with every item of a long journal.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.open.len() + 1024 {
            self.order.retain(|t| self.open.contains_key(t));
        }
    }

    pub fn finish(mut self) -> Vec<Unfinished> {
        let mut seen = rustc_hash::FxHashSet::default();
        self.order
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .filter_map(|t| self.open.remove(&t))
            .collect()
    }
}

/// What recovery did with one unfinished item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// Found stopped, restarted.
    Restarted,
    /// Found in this state (not stopped): nothing to do.
    NotStopped(TaskStatus),
    /// The task does not exist (any more).
    Missing,
    /// Could not be read or restarted: still unfinished, tried again by the next run.
    Failed(String),
}

/// What recovery did, in counts, for the run's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub restarted: usize,
    pub checked: usize,
    pub failed: usize,
}

/// Looks at each unfinished item's task and restarts it if it is stopped, journaling what was
/// done as a step of the current run (`journal`). `say` is told each outcome. A journal write
/// failure ends recovery with the error (the run must not start without its records).
pub async fn recover<S: TaskOps>(
    engine: &Engine<S>,
    journal: &mut JournalWriter,
    unfinished: &[Unfinished],
    mut say: impl FnMut(&Unfinished, &Recovered),
) -> Result<Recovery, JournalError> {
    let mut counts = Recovery::default();
    for u in unfinished {
        let (outcome, region) = recover_one(engine, u).await;
        say(u, &outcome);
        let (step, ok) = match &outcome {
            Recovered::Restarted => (RECOVER_RESTART, true),
            Recovered::NotStopped(_) | Recovered::Missing => (RECOVER_CHECKED, true),
            Recovered::Failed(_) => (RECOVER_RESTART, false),
        };
        match outcome {
            Recovered::Restarted => counts.restarted += 1,
            Recovered::Failed(_) => counts.failed += 1,
            _ => counts.checked += 1,
        }
        journal.append(&Record::Step(StepRecord {
            run_id: journal.run_id().to_string(),
            task_id: u.task_id.clone(),
            region: region.or(u.region),
            step: step.to_string(),
            ok,
            error_code: None,
            request_id: None,
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }))?;
    }
    Ok(counts)
}

/// Reads the task (in its region, or in each region when the record has none) and restarts it if
/// stopped. Retried like any call; a run being stopped does not cut it short (a few calls).
async fn recover_one<S: TaskOps>(
    engine: &Engine<S>,
    u: &Unfinished,
) -> (Recovered, Option<Region>) {
    let never = CancellationToken::new();
    let regions: Vec<Region> = match u.region {
        Some(r) => vec![r],
        None => Region::ALL.to_vec(),
    };
    let ops = engine.ops();
    let (mut attempts, mut latency) = (0u32, None);
    for region in regions {
        let id = u.task_id.as_str();
        let read = engine
            .call(
                Operation::Describe,
                &never,
                &mut attempts,
                &mut latency,
                || ops.describe(id, region),
            )
            .await;
        let state = match read {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(f) => return (Recovered::Failed(failure_text(f)), Some(region)),
        };
        let status = TaskStatus::from_code(state.task_status);
        if status != Some(TaskStatus::Stopped) {
            let shown = status.unwrap_or(TaskStatus::Exited);
            return (Recovered::NotStopped(shown), Some(region));
        }
        let restart = engine
            .call(
                Operation::Restart,
                &never,
                &mut attempts,
                &mut latency,
                || ops.restart(id, region),
            )
            .await;
        return match restart {
            Ok(_) => (Recovered::Restarted, Some(region)),
            Err(f) => (Recovered::Failed(failure_text(f)), Some(region)),
        };
    }
    (Recovered::Missing, None)
}

fn failure_text(f: super::engine::Failure) -> String {
    match f.into_error() {
        Some(e) => format!("{}: {}", e.code(), e.message()),
        None => "stopped before it was sent".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ItemResult;

    fn step(run: &str, task: &str, name: &str, ok: bool) -> StepRecord {
        StepRecord {
            run_id: run.into(),
            task_id: task.into(),
            region: Some(Region::CnShanghai),
            step: name.into(),
            ok,
            error_code: None,
            request_id: None,
            at: String::new(),
        }
    }

    #[test]
    fn begun_and_not_closed_is_unfinished() {
        let mut t = Tracker::default();
        // a: finished normally; b: stopped, update done, crash; c: intent only (stop's answer
        // lost); d: stopped, update failed, rollback restart failed, item record written;
        // e: closed by a later recovery.
        for (task, name, ok) in [
            ("a", BEGIN, true),
            ("a", "stop", true),
            ("a", "update", true),
            ("a", "restart", true),
            ("b", BEGIN, true),
            ("b", "stop", true),
            ("b", "update", true),
            ("c", BEGIN, true),
            ("d", BEGIN, true),
            ("d", "stop", true),
            ("d", "update", false),
            ("d", "rollback-restart", false),
            ("e", BEGIN, true),
            ("e", "stop", true),
            ("e", "restart", false),
            ("e", RECOVER_RESTART, false),
            ("e", RECOVER_RESTART, true),
        ] {
            t.step(&step("r1", task, name, ok));
        }
        t.item(&ItemRecord {
            run_id: "r1".into(),
            item: ItemResult::pending("d".into(), "m:1".into(), "h".into()),
            at: String::new(),
        });
        let left: Vec<_> = t.finish().into_iter().map(|u| u.task_id).collect();
        assert_eq!(left, ["b", "c"]);
    }
}
