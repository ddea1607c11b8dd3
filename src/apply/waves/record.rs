//! The journal records of a rollout in waves (`apply --waves`); the journal writes and reads
//! them as two more kinds of line ([`super::super::journal::Record`]).

use serde::{Deserialize, Serialize};

/// A run in waves (`apply --waves`): how its items are split, written after the run header and
/// before any item, so that a resume goes on with the same waves (and is refused on other items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutRecord {
    pub run_id: String,
    /// The run the rollout began in; a resume continues it under the same id.
    pub rollout_id: String,
    /// `--waves` as given.
    pub spec: String,
    /// Each wave's exclusive end, as a position in the run's item list (plan order).
    pub ends: Vec<usize>,
    /// Change items per wave.
    pub sizes: Vec<usize>,
    /// Items in the list, and a digest of their task IDs in order.
    pub items: usize,
    pub tasks_digest: String,
    pub bake_ms: u64,
    /// `--max-unhealthy` as given (`0`, `3`, `10%`).
    pub max_unhealthy: String,
    /// `rollback` or `halt`.
    pub on_unhealthy: String,
}

/// A wave's gate and what followed it: `gated` is written when the verdict is reached (before any
/// rollback is sent), `rolled_back` when the failed wave's rollback has finished — a journal with
/// the first and not the second was killed during the rollback, and a resume finishes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaveRecord {
    pub run_id: String,
    pub rollout_id: String,
    /// `gated` or `rolled_back`.
    pub phase: String,
    pub wave: crate::outcome::WaveResult,
    pub at: String,
}

/// [`WaveRecord::phase`] of a gate's verdict, written before any rollback is sent.
pub const GATED: &str = "gated";
/// [`WaveRecord::phase`] once a failed wave's rollback has finished.
pub const ROLLED_BACK: &str = "rolled_back";
