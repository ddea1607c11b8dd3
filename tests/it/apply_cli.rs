//! `livebatch apply` flag checks, driven through the real binary. These refuse before anything is
//! loaded or sent.

use assert_cmd::Command;
use predicates::prelude::*;

fn apply() -> Command {
    let mut c = Command::cargo_bin("livebatch").unwrap();
    c.arg("apply");
    c
}

#[test]
fn qps_above_the_documented_quota_needs_quota_raised() {
    apply()
        .args(["m.yaml", "--yes", "--qps", "20"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("--quota-raised"))
        .stderr(predicate::str::contains("10 calls/s"));
}

#[test]
fn unknown_report_extension_is_a_usage_error_listing_the_valid_ones() {
    apply()
        .args(["m.yaml", "--yes", "--report", "out.html"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("out.html"))
        .stderr(predicate::str::contains(".json, .csv, .xml (JUnit), .md"));
}

#[test]
fn resume_and_retry_failed_are_exclusive() {
    apply()
        .args(["m.yaml", "--resume", "--retry-failed"])
        .assert()
        .code(64);
}

#[test]
fn max_failures_must_be_a_count_or_percentage() {
    apply()
        .args(["m.yaml", "--max-failures", "lots"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("percentage"));
}

#[test]
fn a_manifest_is_required() {
    apply().arg("--yes").assert().code(64);
}

/// Failures that end a run before anything is sent are printed once, as `error: …`, with their
/// exit code: a journal to resume from that does not exist, and no terminal to confirm on.
#[test]
fn a_run_that_cannot_start_says_why_once_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::canonicalize("examples/migration.yaml").unwrap();
    let run = |extra: &[&str]| {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("livebatch"));
        c.env_clear()
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .args(["apply", "--sandbox", "--journal", "j.jsonl"])
            .arg(&manifest)
            .args(extra)
            .stdin(std::process::Stdio::null());
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, err) = run(&["--yes", "--resume"]);
    assert_eq!(code, Some(64), "{err}");
    assert_eq!(err.matches("error: ").count(), 1, "{err}");
    assert!(
        err.contains("error: journal j.jsonl does not exist: nothing to resume from"),
        "{err}"
    );

    let (code, err) = run(&[]);
    assert_eq!(code, Some(64), "{err}");
    assert_eq!(err.matches("error: ").count(), 1, "{err}");
    assert!(
        err.trim_end().ends_with(
            "error: standard input is not a terminal, so apply cannot ask for confirmation; pass --yes to apply without asking"
        ),
        "{err}"
    );
    assert!(
        !dir.path().join("j.jsonl").exists(),
        "nothing was journaled"
    );
}
