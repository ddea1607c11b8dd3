//! `apply`'s flags, and the paths they decide (the journal).

use std::path::PathBuf;

use super::super::connect::DOCUMENTED_QUOTA;
use super::super::{ApiArgs, OutputFormat};
use crate::apply::halt::HaltPolicy;
use crate::apply::journal;
use crate::apply::waves::spec::{OnUnhealthy, Threshold, WaveSpec};
use crate::model::ApiTime;

const EXAMPLES: &str = "\
Examples:
  # rehearse: built-in emulator, no credentials
  livebatch apply --sandbox --yes examples/migration.yaml
  # plan against live state, show it, ask, apply
  livebatch apply examples/migration.yaml
  # stop → update → restart running tasks
  livebatch apply --restart-running m.yaml
  # no read permission: send every manifest field blind
  livebatch apply --no-refresh --yes m.yaml
  # CI: no question, JSON + JUnit reports
  livebatch apply --yes --report run.json --report run.xml m.yaml
  # after a crash or Ctrl-C: only what is left
  livebatch apply --resume --yes m.yaml
  # only what failed last time
  livebatch apply --retry-failed --yes m.yaml
  # exactly a reviewed plan, then read back
  livebatch apply --plan plan.json --yes --verify
  # in waves: 10 tasks, then half, then the rest; each wave baked 2 minutes
  # and read back; an unhealthy wave is rolled back (exit 5)
  livebatch apply --restart-running --waves 10,50% --bake 2m m.yaml
  # a canary wave only, then (after an approval) the rest
  livebatch apply --plan plan.json --yes --waves 5,100% --pause-after 1
  livebatch apply --plan plan.json --yes --resume

Exit codes: 0 all succeeded (or paused)
  1 some failed, or blocked/missing not accepted
  3 halted or interrupted (or a gate could not read its tasks) · 4 stale plan
  5 a wave failed its health gate · 6 cancelled at the prompt
  64 usage · 65 invalid manifest (nothing sent) · 77 credentials/systemic halt";

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
    /// With --plan: refuse the plan (exit 4, nothing sent) when it was made longer ago than
    /// DURATION (`90s`, `5m`, `2h`, `7d`, `1h30m`), so what is applied was reviewed recently.
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = crate::plan::file::parse_duration,
        requires = "plan"
    )]
    pub max_age: Option<std::time::Duration>,
    /// For a running task whose update needs a stopped task (SourceUrls, Offset, FileIndex, ...):
    /// stop → update → restart it, as `plan --restart-running` plans. Without it such updates are
    /// blocked.
    #[arg(long, conflicts_with_all = ["plan", "no_refresh"])]
    pub restart_running: bool,
    /// For a blocked update whose task allows some of its fields (a running task's CallbackUrl
    /// beside new SourceUrls): send those and report the rest blocked, as `plan --partial`
    /// plans. Without it the whole update is blocked.
    #[arg(long, conflicts_with_all = ["plan", "no_refresh"])]
    pub partial: bool,
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
    /// Apply the change items in waves, in the plan's order (the manifest's: put the canary tasks
    /// first): SPEC is a comma list of cumulative sizes, each a count or a percentage of the
    /// change items (`20,10%,50%`; a final 100% is implied). After each wave's last call, the
    /// run waits --bake, reads the wave's tasks back, and goes on only if at most
    /// --max-unhealthy of them are unhealthy: running abnormally, stopped or exited where they
    /// should run, or holding other values than were sent (a task already abnormal when planned
    /// is not counted). A failed gate stops the run (exit 5) and, by default, rolls the wave
    /// back to its before-images; earlier waves stay applied (`livebatch revert` undoes them).
    #[arg(long, value_name = "SPEC", value_parser = parse_waves, conflicts_with = "no_refresh")]
    pub waves: Option<WaveSpec>,
    /// With --waves: how long to let each wave run before its health gate reads it (`90s`, `5m`)
    /// [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = crate::plan::file::parse_duration)]
    pub bake: Option<std::time::Duration>,
    /// With --waves: the most unhealthy tasks a wave may have and still pass, a count or a
    /// percentage of the wave's tasks (rounded down) [default: 0].
    #[arg(long, value_name = "N|P%", value_parser = parse_threshold)]
    pub max_unhealthy: Option<Threshold>,
    /// With --waves: what a failed gate does to its wave — `rollback` restores each of its items'
    /// before-images (stop → update → restart where needed), `halt` leaves it for a person to
    /// look at. The run stops either way (exit 5) [default: rollback].
    #[arg(long, value_enum, value_name = "WHAT")]
    pub on_unhealthy: Option<OnUnhealthy>,
    /// With --waves: stop after wave N's gate passes (exit 0, outcome `paused`); `apply --resume`
    /// goes on at wave N+1 with the same waves (a canary job, an approval, then the rest).
    #[arg(long, value_name = "N")]
    pub pause_after: Option<u32>,
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
    /// With --sandbox: seed the emulator from FILE (repeatable) — the unedited `livebatch export`
    /// of the tasks, i.e. the live snapshot — instead of from the manifests, and rehearse the
    /// edited manifests against it: an edit of SourceUrls, StartTime, EndTime or SourceType the
    /// service would refuse is blocked here too, and a task FILE lacks is missing.
    #[arg(long, value_name = "FILE", requires = "sandbox")]
    pub sandbox_seed: Vec<std::path::PathBuf>,
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

/// `--waves`: parsed whole here, so a bad entry is a usage error naming it.
fn parse_waves(s: &str) -> Result<WaveSpec, String> {
    WaveSpec::parse(s).map_err(|e| e.to_string())
}

/// `--max-unhealthy`: a count or a percentage.
fn parse_threshold(s: &str) -> Result<Threshold, String> {
    Threshold::parse(s).map_err(|e| e.to_string())
}

/// `--sandbox-fail-rate`: a fraction from 0 to 1.
fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a fraction from 0 to 1 (e.g. 0.1)")),
    }
}

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

/// The journal this run appends to: `--journal`, or next to the first manifest (or the plan).
pub(super) fn journal_path(args: &Args) -> PathBuf {
    let first = match &args.plan {
        Some(p) => p.display().to_string(),
        None => args.files[0].clone(),
    };
    args.journal
        .clone()
        .unwrap_or_else(|| default_journal(&first, args.sandbox))
}
