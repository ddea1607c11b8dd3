//! Which multi-call items a journal says were begun and never finished: an item begins with a
//! `begin` intent (before its stop is sent) and is closed by a restart, a rollback restart, a
//! recovery, or its item record. Plain data over the records' fields, so the journal can keep it
//! while it reads and [`super::recover`] act on it.

use rustc_hash::FxHashMap;

use crate::model::Region;

/// The step recorded before a multi-call item's stop is sent: after a crash the task may be
/// stopped even if the stop's own record was lost.
pub const BEGIN: &str = "begin";
/// A task found stopped by an unfinished item, restarted before the next run planned.
pub const RECOVER_RESTART: &str = "recover-restart";
/// A task of an unfinished item found not stopped (or gone): nothing to do, the item is closed.
pub const RECOVER_CHECKED: &str = "recover-checked";

/// Steps after which a task stopped for an item runs again (or was looked at and needs nothing).
const CLOSING: [&str; 4] = [
    "restart",
    "rollback-restart",
    RECOVER_RESTART,
    RECOVER_CHECKED,
];

/// A multi-call item a run began and never finished: its task may be left stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub task_id: String,
    /// Absent in journals written before steps carried it: every region is looked in.
    pub region: Option<Region>,
    /// The run that began it.
    pub run_id: String,
}

/// Follows a journal's records in order and keeps the items begun (an intent or a stop) and not
/// closed by a restart, a rollback, a recovery or an item record. Only items in flight are held.
#[derive(Debug, Default)]
pub struct Tracker {
    open: FxHashMap<String, Unfinished>,
    /// Order of first appearance, so recovery goes through them as the run did.
    order: Vec<String>,
}

impl Tracker {
    /// A step record: `step` of `task_id` (in `region`) by `run_id`, `ok` or not.
    pub fn step(
        &mut self,
        run_id: &str,
        task_id: &str,
        region: Option<Region>,
        step: &str,
        ok: bool,
    ) {
        if step == BEGIN || step == "stop" {
            let entry = Unfinished {
                task_id: task_id.to_string(),
                region,
                run_id: run_id.to_string(),
            };
            if self.open.insert(task_id.to_string(), entry).is_none() {
                self.order.push(task_id.to_string());
            }
        } else if ok && CLOSING.contains(&step) {
            self.open.remove(task_id);
        }
        self.compact();
    }

    /// An item record of `task_id`: its item ended, whatever it left.
    pub fn item(&mut self, task_id: &str) {
        self.open.remove(task_id);
        self.compact();
    }

    /// Keeps `order` from growing with every item of a long journal.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.open.len() + 1024 {
            self.order.retain(|t| self.open.contains_key(t));
        }
    }

    pub fn finish(mut self) -> Vec<Unfinished> {
        let mut seen = rustc_hash::FxHashSet::default();
        self.order
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .filter_map(|t| self.open.remove(&t))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begun_and_not_closed_is_unfinished() {
        let mut t = Tracker::default();
        // a: finished normally; b: stopped, update done, crash; c: intent only (stop's answer
        // lost); d: stopped, update failed, rollback restart failed, item record written;
        // e: closed by a later recovery.
        for (task, name, ok) in [
            ("a", BEGIN, true),
            ("a", "stop", true),
            ("a", "update", true),
            ("a", "restart", true),
            ("b", BEGIN, true),
            ("b", "stop", true),
            ("b", "update", true),
            ("c", BEGIN, true),
            ("d", BEGIN, true),
            ("d", "stop", true),
            ("d", "update", false),
            ("d", "rollback-restart", false),
            ("e", BEGIN, true),
            ("e", "stop", true),
            ("e", "restart", false),
            ("e", RECOVER_RESTART, false),
            ("e", RECOVER_RESTART, true),
        ] {
            t.step("r1", task, Some(Region::CnShanghai), name, ok);
        }
        t.item("d");
        let left: Vec<_> = t.finish().into_iter().map(|u| u.task_id).collect();
        assert_eq!(left, ["b", "c"]);
    }
}
