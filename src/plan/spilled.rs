//! Planning a batch too large to hold: the validated updates are read back from disk by position,
//! each list page is decided as it arrives, and every plan item goes to disk as soon as it is
//! decided. What stays in memory per item is an index entry (16 bytes: a hash of the task and its
//! position), its region and whether it was found; plus the counts per class and the first items
//! the confirmation shows.
//!
//! The reads are those of [`super::fetch`]: min(list pages, Describes) per region, concurrent
//! under the engine's pacers.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::api::error::ApiError;
use crate::api::models::TaskState;
use crate::model::{ApiTime, Region, Update};
use crate::plan::diff::{Decision, PlanOptions};
use crate::plan::fetch::{LiveSource, Wanted, fetch_into};
use crate::plan::file::PlanItem;
use crate::plan::live::plan_item_in;
use crate::plan::render;
use crate::spill::{Spill, SpillWriter};

/// Reads in flight at most while planning a spilled batch (each still waits for its operation's
/// pacer). A million tasks are 10,000 list pages: all asked at once (the default concurrency at
/// `--qps 10000` is 20,004) they overflowed the emulator's accept backlog and failed on the
/// 5-second connect timeout. 1,000 (the `--concurrency` flag's own ceiling) still keeps
/// 10,000 reads/s at 100 ms of latency.
pub const MAX_READS_IN_FLIGHT: usize = 1000;

/// One valid update of the batch as it is kept on disk: the update, `file:line` of it, and its
/// annotations (`x-…`, read by the sandbox to seed the task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchEntry {
    pub update: Update,
    pub origin: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Position of every task of the batch by (region, TaskId), compact: a 64-bit hash and the
/// position, sorted (16 bytes per task; a hash map of the IDs themselves cost about 80). Two tasks
/// whose hashes collide are both candidates; the entry read back decides.
#[derive(Debug, Clone, Default)]
pub struct TaskIndex {
    keys: Vec<(u64, u32)>,
    regions: Vec<Region>,
    sorted: bool,
}

fn key(region: Region, task_id: &str) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    region.hash(&mut h);
    task_id.hash(&mut h);
    h.finish()
}

impl TaskIndex {
    /// Adds the next position's task.
    pub fn push(&mut self, region: Region, task_id: &str) {
        let at = u32::try_from(self.regions.len()).unwrap_or(u32::MAX);
        self.keys.push((key(region, task_id), at));
        self.regions.push(region);
        self.sorted = false;
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.keys.sort_unstable();
            self.keys.shrink_to_fit();
            self.regions.shrink_to_fit();
            self.sorted = true;
        }
    }

    /// Positions that may hold this task (sorted index only).
    fn candidates(&self, region: Region, task_id: &str) -> impl Iterator<Item = usize> + '_ {
        let k = key(region, task_id);
        let start = self.keys.partition_point(|(h, _)| *h < k);
        self.keys[start..]
            .iter()
            .take_while(move |(h, _)| *h == k)
            .map(|(_, at)| *at as usize)
    }
}

/// A batch on disk with its index, ready to plan.
#[derive(Debug)]
pub struct SpilledBatch {
    pub entries: Spill<BatchEntry>,
    pub index: TaskIndex,
}

impl SpilledBatch {
    pub fn new(entries: Spill<BatchEntry>, mut index: TaskIndex) -> SpilledBatch {
        index.sort();
        SpilledBatch { entries, index }
    }
}

/// What planning a spilled batch produced.
#[derive(Debug)]
pub struct SpilledPlan {
    /// Every item, in the batch's order.
    pub items: Spill<PlanItem>,
    pub summary: render::Summary,
    /// The first items that differ (change, blocked, missing), in order, as many as asked.
    pub preview: Vec<PlanItem>,
    /// How many items differ in all.
    pub differing: usize,
}

impl SpilledPlan {
    /// What `apply` shows before asking (see [`render::preview`]).
    pub fn preview_text(&self) -> String {
        render::preview_of(&self.preview, self.differing, self.summary)
    }
}

/// Planning a spilled batch failed: a read of live state, or the disk.
#[derive(Debug, thiserror::Error)]
pub enum SpilledPlanError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot keep the plan on disk: {0}")]
    Io(#[from] std::io::Error),
}

struct Planner<'a, F> {
    batch: &'a SpilledBatch,
    found: Vec<bool>,
    remaining: BTreeMap<Region, usize>,
    now: ApiTime,
    opts: PlanOptions,
    out: SpillWriter<PlanItem>,
    summary: render::Summary,
    preview: BTreeMap<usize, PlanItem>,
    limit: usize,
    differing: usize,
    observe: F,
    error: Option<std::io::Error>,
    /// The second pass: tasks no read found in their update's region are looked for in every
    /// other region (a manifest's `Region` may have been edited: it says where the task should
    /// be, not where it is).
    elsewhere: bool,
}

impl<F: FnMut(&PlanItem)> Planner<'_, F> {
    fn decide(&mut self, at: usize, entry: BatchEntry, found: Option<(Region, TaskState)>) {
        let item = plan_item_in(&entry.update, entry.origin, found, self.now, self.opts);
        match item.decision {
            Decision::Change { .. } => self.summary.change += 1,
            Decision::NoOp => self.summary.no_op += 1,
            Decision::Blocked { .. } => self.summary.blocked += 1,
            Decision::Missing => self.summary.missing += 1,
        }
        (self.observe)(&item);
        if let Err(e) = self.out.put(at, &item) {
            self.error.get_or_insert(e);
        }
        if item.decision != Decision::NoOp {
            self.differing += 1;
            self.preview.insert(at, item);
            if self.preview.len() > self.limit {
                self.preview.pop_last();
            }
        }
    }

    fn entry(&mut self, at: usize) -> Option<BatchEntry> {
        match self.batch.entries.get(at) {
            Ok(Some(e)) => Some(e),
            Ok(None) => {
                self.error.get_or_insert(std::io::Error::other(format!(
                    "item {} of the batch was never recorded",
                    at + 1
                )));
                None
            }
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }
}

impl<F: FnMut(&PlanItem)> Planner<'_, F> {
    /// Whether entry `at` is still looked for in `region`: in the first pass, in its own region;
    /// in the second, in every other.
    fn looked_for(&self, at: usize, region: Region) -> bool {
        !self.found[at] && ((self.batch.index.regions[at] == region) != self.elsewhere)
    }
}

impl<F: FnMut(&PlanItem)> Wanted for Planner<'_, F> {
    fn regions(&self) -> Vec<(Region, usize)> {
        if self.elsewhere {
            return Region::ALL
                .into_iter()
                .map(|r| (r, self.remaining(r)))
                .filter(|(_, n)| *n > 0)
                .collect();
        }
        self.remaining.iter().map(|(r, n)| (*r, *n)).collect()
    }

    fn remaining(&self, region: Region) -> usize {
        if self.elsewhere {
            return (0..self.found.len())
                .filter(|at| self.looked_for(*at, region))
                .count();
        }
        self.remaining.get(&region).copied().unwrap_or(0)
    }

    fn remaining_ids(&mut self, region: Region) -> Vec<String> {
        let mut ids = BTreeSet::new();
        for at in 0..self.found.len() {
            if self.looked_for(at, region)
                && let Some(e) = self.entry(at)
            {
                ids.insert(e.update.task_id);
            }
        }
        ids.into_iter().collect()
    }

    fn found(&mut self, region: Region, state: TaskState) {
        // First pass: the task's own region; second: an update of any other region.
        let own: Vec<Region> = if self.elsewhere {
            Region::ALL.into_iter().filter(|r| *r != region).collect()
        } else {
            vec![region]
        };
        for own in own {
            let candidates: Vec<usize> = self
                .batch
                .index
                .candidates(own, &state.task_id)
                .filter(|at| !self.found[*at])
                .collect();
            for at in candidates {
                let Some(entry) = self.entry(at) else { return };
                if entry.update.task_id == state.task_id && entry.update.region == own {
                    self.found[at] = true;
                    if let Some(n) = self.remaining.get_mut(&own) {
                        *n = n.saturating_sub(1);
                    }
                    self.decide(at, entry, Some((region, state)));
                    return;
                }
            }
        }
    }
}

/// How to plan a spilled batch: where plan items are kept (`dir`), the clock the rules are judged
/// on, the planning options, the reads in flight at most (each waits for its operation's pacer
/// anyway; never more than [`MAX_READS_IN_FLIGHT`]), and how many differing items to keep for the
/// confirmation's preview (`None`: all).
#[derive(Debug, Clone, Copy)]
pub struct Planning<'a> {
    pub dir: &'a std::path::Path,
    pub now: ApiTime,
    pub opts: PlanOptions,
    pub reads: usize,
    pub preview: Option<usize>,
}

/// Plans a spilled batch against live state: each task read is decided at once and written to
/// disk; tasks no read found are missing. `observe` sees every item as it is decided (in no
/// particular order).
pub async fn plan_spilled<S: LiveSource>(
    src: &S,
    batch: &SpilledBatch,
    how: Planning<'_>,
    observe: impl FnMut(&PlanItem),
) -> Result<SpilledPlan, SpilledPlanError> {
    let Planning {
        dir,
        now,
        opts,
        reads: limit,
        preview,
    } = how;
    let n = batch.index.len();
    let mut remaining = BTreeMap::new();
    for r in &batch.index.regions {
        *remaining.entry(*r).or_insert(0usize) += 1;
    }
    let mut p = Planner {
        batch,
        found: vec![false; n],
        remaining,
        now,
        opts,
        out: SpillWriter::new_in(dir)?,
        summary: render::Summary::default(),
        preview: BTreeMap::new(),
        limit: preview.unwrap_or(usize::MAX),
        differing: 0,
        observe,
        error: None,
        elsewhere: false,
    };
    fetch_into(src, &mut p, limit.min(MAX_READS_IN_FLIGHT)).await?;
    if p.found.iter().any(|f| !f) {
        p.elsewhere = true;
        fetch_into(src, &mut p, limit.min(MAX_READS_IN_FLIGHT)).await?;
    }
    for at in 0..n {
        if !p.found[at]
            && let Some(entry) = p.entry(at)
        {
            p.decide(at, entry, None);
        }
    }
    if let Some(e) = p.error {
        return Err(e.into());
    }
    Ok(SpilledPlan {
        items: p.out.finish()?,
        summary: p.summary,
        preview: p.preview.into_values().collect(),
        differing: p.differing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::ListResponse;
    use crate::plan::live::plan_updates;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An account: tasks per region, every read counted.
    struct Account {
        tasks: Vec<TaskState>,
        region: Region,
        lists: AtomicUsize,
        describes: AtomicUsize,
    }

    impl LiveSource for Account {
        async fn list_page(
            &self,
            r: Region,
            page: u32,
            size: u32,
        ) -> Result<ListResponse, ApiError> {
            self.lists.fetch_add(1, Ordering::SeqCst);
            let mine: Vec<&TaskState> = self.tasks.iter().filter(|_| r == self.region).collect();
            Ok(ListResponse {
                page_number: page,
                page_size: size,
                total: mine.len() as u64,
                task_list: mine
                    .into_iter()
                    .skip(((page - 1) * size) as usize)
                    .take(size as usize)
                    .cloned()
                    .collect(),
                ..ListResponse::default()
            })
        }

        async fn describe(&self, id: &str, r: Region) -> Result<Option<TaskState>, ApiError> {
            self.describes.fetch_add(1, Ordering::SeqCst);
            Ok(self
                .tasks
                .iter()
                .find(|t| r == self.region && t.task_id == id)
                .cloned())
        }
    }

    fn account(n: usize) -> Account {
        let tasks = (0..n)
            .map(|i| {
                let mut t = TaskState {
                    task_id: format!("t{i:04}"),
                    task_status: 3,
                    ..TaskState::default()
                };
                t.task_info.callback_url = "https://old.example.com/cb".into();
                t
            })
            .collect();
        Account {
            tasks,
            region: Region::CnShanghai,
            lists: AtomicUsize::new(0),
            describes: AtomicUsize::new(0),
        }
    }

    /// Updates of tasks t0000..t{n}: every third already as asked, some in another region (missing
    /// there), a few that do not exist.
    fn updates(n: usize) -> Vec<(Update, String)> {
        let mut out: Vec<(Update, String)> = (0..n)
            .map(|i| {
                let region = if i == 7 {
                    Region::CnBeijing
                } else {
                    Region::CnShanghai
                };
                let mut u = Update::new(format!("t{:04}", n - 1 - i), region);
                u.callback_url = Some(if i % 3 == 0 {
                    "https://old.example.com/cb".into()
                } else {
                    format!("https://new.example.com/{i}")
                });
                (u, format!("m.yaml:{}", i + 2))
            })
            .collect();
        let mut gone = Update::new("nope", Region::CnShanghai);
        gone.callback_url = Some("https://new.example.com/x".into());
        out.insert(5.min(out.len()), (gone, "m.yaml:99".into()));
        out
    }

    fn spilled(updates: &[(Update, String)], dir: &std::path::Path) -> SpilledBatch {
        let mut w = SpillWriter::with_threshold(dir, 4096).unwrap();
        let mut index = TaskIndex::default();
        for (u, origin) in updates {
            index.push(u.region, &u.task_id);
            w.push(&BatchEntry {
                update: u.clone(),
                origin: origin.clone(),
                annotations: BTreeMap::new(),
            })
            .unwrap();
        }
        SpilledBatch::new(w.finish().unwrap(), index)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// The same items, in the same order, from the same reads, as planning the batch in memory.
    #[test]
    fn a_spilled_plan_is_the_plan_of_the_batch_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let now = ApiTime::parse("2026-01-01T00:00:00Z").unwrap();
        let opts = PlanOptions::default();
        for (tasks, wanted) in [(1000, 600), (5000, 3), (10, 1)] {
            let ups = updates(wanted);
            let held = account(tasks);
            let expected = block_on(plan_updates(&held, &ups, now, opts)).unwrap();
            let acc = account(tasks);
            let batch = spilled(&ups, dir.path());
            let mut seen = 0;
            let how = Planning {
                dir: dir.path(),
                now,
                opts,
                reads: 4,
                preview: Some(3),
            };
            let plan = block_on(plan_spilled(&acc, &batch, how, |_| seen += 1)).unwrap();
            let items: Vec<PlanItem> = plan.items.iter().map(Result::unwrap).collect();
            assert_eq!(items, expected, "{tasks} tasks, {wanted} wanted");
            assert_eq!(seen, expected.len());
            assert_eq!(plan.summary, render::Summary::of(&expected));
            assert_eq!(
                (
                    acc.lists.load(Ordering::SeqCst),
                    acc.describes.load(Ordering::SeqCst)
                ),
                (
                    held.lists.load(Ordering::SeqCst),
                    held.describes.load(Ordering::SeqCst)
                ),
                "the same reads"
            );
            assert_eq!(
                plan.preview_text(),
                render::preview(&expected, Some(3)),
                "the first differing items, in order"
            );
        }
    }
}
