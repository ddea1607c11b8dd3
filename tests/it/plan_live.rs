//! Planning against live state, on loopback against the emulator with tasks in every status:
//! each classification, `--restart-running`, saved plans, `diff`, and the exit codes.

use crate::support::emulator::{Emu, at, seed_task as task};
use assert_cmd::Command;
use livebatch::emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, SeedTask};
use livebatch::model::{SourceType, TaskStatus};

const MP4: &[&str] = &[
    "https://media.example.com/a.mp4",
    "https://media.example.com/b.mp4",
];

struct Env {
    emu: Emu,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let seed = vec![
            task(
                "t-stopped",
                SourceType::Url,
                MP4,
                TaskStatus::Stopped,
                -3_600,
                86_400,
            ),
            task(
                "t-running",
                SourceType::Url,
                MP4,
                TaskStatus::Running,
                -3_600,
                86_400,
            ),
            task(
                "t-later",
                SourceType::Url,
                MP4,
                TaskStatus::NotStarted,
                3_600,
                86_400,
            ),
            task(
                "t-ended",
                SourceType::Url,
                MP4,
                TaskStatus::Exited,
                -7_200,
                -3_600,
            ),
            task(
                "t-same",
                SourceType::Url,
                MP4,
                TaskStatus::Stopped,
                -3_600,
                86_400,
            ),
        ];
        Env {
            emu: Emu::seeded(1000, None, seed),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("livebatch").unwrap();
        c.env_clear()
            .env("HOME", self.dir.path())
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
            .env("LIVEBATCH_ENDPOINT", self.emu.url());
        c
    }

    fn manifest(&self, name: &str, body: &str) -> std::path::PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    fn task(&self, id: &str) -> SeedTask {
        self.emu.task(id)
    }
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// One update per status, plus a missing task and a no-op.
fn every_status_manifest(env: &Env) -> std::path::PathBuf {
    let end = at(172_800);
    let start = at(7_200);
    env.manifest(
        "m.yaml",
        &format!(
            "defaults:\n  Region: cn-shanghai\nupdates:\n\
             - TaskId: t-stopped\n  CallbackUrl: https://hooks.new.example.com/cb\n  EndTime: {end}\n\
             - TaskId: t-running\n  CallbackUrl: https://hooks.new.example.com/cb\n\
             - TaskId: t-later\n  StartTime: {start}\n\
             - TaskId: t-ended\n  EndTime: {end}\n\
             - TaskId: t-same\n  CallbackUrl: https://hooks.old.example.com/cb\n\
             - TaskId: t-nowhere\n  CallbackUrl: https://hooks.new.example.com/cb\n"
        ),
    )
}

#[test]
fn every_classification_and_the_detailed_exit_code() {
    let env = Env::new();
    let m = every_status_manifest(&env);
    let out = env
        .cmd()
        .args(["plan", "-v", "--detailed-exitcode"])
        .arg(&m)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("~ t-stopped (cn-shanghai, stopped)"),
        "{stdout}"
    );
    assert!(stdout.contains(
        "CallbackUrl: \"https://hooks.old.example.com/cb\" → \"https://hooks.new.example.com/cb\""
    ));
    assert!(stdout.contains("~ t-running (cn-shanghai, running)"));
    assert!(stdout.contains("~ t-later (cn-shanghai, not started)"));
    assert!(stdout.contains("! t-ended (cn-shanghai, exited)"));
    assert!(stdout.contains("= t-same"));
    assert!(stdout.contains("? t-nowhere (cn-shanghai)"));
    assert!(
        stdout.contains("Plan: 3 to change, 1 already up to date, 1 blocked, 1 missing."),
        "{stdout}"
    );
    // Nothing was changed by planning.
    assert_eq!(
        env.task("t-stopped").callback_url,
        "https://hooks.old.example.com/cb"
    );
    let stats = env.emu.stats();
    assert_eq!(stats.count("UpdateLivePullToPush", "ok"), 0);

    // Without --detailed-exitcode a plan with differences is still a success.
    env.cmd().arg("plan").arg(&m).assert().code(0);
}

#[test]
fn running_task_needs_restart_running_for_new_sources() {
    let env = Env::new();
    let m = env.manifest(
        "m.yaml",
        "updates:\n- TaskId: t-running\n  Region: cn-shanghai\n  SourceUrls: [https://media.example.com/new.mp4]\n",
    );
    let out = env.cmd().arg("plan").arg(&m).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("! t-running"), "{stdout}");
    assert!(stdout.contains("--restart-running"), "{stdout}");
    let out = env
        .cmd()
        .args(["plan", "--restart-running"])
        .arg(&m)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("~ t-running (cn-shanghai, running)  ")
            && stdout.contains("[stop → update → restart]"),
        "{stdout}"
    );
}

#[test]
fn saved_plan_is_versioned_json_and_json_output_parses() {
    let env = Env::new();
    let m = every_status_manifest(&env);
    let plan_path = env.dir.path().join("plan.json");
    let out = env
        .cmd()
        .args(["plan", "--format", "json", "--out"])
        .arg(&plan_path)
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    assert_eq!(printed, saved);
    assert_eq!(saved["schema"], "livebatch.plan/v1");
    assert_eq!(saved["manifests"][0]["path"], m.display().to_string());
    let items = saved["items"].as_array().unwrap();
    let class_of = |id: &str| {
        items.iter().find(|i| i["task_id"] == id).unwrap()["class"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(class_of("t-stopped"), "change");
    assert_eq!(class_of("t-same"), "no_op");
    assert_eq!(class_of("t-ended"), "blocked");
    assert_eq!(class_of("t-nowhere"), "missing");
    let stopped = items.iter().find(|i| i["task_id"] == "t-stopped").unwrap();
    assert!(
        stopped["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    // Narrowed: only what differs is sent.
    assert_eq!(
        stopped["update"]["callback_url"],
        "https://hooks.new.example.com/cb"
    );
    let secret = DEFAULT_ACCESS_KEY_SECRET;
    assert!(
        !std::fs::read_to_string(&plan_path)
            .unwrap()
            .contains(secret)
    );
}

#[test]
fn diff_exits_0_when_live_matches_and_2_when_it_differs() {
    let env = Env::new();
    let same = env.manifest(
        "same.yaml",
        "updates:\n- TaskId: t-same\n  Region: cn-shanghai\n  CallbackUrl: https://hooks.old.example.com/cb\n",
    );
    let out = env.cmd().arg("diff").arg(&same).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("No drift"));
    let m = every_status_manifest(&env);
    let out = env
        .cmd()
        .args(["diff", "--format", "json"])
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["change"], 3);
    assert_eq!(doc["differences"].as_array().unwrap().len(), 5);
    // An error reading live state is exit 1 (nothing listens there), a bad key 77.
    let mut c = env.cmd();
    c.env("LIVEBATCH_ENDPOINT", "http://127.0.0.1:9")
        .args(["diff", "--connect-timeout", "2"])
        .arg(&m);
    c.assert().code(1);
    let mut c = env.cmd();
    c.env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "wrong")
        .arg("diff")
        .arg(&m);
    c.assert().code(77);
}

#[test]
fn invalid_manifest_reads_nothing() {
    let env = Env::new();
    let bad = env.manifest(
        "bad.yaml",
        "updates:\n- TaskId: t-stopped\n  Region: mars-1\n",
    );
    env.cmd().arg("plan").arg(&bad).assert().code(65);
    env.cmd().arg("diff").arg(&bad).assert().code(65);
    assert_eq!(env.emu.stats().count("DescribeLivePullToPushList", "ok"), 0);
    assert_eq!(env.emu.stats().count("DescribeLivePullToPush", "ok"), 0);
}

#[test]
fn plan_out_that_cannot_be_saved_is_refused_before_any_read() {
    let env = Env::new();
    let m = changes_only_manifest(&env);
    let missing_dir = env.dir.path().join("no-such-dir").join("plan.json");
    let out = env
        .cmd()
        .args(["plan", "--out"])
        .arg(&missing_dir)
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--out"), "{}", text(&out.stderr));
    // The manifest itself as the plan file would overwrite it.
    let before = std::fs::read(&m).unwrap();
    env.cmd()
        .args(["plan", "--out"])
        .arg(&m)
        .arg(&m)
        .assert()
        .code(64);
    assert_eq!(
        std::fs::read(&m).unwrap(),
        before,
        "the manifest is untouched"
    );
    let stats = env.emu.stats();
    assert_eq!(
        stats.count("DescribeLivePullToPushList", "ok")
            + stats.count("DescribeLivePullToPush", "ok"),
        0,
        "nothing was read"
    );
}

fn changes_only_manifest(env: &Env) -> std::path::PathBuf {
    env.manifest(
        "changes.yaml",
        &format!(
            "defaults:\n  Region: cn-shanghai\nupdates:\n\
             - TaskId: t-stopped\n  CallbackUrl: https://hooks.new.example.com/cb\n\
             - TaskId: t-running\n  SourceUrls: [https://media.example.com/new.mp4]\n\
             - TaskId: t-later\n  EndTime: {}\n",
            at(172_800)
        ),
    )
}

#[test]
fn apply_plan_applies_exactly_the_plan_then_diff_is_clean_and_verify_agrees() {
    let env = Env::new();
    let m = changes_only_manifest(&env);
    let plan = env.dir.path().join("plan.json");
    env.cmd()
        .args(["plan", "--restart-running", "--out"])
        .arg(&plan)
        .arg(&m)
        .assert()
        .code(0);
    let out = env
        .cmd()
        .args(["apply", "--yes", "--verify", "--plan"])
        .arg(&plan)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("verify: all 3 updated task(s) match what was sent"),
        "{stderr}"
    );
    assert_eq!(
        env.task("t-stopped").callback_url,
        "https://hooks.new.example.com/cb"
    );
    let running = env.task("t-running");
    assert_eq!(
        running.source_urls,
        vec!["https://media.example.com/new.mp4".to_string()]
    );
    assert_eq!(
        running.task_status,
        TaskStatus::Running,
        "stopped, updated and restarted"
    );
    let stats = env.emu.stats();
    assert_eq!(stats.count("StopLivePullToPush", "ok"), 1);
    assert_eq!(stats.count("RestartLivePullToPush", "ok"), 1);
    // The journal sits next to the plan and records each step of the restart item.
    let journal = std::fs::read_to_string(env.dir.path().join("plan.json.journal.jsonl")).unwrap();
    assert!(
        journal.contains(
            "\"task_id\":\"t-running\",\"region\":\"cn-shanghai\",\"step\":\"restart\",\"ok\":true"
        ),
        "{journal}"
    );
    env.cmd().arg("diff").arg(&m).assert().code(0);
}

#[test]
fn apply_plan_refuses_stale_items_and_changed_manifests() {
    let env = Env::new();
    let m = changes_only_manifest(&env);
    let plan = env.dir.path().join("plan.json");
    env.cmd()
        .args(["plan", "--out"])
        .arg(&plan)
        .arg(&m)
        .assert()
        .code(0);

    // Someone else moves t-stopped after the review.
    let other = env.manifest(
        "other.yaml",
        "updates:\n- TaskId: t-stopped\n  Region: cn-shanghai\n  CallbackUrl: https://hooks.other.example.com/cb\n",
    );
    env.cmd()
        .args(["apply", "--yes"])
        .arg(&other)
        .assert()
        .code(0);

    let report = env.dir.path().join("r.json");
    let out = env
        .cmd()
        .args(["apply", "--yes", "--report"])
        .arg(&report)
        .arg("--plan")
        .arg(&plan)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("1 stale (re-plan)"), "{stderr}");
    assert!(
        stderr.contains("1 blocked, 0 missing") && stderr.contains("1 not sent"),
        "t-running without --restart-running: {stderr}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["summary"]["stale"], 1);
    assert_eq!(r["summary"]["succeeded"], 1);
    let stale = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["task_id"] == "t-stopped")
        .unwrap();
    assert_eq!(stale["status"], "stale");
    assert!(
        stale["error_message"]
            .as_str()
            .unwrap()
            .contains("hooks.other.example.com")
    );
    assert_eq!(
        env.task("t-stopped").callback_url,
        "https://hooks.other.example.com/cb",
        "not overwritten"
    );

    // A plan whose manifest changed is refused whole: nothing more is sent.
    let before = env.emu.stats().count("UpdateLivePullToPush", "ok");
    std::fs::write(
        &m,
        std::fs::read_to_string(&m).unwrap() + "# edited after review\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["apply", "--yes", "--plan"])
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("has changed since"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(env.emu.stats().count("UpdateLivePullToPush", "ok"), before);
}
