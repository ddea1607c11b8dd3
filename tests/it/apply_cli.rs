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
