//! `livebatch apply` end to end: the real binary against the in-process emulator on loopback,
//! signed with the emulator's default key through the `ALIBABA_CLOUD_*` variables, HOME a scratch
//! directory. No timing asserts: where a run must be caught mid-way, the test polls the journal.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Child;

use crate::support::binary::{Scratch, wait_for};
use crate::support::emulator::Emu;
use assert_cmd::Command;
use livebatch::apply::journal::{ItemStatus, Record};
use livebatch::apply::sandbox;
use livebatch::emulator::{EmulatorConfig, FaultConfig, SeedTask};
use livebatch::model::{ApiTime, TaskStatus, Update};
use predicates::prelude::PredicateBooleanExt;

const NEW_CALLBACK: &str = "https://hooks.new.example.com/notify";

/// Each answer 5–30 ms late, as a real service's would be.
const LATENCY: Option<(u64, u64)> = Some((5, 30));

/// The updated tasks' callbacks, by task ID.
fn callbacks(emu: &Emu) -> HashMap<String, String> {
    emu.tasks()
        .into_iter()
        .map(|t| (t.task_id, t.callback_url))
        .collect()
}

fn now() -> ApiTime {
    ApiTime::from_unix(chrono::Utc::now().timestamp()).unwrap()
}

/// `n` updates moving each task's callback, task IDs `{prefix}-000`….
fn updates(prefix: &str, n: usize) -> Vec<Update> {
    crate::support::batch::callback_updates(prefix, n, NEW_CALLBACK)
}

fn seed(us: &[Update]) -> Vec<SeedTask> {
    sandbox::seed_tasks(us, now())
}

fn item_records(rs: &[Record]) -> Vec<&livebatch::outcome::ItemResult> {
    rs.iter()
        .filter_map(|r| match r {
            Record::Item(i) => Some(&i.item),
            _ => None,
        })
        .collect()
}

fn signal(child: &Child, sig: &str) {
    let st = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success(), "kill -{sig} failed");
}

fn assert_all_updated(emu: &Emu, us: &[Update]) {
    let cbs = callbacks(emu);
    for u in us {
        assert_eq!(
            cbs.get(&u.task_id).map(String::as_str),
            u.callback_url.as_deref(),
            "{} was not updated",
            u.task_id
        );
    }
}

#[test]
fn pacing_keeps_every_one_second_window_within_the_quota() {
    let us = updates("pace", 30);
    // An unlimited emulator throttles nothing, so its windows show what the client really sent.
    let emu = Emu::seeded(0, LATENCY, seed(&us));
    let s = Scratch::new();
    let m = s.manifest(&us);
    s.apply(&emu, &[m.to_str().unwrap(), "--yes", "--qps", "10"])
        .assert()
        .code(0);
    let st = emu.stats();
    // The plan's read (one list page) and the 30 updates, each operation within its quota.
    assert_eq!(st.count("UpdateLivePullToPush", "ok"), 30);
    assert_eq!(st.count("DescribeLivePullToPushList", "ok"), 1);
    assert_eq!(st.requests, 31);
    assert!(
        st.max_accepted_in_any_window <= 10,
        "a one-second window saw {} calls",
        st.max_accepted_in_any_window
    );
    assert_all_updated(&emu, &us);
}

#[test]
fn throttled_calls_are_retried_until_they_succeed() {
    let us = updates("thr", 12);
    // The account's real quota is lower than the one the user claims: the emulator throttles.
    let emu = Emu::seeded(3, LATENCY, seed(&us));
    let s = Scratch::new();
    let m = s.manifest(&us);
    s.apply(
        &emu,
        &[
            m.to_str().unwrap(),
            "--yes",
            "--qps",
            "30",
            "--quota-raised",
            "--max-attempts",
            "20",
            "--report",
            "r.json",
        ],
    )
    .assert()
    .code(0);
    let st = emu.stats();
    assert!(st.throttled > 0, "the emulator never throttled: {st:?}");
    assert_all_updated(&emu, &us);
    let r = s.report("r.json");
    assert_eq!(r.summary.succeeded, 12);
    assert!(
        r.summary.throttled > 0 && r.summary.retries > 0,
        "{:?}",
        r.summary
    );
}

#[test]
fn transient_errors_are_retried_until_they_succeed() {
    let us = updates("tr", 24);
    let emu = Emu::start(EmulatorConfig {
        qps: 40,
        faults: FaultConfig {
            latency_ms: LATENCY,
            fail_rate: 0.3,
            rng_seed: Some(7),
            ..FaultConfig::default()
        },
        seed: seed(&us),
        ..EmulatorConfig::default()
    });
    let s = Scratch::new();
    let m = s.manifest(&us);
    s.apply(
        &emu,
        &[
            m.to_str().unwrap(),
            "--yes",
            "--qps",
            "30",
            "--quota-raised",
            "--max-attempts",
            "10",
            "--report",
            "r.json",
        ],
    )
    .assert()
    .code(0);
    let st = emu.stats();
    let transient = st.count("UpdateLivePullToPush", "InternalError")
        + st.count("UpdateLivePullToPush", "ServiceUnavailable");
    assert!(transient > 0, "no transient failure was injected: {st:?}");
    assert_all_updated(&emu, &us);
    let r = s.report("r.json");
    assert_eq!(r.summary.succeeded, 24);
    assert_eq!(r.summary.retries, transient);
}

#[test]
fn permanent_errors_are_reported_once_and_not_retried() {
    let us = updates("perm", 10);
    // perm-003 and perm-007 do not exist; perm-005 has ended, so the service refuses any change.
    let mut seeds: Vec<SeedTask> = seed(&us)
        .into_iter()
        .filter(|t| t.task_id != "perm-003" && t.task_id != "perm-007")
        .collect();
    for t in &mut seeds {
        if t.task_id == "perm-005" {
            t.task_status = TaskStatus::Exited;
        }
    }
    let emu = Emu::seeded(50, LATENCY, seeds);
    let s = Scratch::new();
    let m = s.manifest(&us);
    // Blind sends (no plan to keep them from being sent), so the service's refusals are seen.
    s.apply(
        &emu,
        &[
            m.to_str().unwrap(),
            "--yes",
            "--no-refresh",
            "--qps",
            "30",
            "--quota-raised",
            "--report",
            "r.json",
        ],
    )
    .assert()
    .code(1);
    let st = emu.stats();
    assert_eq!(st.requests, 10, "a permanent error was retried: {st:?}");
    assert_eq!(st.count("UpdateLivePullToPush", "CodeTaskNotExist"), 2);
    let r = s.report("r.json");
    assert_eq!((r.summary.succeeded, r.summary.failed), (7, 3));
    let failed: BTreeMap<String, (String, u32)> = r
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Failed)
        .map(|i| (i.task_id, (i.error_code.unwrap_or_default(), i.attempts)))
        .collect();
    assert_eq!(failed["perm-003"], ("CodeTaskNotExist".into(), 1));
    assert_eq!(failed["perm-007"], ("CodeTaskNotExist".into(), 1));
    assert_eq!(failed["perm-005"], ("InvalidParameter".into(), 1));
    let src = r
        .items
        .iter()
        .find(|i| i.task_id == "perm-003")
        .unwrap()
        .source;
    assert!(src.ends_with("m.yaml:11"), "{src}");
}

#[test]
fn a_wrong_secret_halts_at_once_with_exit_77() {
    let us = updates("sys", 30);
    let emu = Emu::seeded(10, LATENCY, seed(&us));
    let s = Scratch::new();
    let m = s.manifest(&us);
    // Planning reads first: the first read is refused, nothing is sent, exit 77.
    s.apply_with_secret(&emu, &[m.to_str().unwrap(), "--yes"], "not-the-secret")
        .assert()
        .code(77)
        .stderr(predicates::str::contains("nothing was sent"))
        .stderr(predicates::str::contains("not-the-secret").not());
    assert_eq!(emu.stats().count("UpdateLivePullToPush", "ok"), 0);
    assert!(emu.stats().requests <= 10);
    // Blind sends: the engine halts at the first refusal.
    let emu = Emu::seeded(10, LATENCY, seed(&us));
    s.apply_with_secret(
        &emu,
        &[
            m.to_str().unwrap(),
            "--yes",
            "--no-refresh",
            "--report",
            "r.json",
        ],
        "not-the-secret",
    )
    .assert()
    .code(77)
    .stderr(predicates::str::contains("not-the-secret").not());
    let st = emu.stats();
    assert!(
        (1..=10).contains(&st.requests),
        "{} calls were sent with a wrong secret",
        st.requests
    );
    assert_eq!(emu.ok_updates(), 0);
    let r = s.report("r.json");
    assert_eq!(r.summary.outcome.name(), "halted");
    assert!(r.summary.not_attempted >= 20, "{:?}", r.summary);
}

#[test]
fn max_failures_stops_dispatching_and_marks_the_rest_not_attempted() {
    let us = updates("halt", 20);
    // The first eight tasks do not exist.
    let seeds = seed(&us[8..]);
    let emu = Emu::seeded(0, LATENCY, seeds);
    let s = Scratch::new();
    let m = s.manifest(&us);
    s.apply(
        &emu,
        &[
            m.to_str().unwrap(),
            "--yes",
            "--no-refresh",
            "--max-failures",
            "3",
            "--report",
            "r.json",
        ],
    )
    .assert()
    .code(3);
    let r = s.report("r.json");
    assert_eq!(r.summary.outcome.name(), "halted");
    assert!(r.summary.failed >= 4, "{:?}", r.summary);
    assert!(r.summary.not_attempted > 0, "{:?}", r.summary);
    assert_eq!(
        r.summary.succeeded + r.summary.failed + r.summary.not_attempted,
        20
    );
    assert_eq!(emu.stats().requests, r.summary.calls);
}

#[test]
fn ctrl_c_stops_dispatching_and_leaves_journal_and_reports_consistent() {
    let us = updates("int", 40);
    let emu = Emu::seeded(10, LATENCY, seed(&us));
    let s = Scratch::new();
    let m = s.manifest(&us);
    let mut child = s.spawn(
        &emu,
        &[
            m.to_str().unwrap(),
            "--yes",
            "--report",
            "r.json",
            "--report",
            "r.xml",
        ],
    );
    wait_for("5 journal records", || {
        item_records(&s.journal()).len() >= 5
    });
    signal(&child, "INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    let r = s.report("r.json");
    assert_eq!(r.summary.outcome.name(), "interrupted");
    assert!(r.summary.not_attempted > 0, "{:?}", r.summary);
    assert_eq!(r.summary.succeeded + r.summary.not_attempted, 40);
    // The journal agrees with the report and with what the emulator accepted.
    let j = s.journal();
    let ok = item_records(&j)
        .iter()
        .filter(|i| i.status == ItemStatus::Succeeded)
        .count() as u64;
    assert_eq!(ok, r.summary.succeeded);
    assert_eq!(emu.ok_updates(), r.summary.succeeded);
    assert!(matches!(j.last(), Some(Record::End(e)) if e.outcome == "interrupted"));
    assert!(
        std::fs::read_to_string(s.path("r.xml"))
            .unwrap()
            .contains("<testsuite")
    );
}

#[test]
fn kill_9_then_resume_applies_every_update_and_none_twice_beyond_those_in_flight() {
    let us = updates("crash", 40);
    let emu = Emu::seeded(10, LATENCY, seed(&us));
    let s = Scratch::new();
    let m = s.manifest(&us);
    let mut child = s.spawn(&emu, &[m.to_str().unwrap(), "--yes"]);
    wait_for("10 journal records", || {
        item_records(&s.journal()).len() >= 10
    });
    signal(&child, "KILL");
    let _ = child.wait();
    let before = item_records(&s.journal())
        .iter()
        .filter(|i| i.status == ItemStatus::Succeeded)
        .count() as u64;
    let accepted_before = emu.ok_updates();
    assert!((10..40).contains(&before), "{before}");
    // At most the calls in flight at the kill were applied without a journal record.
    let in_flight = accepted_before - before;
    assert!(in_flight <= 24, "{in_flight} calls unaccounted for");

    s.apply(
        &emu,
        &[
            m.to_str().unwrap(),
            "--yes",
            "--resume",
            "--report",
            "r.json",
        ],
    )
    .assert()
    .code(0);
    assert_all_updated(&emu, &us);
    let r = s.report("r.json");
    // The re-run plans against live state: what the killed run applied (journaled or still in
    // flight at the kill) is already up to date and not sent again.
    assert_eq!(r.summary.noop, accepted_before);
    assert_eq!(r.summary.succeeded, 40 - accepted_before);
    assert_eq!(emu.ok_updates(), 40, "no update was applied twice");
    let mut ok_per_task: HashMap<String, usize> = HashMap::new();
    for i in item_records(&s.journal()) {
        if i.status == ItemStatus::Succeeded {
            *ok_per_task.entry(i.task_id.clone()).or_default() += 1;
        }
    }
    assert_eq!(ok_per_task.len() as u64, 40 - in_flight);
    assert!(ok_per_task.values().all(|&n| n == 1), "{ok_per_task:?}");
}

#[test]
fn kill_9_then_blind_resume_skips_what_the_journal_says_succeeded() {
    let us = updates("blind", 40);
    let emu = Emu::seeded(10, LATENCY, seed(&us));
    let s = Scratch::new();
    let m = s.manifest(&us);
    let mut child = s.spawn(&emu, &[m.to_str().unwrap(), "--yes", "--no-refresh"]);
    wait_for("10 journal records", || {
        item_records(&s.journal()).len() >= 10
    });
    signal(&child, "KILL");
    let _ = child.wait();
    let before = item_records(&s.journal())
        .iter()
        .filter(|i| i.status == ItemStatus::Succeeded)
        .count() as u64;
    let in_flight = emu.ok_updates() - before;
    s.apply(
        &emu,
        &[
            m.to_str().unwrap(),
            "--yes",
            "--no-refresh",
            "--resume",
            "--report",
            "r.json",
        ],
    )
    .assert()
    .code(0);
    assert_all_updated(&emu, &us);
    let r = s.report("r.json");
    assert_eq!(r.summary.skipped, before);
    assert_eq!(r.summary.succeeded, 40 - before);
    // Without live reads, those in flight at the kill are sent again (harmlessly).
    assert_eq!(emu.ok_updates(), 40 + in_flight);
}

#[test]
fn retry_failed_sends_only_what_failed_last_time() {
    let us = updates("rf", 10);
    let s = Scratch::new();
    let m = s.manifest(&us);
    {
        // rf-002 and rf-006 do not exist yet.
        let seeds = seed(&us)
            .into_iter()
            .filter(|t| t.task_id != "rf-002" && t.task_id != "rf-006")
            .collect();
        let emu = Emu::seeded(0, LATENCY, seeds);
        s.apply(&emu, &[m.to_str().unwrap(), "--yes", "--no-refresh"])
            .assert()
            .code(1);
    }
    // Now they do (a fresh account state); only the two failed ones are sent.
    let emu = Emu::seeded(0, LATENCY, seed(&us));
    s.apply(
        &emu,
        &[
            m.to_str().unwrap(),
            "--yes",
            "--no-refresh",
            "--retry-failed",
            "--report",
            "r.json",
        ],
    )
    .assert()
    .code(0);
    assert_eq!(emu.stats().requests, 2);
    let cbs = callbacks(&emu);
    for u in &us {
        let updated = cbs[&u.task_id] == *u.callback_url.as_ref().unwrap();
        assert_eq!(
            updated,
            u.task_id == "rf-002" || u.task_id == "rf-006",
            "{}",
            u.task_id
        );
    }
    let r = s.report("r.json");
    assert_eq!((r.summary.succeeded, r.summary.skipped), (2, 8));
}

#[test]
fn every_report_format_written_by_a_real_run_parses_back() {
    let us = updates("rep", 6);
    let seeds = seed(&us)
        .into_iter()
        .filter(|t| t.task_id != "rep-004")
        .collect();
    let emu = Emu::seeded(0, LATENCY, seeds);
    let s = Scratch::new();
    let m = s.manifest(&us);
    s.apply(
        &emu,
        &[
            m.to_str().unwrap(),
            "--yes",
            "--report",
            "r.json",
            "--report",
            "r.csv",
            "--report",
            "r.xml",
            "--report",
            "r.md",
        ],
    )
    .assert()
    .code(1);
    let r = s.report("r.json");
    assert_eq!((r.summary.total, r.summary.missing), (6, 1));

    let mut rd = csv::Reader::from_path(s.path("r.csv")).unwrap();
    let headers = rd.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (id, status, code) = (col("task_id"), col("status"), col("error_code"));
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6);
    let failed: Vec<_> = rows.iter().filter(|r| &r[status] == "missing").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (&failed[0][id], &failed[0][code]),
        ("rep-004", "CodeTaskNotExist")
    );

    let xml = std::fs::read_to_string(s.path("r.xml")).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures) = (0, 0);
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().as_ref() {
                    b"testcase" => cases += 1,
                    b"failure" => failures += 1,
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!((cases, failures), (6, 1));

    let md = std::fs::read_to_string(s.path("r.md")).unwrap();
    assert!(md.contains("| 6 | 5 | 0 |"), "{md}");
    assert!(md.contains("0 blocked, 1 missing"), "{md}");
    assert!(
        md.contains("rep-004") && md.contains("CodeTaskNotExist"),
        "{md}"
    );
}

#[test]
fn an_invalid_manifest_sends_nothing_and_exits_65() {
    let us = updates("inv", 5);
    let emu = Emu::seeded(10, LATENCY, seed(&us));
    let s = Scratch::new();
    let m = s.manifest(&us);
    let mut text = std::fs::read_to_string(&m).unwrap();
    text.push_str("  - TaskId: inv-bad\n    Region: mars-north-1\n    CallbackUrl: ftp://x\n");
    std::fs::write(&m, text).unwrap();
    s.apply(&emu, &[m.to_str().unwrap(), "--yes"])
        .assert()
        .code(65)
        .stderr(predicates::str::contains("mars-north-1"))
        .stderr(predicates::str::contains("nothing was sent"));
    assert_eq!(emu.stats().requests, 0);
    assert!(!s.path("j.jsonl").exists());
}

#[test]
fn without_yes_and_no_terminal_it_refuses_with_64_and_sends_nothing() {
    let us = updates("ask", 5);
    let emu = Emu::seeded(10, LATENCY, seed(&us));
    let s = Scratch::new();
    let m = s.manifest(&us);
    s.apply(&emu, &[m.to_str().unwrap()])
        .write_stdin("y\n")
        .assert()
        .code(64)
        .stderr(predicates::str::contains("--yes"))
        .stderr(predicates::str::contains("Plan: 5 to change"));
    // The plan was read (and shown); no update was sent.
    assert_eq!(emu.stats().count("UpdateLivePullToPush", "ok"), 0);
    assert!(!emu.stats().operations.contains_key("UpdateLivePullToPush"));
    // Declining leaves no journal behind (the lock created it; nothing was written to it).
    assert!(!s.path("j.jsonl").exists());
}

#[test]
fn sandbox_applies_the_bundled_examples_without_credentials() {
    let s = Scratch::new();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("livebatch"));
    cmd.env_clear().env("HOME", s.home.path()).args([
        "apply",
        "--sandbox",
        "--yes",
        &format!("{root}/examples/migration.yaml"),
        &format!("{root}/examples/migration.csv"),
        "--journal",
        s.path("j.jsonl").to_str().unwrap(),
        "--report",
        s.path("r.json").to_str().unwrap(),
    ]);
    Command::from_std(cmd)
        .assert()
        .code(0)
        .stderr(predicates::str::contains(
            "sandbox: emulator at http://127.0.0.1:",
        ));
    let r = s.report("r.json");
    assert!(r.summary.total > 50, "{:?}", r.summary);
    assert_eq!(r.summary.succeeded, r.summary.total);
    assert!(
        r.items
            .iter()
            .all(|i| i.source.contains("examples/migration."))
    );
}

#[test]
fn sandbox_default_journal_is_apart_from_the_real_one() {
    assert_eq!(
        livebatch::cli::apply::default_journal("dir/m.yaml", true),
        PathBuf::from("dir/m.yaml.sandbox.journal.jsonl")
    );
    assert_eq!(
        livebatch::cli::apply::default_journal("dir/m.yaml", false),
        PathBuf::from("dir/m.yaml.journal.jsonl")
    );
    assert_eq!(
        livebatch::cli::apply::default_journal("-", false),
        PathBuf::from("stdin.journal.jsonl")
    );
}
