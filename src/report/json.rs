//! The JSON report: the [`Report`] as is, under its versioned `schema` name.

use super::Report;

pub fn render(r: &Report) -> Vec<u8> {
    // A Report holds only strings, numbers and options: serializing it cannot fail.
    let mut out = serde_json::to_vec_pretty(r).unwrap_or_default();
    out.push(b'\n');
    out
}
