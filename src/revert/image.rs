//! The second read of a journal: per task, the before-image of what the chosen runs applied.
//!
//! An applied item's record carries each field it changed with the task's live value at planning
//! (`old`) and the value sent (`new`). A task changed by several items of the chosen runs (a
//! rollout resumed, a task named again) keeps each field's earliest `old` — the value before any
//! of them — and its latest `new`, what they left. A rollback item (a failed wave rolled back)
//! that succeeded has already put the task's before-image back: the task is not reverted.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;

use super::RevertError;
use super::runs::{applied, restored};
use crate::apply::journal::{ItemRecord, Record};
use crate::apply::journal_lines::{BoundedLines, Line};

/// One field a run changed: its value before the first change and after the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldImage {
    /// The field's name as the journal wrote it (`CallbackUrl`, `Region`, …).
    pub field: String,
    /// Its live value when first planned, in the request's text form: what revert restores.
    pub old: String,
    /// The value last sent: what the run left, what live state should still hold.
    pub new: String,
}

/// One task the chosen runs changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskImage {
    pub task_id: String,
    /// The region the run left it in (its last applied item's `Region`), as written; `None` in
    /// records of versions that did not write it.
    pub region: Option<String>,
    pub fields: Vec<FieldImage>,
    /// The journal line of its first applied item, for messages.
    pub line: usize,
    /// Where its update was in its manifest (`file:line`), from its first applied item.
    pub source: String,
}

/// The before-images of the chosen runs: in the journal's order as gathered (the order calls
/// completed), in the manifests' order once [`in_manifest_order`] sorted them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Images {
    pub tasks: Vec<TaskImage>,
    /// Tasks whose whole change a rollback already undid.
    pub rolled_back: Vec<String>,
    /// Tasks applied without a before-image (a `--no-refresh` item among planned ones).
    pub no_image: Vec<String>,
}

/// Gathers images from item records, in journal order ([`Gather::item`]), then [`Gather::finish`].
#[derive(Debug, Default)]
pub struct Gather {
    /// Runs whose applied items are reverted.
    chosen: HashSet<String>,
    /// Runs whose rollback items count: the chosen ones and every run of their rollouts (a
    /// resume can finish a rollback a killed run began).
    rollback_scope: HashSet<String>,
    /// `None`: taken out by a rollback.
    tasks: Vec<Option<TaskImage>>,
    by_id: HashMap<String, usize>,
    rolled_back: Vec<String>,
    no_image: Vec<String>,
}

impl Gather {
    pub fn new(chosen: HashSet<String>, rollback_scope: HashSet<String>) -> Gather {
        Gather {
            chosen,
            rollback_scope,
            ..Gather::default()
        }
    }

    /// One item record, read at journal line `line`.
    pub fn item(&mut self, rec: ItemRecord, line: usize) {
        let ItemRecord { run_id, item, .. } = rec;
        if applied(&item) && self.chosen.contains(&run_id) {
            if item.changes.is_empty() {
                if !self.by_id.contains_key(&item.task_id) {
                    self.no_image.push(item.task_id);
                }
                return;
            }
            let slot = match self.by_id.get(&item.task_id) {
                Some(&i) if self.tasks[i].is_some() => i,
                _ => {
                    self.tasks.push(Some(TaskImage {
                        task_id: item.task_id.clone(),
                        region: None,
                        fields: Vec::new(),
                        line,
                        source: item.source.clone(),
                    }));
                    self.by_id
                        .insert(item.task_id.clone(), self.tasks.len() - 1);
                    self.tasks.len() - 1
                }
            };
            let Some(task) = self.tasks[slot].as_mut() else {
                return;
            };
            task.region = item.region.or(task.region.take());
            for c in item.changes {
                match task.fields.iter_mut().find(|f| f.field == c.field) {
                    Some(f) => f.new = c.new,
                    None => task.fields.push(FieldImage {
                        field: c.field,
                        old: c.old,
                        new: c.new,
                    }),
                }
            }
        } else if restored(&item) && self.rollback_scope.contains(&run_id) {
            // A rollback restores its item's whole before-image: its `changes` name only the
            // fields that still differed (none when the change never took), so the task goes.
            let Some(&i) = self.by_id.get(&item.task_id) else {
                return;
            };
            if self.tasks[i].take().is_some() {
                self.rolled_back.push(item.task_id);
            }
        }
    }

    pub fn finish(self) -> Images {
        let tasks: Vec<TaskImage> = self.tasks.into_iter().flatten().collect();
        // A task restored by a rollback and then applied again is reverted, not "rolled back".
        let kept: HashSet<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        let rolled_back = self
            .rolled_back
            .into_iter()
            .filter(|t| !kept.contains(t.as_str()))
            .collect();
        Images {
            tasks,
            rolled_back,
            no_image: self.no_image,
        }
    }
}

/// Puts tasks in the order their updates had in the run's manifests (`manifests`, as the run's
/// header lists them, then each update's line), so that the revert, applied in waves, canaries
/// the same tasks the run did. The journal holds them in the order their calls completed. A
/// source that names no listed manifest keeps its journal order, after the others.
pub fn in_manifest_order(tasks: &mut [TaskImage], manifests: &[String]) {
    tasks.sort_by_key(|t| {
        let (file, line) = t.source.rsplit_once(':').unwrap_or((t.source.as_str(), ""));
        let file = manifests
            .iter()
            .position(|m| m == file)
            .unwrap_or(usize::MAX);
        (file, line.parse::<u64>().unwrap_or(u64::MAX))
    });
}

/// Reads every item record of `lines` into `g` (lines that do not parse were counted by the first
/// read; they are skipped here).
pub fn gather<R: BufRead>(
    lines: &mut BoundedLines<R>,
    path: &Path,
    mut g: Gather,
) -> Result<Images, RevertError> {
    while let Some((n, line)) = lines.next_line().map_err(|source| RevertError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })? {
        let Line::Whole(line) = line else { continue };
        if let Ok(Record::Item(rec)) = serde_json::from_slice::<Record>(line) {
            g.item(rec, n);
        }
    }
    Ok(g.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Change, ItemResult, ItemStatus};

    fn rec(
        run: &str,
        task: &str,
        status: ItemStatus,
        rollback: bool,
        ch: &[(&str, &str, &str)],
    ) -> ItemRecord {
        let mut item =
            ItemResult::pending(task.into(), format!("m.yaml:{}", task.len()), "h".into());
        item.status = status;
        item.rollback = rollback;
        item.region = Some("cn-shanghai".into());
        item.changes = ch
            .iter()
            .map(|(f, o, n)| Change {
                field: f.to_string(),
                old: o.to_string(),
                new: n.to_string(),
            })
            .collect();
        ItemRecord {
            run_id: run.into(),
            item,
            at: "t".into(),
        }
    }

    fn set(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn fields(t: &TaskImage) -> Vec<(&str, &str, &str)> {
        t.fields
            .iter()
            .map(|f| (f.field.as_str(), f.old.as_str(), f.new.as_str()))
            .collect()
    }

    #[test]
    fn several_items_keep_the_earliest_old_and_the_latest_new() {
        use ItemStatus::*;
        let mut g = Gather::new(set(&["r1", "r2"]), set(&["r1", "r2"]));
        g.item(
            rec("r1", "t1", Succeeded, false, &[("CallbackUrl", "a", "b")]),
            2,
        );
        g.item(
            rec("r0", "t1", Succeeded, false, &[("Offset", "1", "2")]),
            3,
        );
        g.item(
            rec("r1", "t2", Failed, false, &[("CallbackUrl", "a", "b")]),
            4,
        );
        g.item(
            rec(
                "r2",
                "t1",
                Succeeded,
                false,
                &[("CallbackUrl", "b", "c"), ("RepeatNumber", "0", "5")],
            ),
            5,
        );
        g.item(
            rec("r2", "t3", AlreadyApplied, false, &[("EndTime", "x", "y")]),
            6,
        );
        let im = g.finish();
        let ids: Vec<&str> = im.tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["t1", "t3"], "not the other run's, not a failed one");
        assert_eq!(
            fields(&im.tasks[0]),
            [("CallbackUrl", "a", "c"), ("RepeatNumber", "0", "5")]
        );
        assert_eq!(im.tasks[0].line, 2);
        assert_eq!(im.tasks[0].region.as_deref(), Some("cn-shanghai"));
    }

    #[test]
    fn what_a_rollback_restored_leaves_the_image() {
        use ItemStatus::*;
        let mut g = Gather::new(set(&["r1"]), set(&["r1", "r2"]));
        let both = [
            ("CallbackUrl", "a", "b"),
            ("SourceUrls", "[\"x\"]", "[\"y\"]"),
        ];
        g.item(rec("r1", "t1", Succeeded, false, &both), 2);
        g.item(rec("r1", "t2", Succeeded, false, &both), 3);
        g.item(rec("r1", "t3", Succeeded, false, &both), 4);
        g.item(rec("r1", "t4", Succeeded, false, &both), 5);
        g.item(rec("r1", "t5", Succeeded, false, &both), 6);
        g.item(rec("r1", "t5", Succeeded, true, &[]), 7);
        // t1 rolled back (in a resume of the rollout); t2 too, its callback only still differing
        // then; t5's change had never taken (nothing restored, nothing sent); t3's rollback
        // failed; t4's rollback is in another rollout's run: not counted.
        g.item(
            rec(
                "r2",
                "t1",
                Succeeded,
                true,
                &[
                    ("CallbackUrl", "b", "a"),
                    ("SourceUrls", "[\"y\"]", "[\"x\"]"),
                ],
            ),
            6,
        );
        g.item(
            rec("r1", "t2", Succeeded, true, &[("CallbackUrl", "b", "a")]),
            7,
        );
        g.item(rec("r1", "t3", Failed, true, &both), 8);
        g.item(rec("r9", "t4", Succeeded, true, &both), 9);
        let im = g.finish();
        let ids: Vec<&str> = im.tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["t3", "t4"]);
        assert_eq!(im.rolled_back, ["t5", "t1", "t2"]);
    }

    #[test]
    fn tasks_go_back_to_the_manifests_order() {
        let task = |id: &str, source: &str| TaskImage {
            task_id: id.into(),
            region: None,
            fields: Vec::new(),
            line: 0,
            source: source.into(),
        };
        let mut tasks = vec![
            task("c", "b.yaml:3"),
            task("x", "elsewhere"),
            task("b", "a.yaml:10"),
            task("a", "a.yaml:9"),
            task("d", "dir/b:c.yaml:2"),
        ];
        in_manifest_order(
            &mut tasks,
            &["a.yaml".into(), "dir/b:c.yaml".into(), "b.yaml".into()],
        );
        let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "d", "c", "x"]);
    }

    #[test]
    fn an_item_without_a_before_image_is_named() {
        let mut g = Gather::new(set(&["r1"]), set(&["r1"]));
        g.item(rec("r1", "t1", ItemStatus::Succeeded, false, &[]), 2);
        let im = g.finish();
        assert!(im.tasks.is_empty());
        assert_eq!(im.no_image, ["t1"]);
    }
}
