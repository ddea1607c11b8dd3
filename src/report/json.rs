//! The JSON report: the [`Report`] as is, under its versioned `schema` name.

use std::io::Write as _;

use super::Report;

/// Writes the report to `w` as it serializes (items streamed from disk for a spilled run). A
/// Report holds only strings, numbers and options: only writing, or reading an item back, fails.
pub fn render_to(r: &Report, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(w);
    serde_json::to_writer_pretty(&mut w, r).map_err(std::io::Error::other)?;
    w.write_all(b"\n")?;
    w.flush()
}
