//! `livebatch apply`: validate, plan against live state (as `plan` does), confirm, then send exactly
//! the changes, each operation paced at its own quota, with retries, a journal and reports. All
//! logic is in [`crate::apply`] and [`crate::plan`]; this file maps flags and outcomes.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::connect::{DOCUMENTED_QUOTA, check_qps, connect, exit_code_for};
use super::error::{CliError, CliResult, call_failed};
use super::{ApiArgs, Global, OutputFormat, manifests, shared_quota};
use crate::api::client::{Client, ClientConfig};
use crate::api::credentials::Credentials;
use crate::apply::executor::{Engine, ExecConfig, HaltPolicy, TaskOps, WorkItem};
use crate::apply::journal::{self, JournalError, LockedJournal, ResumeMode};
use crate::apply::outcome::{Accept, ItemStatus};
use crate::apply::planned::{self, Guard};
use crate::apply::progress;
use crate::apply::session::{self, Confirm, SessionOptions};
use crate::apply::work::{WorkCounts, WorkList};
use crate::apply::{sandbox, verify};
use crate::emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, Emulator, EmulatorConfig, EmulatorHandle,
    FaultConfig, KeyPair,
};
use crate::exit;
use crate::model::{ApiTime, Update};
use crate::plan::diff::PlanOptions;
use crate::plan::file::{PlanFile, PlanItem};
use crate::plan::render;
use crate::plan::spilled::{
    BatchEntry, SpilledBatch, SpilledPlan, SpilledPlanError, TaskIndex, plan_spilled,
};
use crate::report;
use crate::spill::SpillWriter;

const EXAMPLES: &str = "\
Examples:
  livebatch apply --sandbox --yes examples/migration.yaml      rehearse: built-in emulator, no credentials
  livebatch apply examples/migration.yaml                      plan against live state, show it, ask, apply
  livebatch apply --restart-running m.yaml                     stop → update → restart running tasks
  livebatch apply --no-refresh --yes m.yaml                    no read permission: send every manifest field blind
  livebatch apply --yes --report run.json --report run.xml m.yaml   CI: no question, JSON + JUnit reports
  livebatch apply --resume --yes m.yaml                        after a crash or Ctrl-C: only what is left
  livebatch apply --retry-failed --yes m.yaml                  only what failed last time
  livebatch apply --plan plan.json --yes --verify              exactly a reviewed plan, then read back

Exit codes: 0 all succeeded · 1 some failed, or blocked/missing items not accepted · 3 halted or interrupted · 4 stale plan
            64 usage · 65 invalid manifest (nothing sent) · 77 credentials, or a systemic error halted the run";

/// Plan against live state, then send exactly the changes, paced per operation, with retries, a
/// journal and reports.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Manifests to apply (YAML, JSON or CSV; `-` reads standard input). Validated first, as one
    /// batch: an invalid batch sends nothing (exit 65). Then each task's live state is read and
    /// the update decided exactly as `plan` does: only the fields that differ are sent; tasks
    /// already as asked are not sent (noop); blocked and missing tasks are never sent.
    #[arg(
        required_unless_present = "plan",
        conflicts_with = "plan",
        value_name = "FILE"
    )]
    pub files: Vec<String>,
    /// Apply exactly a plan saved by `livebatch plan --out`: only its reviewed calls, each refused
    /// (status stale, exit 4) if its task changed since planning. Refused whole (exit 4) if a
    /// manifest it was made from changed.
    #[arg(long, value_name = "PLAN", conflicts_with = "sandbox")]
    pub plan: Option<PathBuf>,
    /// For a running task whose update needs a stopped task (SourceUrls, Offset, FileIndex, ...):
    /// stop → update → restart it, as `plan --restart-running` plans. Without it such updates are
    /// blocked.
    #[arg(long, conflicts_with_all = ["plan", "no_refresh"])]
    pub restart_running: bool,
    /// Do not read live state: send every manifest's whole update as written (for keys without
    /// read permission). Nothing is checked against the task's state first, so an unchanged
    /// StartTime or SourceUrls sent to a running task is refused by the service
    /// (CodeTaskHasStarted), and unchanged tasks are updated anyway.
    #[arg(long, conflicts_with = "plan")]
    pub no_refresh: bool,
    /// Exit 0 even though some tasks are blocked (their state forbids the change). They are never
    /// sent either way; without this flag they make the run exit 1.
    #[arg(long)]
    pub allow_blocked: bool,
    /// Exit 0 even though some tasks do not exist. They are never sent either way; without this
    /// flag they make the run exit 1.
    #[arg(long)]
    pub allow_missing: bool,
    /// After the run, read every updated task back and report any whose live state does not
    /// match what was sent (exit 1 if any).
    #[arg(long)]
    pub verify: bool,
    /// Apply without asking. Required when standard input is not a terminal.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// The account's quota in calls/s of each operation (documented: 10 for each). Every
    /// operation (Update, Describe, DescribeList, Stop, Restart) has its own pacer: its calls leave
    /// evenly spaced at 97% of its quota, so network jitter cannot push a second over it, and reads
    /// never take an update's slot.
    #[arg(long, default_value_t = DOCUMENTED_QUOTA, value_name = "N")]
    pub qps: f64,
    /// Confirms the account's quota was raised above 10 calls/s (required for --qps above 10).
    #[arg(long)]
    pub quota_raised: bool,
    /// Items in flight at most [default: (2 × qps + 4) × calls per item, so latency up to 1 s keeps
    /// every operation's pace].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: Option<u32>,
    /// Calls per update at most, the first included (1 = never retry).
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// Stop dispatching once more than N updates (or P% of them) failed; the rest are not attempted.
    #[arg(long, value_name = "N|P%")]
    pub max_failures: Option<HaltPolicy>,
    /// Write a report; the extension picks the format (.json, .csv, .xml JUnit, .md), or a prefix
    /// names it (json:, csv:, junit:, md:PATH, e.g. md:$GITHUB_STEP_SUMMARY). Repeatable.
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
    /// Rehearse the same pipeline (plan, then apply) against a built-in emulator seeded with the
    /// manifests' tasks: with the status of their x-TaskStatus annotation when they have one (an
    /// exported manifest rehearses truthfully), else stopped (so every valid update can succeed).
    /// No credentials, nothing beyond 127.0.0.1. Its journal is <manifest>.sandbox.journal.jsonl,
    /// so a rehearsal never makes a real --resume skip anything.
    #[arg(long)]
    pub sandbox: bool,
    /// With --sandbox: the fraction of calls (0 to 1) the emulator answers with a transient 500/503,
    /// to watch retries at work.
    #[arg(long, value_name = "F", requires = "sandbox", value_parser = parse_fraction)]
    pub sandbox_fail_rate: Option<f64>,
    /// Judge time rules ("EndTime after now") against this instant instead of the clock
    /// (yyyy-MM-ddTHH:mm:ssZ, UTC), as `validate --now` does.
    #[arg(long, value_name = "TIME", value_parser = ApiTime::parse)]
    pub now: Option<ApiTime>,
    /// `json`: print the run's report (the JSON report's document: summary, items, run) on
    /// standard output at the end, for scripts; the terminal text stays on standard error.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Text from a file, escaped for the terminal (control and invisible characters shown).
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::escape(s)
}

/// `--sandbox-fail-rate`: a fraction from 0 to 1.
fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a fraction from 0 to 1 (e.g. 0.1)")),
    }
}

/// Simulated service time of a sandbox call: enough for the progress bar and pacing to look like
/// the real thing, small enough that the bundled example finishes in seconds.
pub const SANDBOX_LATENCY_MS: (u64, u64) = (20, 80);

/// The journal when `--journal` is not given: next to the first manifest (`stdin` for `-`), with
/// `.sandbox` added for rehearsals so that a sandbox run never makes a real `--resume` skip work.
pub fn default_journal(first: &str, sandbox: bool) -> PathBuf {
    let mut base = if first == "-" {
        PathBuf::from("stdin")
    } else {
        PathBuf::from(first)
    };
    if sandbox {
        let mut name = base
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "livebatch".into());
        name.push(".sandbox");
        base.set_file_name(name);
    }
    journal::default_path(&base)
}

/// What the run applies: manifests (planned against live state, or sent blind) or a saved plan.
enum Source {
    /// The valid updates, kept on disk next to the journal (a million are not held in memory).
    Manifests(SpilledBatch),
    /// A saved plan's items as work, and its items to preview.
    Plan(Vec<WorkItem>, Vec<PlanItem>),
}

/// Validates the manifests as one batch, exactly as `validate` does. Errors: the diagnostics are
/// printed and exit 65 is returned having sent nothing. Warnings are printed unless `-q`. Each
/// valid update is written to a temporary file in `dir` as it is read (see [`SpilledBatch`]).
fn load_entries(
    files: &[String],
    now: Option<ApiTime>,
    dir: &std::path::Path,
    g: &Global,
) -> Result<SpilledBatch, CliError> {
    let inputs = manifests::inputs(files).map_err(CliError::usage)?;
    let now = now.unwrap_or_else(manifests::clock_now);
    let spill_failed = |e: std::io::Error| {
        CliError::failure(format!(
            "cannot keep the validated updates in a temporary file in {}: {e}",
            dir.display()
        ))
    };
    let mut entries = SpillWriter::new_in(dir).map_err(spill_failed)?;
    let mut index = TaskIndex::default();
    let mut failed = None;
    let batch = crate::validate::visit_batch(&inputs, now, &mut |e| {
        if failed.is_some() {
            return;
        }
        index.push(e.update.region, &e.update.task_id);
        let entry = BatchEntry {
            origin: format!("{}:{}", e.origin.file, e.origin.line),
            update: e.update,
            annotations: e.annotations,
        };
        if let Err(e) = entries.push(&entry) {
            failed = Some(e);
        }
    });
    manifests::print_diagnostics(&batch.diagnostics, g);
    if batch.has_errors() {
        let c = batch.counts();
        eprintln!(
            "invalid: {} error(s), {} warning(s); nothing was sent",
            c.errors, c.warnings
        );
        return Err(CliError::reported(exit::INVALID_MANIFEST));
    }
    if let Some(e) = failed {
        return Err(spill_failed(e));
    }
    let entries = entries.finish().map_err(spill_failed)?;
    Ok(SpilledBatch::new(entries, index))
}

/// Reads a saved plan, refusing it whole when a manifest it was made from changed since, or when
/// an update it would send breaks a rule `validate` checks (a plan is a file anyone can edit).
fn load_plan(path: &std::path::Path, now: Option<ApiTime>) -> Result<Source, CliError> {
    let plan = PlanFile::load(path).map_err(CliError::usage)?;
    if let Err(e) = plan.check_manifests(path) {
        return Err(CliError {
            code: exit::STALE_PLAN,
            message: Some(e.to_string()),
        });
    }
    let now = now.unwrap_or_else(manifests::clock_now);
    let broken = recheck_plan(&plan, now);
    if !broken.is_empty() {
        for line in &broken {
            eprintln!("error: {}: {line}", path.display());
        }
        eprintln!(
            "invalid plan: {} error(s); nothing was sent (re-plan from the manifests instead of editing the plan)",
            broken.len()
        );
        return Err(CliError::reported(exit::INVALID_MANIFEST));
    }
    // What is sent must be what the manifests produce: an edited or spliced item refuses it all.
    plan.check_derived(path).map_err(|e| CliError {
        code: exit::INVALID_MANIFEST,
        message: Some(e.to_string()),
    })?;
    Ok(Source::Plan(planned::work_items(&plan), plan.items))
}

/// Every update a saved plan would send, checked again with the rules `validate` applies to a
/// manifest; one line per error, naming the item.
pub fn recheck_plan(plan: &PlanFile, now: ApiTime) -> Vec<String> {
    use crate::plan::diff::Decision;
    let mut out = Vec::new();
    for (i, item) in plan.items.iter().enumerate() {
        if !matches!(item.decision, Decision::Change { .. }) {
            continue;
        }
        if item.update.task_id != item.task_id || item.update.region != item.region {
            out.push(format!(
                "item {} ({}): its update is for {} in {}, not the item's task",
                i + 1,
                esc(&item.task_id),
                esc(&item.update.task_id),
                item.update.region.as_str()
            ));
        }
        for v in crate::rules::check_offline(&item.update, now) {
            if v.severity == crate::rules::Severity::Error {
                out.push(format!(
                    "item {} ({}, from {}): {} [{}]",
                    i + 1,
                    esc(&item.task_id),
                    esc(&item.origin),
                    esc(&v.message),
                    v.code
                ));
            }
        }
    }
    out
}

pub fn run(args: Args, g: &Global) -> CliResult {
    check_qps(args.qps, args.quota_raised).map_err(CliError::usage)?;
    let reports = report::check_paths(&args.reports).map_err(CliError::usage)?;
    // Every file the run writes, checked before anything is read or sent: none is an input or
    // another output, and each can be written (a report that fails at the end hides the outcome).
    let mut outputs = vec![report::outputs::Output::new("journal", journal_path(&args))];
    outputs.extend(
        reports
            .iter()
            .map(|(p, _)| report::outputs::Output::new("--report", p)),
    );
    let inputs: Vec<PathBuf> = match &args.plan {
        Some(p) => vec![p.clone()],
        None => args.files.iter().map(PathBuf::from).collect(),
    };
    report::outputs::check(&outputs, &inputs).map_err(CliError::usage)?;
    let source = match &args.plan {
        Some(plan) => load_plan(plan, args.now)?,
        None => {
            let journal = journal_path(&args);
            let dir = session::spill_dir(&journal);
            Source::Manifests(load_entries(&args.files, args.now, dir, g)?)
        }
    };
    let rt = super::runtime()?;
    rt.block_on(run_async(args, source, reports, g))
}

/// The journal this run appends to: `--journal`, or next to the first manifest (or the plan).
fn journal_path(args: &Args) -> PathBuf {
    let first = match &args.plan {
        Some(p) => p.display().to_string(),
        None => args.files[0].clone(),
    };
    args.journal
        .clone()
        .unwrap_or_else(|| default_journal(&first, args.sandbox))
}

/// The run after loading. What ends the command before or instead of a run (the journal, the
/// sandbox, credentials, the quota store, planning, confirmation) is returned as a `CliError`,
/// printed once by `cli::main`. A failure the run reports and goes past (a report that cannot be
/// written, a verify read that fails, a session whose journal cannot start) is printed where it
/// happens and raises the exit code, because the end of the run still follows it in order
/// (credentials and sandbox counts, what needs attention, the outcome line last).
async fn run_async(
    args: Args,
    source: Source,
    reports: Vec<(PathBuf, report::Format)>,
    g: &Global,
) -> CliResult {
    let started_at = now_rfc3339();
    let mut config = ExecConfig::new(args.qps);
    config.retry.max_attempts = args.max_attempts;
    config.halt = args.max_failures.unwrap_or_default();
    config.resume = match (args.resume, args.retry_failed) {
        (true, _) => ResumeMode::Resume,
        (_, true) => ResumeMode::RetryFailed,
        _ => ResumeMode::Fresh,
    };
    let journal_path = journal_path(&args);
    let previous = session::previous_state(config.resume, &journal_path).map_err(|e| match e {
        JournalError::Missing(_) => CliError::usage(e),
        e => CliError::failure(e),
    })?;
    if previous.unreadable_lines > 0 && !g.quiet {
        eprintln!(
            "note: {} unreadable line(s) in {} ignored (a run was killed mid-write); earlier records are intact",
            previous.unreadable_lines,
            journal_path.display()
        );
    }
    // Locked until the process ends: a second run on this journal is refused here, before it
    // reads or sends anything.
    let locked = LockedJournal::lock(&journal_path).map_err(|e| match e {
        JournalError::Locked(_) => CliError::usage(e),
        e => CliError::failure(e),
    })?;
    // Credentials and endpoint before planning and asking, so a confirmed run does not stop on
    // them. The sandbox reads no credentials at all: it starts the emulator instead.
    let mut emulator = None;
    let client = if args.sandbox {
        if (args.api.endpoint.is_some() || args.api.profile.is_some()) && !g.quiet {
            eprintln!(
                "note: --sandbox ignores the endpoint and profile; it sends nothing beyond 127.0.0.1"
            );
        }
        let seeds = match &source {
            Source::Manifests(batch) => {
                let now = sandbox_now(&args);
                let mut seen = std::collections::HashSet::new();
                let mut seeds = Vec::new();
                for e in batch.entries.iter() {
                    match e {
                        Ok(e) if seen.insert(e.update.task_id.clone()) => {
                            seeds.push(sandbox::seed_entry(&e.update, &e.annotations, now))
                        }
                        Ok(_) => {}
                        Err(e) => {
                            return Err(CliError::failure(format!(
                                "cannot read the validated updates back: {e}"
                            )));
                        }
                    }
                }
                seeds
            }
            Source::Plan(..) => vec![],
        };
        let (emu, client) = start_sandbox(seeds, &args)
            .await
            .map_err(|e| CliError::failure(format!("cannot start the sandbox emulator: {e}")))?;
        emulator = Some(emu);
        client
    } else {
        connect(&args.api, g)?
    };
    let target = match &emulator {
        Some(_) => "the built-in sandbox emulator (127.0.0.1 only; no credentials)".to_string(),
        None => format!("{}", client.endpoint()),
    };
    if let Some(emu) = &emulator
        && !g.quiet
    {
        let seeded = emu.tasks();
        let annotated = match &source {
            Source::Manifests(batch) => batch
                .entries
                .iter_lossy()
                .filter(|e| sandbox::annotated_status(&e.annotations).is_some())
                .count(),
            Source::Plan(..) => 0,
        };
        eprintln!(
            "sandbox: emulator at {} (clock {}{}) with {} task(s) seeded from the manifest ({annotated} with the status of their x-TaskStatus, the rest stopped), quota {} calls/s per operation, {}..{} ms latency{}",
            emu.url(),
            emu.clock().now(),
            if args.now.is_some() { ", --now" } else { "" },
            seeded.len(),
            emulator_qps(args.qps),
            SANDBOX_LATENCY_MS.0,
            SANDBOX_LATENCY_MS.1,
            match args.sandbox_fail_rate {
                Some(f) if f > 0.0 => format!(", {:.0}% transient failures", f * 100.0),
                _ => String::new(),
            }
        );
    }
    // A rehearsal books nothing in a shared quota store: its calls never reach the account.
    let mut quota = args.api.quota.clone();
    if args.sandbox && quota.quota_store.take().is_some() && !g.quiet {
        eprintln!(
            "note: --sandbox does not use the quota store; its calls never reach the account"
        );
    }
    let (engine, shared) = shared_quota::engine(client, args.qps, &config, &quota, g).await?;
    let limit = if g.verbose > 0 {
        None
    } else {
        Some(PREVIEW_ITEMS)
    };
    let (work, counts, preview) = match source {
        Source::Plan(items, plan) => {
            let mut counts = WorkCounts::default();
            for it in &items {
                counts.add(it, &previous, config.resume);
            }
            (
                WorkList::Items(items),
                counts,
                Some(render::preview(&plan, limit)),
            )
        }
        Source::Manifests(batch) if args.no_refresh => {
            if !g.quiet {
                eprintln!(
                    "note: --no-refresh: live state is not read; every update is sent whole, as written"
                );
            }
            let work = WorkList::Blind(batch.entries);
            let counts = match work.counts(&previous, config.resume) {
                Ok(c) => c,
                Err(e) => {
                    return Err(CliError::failure(format!(
                        "cannot read the validated updates back: {e}"
                    )));
                }
            };
            (work, counts, None)
        }
        Source::Manifests(batch) => {
            let now = args.now.unwrap_or_else(manifests::clock_now);
            let opts = PlanOptions {
                restart_running: args.restart_running,
            };
            let mut counts = WorkCounts::default();
            let count = |it: &PlanItem| {
                counts.add(
                    &planned::work_item(it, Guard::None),
                    &previous,
                    config.resume,
                )
            };
            let dir = session::spill_dir(&journal_path);
            let reads = config.concurrency;
            let plan = shared_quota::until_halted(
                shared.as_deref(),
                plan_entries(&engine, &batch, dir, now, opts, reads, limit, count, g),
            )
            .await??;
            drop(batch);
            let preview = plan.preview_text();
            (WorkList::Planned(plan.items), counts, Some(preview))
        }
    };
    config = match args.concurrency {
        Some(c) => ExecConfig {
            concurrency: c as usize,
            ..config
        },
        None => config.scaled_for(counts.max_calls.max(1)),
    };
    let opts = SessionOptions {
        manifests: match &args.plan {
            Some(p) => vec![p.clone()],
            None => args.files.iter().map(PathBuf::from).collect(),
        },
        journal: journal_path,
        reports,
        config,
    };
    let mut summary = preview.unwrap_or_default();
    summary.push_str(&session::summary_text(
        &counts,
        &opts,
        &target,
        session::update_pace(&engine),
    ));
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
                locked.discard_if_empty();
                eprintln!("nothing sent");
                return Err(CliError::reported(exit::USAGE));
            }
        }
        Confirm::Refuse => {
            locked.discard_if_empty();
            eprintln!("{summary}");
            return Err(CliError::usage(
                "standard input is not a terminal, so apply cannot ask for confirmation; pass --yes to apply without asking",
            ));
        }
    }
    let accept = Accept {
        blocked: args.allow_blocked,
        missing: args.allow_missing,
    };
    let cancel = shared
        .as_ref()
        .map(|s| s.halt.child_token())
        .unwrap_or_default();
    let run = drive(
        &work,
        &counts,
        args.verify,
        &previous,
        &opts,
        locked,
        engine.clone(),
        cancel,
        g,
    )
    .await;
    let Ran {
        mut code,
        sent,
        report,
    } = run;
    let mut report = report;
    let provider = engine.ops().credential_provider().clone();
    if let Some(rep) = &mut report {
        // The refresh count joins the reports (issue 14); --verify rewrites them again after.
        if provider.refreshable() {
            rep.credential_refreshes = Some(provider.refreshes());
        }
        rep.run = Some(report::RunInfo {
            target: target.clone(),
            sandbox: args.sandbox,
            inputs: match &args.plan {
                Some(p) => vec![report::InputFile::of(&p.display().to_string())],
                None => args
                    .files
                    .iter()
                    .map(|f| report::InputFile::of(f))
                    .collect(),
            },
            started_at: started_at.clone(),
            finished_at: now_rfc3339(),
            qps: args.qps,
            update_pace: session::update_pace(&engine),
            concurrency: opts.config.concurrency,
            max_attempts: opts.config.retry.max_attempts,
        });
        code = rep.summary.exit_code(accept);
        if let Err(e) = report::write_all(rep, &opts.reports) {
            eprintln!("error: {e}");
            code = code.max(exit::FAILURE);
        }
    }
    let verified = finish(code, sent, report.as_mut(), args.verify, &opts, &engine, g);
    // Halted by the quota store during verify: the run ends as halted (exit 3), its end printed.
    code = shared_quota::until_halted(shared.as_deref(), verified)
        .await
        .unwrap_or_else(|halted| halted.code);
    if let Some(s) = &shared {
        s.finish().await;
    }
    if provider.refreshable() && !g.quiet {
        eprintln!(
            "credentials: refreshed {} time(s) during the run ({})",
            provider.refreshes(),
            provider.describe()
        );
    }
    if let Some(emu) = emulator {
        let stats = emu.stats();
        if !g.quiet {
            eprintln!(
                "sandbox: the emulator answered {} call(s), {} throttled; busiest one-second window {} of {} allowed",
                stats.requests, stats.throttled, stats.max_accepted_in_any_window, stats.qps
            );
        }
        let _ = emu.shutdown().await;
    }
    if let Some(rep) = &report {
        let invocation = report::terminal::Invocation {
            inputs: match &args.plan {
                Some(p) => format!("--plan {}", p.display()),
                None => args.files.join(" "),
            },
            journal: args
                .journal
                .as_ref()
                .map(|j| format!(" --journal {}", j.display()))
                .unwrap_or_default(),
            saved_plan: args.plan.is_some(),
        };
        end_of_run(rep, accept, &invocation, &opts, g);
        if args.format == OutputFormat::Json {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            if report::Format::Json
                .render_to(rep, &mut out)
                .and_then(|()| out.flush())
                .is_err()
            {
                return Ok(code.max(exit::FAILURE));
            }
        }
    }
    Ok(code)
}

/// Now, RFC 3339 in UTC to the millisecond, as the journal writes times.
fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The end of a run on standard error: what needs attention, the next command, and last of all
/// the outcome line (so it is the line a CI log or a terminal shows at the bottom).
fn end_of_run(
    rep: &report::Report,
    accept: Accept,
    invocation: &report::terminal::Invocation,
    opts: &SessionOptions,
    g: &Global,
) {
    let s = &rep.summary;
    if !g.quiet {
        eprint!(
            "{}",
            report::terminal::attention(rep, report::terminal::LISTED)
        );
        if let Some(next) = report::terminal::next_command(rep, invocation) {
            eprintln!("{next}");
        }
        let unaccepted: Vec<String> = [
            (s.blocked, accept.blocked, "blocked", "--allow-blocked"),
            (s.missing, accept.missing, "missing", "--allow-missing"),
        ]
        .into_iter()
        .filter(|(n, ok, _, _)| *n > 0 && !ok)
        .map(|(n, _, what, flag)| format!("{n} {what} (accept with {flag})"))
        .collect();
        if !unaccepted.is_empty() {
            eprintln!(
                "not sent and not accepted: {}; exit 1",
                unaccepted.join(", ")
            );
        }
    }
    let mut extra = String::new();
    for (n, what) in [
        (s.stale, "stale (re-plan)"),
        (s.already_applied, "already applied"),
        (s.noop, "already up to date"),
        (s.blocked, "blocked"),
        (s.missing, "missing"),
    ] {
        if n > 0 {
            extra.push_str(&format!(", {n} {what}"));
        }
    }
    let outcome = match s.outcome.halt_reason() {
        Some(reason) => format!("halted ({reason})"),
        None => s.outcome.name().to_string(),
    };
    // Each operation has its own quota: with several, the total alone (a saved plan's reads and
    // updates: 19.4/s) would read as twice the quota, so each one's pace follows it.
    let per_operation = if s.by_operation.len() > 1 && s.elapsed_seconds > 0.0 {
        let each: Vec<String> = s
            .by_operation
            .iter()
            .map(|(action, c)| {
                let short = action.strip_suffix("LivePullToPush").unwrap_or(action);
                format!("{short} {:.2}", c.calls as f64 / s.elapsed_seconds)
            })
            .collect();
        format!(" ({}, each on its own quota)", each.join(", "))
    } else {
        String::new()
    };
    // The outcome line is printed even with -q when the run did not complete: it is the reason.
    if !g.quiet || s.outcome.halt_reason().is_some() {
        eprintln!(
            "{outcome}: {} succeeded, {} failed{extra}, {} skipped, {} not attempted; {} retries, {} throttled; {:.2} calls/s{per_operation} over {:.1} s; journal {}",
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
}

/// Changes and blocked items shown before asking, unless `-v` (then all).
pub const PREVIEW_ITEMS: usize = 20;

/// Plans the batch against live state through the engine (reads on their own quotas), as `plan`
/// does, each list page decided as it arrives and each item kept on disk (in `dir`); `reads`
/// bounds the reads in flight, `preview` the differing items kept for the confirmation, and
/// `count` sees every item.
// Each argument is a distinct input of planning; bundling them would only rename the list.
#[allow(clippy::too_many_arguments)]
async fn plan_entries<S: TaskOps>(
    engine: &Engine<S>,
    batch: &SpilledBatch,
    dir: &std::path::Path,
    now: ApiTime,
    opts: PlanOptions,
    reads: usize,
    preview: Option<usize>,
    count: impl FnMut(&PlanItem),
    g: &Global,
) -> Result<SpilledPlan, CliError> {
    let tasks = batch.index.len();
    let t0 = std::time::Instant::now();
    let planning = plan_spilled(engine, batch, dir, now, opts, reads, preview, count);
    tokio::pin!(planning);
    // Reading live state takes a call per 100 tasks (or per task), paced like every call: say so
    // every few seconds rather than sit silent.
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    tick.tick().await;
    let planned = loop {
        tokio::select! {
            r = &mut planning => break r,
            _ = tick.tick(), if !g.quiet => {
                eprintln!(
                    "planning: reading the live state of {tasks} task(s): {} read call(s), {} throttled, elapsed {}",
                    engine.counts().calls(),
                    engine.counts().throttled(),
                    progress::human_duration(t0.elapsed())
                );
            }
        }
    };
    let plan = planned.map_err(|e| match e {
        SpilledPlanError::Api(e) => call_failed(
            &e,
            format!("reading live state failed (nothing was sent): {e}"),
        ),
        SpilledPlanError::Io(e) => CliError::failure(format!(
            "cannot keep the plan in a temporary file in {} (nothing was sent): {e}",
            dir.display()
        )),
    })?;
    if g.verbose > 0 {
        eprintln!(
            "read the live state of {tasks} task(s) in {} call(s), {:.1} s",
            engine.counts().calls(),
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(plan)
}

/// The sandbox's clock: `--now` when given, else the real one.
fn sandbox_now(args: &Args) -> ApiTime {
    args.now.unwrap_or_else(manifests::clock_now)
}

/// The sandbox quota: the documented 10 calls/s, or the raised one the user says they have.
fn emulator_qps(qps: f64) -> u32 {
    (qps.ceil() as u32).max(crate::emulator::DEFAULT_QPS)
}

/// Starts the in-process emulator on 127.0.0.1:0 with the given tasks, and a client signed with
/// the emulator's public test key (no credential source is read).
async fn start_sandbox(
    seed: Vec<crate::emulator::SeedTask>,
    args: &Args,
) -> Result<(EmulatorHandle, Client), String> {
    // The sandbox rehearses on the clock validation used: `--now` when given (so a dated manifest
    // rehearses as of its change window, on any day), else the real one. Requests are still
    // signed with the real date, so the allowed skew grows by the shift.
    let shift = sandbox_now(args).unix() - manifests::clock_now().unix();
    let emulator = Emulator::start(EmulatorConfig {
        clock: crate::emulator::Clock::offset(shift),
        max_skew_secs: crate::emulator::MAX_CLOCK_SKEW_SECS.saturating_add(shift.saturating_abs()),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        keys: vec![KeyPair::default()],
        qps: emulator_qps(args.qps),
        faults: FaultConfig {
            latency_ms: Some(SANDBOX_LATENCY_MS),
            fail_rate: args.sandbox_fail_rate.unwrap_or(0.0),
            ..FaultConfig::default()
        },
        seed,
        ..EmulatorConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut api = args.api.clone();
    api.endpoint = Some(emulator.url());
    api.profile = None;
    let credentials = Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET);
    let client = ClientConfig::from_args(&api, credentials)
        .map_err(|e| e.to_string())
        .and_then(|c| Client::new(c).map_err(|e| e.to_string()))?;
    Ok((emulator, client))
}

/// What a session left for the end: its exit code, the updates that succeeded, its report.
struct Ran {
    code: u8,
    sent: Vec<Update>,
    report: Option<report::Report>,
}

/// Ends a run: with `--verify`, reads back every task whose update succeeded (through the same
/// engine, on the read operations' quotas), reports mismatches on stderr and in the JSON/Markdown
/// reports (rewritten). A clean run with mismatches exits 1; any other exit code stands.
async fn finish<S: TaskOps>(
    code: u8,
    sent: Vec<Update>,
    report: Option<&mut report::Report>,
    verify: bool,
    opts: &SessionOptions,
    engine: &Engine<S>,
    g: &Global,
) -> u8 {
    if !verify || sent.is_empty() {
        return code;
    }
    let mismatches = match verify::verify(engine, &sent).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: verify could not read the tasks back: {e}");
            return if code == exit::SUCCESS {
                exit_code_for(&e)
            } else {
                code
            };
        }
    };
    if mismatches.is_empty() {
        if !g.quiet {
            eprintln!(
                "verify: all {} updated task(s) match what was sent",
                sent.len()
            );
        }
    } else {
        eprint!("{}", verify::render(&mismatches));
        eprintln!(
            "verify: {} of {} updated task(s) do not match what was sent",
            mismatches.len(),
            sent.len()
        );
    }
    let failed = !mismatches.is_empty();
    if let Some(rep) = report {
        rep.verify = Some(report::Verification {
            checked: sent.len(),
            mismatches,
        });
        if let Err(e) = report::write_all(rep, &opts.reports) {
            eprintln!("error: {e}");
            return code.max(exit::FAILURE);
        }
    }
    if failed && code == exit::SUCCESS {
        exit::FAILURE
    } else {
        code
    }
}

/// Waits for the first stop request: Ctrl-C (SIGINT) or SIGTERM, how CI systems cancel a job.
async fn stop_requested() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return tokio::signal::ctrl_c().await.is_ok();
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            _ = term.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// Runs the session with a ready sender; returns its report (not yet written) and the updates
/// that succeeded (for `--verify`). Ctrl-C or SIGTERM once stops dispatching (in-flight calls
/// finish and are journaled, reports are written, exit 3); a second one exits at once, between
/// two journal records.
// Each argument is a distinct input of the run; bundling them would only rename the list.
#[allow(clippy::too_many_arguments)]
async fn drive<S: TaskOps>(
    work: &WorkList,
    counts: &WorkCounts,
    verify: bool,
    previous: &journal::JournalState,
    opts: &SessionOptions,
    locked: LockedJournal,
    engine: Arc<Engine<S>>,
    cancel: CancellationToken,
    g: &Global,
) -> Ran {
    let display = progress::for_this_process(g.quiet);
    let quiet = g.quiet;
    let sig = cancel.clone();
    let result = session::execute(
        work.iter(),
        counts,
        previous,
        opts,
        locked,
        engine,
        cancel,
        display.as_ref(),
        move |j| {
            let j = j.clone();
            tokio::spawn(async move {
                if !stop_requested().await {
                    return;
                }
                if !quiet {
                    eprintln!(
                        "\ninterrupted: no new calls; waiting for calls in flight (Ctrl-C again to exit now)"
                    );
                }
                sig.cancel();
                if stop_requested().await {
                    j.exit_now(exit::INTERRUPTED);
                }
            });
        },
    )
    .await;
    match result {
        Ok(rep) => {
            // What was sent, for --verify: the updates of the items that succeeded, read back.
            let mut sent = Vec::new();
            let mut unreadable = None;
            if verify {
                for (it, r) in work.iter().zip(&rep.items) {
                    match it {
                        Ok(it) if it.unsent.is_none() && r.status == ItemStatus::Succeeded => {
                            sent.push(it.update)
                        }
                        Ok(_) => {}
                        Err(e) => {
                            unreadable = Some(e);
                            break;
                        }
                    }
                }
            }
            if let Some(e) = unreadable {
                eprintln!("error: cannot read the run's items back for --verify: {e}");
                return Ran {
                    code: exit::FAILURE,
                    sent: vec![],
                    report: Some(rep),
                };
            }
            Ran {
                code: exit::SUCCESS,
                sent,
                report: Some(rep),
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ran {
                code: exit::FAILURE,
                sent: vec![],
                report: None,
            }
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
