//! `--unreachable-source`: a bad rollout rehearsed end to end. The real `livebatch emulator`
//! turns a task abnormal (2, `PullStreamFailed`) once `apply --restart-running` has moved it to an
//! unreachable source, and running again once a second apply restores it; `apply --sandbox
//! --sandbox-unreachable-source` runs the same rollout against its built-in emulator.

use std::time::{Duration, Instant};

use assert_cmd::Command;
use livebatch::emulator::{Clock, StateFile};
use livebatch::model::{SourceType, TaskStatus};

use crate::support::binary::{EmulatorProcess, Scratch, lb, wait_for};
use crate::support::emulator::{Signer, seed_task};

const PATTERN: &str = "https://bad.example/*";

fn good(id: &str) -> String {
    format!("https://good.example/live/{id}.flv")
}

fn bad(id: &str) -> String {
    format!("https://bad.example/live/{id}.flv")
}

/// Three live tasks running on reachable sources since an hour ago, as a state file `--seed` and
/// `--sandbox-seed` read.
fn seed_file(s: &Scratch) -> std::path::PathBuf {
    let tasks = ["u-1", "u-2", "u-3"]
        .map(|id| {
            seed_task(
                id,
                SourceType::Live,
                &[&good(id)],
                TaskStatus::Running,
                -3600,
                86_400,
            )
        })
        .to_vec();
    let p = s.path("seed.json");
    std::fs::write(&p, serde_json::to_string(&StateFile::new(tasks)).unwrap()).unwrap();
    p
}

/// A manifest giving `id` the source `url`.
fn manifest(s: &Scratch, name: &str, id: &str, url: &str) -> std::path::PathBuf {
    let p = s.path(name);
    std::fs::write(
        &p,
        format!("updates:\n  - TaskId: {id}\n    Region: cn-shanghai\n    SourceUrls: {url}\n"),
    )
    .unwrap();
    p
}

/// Reads the emulator's tasks the way a client does, signed with its default key.
struct Reader {
    rt: tokio::runtime::Runtime,
    signer: Signer,
}

impl Reader {
    fn new(url: &str) -> Reader {
        Reader {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            signer: Signer::new(url, Clock::system()),
        }
    }

    /// (TaskStatus, TaskInvalidReason) that Describe reports for `id`.
    fn describe(&self, id: &str) -> (i64, String) {
        let r = self.rt.block_on(self.signer.call(
            "DescribeLivePullToPush",
            &[("TaskId", id), ("Region", "cn-shanghai")],
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        state(&r.body)
    }

    /// Every task's (TaskId, TaskStatus, TaskInvalidReason) as DescribeList reports it.
    fn list(&self) -> Vec<(String, i64, String)> {
        let r = self.rt.block_on(self.signer.call(
            "DescribeLivePullToPushList",
            &[("Region", "cn-shanghai"), ("PageSize", "100")],
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["TaskList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let (status, reason) = state(t);
                (t["TaskId"].as_str().unwrap().to_string(), status, reason)
            })
            .collect()
    }
}

fn state(t: &serde_json::Value) -> (i64, String) {
    (
        t["TaskStatus"].as_i64().unwrap(),
        t["TaskInvalidReason"].as_str().unwrap_or("").to_string(),
    )
}

fn abnormal() -> (i64, String) {
    (2, "PullStreamFailed".into())
}

fn normal() -> (i64, String) {
    (1, String::new())
}

#[test]
fn a_rollout_to_an_unreachable_source_breaks_the_task_and_restoring_it_heals_it() {
    let s = Scratch::new();
    let seed = seed_file(&s);
    let emulator = EmulatorProcess::start(&[
        "--qps",
        "0",
        "--unreachable-source",
        PATTERN,
        "--seed",
        seed.to_str().unwrap(),
    ]);
    wait_for("the emulator's start-up lines", || {
        emulator.stderr().contains("are unreachable")
    });
    assert!(
        emulator.stderr().contains(&format!(
            "sources matching '{PATTERN}' are unreachable: a task running on one turns abnormal (2, PullStreamFailed) 1 s after it starts or restarts"
        )),
        "{}",
        emulator.stderr()
    );
    let read = Reader::new(emulator.url());
    assert!(read.list().iter().all(|t| (t.1, t.2.as_str()) == (1, "")));

    let apply = |m: &std::path::Path| {
        let mut c = s.livebatch();
        c.args(["apply", "--endpoint", emulator.url(), "--journal"])
            .arg(s.path("j.jsonl"))
            .args(["--restart-running", "--yes", "--qps", "10"])
            .arg(m);
        let out = Command::from_std(c).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("[stop → update → restart]"), "{err}");
    };

    // The rollout itself succeeds, call by call; the pull fails afterwards.
    apply(&manifest(&s, "bad.yaml", "u-2", &bad("u-2")));
    wait_for("u-2 to run abnormally", || {
        read.describe("u-2") == abnormal()
    });
    let listed = read.list();
    let by_id = |id: &str| {
        let t = listed.iter().find(|t| t.0 == id).unwrap();
        (t.1, t.2.clone())
    };
    assert_eq!(by_id("u-2"), abnormal(), "{listed:?}");
    assert_eq!(by_id("u-1"), normal(), "{listed:?}");
    assert_eq!(by_id("u-3"), normal(), "{listed:?}");

    // Restored (stop → update → restart on the good source): running normally, and still so
    // after the second in which a bad source would have failed.
    apply(&manifest(&s, "good.yaml", "u-2", &good("u-2")));
    let restored = Instant::now();
    wait_for("u-2 to run normally", || read.describe("u-2") == normal());
    // The clock only moves forward: once 2 s have passed since the restart, an unreachable
    // source would show; waiting for that moment asserts nothing about how long anything took.
    std::thread::sleep(Duration::from_secs(2).saturating_sub(restored.elapsed()));
    assert_eq!(read.describe("u-2"), normal());
    assert!(read.list().iter().all(|t| (t.1, t.2.as_str()) == (1, "")));
}

#[test]
fn the_sandbox_rehearses_a_rollout_to_an_unreachable_source() {
    let s = Scratch::new();
    let seed = seed_file(&s);
    let m = manifest(&s, "m.yaml", "u-1", &bad("u-1"));
    let out = s
        .unconfigured()
        .args(["apply", "--sandbox", "--sandbox-seed"])
        .arg(&seed)
        .args(["--sandbox-unreachable-source", PATTERN])
        .args(["--restart-running", "--yes", "--verify"])
        .arg(&m)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Every call succeeds, as the service's would: noticing the broken stream is the gate's job.
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "sandbox: sources matching '{PATTERN}' are unreachable"
        )),
        "{err}"
    );
    assert!(err.contains("[stop → update → restart]"), "{err}");
}

#[test]
fn in_waves_the_sandbox_rehearsal_fails_the_canary_gate_and_rolls_it_back() {
    let s = Scratch::new();
    let seed = seed_file(&s);
    let m = s.path("m.yaml");
    std::fs::write(
        &m,
        format!(
            "updates:\n  - TaskId: u-1\n    Region: cn-shanghai\n    SourceUrls: {}\n  - TaskId: u-2\n    Region: cn-shanghai\n    SourceUrls: {}\n",
            bad("u-1"),
            bad("u-2")
        ),
    )
    .unwrap();
    // The bake is counted from the wave's last answer, the restart's, so a 2 s bake reads the
    // canary after the second in which its pull fails, however slow the machine.
    let out = s
        .unconfigured()
        .args(["apply", "--sandbox", "--sandbox-seed"])
        .arg(&seed)
        .args(["--sandbox-unreachable-source", PATTERN])
        .args([
            "--restart-running",
            "--yes",
            "--waves",
            "1,100%",
            "--bake",
            "2s",
        ])
        .arg(&m)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("task u-1: running abnormally: PullStreamFailed"),
        "{err}"
    );
    assert!(err.contains("rolled back 1 task(s)"), "{err}");
}

#[test]
fn an_unreachable_source_is_a_sandbox_flag_and_a_pattern_must_name_something() {
    let s = Scratch::new();
    let m = manifest(&s, "m.yaml", "u-1", &bad("u-1"));
    s.unconfigured()
        .args(["apply", "--sandbox-unreachable-source", PATTERN, "--yes"])
        .arg(&m)
        .assert()
        .code(64)
        .stderr(predicates::str::contains("--sandbox"));
    assert!(
        !s.path("m.yaml.journal.jsonl").exists(),
        "nothing was started"
    );
    for (flag, pattern, says) in [
        (
            "--sandbox-unreachable-source",
            "*",
            "every running task would break",
        ),
        ("--sandbox-unreachable-source", "", "an empty pattern"),
    ] {
        s.unconfigured()
            .args(["apply", "--sandbox", flag, pattern, "--yes"])
            .arg(&m)
            .assert()
            .code(64)
            .stderr(predicates::str::contains(says));
    }
    for (pattern, says) in [
        ("**", "every running task would break"),
        ("", "an empty pattern"),
    ] {
        lb().args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--unreachable-source",
            pattern,
        ])
        .assert()
        .code(64)
        .stderr(predicates::str::contains(format!("'{pattern}'")))
        .stderr(predicates::str::contains(says));
    }
}
