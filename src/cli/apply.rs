//! `livebatch apply`: validate, confirm, then send every update paced at the quota, with retries,
//! a journal and reports. All logic is in [`crate::apply`]; this file maps flags and outcomes.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{ApiArgs, Global};
use crate::apply::executor::{ExecConfig, HaltPolicy, UpdateSender, WorkItem};
use crate::apply::journal::{self, JournalError, ResumeMode};
use crate::apply::limiter::GovernorPacer;
use crate::apply::progress;
use crate::apply::session::{self, Confirm, SessionOptions};
use crate::exit;
use crate::report;

/// The documented per-account quota of every pull-to-push operation.
pub const DOCUMENTED_QUOTA: f64 = 10.0;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifests to apply (YAML, JSON or CSV). Validated first: an invalid batch sends nothing.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Apply without asking. Required when standard input is not a terminal.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// The account's quota in calls/s (documented: 10). Calls leave evenly spaced at 97% of it, so
    /// network jitter cannot push a second over the quota.
    #[arg(long, default_value_t = DOCUMENTED_QUOTA, value_name = "N")]
    pub qps: f64,
    /// Confirms the account's quota was raised above 10 calls/s (required for --qps above 10).
    #[arg(long)]
    pub quota_raised: bool,
    /// Calls in flight at most [default: 2 × qps + 4, so latency up to 1 s keeps the pace].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: Option<u32>,
    /// Calls per update at most, the first included (1 = never retry).
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// Stop dispatching once more than N updates (or P% of them) failed; the rest are not attempted.
    #[arg(long, value_name = "N|P%")]
    pub max_failures: Option<HaltPolicy>,
    /// Write a report; the extension picks the format (.json, .csv, .xml JUnit, .md). Repeatable.
    #[arg(long = "report", value_name = "PATH")]
    pub reports: Vec<PathBuf>,
    /// Journal file [default: <first manifest>.journal.jsonl].
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Skip updates that the journal says already succeeded with identical content.
    #[arg(long, conflicts_with = "retry_failed")]
    pub resume: bool,
    /// Send only the updates that the journal says failed last time.
    #[arg(long)]
    pub retry_failed: bool,
    /// Rehearse against a built-in emulator seeded with the manifests' tasks. No credentials, no network.
    #[arg(long)]
    pub sandbox: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Checks the pace flags; the message says what would be right.
pub fn check_qps(qps: f64, quota_raised: bool) -> Result<(), String> {
    if !qps.is_finite() || qps < 0.01 {
        return Err(format!(
            "--qps must be a positive number of calls per second, got {qps}"
        ));
    }
    if qps > DOCUMENTED_QUOTA && !quota_raised {
        return Err(format!(
            "--qps {qps} is above the documented quota of {DOCUMENTED_QUOTA} calls/s per account; \
             calls over it are throttled. If Alibaba Cloud raised this account's quota, add --quota-raised"
        ));
    }
    Ok(())
}

fn usage(msg: impl std::fmt::Display) -> u8 {
    eprintln!("error: {msg}");
    exit::USAGE
}

pub fn run(args: Args, g: &Global) -> u8 {
    if let Err(m) = check_qps(args.qps, args.quota_raised) {
        return usage(m);
    }
    let reports = match report::check_paths(&args.reports) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    rt.block_on(run_async(args, reports, g))
}

/// INTEGRATION POINT (manifest validation): load and validate every manifest; on any error print
/// the diagnostics and return `Err(exit::INVALID_MANIFEST)` having sent nothing. To be replaced by
/// `crate::validate::load_batch(files)` mapped to `WorkItem { update, source: "file:line" }`.
fn load_items(files: &[PathBuf]) -> Result<Vec<WorkItem>, u8> {
    let _ = files;
    eprintln!("error: manifest loading is not wired into `apply` yet");
    Err(exit::FAILURE)
}

async fn run_async(args: Args, reports: Vec<(PathBuf, report::Format)>, g: &Global) -> u8 {
    let items = match load_items(&args.files) {
        Ok(items) => items,
        Err(code) => return code,
    };
    let mut config = ExecConfig::new(args.qps);
    if let Some(c) = args.concurrency {
        config.concurrency = c as usize;
    }
    config.retry.max_attempts = args.max_attempts;
    config.halt = args.max_failures.unwrap_or_default();
    config.resume = match (args.resume, args.retry_failed) {
        (true, _) => ResumeMode::Resume,
        (_, true) => ResumeMode::RetryFailed,
        _ => ResumeMode::Fresh,
    };
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| journal::default_path(&args.files[0]));
    let previous = match session::previous_state(config.resume, &journal_path) {
        Ok(p) => p,
        Err(e @ JournalError::Missing(_)) => return usage(e),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    if previous.unreadable_lines > 0 && !g.quiet {
        eprintln!(
            "note: {} unreadable line(s) in {} ignored (a run was killed mid-write); earlier records are intact",
            previous.unreadable_lines,
            journal_path.display()
        );
    }
    let opts = SessionOptions {
        manifests: args.files.clone(),
        journal: journal_path,
        reports,
        config,
    };
    // Credentials and endpoint before asking, so a confirmed run does not stop on them.
    let client = if args.sandbox {
        None
    } else {
        match super::export::connect(&args.api, g) {
            Ok(c) => Some(c),
            Err(code) => return code,
        }
    };
    let target = if args.sandbox {
        "the built-in sandbox emulator"
    } else {
        "the live API"
    };
    let summary = session::summary_text(&items, &previous, &opts, target);
    match session::confirm_mode(args.yes, std::io::stdin().is_terminal()) {
        Confirm::Proceed => {
            if !g.quiet {
                eprintln!("{summary}");
            }
        }
        Confirm::Ask => {
            eprintln!("{summary}");
            let stdin = std::io::stdin();
            if !session::ask("Apply?", &mut stdin.lock(), &mut std::io::stderr()) {
                eprintln!("nothing sent");
                return exit::USAGE;
            }
        }
        Confirm::Refuse => {
            eprintln!("{summary}");
            return usage(
                "standard input is not a terminal, so apply cannot ask for confirmation; pass --yes to apply without asking",
            );
        }
    }
    let Some(client) = client else {
        // INTEGRATION POINT (emulator): start `crate::emulator` in process on 127.0.0.1:0, seeded
        // with the items' tasks as stopped tasks (SourceType where stated), build a `Client`
        // pointed at it with dummy credentials, and call `drive` exactly as below.
        eprintln!(
            "error: --sandbox needs the built-in emulator, which is not wired into `apply` yet"
        );
        return exit::FAILURE;
    };
    drive(items, &previous, &opts, Arc::new(client), g).await
}

/// Runs the session with a ready sender and maps the outcome to an exit code. Ctrl-C once stops
/// dispatching (in-flight calls finish, journal and reports are written, exit 3); twice exits at
/// once, between two journal records.
async fn drive<S: UpdateSender>(
    items: Vec<WorkItem>,
    previous: &journal::JournalState,
    opts: &SessionOptions,
    sender: Arc<S>,
    g: &Global,
) -> u8 {
    let pacer = match GovernorPacer::new(opts.config.adaptive.cap, opts.config.quota) {
        Ok(p) => Arc::new(p),
        Err(e) => return usage(e),
    };
    let cancel = CancellationToken::new();
    let display = progress::for_this_process(g.quiet);
    let quiet = g.quiet;
    let sig = cancel.clone();
    let result = session::execute(
        items,
        previous,
        opts,
        sender,
        pacer,
        cancel,
        display.as_ref(),
        move |j| {
            let j = j.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                if !quiet {
                    eprintln!(
                        "\ninterrupted: no new calls; waiting for calls in flight (Ctrl-C again to exit now)"
                    );
                }
                sig.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    j.exit_now(exit::INTERRUPTED);
                }
            });
        },
    )
    .await;
    match result {
        Ok((run, rep)) => {
            if !g.quiet {
                let s = &rep.summary;
                eprintln!(
                    "{}: {} succeeded, {} failed, {} skipped, {} not attempted; {} retries, {} throttled; {:.2} calls/s over {:.1} s; journal {}",
                    s.outcome,
                    s.succeeded,
                    s.failed,
                    s.skipped,
                    s.not_attempted,
                    s.retries,
                    s.throttled,
                    s.calls_per_second,
                    s.elapsed_seconds,
                    opts.journal.display()
                );
            }
            run.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qps_above_the_quota_needs_the_flag() {
        assert!(check_qps(10.0, false).is_ok());
        assert!(check_qps(2.5, false).is_ok());
        let e = check_qps(20.0, false).unwrap_err();
        assert!(e.contains("--quota-raised"), "{e}");
        assert!(check_qps(20.0, true).is_ok());
        assert!(check_qps(0.0, true).is_err());
        assert!(check_qps(f64::NAN, true).is_err());
    }
}
