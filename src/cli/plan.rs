//! `livebatch plan`: show what would be sent. Today only `--offline` (from the manifests alone);
//! planning against live state adds its flags and a second branch in [`run`].

use super::validate::{ManifestArgs, inputs, print_diagnostics};
use super::{Global, OutputFormat};
use crate::exit;
use crate::plan::offline::{self, OfflinePlan};
use crate::validate;

const EXAMPLES: &str = "\
Examples:
  livebatch plan --offline examples/migration.yaml
  livebatch plan --offline --format json examples/migration.csv > plan.json
  livebatch plan --offline --now 2027-03-01T00:00:00Z examples/migration.yaml

Exit codes: 0 plan shown · 64 usage error · 65 invalid manifest";

/// Show what would change: the exact requests (`--offline`), without sending anything.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Manifests (YAML, JSON or CSV). `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// OfflinePlan from the manifests alone: print the exact request parameters of every update.
    /// Needs no credentials and sends nothing.
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub common: ManifestArgs,
}

pub fn run(args: Args, g: &Global) -> u8 {
    if !args.offline {
        eprintln!(
            "error: planning against live state is not available yet; use `livebatch plan --offline FILE...` \
             to see the exact requests without contacting the service"
        );
        return exit::USAGE;
    }
    let inputs = match inputs(&args.files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let batch = validate::load_batch(&inputs, args.common.now());
    if batch.has_errors() {
        print_diagnostics(&batch.diagnostics, g);
        let c = batch.counts();
        eprintln!(
            "invalid: {} error(s), {} warning(s); no plan was made and nothing was sent",
            c.errors, c.warnings
        );
        return exit::INVALID_MANIFEST;
    }
    let plan = offline::plan(&batch);
    print(&plan, args.common.format, g);
    exit::SUCCESS
}

fn print(plan: &OfflinePlan, format: OutputFormat, g: &Global) {
    match format {
        OutputFormat::Json => println!("{}", plan.render_json()),
        OutputFormat::Text => {
            print_diagnostics(&plan.diagnostics, g);
            print!("{}", plan.render_text());
        }
    }
}
