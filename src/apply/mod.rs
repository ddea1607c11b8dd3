//! `livebatch apply`: send every update through a pacer capped at the quota, retry what is
//! retryable, slow down when throttled, journal every outcome, and report.
//!
//! The pieces are pure models (pacing, adaptive rate, retry decisions, resume filtering) driven by
//! one async [`executor`]. The executor is generic over the call it makes ([`executor::UpdateSender`])
//! and over the pacing clock ([`limiter::Pacer`]), so the whole run is tested with fakes under
//! tokio's paused time, and the real client plugs in unchanged.

pub mod adaptive;
pub mod executor;
pub mod journal;
pub mod limiter;
pub mod ops;
pub mod outcome;
pub mod planned;
pub mod progress;
pub mod retry;
pub mod sandbox;
pub mod sender;
pub mod session;
pub mod verify;
