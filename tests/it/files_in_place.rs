//! Issue 22 items 1, 2 and 14, from the outside: what a run writes never replaces a device, a
//! FIFO or a symlink at its path, a journal that is an input by another name (a hard link) is
//! refused, and a journal on a FIFO is refused at once instead of blocking. The real binary in
//! `--sandbox` (its own emulator on loopback); FIFOs and links are made in a temp dir, never in
//! `/dev`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::binary::lb;
use assert_cmd::Command;

/// A copy of the bundled example in a temp dir, and the dir.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/migration.yaml");
    std::fs::copy(example, &m).unwrap();
    (dir, m)
}

/// `livebatch` in `dir`.
fn lb_in(dir: &Path) -> Command {
    let mut c = lb();
    c.current_dir(dir)
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env("NO_COLOR", "1")
        // A run that blocks on a FIFO fails the test instead of hanging it.
        .timeout(Duration::from_secs(120));
    c
}

fn mkfifo(p: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo {}", p.display());
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_report_through_a_symlink_lands_in_its_target_and_the_link_stays() {
    let (dir, m) = scratch();
    let real = dir.path().join("real.json");
    std::fs::write(&real, "old").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = lb_in(dir.path())
        .args(["apply", "--sandbox", "--yes", "--report"])
        .arg(&link)
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&real).unwrap()).unwrap();
    assert_eq!(v["summary"]["succeeded"], 36, "{v}");
}

#[test]
fn a_report_to_a_fifo_is_streamed_into_it_and_the_fifo_stays() {
    use std::os::unix::fs::FileTypeExt;
    let (dir, m) = scratch();
    let fifo = dir.path().join("report.pipe");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    let o = lb_in(dir.path())
        .args(["apply", "--sandbox", "--yes", "--report"])
        .arg(format!("json:{}", fifo.display()))
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&reader.join().unwrap()).unwrap();
    assert_eq!(v["summary"]["succeeded"], 36, "{v}");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

#[test]
fn a_report_to_dash_goes_to_standard_output() {
    let (dir, m) = scratch();
    let o = lb_in(dir.path())
        .args(["apply", "--sandbox", "--yes", "--report", "json:-"])
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["succeeded"], 36, "{v}");
    assert!(!dir.path().join("-").exists());
}

#[test]
fn a_journal_hard_linked_to_the_manifest_or_the_plan_is_refused_and_both_stay_intact() {
    let (dir, m) = scratch();
    let before = std::fs::read(&m).unwrap();
    let j = dir.path().join("j.jsonl");
    std::fs::hard_link(&m, &j).unwrap();
    let o = lb_in(dir.path())
        .args(["apply", "--sandbox", "--yes", "--journal"])
        .arg(&j)
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert!(stderr(&o).contains("is also an input"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&m).unwrap(), before, "the manifest is intact");
    lb_in(dir.path()).arg("validate").arg(&m).assert().success();

    // The same with a saved plan: the check is made before the plan is even read.
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, "{}").unwrap();
    let pj = dir.path().join("p.jsonl");
    std::fs::hard_link(&plan, &pj).unwrap();
    let o = lb_in(dir.path())
        .args([
            "apply",
            "--yes",
            "--endpoint",
            "http://127.0.0.1:9",
            "--journal",
        ])
        .arg(&pj)
        .arg("--plan")
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert!(stderr(&o).contains("is also an input"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&plan).unwrap(), b"{}");
}

#[test]
fn a_journal_on_a_fifo_is_refused_at_once() {
    let (dir, m) = scratch();
    let fifo = dir.path().join("j.pipe");
    mkfifo(&fifo);
    let o = lb_in(dir.path())
        .args(["apply", "--sandbox", "--yes", "--journal"])
        .arg(&fifo)
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("must be a regular file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_plan_on_a_fifo_or_naming_a_fifo_or_device_as_its_manifest_is_refused_at_once() {
    let (dir, _) = scratch();
    let fifo = dir.path().join("plan.pipe");
    mkfifo(&fifo);
    let o = lb_in(dir.path())
        .args([
            "apply",
            "--yes",
            "--endpoint",
            "http://127.0.0.1:9",
            "--plan",
        ])
        .arg(&fifo)
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a regular file (a FIFO)"),
        "{}",
        stderr(&o)
    );

    // A plan whose manifest is a FIFO (or /dev/zero: read forever) is refused before reading it.
    let m_fifo = dir.path().join("m.pipe");
    mkfifo(&m_fifo);
    for manifest in [m_fifo.display().to_string(), "/dev/zero".to_string()] {
        let plan = serde_json::json!({
            "schema": "livebatch.plan/v1",
            "tool_version": "0.1.0",
            "created_at": "2026-01-01T00:00:00Z",
            "restart_running": false,
            "manifests": [{ "path": manifest, "sha256": "0".repeat(64) }],
            "items": [],
        });
        let p = dir.path().join("plan.json");
        std::fs::write(&p, plan.to_string()).unwrap();
        let o = lb_in(dir.path())
            .args([
                "apply",
                "--yes",
                "--endpoint",
                "http://127.0.0.1:9",
                "--plan",
            ])
            .arg(&p)
            .output()
            .unwrap();
        assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("which is not a regular file"),
            "{}",
            stderr(&o)
        );
    }
}
