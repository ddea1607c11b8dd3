//! `livebatch apply`: send every change through the pacer of its own operation, capped at that
//! operation's quota, retry what is retryable, slow down when throttled, journal every outcome.
//!
//! By concept, one file each:
//! - [`engine`]: the one retrying call path of reads and writes, paced per operation, every call
//!   recorded; [`ops`] the calls it makes ([`sender`]: the real client), [`retry`] its decisions;
//! - [`item`]: one item's steps (staleness check, stop → update → restart with rollback), its
//!   outcome journaled;
//! - [`dispatch`]: feeding items as there is room, halts, cancellation;
//! - [`halt`]: the `--max-failures` policy; [`config`]: how a run behaves;
//! - [`record`]: what a run records (outcomes to a sink, then its [`crate::outcome::RunRecord`]);
//! - [`work`]: what a run applies ([`planned`]: plan items as work), [`journal`], [`session`]
//!   (confirm → journal → run, outcomes kept in a spill), [`verify`], [`sandbox`], [`progress`].
//!
//! The pieces are pure models (pacing, adaptive rate, retry decisions, resume filtering) driven by
//! the async engine, generic over the calls it makes ([`ops::TaskOps`]) and taking any
//! [`crate::pace::Pacer`] per operation, so whole runs are tested with fakes under tokio's paused
//! time, and the real client plugs in unchanged. What a run produced is [`crate::outcome`], used
//! as is by the journal and the reports; this module never imports the reports.

pub mod config;
pub mod dispatch;
pub mod engine;
pub mod halt;
pub mod item;
pub mod journal;
pub mod journal_lines;
pub mod ops;
pub mod planned;
pub mod progress;
pub mod record;
pub mod recover;
pub mod retry;
pub mod rollout;
pub mod sandbox;
pub mod sender;
pub mod session;
pub mod unfinished;
pub mod verify;
pub mod waves;
pub mod work;

/// Pacing lives in [`crate::pace`]; kept under its old path for callers of `apply::limiter` and
/// `apply::adaptive`.
pub use crate::pace::{adaptive, limiter};
