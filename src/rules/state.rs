//! The per-state table: which fields a task's status forbids changing, and why.

use super::{Violation, code};
use crate::model::{Field, TaskStatus};

/// Which statuses forbid changing a field, and why. Read by [`blocked_in_state`].
struct StateRule {
    field: Field,
    blocked: &'static [TaskStatus],
    code: &'static str,
    reason: &'static str,
}

use TaskStatus::{Exited, Running, RunningAbnormal, Stopped};

const ENDED: &str = "the task has ended; an ended task cannot be updated";
const RUNNING_ONLY: &str = "while the task is running only CallbackUrl and RepeatNumber can change; stop it first (or plan with --restart-running)";

/// The per-state rules of the published page: running → only `CallbackUrl`/`RepeatNumber`;
/// stopped → everything but `Region`; `Region` only before start; `StartTime` not after start;
/// `EndTime` not after the end. The first matching row is the one reported.
const STATE_RULES: &[StateRule] = &[
    StateRule {
        field: Field::Region,
        blocked: &[Running, RunningAbnormal, Stopped, Exited],
        code: code::TASK_HAS_STARTED,
        reason: "Region can change only before the task's scheduled start time",
    },
    StateRule {
        field: Field::StartTime,
        blocked: &[Running, RunningAbnormal, Stopped, Exited],
        code: code::TASK_HAS_STARTED,
        reason: "StartTime cannot change after the task started",
    },
    StateRule {
        field: Field::EndTime,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
    StateRule {
        field: Field::EndTime,
        blocked: &[Running, RunningAbnormal],
        code: code::INVALID_PARAMETER,
        reason: RUNNING_ONLY,
    },
    StateRule {
        field: Field::SourceUrls,
        blocked: &[Running, RunningAbnormal],
        code: code::INVALID_PARAMETER,
        reason: RUNNING_ONLY,
    },
    StateRule {
        field: Field::Offset,
        blocked: &[Running, RunningAbnormal],
        code: code::INVALID_PARAMETER,
        reason: RUNNING_ONLY,
    },
    StateRule {
        field: Field::FileIndex,
        blocked: &[Running, RunningAbnormal],
        code: code::INVALID_PARAMETER,
        reason: RUNNING_ONLY,
    },
    StateRule {
        field: Field::SourceUrls,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
    StateRule {
        field: Field::Offset,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
    StateRule {
        field: Field::FileIndex,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
    StateRule {
        field: Field::CallbackUrl,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
    StateRule {
        field: Field::RepeatNumber,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
];

/// Why `field` cannot change while the task is in `status`, or `None` when it can.
pub fn blocked_in_state(field: Field, status: TaskStatus) -> Option<Violation> {
    STATE_RULES
        .iter()
        .find(|r| r.field == field && r.blocked.contains(&status))
        .map(|r| Violation::error(field, r.code, format!("{} (task is {})", r.reason, status)))
}

/// Fields that need a stopped task: a running task must be stopped, updated and restarted.
pub const NEEDS_STOPPED: [Field; 3] = [Field::SourceUrls, Field::Offset, Field::FileIndex];

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::NotStarted;

    #[test]
    fn state_table() {
        assert!(blocked_in_state(Field::CallbackUrl, Running).is_none());
        assert!(blocked_in_state(Field::RepeatNumber, RunningAbnormal).is_none());
        assert_eq!(
            blocked_in_state(Field::SourceUrls, Running).unwrap().code,
            code::INVALID_PARAMETER
        );
        assert_eq!(
            blocked_in_state(Field::StartTime, Stopped).unwrap().code,
            code::TASK_HAS_STARTED
        );
        assert_eq!(
            blocked_in_state(Field::Region, Stopped).unwrap().code,
            code::TASK_HAS_STARTED
        );
        for f in [
            Field::SourceUrls,
            Field::Offset,
            Field::FileIndex,
            Field::EndTime,
            Field::CallbackUrl,
        ] {
            assert!(blocked_in_state(f, Stopped).is_none(), "{f}");
            assert!(blocked_in_state(f, NotStarted).is_none(), "{f}");
            assert!(blocked_in_state(f, Exited).is_some(), "{f}");
        }
        assert!(blocked_in_state(Field::Region, NotStarted).is_none());
        assert!(blocked_in_state(Field::StartTime, NotStarted).is_none());
    }
}
