//! Stopping a run from outside: the first Ctrl-C or SIGTERM stops dispatching (calls in flight
//! finish and are journaled, the reports are written, exit 3); a second one exits at once,
//! between two journal records.

use tokio_util::sync::CancellationToken;

use crate::apply::journal::Journal;
use crate::exit;

/// Watches for stop requests for the run whose journal is `journal`: the first cancels `cancel`,
/// the second exits the process between two records.
pub(super) fn watch(journal: &Journal, cancel: CancellationToken, quiet: bool) {
    let j = journal.clone();
    tokio::spawn(async move {
        if !stop_requested().await {
            return;
        }
        if !quiet {
            eprintln!(
                "\ninterrupted: no new calls; waiting for calls in flight (Ctrl-C again to exit now)"
            );
        }
        cancel.cancel();
        if stop_requested().await {
            j.exit_now(exit::INTERRUPTED);
        }
    });
}

/// Waits for the first stop request: Ctrl-C (SIGINT) or SIGTERM, how CI systems cancel a job.
async fn stop_requested() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return tokio::signal::ctrl_c().await.is_ok();
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            _ = term.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}
