//! The store: every task in creation order, found by ID, and the pages DescribeList reads —
//! through a per-region order built when first needed — with the sequence number that orders the
//! write-ahead log. What the operations do to a task is in [`super::operations`].

use std::collections::HashMap;

use crate::api::models::TaskState;
use crate::model::{ApiTime, Region, TaskStatus};

use super::task::{Abnormal, Injected, SeedError, SeedTask, Unreachable};

/// Every task, in creation order (the stable order DescribeList pages through).
#[derive(Debug, Default)]
pub struct Store {
    tasks: Vec<SeedTask>,
    index: HashMap<String, usize>,
    /// Sequence number of the last change (see [`super::wal`]).
    seq: u64,
    /// What makes running tasks run abnormally (`--abnormal-rate`, `--unreachable-source`).
    injected: Injected,
    /// Each region's task positions in order, for DescribeList pages without a filter: built on
    /// the first list after tasks were added or removed. Scanning every task for each page made
    /// reading a million tasks (10,000 pages) take about a scan of a million per page.
    by_region: std::sync::Mutex<Option<HashMap<Region, Vec<usize>>>>,
}

/// DescribeList's filters: a task matches when each one given is part of its field.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter<'a> {
    pub task_id: Option<&'a str>,
    pub task_name: Option<&'a str>,
    pub dst_url: Option<&'a str>,
}

impl ListFilter<'_> {
    fn is_empty(&self) -> bool {
        self.task_id.is_none() && self.task_name.is_none() && self.dst_url.is_none()
    }

    fn matches(&self, t: &SeedTask) -> bool {
        self.task_id.is_none_or(|f| t.task_id.contains(f))
            && self.task_name.is_none_or(|f| t.task_name.contains(f))
            && self.dst_url.is_none_or(|f| t.dst_url.contains(f))
    }
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// Makes `abnormal` pick running tasks to run abnormally (`None`: none do).
    pub fn set_abnormal(&mut self, abnormal: Option<Abnormal>) {
        self.injected.abnormal = abnormal.filter(|a| a.rate > 0.0);
    }

    /// Makes running tasks that pull from a source `unreachable` matches run abnormally.
    pub fn set_unreachable(&mut self, unreachable: Unreachable) {
        self.injected.unreachable = unreachable;
    }

    /// A task's status at `now`, abnormality included: what every operation sees.
    pub fn status_of(&self, t: &SeedTask, now: ApiTime) -> TaskStatus {
        t.status_with(now, &self.injected).0
    }

    /// What Describe and DescribeList report for `t` at `now`, abnormality included.
    pub fn state_of(&self, t: &SeedTask, now: ApiTime) -> TaskState {
        t.to_state_with(now, &self.injected)
    }

    /// How many tasks are in each status at `now`, in the order running, running abnormally,
    /// stopped, not started, exited.
    pub fn status_counts(&self, now: ApiTime) -> Vec<(TaskStatus, usize)> {
        let order = [
            TaskStatus::Running,
            TaskStatus::RunningAbnormal,
            TaskStatus::Stopped,
            TaskStatus::NotStarted,
            TaskStatus::Exited,
        ];
        let mut n = [0usize; 5];
        for t in &self.tasks {
            let s = self.status_of(t, now);
            if let Some(i) = order.iter().position(|&o| o == s) {
                n[i] += 1;
            }
        }
        order.into_iter().zip(n).collect()
    }

    /// The sequence number of the last change.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Numbers the next change.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Continues numbering after `seq` (a loaded snapshot's and log's).
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// Puts a task as it is (replacing one with the same ID, or adding it): replaying the log.
    pub fn put(&mut self, t: SeedTask) {
        match self.index.get(&t.task_id) {
            Some(&i) => self.tasks[i] = t,
            None => {
                self.index.insert(t.task_id.clone(), self.tasks.len());
                self.tasks.push(t);
                self.regions_changed();
            }
        }
    }

    /// Tasks were added or removed: the per-region order is built again when next needed.
    fn regions_changed(&mut self) {
        *self.by_region.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// How many tasks `region` has, and the positions of `take` of them from the `skip`-th, in
    /// order (see `by_region`).
    fn region_page(&self, region: Region, skip: usize, take: usize) -> (usize, Vec<usize>) {
        let mut cache = self.by_region.lock().unwrap_or_else(|p| p.into_inner());
        let by_region = cache.get_or_insert_with(|| {
            let mut m: HashMap<Region, Vec<usize>> = HashMap::new();
            for (i, t) in self.tasks.iter().enumerate() {
                m.entry(t.region).or_default().push(i);
            }
            m
        });
        let all = by_region
            .get(&region)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let page = all.iter().skip(skip).take(take).copied().collect();
        (all.len(), page)
    }

    /// DescribeList's page: how many tasks of `region` match `filter`, and `take` of them from
    /// the `skip`-th, in creation order. Without a filter, read through the per-region order.
    pub fn list_page(
        &self,
        region: Region,
        filter: &ListFilter<'_>,
        skip: usize,
        take: usize,
    ) -> (usize, Vec<&SeedTask>) {
        if filter.is_empty() {
            let (total, at) = self.region_page(region, skip, take);
            return (total, at.into_iter().map(|i| &self.tasks[i]).collect());
        }
        let matching: Vec<&SeedTask> = self
            .tasks
            .iter()
            .filter(|t| t.region == region)
            .filter(|t| filter.matches(t))
            .collect();
        let total = matching.len();
        let page = matching.into_iter().skip(skip).take(take).collect();
        (total, page)
    }

    /// Removes a task if present: replaying the log.
    pub fn forget(&mut self, id: &str) {
        self.remove(id);
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    pub fn tasks(&self) -> &[SeedTask] {
        &self.tasks
    }

    pub fn get(&self, id: &str) -> Option<&SeedTask> {
        self.index.get(id).map(|&i| &self.tasks[i])
    }

    /// Adds tasks; an ID already present is an error, and nothing is added then.
    pub fn seed(&mut self, tasks: Vec<SeedTask>) -> Result<(), SeedError> {
        let mut seen = std::collections::HashSet::new();
        for t in &tasks {
            if self.index.contains_key(&t.task_id) || !seen.insert(t.task_id.as_str()) {
                return Err(SeedError::Duplicate(t.task_id.clone()));
            }
        }
        for t in tasks {
            self.index.insert(t.task_id.clone(), self.tasks.len());
            self.tasks.push(t);
        }
        self.regions_changed();
        Ok(())
    }

    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut SeedTask> {
        self.index.get(id).map(|&i| &mut self.tasks[i])
    }

    pub(super) fn remove(&mut self, id: &str) -> Option<SeedTask> {
        let i = self.index.remove(id)?;
        let t = self.tasks.remove(i);
        self.regions_changed();
        for (j, t) in self.tasks.iter().enumerate().skip(i) {
            self.index.insert(t.task_id.clone(), j);
        }
        Some(t)
    }
}
