//! Nothing left stopped after a crash (issue 22, item 3): `apply --restart-running` killed with
//! `kill -9` between a stop and its restart leaves tasks stopped; the next run (resume or not)
//! finds them in the journal, restarts each one found stopped before it plans, says so, and ends
//! with every task running the configuration the manifest asks for.

use std::io::Read;

use crate::support::binary::{Scratch, wait_for};
use crate::support::emulator::{Emu, seed_task};
use livebatch::apply::journal::Record;
use livebatch::model::{SourceType, TaskStatus};

const N: usize = 40;

fn ids() -> Vec<String> {
    (0..N).map(|i| format!("crash-{i:03}")).collect()
}

/// `N` running tasks, each asked to move to a new source (which needs stop → update → restart).
fn setup() -> (Emu, Scratch, std::path::PathBuf) {
    let seed = ids()
        .iter()
        .map(|id| {
            seed_task(
                id,
                SourceType::Url,
                &["https://media.example.com/a.mp4"],
                TaskStatus::Running,
                -3_600,
                86_400,
            )
        })
        .collect();
    // Slow answers, so the run is caught between steps.
    let emu = Emu::seeded(0, Some((150, 300)), seed);
    let s = Scratch::new();
    let mut body = String::from("defaults:\n  Region: cn-shanghai\nupdates:\n");
    for id in ids() {
        body.push_str(&format!(
            "- TaskId: {id}\n  SourceUrls: [https://media.example.com/{id}-new.mp4]\n"
        ));
    }
    let m = s.path("m.yaml");
    std::fs::write(&m, body).unwrap();
    (emu, s, m)
}

fn stopped(emu: &Emu) -> Vec<String> {
    ids()
        .into_iter()
        .filter(|id| emu.task(id).task_status == TaskStatus::Stopped)
        .collect()
}

/// Kills a `--restart-running` run as soon as the journal shows a task stopped and not yet
/// restarted; returns the tasks left stopped.
fn crash_mid_item(emu: &Emu, s: &Scratch, m: &std::path::Path) -> Vec<String> {
    let child = s.spawn(
        emu,
        &[
            "--yes",
            "--restart-running",
            "--qps",
            "3",
            m.to_str().unwrap(),
        ],
    );
    kill_mid_item(emu, child, &s.path("j.jsonl"))
}

fn kill_mid_item(
    emu: &Emu,
    mut child: std::process::Child,
    journal: &std::path::Path,
) -> Vec<String> {
    wait_for("a task stopped and not yet restarted", || {
        let j = crate::support::binary::read_journal(journal);
        j.iter().any(|r| {
            matches!(r, Record::Step(st) if st.step == "stop" && st.ok
                && !j.iter().any(|r2| matches!(r2, Record::Step(x)
                    if x.task_id == st.task_id && x.step == "restart")))
        })
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let left = stopped(emu);
    assert!(!left.is_empty(), "the kill left no task stopped");
    left
}

fn assert_all_running_new(emu: &Emu) {
    for id in ids() {
        let t = emu.task(&id);
        assert_eq!(
            t.task_status,
            TaskStatus::Running,
            "{id} left {:?}",
            t.task_status
        );
        assert_eq!(
            t.source_urls,
            vec![format!("https://media.example.com/{id}-new.mp4")],
            "{id}"
        );
    }
}

#[test]
fn resume_after_kill_restarts_every_task_left_stopped() {
    let (emu, s, m) = setup();
    let left = crash_mid_item(&emu, &s, &m);
    let out = s
        .apply(
            &emu,
            &[
                "--yes",
                "--resume",
                "--restart-running",
                m.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("recovering:"), "{err}");
    for id in &left {
        assert!(
            err.contains(&format!("task {id}: was left stopped; restarted")),
            "{id} not reported:\n{err}"
        );
    }
    assert_all_running_new(&emu);
    // The journal closes every item recovery restarted.
    let j = s.journal();
    for id in &left {
        assert!(
            j.iter().any(|r| matches!(r, Record::Step(st)
                if &st.task_id == id && st.step == "recover-restart" && st.ok)),
            "no recover-restart record for {id}"
        );
    }
    // A further run has nothing left to recover.
    let out = s
        .apply(
            &emu,
            &[
                "--yes",
                "--resume",
                "--restart-running",
                m.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("recovering:"));
}

#[test]
fn a_fresh_run_after_kill_recovers_too() {
    let (emu, s, m) = setup();
    let left = crash_mid_item(&emu, &s, &m);
    let mut child = s.spawn(&emu, &["--yes", "--restart-running", m.to_str().unwrap()]);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("recovered: {} task(s) restarted", left.len()))
            || err.contains("recovered: "),
        "{err}"
    );
    assert_all_running_new(&emu);
}

#[test]
fn diff_reports_a_task_left_stopped_by_an_interrupted_apply_as_drift() {
    let (emu, s, m) = setup();
    // The default journal, next to the manifest: the one diff reads.
    let mut c = s.livebatch();
    c.args(["apply", "--endpoint", emu.url().as_str()])
        .args(["--yes", "--restart-running", "--qps", "3"])
        .arg(&m);
    let child = crate::support::binary::spawn(c);
    let left = kill_mid_item(&emu, child, &s.path("m.yaml.journal.jsonl"));
    let out = s
        .livebatch()
        .args(["diff", "--endpoint", emu.url().as_str()])
        .arg(&m)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    for id in &left {
        assert!(
            text.contains(&format!("! {id}: left STOPPED")),
            "{id}:\n{text}"
        );
    }
    assert!(text.contains("livebatch apply --resume"), "{text}");
    assert!(!text.contains("No drift"), "{text}");
}
