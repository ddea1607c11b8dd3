//! Planning a batch against live state: fetch what the batch names, decide each update.

use std::collections::HashMap;

use crate::api::error::ApiError;
use crate::api::models::TaskState;
use crate::model::{ApiTime, Region, Update};
use crate::plan::diff::{PlanOptions, decide, fingerprint};
use crate::plan::fetch::{LiveSource, fetch_live};
use crate::plan::file::PlanItem;

/// Decides every update against already-fetched live state (pure). Each task's state moves into
/// its item (not copied: at 10,000s of tasks the live states are most of a plan's memory); a
/// `TaskId` named twice (validation refuses that) gets the state once, the second is missing.
pub fn build_items(
    updates: &[(Update, String)],
    mut live: HashMap<(Region, String), TaskState>,
    now: ApiTime,
    opts: PlanOptions,
) -> Vec<PlanItem> {
    updates
        .iter()
        .map(|(u, origin)| {
            let state = live.remove(&(u.region, u.task_id.clone()));
            plan_item(u, origin.clone(), state, now, opts)
        })
        .collect()
}

/// One update decided against its task's live state (`None`: no such task), as a plan item.
pub fn plan_item(
    u: &Update,
    origin: String,
    state: Option<TaskState>,
    now: ApiTime,
    opts: PlanOptions,
) -> PlanItem {
    let (decision, update) = decide(u, state.as_ref(), now, opts);
    PlanItem {
        task_id: u.task_id.clone(),
        region: u.region,
        origin,
        decision,
        update,
        fingerprint: state.as_ref().map(fingerprint),
        live: state,
    }
}

/// Fetches the live state of every task the updates name, then decides each update.
pub async fn plan_updates<S: LiveSource>(
    src: &S,
    updates: &[(Update, String)],
    now: ApiTime,
    opts: PlanOptions,
) -> Result<Vec<PlanItem>, ApiError> {
    let wanted: Vec<(Region, String)> = updates
        .iter()
        .map(|(u, _)| (u.region, u.task_id.clone()))
        .collect();
    let live = fetch_live(src, &wanted).await?;
    Ok(build_items(updates, live, now, opts))
}
