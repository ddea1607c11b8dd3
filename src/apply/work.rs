//! What a run applies, as a stream: a saved plan's items (held: the plan file was read whole),
//! or the items of a batch kept on disk — planned against live state (`apply FILE`) or sent
//! whole (`--no-refresh`) — read back one at a time, so a million-update run holds only the items
//! in flight.

use super::item::WorkItem;
use super::journal::{JournalState, ResumeMode};
use super::planned::{Guard, work_item};
use crate::outcome::ItemStatus;
use crate::plan::diff::Step;
use crate::plan::file::PlanItem;
use crate::plan::spilled::BatchEntry;
pub use crate::plan::stale::Expect;
use crate::spill::Spill;

/// The items of a run, in input order.
#[derive(Debug)]
pub enum WorkList {
    /// A saved plan's items.
    Items(Vec<WorkItem>),
    /// `apply FILE`: each plan item on disk becomes its work ([`Guard::None`]).
    Planned(Spill<PlanItem>),
    /// `--no-refresh`: each update on disk, whole, as written.
    Blind(Spill<BatchEntry>),
}

impl WorkList {
    pub fn len(&self) -> usize {
        match self {
            WorkList::Items(v) => v.len(),
            WorkList::Planned(s) => s.len(),
            WorkList::Blind(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every item in order, read back as it is asked for.
    pub fn iter(&self) -> Box<dyn Iterator<Item = std::io::Result<WorkItem>> + Send + '_> {
        match self {
            WorkList::Items(v) => Box::new(v.iter().cloned().map(Ok)),
            WorkList::Planned(s) => {
                Box::new(s.iter().map(|p| p.map(|p| work_item(&p, Guard::None))))
            }
            WorkList::Blind(s) => Box::new(
                s.iter()
                    .map(|e| e.map(|e| WorkItem::new(e.update, e.origin))),
            ),
        }
    }

    /// The counts of every item (one pass; `apply FILE` counts while planning instead).
    pub fn counts(
        &self,
        previous: &JournalState,
        resume: ResumeMode,
    ) -> std::io::Result<WorkCounts> {
        let mut c = WorkCounts::default();
        for it in self.iter() {
            c.add(&it?, previous, resume);
        }
        Ok(c)
    }
}

/// What the confirmation and the run need to know of the items before they are read: how many,
/// how many are not sent (decided from live state) or skipped (journal), and the most calls an
/// item makes (the default concurrency scales with it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkCounts {
    pub total: usize,
    pub unsent: usize,
    /// Of the unsent: blocked and missing (the rest are already as asked).
    pub blocked: usize,
    pub missing: usize,
    pub skipped: usize,
    pub max_calls: usize,
    /// Items that will be sent as stop → update → restart: running streams taken off air.
    pub restarts: usize,
}

impl WorkCounts {
    pub fn add(&mut self, it: &WorkItem, previous: &JournalState, resume: ResumeMode) {
        self.total += 1;
        self.max_calls = self.max_calls.max(it.calls());
        if let Some(u) = &it.unsent {
            self.unsent += 1;
            match u.status {
                ItemStatus::Blocked => self.blocked += 1,
                ItemStatus::Missing => self.missing += 1,
                _ => {}
            }
        } else if !it.is_sent(previous, resume) {
            self.skipped += 1;
        } else if it.steps.contains(&Step::Stop) {
            self.restarts += 1;
        }
    }

    /// Items that will be sent.
    pub fn to_send(&self) -> usize {
        self.total - self.unsent - self.skipped
    }
}
