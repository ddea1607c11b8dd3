//! The documented exit codes. CI scripts branch on these, so they never change meaning.

/// Everything asked for was done.
pub const SUCCESS: u8 = 0;
/// A runtime failure: a call failed, a file could not be written, an item failed.
pub const FAILURE: u8 = 1;
/// `plan --detailed-exitcode` / `diff`: changes are pending (live state differs from the manifests).
pub const CHANGES_PENDING: u8 = 2;
/// Interrupted (Ctrl-C) or halted by the failure policy with work left undone.
pub const INTERRUPTED: u8 = 3;
/// A saved plan no longer matches live state (some or all of its items were refused).
pub const STALE_PLAN: u8 = 4;
/// A wave failed its health gate (`apply --waves`): the run stopped there, the wave rolled back
/// unless `--on-unhealthy halt`. `apply --resume` on its journal refuses with the same code: the
/// manifest must be fixed and planned again.
pub const GATE_FAILED: u8 = 5;
/// Declined at `apply`'s confirmation prompt: nothing was sent. Not a failure and not a usage
/// error: a script that pipes `n` (or a reviewer who said no) can tell it from both.
pub const CANCELLED: u8 = 6;
/// The command line was wrong (clap's own 2 is remapped here, to keep 2 for "changes pending").
pub const USAGE: u8 = 64;
/// A manifest is invalid; nothing was sent.
pub const INVALID_MANIFEST: u8 = 65;
/// An input named on the command line (a manifest, `apply --plan`'s plan) does not exist or
/// cannot be read (`EX_NOINPUT`); nothing was read or sent.
pub const NO_INPUT: u8 = 66;
/// No usable credentials, or the service refused them (bad key, signature, permission).
pub const CREDENTIALS: u8 = 77;
