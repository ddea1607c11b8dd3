//! Every report format is written and parsed back; hostile error text cannot break any of them.

use livebatch::apply::adaptive::RateSample;
use livebatch::outcome::{HaltReason, ItemStatus, Outcome};
use livebatch::report::{ItemResult, Latency, Report, SCHEMA, Summary, check_paths, write_all};
use quick_xml::events::Event;

/// Attribute values are read as a conforming XML 1.0 reader reads them (a raw line end or tab
/// becomes a space), so a test sees what a CI system would show.
const XML10: quick_xml::XmlVersion = quick_xml::XmlVersion::Explicit1_0;

const NASTY: &str = "bad <value> & \"quotes\" 'x' | pipe, comma\nnewline \u{1} ctl";

fn item(task: &str, status: ItemStatus, code: Option<&str>, msg: Option<&str>) -> ItemResult {
    ItemResult {
        task_id: task.into(),
        hash: format!("sha256:{task}"),
        status,
        error_class: None,
        gave_up: None,
        skip_reason: None,
        attempts: if status == ItemStatus::NotAttempted {
            0
        } else {
            2
        },
        error_code: code.map(String::from),
        error_message: msg.map(String::from),
        request_id: (status == ItemStatus::Failed).then(|| "5A1F-REQ".to_string()),
        source: "manifests/a b.yaml:12".into(),
        latency_ms: (status != ItemStatus::NotAttempted).then_some(123.4),
        region: Some("cn-shanghai".into()),
        // What the plan found: every item moves its callback; the first is also restarted.
        changes: vec![livebatch::outcome::Change {
            field: "CallbackUrl".into(),
            old: "https://old.example.com/cb".into(),
            new: format!("https://new.example.com/{task}"),
        }],
        steps: if task == "t-ok" {
            vec!["stop".into(), "update".into(), "restart".into()]
        } else {
            Vec::new()
        },
        held: Vec::new(),
        wave: None,
        before_status: None,
        rollback: false,
    }
}

fn sample() -> Report {
    Report {
        schema: SCHEMA.into(),
        tool_version: "0.1.0".into(),
        summary: Summary {
            outcome: Outcome::Halted {
                halt_reason: HaltReason::MaxFailures {
                    failed: 2,
                    policy: "1".into(),
                },
            },
            total: 4,
            succeeded: 1,
            failed: 2,
            skipped: 0,
            stale: 0,
            not_attempted: 1,
            noop: 0,
            blocked: 0,
            missing: 0,
            already_applied: 0,
            calls: 5,
            retries: 2,
            throttled: 1,
            calls_per_second: 9.71,
            updates_per_second: 1.5,
            elapsed_seconds: 0.515,
            latency_ms: Latency {
                p50: Some(120.0),
                p95: Some(300.0),
                p99: Some(310.5),
            },
            rate_samples: vec![
                RateSample { t: 0.0, rate: 10.0 },
                RateSample { t: 0.3, rate: 7.0 },
            ],
            by_operation: Default::default(),
            per_second: vec![],
        },
        items: vec![
            item("t-ok", ItemStatus::Succeeded, None, None),
            item(
                "t-bad",
                ItemStatus::Failed,
                Some("InvalidParameter"),
                Some(NASTY),
            ),
            item("t-<&>", ItemStatus::Failed, Some("Code\"X"), Some("plain")),
            item("t-later", ItemStatus::NotAttempted, None, None),
        ]
        .into(),
        verify: None,
        credential_refreshes: None,
        run: None,
        next: None,
        waves: Vec::new(),
    }
}

/// The text an entity or character reference (`&lt;`, `&#10;`) stands for; quick-xml reports
/// them apart from the text around them.
fn resolve(r: &quick_xml::events::BytesRef) -> String {
    match r.resolve_char_ref().unwrap() {
        Some(c) => c.to_string(),
        None => quick_xml::escape::resolve_predefined_entity(&r.decode().unwrap())
            .unwrap_or_else(|| panic!("unknown entity {r:?}"))
            .to_string(),
    }
}

#[test]
fn verification_rides_in_the_json_and_markdown_reports() {
    use livebatch::apply::verify::Mismatch;
    use livebatch::model::{Field, Region};
    use livebatch::plan::diff::FieldChange;
    use livebatch::report::Verification;
    let mut report = sample();
    report.verify = Some(Verification {
        checked: 2,
        mismatches: vec![Mismatch {
            task_id: "t-ok".into(),
            region: Region::CnBeijing,
            differences: vec![FieldChange {
                field: Field::CallbackUrl,
                old: "https://old|x".into(),
                new: "https://new".into(),
            }],
            missing: false,
        }],
    });
    let dir = tempfile::tempdir().unwrap();
    let paths = [dir.path().join("v.json"), dir.path().join("v.md")];
    write_all(&report, &check_paths(&paths).unwrap()).unwrap();
    let back: Report = serde_json::from_str(&std::fs::read_to_string(&paths[0]).unwrap()).unwrap();
    assert_eq!(back, report);
    let md = std::fs::read_to_string(&paths[1]).unwrap();
    assert!(
        md.contains("Verify: 1 of 2 updated task(s) do not match what was sent."),
        "{md}"
    );
    assert!(
        md.contains("| t-ok | CallbackUrl | https://old\\|x | https://new |"),
        "{md}"
    );
    // Without --verify the key is absent, so v1 readers see no change.
    let plain = serde_json::to_value(sample()).unwrap();
    assert!(plain.get("verify").is_none());
}

#[test]
fn unknown_extension_is_refused_with_the_valid_list() {
    let err = check_paths(&["r.json".into(), "r.html".into()]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("r.html"), "{text}");
    assert!(text.contains(".json, .csv, .xml (JUnit), .md"), "{text}");
}

#[test]
fn all_formats_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<std::path::PathBuf> = ["r.json", "r.csv", "r.xml", "r.md"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    let targets = check_paths(&paths).unwrap();
    let report = sample();
    write_all(&report, &targets).unwrap();

    // JSON: identical value, versioned.
    let text = std::fs::read_to_string(&paths[0]).unwrap();
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], "livebatch.report/v1");
    assert_eq!(v["summary"]["latency_ms"]["p95"], 300.0);
    assert_eq!(v["items"][1]["source"], "manifests/a b.yaml:12");
    assert_eq!(v["items"][3]["status"], "not_attempted");
    // Each item says where it is and what it changes (issue 21), the multi-step one its steps.
    assert_eq!(v["items"][0]["region"], "cn-shanghai");
    assert_eq!(v["items"][0]["changes"][0]["field"], "CallbackUrl");
    assert_eq!(
        v["items"][0]["changes"][0]["old"],
        "https://old.example.com/cb"
    );
    assert_eq!(
        v["items"][0]["changes"][0]["new"],
        "https://new.example.com/t-ok"
    );
    assert_eq!(
        v["items"][0]["steps"],
        serde_json::json!(["stop", "update", "restart"])
    );
    assert!(v["items"][1].get("steps").is_none(), "one call: no steps");
    // Without --waves, no `waves` and no item's `wave`: v1 readers see no change.
    assert!(v.get("waves").is_none(), "{v}");
    assert!(v["items"][0].get("wave").is_none(), "{v}");

    // CSV: one row per item, fields intact (commas, quotes).
    let mut rd = csv::Reader::from_path(&paths[1]).unwrap();
    let headers: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(headers, livebatch::report::csv::COLUMNS);
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(&rows[1][0], "t-bad");
    assert_eq!(&rows[1][1], "failed");
    // Escaped (issue 10): a control character or line end from the server is shown, not obeyed.
    assert_eq!(&rows[1][4], livebatch::text::escape(NASTY));
    assert_eq!(&rows[1][5], "5A1F-REQ");
    assert_eq!(&rows[3][1], "not_attempted");
    assert_eq!(&rows[3][7], "");
    assert_eq!(&rows[0][8], "cn-shanghai");
    assert_eq!(
        &rows[0][9],
        "CallbackUrl: https://old.example.com/cb → https://new.example.com/t-ok"
    );
    assert_eq!(&rows[0][10], "stop → update → restart");
    assert_eq!(&rows[1][10], "");
    assert_eq!(&rows[0][11], "", "no wave without --waves");

    // JUnit XML: well-formed; one testcase per item; failures and skips where they belong.
    let xml = std::fs::read_to_string(&paths[2]).unwrap();
    let mut rd = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut skipped) = (0, 0, 0);
    let mut failure_messages = Vec::new();
    let mut failure_bodies: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut in_failure = false;
    loop {
        match rd.read_event().unwrap() {
            Event::Eof => break,
            Event::Text(t) if in_failure => {
                failure_bodies
                    .last_mut()
                    .unwrap()
                    .push_str(&t.xml10_content().unwrap());
            }
            Event::GeneralRef(r) if in_failure => {
                failure_bodies.last_mut().unwrap().push_str(&resolve(&r));
            }
            Event::End(e) if e.name().as_ref() == b"failure" => in_failure = false,
            Event::Start(e) | Event::Empty(e) => {
                let attr = |k: &[u8]| {
                    e.try_get_attribute(k)
                        .unwrap()
                        .map(|a| a.normalized_value(XML10).unwrap().into_owned())
                };
                match e.name().as_ref() {
                    b"testcase" => {
                        cases += 1;
                        names.push(attr(b"name").unwrap());
                    }
                    b"failure" => {
                        failures += 1;
                        in_failure = true;
                        failure_bodies.push(String::new());
                        failure_messages.push(attr(b"message").unwrap());
                    }
                    b"skipped" => skipped += 1,
                    b"testsuites" => assert_eq!(attr(b"failures").as_deref(), Some("2")),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    assert_eq!((cases, failures, skipped), (4, 2, 1));
    assert_eq!(names[2], "t-<&> (manifests/a b.yaml:12)");
    // Markup survives; the control character and the line end show as escapes, as in the CSV
    // report (a parser would turn a raw line end in an attribute into a space).
    assert_eq!(failure_messages[0], livebatch::text::escape(NASTY));
    // The failure's text keeps the message's lines.
    assert_eq!(
        failure_bodies[0],
        "InvalidParameter: bad <value> & \"quotes\" 'x' | pipe, comma\nnewline \\u{1} ctl\n\
         attempts: 2\nrequest id: 5A1F-REQ\nsource: manifests/a b.yaml:12"
    );
    insta::assert_snapshot!("junit", xml);

    // Markdown: the failures table has one row per failure and no broken columns.
    let md = std::fs::read_to_string(&paths[3]).unwrap();
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| t-")).collect();
    assert_eq!(rows.len(), 2);
    for r in rows {
        let unescaped_pipes = r.matches('|').count() - r.matches("\\|").count();
        assert_eq!(unescaped_pipes, 7, "{r}");
    }
    insta::assert_snapshot!(md);
}

/// Whatever the server or a file name says, the JUnit report is XML 1.0 a strict reader accepts:
/// markup is escaped, and characters XML forbids (NUL, ESC, U+FFFF) or that would hide text (CR,
/// a right-to-left override) are shown as the same visible escapes the other reports use. The
/// run's context rides as suite properties.
#[test]
fn junit_stays_valid_xml_whatever_the_text_and_carries_the_run() {
    use livebatch::report::{InputFile, RunInfo};
    const HOSTILE: &str =
        "a\u{0}b \u{1b}[31mred]]><![CDATA[x\u{FFFF}\u{FFFE} \r\tc\u{202E}d\u{7f}\u{85}";
    let mut report = sample();
    let livebatch::report::Items::Memory(items) = &mut report.items else {
        panic!("the sample's items are in memory")
    };
    items[1].error_message = Some(HOSTILE.into());
    items[1].source = "m/\u{202E}lmay.yaml:3".into();
    report.run = Some(RunInfo {
        target: "http://127.0.0.1:1".into(),
        sandbox: false,
        inputs: vec![
            InputFile {
                path: "m/\u{1b}a.yaml".into(),
                sha256: Some("sha256:00ff".into()),
            },
            InputFile {
                path: "-".into(),
                sha256: None,
            },
        ],
        started_at: "2026-11-25T16:00:00.000Z".into(),
        finished_at: "2026-11-25T16:00:01.000Z".into(),
        qps: 10.0,
        update_pace: 9.7,
        concurrency: 8,
        max_attempts: 5,
    });
    report.credential_refreshes = Some(2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.xml");
    write_all(&report, &check_paths(std::slice::from_ref(&path)).unwrap()).unwrap();
    let xml = std::fs::read_to_string(&path).unwrap();

    // Only characters of XML 1.0's `Char` production, and no raw hidden ones.
    let bad: Vec<char> = xml
        .chars()
        .filter(|&c| {
            !matches!(c, '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
                || (c != '\n' && livebatch::text::is_hidden(c))
        })
        .collect();
    assert!(bad.is_empty(), "{bad:?} in {xml}");
    assert!(!xml.contains("]]>") && !xml.contains("<![CDATA["), "{xml}");

    let mut rd = quick_xml::Reader::from_str(&xml);
    let (mut message, mut classname, mut timestamp) = (None, None, None);
    let mut props = Vec::new();
    loop {
        match rd.read_event().unwrap() {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let attr = |k: &[u8]| {
                    e.try_get_attribute(k)
                        .unwrap()
                        .map(|a| a.normalized_value(XML10).unwrap().into_owned())
                };
                match e.name().as_ref() {
                    b"failure" if message.is_none() => message = attr(b"message"),
                    b"testcase" if attr(b"name").unwrap().starts_with("t-bad") => {
                        classname = attr(b"classname")
                    }
                    b"testsuite" => timestamp = attr(b"timestamp"),
                    b"property" => props.push(format!(
                        "{}={}",
                        attr(b"name").unwrap(),
                        attr(b"value").unwrap()
                    )),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        message.as_deref(),
        Some(
            "a\\u{0}b \\u{1b}[31mred]]><![CDATA[x\\u{ffff}\\u{fffe} \\r\\tc\\u{202e}d\\u{7f}\\u{85}"
        )
    );
    assert_eq!(classname.as_deref(), Some("m/\\u{202e}lmay.yaml"));
    assert_eq!(timestamp.as_deref(), Some("2026-11-25T16:00:00.000+00:00"));
    assert_eq!(
        props,
        [
            "tool_version=0.1.0",
            "target=http://127.0.0.1:1",
            "sandbox=false",
            "input=m/\\u{1b}a.yaml (sha256:00ff)",
            "input=-",
            "started_at=2026-11-25T16:00:00.000Z",
            "finished_at=2026-11-25T16:00:01.000Z",
            "qps=10",
            "update_pace=9.7",
            "concurrency=8",
            "max_attempts=5",
            "credential_refreshes=2",
        ]
    );
}

/// A rollout's report: the JSON report has its `waves` (every field) and each item's `wave`, and
/// reads back whole; the CSV report gives the wave in its last column.
#[test]
fn a_rollouts_waves_ride_in_the_json_and_csv_reports() {
    use livebatch::model::Region;
    use livebatch::outcome::{TaskHealth, Verdict, WaveResult};
    let mut report = sample();
    report.summary.outcome = Outcome::GateFailed { wave: 2 };
    let livebatch::report::Items::Memory(items) = &mut report.items else {
        panic!("the sample's items are in memory")
    };
    for (n, it) in items.iter_mut().enumerate() {
        it.wave = Some(if n == 0 { 1 } else { 2 });
    }
    let health = |task: &str, reason: &str| TaskHealth {
        task_id: task.into(),
        region: Region::CnShanghai,
        status: Some(2),
        reason: reason.into(),
    };
    report.waves = vec![
        WaveResult {
            index: 1,
            of: 2,
            size: 1,
            applied: 1,
            healthy: 1,
            unhealthy: vec![],
            not_counted: vec![],
            inconclusive: 0,
            max_unhealthy: 0,
            verdict: Verdict::Passed,
            rolled_back: vec![],
            rollback_failed: vec![],
            bake_seconds: 3.0,
        },
        WaveResult {
            index: 2,
            of: 2,
            size: 3,
            applied: 2,
            healthy: 0,
            unhealthy: vec![health("t-bad", "running abnormally: PullStreamFailed")],
            not_counted: vec![health("t-<&>", "abnormal when planned")],
            inconclusive: 0,
            max_unhealthy: 0,
            verdict: Verdict::Failed,
            rolled_back: vec!["t-bad".into()],
            rollback_failed: vec![health("t-<&>", "ServiceUnavailable")],
            bake_seconds: 3.0,
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    let paths = [dir.path().join("w.json"), dir.path().join("w.csv")];
    write_all(&report, &check_paths(&paths).unwrap()).unwrap();
    let text = std::fs::read_to_string(&paths[0]).unwrap();
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["summary"]["outcome"], "gate_failed");
    assert_eq!(v["items"][0]["wave"], 1);
    assert_eq!(v["items"][3]["wave"], 2);
    let failed = &v["waves"][1];
    let mut keys: Vec<&str> = failed
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "applied",
            "bake_seconds",
            "healthy",
            "inconclusive",
            "index",
            "max_unhealthy",
            "not_counted",
            "of",
            "rollback_failed",
            "rolled_back",
            "size",
            "unhealthy",
            "verdict",
        ]
    );
    assert_eq!(failed["verdict"], "failed");
    assert_eq!(
        failed["unhealthy"][0],
        serde_json::json!({
            "task_id": "t-bad", "region": "cn-shanghai", "status": 2,
            "reason": "running abnormally: PullStreamFailed"
        })
    );
    assert_eq!(failed["rolled_back"], serde_json::json!(["t-bad"]));
    assert_eq!(v["waves"][0]["verdict"], "passed");
    assert_eq!(v["waves"][0]["bake_seconds"], 3.0);

    let mut rd = csv::Reader::from_path(&paths[1]).unwrap();
    assert_eq!(rd.headers().unwrap().get(11), Some("wave"));
    let waves: Vec<String> = rd.records().map(|r| r.unwrap()[11].to_string()).collect();
    assert_eq!(waves, ["1", "2", "2", "2"]);
}
