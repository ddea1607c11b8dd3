//! `livebatch revert`: a run's journal → a manifest that puts back what the run changed, after
//! reading live state to leave out the tasks that moved since. Sends no update.

use std::path::PathBuf;

use super::connect::{check_qps, connect};
use super::error::{CliError, CliResult, call_failed};
use super::{ApiArgs, Global, shared_quota};
use crate::apply::config::ExecConfig;
use crate::exit;
use crate::model::ApiTime;
use crate::report::outputs::{self, Output};
use crate::revert::decide::{Decided, Moved, decide_all};
use crate::revert::image::{Images, TaskImage};
use crate::revert::live::Found;
use crate::revert::manifest::{self, Header, RunRef};
use crate::revert::runs::{self, Choice, JournalIndex};
use crate::revert::{JournalFile, RevertError};
use crate::text::escape;

const EXAMPLES: &str = "\
Examples:
  livebatch revert m.yaml.journal.jsonl -o undo.yaml
                                undo the journal's last run, as a manifest
  livebatch plan --restart-running undo.yaml
                                review it: what it would change, live
  livebatch apply --restart-running --waves 10,50%,100% undo.yaml
                                send it, a canary wave first
  livebatch revert j.jsonl --run 20270412T101500.000Z-4242 -o undo.yaml
                                undo one run of several (-v lists them)
  livebatch revert j.jsonl --include-moved -o undo.yaml
                                restore tasks changed since the run too

Which run: the journal's last run that applied something — with every run of
its rollout when it ran in waves (`apply --waves` and its resumes) — or the
one --run names. What it restores: for each task the run(s) changed, the
fields they changed, to their values before the run, read from the journal
(each applied item records the live values it replaced). Tasks a failed
wave already rolled back are not in it.

Moved tasks: revert reads live state first. A task whose live value of a
field the run changed is no longer what the run set (or that is gone) has
moved since the run: it is left out and listed, unless --include-moved. A
field that was empty before the run cannot be restored (the API cannot
clear a field): listed, left as it is.

Exit codes: 0 manifest written (moved tasks left out are listed, not an error)
            1 nothing to revert — the run applied nothing, was made with
              --no-refresh (no before-images), or every task moved, is gone
              or was rolled back — or a live read or the write failed, or
              the journal is in use by a running apply; nothing is written
            64 usage: --run names no run of the journal (its runs are
              listed), -o over the journal or not writable, --qps above
              10 without --quota-raised
            65 the file is not a journal (a manifest, a saved plan, a report)
            66 the journal does not exist or cannot be read
            77 credentials or permission";

/// Write a manifest that undoes a run recorded in a journal. Sends no update.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal of the run to undo: `<manifest>.journal.jsonl` beside the run's first
    /// manifest by default, or the file `apply --journal` named.
    #[arg(value_name = "JOURNAL")]
    pub journal: PathBuf,
    /// Revert this run alone (its ID as the journal records it; -v lists them, and an unknown ID
    /// lists them too) instead of the journal's last run that applied something.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Write the manifest to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Restore the tasks that moved since the run too (a field the run changed holds another
    /// value now): their later change is overwritten. Without it they are left out and listed.
    #[arg(long)]
    pub include_moved: bool,
    /// The account's quota in calls/s of each operation: the live reads (Describe,
    /// DescribeList) are paced at 97% of it.
    #[arg(long, default_value_t = 10.0, value_name = "N")]
    pub qps: f64,
    /// The account's quota was raised above the documented 10 calls/s: allow a larger --qps.
    #[arg(long)]
    pub quota_raised: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// A revert error with its exit code and message.
fn failed(e: RevertError) -> CliError {
    CliError {
        code: e.exit_code(),
        message: Some(e.to_string()),
    }
}

pub fn run(args: Args, g: &Global) -> CliResult {
    check_qps(args.qps, args.quota_raised).map_err(CliError::usage)?;
    crate::manifest::check_readable(&args.journal).map_err(CliError::no_input)?;
    // The output is checked before anything is read: a manifest that cannot be written (or
    // would overwrite the journal) is found out before the live reads, not after them.
    if let Some(out) = &args.output {
        outputs::check(
            &[Output::new("-o", out)],
            std::slice::from_ref(&args.journal),
        )
        .map_err(CliError::usage)?;
    }
    let (ix, choice, images) = read_journal(&args, g)?;
    say_chosen(&args, &ix, &choice, &images, g);
    if images.tasks.is_empty() {
        return Err(CliError::failure(format!(
            "nothing to revert: every task the run changed was already rolled back by its wave{}",
            if images.no_image.is_empty() {
                ""
            } else {
                " or recorded no before-image"
            }
        )));
    }
    let (live, endpoint) = read_live(&images.tasks, &args, g)?;
    let now = super::manifests::clock_now();
    let decided = decide_all(&images.tasks, &live, args.include_moved, now);
    say_left_out(&decided, args.include_moved, g);
    let all_gone = decided.moved.len() == images.tasks.len()
        && decided.moved.iter().all(|m| m.moved == Moved::Gone);
    if all_gone {
        return Err(CliError::failure(format!(
            "nothing to revert: none of the {} task(s) the run changed exists at {} — is this the \
             journal of a run against another account or endpoint (a --sandbox rehearsal's)? \
             nothing was written",
            images.tasks.len(),
            endpoint
        )));
    }
    if decided.updates.is_empty() {
        return Err(CliError::failure(nothing_to_revert(
            &decided,
            images.tasks.len(),
        )));
    }
    let header = header(&args, &ix, &choice, &images, &decided, now);
    let text = manifest::render(&decided.updates, &header).map_err(failed)?;
    write(&args, &text)?;
    if !g.quiet {
        let to = args.output.as_ref().map_or_else(
            || "standard output".to_string(),
            |p| p.display().to_string(),
        );
        eprintln!(
            "wrote {to}: {} task(s) to restore{}",
            decided.updates.len(),
            counts(&decided)
        );
        let file = header.file.as_deref().unwrap_or("FILE");
        let restart = if decided.restart_running {
            "--restart-running "
        } else {
            ""
        };
        eprintln!(
            "next: livebatch plan {restart}{file}   then   livebatch apply {restart}{file} \
             (--waves 10,50%,100% stages it)"
        );
    }
    Ok(exit::SUCCESS)
}

/// The journal read twice under its shared lock: its runs, the choice, the before-images.
fn read_journal(args: &Args, g: &Global) -> Result<(JournalIndex, Choice, Images), CliError> {
    let mut jf = JournalFile::open(&args.journal).map_err(failed)?;
    let ix = jf.index().map_err(failed)?;
    if ix.unreadable > 0 && !g.quiet {
        eprintln!(
            "note: journal {}: {} could not be read; going on with the {} run(s) intact",
            args.journal.display(),
            ix.unreadable_text(),
            ix.runs.len()
        );
    }
    let choice = runs::choose(&ix, &args.journal, args.run.as_deref()).map_err(failed)?;
    let images = jf.gather(&ix, &choice).map_err(failed)?;
    Ok((ix, choice, images))
}

/// Which run(s) are reverted and how they were chosen; what the journal says beside them.
fn say_chosen(args: &Args, ix: &JournalIndex, choice: &Choice, images: &Images, g: &Global) {
    if g.quiet {
        return;
    }
    if g.verbose > 0 {
        eprintln!("{}", ix.listing());
    }
    let runs: Vec<String> = choice
        .runs
        .iter()
        .map(|&i| runs::describe(&ix.runs[i]))
        .collect();
    eprintln!(
        "revert: journal {} — {}:\n  {}",
        args.journal.display(),
        choice.why,
        runs.join("\n  ")
    );
    if choice.others_applied > 0 {
        eprintln!(
            "note: {} other run(s) of this journal applied changes too, not reverted here; \
             --run RUN_ID reverts one (-v lists them)",
            choice.others_applied
        );
    }
    if !images.rolled_back.is_empty() {
        eprintln!(
            "note: {} task(s) were already rolled back by their wave: not in the manifest",
            images.rolled_back.len()
        );
    }
    if !images.no_image.is_empty() {
        eprintln!(
            "note: {} applied item(s) recorded no before-image (sent with --no-refresh): not in \
             the manifest: {}",
            images.no_image.len(),
            first(&images.no_image, g)
        );
    }
}

/// Up to 20 task IDs (all with -v), escaped.
fn first(ids: &[String], g: &Global) -> String {
    let shown = if g.verbose > 0 { ids.len() } else { 20 };
    let mut s: Vec<String> = ids
        .iter()
        .take(shown)
        .map(|i| escape(i).into_owned())
        .collect();
    if ids.len() > shown {
        s.push(format!("… and {} more (-v for all)", ids.len() - shown));
    }
    s.join(", ")
}

/// Where each task is now and its state, read through the engine `plan` reads with (paced,
/// retried); and the endpoint read, as shown (any password masked).
fn read_live(tasks: &[TaskImage], args: &Args, g: &Global) -> Result<(Found, String), CliError> {
    let client = connect(&args.api, g)?;
    let endpoint = client.endpoint().to_string();
    let rt = super::runtime()?;
    rt.block_on(async {
        let config = ExecConfig::new(args.qps);
        let (engine, shared) =
            shared_quota::engine(client, args.qps, &config, &args.api.quota, g).await?;
        let read = crate::revert::live::read(engine.as_ref(), tasks);
        let read = shared_quota::until_halted(shared.as_deref(), exit::FAILURE, read).await;
        if let Some(s) = &shared {
            s.finish().await;
        }
        let found = read?.map_err(|e| {
            call_failed(
                &e,
                format!("reading live state failed: {e}; nothing was written"),
            )
        })?;
        if g.verbose > 0 {
            eprintln!(
                "read the live state of {} task(s) in {} call(s)",
                tasks.len(),
                engine.counts().calls()
            );
        }
        Ok((found, endpoint))
    })
}

/// The moved tasks and what cannot be restored, on standard error (20 of each unless -v).
fn say_left_out(d: &Decided, include_moved: bool, g: &Global) {
    if g.quiet {
        return;
    }
    let cap = if g.verbose > 0 { usize::MAX } else { 20 };
    let section = |title: &str, lines: Vec<String>| {
        if lines.is_empty() {
            return;
        }
        eprintln!("{title}");
        for l in lines.iter().take(cap) {
            eprintln!("  {l}");
        }
        if lines.len() > cap {
            eprintln!("  … and {} more (-v for all)", lines.len() - cap);
        }
    };
    let moved = |included: bool| -> Vec<String> {
        d.moved
            .iter()
            .filter(|m| m.included == included)
            .map(|m| {
                let id = escape(&m.task_id);
                match &m.moved {
                    Moved::Gone => format!("{id}  gone: in no region any more"),
                    Moved::Changed(drift) => {
                        let each: Vec<String> = drift
                            .iter()
                            .map(|x| {
                                format!(
                                    "{}: the run set {}, live now {}",
                                    x.field,
                                    escape(&x.set),
                                    escape(&x.live)
                                )
                            })
                            .collect();
                        format!("{id}  {}", each.join("; "))
                    }
                }
            })
            .collect()
    };
    let hint = if include_moved {
        "moved since the run and gone, left out:"
    } else {
        "moved since the run, left out (--include-moved restores them anyway):"
    };
    section(hint, moved(false));
    section(
        "moved since the run, restored anyway (--include-moved):",
        moved(true),
    );
    let unrestorable = d
        .unrestorable
        .iter()
        .map(|u| match &u.field {
            Some(f) => format!("{}  {}: {}", escape(&u.task_id), escape(f), escape(&u.why)),
            None => format!("{}  {}", escape(&u.task_id), escape(&u.why)),
        })
        .collect();
    section("not restorable, left as they are:", unrestorable);
}

/// Why no task is left to restore: how many moved (or are gone), how many have nothing that can
/// be restored.
fn nothing_to_revert(d: &Decided, tasks: usize) -> String {
    let mut why = Vec::new();
    if d.left_out() > 0 {
        why.push(format!(
            "{} task(s) moved since the run or are gone (--include-moved restores those that \
             still exist)",
            d.left_out()
        ));
    }
    let nothing = tasks - d.left_out();
    if nothing > 0 {
        why.push(format!(
            "{nothing} task(s) have no value that can be restored"
        ));
    }
    format!(
        "nothing to revert: {} (listed above); nothing was written",
        why.join(", and ")
    )
}

/// "; 2 moved and left out, 1 value(s) not restorable", or nothing.
fn counts(d: &Decided) -> String {
    let mut parts = Vec::new();
    if d.left_out() > 0 {
        parts.push(format!("{} moved and left out", d.left_out()));
    }
    let included = d.moved.len() - d.left_out();
    if included > 0 {
        parts.push(format!("{included} moved and restored anyway"));
    }
    if !d.unrestorable.is_empty() {
        parts.push(format!("{} value(s) not restorable", d.unrestorable.len()));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join(", "))
    }
}

fn header(
    args: &Args,
    ix: &JournalIndex,
    choice: &Choice,
    images: &Images,
    d: &Decided,
    now: ApiTime,
) -> Header {
    Header {
        journal: args.journal.display().to_string(),
        runs: choice
            .runs
            .iter()
            .map(|&i| RunRef {
                run_id: ix.runs[i].run_id.clone(),
                started_at: ix.runs[i].started_at.clone(),
            })
            .collect(),
        rollout: choice.rollout.clone(),
        written_at: now,
        tasks: d.updates.len(),
        moved_left_out: d.left_out(),
        moved_included: d.moved.len() - d.left_out(),
        unrestorable: d.unrestorable.len(),
        rolled_back: images.rolled_back.len(),
        file: args
            .output
            .as_ref()
            .filter(|p| p.as_os_str() != "-")
            .map(|p| p.display().to_string()),
        restart_running: d.restart_running,
    }
}

/// The manifest to `-o` (as every written file: [`crate::fsutil`]) or standard output.
fn write(args: &Args, text: &str) -> Result<(), CliError> {
    let path = args.output.clone().unwrap_or_else(|| PathBuf::from("-"));
    crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|e| {
        if path.as_os_str() == "-" {
            // Standard output is gone (a closed pipe): nothing more can be said there.
            CliError::reported(exit::FAILURE)
        } else {
            CliError::failure(format!(
                "cannot write {}: {e}; nothing was written",
                path.display()
            ))
        }
    })
}
