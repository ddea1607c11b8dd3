//! Plan items as work for the engine: change items become exactly their reviewed calls (each
//! guarded, for a saved plan, by the fingerprint of the live state it was planned against); no-op,
//! blocked and missing items are carried along unsent, with their reason, so every report lists
//! them in place.

use super::item::{Expect, Unsent, WorkItem};
use crate::outcome::ItemStatus;
use crate::plan::diff::Decision;
use crate::plan::file::{PlanFile, PlanItem};
use crate::rules::code;

/// Whether change items re-check live state before acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// A saved plan: refuse (stale) an item whose task moved since planning.
    Fingerprint,
    /// Planned a moment ago by this same run (`apply FILE`): act at once.
    None,
}

/// One plan item as work.
pub fn work_item(it: &PlanItem, guard: Guard) -> WorkItem {
    let mut w = WorkItem::new(it.update.clone(), it.origin.clone());
    w.before_status = it.live.as_ref().map(|l| l.task_status);
    if let Decision::Change { changes, .. } | Decision::Blocked { changes, .. } = &it.decision {
        w.changes = changes.iter().map(crate::outcome::Change::from).collect();
    }
    if let Decision::Change {
        held: Some(held), ..
    } = &it.decision
    {
        w.held = held
            .changes
            .iter()
            .map(|c| {
                let why = held.reasons.iter().find(|r| r.field == c.field);
                crate::outcome::Held {
                    field: c.field.to_string(),
                    old: c.old.clone(),
                    new: c.new.clone(),
                    code: why.map(|r| r.code.clone()).unwrap_or_default(),
                    reason: why
                        .or(held.reasons.first())
                        .map(|r| r.message.clone())
                        .unwrap_or_default(),
                }
            })
            .collect();
    }
    match &it.decision {
        Decision::Change { steps, .. } => {
            w.steps = steps.clone();
            if guard == Guard::Fingerprint
                && let (Some(fp), Some(live)) = (&it.fingerprint, &it.live)
            {
                w.expect = Some(Box::new(Expect {
                    fingerprint: fp.clone(),
                    planned: live.clone(),
                    region: it.live_region.unwrap_or(it.region),
                }));
            }
        }
        Decision::NoOp => {
            w.unsent = Some(Box::new(Unsent {
                status: ItemStatus::NoOp,
                error_code: None,
                message: Some("already as the manifest asks; nothing sent".into()),
            }));
        }
        Decision::Blocked { reasons, hint, .. } => {
            let mut message: Vec<String> = reasons
                .iter()
                .map(|r| format!("{}: {}", r.field, r.message))
                .collect();
            if let Some(h) = hint {
                message.push(format!("hint: {h}"));
            }
            w.unsent = Some(Box::new(Unsent {
                status: ItemStatus::Blocked,
                error_code: reasons
                    .iter()
                    .map(|r| r.code.as_str())
                    .find(|c| !c.is_empty())
                    .map(str::to_string),
                message: Some(format!("blocked, not sent: {}", message.join("; "))),
            }));
        }
        Decision::Missing => {
            w.unsent = Some(Box::new(Unsent {
                status: ItemStatus::Missing,
                error_code: Some(code::TASK_NOT_EXIST.to_string()),
                message: Some(format!("no task {} in {}; not sent", it.task_id, it.region)),
            }));
        }
    }
    w
}

/// A saved plan as work, every item in its place.
pub fn work_items(plan: &PlanFile) -> Vec<WorkItem> {
    plan.items
        .iter()
        .map(|it| work_item(it, Guard::Fingerprint))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Field, Region, Update};
    use crate::plan::diff::{Reason, Step};

    fn item(decision: Decision) -> PlanItem {
        PlanItem {
            task_id: "t1".into(),
            region: Region::CnShanghai,
            origin: "m.yaml:3".into(),
            decision,
            update: Update::new("t1", Region::CnShanghai),
            live: Some(Default::default()),
            fingerprint: Some("sha256:x".into()),
            live_region: None,
        }
    }

    #[test]
    fn each_class_becomes_its_work() {
        let change = Decision::Change {
            changes: vec![],
            steps: vec![Step::Stop, Step::Update, Step::Restart],
            held: None,
        };
        let w = work_item(&item(change.clone()), Guard::Fingerprint);
        assert_eq!(w.steps.len(), 3);
        assert!(w.expect.is_some() && w.unsent.is_none());
        assert!(work_item(&item(change), Guard::None).expect.is_none());
        let blocked = Decision::Blocked {
            changes: vec![],
            reasons: vec![Reason {
                field: Field::StartTime,
                code: code::TASK_HAS_STARTED.into(),
                message: "the task has started".into(),
            }],
            hint: None,
        };
        let u = work_item(&item(blocked), Guard::None).unsent.unwrap();
        assert_eq!(u.status, ItemStatus::Blocked);
        assert_eq!(u.error_code.as_deref(), Some(code::TASK_HAS_STARTED));
        assert!(
            u.message
                .unwrap()
                .contains("StartTime: the task has started")
        );
        let u = work_item(&item(Decision::Missing), Guard::None)
            .unsent
            .unwrap();
        assert_eq!(u.error_code.as_deref(), Some(code::TASK_NOT_EXIST));
        let u = work_item(&item(Decision::NoOp), Guard::None)
            .unsent
            .unwrap();
        assert_eq!(u.status, ItemStatus::NoOp);
    }
}
