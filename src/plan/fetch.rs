//! Reading the live state of the tasks a batch names, in as few calls as the quota allows.
//!
//! Per region: one task is described directly; more start with one page of the list (100 tasks),
//! whose `Total` says how many pages remain; the rest are then fetched page by page or described
//! one by one, whichever is fewer calls. 10,000 tasks therefore cost at most 100 list calls, and a
//! batch of three tasks in a large account costs at most four.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::api::error::ApiError;
use crate::api::models::{ListResponse, TaskState};
use crate::model::Region;

/// Largest page the list operation accepts.
pub const PAGE_SIZE: u32 = 100;

/// Where live state comes from. The real implementation wraps the API client behind the
/// executor's limiter and retries; tests use an in-memory one.
pub trait LiveSource: Sync {
    fn list_page(
        &self,
        region: Region,
        page_number: u32,
        page_size: u32,
    ) -> impl Future<Output = Result<ListResponse, ApiError>> + Send;
    /// `Ok(None)` when the task does not exist (`CodeTaskNotExist`).
    fn describe(
        &self,
        task_id: &str,
        region: Region,
    ) -> impl Future<Output = Result<Option<TaskState>, ApiError>> + Send;
}

/// How the rest of a region is read once the first list page said how many pages there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    Nothing,
    Pages(u32),
    Describe(usize),
}

/// Pure choice for the remainder of a region: fewer calls wins, pages on a tie (one page may hold
/// many of the wanted tasks, and pages are also what a drift check wants).
pub fn choose_rest(total: u64, still_wanted: usize) -> Rest {
    let pages = total.div_ceil(PAGE_SIZE as u64).saturating_sub(1) as u32;
    if still_wanted == 0 || pages == 0 {
        Rest::Nothing
    } else if (still_wanted as u64) < pages as u64 {
        Rest::Describe(still_wanted)
    } else {
        Rest::Pages(pages)
    }
}

/// What a fetch is looking for, told of every task a read returns. [`fetch_live`] collects the
/// states in a map; `apply` decides each task as its page arrives and keeps nothing (see
/// [`super::spilled`]).
pub trait Wanted {
    /// Each region with wanted tasks, and how many.
    fn regions(&self) -> Vec<(Region, usize)>;
    /// How many tasks of `region` no read has returned yet.
    fn remaining(&self, region: Region) -> usize;
    /// The IDs of those tasks, each once.
    fn remaining_ids(&mut self, region: Region) -> Vec<String>;
    /// A read returned this task (wanted or not: the implementation decides).
    fn found(&mut self, region: Region, state: TaskState);
}

/// One read to make.
enum Ask {
    Page(Region, u32),
    Describe(Region, String),
}

/// Its answer.
enum Answer {
    Page(Region, u32, Result<ListResponse, ApiError>),
    Described(Region, Result<Option<TaskState>, ApiError>),
}

async fn send<S: LiveSource>(src: &S, ask: Ask) -> Answer {
    match ask {
        Ask::Page(region, page) => {
            Answer::Page(region, page, src.list_page(region, page, PAGE_SIZE).await)
        }
        Ask::Describe(region, id) => Answer::Described(region, src.describe(&id, region).await),
    }
}

/// Reads the live state of every wanted task, handing each task a read returns to
/// `wanted.found` as its answer arrives.
///
/// Per region: one task is described directly; more start with one page of the list, whose
/// `Total` says how many pages remain; the rest are then fetched page by page or described one by
/// one, whichever is fewer calls ([`choose_rest`]). Reads are issued concurrently — regions side by
/// side, and once a region's first page said how many remain, all its remaining pages (or
/// describes) — up to `limit` in flight, so they queue on their operation's pacer and leave as
/// fast as its quota allows, instead of each waiting for the previous answer (10,000 tasks at
/// 100–300 ms latency: about 11 s at 10 calls/s, not about 20 s).
pub async fn fetch_into<S: LiveSource, W: Wanted>(
    src: &S,
    wanted: &mut W,
    limit: usize,
) -> Result<(), ApiError> {
    let limit = limit.max(1);
    let mut asks: VecDeque<Ask> = VecDeque::new();
    for (region, n) in wanted.regions() {
        if n == 1 {
            asks.extend(
                wanted
                    .remaining_ids(region)
                    .into_iter()
                    .map(|id| Ask::Describe(region, id)),
            );
        } else if n > 1 {
            asks.push_back(Ask::Page(region, 1));
        }
    }
    let mut inflight = FuturesUnordered::new();
    loop {
        while inflight.len() < limit
            && let Some(ask) = asks.pop_front()
        {
            inflight.push(send(src, ask));
        }
        let Some(answer) = inflight.next().await else {
            return Ok(());
        };
        match answer {
            Answer::Page(region, page, resp) => {
                let resp = resp?;
                let total = resp.total;
                for t in resp.task_list {
                    wanted.found(region, t);
                }
                if page == 1 {
                    match choose_rest(total, wanted.remaining(region)) {
                        Rest::Nothing => {}
                        Rest::Pages(n) => asks.extend((2..=n + 1).map(|p| Ask::Page(region, p))),
                        Rest::Describe(_) => {
                            let mut ids = wanted.remaining_ids(region);
                            ids.sort_unstable();
                            asks.extend(ids.into_iter().map(|id| Ask::Describe(region, id)));
                        }
                    }
                }
            }
            Answer::Described(region, resp) => {
                if let Some(state) = resp? {
                    wanted.found(region, state);
                }
            }
        }
    }
}

/// The wanted tasks of [`fetch_live`], and what was found of them.
struct Collect {
    ids: BTreeMap<Region, HashSet<String>>,
    found: HashMap<(Region, String), TaskState>,
}

impl Wanted for Collect {
    fn regions(&self) -> Vec<(Region, usize)> {
        self.ids.iter().map(|(r, ids)| (*r, ids.len())).collect()
    }

    fn remaining(&self, region: Region) -> usize {
        self.ids.get(&region).map_or(0, HashSet::len)
    }

    fn remaining_ids(&mut self, region: Region) -> Vec<String> {
        self.ids
            .get(&region)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn found(&mut self, region: Region, state: TaskState) {
        if let Some(ids) = self.ids.get_mut(&region)
            && ids.remove(state.task_id.as_str())
        {
            self.found.insert((region, state.task_id.clone()), state);
        }
    }
}

/// Live state of every wanted task that exists, keyed by (region, task id). A task absent from
/// the result does not exist in that region. The reads are [`fetch_into`]'s, all at once.
pub async fn fetch_live<S: LiveSource>(
    src: &S,
    wanted: &[(Region, String)],
) -> Result<HashMap<(Region, String), TaskState>, ApiError> {
    let mut c = Collect {
        ids: BTreeMap::new(),
        found: HashMap::new(),
    };
    for (r, id) in wanted {
        c.ids.entry(*r).or_default().insert(id.clone());
    }
    fetch_into(src, &mut c, usize::MAX).await?;
    Ok(c.found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Fake {
        tasks: Vec<TaskState>,
        lists: AtomicUsize,
        describes: AtomicUsize,
        /// Latency of every call (on tokio's clock).
        delay: std::time::Duration,
    }

    impl Fake {
        fn new(n: usize) -> Fake {
            let tasks = (0..n)
                .map(|i| TaskState {
                    task_id: format!("t{i:05}"),
                    task_status: 3,
                    ..TaskState::default()
                })
                .collect();
            Fake {
                tasks,
                lists: AtomicUsize::new(0),
                describes: AtomicUsize::new(0),
                delay: std::time::Duration::ZERO,
            }
        }
    }

    impl LiveSource for Fake {
        async fn list_page(
            &self,
            _r: Region,
            page: u32,
            size: u32,
        ) -> Result<ListResponse, ApiError> {
            self.lists.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            let start = ((page - 1) * size) as usize;
            let list = self
                .tasks
                .iter()
                .skip(start)
                .take(size as usize)
                .cloned()
                .collect();
            Ok(ListResponse {
                page_number: page,
                page_size: size,
                total: self.tasks.len() as u64,
                task_list: list,
                ..ListResponse::default()
            })
        }

        async fn describe(&self, id: &str, _r: Region) -> Result<Option<TaskState>, ApiError> {
            self.describes.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            Ok(self.tasks.iter().find(|t| t.task_id == id).cloned())
        }
    }

    fn wanted(ids: impl IntoIterator<Item = String>) -> Vec<(Region, String)> {
        ids.into_iter().map(|i| (Region::CnShanghai, i)).collect()
    }

    fn run(fake: &Fake, w: &[(Region, String)]) -> HashMap<(Region, String), TaskState> {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(fetch_live(fake, w))
            .unwrap()
    }

    #[test]
    fn rest_choice() {
        assert_eq!(choose_rest(100, 5), Rest::Nothing);
        assert_eq!(choose_rest(1000, 0), Rest::Nothing);
        assert_eq!(choose_rest(10_000, 3), Rest::Describe(3));
        assert_eq!(choose_rest(10_000, 99), Rest::Pages(99));
        assert_eq!(choose_rest(10_000, 500), Rest::Pages(99));
    }

    #[test]
    fn ten_thousand_tasks_cost_one_hundred_list_calls() {
        let fake = Fake::new(10_000);
        let w = wanted((0..10_000).map(|i| format!("t{i:05}")));
        let found = run(&fake, &w);
        assert_eq!(found.len(), 10_000);
        assert_eq!(fake.lists.load(Ordering::SeqCst), 100);
        assert_eq!(fake.describes.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_few_tasks_in_a_big_account_are_described() {
        let fake = Fake::new(5_000);
        let w = wanted([
            "t04000".to_string(),
            "t04500".into(),
            "t00001".into(),
            "nope".into(),
        ]);
        let found = run(&fake, &w);
        assert_eq!(found.len(), 3);
        assert!(!found.contains_key(&(Region::CnShanghai, "nope".to_string())));
        assert_eq!(fake.lists.load(Ordering::SeqCst), 1);
        assert_eq!(fake.describes.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn one_task_is_one_describe_and_missing_ones_are_absent() {
        let fake = Fake::new(10);
        let found = run(&fake, &wanted(["t00003".to_string()]));
        assert_eq!(found.len(), 1);
        assert_eq!(fake.lists.load(Ordering::SeqCst), 0);
        let found = run(&fake, &wanted(["gone".to_string(), "t00001".into()]));
        assert_eq!(found.len(), 1);
        assert_eq!(fake.lists.load(Ordering::SeqCst), 1);
    }

    /// After the first page says how many remain, the rest are all asked at once (the pacer, not
    /// the previous answer, decides when each leaves): 100 pages at 200 ms cost two round trips.
    #[tokio::test(start_paused = true)]
    async fn reads_after_the_first_page_are_concurrent() {
        let fake = Fake {
            delay: std::time::Duration::from_millis(200),
            ..Fake::new(10_000)
        };
        let w = wanted((0..10_000).map(|i| format!("t{i:05}")));
        let t0 = tokio::time::Instant::now();
        let found = fetch_live(&fake, &w).await.unwrap();
        assert_eq!(found.len(), 10_000);
        assert_eq!(t0.elapsed(), std::time::Duration::from_millis(400));
        let few = wanted(["t00001".to_string(), "t09000".into(), "t09500".into()]);
        let t0 = tokio::time::Instant::now();
        assert_eq!(fetch_live(&fake, &few).await.unwrap().len(), 3);
        assert_eq!(
            t0.elapsed(),
            std::time::Duration::from_millis(400),
            "page, then 2 describes at once"
        );
    }
}
