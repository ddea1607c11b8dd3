//! `livebatch apply`'s outputs and its end (issue 10 items 2, 7, 8): outputs that would overwrite
//! an input or each other, or cannot be written, are refused before anything is sent; one journal
//! is used by one run at a time; SIGTERM ends a run like Ctrl-C; a journal that cannot be written
//! halts naming the file and the OS error; the end of a run lists what needs attention, and the
//! outcome line is the last line on standard error. The real binary against the emulator on
//! loopback; no timing asserts (a run caught mid-way is found by polling the journal).

use crate::support::binary::{Scratch, wait_for};
use crate::support::emulator::Emu;
use livebatch::apply::sandbox;
use livebatch::emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, SeedTask};
use livebatch::model::{ApiTime, Update};
use livebatch::report::Report;

/// The journal of every run here; its extension would also make it a JSON report's path.
const JOURNAL: &str = "j.journal.json";

/// The emulator of every run here: a quota of 10 calls/s per operation, answers 5–30 ms late.
fn emulator(seed: Vec<SeedTask>) -> Emu {
    Emu::seeded(10, Some((5, 30)), seed)
}

fn updates(prefix: &str, n: usize) -> Vec<Update> {
    crate::support::batch::callback_updates(prefix, n, "https://hooks.new.example.com")
}

fn seed(us: &[Update]) -> Vec<SeedTask> {
    let now = ApiTime::from_unix(chrono::Utc::now().timestamp()).unwrap();
    sandbox::seed_tasks(us, now)
}

fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_report_over_the_manifest_the_journal_or_another_report_is_refused_before_sending() {
    let us = updates("out", 3);
    let emu = emulator(seed(&us));
    let s = Scratch::with_journal(JOURNAL);
    // A JSON manifest, so that a report path ending in .json can name it.
    let m = s.path("m.json");
    let entries: Vec<serde_json::Value> = us
        .iter()
        .map(|u| {
            serde_json::json!({
                "TaskId": u.task_id,
                "Region": u.region.as_str(),
                "CallbackUrl": u.callback_url,
            })
        })
        .collect();
    std::fs::write(&m, serde_json::json!({ "updates": entries }).to_string()).unwrap();
    let before = std::fs::read(&m).unwrap();
    let m_str = m.to_str().unwrap();
    for (report, says) in [
        (m_str.to_string(), "also an input"),
        ("./sub/../m.json".to_string(), "also an input"),
        // A format prefix names the same file.
        (format!("md:{m_str}"), "also an input"),
        (JOURNAL.to_string(), "also the journal"),
    ] {
        std::fs::create_dir_all(s.path("sub")).unwrap();
        let out = s
            .apply(&emu, &[m_str, "--yes", "--report", &report])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{}", stderr_of(&out));
        assert!(stderr_of(&out).contains(says), "{}", stderr_of(&out));
    }
    let out = s
        .apply(
            &emu,
            &[m_str, "--yes", "--report", "r.json", "--report", "./r.json"],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr_of(&out).contains("each output needs a file of its own"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(std::fs::read(&m).unwrap(), before, "the manifest is intact");
    assert_eq!(emu.stats().requests, 0, "nothing was sent");
}

#[test]
fn a_report_in_a_missing_directory_is_refused_before_sending() {
    let us = updates("dir", 3);
    let emu = emulator(seed(&us));
    let s = Scratch::with_journal(JOURNAL);
    let m = s.manifest(&us);
    let out = s
        .apply(
            &emu,
            &[m.to_str().unwrap(), "--yes", "--report", "nope/r.json"],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("nope"), "{}", stderr_of(&out));
    assert_eq!(emu.stats().requests, 0);
}

#[test]
fn a_second_run_on_a_journal_in_use_is_refused() {
    let us = updates("lock", 3);
    let emu = emulator(seed(&us));
    let s = Scratch::with_journal(JOURNAL);
    let m = s.manifest(&us);
    // Another process (this test) holds the journal's lock, as a running apply does.
    let held = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.path(JOURNAL))
        .unwrap();
    held.try_lock().unwrap();
    let out = s
        .apply(&emu, &[m.to_str().unwrap(), "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("in use by another livebatch run"));
    assert_eq!(emu.stats().requests, 0);
    drop(held);
    s.apply(&emu, &[m.to_str().unwrap(), "--yes"])
        .assert()
        .code(0);
}

#[test]
fn sigterm_ends_the_run_like_ctrl_c_with_the_outcome_line_last() {
    let us = updates("term", 40);
    let emu = emulator(seed(&us));
    let s = Scratch::with_journal(JOURNAL);
    let m = s.manifest(&us);
    let child = s.spawn(&emu, &[m.to_str().unwrap(), "--yes", "--report", "r.json"]);
    wait_for("5 journal records", || s.journal_items() >= 5);
    let st = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let r: Report =
        serde_json::from_str(&std::fs::read_to_string(s.path("r.json")).unwrap()).unwrap();
    assert_eq!(r.summary.outcome.name(), "interrupted");
    assert!(r.summary.not_attempted > 0);
    assert_eq!(r.summary.failed, 0, "nothing is failed by an interruption");
    let text = std::fs::read_to_string(s.path(JOURNAL)).unwrap();
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains("\"outcome\":\"interrupted\""),
        "{text}"
    );
    let err = stderr_of(&out);
    assert!(err.contains("next: livebatch apply --resume"), "{err}");
    assert!(last_line(&out.stderr).starts_with("interrupted: "), "{err}");
}

/// A real failing write: the journal is capped by the file-size limit (`ulimit -f`, inherited by
/// the binary; SIGXFSZ ignored so the write fails with EFBIG instead of killing the process).
#[test]
fn a_journal_that_cannot_be_written_halts_naming_the_file_and_the_os_error() {
    let us = updates("full", 30);
    let emu = emulator(seed(&us));
    let s = Scratch::with_journal(JOURNAL);
    let m = s.manifest(&us);
    let bin = assert_cmd::cargo::cargo_bin("livebatch");
    let script = "trap '' XFSZ; ulimit -f 2; exec \"$0\" \"$@\"";
    let out = s
        .command(
            &emu,
            "/bin/sh",
            &["-c", script, bin.to_str().unwrap()],
            &[m.to_str().unwrap(), "--yes"],
        )
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = last_line(&out.stderr);
    assert!(
        last.starts_with("halted (outcomes could no longer be recorded: journal "),
        "{err}"
    );
    assert!(last.contains(JOURNAL) && last.contains("os error"), "{err}");
    assert!(
        emu.stats().requests < 30,
        "dispatching stopped: {}",
        emu.stats().requests
    );
}

#[test]
fn the_end_of_a_run_lists_failed_updates_and_the_next_command() {
    let us = updates("end", 6);
    // end-002 and end-004 do not exist: sent blind, they fail.
    let seeds = seed(&us)
        .into_iter()
        .filter(|t| t.task_id != "end-002" && t.task_id != "end-004")
        .collect();
    let emu = emulator(seeds);
    let s = Scratch::with_journal(JOURNAL);
    let m = s.manifest(&us);
    let out = s
        .apply(&emu, &[m.to_str().unwrap(), "--yes", "--no-refresh"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("2 update(s) need attention:"), "{err}");
    for t in ["end-002", "end-004"] {
        assert!(
            err.lines()
                .any(|l| l.contains("failed") && l.contains(t) && l.contains("m.yaml:")),
            "{err}"
        );
    }
    assert!(
        err.contains("next: livebatch apply --retry-failed"),
        "{err}"
    );
    assert!(
        last_line(&out.stderr).starts_with("completed: 4 succeeded, 2 failed"),
        "{err}"
    );
}

#[test]
fn reports_say_what_run_they_describe_and_format_json_prints_it_on_stdout() {
    let us = updates("info", 4);
    let emu = emulator(seed(&us));
    let s = Scratch::with_journal(JOURNAL);
    let m = s.manifest(&us);
    let out = s
        .apply(
            &emu,
            &[
                m.to_str().unwrap(),
                "--yes",
                "--format",
                "json",
                "--report",
                "r.md",
                "--report",
                "r.json",
            ],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    // Standard output is one JSON document: the report, as the JSON report holds it.
    let printed: Report = serde_json::from_slice(&out.stdout).unwrap();
    let written: Report =
        serde_json::from_str(&std::fs::read_to_string(s.path("r.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    let run = printed.run.expect("the report names its run");
    assert_eq!(run.target, emu.url().to_string());
    assert!(!run.sandbox);
    let hash = {
        use sha2::Digest;
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(std::fs::read(&m).unwrap()))
        )
    };
    assert_eq!(run.inputs.len(), 1);
    assert_eq!(run.inputs[0].sha256.as_deref(), Some(hash.as_str()));
    assert!(run.started_at <= run.finished_at);
    assert_eq!(run.qps, 10.0);
    assert!(run.concurrency > 0 && run.max_attempts == 5);
    // Every call of the run is charted by the second it was sent in.
    assert_eq!(printed.summary.calls, 4);
    let charted: u64 = printed.summary.per_second.iter().map(|b| b.calls).sum();
    assert_eq!(charted, 4);
    // 4 calls in well under a second are 4 calls in that second, not hundreds per second.
    assert!(
        printed.summary.calls_per_second <= 4.0,
        "{:?}",
        printed.summary
    );
    let md = std::fs::read_to_string(s.path("r.md")).unwrap();
    assert!(
        md.starts_with("### livebatch apply: completed — 4 update(s) applied"),
        "{md}"
    );
    // A run of a second is not charted (runs of 30 s or more are; issue 21).
    assert!(!md.contains("```mermaid"), "{md}");
    assert!(md.contains(&hash), "{md}");
}

#[test]
fn a_hand_edited_plan_is_checked_again_with_the_offline_rules() {
    let us = updates("plan", 3);
    let emu = emulator(seed(&us));
    let s = Scratch::with_journal(JOURNAL);
    let m = s.manifest(&us);
    let mut plan_cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("livebatch"));
    plan_cmd
        .env_clear()
        .env("HOME", s.home.path())
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
        .env("NO_PROXY", "127.0.0.1")
        .current_dir(s.dir.path())
        .args(["plan", "--endpoint", &emu.url(), "--out", "plan.json"])
        .arg(&m);
    assert!(plan_cmd.status().unwrap().success());
    let plan = s.path("plan.json");
    let text = std::fs::read_to_string(&plan).unwrap();
    let edited = text.replace(
        "https://hooks.new.example.com/plan/1",
        "ftp://hooks.new.example.com/plan/1",
    );
    assert_ne!(text, edited, "the plan carries the callback");
    std::fs::write(&plan, edited).unwrap();
    let before = emu.stats().requests;
    let out = s
        .apply(&emu, &["--plan", plan.to_str().unwrap(), "--yes"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(err.contains("item 2 (plan-001"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert_eq!(emu.stats().requests, before, "nothing was sent");
}
