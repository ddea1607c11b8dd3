//! Whether a saved plan's item still applies to its task as the task is now: the decision made
//! right before the item's first write, from the live state just read. Pure: the engine reads the
//! task, this decides, the item acts on the answer.

use crate::api::models::TaskState;
use crate::model::{Region, Update};
use crate::plan::diff::{Step, already_applied, drift, fingerprint};

/// What a saved plan expects of a task before touching it: the fingerprint of the live state it
/// was planned against, and that state, to say what moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub fingerprint: String,
    pub planned: TaskState,
    /// Where the task was at planning: a Region move reads it there, not in the region the
    /// update moves it to (where it is not yet, which read as a task gone: stale).
    pub region: Region,
}

/// The answer for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// The task is as it was planned against: send the item's calls.
    Fresh,
    /// The task already is where the item leads (a plan applied before): send nothing.
    AlreadyApplied,
    /// The task moved (or is gone) since planning: refuse the item, saying what moved.
    Stale(String),
}

/// Decides an item of `update` in `steps` against the task's state `now` (`None`: the task no
/// longer exists) as read in region `found_in`, given what the plan expected. Describe does not
/// report a task's region, so where it was found is passed in: found where the update moves it
/// rather than where it was planned, it was moved already (by this plan, when the rest matches).
pub fn freshness(
    expect: &Expect,
    update: &Update,
    steps: &[Step],
    now: Option<&TaskState>,
    found_in: Region,
) -> Freshness {
    let Some(now) = now else {
        return Freshness::Stale("the task no longer exists".to_string());
    };
    if found_in != expect.region {
        let moved_here = found_in == update.region;
        return if moved_here
            && (fingerprint(now) == expect.fingerprint
                || already_applied(&expect.planned, update, steps, now))
        {
            Freshness::AlreadyApplied
        } else {
            Freshness::Stale(format!(
                "the task moved from {} to {} since planning",
                expect.region.as_str(),
                found_in.as_str()
            ))
        };
    }
    if fingerprint(now) == expect.fingerprint {
        return Freshness::Fresh;
    }
    if already_applied(&expect.planned, update, steps, now) {
        return Freshness::AlreadyApplied;
    }
    let what: Vec<String> = drift(&expect.planned, now)
        .into_iter()
        .map(|d| format!("{}: {:?} → {:?}", d.what, d.then, d.now))
        .collect();
    Freshness::Stale(format!(
        "live state changed since planning ({})",
        what.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::TaskInfo;
    use crate::model::{Region, TaskStatus};

    fn state(status: TaskStatus, callback: &str) -> TaskState {
        TaskState {
            task_id: "t1".into(),
            task_status: status.code(),
            task_info: TaskInfo {
                task_id: "t1".into(),
                callback_url: callback.into(),
                ..TaskInfo::default()
            },
            ..TaskState::default()
        }
    }

    fn expect(planned: TaskState) -> Expect {
        Expect {
            fingerprint: fingerprint(&planned),
            planned,
            region: Region::CnShanghai,
        }
    }

    fn update(callback: &str) -> Update {
        let mut u = Update::new("t1", Region::CnShanghai);
        u.callback_url = Some(callback.into());
        u
    }

    #[test]
    fn an_unchanged_task_is_fresh() {
        let planned = state(TaskStatus::Stopped, "https://old/cb");
        let e = expect(planned.clone());
        let f = freshness(
            &e,
            &update("https://new/cb"),
            &[Step::Update],
            Some(&planned),
            Region::CnShanghai,
        );
        assert_eq!(f, Freshness::Fresh);
    }

    #[test]
    fn a_gone_task_is_stale() {
        let e = expect(state(TaskStatus::Stopped, "https://old/cb"));
        let f = freshness(
            &e,
            &update("https://new/cb"),
            &[Step::Update],
            None,
            Region::CnShanghai,
        );
        assert_eq!(f, Freshness::Stale("the task no longer exists".into()));
    }

    #[test]
    fn a_task_already_where_the_item_leads_is_already_applied() {
        let e = expect(state(TaskStatus::Stopped, "https://old/cb"));
        let now = state(TaskStatus::Stopped, "https://new/cb");
        let f = freshness(
            &e,
            &update("https://new/cb"),
            &[Step::Update],
            Some(&now),
            Region::CnShanghai,
        );
        assert_eq!(f, Freshness::AlreadyApplied);
    }

    #[test]
    fn a_task_that_moved_elsewhere_is_stale_saying_what_moved() {
        let e = expect(state(TaskStatus::Stopped, "https://old/cb"));
        let now = state(TaskStatus::Stopped, "https://other/cb");
        let Freshness::Stale(why) = freshness(
            &e,
            &update("https://new/cb"),
            &[Step::Update],
            Some(&now),
            Region::CnShanghai,
        ) else {
            panic!("not stale")
        };
        assert!(
            why.starts_with("live state changed since planning ("),
            "{why}"
        );
        assert!(
            why.contains("https://old/cb") && why.contains("https://other/cb"),
            "{why}"
        );
    }

    #[test]
    fn a_task_found_where_a_region_move_takes_it_is_already_applied_elsewhere_stale() {
        let planned = state(TaskStatus::NotStarted, "https://old/cb");
        let mut e = expect(planned.clone());
        e.region = Region::CnBeijing;
        let mut u = Update::new("t1", Region::CnShanghai);
        u.region = Region::CnShanghai;
        let f = freshness(&e, &u, &[Step::Update], Some(&planned), Region::CnShanghai);
        assert_eq!(f, Freshness::AlreadyApplied);
        let Freshness::Stale(why) = freshness(
            &e,
            &u,
            &[Step::Update],
            Some(&planned),
            Region::ApSoutheast1,
        ) else {
            panic!("not stale")
        };
        assert!(
            why.contains("moved from cn-beijing to ap-southeast-1"),
            "{why}"
        );
        // Found where it was planned: the usual fingerprint decision.
        let f = freshness(&e, &u, &[Step::Update], Some(&planned), Region::CnBeijing);
        assert_eq!(f, Freshness::Fresh);
    }
}
