//! A wave's health gate, pure: given what each applied item changed (its before-image and what
//! was sent) and what the gate read back after the bake, which tasks are healthy, which count
//! against the wave, and the verdict. Also the two updates an item implies: what was sent (to
//! compare) and its before-image (what a rollback sends).
//!
//! Healthy means the task is where its change should leave it: a task that was running, or that
//! was restarted by stop → update → restart, runs normally (`TaskStatus` 1); any other keeps its
//! status (one not started may have started on schedule during the bake); and its configuration
//! holds what was sent. A task already abnormal when planned is reported, never counted: the
//! change did not break it.

use std::collections::HashMap;

use crate::api::models::TaskState;
use crate::model::{Field, Region, TaskStatus, Update};
use crate::outcome::{Change, ItemResult, ItemStatus, TaskHealth, Verdict, WaveResult};
use crate::plan::diff::changes;
use crate::rules::parse_wire;

/// One task a wave applied, as the gate and a rollback need it: from its outcome (this run's,
/// or an earlier run's of the same rollout, read from the journal).
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub task_id: String,
    /// Where the change left the task (its update's `Region`).
    pub region: Region,
    /// Each field changed: its value at planning (`old`) and the value sent (`new`).
    pub changes: Vec<Change>,
    /// `TaskStatus` at planning.
    pub before_status: Option<i32>,
    /// Sent as stop → update → restart: it should run normally now whatever it was before.
    pub restarted: bool,
}

impl Member {
    /// The member an item's outcome makes, if it was applied (succeeded, not a rollback).
    pub fn from_result(r: &ItemResult) -> Option<Member> {
        if r.status != ItemStatus::Succeeded || r.rollback {
            return None;
        }
        let region = r.region.as_deref()?.parse().ok()?;
        Some(Member {
            task_id: r.task_id.clone(),
            region,
            changes: r.changes.clone(),
            before_status: r.before_status,
            restarted: r.steps.iter().any(|s| s == "restart"),
        })
    }

    /// Healthy before the change (not already abnormal): only such a task counts against the
    /// gate.
    pub fn counts(&self) -> bool {
        self.before_status != Some(TaskStatus::RunningAbnormal.code())
    }
}

/// A wave's members, each task once, in the order first recorded; a later record of a task
/// replaces the earlier (its retry, or this run's over an earlier run's). Indexed by task, so a
/// wave of a hundred thousand items is merged in linear time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Members {
    list: Vec<Member>,
    at: HashMap<String, usize>,
}

impl Members {
    pub fn upsert(&mut self, m: Member) {
        match self.at.get(&m.task_id) {
            Some(&i) => self.list[i] = m,
            None => {
                self.at.insert(m.task_id.clone(), self.list.len());
                self.list.push(m);
            }
        }
    }

    pub fn as_slice(&self) -> &[Member] {
        &self.list
    }
}

/// A field of an item's before-image or sent values that cannot be turned back into an update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("task {task}: the journal names an unknown field `{field}`")]
    UnknownField { task: String, field: String },
    #[error("task {task}: {field} `{value}` from the journal is not a valid value: {why}")]
    BadValue {
        task: String,
        field: String,
        value: String,
        why: String,
    },
}

/// Which side of each change an update is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Sent,
    Before,
}

fn image(m: &Member, side: Side) -> Result<(Update, Vec<Field>), ImageError> {
    let mut u = Update::new(m.task_id.clone(), m.region);
    let mut empty = Vec::new();
    for c in &m.changes {
        let field = Field::from_name(&c.field).ok_or_else(|| ImageError::UnknownField {
            task: m.task_id.clone(),
            field: c.field.clone(),
        })?;
        let text = match side {
            Side::Sent => &c.new,
            Side::Before => &c.old,
        };
        if text.is_empty() {
            // Nothing to restore to: the API has no way to clear a field.
            empty.push(field);
            continue;
        }
        let value = parse_wire(field, text).map_err(|v| ImageError::BadValue {
            task: m.task_id.clone(),
            field: c.field.clone(),
            value: text.clone(),
            why: v.message,
        })?;
        u.set(field, value);
    }
    Ok((u, empty))
}

/// The update that was sent (the fields the item changed, their new values).
pub fn sent_update(m: &Member) -> Result<Update, ImageError> {
    image(m, Side::Sent).map(|(u, _)| u)
}

/// The item's before-image as an update (a `Region` change moves the task back), and the fields
/// whose value at planning was empty: those cannot be restored (the API cannot clear a field).
pub fn before_update(m: &Member) -> Result<(Update, Vec<Field>), ImageError> {
    image(m, Side::Before)
}

fn status_name(code: i32) -> String {
    TaskStatus::from_code(code).map_or_else(|| format!("status {code}"), |s| s.name().to_string())
}

/// Why `m`'s task is not healthy as `live` shows it after the bake (`None`: healthy).
pub fn judge(m: &Member, live: Option<&TaskState>) -> Option<String> {
    let Some(state) = live else {
        return Some(format!("no longer exists in {}", m.region));
    };
    let now = state.task_status;
    if now == TaskStatus::RunningAbnormal.code() {
        let why = match state.task_invalid_reason.as_str() {
            "" => "no reason given".to_string(),
            r => crate::text::escape(r).into_owned(),
        };
        return Some(format!("running abnormally: {why}"));
    }
    let running = TaskStatus::Running.code();
    let should_run = m.restarted
        || m.before_status == Some(running)
        || m.before_status == Some(TaskStatus::RunningAbnormal.code());
    let status_ok = if should_run {
        now == running
    } else {
        match m.before_status {
            None => true,
            // Not started then: it may have started on schedule since.
            Some(0) => now == 0 || now == running,
            Some(before) => now == before,
        }
    };
    if !status_ok {
        let mut why = if should_run {
            format!("{}, should run", status_name(now))
        } else {
            format!(
                "{}, was {} before the change",
                status_name(now),
                status_name(m.before_status.unwrap_or_default())
            )
        };
        if !state.task_exit_reason.is_empty() {
            why.push_str(&format!(
                " ({})",
                crate::text::escape(&state.task_exit_reason)
            ));
        }
        return Some(why);
    }
    let sent = match sent_update(m) {
        Ok(u) => u,
        Err(e) => return Some(e.to_string()),
    };
    let (differ, _) = changes(&sent, state);
    if differ.is_empty() {
        return None;
    }
    let what: Vec<String> = differ
        .iter()
        .map(|c| {
            format!(
                "{} is {}, not {} as sent",
                c.field,
                crate::text::escape(&c.old),
                crate::text::escape(&c.new)
            )
        })
        .collect();
    Some(format!("holds other values: {}", what.join("; ")))
}

/// What a wave is, for its verdict: its place, its size, its threshold and bake.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaveShape {
    pub index: u32,
    pub of: u32,
    pub size: usize,
    pub threshold: super::spec::Threshold,
    pub bake_seconds: f64,
}

/// The gate's verdict on `members` as `live` shows them (keyed by region and task, as
/// `plan::fetch::fetch_live` returns): counted unhealthy tasks over the threshold fail it.
pub fn assess(
    shape: WaveShape,
    members: &[Member],
    live: &HashMap<(Region, String), TaskState>,
) -> WaveResult {
    let mut unhealthy = Vec::new();
    let mut not_counted = Vec::new();
    let mut healthy = 0;
    let mut counted = 0;
    for m in members {
        let state = live.get(&(m.region, m.task_id.clone()));
        counted += usize::from(m.counts());
        match judge(m, state) {
            None => healthy += 1,
            Some(reason) => {
                let h = TaskHealth {
                    task_id: m.task_id.clone(),
                    region: m.region,
                    status: state.map(|s| s.task_status),
                    reason,
                };
                if m.counts() {
                    unhealthy.push(h);
                } else {
                    not_counted.push(h);
                }
            }
        }
    }
    let max_unhealthy = shape.threshold.allowed(counted);
    let verdict = if unhealthy.len() > max_unhealthy {
        Verdict::Failed
    } else {
        Verdict::Passed
    };
    WaveResult {
        index: shape.index,
        of: shape.of,
        size: shape.size,
        applied: members.len(),
        healthy,
        unhealthy,
        not_counted,
        inconclusive: 0,
        max_unhealthy,
        verdict,
        rolled_back: Vec::new(),
        rollback_failed: Vec::new(),
        bake_seconds: shape.bake_seconds,
    }
}

/// A wave whose gate could not read its tasks: no verdict, nothing judged.
pub fn inconclusive(shape: WaveShape, members: usize) -> WaveResult {
    WaveResult {
        index: shape.index,
        of: shape.of,
        size: shape.size,
        applied: members,
        healthy: 0,
        unhealthy: Vec::new(),
        not_counted: Vec::new(),
        inconclusive: members,
        max_unhealthy: 0,
        verdict: Verdict::Inconclusive,
        rolled_back: Vec::new(),
        rollback_failed: Vec::new(),
        bake_seconds: shape.bake_seconds,
    }
}

/// A wave the run never reached.
pub fn not_reached(shape: WaveShape) -> WaveResult {
    WaveResult {
        verdict: Verdict::NotReached,
        ..inconclusive(shape, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::TaskInfo;
    use crate::apply::waves::spec::Threshold;

    const OLD: &str = r#"["https://good.example/a.mp4"]"#;
    const NEW: &str = r#"["https://new.example/a.mp4"]"#;

    fn member(id: &str, before: i32, restarted: bool) -> Member {
        Member {
            task_id: id.into(),
            region: Region::CnShanghai,
            changes: vec![Change {
                field: "SourceUrls".into(),
                old: OLD.into(),
                new: NEW.into(),
            }],
            before_status: Some(before),
            restarted,
        }
    }

    fn live(id: &str, status: i32, urls: &str, reason: &str) -> TaskState {
        TaskState {
            task_id: id.into(),
            task_status: status,
            task_invalid_reason: reason.into(),
            task_info: TaskInfo {
                source_urls: serde_json::from_str(urls).unwrap(),
                ..TaskInfo::default()
            },
            ..TaskState::default()
        }
    }

    #[test]
    fn a_restarted_task_must_run_normally_with_what_was_sent() {
        let m = member("t", 1, true);
        assert_eq!(judge(&m, Some(&live("t", 1, NEW, ""))), None);
        assert_eq!(
            judge(&m, Some(&live("t", 2, NEW, "PullStreamFailed"))).unwrap(),
            "running abnormally: PullStreamFailed"
        );
        assert_eq!(
            judge(&m, Some(&live("t", 3, NEW, ""))).unwrap(),
            "stopped, should run"
        );
        let other = judge(&m, Some(&live("t", 1, OLD, ""))).unwrap();
        assert!(
            other.starts_with("holds other values: SourceUrls is"),
            "{other}"
        );
        assert_eq!(judge(&m, None).unwrap(), "no longer exists in cn-shanghai");
    }

    #[test]
    fn other_tasks_keep_their_status() {
        let stopped = member("s", 3, false);
        assert_eq!(judge(&stopped, Some(&live("s", 3, NEW, ""))), None);
        assert!(
            judge(&stopped, Some(&live("s", -1, NEW, "")))
                .unwrap()
                .contains("was stopped before the change")
        );
        // A task not started may start on schedule during the bake.
        let pending = member("p", 0, false);
        assert_eq!(judge(&pending, Some(&live("p", 1, NEW, ""))), None);
        assert_eq!(judge(&pending, Some(&live("p", 0, NEW, ""))), None);
    }

    #[test]
    fn the_verdict_counts_only_tasks_healthy_before() {
        let members = vec![
            member("a", 1, true),
            member("b", 1, true),
            member("c", 2, true), // abnormal when planned: reported, not counted
        ];
        let mut states = HashMap::new();
        for (id, st) in [("a", 1), ("b", 2), ("c", 2)] {
            states.insert(
                (Region::CnShanghai, id.to_string()),
                live(id, st, NEW, "PullStreamFailed"),
            );
        }
        let shape = WaveShape {
            index: 1,
            of: 2,
            size: 3,
            threshold: Threshold::Count(0),
            bake_seconds: 3.0,
        };
        let w = assess(shape, &members, &states);
        assert_eq!(
            (w.healthy, w.unhealthy.len(), w.not_counted.len()),
            (1, 1, 1)
        );
        assert_eq!(w.unhealthy[0].task_id, "b");
        assert_eq!(w.verdict, Verdict::Failed);
        let lenient = WaveShape {
            threshold: Threshold::Count(1),
            ..shape
        };
        assert_eq!(assess(lenient, &members, &states).verdict, Verdict::Passed);
        // 50% of the two counted tasks allows one.
        let pct = WaveShape {
            threshold: Threshold::Percent(5000),
            ..shape
        };
        assert_eq!(assess(pct, &members, &states).max_unhealthy, 1);
    }

    #[test]
    fn before_image_restores_old_values_and_names_what_cannot_be() {
        let mut m = member("t", 1, true);
        m.changes.push(Change {
            field: "CallbackUrl".into(),
            old: String::new(),
            new: "http://cb.example/x".into(),
        });
        let (u, empty) = before_update(&m).unwrap();
        assert_eq!(
            u.source_urls.as_deref(),
            Some(&["https://good.example/a.mp4".to_string()][..])
        );
        assert_eq!(u.callback_url, None);
        assert_eq!(empty, vec![Field::CallbackUrl]);
        let sent = sent_update(&m).unwrap();
        assert_eq!(sent.callback_url.as_deref(), Some("http://cb.example/x"));
        m.changes[0].field = "Nope".into();
        assert!(matches!(
            sent_update(&m),
            Err(ImageError::UnknownField { .. })
        ));
    }

    #[test]
    fn members_keep_first_order_and_the_latest_record_of_a_task() {
        let mut ms = Members::default();
        ms.upsert(member("a", 1, true));
        ms.upsert(member("b", 1, true));
        ms.upsert(member("a", 3, false));
        let got: Vec<(&str, Option<i32>)> = ms
            .as_slice()
            .iter()
            .map(|m| (m.task_id.as_str(), m.before_status))
            .collect();
        assert_eq!(got, [("a", Some(3)), ("b", Some(1))]);
    }

    #[test]
    fn a_region_change_is_undone_by_moving_back() {
        let mut m = member("t", 0, false);
        m.region = Region::CnBeijing;
        m.changes = vec![Change {
            field: "Region".into(),
            old: "cn-shanghai".into(),
            new: "cn-beijing".into(),
        }];
        let (u, _) = before_update(&m).unwrap();
        assert_eq!(u.region, Region::CnShanghai);
        assert_eq!(sent_update(&m).unwrap().region, Region::CnBeijing);
    }
}
