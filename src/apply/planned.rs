//! A saved plan as work for the executor: exactly the reviewed calls, each guarded by the
//! fingerprint of the live state it was planned against.

use super::executor::{Expect, WorkItem};
use crate::plan::diff::Decision;
use crate::plan::file::PlanFile;

/// The plan's items that will be sent, and those that will not (with their class).
#[derive(Debug, Clone, PartialEq)]
pub struct FromPlan {
    pub items: Vec<WorkItem>,
    /// `(task id, class)` of no-op, blocked and missing items: reviewed, and not sent.
    pub not_sent: Vec<(String, &'static str)>,
}

pub fn work_items(plan: &PlanFile) -> FromPlan {
    let mut items = Vec::new();
    let mut not_sent = Vec::new();
    for it in &plan.items {
        match &it.decision {
            Decision::Change { steps, .. } => {
                let expect = match (&it.fingerprint, &it.live) {
                    (Some(fp), Some(live)) => Some(Box::new(Expect {
                        fingerprint: fp.clone(),
                        planned: live.clone(),
                    })),
                    _ => None,
                };
                items.push(WorkItem {
                    update: it.update.clone(),
                    source: it.origin.clone(),
                    steps: steps.clone(),
                    expect,
                });
            }
            other => not_sent.push((it.task_id.clone(), other.name())),
        }
    }
    FromPlan { items, not_sent }
}
