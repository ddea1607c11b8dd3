//! `livebatch validate`: check manifests offline, stream them, report every problem at once.

use serde::Serialize;

use super::error::{CliError, CliResult};
use super::manifests::{ManifestArgs, inputs, print_diagnostics};
use super::{Global, OutputFormat};
use crate::diagnostic::{Counts, Diagnostic};
use crate::exit;
use crate::validate;

const EXAMPLES: &str = "\
Examples:
  livebatch validate examples/migration.yaml
  livebatch validate examples/migration.yaml examples/migration.csv
                                one batch: duplicates checked across files
  livebatch validate --now 2027-03-01T00:00:00Z examples/migration.yaml
  cat tasks.csv | livebatch validate -
  livebatch validate --format json big.csv > report.json

Exit codes: 0 valid (warnings allowed) · 64 usage · 65 invalid manifest
            66 a manifest missing or unreadable";

/// Check manifests against every rule that needs no live state. Sends nothing.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Manifests (YAML, JSON or CSV; by extension, else sniffed). `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub common: ManifestArgs,
}

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    files: Vec<&'a str>,
    records: usize,
    valid: usize,
    errors: usize,
    warnings: usize,
    diagnostics: &'a [Diagnostic],
}

pub fn run(args: Args, g: &Global) -> CliResult {
    let inputs = inputs(&args.files)?;
    let now = args.common.now();
    if g.verbose > 0 {
        eprintln!("validating {} input(s) against now = {now}", inputs.len());
    }
    let summary = validate::visit_batch(&inputs, now, &mut |_| {});
    let Counts { errors, warnings } = summary.counts();
    match args.common.format {
        OutputFormat::Json => {
            let report = Report {
                ok: errors == 0,
                files: summary.files.iter().map(|f| &**f).collect(),
                records: summary.records,
                valid: summary.valid,
                errors,
                warnings,
                diagnostics: &summary.diagnostics,
            };
            let s = serde_json::to_string_pretty(&report)
                .map_err(|e| CliError::failure(format!("cannot write the report: {e}")))?;
            println!("{s}");
        }
        OutputFormat::Text => {
            print_diagnostics(&summary.diagnostics, g);
            if !g.quiet {
                println!("{}", summary_line(&summary, errors, warnings));
            }
        }
    }
    if errors > 0 {
        // The diagnostics and the summary line are printed above.
        Err(CliError::reported(exit::INVALID_MANIFEST))
    } else {
        Ok(exit::SUCCESS)
    }
}

fn summary_line(s: &validate::Summary, errors: usize, warnings: usize) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let files = plural(s.files.len(), "file");
    if errors == 0 {
        format!(
            "valid: {} in {files}, {}",
            plural(s.valid, "update"),
            plural(warnings, "warning")
        )
    } else {
        format!(
            "invalid: {}, {} in {files} ({} of {} valid); nothing was sent",
            plural(errors, "error"),
            plural(warnings, "warning"),
            s.valid,
            plural(s.records, "record")
        )
    }
}
