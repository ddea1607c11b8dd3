//! `livebatch plan`: show what would change. `--offline` shows the exact requests from the
//! manifests alone; without it, each update is decided against the task's live state.

use std::path::PathBuf;

use super::error::{CliError, CliResult};
use super::live::{LiveArgs, plan_live};
use super::manifests::{clock_now, load, print_diagnostics};
use super::{Global, OutputFormat};
use crate::exit;
use crate::model::ApiTime;
use crate::pace::PACE_HEADROOM;
use crate::plan::file::{ManifestRef, PlanFile, manifest_ref};
use crate::plan::markdown::{self, DEFAULT_MAX_CHARS, MarkdownOptions};
use crate::plan::offline::{self, OfflinePlan};
use crate::plan::render::{self, Summary};
use crate::report::outputs::{self, Output};

const EXAMPLES: &str = "\
Examples:
  livebatch plan examples/migration.yaml       diff against live state
  livebatch plan --out plan.json m.yaml        save it for `apply --plan`
  livebatch plan --restart-running --out plan.json m.yaml
                                stop → update → restart running tasks
  livebatch plan --detailed-exitcode m.yaml    CI: 2 when anything differs
  livebatch plan --offline m.yaml              exact requests, no credentials
  livebatch plan --offline --format json m.csv > requests.json
  livebatch plan --format markdown --out plan.json m.yaml > comment.md
                                CI: the pull request's comment

Exit codes: 0 planned (with --detailed-exitcode: nothing differs)
            1 a call failed · 2 differences pending (--detailed-exitcode)
            64 usage · 65 invalid manifest · 66 a manifest missing or unreadable
            77 credentials or permission";

/// Show what would change: against live state, or the exact requests (`--offline`).
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Manifests (YAML, JSON or CSV). `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Plan from the manifests alone: print the exact request parameters of every update.
    /// Needs no credentials and sends nothing.
    #[arg(long, conflicts_with_all = ["out", "detailed_exitcode", "restart_running", "partial"])]
    pub offline: bool,
    /// Save the plan (versioned JSON) for `livebatch apply --plan FILE`, which applies exactly it.
    #[arg(long, value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// Exit 0 when live state already matches the manifests, 2 when anything differs
    /// (changes, blocked or missing tasks).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Output format. `markdown` (alias `md`) is written for a pull-request comment: a hidden
    /// marker line first (CI finds and updates its one comment by it), counts, restarts, the
    /// estimated duration, hashes and the apply command, then the items per class.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// With --format markdown: the most characters the output may hold, cut between items with
    /// "… and N more". A GitHub comment holds 65,536; `$GITHUB_STEP_SUMMARY` up to 1 MiB.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CHARS)]
    pub max_chars: usize,
    /// With --format markdown: the marker's key, `<!-- livebatch plan: KEY -->`. Several plans
    /// on one pull request (one per environment) each keep their own comment.
    #[arg(long, value_name = "KEY", default_value = "default")]
    pub marker: String,
    /// Judge time rules ("EndTime after now") against this instant instead of the clock
    /// (yyyy-MM-ddTHH:mm:ssZ, UTC); also the saved plan's creation time. Makes runs reproducible.
    #[arg(long, value_name = "TIME", value_parser = ApiTime::parse)]
    pub now: Option<ApiTime>,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// Output format of `plan`: the common ones, and Markdown for a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    #[value(alias = "md")]
    Markdown,
}

pub fn run(args: Args, g: &Global) -> CliResult {
    if args.format == PlanFormat::Markdown && args.offline {
        return Err(CliError::usage(
            "--format markdown shows a plan against live state; --offline prints text or json",
        ));
    }
    if args.format != PlanFormat::Markdown
        && (args.max_chars != DEFAULT_MAX_CHARS || args.marker != "default")
    {
        return Err(CliError::usage(
            "--max-chars and --marker shape the Markdown plan: add --format markdown",
        ));
    }
    if !markdown::valid_marker(&args.marker) {
        return Err(CliError::usage(format!(
            "--marker {:?}: use letters, digits, '.', '_' and '-' only (it goes inside an HTML \
             comment)",
            args.marker
        )));
    }
    if args.out.is_some() && args.files.iter().any(|f| f == "-") {
        return Err(CliError::usage(
            "--out needs manifest files: a saved plan is guarded by their SHA-256, and standard \
             input cannot be checked again at apply time; save the manifest to a file first",
        ));
    }
    // The plan file is checked before the live reads: a plan that cannot be saved (a missing
    // directory, a manifest's own path) would otherwise be found out only after every read.
    if let Some(out) = &args.out {
        let inputs: Vec<PathBuf> = args.files.iter().map(PathBuf::from).collect();
        outputs::check(&[Output::new("--out", out)], &inputs).map_err(CliError::usage)?;
    }
    let now = args.now.unwrap_or_else(clock_now);
    let batch = load(&args.files, now, g)?;
    if args.offline {
        let format = match args.format {
            PlanFormat::Json => OutputFormat::Json,
            _ => OutputFormat::Text,
        };
        print_offline(&offline::plan(&batch), format, g);
        return Ok(exit::SUCCESS);
    }
    let items = plan_live(&batch, &args.live, now, g)?;
    let manifests = manifest_refs(&args.files).map_err(CliError::failure)?;
    let opts = args.live.options();
    let plan = PlanFile::new(opts, now, manifests, items);
    let saved_sha = match &args.out {
        Some(out) => Some(plan.save(out).map_err(CliError::failure)?),
        None => None,
    };
    print_diagnostics(&batch.diagnostics, g);
    let summary = Summary::of(&plan.items);
    // Said on stderr (the plan's own output stays as it is): a task an interrupted apply left
    // stopped is planned as stopped; `apply` restarts it first.
    let stopped = crate::apply::recover::left_stopped(&args.files, &plan.items);
    if let Some(s) = &stopped {
        eprint!("{}", s.text());
    }
    match args.format {
        PlanFormat::Markdown => {
            let out = args.out.as_ref().map(|p| p.display().to_string());
            let command = apply_command(&args, out.as_deref());
            let md = markdown::markdown(
                &plan.items,
                &MarkdownOptions {
                    marker: &args.marker,
                    max_chars: args.max_chars,
                    quota: args.live.qps,
                    pace: args.live.qps * PACE_HEADROOM,
                    manifests: &plan.manifests,
                    saved: out.as_deref().zip(saved_sha.as_deref()),
                    apply_command: &command,
                },
            )
            .map_err(CliError::usage)?;
            print!("{md}");
        }
        PlanFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).unwrap_or_default()
            )
        }
        PlanFormat::Text => {
            anstream::print!("{}", render::text(&plan.items, g.verbose > 0));
            if let Some(out) = &args.out
                && !g.quiet
            {
                eprintln!(
                    "plan saved to {}; apply exactly it with `livebatch apply --plan {}`",
                    out.display(),
                    out.display()
                );
            }
        }
    }
    Ok(
        if args.detailed_exitcode && (summary.differs() || stopped.is_some()) {
            exit::CHANGES_PENDING
        } else {
            exit::SUCCESS
        },
    )
}

/// The command that applies what the Markdown plan shows: the saved plan exactly, else the same
/// manifests with the same planning flags (planned again at apply time).
fn apply_command(args: &Args, saved: Option<&str>) -> String {
    let mut words = vec!["livebatch".to_string(), "apply".to_string()];
    match saved {
        Some(p) => words.extend(["--plan".to_string(), shell_word(p)]),
        None => {
            if args.live.restart_running {
                words.push("--restart-running".to_string());
            }
            words.extend(args.files.iter().map(|f| shell_word(f)));
        }
    }
    words.join(" ")
}

/// A word as a POSIX shell reads it back: bare when it is plainly safe, else single-quoted.
fn shell_word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// The hashes that guard a saved plan. Standard input has none (and `--out` refuses it).
fn manifest_refs(files: &[String]) -> std::io::Result<Vec<ManifestRef>> {
    files
        .iter()
        .filter(|f| f.as_str() != "-")
        .map(|f| manifest_ref(std::path::Path::new(f)))
        .collect()
}

fn print_offline(plan: &OfflinePlan, format: OutputFormat, g: &Global) {
    match format {
        OutputFormat::Json => println!("{}", plan.render_json()),
        OutputFormat::Text => {
            print_diagnostics(&plan.diagnostics, g);
            print!("{}", plan.render_text());
        }
    }
}
