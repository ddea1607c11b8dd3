//! `livebatch revert` (issue 19, deliverable 9) as a user runs it: apply a change against the
//! emulator, revert its journal, review the manifest (`validate`), apply it, and every task is back
//! on its values and running; tasks changed since the run are left out and listed (or included
//! with `--include-moved`); and the inputs that cannot be reverted — a `--no-refresh` run, a file
//! that is not a journal, an empty or torn journal, an unknown `--run` — are refused with a
//! located message and nothing written.

use std::path::Path;
use std::process::Output;

use crate::support::binary::Scratch;
use crate::support::emulator::{Emu, Signer, seed_task};
use livebatch::api::models::DescribeResponse;
use livebatch::apply::journal::Record;
use livebatch::emulator::Clock;
use livebatch::model::{SourceType, TaskStatus};

const OLD_MP4: &str = "https://media.example.com/old.mp4";
const NEW_MP4: &str = "https://media.example.com/new.mp4";
const OLD_CB: &str = "https://hooks.old.example.com/cb";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Three running tasks and one not started yet, pulling `OLD_MP4`, calling back `OLD_CB`.
fn emulator() -> (Emu, Vec<String>) {
    let ids: Vec<String> = ["run-a", "run-b", "run-c", "later-d"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let seeds = ids
        .iter()
        .map(|id| {
            let (status, start) = if id.starts_with("run") {
                (TaskStatus::Running, -3_600)
            } else {
                (TaskStatus::NotStarted, 3_600)
            };
            seed_task(id, SourceType::Url, &[OLD_MP4], status, start, 86_400)
        })
        .collect();
    (Emu::seeded(0, None, seeds), ids)
}

/// `m.yaml`: every task gets a new callback and a new source.
fn change(s: &Scratch, ids: &[String]) {
    let mut text = String::from("updates:\n");
    for id in ids {
        text.push_str(&format!(
            "  - TaskId: {id}\n    Region: cn-shanghai\n    CallbackUrl: https://hooks.new.example.com/{id}\n    SourceUrls: [{NEW_MP4}]\n"
        ));
    }
    std::fs::write(s.path("m.yaml"), text).unwrap();
}

/// `apply` of `manifest` (journal `j.jsonl`), asserting it succeeded.
fn apply(s: &Scratch, emu: &Emu, manifest: &str, extra: &[&str]) {
    let mut args = vec![manifest, "--yes", "--qps", "50", "--quota-raised"];
    args.extend_from_slice(extra);
    let out = s.apply(emu, &args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// `livebatch revert ARGS… --endpoint URL` with the emulator's key, in the scratch directory.
fn revert(s: &Scratch, emu: &Emu, args: &[&str]) -> Output {
    s.livebatch()
        .arg("revert")
        .args(args)
        .args(["--endpoint", &emu.url(), "--qps", "50", "--quota-raised"])
        .output()
        .unwrap()
}

/// `livebatch revert ARGS…` with nothing configured: for inputs refused before any call.
fn revert_offline(s: &Scratch, args: &[&str]) -> Output {
    s.unconfigured().arg("revert").args(args).output().unwrap()
}

/// What Describe says of `id` now.
fn describe(emu: &Emu, id: &str) -> DescribeResponse {
    let signer = Signer::new(&emu.url(), Clock::system());
    let r = emu.block_on(signer.call(
        "DescribeLivePullToPush",
        &[("TaskId", id), ("Region", "cn-shanghai")],
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_value(r.body).unwrap()
}

/// An update sent behind livebatch's back.
fn out_of_band(emu: &Emu, action: &str, params: &[(&str, &str)]) {
    let signer = Signer::new(&emu.url(), Clock::system());
    let r = emu.block_on(signer.call(action, params));
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The manifest with what changes from run to run (the run's ID and start, the time written,
/// the version) replaced, for a snapshot.
fn redacted(s: &Scratch, text: &str) -> String {
    let mut out = text.to_string();
    for r in read_runs(&s.path("j.jsonl")) {
        out = out.replace(&r.0, "RUN_ID").replace(&r.1, "STARTED");
    }
    out = out.replace(env!("CARGO_PKG_VERSION"), "VERSION");
    // "# Written by livebatch VERSION at 2027-04-12T10:15:00Z: 4 task(s)."
    out.lines()
        .map(|l| match (l.split_once(" at "), l.split_once("Z: ")) {
            (Some((by, _)), Some((_, counts))) if l.starts_with("# Written by") => {
                format!("{by} at TIME: {counts}")
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each run header of a journal: (run ID, start).
fn read_runs(journal: &Path) -> Vec<(String, String)> {
    crate::support::binary::read_journal(journal)
        .into_iter()
        .filter_map(|r| match r {
            Record::Run(h) => Some((h.run_id, h.started_at)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_reverted_run_puts_every_task_back_on_its_values_and_running() {
    let (emu, ids) = emulator();
    let s = Scratch::new();
    change(&s, &ids);
    apply(&s, &emu, "m.yaml", &["--restart-running"]);
    for id in &ids {
        let d = describe(&emu, id);
        assert_eq!(d.task.task_info.source_urls, [NEW_MP4], "{id}");
    }
    let out = revert(&s, &emu, &["j.jsonl", "-o", "undo.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("the journal's last run that applied something"),
        "{err}"
    );
    assert!(
        err.contains("wrote undo.yaml: 4 task(s) to restore\n"),
        "{err}"
    );
    assert!(
        err.contains("next: livebatch plan --restart-running undo.yaml"),
        "{err}"
    );
    let text = std::fs::read_to_string(s.path("undo.yaml")).unwrap();
    insta::assert_snapshot!(redacted(&s, &text));
    // The manifest passes validate unchanged.
    let v = s
        .unconfigured()
        .args(["validate", "undo.yaml"])
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    // Applied, every task is back where it was, and the running ones run.
    apply(&s, &emu, "undo.yaml", &["--restart-running"]);
    for id in &ids {
        let d = describe(&emu, id);
        assert_eq!(d.task.task_info.source_urls, [OLD_MP4], "{id}");
        assert_eq!(d.task.task_info.callback_url, OLD_CB, "{id}");
        let want = if id.starts_with("run") { 1 } else { 0 };
        assert_eq!(d.task.task_status, want, "{id}");
    }
}

#[test]
fn a_task_changed_since_the_run_is_left_out_and_listed_unless_asked() {
    let (emu, ids) = emulator();
    let s = Scratch::new();
    change(&s, &ids);
    apply(&s, &emu, "m.yaml", &["--restart-running"]);
    // Someone moves run-a's callback on, and deletes later-d.
    out_of_band(
        &emu,
        "UpdateLivePullToPush",
        &[
            ("TaskId", "run-a"),
            ("Region", "cn-shanghai"),
            ("CallbackUrl", "https://hooks.someone.example.com/x"),
        ],
    );
    out_of_band(
        &emu,
        "DeleteLivePullToPush",
        &[("TaskId", "later-d"), ("Region", "cn-shanghai")],
    );
    let out = revert(&s, &emu, &["j.jsonl", "-o", "undo.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "moved since the run, left out (--include-moved restores them anyway):\n  \
             run-a  CallbackUrl: the run set https://hooks.new.example.com/run-a, live now \
             https://hooks.someone.example.com/x\n  later-d  gone: in no region any more\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("wrote undo.yaml: 2 task(s) to restore; 2 moved and left out"),
        "{err}"
    );
    let text = std::fs::read_to_string(s.path("undo.yaml")).unwrap();
    assert!(
        !text.contains("TaskId: run-a") && !text.contains("later-d"),
        "{text}"
    );
    assert!(
        text.contains("2 task(s); 2 moved since the run and left out."),
        "{text}"
    );
    // --include-moved restores run-a too (overwriting the later change); later-d is gone.
    let out = revert(&s, &emu, &["j.jsonl", "-o", "undo.yaml", "--include-moved"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("moved since the run, restored anyway (--include-moved):\n  run-a  "),
        "{err}"
    );
    let text = std::fs::read_to_string(s.path("undo.yaml")).unwrap();
    assert!(text.contains("TaskId: run-a"), "{text}");
    assert!(!text.contains("later-d"), "{text}");
    let v = s
        .unconfigured()
        .args(["validate", "undo.yaml"])
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
}

#[test]
fn when_every_task_moved_there_is_nothing_to_revert_and_nothing_is_written() {
    let (emu, ids) = emulator();
    let s = Scratch::new();
    change(&s, &ids[..1]);
    apply(&s, &emu, "m.yaml", &["--restart-running"]);
    out_of_band(
        &emu,
        "UpdateLivePullToPush",
        &[
            ("TaskId", "run-a"),
            ("Region", "cn-shanghai"),
            ("CallbackUrl", "https://hooks.someone.example.com/x"),
        ],
    );
    let out = revert(&s, &emu, &["j.jsonl", "-o", "undo.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "error: nothing to revert: 1 task(s) moved since the run or are gone \
             (--include-moved restores those that still exist) (listed above); nothing was written"
        ),
        "{err}"
    );
    assert!(!s.path("undo.yaml").exists());
    let out = revert(&s, &emu, &["j.jsonl", "-o", "undo.yaml", "--include-moved"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_no_refresh_run_has_no_before_images_and_is_refused() {
    let (emu, ids) = emulator();
    let s = Scratch::new();
    change(&s, &ids[3..]);
    apply(&s, &emu, "m.yaml", &["--no-refresh"]);
    let out = revert(&s, &emu, &["j.jsonl", "-o", "undo.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("was made with --no-refresh: it recorded no before-images"),
        "{err}"
    );
    assert!(err.contains("nothing to revert"), "{err}");
    assert!(!s.path("undo.yaml").exists());
    assert_eq!(
        emu.calls("DescribeLivePullToPush"),
        0,
        "refused before any read"
    );
}

#[test]
fn a_file_that_is_not_a_journal_is_refused_saying_what_it_is() {
    let s = Scratch::new();
    std::fs::write(
        s.path("m.yaml"),
        "updates:\n  - TaskId: t1\n    Region: cn-shanghai\n    CallbackUrl: https://h/x\n",
    )
    .unwrap();
    let out = revert_offline(&s, &["m.yaml", "-o", "undo.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(
        err.starts_with("error: m.yaml is not a livebatch journal: it looks like a manifest.\n"),
        "{err}"
    );
    assert!(
        err.contains("`<manifest>.journal.jsonl` next to the first manifest"),
        "{err}"
    );
    // With the manifest's journal beside it, that journal is named.
    std::fs::write(s.path("m.yaml.journal.jsonl"), "").unwrap();
    let err = stderr(&revert_offline(&s, &["m.yaml"]));
    assert!(
        err.contains("; did you mean m.yaml.journal.jsonl?"),
        "{err}"
    );
    // A saved plan.
    std::fs::write(
        s.path("plan.json"),
        "{\n  \"schema\": \"livebatch.plan/v1\",\n  \"items\": []\n}\n",
    )
    .unwrap();
    let out = revert_offline(&s, &["plan.json", "-o", "undo.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(
        err.contains("it looks like a saved plan (`livebatch plan --out`)"),
        "{err}"
    );
    // Missing: exit 66, with the nearest name.
    let out = revert_offline(&s, &["m.yaml.journal.json"]);
    assert_eq!(out.status.code(), Some(66), "{}", stderr(&out));
    assert!(!s.path("undo.yaml").exists());
}

#[test]
fn empty_torn_and_unknown_run_journals_say_so() {
    let s = Scratch::new();
    std::fs::write(s.path("empty.jsonl"), "").unwrap();
    let out = revert_offline(&s, &["empty.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: journal empty.jsonl is empty: no run was recorded in it; nothing to revert\n"
    );
    std::fs::write(
        s.path("torn.jsonl"),
        "{\"type\":\"run\",\"run_id\":\"20270101T0000",
    )
    .unwrap();
    let out = revert_offline(&s, &["torn.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("torn.jsonl holds no readable run: 1 line(s) could not be read"),
        "{}",
        stderr(&out)
    );
    // -o over the journal: usage, before anything is read.
    let out = revert_offline(&s, &["torn.jsonl", "-o", "torn.jsonl"]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
}

#[test]
fn a_torn_last_line_is_skipped_and_said_and_an_unknown_run_lists_the_runs() {
    let (emu, ids) = emulator();
    let s = Scratch::new();
    change(&s, &ids[..2]);
    apply(&s, &emu, "m.yaml", &["--restart-running"]);
    // A crash tore the journal's last line (half of a copy of its last item record).
    let journal = s.path("j.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let last_item = text
        .lines()
        .rfind(|l| l.contains("\"type\":\"item\""))
        .unwrap()
        .to_string();
    let mut torn = text.clone();
    torn.push_str(&last_item[..last_item.len() / 2]);
    std::fs::write(&journal, torn).unwrap();
    let out = revert(&s, &emu, &["j.jsonl", "-o", "undo.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let n = text.lines().count() + 1;
    assert!(
        err.contains(&format!(
            "note: journal j.jsonl: 1 line {n} (the last one torn, as a crash leaves it) could not \
             be read; going on with the 1 run(s) intact"
        )),
        "{err}"
    );
    assert!(
        err.contains("wrote undo.yaml: 2 task(s) to restore"),
        "{err}"
    );
    // An unknown --run: usage, with the journal's runs and their start.
    let (run_id, started) = read_runs(&journal).remove(0);
    let out = revert(&s, &emu, &["j.jsonl", "--run", "nope", "-o", "other.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("error: journal j.jsonl has no run nope; runs in the journal, oldest first:"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "  {run_id}  started {started}  2 item(s), 2 applied, completed"
        )),
        "{err}"
    );
    assert!(!s.path("other.yaml").exists());
    // Named, it is the one reverted.
    let out = revert(&s, &emu, &["j.jsonl", "--run", &run_id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("TaskId: run-b"));
}

#[test]
fn a_run_that_applied_nothing_is_passed_over_and_refused_when_named() {
    let (emu, ids) = emulator();
    let s = Scratch::new();
    change(&s, &ids[..2]);
    apply(&s, &emu, "m.yaml", &["--restart-running"]);
    // The same manifest again: everything is already so, nothing applied.
    apply(&s, &emu, "m.yaml", &["--restart-running"]);
    let runs = read_runs(&s.path("j.jsonl"));
    assert_eq!(runs.len(), 2);
    let out = revert(&s, &emu, &["j.jsonl"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "the journal's last run that applied something:\n  {}  started",
            runs[0].0
        )),
        "{err}"
    );
    let out = revert(&s, &emu, &["j.jsonl", "--run", &runs[1].0]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!("error: run {} applied nothing (", runs[1].0)),
        "{err}"
    );
    assert!(
        err.contains("; nothing to revert\nruns in the journal"),
        "{err}"
    );
}

#[test]
fn a_journal_whose_tasks_exist_nowhere_says_so() {
    let (emu, ids) = emulator();
    let s = Scratch::new();
    change(&s, &ids[..2]);
    apply(&s, &emu, "m.yaml", &["--restart-running"]);
    for id in &ids[..2] {
        out_of_band(
            &emu,
            "DeleteLivePullToPush",
            &[("TaskId", id), ("Region", "cn-shanghai")],
        );
    }
    for extra in [&[][..], &["--include-moved"][..]] {
        let mut args = vec!["j.jsonl", "-o", "undo.yaml"];
        args.extend_from_slice(extra);
        let out = revert(&s, &emu, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "error: nothing to revert: none of the 2 task(s) the run changed exists at {} — \
                 is this the journal of a run against another account or endpoint",
                emu.url()
            )),
            "{err}"
        );
        assert!(!s.path("undo.yaml").exists());
    }
}

#[test]
fn a_rollout_paused_and_resumed_is_reverted_whole() {
    let (emu, ids) = emulator();
    let s = Scratch::new();
    change(&s, &ids);
    let waves = ["--restart-running", "--waves", "1", "--bake", "1s"];
    let mut first = waves.to_vec();
    first.extend(["--pause-after", "1"]);
    apply(&s, &emu, "m.yaml", &first);
    apply(&s, &emu, "m.yaml", &["--restart-running", "--resume"]);
    let runs = read_runs(&s.path("j.jsonl"));
    assert_eq!(runs.len(), 2, "a run and its resume");
    let out = revert(&s, &emu, &["j.jsonl", "-o", "undo.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "with every run of its rollout {} (2 run(s)):\n  {}  started",
            runs[0].0, runs[0].0
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("resumes rollout {}", runs[0].0)),
        "{err}"
    );
    let text = std::fs::read_to_string(s.path("undo.yaml")).unwrap();
    assert!(
        text.starts_with(&format!(
            "# Reverts rollout {}: runs {} (started {}), {} (started {}) of journal j.jsonl.\n",
            runs[0].0, runs[0].0, runs[0].1, runs[1].0, runs[1].1
        )),
        "{text}"
    );
    // Every task of both runs, in the manifest's order.
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("- TaskId: "))
        .collect();
    assert_eq!(order, ids);
    // --run names one run of it.
    let out = revert(&s, &emu, &["j.jsonl", "--run", &runs[0].0]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("- TaskId: ").count(), 1, "{stdout}");
    assert!(
        err.contains("note: 1 other run(s) of this journal applied changes too"),
        "{err}"
    );
}

#[test]
fn after_a_failed_gate_revert_undoes_the_waves_that_stayed_applied() {
    use livebatch::emulator::{EmulatorConfig, FaultConfig, SourcePattern};
    let ids = ["run-a", "run-b", "run-c"];
    let seeds = ids
        .iter()
        .map(|id| {
            seed_task(
                id,
                SourceType::Url,
                &[OLD_MP4],
                TaskStatus::Running,
                -3_600,
                86_400,
            )
        })
        .collect();
    let emu = Emu::start(EmulatorConfig {
        qps: 0,
        faults: FaultConfig {
            unreachable_sources: vec![SourcePattern::parse("https://bad.example/*").unwrap()],
            ..FaultConfig::default()
        },
        seed: seeds,
        ..EmulatorConfig::default()
    });
    let s = Scratch::new();
    // Wave 1 (run-a) moves to a good source; wave 2's sources do not answer.
    let mut text = String::from("updates:\n");
    for (id, src) in [
        ("run-a", NEW_MP4.to_string()),
        ("run-b", "https://bad.example/b.mp4".into()),
        ("run-c", "https://bad.example/c.mp4".into()),
    ] {
        text.push_str(&format!(
            "  - TaskId: {id}\n    Region: cn-shanghai\n    SourceUrls: [{src}]\n"
        ));
    }
    std::fs::write(s.path("m.yaml"), text).unwrap();
    let out = s
        .apply(
            &emu,
            &[
                "m.yaml",
                "--yes",
                "--restart-running",
                "--waves",
                "1",
                "--bake",
                "3s",
            ],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    for id in ["run-b", "run-c"] {
        assert_eq!(
            describe(&emu, id).task.task_info.source_urls,
            [OLD_MP4],
            "{id} rolled back"
        );
    }
    let out = revert(&s, &emu, &["j.jsonl", "-o", "undo.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("note: 2 task(s) were already rolled back by their wave: not in the manifest"),
        "{err}"
    );
    let text = std::fs::read_to_string(s.path("undo.yaml")).unwrap();
    let tasks: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("- TaskId: "))
        .collect();
    assert_eq!(tasks, ["run-a"], "{text}");
    assert!(
        text.contains("1 task(s); 2 already rolled back by their wave."),
        "{text}"
    );
    apply(&s, &emu, "undo.yaml", &["--restart-running"]);
    for id in ids {
        let d = describe(&emu, id);
        assert_eq!(d.task.task_info.source_urls, [OLD_MP4], "{id}");
        assert_eq!(d.task.task_status, 1, "{id} runs");
    }
}
