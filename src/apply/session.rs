//! One `apply` session after the manifests are loaded: confirm, open the journal, run, report.
//!
//! Kept apart from the CLI so it is driven in tests with fake task operations, and shared by
//! `apply` on manifests and `apply` on a saved plan: both produce [`WorkItem`]s and call [`execute`].

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::executor::{Engine, ExecConfig, TaskOps, WorkItem, run};
use super::journal::{
    Journal, JournalError, JournalState, JournalWriter, LockedJournal, ResumeMode, RunHeader,
    update_hash,
};
use super::progress::Progress;
use crate::api::operation::Operation;
use crate::report::{Format, Report, ReportError};

/// What the session needs besides the items.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub manifests: Vec<PathBuf>,
    pub journal: PathBuf,
    pub reports: Vec<(PathBuf, Format)>,
    pub config: ExecConfig,
}

/// A session could not run or finish its paperwork.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// The confirmation decision, a pure function of the flags and the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// `--yes`: go.
    Proceed,
    /// Ask on the terminal.
    Ask,
    /// Standard input is not a terminal and `--yes` was not given: refuse rather than guess.
    Refuse,
}

pub fn confirm_mode(yes: bool, stdin_is_terminal: bool) -> Confirm {
    match (yes, stdin_is_terminal) {
        (true, _) => Confirm::Proceed,
        (false, true) => Confirm::Ask,
        (false, false) => Confirm::Refuse,
    }
}

/// Reads a yes/no answer; anything but `y`/`yes` is no.
pub fn ask(prompt: &str, input: &mut impl BufRead, out: &mut impl Write) -> bool {
    let _ = write!(out, "{prompt} [y/N] ");
    let _ = out.flush();
    let mut line = String::new();
    if input.read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Reads the journal when resuming; a fresh run needs nothing from it.
pub fn previous_state(
    mode: ResumeMode,
    journal: &std::path::Path,
) -> Result<JournalState, JournalError> {
    match mode {
        ResumeMode::Fresh => Ok(JournalState::default()),
        _ => JournalState::read(journal),
    }
}

/// The summary shown before asking (and printed with `--yes` unless quiet), after the plan's
/// preview when there is one. `pace` is the Update pace in calls/s.
pub fn summary_text(
    items: &[WorkItem],
    previous: &JournalState,
    opts: &SessionOptions,
    target: &str,
    pace: f64,
) -> String {
    let c = &opts.config;
    let sendable: Vec<&WorkItem> = items.iter().filter(|i| i.unsent.is_none()).collect();
    let skipped = sendable
        .iter()
        .filter(|i| {
            previous
                .skip(c.resume, &i.update.task_id, &update_hash(&i.update))
                .is_some()
        })
        .count();
    let unsent = items.len() - sendable.len();
    let to_send = sendable.len() - skipped;
    let secs = to_send as f64 / pace.max(0.01);
    let mut s = format!(
        "{} update(s) from {} manifest(s) to {target}: {to_send} to send",
        items.len(),
        opts.manifests.len()
    );
    if unsent > 0 {
        s.push_str(&format!(", {unsent} not sent (see the plan above)"));
    }
    if skipped > 0 {
        s.push_str(&format!(", {skipped} skipped (journal)"));
    }
    s.push_str(&format!(
        "\nupdates paced at {pace} calls/s, each operation on its own quota (concurrency {}, up to {} attempts each, halt on {}): at least {}\njournal: {}",
        c.concurrency,
        c.retry.max_attempts,
        c.halt,
        super::progress::human_duration(std::time::Duration::from_secs_f64(secs)),
        opts.journal.display()
    ));
    s
}

/// The Update pace of an engine, for [`summary_text`].
pub fn update_pace<S: TaskOps>(engine: &Engine<S>) -> f64 {
    engine.pacers().rate(Operation::Update)
}

/// Starts the journal (locked by the caller before planning), runs the items, returns the
/// report. The caller has confirmed already, and writes the reports: a report that cannot be
/// written must not hide the run's outcome.
///
/// `on_journal` receives the journal handle before the run starts, so the CLI's second-Ctrl-C
/// handler can exit between two records.
// Each argument is a distinct input of the run; bundling them would only rename the list.
#[allow(clippy::too_many_arguments)]
pub async fn execute<S: TaskOps>(
    items: Vec<WorkItem>,
    previous: &JournalState,
    opts: &SessionOptions,
    journal: LockedJournal,
    engine: Arc<Engine<S>>,
    cancel: CancellationToken,
    progress: &dyn Progress,
    on_journal: impl FnOnce(&Journal),
) -> Result<Report, SessionError> {
    let header = RunHeader::now(&opts.manifests);
    let journal = Journal::with_group_commit(JournalWriter::start(journal, &header)?);
    on_journal(&journal);
    let result = run(
        items,
        engine,
        &journal,
        previous,
        &opts.config,
        cancel,
        progress,
    )
    .await;
    Ok(Report::new(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_rules() {
        assert_eq!(confirm_mode(true, false), Confirm::Proceed);
        assert_eq!(confirm_mode(false, true), Confirm::Ask);
        assert_eq!(confirm_mode(false, false), Confirm::Refuse);
        let mut out = Vec::new();
        assert!(ask("go?", &mut "yes\n".as_bytes(), &mut out));
        assert!(ask("go?", &mut " Y \n".as_bytes(), &mut out));
        assert!(!ask("go?", &mut "\n".as_bytes(), &mut out));
        assert!(!ask("go?", &mut "".as_bytes(), &mut out));
        assert!(String::from_utf8(out).unwrap().starts_with("go? [y/N] "));
    }
}
