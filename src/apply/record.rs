//! What a run records: each item's outcome, settled once — handed to the run's sink by its
//! position and counted — and, when the run ends, its [`RunRecord`]: how it ended, the items by
//! status, the calls it made (taken from the engine) and its Update pace over time. The figures
//! the reports show are derived from that record by the reports (`report::stats`).

use std::time::Duration;

use tokio::time::Instant;

use super::engine::Engine;
use super::ops::TaskOps;
use crate::outcome::{CallCounts, Outcome, RunRecord, Settled, Tally};

/// Where each item's outcome goes, by its position in the input (called once per item, in the
/// order items finish). An error halts the run: the outcome could not be kept for the reports.
pub type Sink<'a> = dyn FnMut(usize, Settled) -> std::io::Result<()> + 'a;

/// Settles outcomes as the run goes: to the sink, into the tally; and remembers the first failure
/// to keep one or to read an item, which halts the run.
pub(super) struct Recorder<'s> {
    sink: &'s mut Sink<'s>,
    pub tally: Tally,
    failed: Option<String>,
}

impl<'s> Recorder<'s> {
    pub fn new(sink: &'s mut Sink<'s>) -> Recorder<'s> {
        Recorder {
            sink,
            tally: Tally::default(),
            failed: None,
        }
    }

    /// One item's final outcome.
    pub fn settle(&mut self, at: usize, s: Settled) {
        self.tally.add(s.item.status);
        if let Err(e) = (self.sink)(at, s) {
            self.failed.get_or_insert(format!(
                "cannot keep an item's outcome for the reports: {e}"
            ));
        }
    }

    /// An item could not be read from the work list.
    pub fn unreadable(&mut self, e: &std::io::Error) {
        self.failed
            .get_or_insert(format!("cannot read the run's items back: {e}"));
    }

    /// The failure that must halt the run, once.
    pub fn take_failure(&mut self) -> Option<String> {
        self.failed.take()
    }
}

/// Where a run started on the engine's records, so that the run's own calls are told from
/// planning's before it.
pub(super) struct Mark {
    pub start: Instant,
    pub calls: CallCounts,
    recorded: usize,
    on_engine_clock: Duration,
}

impl Mark {
    pub fn now<S: TaskOps>(engine: &Engine<S>) -> Mark {
        Mark {
            start: Instant::now(),
            calls: engine.counts(),
            recorded: engine.calls_recorded(),
            on_engine_clock: engine.now(),
        }
    }

    /// The record of the run that started at this mark and ends now.
    pub fn finish<S: TaskOps>(
        &self,
        engine: &Engine<S>,
        outcome: Outcome,
        total: u64,
        tally: Tally,
    ) -> RunRecord {
        RunRecord {
            outcome,
            total,
            tally,
            calls: engine.counts().since(&self.calls),
            elapsed: self.start.elapsed(),
            started: self.on_engine_clock,
            timeline: engine.take_calls_from(self.recorded),
            rate_samples: engine.rate_samples(),
            waves: Vec::new(),
        }
    }
}
