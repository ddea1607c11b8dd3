//! `livebatch plan --offline`: exact wire parameters per update, a summary, one JSON document.

use crate::support::binary::lb;
use predicates::prelude::*;

const NOW: &str = "2027-03-01T00:00:00Z";

#[test]
fn text_plan_shows_exact_parameters_and_summary() {
    let out = lb()
        .args(["plan", "--offline", "--now", NOW, "examples/migration.csv"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("~ autumn-vod-003 (ap-southeast-5) from examples/migration.csv:4"));
    assert!(text.contains("    SourceUrls=[\"vod0003aa11bb22\",\"vod0003cc33dd44\"]\n"));
    assert!(
        text.contains("    SourceUrls=[\"rtmp://origin.example.com/autumn/autumn-live-005\"]\n")
    );
    assert!(text.contains("    RepeatNumber=2\n"));
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with(
            "offline plan: 30 UpdateLivePullToPush calls (SourceUrls 14, RepeatNumber 10"
        ),
        "{last}"
    );
    assert!(last.ends_with("nothing was sent"), "{last}");
}

#[test]
fn json_plan_is_one_document_with_sorted_wire_params() {
    let out = lb()
        .args([
            "plan",
            "--offline",
            "--format",
            "json",
            "--now",
            NOW,
            "examples/migration.yaml",
        ])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["mode"], "offline");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 36);
    assert_eq!(v["summary"]["calls"], 36);
    let five = items
        .iter()
        .find(|i| i["task_id"] == "spring-news-005")
        .unwrap();
    let params = five["params"].as_object().unwrap();
    let names: Vec<&String> = params.keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(
        params["SourceUrls"],
        "[\"https://media.example.com/spring/spring-news-005/part1.mp4\",\"https://media.example.com/spring/spring-news-005/part2.mp4\"]"
    );
    assert_eq!(params["RepeatNumber"], "-1");
    assert_eq!(params["Region"], "cn-shanghai");
    assert!(
        params.get("SourceType").is_none(),
        "SourceType is never sent"
    );
    assert_eq!(five["annotations"]["x-change"], "CHG-2027-0412");
    assert_eq!(five["origin"]["file"], "examples/migration.yaml");
}

#[test]
fn live_plan_without_credentials_exits_77_and_says_what_was_tried() {
    let home = tempfile::tempdir().unwrap();
    lb().env_clear()
        .env("HOME", home.path())
        .args(["plan", "--now", NOW, "examples/migration.yaml"])
        .assert()
        .code(77)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("ALIBABA_CLOUD_ACCESS_KEY_ID"));
}

#[test]
fn a_saved_plan_needs_manifest_files_not_stdin() {
    lb().args(["plan", "--out", "p.json", "-"])
        .write_stdin("updates: []\n")
        .assert()
        .code(64)
        .stderr(predicate::str::contains("--out needs manifest files"));
    assert!(!std::path::Path::new("p.json").exists());
}

#[test]
fn offline_conflicts_with_live_only_flags() {
    lb().args([
        "plan",
        "--offline",
        "--out",
        "p.json",
        "examples/migration.yaml",
    ])
    .assert()
    .code(64);
}

#[test]
fn invalid_manifest_makes_no_plan() {
    lb().args(["plan", "--offline", "--now", NOW, "tests/fixtures/bad.yaml"])
        .assert()
        .code(65)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("no plan was made"));
}

#[test]
fn end_time_is_judged_against_now() {
    lb().args([
        "plan",
        "--offline",
        "--now",
        "2028-01-01T00:00:00Z",
        "examples/reschedule.yaml",
    ])
    .assert()
    .code(65)
    .stderr(predicate::str::contains(
        "is not after the current time 2028-01-01T00:00:00Z",
    ));
}

/// The README's first command and the bundled migrations depend on no date: they validate (and
/// so rehearse) the same in any year. Dated changes live in `examples/reschedule.yaml`, which is
/// rehearsed as of its change window with `--now` (see `tests/it/hostile_input.rs`).
#[test]
fn the_bundled_migrations_are_valid_on_any_date() {
    for now in [
        "2026-01-01T00:00:00Z",
        "2027-11-01T00:00:00Z",
        "2031-06-15T12:00:00Z",
        "2099-12-31T23:59:59Z",
    ] {
        lb().args([
            "validate",
            "--now",
            now,
            "examples/migration.yaml",
            "examples/migration.csv",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "valid: 66 updates in 2 files, 0 warnings",
        ));
    }
    lb().args([
        "plan",
        "--offline",
        "--now",
        "2027-12-01T00:00:00Z",
        "examples/reschedule.yaml",
    ])
    .assert()
    .code(0)
    .stdout(predicate::str::contains(
        "offline plan: 6 UpdateLivePullToPush calls (StartTime 2, EndTime 6",
    ));
}
