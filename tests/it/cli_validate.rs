//! `livebatch validate` driven as a user would: exit codes 0, 64, 65, located messages, snapshots.

use crate::support::binary::lb;
use predicates::prelude::*;
use std::path::PathBuf;

const NOW: &str = "2027-03-01T00:00:00Z";

fn validate(args: &[&str]) -> assert_cmd::assert::Assert {
    lb().arg("validate")
        .arg("--now")
        .arg(NOW)
        .args(args)
        .assert()
}

/// Writes `bytes` to a temp file named `name` and returns (dir guard, path).
fn temp(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    (dir, p)
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn bundled_examples_are_valid() {
    validate(&["examples/migration.yaml", "examples/migration.csv"])
        .code(0)
        .stdout(predicate::str::contains("valid: 66 updates in 2 files"));
}

#[test]
fn usage_errors_exit_64() {
    lb().arg("validate").assert().code(64);
    lb().args(["validate", "--bogus", "x.yaml"])
        .assert()
        .code(64);
    lb().args(["validate", "--now", "2027-03-01 00:00:00", "x.yaml"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("yyyy-MM-ddTHH:mm:ssZ"));
    lb().args(["validate", "-", "-"])
        .assert()
        .code(64)
        .stderr(predicate::str::contains("only once"));
}

#[test]
fn help_shows_examples() {
    lb().args(["validate", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Examples:").and(predicate::str::contains("--now")));
}

#[test]
fn several_errors_are_all_reported_with_locations() {
    let a = validate(&["tests/fixtures/bad.yaml", "tests/fixtures/bad.csv"]).code(65);
    let err = stderr_of(&a);
    insta::assert_snapshot!("validate_bad_text", err);
}

#[test]
fn json_report_is_one_document() {
    let a = validate(&["--format", "json", "tests/fixtures/bad.yaml"]).code(65);
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(v["ok"], false);
    let diags = v["diagnostics"].as_array().unwrap();
    assert!(diags.len() >= 10, "{diags:?}");
    let first = &diags[0];
    assert_eq!(first["file"], "tests/fixtures/bad.yaml");
    assert_eq!(first["line"], 10);
    assert_eq!(first["column"], 19);
    assert_eq!(first["field"], "RepeatNumber");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["code"], "InvalidParameter");
    let dup = diags
        .iter()
        .find(|d| d["code"] == "manifest.duplicate-task")
        .unwrap();
    assert_eq!(dup["line"], 15);
    assert_eq!(dup["related"]["line"], 6);
}

#[test]
fn stdin_csv_is_sniffed() {
    lb().args(["validate", "--now", NOW, "-"])
        .write_stdin("TaskId,Region,EndTime\nt1,cn-beijing,2027-03-02T00:00:00Z\n")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("valid: 1 update in 1 file"));
    lb().args(["validate", "--now", NOW, "-"])
        .write_stdin("updates:\n  - TaskId: t1\n    Region: cn-beijing\n    Offset: 0\n")
        .assert()
        .code(65)
        .stderr(predicate::str::contains("<stdin>:4:13: error[Offset]"));
}

#[test]
fn warnings_alone_exit_0_and_quiet_hides_them() {
    let (_d, p) = temp(
        "noop.yaml",
        b"updates:\n  - TaskId: t1\n    Region: cn-beijing\n",
    );
    validate(&[p.to_str().unwrap()])
        .code(0)
        .stderr(predicate::str::contains("changes nothing"));
    validate(&["-q", p.to_str().unwrap()])
        .code(0)
        .stderr(predicate::str::is_empty())
        .stdout(predicate::str::is_empty());
}

/// Each kind of bad input: a located error and exit 65, never a panic.
#[test]
fn bad_input_is_a_located_error() {
    let big_line = {
        let mut v = b"TaskId,Region,CallbackUrl\nt1,cn-beijing,https://x/".to_vec();
        v.extend(std::iter::repeat_n(b'a', 2 << 20));
        v.push(b'\n');
        v
    };
    let bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\nupdates: [*f]\n";
    let deep = format!("updates: {}{}\n", "[".repeat(2000), "]".repeat(2000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "utf8.yaml",
            b"updates:\n  - TaskId: a\xff\n".to_vec(),
            "utf8.yaml:2:14: error: the file is not valid UTF-8",
        ),
        (
            "utf8.csv",
            b"TaskId,Region\nt\xff,cn-beijing\n".to_vec(),
            "utf8.csv:2 (column TaskId): error[TaskId]: this cell is not valid UTF-8",
        ),
        ("utf16.yaml", b"\xff\xfeu\x00p\x00".to_vec(), "UTF-16"),
        (
            "empty.yaml",
            Vec::new(),
            "empty.yaml: error: the file is empty",
        ),
        (
            "empty.csv",
            Vec::new(),
            "empty.csv: error: the file is empty",
        ),
        ("bomb.yaml", bomb.as_bytes().to_vec(), "safety limits"),
        ("deep.yaml", deep.into_bytes(), "safety limits"),
        ("long.csv", big_line, "longer than 1048576 bytes"),
        (
            "ragged.csv",
            b"TaskId,Region,EndTime\nt1,cn-beijing\n".to_vec(),
            "ragged.csv:2: error: this row has 2 cells but the header has 3",
        ),
        (
            "duph.csv",
            b"TaskId,Region,Region\nt1,cn-beijing,cn-beijing\n".to_vec(),
            "duph.csv:1 (column Region): error: column \"Region\" appears twice",
        ),
        (
            "unknown.csv",
            b"TaskId,Region,Callbackurl\nt1,cn-beijing,https://h/x\n".to_vec(),
            "did you mean CallbackUrl?",
        ),
        (
            "exp.yaml",
            b"updates:\n  - {TaskId: t1, Region: cn-beijing, RepeatNumber: 1e3}\n".to_vec(),
            "exp.yaml:2:52: error[RepeatNumber]: \"1e3\" is not a whole number",
        ),
        (
            "space.csv",
            b"TaskId,Region,Offset\nt1,cn-beijing, 5\n".to_vec(),
            "space.csv:2 (column Offset): error[Offset]: \" 5\" is not a whole number",
        ),
        (
            "big.yaml",
            b"updates:\n  - TaskId: t1\n    Region: cn-beijing\n    FileIndex: 2147483648\n"
                .to_vec(),
            "big.yaml:4:16: error[FileIndex]: 2147483648 is out of range",
        ),
        (
            "top.yaml",
            b"TaskId: t1\n".to_vec(),
            "fields belong inside an entry of the `updates:` list",
        ),
    ];
    for (name, bytes, expect) in cases {
        let (_d, p) = temp(name, &bytes);
        let a = lb()
            .current_dir(p.parent().unwrap())
            .args(["validate", "--now", NOW, name])
            .assert()
            .code(65);
        let err = stderr_of(&a);
        assert!(
            err.contains(expect),
            "{name}: expected {expect:?} in:\n{err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn bom_and_crlf_are_accepted() {
    let (_d, p) = temp(
        "bom.csv",
        b"\xef\xbb\xbfTaskId,Region,EndTime\r\nt1,cn-beijing,2027-03-02T00:00:00Z\r\nt2,cn-beijing,2027-13-02T00:00:00Z\r\n",
    );
    // The BOM is skipped (the header is recognised) and CRLF lines are numbered right.
    validate(&[p.to_str().unwrap()])
        .code(65)
        .stderr(predicate::str::contains(
            "bom.csv:3 (column EndTime): error[EndTime]",
        ));
    let (_d2, y) = temp(
        "bom.yaml",
        b"\xef\xbb\xbfupdates:\r\n  - TaskId: t1\r\n    Region: cn-beijing\r\n    EndTime: 2027-03-02T00:00:00Z\r\n",
    );
    validate(&[y.to_str().unwrap()]).code(0);
}

#[test]
fn duplicates_across_files_point_at_both() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "updates:\n  - TaskId: t1\n    Region: cn-beijing\n    EndTime: 2027-03-02T00:00:00Z\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.csv"),
        "TaskId,Region,EndTime\nt1,cn-beijing,2027-03-03T00:00:00Z\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("c.csv"),
        "TaskId,Region,EndTime\nt1,cn-beijing,2027-03-02T00:00:00Z\n",
    )
    .unwrap();
    lb().current_dir(dir.path())
        .args(["validate", "--now", NOW, "a.yaml", "b.csv"])
        .assert()
        .code(65)
        .stderr(
            predicate::str::contains(
                "b.csv:2 (column TaskId): error[TaskId]: task t1 is listed twice",
            )
            .and(predicate::str::contains("first seen at a.yaml:2:13")),
        );
    // Identical entries are not an error.
    lb().current_dir(dir.path())
        .args(["validate", "--now", NOW, "a.yaml", "c.csv"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("listed again, identically"));
}

#[test]
fn a_bad_default_is_reported_once_and_rule_errors_name_the_default() {
    let (_d, p) = temp(
        "defs.yaml",
        b"defaults:\n  Region: cn-mars\n  EndTime: 2026-01-01T00:00:00Z\nupdates:\n  - TaskId: a\n  - TaskId: b\n",
    );
    let a = lb()
        .current_dir(p.parent().unwrap())
        .args(["validate", "--now", NOW, "defs.yaml"])
        .assert()
        .code(65);
    let err = stderr_of(&a);
    assert_eq!(
        err.matches("\"cn-mars\" is not a Region").count(),
        1,
        "{err}"
    );
    assert!(err.contains("defs.yaml:5:5: error[EndTime]"), "{err}");
    assert!(
        err.contains("comes from `defaults:` at defs.yaml:3:12"),
        "{err}"
    );
}
