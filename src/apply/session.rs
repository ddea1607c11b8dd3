//! One `apply` session after the manifests are loaded: confirm, open the journal, run, keep the
//! outcomes for the end (verify and the reports, which the caller assembles once).
//!
//! Kept apart from the CLI so it is driven in tests with fake task operations, and shared by
//! `apply` on manifests and `apply` on a saved plan: both produce [`WorkItem`]s and call [`execute`].

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::config::ExecConfig;
use super::dispatch::{RunContext, Work, run_stream};
use super::engine::Engine;
use super::item::WorkItem;
use super::journal::{
    Journal, JournalError, JournalState, JournalWriter, LockedJournal, ResumeMode, RunHeader,
};
use super::ops::TaskOps;
use super::progress::Progress;
use super::work::WorkCounts;
use crate::api::operation::Operation;
use crate::outcome::{RunRecord, Settled};
use crate::spill::{Spill, SpillWriter};

/// What the session needs besides the items.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub manifests: Vec<PathBuf>,
    pub journal: PathBuf,
    pub config: ExecConfig,
    /// Keep the update of every item that succeeded with its outcome, for `--verify`.
    pub keep_sent: bool,
}

/// A session could not run or finish its paperwork.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The run's outcomes could not be kept on disk for the reports.
    #[error("cannot keep the run's outcomes in a temporary file in {dir}: {source}")]
    Spill {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
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

/// Reads the journal when resuming. A fresh run needs only its unfinished multi-call items (to
/// recover them before planning), and nothing when there is no journal yet.
pub fn previous_state(
    mode: ResumeMode,
    journal: &std::path::Path,
) -> Result<JournalState, JournalError> {
    match mode {
        ResumeMode::Fresh => match JournalState::read(journal) {
            Ok(st) => {
                let mut only = JournalState::default();
                only.unfinished = st.unfinished;
                only.unreadable_lines = st.unreadable_lines;
                Ok(only)
            }
            Err(JournalError::Missing(_)) => Ok(JournalState::default()),
            Err(e) => Err(e),
        },
        _ => JournalState::read(journal),
    }
}

/// The summary shown before asking (and printed with `--yes` unless quiet), after the plan's
/// preview when there is one. `pace` is the Update pace in calls/s.
///
/// Risky work is named before it happens: the running streams a `--restart-running` run stops
/// and restarts are counted, with how long each is at least off air (its Update and Restart
/// calls, each waiting its pacer's slot, plus their round trips). What is not sent is counted by
/// kind, without pointing at a list that may show only its first items.
pub fn summary_text(counts: &WorkCounts, opts: &SessionOptions, target: &str, pace: f64) -> String {
    let c = &opts.config;
    let (unsent, skipped, to_send) = (counts.unsent, counts.skipped, counts.to_send());
    let secs = to_send as f64 / pace.max(0.01);
    let mut s = format!(
        "{} update(s) from {} manifest(s) to {target}: {to_send} to send",
        counts.total,
        opts.manifests.len()
    );
    if counts.restarts > 0 {
        s.push_str(&format!(
            " ({} of them running: stopped, updated, restarted)",
            counts.restarts
        ));
    }
    if unsent > 0 {
        let noop = unsent - counts.blocked - counts.missing;
        let kinds: Vec<String> = [
            (counts.blocked, "blocked"),
            (counts.missing, "missing"),
            (noop, "already up to date"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        s.push_str(&format!(", {unsent} not sent ({})", kinds.join(", ")));
    }
    if skipped > 0 {
        s.push_str(&format!(", {skipped} skipped (journal)"));
    }
    if counts.restarts > 0 {
        // Its Update and its Restart each wait one slot of their operation's pacer.
        let off_air = format!("{:.1} s", 2.0 / pace.max(0.01));
        s.push_str(&format!(
            "\nwarning: {} running stream(s) will be interrupted: each is off air from its stop until its restart, at least {off_air} plus two round trips",
            counts.restarts
        ));
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

/// What a session works with besides its items and its journal.
pub struct Session<'a, S> {
    /// How many items there are, and how many will be sent.
    pub counts: &'a WorkCounts,
    pub previous: &'a JournalState,
    pub opts: &'a SessionOptions,
    pub engine: Arc<Engine<S>>,
    pub cancel: CancellationToken,
    pub progress: &'a dyn Progress,
    /// A halt decided outside the run (the quota store unreachable).
    pub halt: Option<super::dispatch::ExternalHalt>,
    /// With `--waves`: the rollout (its record's run and rollout ids are set when the journal
    /// starts: a new rollout is named after its first run).
    pub rollout: Option<super::rollout::Rollout>,
}

/// What a session leaves for the end of the run: its record, and every item's outcome kept on
/// disk in input order (with the update sent, for `--verify`, when asked).
#[derive(Debug)]
pub struct Ran {
    pub record: RunRecord,
    pub outcomes: Spill<Settled>,
}

/// Starts the journal (locked by the caller before planning) and runs the items. The caller has
/// confirmed already, and assembles and writes the reports from what this returns.
///
/// The items are read one at a time; each outcome is kept on disk next to the journal, in an
/// anonymous temporary file, read back from there in input order.
///
/// `on_journal` receives the journal handle before the run starts, so the CLI's second-Ctrl-C
/// handler can exit between two records.
pub async fn execute<S: TaskOps>(
    items: impl Iterator<Item = std::io::Result<WorkItem>>,
    journal: LockedJournal,
    session: Session<'_, S>,
    on_journal: impl FnOnce(&Journal),
) -> Result<Ran, SessionError> {
    let opts = session.opts;
    let header = RunHeader::now(&opts.manifests);
    let mut writer = JournalWriter::start(journal, &header)?;
    let mut rollout = session.rollout;
    if let Some(r) = &mut rollout {
        r.record.run_id = header.run_id.clone();
        if r.record.rollout_id.is_empty() {
            r.record.rollout_id = header.run_id.clone();
        }
        // Before any item: a resume must know the waves even if the run dies at its first call.
        writer.append(&super::journal::Record::Rollout(r.record.clone()))?;
    }
    let journal = Journal::with_group_commit(writer);
    on_journal(&journal);
    let dir = spill_dir(&opts.journal);
    let spill_failed = |source| SessionError::Spill {
        dir: dir.to_path_buf(),
        source,
    };
    let mut outcomes = SpillWriter::new_in(dir).map_err(spill_failed)?;
    let keep_sent = opts.keep_sent;
    let mut keep = |at: usize, mut s: Settled| {
        if !keep_sent {
            s.sent = None;
        }
        outcomes.put(at, &s)
    };
    let work = Work {
        total: session.counts.total,
        to_send: session.counts.to_send() as u64,
    };
    let ctx = RunContext {
        engine: session.engine,
        journal: &journal,
        previous: session.previous,
        config: &opts.config,
        cancel: session.cancel,
        progress: session.progress,
        halt: session.halt,
        rollout: rollout.as_ref(),
    };
    let record = run_stream(items, work, &mut keep, &ctx).await;
    let outcomes = outcomes.finish().map_err(spill_failed)?;
    Ok(Ran { record, outcomes })
}

/// The directory of the run's temporary files: the journal's (the run writes there already).
pub fn spill_dir(journal: &std::path::Path) -> &std::path::Path {
    match journal.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    }
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
