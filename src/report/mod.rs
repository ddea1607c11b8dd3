//! Run reports for people and CI, chosen by file extension; any number per run.
//!
//! One [`Report`] value (built from the executor's result) is rendered by each writer, so every
//! format says the same thing: `.json` (versioned schema, for tools), `.csv` (one row per item, for
//! spreadsheets), `.xml` (JUnit, so CI systems show failed updates as failed tests), `.md` (a
//! summary for a pull-request comment or a CI step summary).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::apply::adaptive::RateSample;
use crate::apply::executor::{HaltReason, RunResult};
use crate::apply::journal::ItemStatus;

pub mod csv;
pub mod json;
pub mod junit;
pub mod markdown;

/// The JSON report's schema name; bumped on any incompatible change.
pub const SCHEMA: &str = "livebatch.report/v1";

/// Latency percentiles over every call, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `completed`, `halted` or `interrupted`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt_reason: Option<HaltReason>,
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Refused because the task moved since the saved plan was made (`apply --plan`).
    #[serde(default)]
    pub stale: u64,
    pub not_attempted: u64,
    /// Calls sent, retries included.
    pub calls: u64,
    pub retries: u64,
    /// Responses classified as throttled.
    pub throttled: u64,
    pub calls_per_second: f64,
    pub updates_per_second: f64,
    pub elapsed_seconds: f64,
    pub latency_ms: Latency,
    /// The send rate over time (seconds since start, calls/s).
    pub rate_samples: Vec<RateSample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportItem {
    pub task_id: String,
    pub status: ItemStatus,
    pub attempts: u32,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: Option<String>,
    /// `file:line` in the manifest.
    pub source: String,
    pub latency_ms: Option<f64>,
}

/// What `apply --verify` found when it read the updated tasks back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Tasks read back (every update that succeeded).
    pub checked: usize,
    /// Those whose live state does not match what was sent.
    pub mismatches: Vec<crate::apply::verify::Mismatch>,
}

/// Everything any report format shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool_version: String,
    pub summary: Summary,
    pub items: Vec<ReportItem>,
    /// Present when the run was made with `--verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verification>,
    /// How many times the credentials were refreshed during the run (present when they can be:
    /// STS role sessions, OIDC, External, URI, ECS; absent for static keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_refreshes: Option<u64>,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

impl Report {
    pub fn from_run(r: &RunResult) -> Report {
        let t = &r.totals;
        let halt_reason = match &r.outcome {
            crate::apply::executor::Outcome::Halted { reason } => Some(reason.clone()),
            _ => None,
        };
        Report {
            schema: SCHEMA.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            summary: Summary {
                outcome: r.outcome.name().to_string(),
                halt_reason,
                total: t.total,
                succeeded: t.succeeded,
                failed: t.failed,
                skipped: t.skipped,
                stale: t.stale,
                not_attempted: t.not_attempted,
                calls: t.calls,
                retries: t.retries,
                throttled: t.throttled,
                calls_per_second: round3(t.calls_per_second),
                updates_per_second: round3(t.updates_per_second),
                elapsed_seconds: round3(t.elapsed_seconds),
                latency_ms: Latency {
                    p50: t.latency_ms_p50.map(round1),
                    p95: t.latency_ms_p95.map(round1),
                    p99: t.latency_ms_p99.map(round1),
                },
                rate_samples: t.rate_samples.clone(),
            },
            items: r
                .items
                .iter()
                .map(|i| ReportItem {
                    task_id: i.task_id.clone(),
                    status: i.status,
                    attempts: i.attempts,
                    error_code: i.error_code.clone(),
                    error_message: i.error_message.clone(),
                    request_id: i.request_id.clone(),
                    source: i.source.clone(),
                    latency_ms: i.latency_ms.map(round1),
                })
                .collect(),
            verify: None,
            credential_refreshes: None,
        }
    }
}

/// A report format, told by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Junit,
    Markdown,
}

/// The extensions `--report` accepts, for messages.
pub const EXTENSIONS: &str = ".json, .csv, .xml (JUnit), .md";
/// Prefixes that name a report's format explicitly (`md:$GITHUB_STEP_SUMMARY`), for messages.
pub const PREFIXES: &str = "json:, csv:, junit:, md:";

/// A report could not be chosen or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "--report {0}: unknown report format; the extension must be one of {EXTENSIONS}, or name the format as a prefix ({PREFIXES} e.g. md:$GITHUB_STEP_SUMMARY)",
        EXTENSIONS = EXTENSIONS,
        PREFIXES = PREFIXES
    )]
    UnknownExtension(PathBuf),
    #[error("cannot write report {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Format {
    pub fn from_path(path: &Path) -> Result<Format, ReportError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("xml") => Ok(Format::Junit),
            Some("md") | Some("markdown") => Ok(Format::Markdown),
            _ => Err(ReportError::UnknownExtension(path.to_path_buf())),
        }
    }

    /// A `--report` value: `FORMAT:PATH` names the format explicitly (for a path without a
    /// telling extension, such as `$GITHUB_STEP_SUMMARY`); anything else is a path whose
    /// extension picks the format. A one-letter prefix is never a format, so `C:\r.md` is a path.
    pub fn from_spec(spec: &Path) -> Result<(PathBuf, Format), ReportError> {
        if let Some((prefix, path)) = spec.to_str().and_then(|s| s.split_once(':')) {
            let format = match prefix.to_ascii_lowercase().as_str() {
                "json" => Some(Format::Json),
                "csv" => Some(Format::Csv),
                "junit" | "xml" => Some(Format::Junit),
                "md" | "markdown" => Some(Format::Markdown),
                _ => None,
            };
            if let Some(f) = format
                && !path.is_empty()
            {
                return Ok((PathBuf::from(path), f));
            }
        }
        Format::from_path(spec).map(|f| (spec.to_path_buf(), f))
    }

    pub fn render(self, r: &Report) -> Vec<u8> {
        match self {
            Format::Json => json::render(r),
            Format::Csv => csv::render(r),
            Format::Junit => junit::render(r),
            Format::Markdown => markdown::render(r).into_bytes(),
        }
    }
}

/// Checks every path's format before the run, so a typo fails before anything is sent.
pub fn check_paths(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Format)>, ReportError> {
    paths.iter().map(|p| Format::from_spec(p)).collect()
}

/// Writes each report whole or not at all (temporary file, fsync, rename).
pub fn write_all(r: &Report, targets: &[(PathBuf, Format)]) -> Result<(), ReportError> {
    for (path, format) in targets {
        crate::fsutil::write_atomic(path, &format.render(r)).map_err(|source| {
            ReportError::Write {
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(
            Format::from_path(Path::new("a/r.JSON")).unwrap(),
            Format::Json
        );
        assert_eq!(Format::from_path(Path::new("r.csv")).unwrap(), Format::Csv);
        assert_eq!(
            Format::from_path(Path::new("r.xml")).unwrap(),
            Format::Junit
        );
        assert_eq!(
            Format::from_path(Path::new("r.md")).unwrap(),
            Format::Markdown
        );
        let e = Format::from_path(Path::new("r.txt"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("r.txt") && e.contains(".json, .csv, .xml (JUnit), .md"),
            "{e}"
        );
        assert!(Format::from_path(Path::new("report")).is_err());
    }

    #[test]
    fn a_prefix_names_the_format_explicitly() {
        let spec = |s: &str| Format::from_spec(Path::new(s));
        assert_eq!(
            spec("md:/runner/_temp/step_summary_1a2b").unwrap(),
            (
                PathBuf::from("/runner/_temp/step_summary_1a2b"),
                Format::Markdown
            )
        );
        assert_eq!(spec("junit:out/r").unwrap().1, Format::Junit);
        assert_eq!(
            spec("JSON:r.txt").unwrap(),
            (PathBuf::from("r.txt"), Format::Json)
        );
        assert_eq!(
            spec("r.csv").unwrap(),
            (PathBuf::from("r.csv"), Format::Csv)
        );
        assert_eq!(
            spec("C:r.md").unwrap(),
            (PathBuf::from("C:r.md"), Format::Markdown)
        );
        assert!(spec("md:").is_err());
        assert!(spec("html:r").is_err());
        let e = spec("summary").unwrap_err().to_string();
        assert!(e.contains("md:$GITHUB_STEP_SUMMARY"), "{e}");
    }
}
