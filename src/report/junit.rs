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

use super::{Report, waves};
use crate::outcome::{ItemStatus, TaskHealth, Verdict, WaveResult};

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
    if !r.waves.is_empty() {
        report.add_test_suite(gates(r));
    }
    // Serialising writes events to a Vec, whose writes cannot fail (like the JSON report's).
    let mut out = Vec::new();
    let _ = report.serialize(&mut out);
    out
}

/// A rollout's gates (`apply --waves`) as a suite of their own, one test case each, so that CI
/// shows a failed gate as a failed test beside the updates: passed → success, failed → a failure
/// naming the unhealthy count against the allowed one and listing the tasks with their reasons,
/// inconclusive → an error (no verdict), not reached → skipped.
fn gates(r: &Report) -> TestSuite {
    let mut suite = TestSuite::new(GATES_SUITE);
    for w in &r.waves {
        let status = match w.verdict {
            Verdict::Passed => TestCaseStatus::success(),
            Verdict::Failed => {
                let mut f = TestCaseStatus::non_success(NonSuccessKind::Failure);
                f.set_type("gate_failed");
                f.set_message(format!(
                    "{} task(s) unhealthy, at most {} allowed",
                    w.unhealthy.len(),
                    w.max_unhealthy
                ));
                f.set_description(clean(&failed_gate_text(w), true));
                f
            }
            Verdict::Inconclusive => {
                let mut e = TestCaseStatus::non_success(NonSuccessKind::Error);
                e.set_type("gate_inconclusive");
                e.set_message(format!(
                    "{} of {} task(s) could not be read back: no verdict, nothing rolled back; --resume evaluates the gate again",
                    w.inconclusive, w.applied
                ));
                e
            }
            Verdict::NotReached => {
                let mut k = TestCaseStatus::skipped();
                k.set_message(format!(
                    "not reached: the run {} first",
                    r.summary.outcome.name()
                ));
                k
            }
        };
        let mut case = TestCase::new(format!("wave {}/{} gate", w.index, w.of), status);
        case.set_classname(GATES_SUITE);
        case.set_time(seconds(w.bake_seconds));
        suite.add_test_case(case);
    }
    suite
}

/// The suite (and class) name of a rollout's gates.
pub const GATES_SUITE: &str = "livebatch.waves";

/// A failed gate's body: each unhealthy task with its reason, those not counted, and what was
/// rolled back and what was not. Every task is listed: a report read by tools is not capped.
fn failed_gate_text(w: &WaveResult) -> String {
    let line = |t: &TaskHealth| format!("{} ({}): {}\n", t.task_id, t.region, t.reason);
    let mut s = format!(
        "{}, after a {} s bake:\n",
        waves::gate_line(w),
        w.bake_seconds
    );
    s.extend(w.unhealthy.iter().map(line));
    if !w.not_counted.is_empty() {
        s.push_str("not counted, already abnormal when planned:\n");
        s.extend(w.not_counted.iter().map(line));
    }
    if waves::left_as_is(w) {
        s.push_str(&format!(
            "not rolled back (--on-unhealthy halt): the wave's {} applied task(s) keep the change\n",
            w.applied
        ));
    } else {
        s.push_str(&format!(
            "rolled back to their values before the change: {} of the wave's {} applied task(s)\n",
            w.rolled_back.len(),
            w.applied
        ));
    }
    if !w.rollback_failed.is_empty() {
        s.push_str("failed to roll back, still changed:\n");
        s.extend(w.rollback_failed.iter().map(line));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_and_forbidden_characters_become_visible_escapes() {
        assert_eq!(clean("a<b>&\"c'", false), "a<b>&\"c'");
        assert_eq!(
            clean("x\u{1}\x1b[2K\t\r\u{202E}\u{FFFE}\u{FFFF}\n", false),
            "x\\u{1}\\u{1b}[2K\\t\\r\\u{202e}\\u{fffe}\\u{ffff}\\n"
        );
        assert_eq!(clean("one\ntwo\u{1}\n", true), "one\ntwo\\u{1}\n");
    }

    /// Each test case of `suite` as (name, element of its status or "", message, text).
    fn cases(xml: &str, suite: &str) -> Vec<(String, String, String, String)> {
        use quick_xml::events::Event;
        let mut rd = quick_xml::Reader::from_str(xml);
        let (mut inside, mut out) = (false, Vec::new());
        let mut text_of: Option<usize> = None;
        loop {
            match rd.read_event().unwrap() {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    let attr = |k: &[u8]| {
                        e.try_get_attribute(k)
                            .unwrap()
                            .map(|a| {
                                a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                    .unwrap()
                                    .into_owned()
                            })
                            .unwrap_or_default()
                    };
                    match e.name().as_ref() {
                        b"testsuite" => inside = attr(b"name") == suite,
                        b"testcase" if inside => {
                            out.push((attr(b"name"), String::new(), String::new(), String::new()))
                        }
                        k @ (b"failure" | b"error" | b"skipped") if inside => {
                            let last = out.last_mut().unwrap();
                            last.1 = String::from_utf8(k.to_vec()).unwrap();
                            last.2 = attr(b"message");
                            text_of = Some(out.len() - 1);
                        }
                        _ => {}
                    }
                }
                Event::Text(t) => {
                    if let Some(n) = text_of {
                        out[n].3.push_str(&t.decode().unwrap());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(n) = text_of {
                        let c = match r.resolve_char_ref().unwrap() {
                            Some(c) => c.to_string(),
                            None => {
                                quick_xml::escape::resolve_predefined_entity(&r.decode().unwrap())
                                    .unwrap()
                                    .to_string()
                            }
                        };
                        out[n].3.push_str(&c);
                    }
                }
                Event::End(_) => text_of = None,
                _ => {}
            }
        }
        out
    }

    fn report(outcome: crate::outcome::Outcome) -> Report {
        let mut r: Report = serde_json::from_value(serde_json::json!({
            "schema": crate::report::SCHEMA,
            "tool_version": "0.1.0",
            "summary": {
                "outcome": "completed",
                "total": 0, "succeeded": 0, "failed": 0, "skipped": 0, "not_attempted": 0,
                "calls": 0, "retries": 0, "throttled": 0, "calls_per_second": 0.0,
                "updates_per_second": 0.0, "elapsed_seconds": 1.0, "latency_ms": {},
                "rate_samples": []
            },
            "items": []
        }))
        .unwrap();
        r.summary.outcome = outcome;
        r
    }

    #[test]
    fn each_gate_is_a_test_case_of_its_own_suite() {
        use crate::outcome::{HaltReason, Outcome};
        let mut r = report(Outcome::GateFailed { wave: 2 });
        r.waves = crate::report::waves::tests::failed_gate();
        r.waves[1].unhealthy[0].reason = "running abnormally: <PullStreamFailed> & \u{1b}".into();
        let xml = String::from_utf8(render(&r)).unwrap();
        let got = cases(&xml, GATES_SUITE);
        let kinds: Vec<(&str, &str)> = got.iter().map(|c| (c.0.as_str(), c.1.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("wave 1/3 gate", ""),
                ("wave 2/3 gate", "failure"),
                ("wave 3/3 gate", "skipped")
            ]
        );
        assert_eq!(got[1].2, "23 task(s) unhealthy, at most 7 allowed");
        let body = &got[1].3;
        assert!(
            body.starts_with(
                "wave 2/3 failed its health gate: 23 task(s) unhealthy, at most 7 allowed, after a 3 s bake:\n\
                 t060 (cn-shanghai): running abnormally: <PullStreamFailed> & \\u{1b}\n\
                 t061 (cn-shanghai): stopped, should run\\u{1b}[2K\n"
            ),
            "{body}"
        );
        assert!(body.contains("t082 (cn-shanghai)"), "every task: {body}");
        assert!(
            body.contains("not counted, already abnormal when planned:\nt099")
                && body.contains("68 of the wave's 70 applied task(s)")
                && body.ends_with(
                    "failed to roll back, still changed:\n\
                     t098 (cn-shanghai): ServiceUnavailable: retries ran out\n\
                     t097 (cn-shanghai): the task was not found\n"
                ),
            "{body}"
        );
        assert_eq!(got[2].2, "not reached: the run gate_failed first");

        // A gate that could not read is an error, not a failure: it has no verdict.
        let mut r = report(Outcome::Halted {
            halt_reason: HaltReason::GateInconclusive {
                wave: 1,
                message: "x".into(),
            },
        });
        let mut w = crate::report::waves::tests::wave(1, 1, 10, 10, Verdict::Inconclusive);
        w.inconclusive = 3;
        r.waves = vec![w];
        let got = cases(&String::from_utf8(render(&r)).unwrap(), GATES_SUITE);
        assert_eq!(got[0].1, "error");
        assert!(
            got[0]
                .2
                .starts_with("3 of 10 task(s) could not be read back"),
            "{got:?}"
        );

        // Without waves, no such suite.
        let xml = String::from_utf8(render(&report(Outcome::Completed))).unwrap();
        assert!(!xml.contains(GATES_SUITE), "{xml}");
    }
}
