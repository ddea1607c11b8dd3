//! livebatch: bulk updates of ApsaraVideo Live pull-to-push tasks from declarative files, validated
//! offline, planned against live state, and applied at the account's quota with retries, a journal
//! and reports. See `ARCHITECTURE.md` for the map of modules and the flow of one update.

pub mod api;
pub mod apply;
pub mod cli;
pub mod diagnostic;
pub mod emulator;
pub mod exit;
pub mod export;
pub mod fsutil;
pub mod manifest;
pub mod model;
pub mod outcome;
pub mod pace;
pub mod plan;
pub mod quota;
pub mod report;
pub mod revert;
pub mod rules;
pub mod spill;
pub mod text;
pub mod validate;

#[cfg(test)]
mod field_table_tests;
