//! The offline plan: every valid update of a batch is one call, with its exact wire parameters.

use super::{Mode, Plan, PlanItem, PlanSummary};
use crate::validate::Batch;

/// Builds the offline plan of a batch without errors (the caller checks `has_errors` first; the
/// batch's warnings are carried into the plan).
pub fn plan(batch: &Batch) -> Plan {
    let mut summary = PlanSummary::default();
    let items: Vec<PlanItem> = batch
        .entries
        .iter()
        .map(|e| {
            let changes = e.update.changed_fields();
            for f in &changes {
                *summary.fields.entry(*f).or_default() += 1;
            }
            PlanItem {
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
    Plan {
        mode: Mode::Offline,
        items,
        summary,
        diagnostics: batch.diagnostics.clone(),
    }
}
