//! `livebatch plan`: show what would change. `--offline` shows the exact requests from the
//! manifests alone; without it, each update is decided against the task's live state.

use std::path::PathBuf;

use super::error::{CliError, CliResult};
use super::live::{LiveArgs, plan_live};
use super::manifests::{ManifestArgs, load, print_diagnostics};
use super::{Global, OutputFormat};
use crate::exit;
use crate::plan::diff::PlanOptions;
use crate::plan::file::{PlanFile, manifest_ref};
use crate::plan::offline::{self, OfflinePlan};
use crate::plan::render::{self, Summary};
use crate::report::outputs::{self, Output};

const EXAMPLES: &str = "\
Examples:
  livebatch plan examples/migration.yaml                       diff against live state
  livebatch plan --out plan.json examples/migration.yaml       save it for `apply --plan`
  livebatch plan --restart-running --out plan.json m.yaml      stop → update → restart running tasks
  livebatch plan --detailed-exitcode m.yaml || echo changes    CI: 2 when anything differs
  livebatch plan --offline examples/migration.yaml             exact requests, no credentials
  livebatch plan --offline --format json examples/migration.csv > requests.json

Exit codes: 0 planned (with --detailed-exitcode: nothing differs) · 1 a call failed
            2 differences pending (--detailed-exitcode) · 64 usage · 65 invalid manifest
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
    #[arg(long, conflicts_with_all = ["out", "detailed_exitcode", "restart_running"])]
    pub offline: bool,
    /// Save the plan (versioned JSON) for `livebatch apply --plan FILE`, which applies exactly it.
    #[arg(long, value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// Exit 0 when live state already matches the manifests, 2 when anything differs
    /// (changes, blocked or missing tasks).
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub common: ManifestArgs,
}

pub fn run(args: Args, g: &Global) -> CliResult {
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
    let Some(batch) = load(&args.files, args.common.now(), g) else {
        return Err(CliError::reported(exit::INVALID_MANIFEST));
    };
    if args.offline {
        print_offline(&offline::plan(&batch), args.common.format, g);
        return Ok(exit::SUCCESS);
    }
    let now = args.common.now();
    let items = plan_live(&batch, &args.live, now, g)?;
    let manifests = manifest_refs(&args.files).map_err(CliError::failure)?;
    let opts = PlanOptions {
        restart_running: args.live.restart_running,
    };
    let plan = PlanFile::new(opts, now, manifests, items);
    if let Some(out) = &args.out {
        plan.save(out).map_err(CliError::failure)?;
    }
    print_diagnostics(&batch.diagnostics, g);
    let summary = Summary::of(&plan.items);
    match args.common.format {
        OutputFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).unwrap_or_default()
            )
        }
        OutputFormat::Text => {
            print!("{}", render::text(&plan.items, g.verbose > 0));
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
    Ok(if args.detailed_exitcode && summary.differs() {
        exit::CHANGES_PENDING
    } else {
        exit::SUCCESS
    })
}

/// The hashes that guard a saved plan. Standard input has none (and `--out` refuses it).
fn manifest_refs(files: &[String]) -> std::io::Result<Vec<crate::plan::file::ManifestRef>> {
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
