//! `livebatch apply`: send every change through the pacer of its own operation, capped at that
//! operation's quota, retry what is retryable, slow down when throttled, journal every outcome,
//! and report.
//!
//! The pieces are pure models (pacing, adaptive rate, retry decisions, resume filtering) driven by
//! one async engine ([`executor::Engine`]), the one call path of reads and writes. The engine is
//! generic over the calls it makes ([`ops::TaskOps`]) and takes any [`limiter::Pacer`] per
//! operation ([`limiter::Pacers`]), so whole runs are tested with fakes under tokio's paused time,
//! and the real client plugs in unchanged. What a run produced is [`outcome`], used as is by the
//! journal and the reports.

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
pub mod work;
