//! The published rules of `UpdateLivePullToPush`, in one place, as data and pure checks.
//!
//! Three readers share this module: offline validation (manifest records → diagnostics), planning
//! (an update against a task's live state) and the emulator (which must refuse exactly what the
//! service refuses, with the same error codes). A change in the published rules is a change here.
//!
//! Parsers turn a field's text into its typed value (`parse_*`); checks take typed values
//! (`check_offline`, `check_against_live`). Every failure is a [`Violation`] that names the field,
//! says what is allowed, and carries the error code the service answers with.
//!
//! One part per concern, each re-exported here so callers write `rules::…`:
//! - `field` — what each field accepts on its own: [`FIELD_RULES`], the strict parsers, and the
//!   checks every operation shares (task IDs, sources, times, numbers, callback URLs);
//! - `state` — which fields a task's status forbids changing ([`blocked_in_state`]);
//! - `offline` — every rule that needs no live state ([`check_offline`], [`OfflineChecker`]);
//! - `live` — the rules against a task's live state ([`LiveTask`], [`check_against_live`]);
//! - `create` — `CreateLivePullToPush`'s own rules ([`check_create`]), reusing `field`'s checks.
//!
//! What differs between callers (a parameter's name, whether RTSP is a live source) is passed in
//! as a parameter; no rule is decided by reading another rule's message.
//!
//! This module reads only the domain types (`model`) and text helpers; it knows nothing of the API
//! client or its JSON shapes (planning turns a Describe answer into a [`LiveTask`]).

use std::fmt;

use crate::model::Field;

mod create;
mod field;
mod live;
mod offline;
mod state;

pub use create::*;
pub use field::*;
pub use live::*;
pub use offline::*;
pub use state::*;

/// Error codes the service answers with, used by the emulator and shown in diagnostics.
pub mod code {
    pub const INVALID_PARAMETER: &str = "InvalidParameter";
    pub const ILLEGAL_DURATION: &str = "InvalidParam.CodeIllegalDuration";
    pub const TASK_HAS_STARTED: &str = "CodeTaskHasStarted";
    pub const TASK_NOT_EXIST: &str = "CodeTaskNotExist";
    pub const MISSING_PARAMETER: &str = "MissingParameter";
}

/// How serious a violation is: errors stop the batch, warnings are reported and the batch goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One broken rule, on one field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    pub field: Field,
    pub severity: Severity,
    /// The error code the service would answer with (empty for warnings).
    pub code: &'static str,
    /// What is wrong and what would be right.
    pub message: String,
}

impl Violation {
    pub fn error(field: Field, code: &'static str, message: impl Into<String>) -> Violation {
        Violation {
            field,
            severity: Severity::Error,
            code,
            message: message.into(),
        }
    }

    pub fn warning(field: Field, message: impl Into<String>) -> Violation {
        Violation {
            field,
            severity: Severity::Warning,
            code: "",
            message: message.into(),
        }
    }

    fn invalid(field: Field, message: impl Into<String>) -> Violation {
        Violation::error(field, code::INVALID_PARAMETER, message)
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[cfg(test)]
mod testutil {
    use super::Violation;
    use crate::model::{ApiTime, Field};

    pub fn now() -> ApiTime {
        ApiTime::parse("2026-01-01T00:00:00Z").unwrap()
    }

    pub fn t(s: &str) -> ApiTime {
        ApiTime::parse(s).unwrap()
    }

    pub fn codes(v: &[Violation]) -> Vec<(Field, &'static str)> {
        v.iter().map(|x| (x.field, x.code)).collect()
    }
}
