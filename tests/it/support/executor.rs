//! The executor in memory, as the library tests of a whole run drive it: [`run`] builds the
//! run's context, applies the items with `dispatch::run` and summarizes the record as the reports
//! do.

use std::sync::Arc;

use livebatch::apply::config::ExecConfig;
use livebatch::apply::dispatch::{self, RunContext};
use livebatch::apply::engine::Engine;
use livebatch::apply::item::WorkItem;
use livebatch::apply::journal::{Journal, JournalState};
use livebatch::apply::ops::TaskOps;
use livebatch::apply::progress::Progress;
use livebatch::outcome::RunResult;
use livebatch::report::stats::summarize;
use tokio_util::sync::CancellationToken;

/// The run in memory ([`dispatch::run`]), its record summarized as the reports summarize it.
pub async fn run<S: TaskOps>(
    items: Vec<WorkItem>,
    engine: Arc<Engine<S>>,
    journal: &Journal,
    previous: &JournalState,
    config: &ExecConfig,
    cancel: CancellationToken,
    progress: &dyn Progress,
) -> RunResult {
    let ctx = RunContext {
        engine,
        journal,
        previous,
        config,
        cancel,
        progress,
        halt: None,
        rollout: None,
    };
    let applied = dispatch::run(items, &ctx).await;
    RunResult {
        summary: summarize(&applied.record),
        items: applied.items,
    }
}
