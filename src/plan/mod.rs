//! Planning: updates against live state, and the offline plan.

pub mod diff;
pub mod fetch;
pub mod file;
pub mod live;
pub mod render;
