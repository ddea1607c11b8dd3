//! Every report format is written and parsed back; hostile error text cannot break any of them.

use livebatch::apply::adaptive::RateSample;
use livebatch::apply::outcome::{HaltReason, ItemStatus, Outcome};
use livebatch::report::{ItemResult, Latency, Report, SCHEMA, Summary, check_paths, write_all};
use quick_xml::events::Event;

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
        ],
        verify: None,
        credential_refreshes: None,
        run: None,
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

    // JUnit XML: well-formed; one testcase per item; failures and skips where they belong.
    let xml = std::fs::read_to_string(&paths[2]).unwrap();
    let mut rd = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut skipped) = (0, 0, 0);
    let mut failure_messages = Vec::new();
    let mut names = Vec::new();
    loop {
        match rd.read_event().unwrap() {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let attr = |k: &[u8]| {
                    e.try_get_attribute(k)
                        .unwrap()
                        .map(|a| a.unescape_value().unwrap().into_owned())
                };
                match e.name().as_ref() {
                    b"testcase" => {
                        cases += 1;
                        names.push(attr(b"name").unwrap());
                    }
                    b"failure" => {
                        failures += 1;
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
    // Markup and newlines survive; the forbidden control character is replaced.
    assert_eq!(failure_messages[0], NASTY.replace('\u{1}', "\u{FFFD}"));

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
