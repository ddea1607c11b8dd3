//! The JUnit XML report: one test case per item, so CI systems list failed updates natively.
//! Failed items carry `<failure>`; skipped and not-attempted ones carry `<skipped>`.

use std::fmt::Write;

use super::Report;
use crate::apply::outcome::ItemStatus;

/// Escapes text for XML attributes and content. Characters XML 1.0 forbids (most control
/// characters) become U+FFFD, so a hostile error message cannot make the file unreadable.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c if crate::text::is_hidden(c) => {
                out.push_str(&crate::text::escape(c.encode_utf8(&mut [0; 4])))
            }
            c => out.push(c),
        }
    }
    out
}

pub fn render(r: &Report) -> Vec<u8> {
    let s = &r.summary;
    let skipped = s.skipped + s.not_attempted;
    let failures = s.failed + s.stale + s.blocked + s.missing;
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"livebatch apply\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
        s.total, failures, skipped, s.elapsed_seconds
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"livebatch apply ({})\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
        escape(s.outcome.name()),
        s.total,
        failures,
        skipped,
        s.elapsed_seconds
    );
    for i in &r.items {
        let file = i.source.rsplit_once(':').map_or(i.source.as_str(), |p| p.0);
        let time = i.latency_ms.map_or(0.0, |v| v / 1000.0);
        let _ = write!(
            x,
            "    <testcase classname=\"{}\" name=\"{} ({})\" time=\"{:.3}\"",
            escape(file),
            escape(&i.task_id),
            escape(&i.source),
            time
        );
        let code = i.error_code.as_deref().unwrap_or("");
        let msg = i.error_message.as_deref().unwrap_or("");
        match i.status {
            // Nothing left to do for these: the task is as the manifest asks.
            ItemStatus::Succeeded | ItemStatus::NoOp | ItemStatus::AlreadyApplied => {
                x.push_str("/>\n")
            }
            ItemStatus::Failed | ItemStatus::Stale | ItemStatus::Blocked | ItemStatus::Missing => {
                let _ = writeln!(
                    x,
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    escape(code),
                    escape(msg),
                    escape(&format!(
                        "{code}: {msg}\nattempts: {}\nrequest id: {}\nsource: {}",
                        i.attempts,
                        i.request_id.as_deref().unwrap_or("-"),
                        i.source
                    ))
                );
            }
            ItemStatus::Skipped | ItemStatus::NotAttempted => {
                let why = if i.status == ItemStatus::Skipped {
                    format!("skipped: {msg}")
                } else {
                    format!("not attempted: the run {} first", s.outcome.name())
                };
                let _ = writeln!(
                    x,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(&why)
                );
            }
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x.into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_forbidden_characters() {
        assert_eq!(
            super::escape("a<b>&\"c'\u{1}\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}&#10;"
        );
    }
}
