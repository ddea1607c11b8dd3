//! Planning a batch against live state: fetch what the batch names, decide each update.

use std::collections::HashMap;

use crate::api::error::ApiError;
use crate::api::models::TaskState;
use crate::model::{ApiTime, Region, Update};
use crate::plan::diff::{PlanOptions, decide_in, fingerprint};
use crate::plan::fetch::{LiveSource, fetch_live};
use crate::plan::file::PlanItem;

/// Decides every update against already-fetched live state (pure). Each task's state moves into
/// its item (not copied: at 10,000s of tasks the live states are most of a plan's memory); a
/// `TaskId` named twice (validation refuses that) gets the state once, the second is missing.
/// `elsewhere` holds the tasks found only in another region than their update's.
pub fn build_items(
    updates: &[(Update, String)],
    mut live: HashMap<(Region, String), TaskState>,
    mut elsewhere: HashMap<String, (Region, TaskState)>,
    now: ApiTime,
    opts: PlanOptions,
) -> Vec<PlanItem> {
    updates
        .iter()
        .map(|(u, origin)| {
            let found = match live.remove(&(u.region, u.task_id.clone())) {
                Some(state) => Some((u.region, state)),
                None => elsewhere.remove(&u.task_id),
            };
            plan_item_in(u, origin.clone(), found, now, opts)
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
    plan_item_in(u, origin, state.map(|s| (u.region, s)), now, opts)
}

/// [`plan_item`] for a task found in a region (not necessarily the update's).
pub fn plan_item_in(
    u: &Update,
    origin: String,
    found: Option<(Region, TaskState)>,
    now: ApiTime,
    opts: PlanOptions,
) -> PlanItem {
    let region = found.as_ref().map_or(u.region, |(r, _)| *r);
    let state = found.map(|(_, s)| s);
    let (decision, update) = decide_in(u, state.as_ref(), region, now, opts);
    PlanItem {
        task_id: u.task_id.clone(),
        region: u.region,
        origin,
        decision,
        update,
        fingerprint: state.as_ref().map(fingerprint),
        live_region: (state.is_some() && region != u.region).then_some(region),
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
    let elsewhere = fetch_elsewhere(src, wanted.iter().filter(|w| !live.contains_key(*w))).await?;
    Ok(build_items(updates, live, elsewhere, now, opts))
}

/// Looks for tasks not found in their update's region in every other region: a manifest whose
/// `Region` was edited names where the task should be, not where it is. Found ones are keyed by
/// task ID with the region they are in (the first region in `Region::ALL`'s order, should a task
/// ID answer in several).
pub async fn fetch_elsewhere<'a, S: LiveSource>(
    src: &S,
    missing: impl Iterator<Item = &'a (Region, String)>,
) -> Result<HashMap<String, (Region, TaskState)>, ApiError> {
    let missing: Vec<&(Region, String)> = missing.collect();
    if missing.is_empty() {
        return Ok(HashMap::new());
    }
    let wanted: Vec<(Region, String)> = Region::ALL
        .into_iter()
        .flat_map(|r| {
            missing
                .iter()
                .filter(move |(own, _)| *own != r)
                .map(move |(_, id)| (r, id.clone()))
        })
        .collect();
    let mut found = fetch_live(src, &wanted).await?;
    let mut out = HashMap::new();
    for (r, id) in wanted {
        if let Some(state) = found.remove(&(r, id.clone())) {
            out.entry(id).or_insert((r, state));
        }
    }
    Ok(out)
}
