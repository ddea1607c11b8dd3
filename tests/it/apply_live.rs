//! `apply FILE` as plan-then-apply, on loopback against the emulator: export → edit → apply on
//! running tasks, no-ops not sent, blocked and missing items never sent, every operation paced on
//! its own quota, and the sandbox seeding exported tasks with their `x-TaskStatus`.

use crate::support::emulator::{Emu, seed_task as task};
use assert_cmd::Command;
use livebatch::emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, SeedTask};
use livebatch::model::{SourceType, TaskStatus};
use serde_json::Value;

const MP4: &[&str] = &["https://media.example.com/a.mp4"];
const OLD_CB: &str = "https://hooks.old.example.com/cb";
const NEW_CB: &str = "https://hooks.new.example.com/cb";

struct Env {
    emu: Emu,
    dir: tempfile::TempDir,
}

impl Env {
    fn new(qps: u32, latency_ms: Option<(u64, u64)>, seed: Vec<SeedTask>) -> Env {
        Env {
            emu: Emu::seeded(qps, latency_ms, seed),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("livebatch").unwrap();
        c.env_clear()
            .env("HOME", self.dir.path())
            .env("NO_PROXY", "127.0.0.1")
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
            .env("LIVEBATCH_ENDPOINT", self.emu.url());
        c
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, body: &str) -> std::path::PathBuf {
        let p = self.path(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    fn task(&self, id: &str) -> SeedTask {
        self.emu.task(id)
    }

    fn report(&self, name: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.path(name)).unwrap()).unwrap()
    }

    fn calls(&self, action: &str) -> u64 {
        self.emu.calls(action)
    }
}

fn running(id: &str) -> SeedTask {
    task(
        id,
        SourceType::Url,
        MP4,
        TaskStatus::Running,
        -3_600,
        86_400,
    )
}

fn stopped(id: &str) -> SeedTask {
    task(
        id,
        SourceType::Url,
        MP4,
        TaskStatus::Stopped,
        -3_600,
        86_400,
    )
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn status_of<'a>(report: &'a Value, task: &str) -> &'a Value {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["task_id"] == task)
        .unwrap()
}

#[test]
fn export_edit_apply_on_running_tasks_sends_only_what_changed_then_nothing() {
    let env = Env::new(100, None, vec![running("run-a"), running("run-b")]);
    let exported = env.path("exported.yaml");
    env.cmd()
        .args(["export", "--region", "cn-shanghai", "-o"])
        .arg(&exported)
        .assert()
        .code(0);
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(
        text.contains("StartTime") && text.contains("x-TaskStatus"),
        "{text}"
    );
    let edited = env.write("edited.yaml", &text.replace(OLD_CB, NEW_CB));

    // The whole exported record (StartTime, SourceUrls unchanged) goes in; only CallbackUrl is
    // sent, so the running tasks accept it.
    let out = env
        .cmd()
        .args(["apply", "--yes", "--report"])
        .arg(env.path("r1.json"))
        .arg(&edited)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Plan: 2 to change"),
        "{}",
        stderr(&out)
    );
    let r = env.report("r1.json");
    assert_eq!(r["summary"]["succeeded"], 2);
    for id in ["run-a", "run-b"] {
        let t = env.task(id);
        assert_eq!(t.callback_url, NEW_CB);
        assert_eq!(t.task_status, TaskStatus::Running);
    }
    let st = env.emu.stats();
    assert_eq!(st.count("UpdateLivePullToPush", "ok"), 2);
    assert_eq!(st.count("UpdateLivePullToPush", "CodeTaskHasStarted"), 0);

    // Applying it again: live state already matches, nothing is sent.
    let out = env
        .cmd()
        .args(["apply", "--yes", "--report"])
        .arg(env.path("r2.json"))
        .arg(&edited)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = env.report("r2.json");
    assert_eq!(r["summary"]["noop"], 2);
    assert_eq!(r["summary"]["succeeded"], 0);
    assert_eq!(status_of(&r, "run-a")["status"], "noop");
    assert_eq!(status_of(&r, "run-a")["attempts"], 0);
    assert_eq!(env.calls("UpdateLivePullToPush"), 2, "no-ops were not sent");

    // --no-refresh sends the whole record blind, as before: the service refuses the unchanged
    // StartTime on a running task.
    let out = env
        .cmd()
        .args(["apply", "--yes", "--no-refresh"])
        .arg(&edited)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        env.emu
            .stats()
            .count("UpdateLivePullToPush", "CodeTaskHasStarted"),
        2
    );
}

#[test]
fn blocked_and_missing_items_are_never_sent_and_fail_the_run_unless_accepted() {
    let env = Env::new(100, None, vec![running("run-1"), stopped("stop-1")]);
    let m = env.write(
        "m.yaml",
        &format!(
            "defaults:\n  Region: cn-shanghai\nupdates:\n\
             - TaskId: run-1\n  SourceUrls: [https://media.example.com/new.mp4]\n\
             - TaskId: stop-1\n  CallbackUrl: {NEW_CB}\n\
             - TaskId: gone-1\n  CallbackUrl: {NEW_CB}\n"
        ),
    );
    let out = env
        .cmd()
        .args(["apply", "--yes", "--report"])
        .arg(env.path("r.json"))
        .arg(&m)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("! run-1") && err.contains("--restart-running"),
        "{err}"
    );
    assert!(
        err.contains("--allow-blocked") && err.contains("--allow-missing"),
        "{err}"
    );
    let r = env.report("r.json");
    let blocked = status_of(&r, "run-1");
    assert_eq!(blocked["status"], "blocked");
    assert_eq!(blocked["attempts"], 0);
    assert!(
        !blocked["error_code"].as_str().unwrap().is_empty(),
        "{blocked}"
    );
    assert!(
        blocked["error_message"]
            .as_str()
            .unwrap()
            .contains("SourceUrls")
    );
    let missing = status_of(&r, "gone-1");
    assert_eq!(missing["status"], "missing");
    assert_eq!(missing["error_code"], "CodeTaskNotExist");
    assert_eq!(status_of(&r, "stop-1")["status"], "succeeded");
    // Exactly one update reached the service: the stopped task's.
    assert_eq!(env.calls("UpdateLivePullToPush"), 1);
    assert_eq!(
        env.task("run-1").source_urls,
        vec!["https://media.example.com/a.mp4".to_string()]
    );

    // Accepted: the same items are still not sent, and the run succeeds.
    env.cmd()
        .args(["apply", "--yes", "--allow-blocked", "--allow-missing"])
        .arg(&m)
        .assert()
        .code(0);
    assert_eq!(env.calls("UpdateLivePullToPush"), 1);

    // --restart-running turns the blocked item into stop → update → restart.
    env.cmd()
        .args(["apply", "--yes", "--restart-running", "--allow-missing"])
        .arg(&m)
        .assert()
        .code(0);
    let t = env.task("run-1");
    assert_eq!(
        t.source_urls,
        vec!["https://media.example.com/new.mp4".to_string()]
    );
    assert_eq!(t.task_status, TaskStatus::Running);
}

#[test]
fn every_operation_is_paced_on_its_own_quota_while_the_others_run_at_theirs() {
    const N: usize = 30;
    let ids: Vec<String> = (0..N).map(|i| format!("pace-{i:02}")).collect();
    // The emulator enforces 10 calls/s per operation, with the 100..300 ms latency.
    let env = Env::new(
        10,
        Some((100, 300)),
        ids.iter().map(|id| running(id)).collect(),
    );
    let mut body = String::from("defaults:\n  Region: cn-shanghai\nupdates:\n");
    for id in &ids {
        body.push_str(&format!(
            "- TaskId: {id}\n  SourceUrls: [https://media.example.com/{id}-new.mp4]\n"
        ));
    }
    let m = env.write("m.yaml", &body);
    let plan = env.path("plan.json");
    env.cmd()
        .args(["plan", "--restart-running", "--out"])
        .arg(&plan)
        .arg(&m)
        .assert()
        .code(0);
    // Each item: Describe (staleness), Stop, Update, Restart — four operations, four quotas.
    let out = env
        .cmd()
        .args(["apply", "--yes", "--report"])
        .arg(env.path("r.json"))
        .arg("--plan")
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = env.report("r.json");
    assert_eq!(r["summary"]["succeeded"], N);
    let st = env.emu.stats();
    // Paced at 97 % of each quota, nothing should be throttled; on a busy machine a call delayed
    // past the 3 % headroom can be (and is retried), so a few are tolerated, not a pattern.
    assert!(st.throttled <= 3, "{st:?}");
    for action in [
        "DescribeLivePullToPush",
        "StopLivePullToPush",
        "UpdateLivePullToPush",
        "RestartLivePullToPush",
    ] {
        let w = st
            .windows
            .iter()
            .find(|w| w.action == action)
            .unwrap_or_else(|| panic!("no {action} calls: {st:?}"));
        assert_eq!(w.accepted, N as u64, "{action}");
        assert!(
            w.max_accepted_in_any_window <= 10,
            "{action}: {} calls in one second",
            w.max_accepted_in_any_window
        );
    }
    // One pacer for all four operations would need at least 4 × 30 / 10 = 12 s; each on its own
    // quota they overlap.
    let elapsed = r["summary"]["elapsed_seconds"].as_f64().unwrap();
    assert!(
        elapsed < 12.0,
        "{elapsed} s: the operations did not overlap"
    );
    // The outcome line gives each operation's pace: their sum alone would read as four times
    // the quota.
    let err = stderr(&out);
    let line = err.lines().last().unwrap_or_default();
    for op in ["Describe", "Stop", "Update", "Restart"] {
        assert!(line.contains(&format!("{op} ")), "{op} missing: {line}");
    }
    assert!(line.contains("each on its own quota"), "{line}");
    for id in &ids {
        let t = env.task(id);
        assert_eq!(t.task_status, TaskStatus::Running, "{id}");
        assert!(t.source_urls[0].ends_with("-new.mp4"), "{id}");
    }
}

#[test]
fn sandbox_seeds_exported_tasks_with_their_x_task_status() {
    let env = Env::new(100, None, vec![running("sb-run"), stopped("sb-stop")]);
    let exported = env.path("exported.yaml");
    env.cmd()
        .args(["export", "--region", "cn-shanghai", "-o"])
        .arg(&exported)
        .assert()
        .code(0);
    let text = std::fs::read_to_string(&exported).unwrap();
    // A new Offset for both (the export omits a zero one): a running task must be stopped for
    // it, which the rehearsal must say. The manifest's StartTime and SourceUrls are the live ones.
    let edited = env.write(
        "edited.yaml",
        &text.replace("  x-TaskStatus:", "  Offset: 30\n  x-TaskStatus:"),
    );
    let sandbox = |extra: &[&str]| {
        let mut c = Command::cargo_bin("livebatch").unwrap();
        c.env_clear()
            .env("HOME", env.dir.path())
            .args(["apply", "--sandbox", "--yes"])
            .args(extra)
            .arg(&edited)
            .output()
            .unwrap()
    };
    let out = sandbox(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("2 with the status of their x-TaskStatus"),
        "{err}"
    );
    assert!(err.contains("! sb-run (cn-shanghai, running)"), "{err}");
    assert!(err.contains("~ sb-stop (cn-shanghai, stopped)"), "{err}");
    assert!(
        err.contains("1 to change, 0 already up to date, 1 blocked"),
        "{err}"
    );
    let out = sandbox(&["--restart-running"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("[stop → update → restart]"));
    // The rehearsal touched nothing real.
    assert_eq!(env.task("sb-run").offset, 0);
    assert_eq!(env.calls("UpdateLivePullToPush"), 0);
}
