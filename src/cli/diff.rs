//! `livebatch diff`: a read-only drift check for scheduled CI jobs.

use super::error::CliResult;
use super::live::{LiveArgs, plan_live};
use super::manifests::{ManifestArgs, load};
use super::{Global, OutputFormat};
use crate::exit;
use crate::plan::diff::Decision;
use crate::plan::render::{self, Summary};

const EXAMPLES: &str = "\
Examples:
  livebatch diff examples/migration.yaml       what differs from live state
  livebatch diff --format json tasks.yaml > drift.json

Exit codes: 0 live state matches the manifests · 2 it differs · 1 error
            64 usage · 65 invalid manifest · 66 a manifest missing or unreadable
            77 credentials or permission";

/// Compare live state with the manifests and print what differs. Sends no update.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Manifests (YAML, JSON or CSV). `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub common: ManifestArgs,
}

pub fn run(args: Args, g: &Global) -> CliResult {
    let now = args.common.now();
    let batch = load(&args.files, now, g)?;
    let items = plan_live(&batch, &args.live, now, g)?;
    let summary = Summary::of(&items);
    // A task an interrupted apply left stopped is drift even when its fields match.
    let stopped = crate::apply::recover::left_stopped(&args.files, &items);
    let differs = summary.differs() || stopped.is_some();
    match args.common.format {
        OutputFormat::Json => {
            let differing: Vec<_> = items
                .iter()
                .filter(|i| i.decision != Decision::NoOp)
                .collect();
            let mut doc = serde_json::json!({ "summary": summary, "differences": differing });
            if let Some(s) = &stopped {
                doc["left_stopped"] = serde_json::json!(s);
            }
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        OutputFormat::Text => {
            if let Some(s) = &stopped {
                print!("{}", s.text());
            }
            if summary.differs() {
                anstream::print!("{}", render::text(&items, g.verbose > 0));
            } else if stopped.is_none() && !g.quiet {
                println!(
                    "No drift: all {} task(s) match the manifests.",
                    summary.no_op
                );
            }
        }
    }
    Ok(if differs {
        exit::CHANGES_PENDING
    } else {
        exit::SUCCESS
    })
}
