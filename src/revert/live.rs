//! The live state of the tasks a revert would touch, read as `plan` reads: per region the fewer of
//! list pages and describes ([`crate::plan::fetch::fetch_live`]), through whatever source the
//! caller paces (the CLI's engine: each read on its operation's quota, retried by error class).

use std::collections::HashMap;

use super::image::TaskImage;
use crate::api::error::ApiError;
use crate::api::models::TaskState;
use crate::model::Region;
use crate::plan::fetch::{LiveSource, fetch_live};
use crate::plan::live::fetch_elsewhere;

/// Where each task is now and its state, by task ID; a task absent was found in no region.
pub type Found = HashMap<String, (Region, TaskState)>;

/// [`Found`]: every task read.
///
/// Each task is looked for in the region the run left it in; one not there (moved to another
/// region since, or recorded without a region by an older version) is looked for in every other
/// region, so that it is reported where it went rather than as gone.
pub async fn read<S: LiveSource>(src: &S, tasks: &[TaskImage]) -> Result<Found, ApiError> {
    let mut placed = Vec::new();
    let mut unplaced = Vec::new();
    for t in tasks {
        match t.region.as_deref().and_then(|r| r.parse::<Region>().ok()) {
            Some(r) => placed.push((r, t.task_id.clone())),
            None => unplaced.push(t.task_id.clone()),
        }
    }
    let mut wanted = placed.clone();
    for id in &unplaced {
        wanted.extend(Region::ALL.into_iter().map(|r| (r, id.clone())));
    }
    let mut live = fetch_live(src, &wanted).await?;
    let mut found = Found::new();
    for (r, id) in placed.iter().cloned() {
        if let Some(state) = live.remove(&(r, id.clone())) {
            found.insert(id, (r, state));
        }
    }
    // An unplaced task answering in several regions is taken from the first in the documented
    // order, as planning does.
    for id in unplaced {
        for r in Region::ALL {
            if let Some(state) = live.remove(&(r, id.clone())) {
                found.entry(id.clone()).or_insert((r, state));
            }
        }
    }
    let missing: Vec<(Region, String)> = placed
        .into_iter()
        .filter(|(_, id)| !found.contains_key(id))
        .collect();
    for (id, at) in fetch_elsewhere(src, missing.iter()).await? {
        found.entry(id).or_insert(at);
    }
    Ok(found)
}
