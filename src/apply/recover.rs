//! Finishing what a crashed run left half done. A stop → update → restart item journals an intent
//! (`begin`) before its stop and a record per step; a run killed between them can leave its task
//! stopped with nothing in the journal to say the item ended. Before planning, every run reads
//! those unfinished items ([`super::unfinished`], kept by [`super::journal::JournalState`]), looks at each
//! task live and restarts the ones found stopped ([`recover`]), each as a journaled step, so the
//! plan that follows sees the task as it runs and nothing is left stopped unnoticed.
//!
//! The restart is right whichever step the crash cut: if the update never took, the task runs
//! its old configuration again and the plan sends the update anew; if it took, the task runs its
//! new configuration and the plan finds it up to date.

use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::journal::{JournalError, JournalWriter, Record, StepRecord};
use super::ops::TaskOps;
pub use super::unfinished::{BEGIN, RECOVER_CHECKED, RECOVER_RESTART, Unfinished};
use crate::api::operation::Operation;
use crate::model::{Region, TaskStatus};

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

/// What `diff` and `plan` say of a crash: the tasks of `items` that an unfinished item of the
/// manifests' default journal (the one `apply` on `files` writes) may have left stopped — stopped
/// now, with a begun stop → update → restart the journal never closed. `None` when there is none
/// (or no journal to read: standard input, a journal missing or unreadable).
pub fn left_stopped(
    files: &[String],
    items: &[crate::plan::file::PlanItem],
) -> Option<LeftStopped> {
    let first = files.first().filter(|f| f.as_str() != "-")?;
    let journal = super::journal::default_path(std::path::Path::new(first));
    let st = super::journal::JournalState::read(&journal).ok()?;
    if st.unfinished.is_empty() {
        return None;
    }
    let open: rustc_hash::FxHashSet<&str> =
        st.unfinished.iter().map(|u| u.task_id.as_str()).collect();
    let tasks: Vec<String> = items
        .iter()
        .filter(|i| open.contains(i.task_id.as_str()))
        .filter(|i| {
            i.live
                .as_ref()
                .and_then(|l| TaskStatus::from_code(l.task_status))
                == Some(TaskStatus::Stopped)
        })
        .map(|i| i.task_id.clone())
        .collect();
    (!tasks.is_empty()).then(|| LeftStopped {
        journal,
        tasks,
        command: format!("livebatch apply --resume {}", files.join(" ")),
    })
}

/// Tasks an interrupted `apply` left stopped, as `diff` and `plan` report them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeftStopped {
    pub journal: std::path::PathBuf,
    pub tasks: Vec<String>,
    /// The command that restarts them (and finishes the run).
    pub command: String,
}

impl LeftStopped {
    /// One line per task, then what to run.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for t in &self.tasks {
            s.push_str(&format!(
                "! {}: left STOPPED by an unfinished apply (journal {})\n",
                crate::text::escape(t),
                self.journal.display()
            ));
        }
        s.push_str(&format!(
            "{} task(s) left stopped by an interrupted apply; `{}` restarts them\n",
            self.tasks.len(),
            crate::text::escape(&self.command)
        ));
        s
    }
}
