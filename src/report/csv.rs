//! The CSV report: one row per item, for spreadsheets and quick `grep`s.

use super::Report;

/// The header row, in order.
pub const COLUMNS: [&str; 8] = [
    "task_id",
    "status",
    "attempts",
    "error_code",
    "error_message",
    "request_id",
    "source",
    "latency_ms",
];

pub fn render(r: &Report) -> Vec<u8> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(COLUMNS);
    for i in &r.items {
        let attempts = i.attempts.to_string();
        let latency = i.latency_ms.map(|v| v.to_string()).unwrap_or_default();
        let _ = w.write_record([
            i.task_id.as_str(),
            i.status.as_str(),
            attempts.as_str(),
            i.error_code.as_deref().unwrap_or(""),
            i.error_message.as_deref().unwrap_or(""),
            i.request_id.as_deref().unwrap_or(""),
            i.source.as_str(),
            latency.as_str(),
        ]);
    }
    // Writing to a Vec cannot fail.
    w.into_inner().unwrap_or_default()
}
