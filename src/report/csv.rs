//! The CSV report: one row per item, for spreadsheets and quick `grep`s.

use super::Report;

/// The header row, in order (columns added later go last, so a script reading them by position
/// keeps working).
pub const COLUMNS: [&str; 12] = [
    "task_id",
    "status",
    "attempts",
    "error_code",
    "error_message",
    "request_id",
    "source",
    "latency_ms",
    "region",
    "changes",
    "steps",
    // With `--waves`: the item's wave (1-based); empty without.
    "wave",
];

/// An item's changes in one cell: `Field: old → new`, separated by `; ` (SourceUrls as the JSON
/// list the plan holds).
fn changes_cell(changes: &[crate::outcome::Change]) -> String {
    changes
        .iter()
        .map(|c| format!("{}: {} → {}", c.field, c.old, c.new))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes one row per item to `out` as they are read.
pub fn render_to(r: &Report, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(COLUMNS)?;
    for i in r.items.iter() {
        let attempts = i.attempts.to_string();
        let latency = i.latency_ms.map(|v| v.to_string()).unwrap_or_default();
        // Text cells came from a manifest or the server: escaped, formulas neutralised.
        let cell = |s: Option<&str>| crate::text::csv_cell(s.unwrap_or("")).into_owned();
        w.write_record([
            cell(Some(&i.task_id)),
            i.status.as_str().to_string(),
            attempts,
            cell(i.error_code.as_deref()),
            cell(i.error_message.as_deref()),
            cell(i.request_id.as_deref()),
            cell(Some(&i.source)),
            latency,
            cell(i.region.as_deref()),
            cell(Some(&changes_cell(&i.changes))),
            i.steps.join(" → "),
            i.wave.map(|w| w.to_string()).unwrap_or_default(),
        ])?;
    }
    w.flush()
}
