//! Plans: what would be sent, per update, before anything is sent.
//!
//! - [`offline`]: from the manifests alone, the exact request of every update (no credentials).
//! - [`fetch`] + [`diff`] + [`live`]: against live state, each update classified as change, no-op,
//!   blocked or missing, narrowed to the fields that differ; [`render`] shows it as a reviewed diff,
//!   [`markdown`] as a pull-request comment within a size budget.
//! - [`spilled`]: the same for a batch too large to hold (`apply` of a million updates): updates
//!   and plan items on disk, each list page decided as it arrives.
//! - [`file`]: a saved plan, applied exactly by `apply --plan`; [`derive`] checks that every item
//!   of it is what its manifests and recorded live state produce, so an edited plan sends nothing.
//! - [`file`]: a saved plan, applied exactly by `apply --plan`; [`stale`] decides, right before an
//!   item of it is sent, whether it still applies to its task as the task is now.

pub mod derive;
pub mod diff;
pub mod fetch;
pub mod file;
pub mod live;
pub mod markdown;
pub mod offline;
pub mod render;
pub mod spilled;
pub mod stale;
