//! The offline plan: every valid update of a batch is one call, with its exact wire parameters.
//! Needs no credentials and sends nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::diagnostic::Location;
use crate::model::{Field, Region};
use crate::validate::Batch;

/// How the plan was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// From the manifests alone: every valid update becomes one call.
    Offline,
}

/// One `UpdateLivePullToPush` call that would be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfflineItem {
    pub task_id: String,
    pub region: Region,
    pub origin: Location,
    /// The business parameters exactly as the wire carries them, sorted by name.
    #[serde(serialize_with = "ser_params")]
    pub params: Vec<(&'static str, String)>,
    /// The fields the call changes (everything but the identifying `TaskId`/`Region`/`RegionId`).
    pub changes: Vec<Field>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn ser_params<S: serde::Serializer>(p: &[(&'static str, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(p.len()))?;
    for (k, v) in p {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

/// Totals for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OfflineSummary {
    /// Calls that would be made.
    pub calls: usize,
    /// How many calls change each field.
    pub fields: BTreeMap<Field, usize>,
    pub warnings: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfflinePlan {
    pub mode: Mode,
    pub items: Vec<OfflineItem>,
    pub summary: OfflineSummary,
    /// Warnings from validation (a plan is only made when there are no errors).
    pub diagnostics: Vec<Diagnostic>,
}

impl OfflinePlan {
    /// The summary line, e.g. `offline plan: 40 calls (CallbackUrl 40, EndTime 35); nothing was sent`.
    pub fn summary_line(&self) -> String {
        let fields: Vec<String> = self
            .summary
            .fields
            .iter()
            .map(|(f, n)| format!("{f} {n}"))
            .collect();
        let mut s = format!(
            "offline plan: {} UpdateLivePullToPush call{}",
            self.summary.calls,
            if self.summary.calls == 1 { "" } else { "s" }
        );
        if !fields.is_empty() {
            let _ = write!(s, " ({})", fields.join(", "));
        }
        if self.summary.warnings > 0 {
            let _ = write!(s, ", {} warning(s)", self.summary.warnings);
        }
        s.push_str("; nothing was sent");
        s
    }

    /// The human form: one block per call with its parameters, then the summary line.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for it in &self.items {
            let _ = writeln!(out, "~ {} ({}) from {}", it.task_id, it.region, it.origin);
            for (k, v) in &it.params {
                let _ = writeln!(out, "    {k}={v}");
            }
            out.push('\n');
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }

    /// One JSON document.
    pub fn render_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Builds the offline plan of a batch without errors (the caller checks `has_errors` first; the
/// batch's warnings are carried into the plan).
pub fn plan(batch: &Batch) -> OfflinePlan {
    let mut summary = OfflineSummary::default();
    let items: Vec<OfflineItem> = batch
        .entries
        .iter()
        .map(|e| {
            let changes = e.update.changed_fields();
            for f in &changes {
                *summary.fields.entry(*f).or_default() += 1;
            }
            OfflineItem {
                task_id: e.update.task_id.clone(),
                region: e.update.region,
                origin: e.origin.clone(),
                params: e.update.to_params(),
                changes,
                annotations: e.annotations.clone(),
            }
        })
        .collect();
    summary.calls = items.len();
    summary.warnings = batch.diagnostics.len();
    OfflinePlan {
        mode: Mode::Offline,
        items,
        summary,
        diagnostics: batch.diagnostics.clone(),
    }
}
