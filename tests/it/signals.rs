//! Stopping `apply` from outside (issue 22, items 12 and 13): SIGTERM or Ctrl-C before the run
//! starts exits 3 saying nothing was sent and leaves no empty journal; once the run is over, more
//! requests let the reports and the outcome line finish; with the quota store hung (SIGSTOP), a
//! SIGTERM still ends the run promptly. Bounds are generous: the exact times are measured by hand.

use std::io::Read;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::support::batch::callback_updates;
use crate::support::binary::{Scratch, wait_for};
use crate::support::emulator::{Emu, seed_task};
use crate::support::quota::RedisServer;
use livebatch::model::{SourceType, TaskStatus};

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn stopped_tasks(prefix: &str, n: usize) -> Vec<livebatch::emulator::SeedTask> {
    (0..n)
        .map(|i| {
            seed_task(
                &format!("{prefix}-{i:03}"),
                SourceType::Url,
                &["https://media.example.com/a.mp4"],
                TaskStatus::Stopped,
                -3_600,
                86_400,
            )
        })
        .collect()
}

fn finish(mut child: Child) -> (Option<i32>, String) {
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

#[test]
fn sigterm_while_planning_exits_3_sends_nothing_and_leaves_no_journal() {
    // Every answer takes seconds, so the run is caught reading live state.
    let emu = Emu::seeded(0, Some((3_000, 4_000)), stopped_tasks("p", 20));
    let s = Scratch::new();
    let m = s.manifest(&callback_updates("p", 20, "https://hooks.new.example.com"));
    let child = s.spawn(&emu, &["--yes", m.to_str().unwrap()]);
    wait_for("the journal locked", || s.path("j.jsonl").exists());
    signal(child.id(), "-TERM");
    let (code, err) = finish(child);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(
        !s.path("j.jsonl").exists(),
        "an empty journal was left behind"
    );
    assert_eq!(emu.calls("UpdateLivePullToPush"), 0);
}

#[test]
fn sigint_while_planning_too() {
    let emu = Emu::seeded(0, Some((3_000, 4_000)), stopped_tasks("q", 5));
    let s = Scratch::new();
    let m = s.manifest(&callback_updates("q", 5, "https://hooks.new.example.com"));
    let child = s.spawn(&emu, &["--yes", m.to_str().unwrap()]);
    wait_for("the journal locked", || s.path("j.jsonl").exists());
    signal(child.id(), "-INT");
    let (code, err) = finish(child);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(!s.path("j.jsonl").exists());
}

#[test]
fn two_sigterms_after_the_run_leave_whole_reports_and_the_outcome_line() {
    const N: usize = 8;
    // Slow answers: verify's read after the run takes seconds.
    let emu = Emu::seeded(0, Some((1_500, 2_000)), stopped_tasks("v", N));
    let s = Scratch::new();
    let m = s.manifest(&callback_updates("v", N, "https://hooks.new.example.com"));
    let child = s.spawn(
        &emu,
        &[
            "--yes",
            "--verify",
            "--report",
            "r.json",
            "--report",
            "r.md",
            m.to_str().unwrap(),
        ],
    );
    // The run's end record comes before verify and the reports.
    wait_for("the run's end record", || {
        s.journal()
            .iter()
            .any(|r| matches!(r, livebatch::apply::journal::Record::End(_)))
    });
    signal(child.id(), "-TERM");
    signal(child.id(), "-TERM");
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("the run is over"), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.contains("succeeded"), "outcome line last:\n{err}");
    let r = s.report("r.json");
    assert_eq!(r.summary.succeeded, N as u64);
    let leftovers: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn sigterm_with_the_quota_store_hung_ends_the_run_promptly() {
    const N: usize = 60;
    let redis = RedisServer::start();
    let emu = Emu::seeded(0, None, stopped_tasks("h", N));
    let s = Scratch::new();
    let m = s.manifest(&callback_updates("h", N, "https://hooks.new.example.com"));
    let url = redis.url();
    let child = s.spawn(
        &emu,
        &[
            "--yes",
            "--qps",
            "2",
            "--quota-store",
            &url,
            "--quota-key",
            "acct",
            m.to_str().unwrap(),
        ],
    );
    wait_for("a few updates", || emu.ok_updates() >= 2);
    signal(redis.pid(), "-STOP");
    let t0 = Instant::now();
    signal(child.id(), "-TERM");
    let (code, err) = finish(child);
    let took = t0.elapsed();
    signal(redis.pid(), "-CONT");
    eprintln!("measured: SIGTERM with the quota store stopped -> exit in {took:?}");
    assert_eq!(code, Some(3), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{err}");
}

/// Issue 22 item 7: a run halted because the quota store stayed unreachable is reported `halted`
/// with the reason (exit 3), as a journal failure is, not `interrupted`.
#[test]
fn a_quota_store_that_stays_unreachable_halts_the_run_with_its_reason() {
    const N: usize = 60;
    let mut redis = RedisServer::start();
    let emu = Emu::seeded(0, None, stopped_tasks("u", N));
    let s = Scratch::new();
    let m = s.manifest(&callback_updates("u", N, "https://hooks.new.example.com"));
    let url = redis.url();
    let child = s.spawn(
        &emu,
        &[
            "--yes",
            "--qps",
            "2",
            "--quota-store",
            &url,
            "--quota-key",
            "acct",
            "--quota-store-timeout",
            "1",
            "--report",
            "r.json",
            m.to_str().unwrap(),
        ],
    );
    wait_for("a few updates", || emu.ok_updates() >= 2);
    redis.kill();
    let (code, err) = finish(child);
    assert_eq!(code, Some(3), "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("r.json")).unwrap()).unwrap();
    let summary = &r["summary"];
    assert_eq!(summary["outcome"], "halted", "{summary}");
    assert_eq!(summary["halt_reason"]["kind"], "quota_store", "{summary}");
    let end = s.journal().into_iter().rev().find_map(|r| match r {
        livebatch::apply::journal::Record::End(e) => Some(e.outcome),
        _ => None,
    });
    assert_eq!(end.as_deref(), Some("halted"));
}
