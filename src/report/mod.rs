//! Run reports for people and CI, chosen by file extension; any number per run.
//!
//! One [`Report`] value (the run's own [`Summary`] and [`ItemResult`]s) is rendered by each writer, so every
//! format says the same thing: `.json` (versioned schema, for tools), `.csv` (one row per item, for
//! spreadsheets), `.xml` (JUnit, so CI systems show failed updates as failed tests), `.md` (a
//! summary for a pull-request comment or a CI step summary).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::outcome::{RunResult, Settled};
use crate::spill::Spill;

pub mod csv;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod outputs;
pub mod stats;
pub mod terminal;
pub mod waves;

/// The JSON report's schema name; bumped on any incompatible change.
pub const SCHEMA: &str = "livebatch.report/v1";

pub use crate::outcome::{ItemResult, Latency, Summary};

/// What `apply --verify` found when it read the updated tasks back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Tasks read back (every update that succeeded).
    pub checked: usize,
    /// Those whose live state does not match what was sent.
    pub mismatches: Vec<crate::outcome::Mismatch>,
}

/// Everything any report format shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool_version: String,
    pub summary: Summary,
    /// In input order.
    pub items: Items,
    /// Present when the run was made with `--verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verification>,
    /// How many times the credentials were refreshed during the run (present when they can be:
    /// STS role sessions, OIDC, External, URI, ECS; absent for static keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_refreshes: Option<u64>,
    /// What run this is: target, inputs, times, pace (absent in reports of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
    /// The command(s) to run next, one `next: …` line each, as the end of the run printed them
    /// (absent when there is nothing to do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// With `--waves`: each wave and its health gate, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<crate::outcome::WaveResult>,
}

/// What run a report describes, so a report read later (or attached to a CI job) says where it
/// was sent, from which inputs, when, and how fast it was allowed to go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The endpoint, or the built-in sandbox.
    pub target: String,
    pub sandbox: bool,
    /// The manifests (or the saved plan) the run applied, each with the SHA-256 of its bytes.
    pub inputs: Vec<InputFile>,
    /// RFC 3339, UTC: when the command started (planning included) and when the run ended.
    pub started_at: String,
    pub finished_at: String,
    /// `--qps`: the quota of each operation, in calls/s.
    pub qps: f64,
    /// The pace updates were sent at (calls/s), below the quota by the pacing headroom.
    pub update_pace: f64,
    pub concurrency: usize,
    pub max_attempts: u32,
}

/// One input of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    pub path: String,
    /// `sha256:<hex>` of the file's bytes; absent for standard input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl InputFile {
    /// Describes `path` (`-` is standard input, not hashed), hashing the file as it is now.
    pub fn of(path: &str) -> InputFile {
        let sha256 = (path != "-").then(|| sha256_of(path)).flatten();
        InputFile {
            path: path.to_string(),
            sha256,
        }
    }
}

/// `sha256:<hex>` of a file's bytes, streamed through the hash as a saved plan hashes its
/// manifests: the input of a million-update run is about 80 MB, and reading it whole to hash it
/// was the peak of the run's memory (measured: 187 → 264 MB resident for a moment at the end of
/// the `million` benchmark).
fn sha256_of(path: &str) -> Option<String> {
    let m = crate::plan::file::manifest_ref(std::path::Path::new(path)).ok()?;
    Some(format!("sha256:{}", m.sha256))
}

impl Report {
    /// The report of a run: its summary and items as they are (moved, not copied).
    pub fn new(run: RunResult) -> Report {
        Report {
            schema: SCHEMA.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            summary: run.summary,
            items: Items::from(run.items),
            verify: None,
            credential_refreshes: None,
            run: None,
            next: None,
            waves: Vec::new(),
        }
    }

    /// The report of a run whose outcomes were kept on disk (see [`crate::spill`]).
    pub fn spilled(summary: Summary, items: Spill<Settled>) -> Report {
        Report {
            items: Items::Spilled(Arc::new(items)),
            ..Report::new(RunResult {
                summary,
                items: Vec::new(),
            })
        }
    }
}

/// A report's items: in memory (a report read back, a test), or on disk as the run kept them
/// (a million items are not held to be written). Either way they are read in input order, one
/// at a time, by every format.
#[derive(Debug, Clone)]
pub enum Items {
    Memory(Vec<ItemResult>),
    /// As the run kept them (each with the update sent, for `--verify`; not shown).
    Spilled(Arc<Spill<Settled>>),
}

impl Items {
    pub fn len(&self) -> usize {
        match self {
            Items::Memory(v) => v.len(),
            Items::Spilled(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each item in input order. Reading a spilled item back can fail: the iteration then ends
    /// early and [`Items::take_error`] says why (every writer checks it).
    pub fn iter(&self) -> Box<dyn Iterator<Item = ItemResult> + '_> {
        match self {
            Items::Memory(v) => Box::new(v.iter().cloned()),
            Items::Spilled(s) => Box::new(s.iter_lossy().map(|s| s.item)),
        }
    }

    /// The read error that ended an iteration early, if any.
    pub fn take_error(&self) -> Option<std::io::Error> {
        match self {
            Items::Memory(_) => None,
            Items::Spilled(s) => s.take_error(),
        }
    }
}

impl Default for Items {
    fn default() -> Items {
        Items::Memory(Vec::new())
    }
}

impl From<Vec<ItemResult>> for Items {
    fn from(v: Vec<ItemResult>) -> Items {
        Items::Memory(v)
    }
}

impl<'a> IntoIterator for &'a Items {
    type Item = ItemResult;
    type IntoIter = Box<dyn Iterator<Item = ItemResult> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for Items {
    fn eq(&self, other: &Items) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Serialize for Items {
    /// As a JSON array, streamed from disk for a spilled run (a read error fails the write).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(Some(self.len()))?;
        match self {
            Items::Memory(v) => {
                for i in v {
                    seq.serialize_element(i)?;
                }
            }
            Items::Spilled(sp) => {
                for i in sp.iter() {
                    seq.serialize_element(&i.map_err(S::Error::custom)?.item)?;
                }
            }
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Items, D::Error> {
        Vec::<ItemResult>::deserialize(d).map(Items::Memory)
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

    /// The whole report in memory; fails (rather than coming out short) if an item could not be
    /// read back.
    pub fn render(self, r: &Report) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.render_to(r, &mut out)?;
        Ok(out)
    }

    /// Writes the report to `w` as it renders (the JSON and CSV reports item by item, so a
    /// million items are never held as text); fails if an item could not be read back.
    pub fn render_to(self, r: &Report, w: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Format::Json => json::render_to(r, w)?,
            Format::Csv => csv::render_to(r, w)?,
            Format::Junit => w.write_all(&junit::render(r))?,
            Format::Markdown => w.write_all(markdown::render(r).as_bytes())?,
        }
        match r.items.take_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Checks every path's format before the run, so a typo fails before anything is sent.
pub fn check_paths(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Format)>, ReportError> {
    paths.iter().map(|p| Format::from_spec(p)).collect()
}

/// Writes each report whole or not at all (temporary file, fsync, rename), streamed.
pub fn write_all(r: &Report, targets: &[(PathBuf, Format)]) -> Result<(), ReportError> {
    for (path, format) in targets {
        crate::fsutil::write_atomic_with(path, |w| format.render_to(r, w)).map_err(|source| {
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

    /// A report whose items were kept on disk (written in the order they finished) renders
    /// byte for byte as the same report held in memory, in every format.
    #[test]
    fn a_spilled_report_renders_as_the_report_in_memory() {
        use crate::outcome::{ItemStatus, Latency, Outcome};
        use crate::spill::SpillWriter;
        let items: Vec<ItemResult> = (0..300)
            .map(|i| {
                let mut r =
                    ItemResult::pending(format!("t{i}"), format!("m.csv:{}", i + 2), "h".into());
                r.status = if i % 7 == 0 {
                    ItemStatus::Failed
                } else {
                    ItemStatus::Succeeded
                };
                r.error_message = (i % 7 == 0).then(|| format!("bad, \"quoted\" {i}"));
                r.latency_ms = Some(f64::from(i) / 10.0);
                r
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut w = SpillWriter::with_threshold(dir.path(), 1000).unwrap();
        for i in (0..items.len()).rev() {
            let kept = Settled {
                item: items[i].clone(),
                sent: None,
            };
            w.put(i, &kept).unwrap();
        }
        let summary: Summary = serde_json::from_value(serde_json::json!({
            "outcome": "completed", "total": 300, "succeeded": 257, "failed": 43, "skipped": 0,
            "not_attempted": 0, "calls": 300, "retries": 0, "throttled": 0,
            "calls_per_second": 1.0, "updates_per_second": 1.0, "elapsed_seconds": 300.0,
            "latency_ms": Latency::default(), "rate_samples": []
        }))
        .unwrap();
        assert_eq!(summary.outcome, Outcome::Completed);
        let spilled = Report::spilled(summary.clone(), w.finish().unwrap());
        let held = Report::new(RunResult {
            summary,
            items: items.clone(),
        });
        assert_eq!(spilled, held);
        for f in [Format::Json, Format::Csv, Format::Junit, Format::Markdown] {
            let mut out = Vec::new();
            f.render_to(&spilled, &mut out).unwrap();
            assert_eq!(out, f.render(&held).unwrap(), "{f:?}");
        }
        assert_eq!(
            terminal::attention(&spilled, 5).unwrap(),
            terminal::attention(&held, 5).unwrap()
        );
    }

    /// A spilled item that cannot be read back makes every rendering fail with the reason; none
    /// comes out short (issue 18: no silent drops).
    #[test]
    fn an_item_that_cannot_be_read_back_fails_the_report_instead_of_shortening_it() {
        use crate::spill::SpillWriter;
        let dir = tempfile::tempdir().unwrap();
        let mut w = SpillWriter::with_threshold(dir.path(), 10).unwrap();
        let mut failed = ItemResult::pending("t0".into(), "m.csv:2".into(), "h".into());
        failed.status = crate::outcome::ItemStatus::Failed;
        let kept = |item: &ItemResult| Settled {
            item: item.clone(),
            sent: None,
        };
        w.put(0, &kept(&failed)).unwrap();
        // Item 2 (position 1) was never recorded; item 3 was.
        w.put(2, &kept(&failed)).unwrap();
        let summary: Summary = serde_json::from_value(serde_json::json!({
            "outcome": "completed", "total": 3, "succeeded": 0, "failed": 3, "skipped": 0,
            "not_attempted": 0, "calls": 3, "retries": 0, "throttled": 0,
            "calls_per_second": 1.0, "updates_per_second": 0.0, "elapsed_seconds": 1.0,
            "latency_ms": Latency::default(), "rate_samples": []
        }))
        .unwrap();
        let r = Report::spilled(summary, w.finish().unwrap());
        for f in [Format::Json, Format::Csv, Format::Junit, Format::Markdown] {
            let e = f.render(&r).unwrap_err();
            assert!(
                e.to_string().contains("item 2 was never recorded"),
                "{f:?}: {e}"
            );
        }
        let e = terminal::attention(&r, 5).unwrap_err();
        assert!(e.to_string().contains("item 2 was never recorded"), "{e}");
    }

    #[test]
    fn an_input_is_hashed_in_blocks_as_a_whole() {
        use sha2::{Digest, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        let f = InputFile::of(p.to_str().unwrap());
        let want = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        assert_eq!(f.sha256.as_deref(), Some(want.as_str()));
        assert_eq!(InputFile::of("-").sha256, None);
        assert_eq!(InputFile::of("/nonexistent/m.csv").sha256, None);
    }

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
