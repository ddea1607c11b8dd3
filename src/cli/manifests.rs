//! Shared by every command that reads manifests (`validate`, `plan`, `diff`, `apply`): their
//! flags, turning file arguments into inputs, printing diagnostics, loading a valid batch.

use super::{Global, OutputFormat};
use crate::diagnostic::Diagnostic;
use crate::manifest::Input;
use crate::model::ApiTime;
use crate::validate::{self, Batch};

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

/// Loads and validates the batch; prints diagnostics and returns `None` when it has errors.
pub fn load(files: &[String], now: ApiTime, g: &Global) -> Option<Batch> {
    let inputs = match inputs(files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return None;
        }
    };
    let batch = validate::load_batch(&inputs, now);
    if batch.has_errors() {
        print_diagnostics(&batch.diagnostics, g);
        let c = batch.counts();
        eprintln!(
            "invalid: {} error(s), {} warning(s); no plan was made and nothing was sent",
            c.errors, c.warnings
        );
        return None;
    }
    Some(batch)
}
