//! `livebatch validate`: check manifests offline, stream them, report every problem at once.

use serde::Serialize;

use super::{Global, OutputFormat};
use crate::diagnostic::{Counts, Diagnostic};
use crate::exit;
use crate::manifest::Input;
use crate::model::ApiTime;
use crate::validate;

const EXAMPLES: &str = "\
Examples:
  livebatch validate examples/migration.yaml
  livebatch validate examples/migration.yaml examples/migration.csv   one batch, duplicates checked across files
  livebatch validate --now 2027-03-01T00:00:00Z examples/migration.yaml
  cat tasks.csv | livebatch validate -
  livebatch validate --format json big.csv > report.json

Exit codes: 0 valid (warnings allowed) · 64 usage error · 65 invalid manifest";

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

/// Flags shared by every command that reads manifests.
#[derive(Debug, Clone, clap::Args)]
pub struct ManifestArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Judge time rules ("EndTime after now") against this instant instead of the clock
    /// (yyyy-MM-ddTHH:mm:ssZ, UTC). Makes runs reproducible.
    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub now: Option<ApiTime>,
}

impl ManifestArgs {
    pub fn now(&self) -> ApiTime {
        self.now.unwrap_or_else(clock_now)
    }
}

fn parse_now(s: &str) -> Result<ApiTime, String> {
    ApiTime::parse(s).map_err(|e| e.to_string())
}

/// The real clock, at the API's one-second resolution.
pub fn clock_now() -> ApiTime {
    let secs = chrono::Utc::now().timestamp();
    ApiTime::from_unix(secs).unwrap_or(ApiTime(chrono::DateTime::UNIX_EPOCH))
}

/// Turns file arguments into inputs; standard input may be named once.
pub fn inputs(files: &[String]) -> Result<Vec<Input>, String> {
    if files.iter().filter(|f| f.as_str() == "-").count() > 1 {
        return Err("standard input (-) can be read only once".into());
    }
    Ok(files.iter().map(|f| Input::from_arg(f)).collect())
}

/// Prints diagnostics to stderr: errors always, warnings unless `-q`.
pub fn print_diagnostics(diags: &[Diagnostic], g: &Global) {
    for d in diags {
        if g.quiet && !d.is_error() {
            continue;
        }
        eprintln!("{}\n", d.render());
    }
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

pub fn run(args: Args, g: &Global) -> u8 {
    let inputs = match inputs(&args.files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
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
            match serde_json::to_string_pretty(&report) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("error: cannot write the report: {e}");
                    return exit::FAILURE;
                }
            }
        }
        OutputFormat::Text => {
            print_diagnostics(&summary.diagnostics, g);
            if !g.quiet {
                println!("{}", summary_line(&summary, errors, warnings));
            }
        }
    }
    if errors > 0 {
        exit::INVALID_MANIFEST
    } else {
        exit::SUCCESS
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
