//! Stopping a run from outside (Ctrl-C, or SIGTERM as CI systems cancel a job), watched from the
//! moment the journal is locked, in three phases:
//! - before the run (recovery, planning, confirmation): nothing has been sent, so the process
//!   exits at once with exit 3, saying so, and removes a journal its lock alone created;
//! - during the run: the first stops dispatching (calls in flight finish and are journaled, the
//!   reports are written, exit 3); a second exits at once, between two journal records;
//! - after the run (verify, reports, the outcome line): further requests are said and ignored, so
//!   a report is never left half written as a temporary file and the outcome line still comes.
//!
//! Notices go through the progress display, so a live bar does not draw over them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::apply::journal::Journal;
use crate::apply::progress::Progress;
use crate::exit;

enum Phase {
    Before {
        journal: PathBuf,
    },
    Running {
        journal: Journal,
        cancel: CancellationToken,
    },
    Ending,
}

/// The watcher of one `apply`; tell it when the run starts ([`Watch::running`]) and ends
/// ([`Watch::ending`]).
#[derive(Clone)]
pub(super) struct Watch {
    phase: Arc<Mutex<Phase>>,
}

impl Watch {
    /// Starts watching; `journal` is the journal just locked (removed if still empty when a stop
    /// request comes before the run).
    pub(super) fn start(journal: PathBuf, progress: Arc<dyn Progress>, quiet: bool) -> Watch {
        let w = Watch {
            phase: Arc::new(Mutex::new(Phase::Before { journal })),
        };
        let phase = w.phase.clone();
        // Listening from here on (not from when the task first runs): a request that comes at
        // once is not left to the default action (exit 130/143 with nothing said).
        let mut requests = Requests::new();
        tokio::spawn(async move {
            let mut asked = false;
            while requests.next().await {
                let p = phase.lock().unwrap_or_else(|p| p.into_inner());
                match &*p {
                    Phase::Before { journal } => {
                        if std::fs::metadata(journal).is_ok_and(|m| m.len() == 0) {
                            let _ = std::fs::remove_file(journal);
                        }
                        eprintln!("\ninterrupted before the run started: nothing was sent");
                        std::process::exit(i32::from(exit::INTERRUPTED));
                    }
                    Phase::Running { journal, cancel } => {
                        if asked {
                            journal.exit_now(exit::INTERRUPTED);
                        }
                        asked = true;
                        if !quiet {
                            progress.notice(
                                "interrupted: no new calls; waiting for calls in flight (Ctrl-C again to exit now)",
                            );
                        }
                        cancel.cancel();
                    }
                    Phase::Ending => {
                        if !quiet {
                            progress.notice(
                                "interrupted: the run is over; writing its reports, then exiting",
                            );
                        }
                    }
                }
            }
        });
        w
    }

    /// The run starts: a stop request now cancels `cancel`, a second exits between two records.
    pub(super) fn running(&self, journal: &Journal, cancel: CancellationToken) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = Phase::Running {
            journal: journal.clone(),
            cancel,
        };
    }

    /// The run is over: what is left (verify, reports) finishes.
    pub(super) fn ending(&self) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = Phase::Ending;
    }
}

/// Stop requests: Ctrl-C (SIGINT) or SIGTERM, each listened to once for the whole process, so a
/// request that comes while the previous one is handled is not lost.
struct Requests {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Requests {
    fn new() -> Requests {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Requests {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Requests {}
    }

    /// Waits for the next request; `false` when none can be watched.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            if self.int.is_none() && self.term.is_none() {
                return false;
            }
            let int = async {
                match &mut self.int {
                    Some(s) => s.recv().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            let term = async {
                match &mut self.term {
                    Some(s) => s.recv().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = int => r,
                r = term => r,
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}
