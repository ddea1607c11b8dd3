//! Planning: updates against live state, and the offline plan.

pub mod diff;
pub mod file;
