//! The JUnit XML report: one test case per item, so CI systems list failed updates natively.
//! Failed items carry `<failure>`; skipped and not-attempted ones carry `<skipped>`; the run's
//! context (target, inputs, pace) rides as the suite's `<properties>`.
//!
//! `quick-junit` builds and serialises the document (markup escaped by `quick-xml`); what goes
//! in is made safe first by [`clean`], because the crate's own filter deletes control characters
//! and whole ANSI sequences (and tabs) rather than showing them, and lets U+FFFE/U+FFFF through,
//! which XML 1.0 forbids.

use std::borrow::Cow;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::Report;
use crate::outcome::ItemStatus;

/// Text from a file or the server as it may appear in the XML: every hidden or XML-forbidden
/// character written as a visible escape ([`crate::text::escape`]: `\u{1b}`, `\r`, `\t`,
/// `\u{202e}`), the same way every other report shows it. With `keep_lines`, line feeds stay (for
/// element text, where they survive parsing); without, they are escaped too, because an XML
/// parser turns a raw line feed in an attribute into a space.
fn clean(s: &str, keep_lines: bool) -> Cow<'_, str> {
    let forbidden = |c: char| c == '\u{FFFE}' || c == '\u{FFFF}';
    let mut s = if keep_lines && s.contains('\n') {
        Cow::Owned(
            s.split('\n')
                .map(crate::text::escape)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    } else {
        crate::text::escape(s)
    };
    if s.contains(forbidden) {
        s = Cow::Owned(
            s.chars()
                .map(|c| match c {
                    c if forbidden(c) => format!("\\u{{{:x}}}", c as u32),
                    c => c.to_string(),
                })
                .collect(),
        );
    }
    s
}

/// The run's context as suite properties, for a report read later or attached to a CI job.
fn properties(r: &Report) -> Vec<Property> {
    let mut p = vec![Property::new("tool_version", clean(&r.tool_version, false))];
    if let Some(run) = &r.run {
        p.push(Property::new("target", clean(&run.target, false)));
        p.push(Property::new("sandbox", run.sandbox.to_string()));
        for f in &run.inputs {
            let value = match &f.sha256 {
                Some(h) => format!("{} ({h})", f.path),
                None => f.path.clone(),
            };
            p.push(Property::new("input", clean(&value, false)));
        }
        p.push(Property::new("started_at", clean(&run.started_at, false)));
        p.push(Property::new("finished_at", clean(&run.finished_at, false)));
        p.push(Property::new("qps", run.qps.to_string()));
        p.push(Property::new("update_pace", run.update_pace.to_string()));
        p.push(Property::new("concurrency", run.concurrency.to_string()));
        p.push(Property::new("max_attempts", run.max_attempts.to_string()));
    }
    if let Some(n) = r.credential_refreshes {
        p.push(Property::new("credential_refreshes", n.to_string()));
    }
    p
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

pub fn render(r: &Report) -> Vec<u8> {
    let s = &r.summary;
    let mut suite = TestSuite::new(format!("livebatch apply ({})", s.outcome.name()));
    suite.set_time(seconds(s.elapsed_seconds));
    if let Some(start) = r
        .run
        .as_ref()
        .and_then(|run| chrono::DateTime::parse_from_rfc3339(&run.started_at).ok())
    {
        suite.set_timestamp(start);
    }
    suite.add_properties(properties(r));
    for i in &r.items {
        let file = i.source.rsplit_once(':').map_or(i.source.as_str(), |p| p.0);
        let code = i.error_code.as_deref().unwrap_or("");
        let msg = i.error_message.as_deref().unwrap_or("");
        let status = match i.status {
            // Nothing left to do for these: the task is as the manifest asks.
            ItemStatus::Succeeded | ItemStatus::NoOp | ItemStatus::AlreadyApplied => {
                TestCaseStatus::success()
            }
            ItemStatus::Failed | ItemStatus::Stale | ItemStatus::Blocked | ItemStatus::Missing => {
                let mut f = TestCaseStatus::non_success(NonSuccessKind::Failure);
                f.set_type(clean(code, false));
                f.set_message(clean(msg, false));
                f.set_description(clean(
                    &format!(
                        "{code}: {msg}\nattempts: {}\nrequest id: {}\nsource: {}",
                        i.attempts,
                        i.request_id.as_deref().unwrap_or("-"),
                        i.source
                    ),
                    true,
                ));
                f
            }
            ItemStatus::Skipped | ItemStatus::NotAttempted => {
                let why = if i.status == ItemStatus::Skipped {
                    format!("skipped: {msg}")
                } else {
                    format!("not attempted: the run {} first", s.outcome.name())
                };
                let mut k = TestCaseStatus::skipped();
                k.set_message(clean(&why, false));
                k
            }
        };
        let mut case = TestCase::new(
            clean(&format!("{} ({})", i.task_id, i.source), false),
            status,
        );
        case.set_classname(clean(file, false));
        case.set_time(seconds(i.latency_ms.map_or(0.0, |v| v / 1000.0)));
        suite.add_test_case(case);
    }
    let mut report = quick_junit::Report::new("livebatch apply");
    report.set_time(seconds(s.elapsed_seconds));
    report.add_test_suite(suite);
    // Serialising writes events to a Vec, whose writes cannot fail (like the JSON report's).
    let mut out = Vec::new();
    let _ = report.serialize(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn hidden_and_forbidden_characters_become_visible_escapes() {
        assert_eq!(clean("a<b>&\"c'", false), "a<b>&\"c'");
        assert_eq!(
            clean("x\u{1}\x1b[2K\t\r\u{202E}\u{FFFE}\u{FFFF}\n", false),
            "x\\u{1}\\u{1b}[2K\\t\\r\\u{202e}\\u{fffe}\\u{ffff}\\n"
        );
        assert_eq!(clean("one\ntwo\u{1}\n", true), "one\ntwo\\u{1}\n");
    }
}
