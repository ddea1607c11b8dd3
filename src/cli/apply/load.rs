//! The load phase: the manifests validated into a batch kept on disk, or a saved plan read and
//! checked again.

use super::super::error::CliError;
use super::super::{Global, manifests};
use crate::apply::item::WorkItem;
use crate::apply::planned;
use crate::exit;
use crate::model::ApiTime;
use crate::plan::file::{PlanFile, PlanItem};
use crate::plan::spilled::{BatchEntry, SpilledBatch, TaskIndex};
use crate::spill::SpillWriter;

/// Text from a file, escaped for the terminal (control and invisible characters shown).
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::escape(s)
}

/// What the run applies: manifests (planned against live state, or sent blind) or a saved plan.
pub(super) enum Source {
    /// The valid updates, kept on disk next to the journal (a million are not held in memory).
    Manifests(SpilledBatch),
    /// A saved plan's items as work, and its items to preview.
    Plan(Vec<WorkItem>, Vec<PlanItem>),
}

/// Validates the manifests as one batch, exactly as `validate` does. Errors: the diagnostics are
/// printed and exit 65 is returned having sent nothing. Warnings are printed unless `-q`. Each
/// valid update is written to a temporary file in `dir` as it is read (see [`SpilledBatch`]).
pub(super) fn load_entries(
    files: &[String],
    now: Option<ApiTime>,
    dir: &std::path::Path,
    g: &Global,
) -> Result<SpilledBatch, CliError> {
    let inputs = manifests::inputs(files)?;
    let now = now.unwrap_or_else(manifests::clock_now);
    let spill_failed = |e: std::io::Error| {
        CliError::failure(format!(
            "cannot keep the validated updates in a temporary file in {}: {e}",
            dir.display()
        ))
    };
    let mut entries = SpillWriter::new_in(dir).map_err(spill_failed)?;
    let mut index = TaskIndex::default();
    let mut failed = None;
    let batch = crate::validate::visit_batch(&inputs, now, &mut |e| {
        if failed.is_some() {
            return;
        }
        index.push(e.update.region, &e.update.task_id);
        let entry = BatchEntry {
            origin: format!("{}:{}", e.origin.file, e.origin.line),
            update: e.update,
            annotations: e.annotations,
        };
        if let Err(e) = entries.push(&entry) {
            failed = Some(e);
        }
    });
    manifests::print_diagnostics(&batch.diagnostics, g);
    if batch.has_errors() {
        let c = batch.counts();
        eprintln!(
            "invalid: {} error(s), {} warning(s); nothing was sent",
            c.errors, c.warnings
        );
        return Err(CliError::reported(exit::INVALID_MANIFEST));
    }
    if let Some(e) = failed {
        return Err(spill_failed(e));
    }
    let entries = entries.finish().map_err(spill_failed)?;
    Ok(SpilledBatch::new(entries, index))
}

/// Reads a saved plan, refusing it whole when a manifest it was made from changed since, or when
/// an update it would send breaks a rule `validate` checks (a plan is a file anyone can edit).
pub(super) fn load_plan(
    path: &std::path::Path,
    now: Option<ApiTime>,
    max_age: Option<std::time::Duration>,
) -> Result<Source, CliError> {
    manifests::check_input(path)?;
    let plan = PlanFile::load(path).map_err(CliError::usage)?;
    // The age is the real clock's (`--now` judges the time rules, not how old a review is).
    if let Some(max_age) = max_age {
        crate::plan::file::check_age(&plan, manifests::clock_now(), max_age).map_err(|e| {
            CliError {
                code: exit::STALE_PLAN,
                message: Some(format!("{}: {e}", path.display())),
            }
        })?;
    }
    if let Err(e) = plan.check_manifests(path) {
        return Err(CliError {
            code: exit::STALE_PLAN,
            message: Some(e.to_string()),
        });
    }
    let now = now.unwrap_or_else(manifests::clock_now);
    let broken = recheck_plan(&plan, now);
    if !broken.is_empty() {
        for line in &broken {
            eprintln!("error: {}: {line}", path.display());
        }
        eprintln!(
            "invalid plan: {} error(s); nothing was sent (re-plan from the manifests instead of editing the plan)",
            broken.len()
        );
        return Err(CliError::reported(exit::INVALID_MANIFEST));
    }
    // What is sent must be what the manifests produce: an edited or spliced item refuses it all.
    crate::plan::derive::check_saved(&plan, path).map_err(|e| CliError {
        code: exit::INVALID_MANIFEST,
        message: Some(e.to_string()),
    })?;
    Ok(Source::Plan(planned::work_items(&plan), plan.items))
}

/// Every update a saved plan would send, checked again with the rules `validate` applies to a
/// manifest; one line per error, naming the item.
pub fn recheck_plan(plan: &PlanFile, now: ApiTime) -> Vec<String> {
    use crate::plan::diff::Decision;
    let mut out = Vec::new();
    for (i, item) in plan.items.iter().enumerate() {
        if !matches!(item.decision, Decision::Change { .. }) {
            continue;
        }
        if item.update.task_id != item.task_id || item.update.region != item.region {
            out.push(format!(
                "item {} ({}): its update is for {} in {}, not the item's task",
                i + 1,
                esc(&item.task_id),
                esc(&item.update.task_id),
                item.update.region.as_str()
            ));
        }
        for v in crate::rules::check_offline(&item.update, now) {
            if v.severity == crate::rules::Severity::Error {
                out.push(format!(
                    "item {} ({}, from {}): {} [{}]",
                    i + 1,
                    esc(&item.task_id),
                    esc(&item.origin),
                    esc(&v.message),
                    v.code
                ));
            }
        }
    }
    out
}
