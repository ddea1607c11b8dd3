//! The pull-to-push operations as a type, so that everything counted per operation (the client's
//! pacers, the emulator's quota windows, statistics) names them the same way.
//!
//! The service states its quota per operation ("You can call this operation up to 10 times per
//! second per account", `UpdateLivePullToPush`'s page; the same for each of the seven), so a
//! Describe never uses up an Update's slot.

use serde::{Deserialize, Serialize};

use super::models::action;

/// One of the seven pull-to-push operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Describe,
    DescribeList,
    Stop,
    Restart,
}

impl Operation {
    /// Every operation, in a fixed order (the index of [`Operation::index`]).
    pub const ALL: [Operation; 7] = [
        Operation::Create,
        Operation::Update,
        Operation::Delete,
        Operation::Describe,
        Operation::DescribeList,
        Operation::Stop,
        Operation::Restart,
    ];

    /// The `Action` / `x-acs-action` name the service (and the emulator's quota) keys it by.
    pub fn action(self) -> &'static str {
        match self {
            Operation::Create => action::CREATE,
            Operation::Update => action::UPDATE,
            Operation::Delete => action::DELETE,
            Operation::Describe => action::DESCRIBE,
            Operation::DescribeList => action::DESCRIBE_LIST,
            Operation::Stop => action::STOP,
            Operation::Restart => action::RESTART,
        }
    }

    /// The operation an `Action` names, `None` for anything else.
    pub fn from_action(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.action() == name)
    }

    /// Position in [`Operation::ALL`], for per-operation arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the call only reads (Describe, DescribeList).
    pub fn is_read(self) -> bool {
        matches!(self, Operation::Describe | Operation::DescribeList)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.action())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_cover_every_action() {
        for (i, op) in Operation::ALL.into_iter().enumerate() {
            assert_eq!(op.index(), i);
            assert_eq!(Operation::from_action(op.action()), Some(op));
        }
        let mut names: Vec<&str> = Operation::ALL.iter().map(|o| o.action()).collect();
        let mut all = action::ALL.to_vec();
        names.sort_unstable();
        all.sort_unstable();
        assert_eq!(names, all);
        assert_eq!(Operation::from_action("Nope"), None);
    }
}
