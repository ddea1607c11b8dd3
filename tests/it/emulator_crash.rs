//! `kill -9` where it hurts, with the real binaries: the emulator killed while answering updates
//! loses none it acknowledged; `apply` killed while the emulator drops answers after applying,
//! then `--resume`, ends with every task updated and reports what it sent again.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::binary::EmulatorProcess;
use crate::support::emulator::Signer;
use livebatch::emulator::{Clock, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET};

fn bin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("livebatch"))
}

/// A child process killed when dropped, so a failing test leaves no emulator behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A manifest moving the callback of `n` tasks `crash-NN` in cn-shanghai.
fn manifest(dir: &Path, n: usize) -> std::path::PathBuf {
    let mut y = String::from(
        "defaults:\n  Region: cn-shanghai\n  CallbackUrl: https://hooks.new.example.com/cb\nupdates:\n",
    );
    for i in 0..n {
        y.push_str(&format!("  - TaskId: crash-{i:02}\n"));
    }
    let p = dir.join("m.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

/// The task's callback, read with Describe (retried: the emulator may drop answers).
async fn callback(s: &Signer, id: &str) -> String {
    let mut d = None;
    for _ in 0..50 {
        let r = s
            .call(
                "DescribeLivePullToPush",
                &[("TaskId", id), ("Region", "cn-shanghai")],
            )
            .await;
        if r.status == 200 {
            d = Some(r);
            break;
        }
        assert!(
            r.status == 0 || r.code().starts_with("Throttling"),
            "{id}: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = d.unwrap_or_else(|| panic!("{id}: no answer in 50 tries"));
    d.body["TaskInfo"]["CallbackURL"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_emulator_loses_no_acknowledged_write() {
    const TASKS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), TASKS);
    let state = dir.path().join("emu.json");
    let mut emulator = EmulatorProcess::start(&[
        "--seed",
        m.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--qps",
        "0",
    ]);
    let s = Arc::new(Signer::new(emulator.url(), Clock::system()));
    let acked: Arc<Vec<AtomicUsize>> = Arc::new((0..TASKS).map(|_| AtomicUsize::new(0)).collect());
    let total = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for i in 0..TASKS {
        let (s, acked, total, stop) = (s.clone(), acked.clone(), total.clone(), stop.clone());
        workers.spawn(async move {
            // Each worker updates its own task with an increasing counter, one call at a time,
            // and remembers the last one answered OK.
            let id = format!("crash-{i:02}");
            for k in 1.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let cb = format!("https://hooks.example.com/{i}/{k}");
                let r = s
                    .call(
                        "UpdateLivePullToPush",
                        &[
                            ("TaskId", &id),
                            ("Region", "cn-shanghai"),
                            ("CallbackUrl", &cb),
                        ],
                    )
                    .await;
                if r.status == 0 {
                    break; // the emulator is gone
                }
                assert_eq!(r.status, 200, "{}", r.body);
                acked[i].store(k, Ordering::SeqCst);
                total.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    let started = Instant::now();
    while total.load(Ordering::SeqCst) < 200 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    emulator.kill(); // SIGKILL
    stop.store(true, Ordering::SeqCst);
    while workers.join_next().await.is_some() {}
    assert!(
        total.load(Ordering::SeqCst) >= 200,
        "updates were answered before the kill"
    );

    let mut emulator = EmulatorProcess::start(&[
        "--seed",
        m.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    let s = Signer::new(emulator.url(), Clock::system());
    for i in 0..TASKS {
        let k = acked[i].load(Ordering::SeqCst);
        let got = callback(&s, &format!("crash-{i:02}")).await;
        // The last acknowledged value, or the one after it (applied, its answer lost in the kill).
        let ok = [k, k + 1].map(|k| format!("https://hooks.example.com/{i}/{k}"));
        assert!(ok.contains(&got), "task {i}: acknowledged {k}, found {got}");
    }
    emulator.kill();
    let err = emulator.stderr();
    assert!(err.contains("from state file"), "{err}");
    assert!(err.contains("not used"), "the seed was not used: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_killed_while_answers_are_dropped_resumes_to_every_update() {
    const TASKS: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), TASKS);
    let journal = dir.path().join("j.jsonl");
    let report = dir.path().join("r.json");
    let emu = EmulatorProcess::start(&[
        "--seed",
        m.to_str().unwrap(),
        "--drop-after-apply-rate",
        "0.2",
        "--latency-ms",
        "20..80",
        "--rng-seed",
        "3",
        // Room above apply's 10/s for this test's own reads at the end.
        "--qps",
        "100",
    ]);
    let url = emu.url().to_string();
    let apply = |extra: &[&str]| {
        let mut c = bin();
        c.arg("apply")
            .arg(&m)
            // Blind sends (issue 9's --no-refresh): this test is about what the journal makes
            // --resume skip; a planned apply would find those tasks up to date instead (noop).
            .args([
                "--yes",
                "--quiet",
                "--no-refresh",
                "--endpoint",
                &url,
                "--journal",
            ])
            .arg(&journal)
            .args(extra)
            .env("HOME", dir.path())
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
            .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
            .env_remove("ALIBABA_CLOUD_PROFILE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let succeeded_in_journal = || -> std::collections::BTreeSet<String> {
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "item" && v["status"] == "succeeded")
            .filter_map(|v| v["task_id"].as_str().map(str::to_string))
            .collect()
    };

    let mut first = Killed(apply(&[]).spawn().unwrap());
    let started = Instant::now();
    while succeeded_in_journal().len() < 8 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    first.0.kill().unwrap(); // SIGKILL, mid-run
    let status = first.0.wait().unwrap();
    assert!(!status.success(), "killed before the end");
    let done = succeeded_in_journal();
    assert!(
        done.len() >= 8 && done.len() < TASKS,
        "killed mid-run: {} of {TASKS} recorded",
        done.len()
    );

    let out = apply(&["--resume", "--report", report.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let sum = &r["summary"];
    assert_eq!(sum["total"], TASKS as u64, "{sum}");
    assert_eq!(
        sum["skipped"],
        done.len() as u64,
        "what the journal holds is not resent: {sum}"
    );
    assert_eq!(
        sum["succeeded"],
        (TASKS - done.len()) as u64,
        "everything else is sent (again, for calls in flight at the kill): {sum}"
    );

    let s = Signer::new(&url, Clock::system());
    for i in 0..TASKS {
        assert_eq!(
            callback(&s, &format!("crash-{i:02}")).await,
            "https://hooks.new.example.com/cb",
            "task {i}"
        );
    }
    let text = reqwest::get(format!("{url}/_emulator/stats"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("dropped after apply"),
        "some answers were dropped after the update applied: {text}"
    );
    drop(emu);
}
