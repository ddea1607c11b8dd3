//! Rollouts in waves (`apply --waves`), the pure parts: the spec and its thresholds ([`spec`]),
//! the health gate and before-images ([`gate`]), the journal's records of a rollout ([`record`])
//! and what a resume makes of them ([`state`]). The async side — bake, gate read, rollback — is
//! [`super::rollout`].

pub mod gate;
pub mod record;
pub mod spec;
pub mod state;
