//! Shared by every command that reads manifests (`validate`, `plan`, `diff`, `apply`): their
//! flags, turning file arguments into inputs, printing diagnostics, loading a valid batch.

use super::{Global, OutputFormat};
use crate::diagnostic::Diagnostic;
use std::path::Path;

use super::error::CliError;
use crate::exit;
use crate::manifest::{self, Input, NoInput};
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

/// Why the file arguments cannot be read as inputs.
#[derive(Debug)]
pub enum InputsError {
    /// `-` named more than once: a usage error (exit 64).
    StdinTwice,
    /// One or more inputs missing or unreadable, each said once (exit 66).
    NoInput(Vec<NoInput>),
}

impl std::fmt::Display for InputsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputsError::StdinTwice => f.write_str("standard input (-) can be read only once"),
            // One line each; `cli::main` prefixes the first with `error: `.
            InputsError::NoInput(all) => {
                for (i, e) in all.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\nerror: ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl From<InputsError> for CliError {
    fn from(e: InputsError) -> Self {
        match e {
            InputsError::StdinTwice => CliError::usage(e),
            InputsError::NoInput(_) => CliError::no_input(e),
        }
    }
}

/// Turns file arguments into inputs; standard input may be named once. Every file is checked
/// before any is read, so a mistyped path is its own error (exit 66, with the nearest name in
/// its directory) rather than an empty batch reported as invalid.
pub fn inputs(files: &[String]) -> Result<Vec<Input>, InputsError> {
    if files.iter().filter(|f| f.as_str() == "-").count() > 1 {
        return Err(InputsError::StdinTwice);
    }
    let unusable: Vec<NoInput> = files
        .iter()
        .filter(|f| f.as_str() != "-")
        .filter_map(|f| manifest::check_readable(Path::new(f)).err())
        .collect();
    if !unusable.is_empty() {
        return Err(InputsError::NoInput(unusable));
    }
    Ok(files.iter().map(|f| Input::from_arg(f)).collect())
}

/// One input file that is not a manifest (`apply --plan`'s plan): exit 66 when it is missing or
/// unreadable, said as for manifests.
pub fn check_input(path: &Path) -> Result<(), CliError> {
    manifest::check_readable(path).map_err(CliError::no_input)
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

/// Loads and validates the batch. An input that cannot be read is its own error (exit 66);
/// an invalid batch prints its diagnostics and returns exit 65, having sent nothing.
pub fn load(files: &[String], now: ApiTime, g: &Global) -> Result<Batch, CliError> {
    let inputs = inputs(files)?;
    let batch = validate::load_batch(&inputs, now);
    if batch.has_errors() {
        print_diagnostics(&batch.diagnostics, g);
        let c = batch.counts();
        eprintln!(
            "invalid: {} error(s), {} warning(s); no plan was made and nothing was sent",
            c.errors, c.warnings
        );
        return Err(CliError::reported(exit::INVALID_MANIFEST));
    }
    Ok(batch)
}
