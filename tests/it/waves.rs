//! Rollouts in waves (issue 19): `apply --waves` sends wave by wave, gates each one on the tasks
//! it read back after the bake, pauses and resumes at a wave boundary, and refuses what it cannot
//! do (a bad spec, waves without a plan, a resume over other items) before anything is sent.

use crate::support::binary::Scratch;
use crate::support::emulator::{Emu, seed_task};
use livebatch::apply::journal::Record;
use livebatch::model::{Region, SourceType, TaskStatus, Update};
use livebatch::outcome::{ItemStatus, Verdict};

const MP4: &[&str] = &["https://media.example.com/a.mp4"];

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `apply ARGS…` against `emu`: its exit code and standard error.
fn run(s: &Scratch, emu: &Emu, args: &[&str]) -> (Option<i32>, String) {
    let out = s.apply(emu, args).output().unwrap();
    (out.status.code(), stderr(&out))
}

/// `n` stopped tasks `w-000…` and a manifest giving each a new callback.
fn callbacks(s: &Scratch, n: usize) -> Emu {
    let seed = (0..n)
        .map(|i| {
            seed_task(
                &format!("w-{i:03}"),
                SourceType::Vod,
                MP4,
                TaskStatus::Stopped,
                -3600,
                86_400,
            )
        })
        .collect();
    let emu = Emu::seeded(1000, None, seed);
    let updates: Vec<Update> = (0..n)
        .map(|i| {
            let mut u = Update::new(format!("w-{i:03}"), Region::CnShanghai);
            u.callback_url = Some("https://hooks.new.example.com/cb".into());
            u
        })
        .collect();
    s.manifest(&updates);
    emu
}

fn wave_records(s: &Scratch) -> Vec<livebatch::apply::journal::WaveRecord> {
    s.journal()
        .into_iter()
        .filter_map(|r| match r {
            Record::Wave(w) => Some(w),
            _ => None,
        })
        .collect()
}

#[test]
fn each_wave_is_gated_before_the_next_and_the_report_shows_them() {
    let s = Scratch::new();
    let emu = callbacks(&s, 10);
    let (code, err) = run(
        &s,
        &emu,
        &[
            "--yes", "--waves", "2,50%", "--bake", "1s", "--report", "r.json", "m.yaml",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("rollout: 3 wave(s) of 2, 3, 5 change item(s) (--waves 2,50%)"),
        "{err}"
    );
    for k in 1..=3 {
        assert!(err.contains(&format!("wave {k}/3 gate: passed")), "{err}");
    }
    // Journal: the rollout first, then each wave's gate after its items, in order.
    let journal = s.journal();
    let rollout_at = journal
        .iter()
        .position(|r| matches!(r, Record::Rollout(_)))
        .expect("a rollout record");
    let first_item = journal
        .iter()
        .position(|r| matches!(r, Record::Item(_)))
        .unwrap();
    assert!(rollout_at < first_item);
    let mut wave_of_items = Vec::new();
    let mut gates = Vec::new();
    for r in &journal {
        match r {
            Record::Item(it) => wave_of_items.push(it.item.wave.unwrap()),
            Record::Wave(w) => {
                gates.push(w.wave.index);
                // Every item of a gated wave was recorded before its gate.
                assert!(wave_of_items.iter().all(|&k| k <= w.wave.index));
                assert_eq!(
                    wave_of_items.iter().filter(|&&k| k == w.wave.index).count(),
                    w.wave.size
                );
            }
            _ => {}
        }
    }
    assert_eq!(gates, vec![1, 2, 3]);
    let rep = s.report("r.json");
    assert_eq!(rep.waves.len(), 3);
    assert!(rep.waves.iter().all(|w| w.verdict == Verdict::Passed));
    assert_eq!(
        rep.waves.iter().map(|w| w.healthy).collect::<Vec<_>>(),
        vec![2, 3, 5]
    );
}

#[test]
fn pause_after_stops_at_a_wave_and_resume_goes_on_with_the_same_waves() {
    let s = Scratch::new();
    let emu = callbacks(&s, 6);
    let (code, err) = run(
        &s,
        &emu,
        &[
            "--yes",
            "--waves",
            "2",
            "--bake",
            "1s",
            "--pause-after",
            "1",
            "--report",
            "r1.json",
            "m.yaml",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(emu.ok_updates(), 2, "only the first wave was sent");
    let rep = s.report("r1.json");
    assert_eq!(rep.summary.outcome.name(), "paused");
    assert_eq!(rep.summary.not_attempted, 4);
    assert_eq!(rep.waves[1].verdict, Verdict::NotReached);
    // The resume takes the waves from the journal: no --waves given.
    let (code, err) = run(
        &s,
        &emu,
        &["--yes", "--resume", "--report", "r2.json", "m.yaml"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(emu.ok_updates(), 6, "the rest, once each");
    assert!(err.contains("wave 2/2 gate: passed"), "{err}");
    assert!(
        !err.contains("wave 1/2: "),
        "wave 1 is not gated again\n{err}"
    );
    let rep = s.report("r2.json");
    assert_eq!(rep.summary.outcome.name(), "completed");
    assert_eq!(rep.waves.len(), 2);
    let gates = wave_records(&s);
    assert_eq!(gates.len(), 2);
    assert_eq!(gates[0].rollout_id, gates[1].rollout_id, "one rollout");
    assert_ne!(gates[0].run_id, gates[1].run_id, "over two runs");
    for i in 0..6 {
        assert_eq!(
            emu.task(&format!("w-{i:03}")).callback_url,
            "https://hooks.new.example.com/cb"
        );
    }
}

#[test]
fn bad_wave_flags_are_usage_errors_that_name_the_entry_and_send_nothing() {
    let s = Scratch::new();
    let emu = callbacks(&s, 5);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--waves", "10,abc"],
            "--waves entry 2 `abc` is not a count or a percentage",
        ),
        (
            &["--waves", "50%,20%"],
            "entry 2 `20%` is not larger than the entry before it",
        ),
        (&["--waves", "0"], "entry 1 `0` is zero"),
        (&["--waves", "120%"], "entry 1 `120%` is over 100%"),
        (&["--bake", "5s"], "--bake only applies to a run in waves"),
        (
            &["--pause-after", "1"],
            "--pause-after only applies to a run in waves",
        ),
        (
            &["--waves", "1,2", "--pause-after", "4"],
            "--pause-after 4 is beyond the last wave: this plan has 3 wave(s)",
        ),
        (&["--waves", "3,2"], "entry 2 `2` is not larger"),
        (
            &["--waves", "2", "--no-refresh"],
            "cannot be used with '--no-refresh'",
        ),
        (
            &["--waves", "2", "--max-unhealthy", "lots"],
            "--max-unhealthy `lots`",
        ),
    ];
    for (flags, says) in cases {
        let mut args = vec!["--yes"];
        args.extend_from_slice(flags);
        args.push("m.yaml");
        let out = s.apply(&emu, &args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(64), "{flags:?}: {err}");
        assert!(err.contains(says), "{flags:?}: {err}");
    }
    assert_eq!(emu.ok_updates(), 0);
    assert_eq!(emu.calls("UpdateLivePullToPush"), 0);
}

#[test]
fn a_resume_refuses_other_waves_or_other_items() {
    let s = Scratch::new();
    let emu = callbacks(&s, 4);
    let out = s
        .apply(
            &emu,
            &[
                "--yes",
                "--waves",
                "1",
                "--bake",
                "1s",
                "--pause-after",
                "1",
                "m.yaml",
            ],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (code, err) = run(&s, &emu, &["--yes", "--resume", "--waves", "2", "m.yaml"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("differs from the rollout being resumed (--waves 1)"),
        "{err}"
    );
    // The manifest loses a task: not the items the rollout was laid over.
    let fewer: Vec<Update> = (1..4)
        .map(|i| {
            let mut u = Update::new(format!("w-{i:03}"), Region::CnShanghai);
            u.callback_url = Some("https://hooks.new.example.com/cb".into());
            u
        })
        .collect();
    s.manifest(&fewer);
    let (code, err) = run(&s, &emu, &["--yes", "--resume", "m.yaml"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("a resume must go on over the same items"),
        "{err}"
    );
    assert_eq!(emu.ok_updates(), 1);
    let statuses: Vec<ItemStatus> = s
        .journal()
        .into_iter()
        .filter_map(|r| match r {
            Record::Item(it) => Some(it.item.status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, vec![ItemStatus::Succeeded]);
}

/// The end of a paused rollout says where it stopped, and its next command, run as printed,
/// resumes the same rollout (same target, journal and waves) and finishes it.
#[test]
fn a_paused_rollouts_next_command_run_as_printed_finishes_it() {
    let s = Scratch::new();
    let emu = callbacks(&s, 6);
    let (code, err) = run(
        &s,
        &emu,
        &[
            "--yes",
            "--waves",
            "2,4",
            "--bake",
            "1s",
            "--pause-after",
            "1",
            "m.yaml",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("paused after wave 1/3: its gate passed (2 healthy, 0 unhealthy, at most 0 allowed); waves 2–3 left"),
        "{err}"
    );
    let next = err
        .lines()
        .find(|l| l.starts_with("next: "))
        .unwrap_or_else(|| panic!("no next: line\n{err}"));
    let journal = s.path("j.jsonl");
    assert_eq!(
        next,
        format!(
            "next: livebatch apply --resume --waves 2,4 --bake 1s --endpoint {} --journal {} m.yaml   (goes on with wave 2)",
            emu.url(),
            journal.display()
        )
    );
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("paused (after wave 1): 2 succeeded"),
        "{err}"
    );
    let printed: Vec<&str> = next
        .trim_start_matches("next: livebatch apply ")
        .split("   (")
        .next()
        .unwrap()
        .split(' ')
        .collect();
    let out = s
        .livebatch()
        .arg("apply")
        .arg("--yes")
        .args(&printed)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(emu.ok_updates(), 6, "the rest, once each");
    assert!(
        err.contains("wave 2/3 gate: passed") && err.contains("wave 3/3 gate: passed"),
        "{err}"
    );
    assert!(!err.contains("next: "), "nothing left to do\n{err}");
}

const BAD: &str = "https://bad.example/*";

/// `n` running tasks `r-000…` on `https://old.example/…`, an emulator that cannot pull from
/// `https://bad.example/`, and a manifest moving each to a new source — those in `bad` to an
/// unreachable one.
fn sources(s: &Scratch, n: usize, bad: std::ops::Range<usize>) -> Emu {
    use livebatch::emulator::{EmulatorConfig, FaultConfig, SourcePattern};
    let seed = (0..n)
        .map(|i| {
            let id = format!("r-{i:03}");
            let old = format!("https://old.example/{id}.mp4");
            seed_task(
                &id,
                SourceType::Url,
                &[old.as_str()],
                TaskStatus::Running,
                -3600,
                86_400,
            )
        })
        .collect();
    let emu = Emu::start(EmulatorConfig {
        qps: 1000,
        faults: FaultConfig {
            unreachable_sources: vec![SourcePattern::parse(BAD).unwrap()],
            ..FaultConfig::default()
        },
        seed,
        ..EmulatorConfig::default()
    });
    let mut yaml = String::from("updates:\n");
    for i in 0..n {
        let host = if bad.contains(&i) { "bad" } else { "new" };
        yaml.push_str(&format!(
            "  - TaskId: r-{i:03}\n    Region: cn-shanghai\n    SourceUrls: [\"https://{host}.example/r-{i:03}.mp4\"]\n"
        ));
    }
    std::fs::write(s.path("m.yaml"), yaml).unwrap();
    emu
}

fn source_of(emu: &Emu, id: &str) -> (String, TaskStatus) {
    let t = emu.task(id);
    (t.source_urls[0].clone(), t.task_status)
}

#[test]
fn a_failed_gate_rolls_its_wave_back_exits_5_and_a_resume_is_refused() {
    let s = Scratch::new();
    // Wave 1: r-000..r-001 (good); wave 2: r-002..r-005 with r-003 unreachable; wave 3 the rest.
    let emu = sources(&s, 8, 3..4);
    let (code, err) = run(
        &s,
        &emu,
        &[
            "--yes",
            "--restart-running",
            "--waves",
            "2,6",
            "--bake",
            "2s",
            "--report",
            "r.json",
            "--verify",
            "m.yaml",
        ],
    );
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("wave 1/3 gate: passed"), "{err}");
    assert!(err.contains("wave 2/3 gate: failed"), "{err}");
    assert!(
        err.contains("task r-003: running abnormally: PullStreamFailed"),
        "{err}"
    );
    assert!(err.contains("livebatch revert"), "{err}");
    for i in 0..8 {
        let id = format!("r-{i:03}");
        let (src, status) = source_of(&emu, &id);
        let want = if i < 2 { "new" } else { "old" };
        assert_eq!(src, format!("https://{want}.example/{id}.mp4"), "{id}");
        assert_eq!(status, TaskStatus::Running, "{id}");
    }
    let rep = s.report("r.json");
    assert_eq!(rep.summary.outcome.name(), "gate_failed");
    assert_eq!(rep.waves[1].verdict, Verdict::Failed);
    let mut back = rep.waves[1].rolled_back.clone();
    back.sort();
    assert_eq!(back, ["r-002", "r-003", "r-004", "r-005"]);
    assert_eq!(rep.waves[2].verdict, Verdict::NotReached);
    // Verify does not count the rolled-back tasks as mismatches.
    assert!(rep.verify.as_ref().is_none_or(|v| v.mismatches.is_empty()));
    // Items 6 and 7 were never called.
    let touched: Vec<String> = s
        .journal()
        .into_iter()
        .filter_map(|r| match r {
            Record::Item(i) => Some(i.item.task_id),
            Record::Step(st) => Some(st.task_id),
            _ => None,
        })
        .collect();
    assert!(!touched.iter().any(|t| t == "r-006" || t == "r-007"));
    // A failed gate is final: the resume sends nothing and says why.
    let updates_before = emu.calls("UpdateLivePullToPush");
    let (code, err) = run(
        &s,
        &emu,
        &["--yes", "--resume", "--restart-running", "m.yaml"],
    );
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("failed its health gate"), "{err}");
    assert!(err.contains("Nothing was sent"), "{err}");
    assert!(
        err.contains(&format!("livebatch revert --endpoint {} ", emu.url())),
        "the revert command goes where the run went\n{err}"
    );
    assert_eq!(emu.calls("UpdateLivePullToPush"), updates_before);
}

#[test]
fn on_unhealthy_halt_leaves_the_failed_wave_for_a_person() {
    let s = Scratch::new();
    let emu = sources(&s, 3, 0..1);
    let (code, err) = run(
        &s,
        &emu,
        &[
            "--yes",
            "--restart-running",
            "--waves",
            "1",
            "--bake",
            "2s",
            "--on-unhealthy",
            "halt",
            "m.yaml",
        ],
    );
    assert_eq!(code, Some(5), "{err}");
    assert!(!err.contains("rolling back"), "{err}");
    // Left as the gate found it: on the unreachable source (abnormal, which Describe computes).
    assert_eq!(source_of(&emu, "r-000").0, "https://bad.example/r-000.mp4");
    assert_eq!(source_of(&emu, "r-001").0, "https://old.example/r-001.mp4");
}

#[test]
fn max_unhealthy_lets_a_wave_pass_with_a_few_broken_streams() {
    let s = Scratch::new();
    let emu = sources(&s, 4, 1..2);
    let (code, err) = run(
        &s,
        &emu,
        &[
            "--yes",
            "--restart-running",
            "--waves",
            "4",
            "--bake",
            "2s",
            "--max-unhealthy",
            "25%",
            "m.yaml",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("wave 1/1 gate: passed — 3 healthy, 1 unhealthy (at most 1 allowed)"),
        "{err}"
    );
}

/// Spawns a rollout, waits until the journal shows `cond`, kills it with SIGKILL.
fn kill_when(s: &Scratch, emu: &Emu, args: &[&str], what: &str, cond: impl Fn(&[Record]) -> bool) {
    let mut child = s.spawn(emu, args);
    crate::support::binary::wait_for(what, || cond(&s.journal()));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn kill_9_during_a_bake_then_resume_evaluates_the_gate_without_sending_again() {
    let s = Scratch::new();
    let emu = sources(&s, 4, 2..3);
    let args = [
        "--yes",
        "--restart-running",
        "--waves",
        "2",
        "--bake",
        "30s",
        "m.yaml",
    ];
    kill_when(&s, &emu, &args, "wave 1's items journaled", |recs| {
        recs.iter()
            .filter(|r| matches!(r, Record::Item(i) if i.item.wave == Some(1)))
            .count()
            == 2
    });
    assert!(wave_records(&s).is_empty(), "killed during the bake");
    let updates = emu.calls("UpdateLivePullToPush");
    assert_eq!(updates, 2);
    let out = s
        .apply(
            &emu,
            &[
                "--yes",
                "--resume",
                "--restart-running",
                "--bake",
                "2s",
                "m.yaml",
            ],
        )
        .output()
        .unwrap();
    let err = stderr(&out);
    // Wave 1's gate is evaluated (passed); wave 2 holds the bad source, fails and rolls back.
    assert_eq!(out.status.code(), Some(5), "{err}");
    let gates = wave_records(&s);
    assert_eq!(gates[0].wave.index, 1);
    assert_eq!(gates[0].wave.verdict, Verdict::Passed);
    assert_eq!(
        gates[0].wave.applied, 2,
        "the killed run's items, from the journal"
    );
    // Wave 1 was not sent again: 2 updates before, 2 for wave 2, 2 for its rollback.
    assert_eq!(emu.calls("UpdateLivePullToPush"), updates + 4);
    for (i, want) in ["new", "new", "old", "old"].iter().enumerate() {
        let id = format!("r-{i:03}");
        assert_eq!(
            source_of(&emu, &id).0,
            format!("https://{want}.example/{id}.mp4")
        );
        assert_eq!(source_of(&emu, &id).1, TaskStatus::Running, "{id}");
    }
}

#[test]
fn kill_9_during_a_rollback_then_resume_finishes_it_and_never_resends_the_change() {
    let s = Scratch::new();
    // One wave of 12: r-000 is unreachable; the rollback restores all 12, paced at 2 calls/s
    // per operation, so the kill lands in the middle of it.
    let emu = sources(&s, 12, 0..1);
    let args = [
        "--yes",
        "--restart-running",
        "--qps",
        "2",
        "--waves",
        "12",
        "--bake",
        "2s",
        "m.yaml",
    ];
    kill_when(&s, &emu, &args, "the rollback under way", |recs| {
        recs.iter()
            .filter(|r| matches!(r, Record::Item(i) if i.item.rollback))
            .count()
            >= 2
    });
    let gates = wave_records(&s);
    assert_eq!(gates.len(), 1, "gated, not rolled back yet");
    assert_eq!(gates[0].wave.verdict, Verdict::Failed);
    let forward = |recs: &[Record], run: Option<&str>| {
        recs.iter()
            .filter(|r| {
                matches!(r, Record::Item(i) if !i.item.rollback
                    && run.is_none_or(|run| i.run_id == run))
            })
            .count()
    };
    assert_eq!(forward(&s.journal(), None), 12);
    let (code, err) = run(
        &s,
        &emu,
        &["--yes", "--resume", "--restart-running", "m.yaml"],
    );
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("finishing it"), "{err}");
    let recs = s.journal();
    let last_run = recs
        .iter()
        .rev()
        .find_map(|r| match r {
            Record::Run(h) => Some(h.run_id.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        forward(&recs, Some(&last_run)),
        0,
        "the change was not re-sent"
    );
    assert!(wave_records(&s).iter().any(|w| w.phase == "rolled_back"));
    for i in 0..12 {
        let id = format!("r-{i:03}");
        assert_eq!(
            source_of(&emu, &id),
            (format!("https://old.example/{id}.mp4"), TaskStatus::Running),
            "{id}"
        );
    }
    // And then the journal's rollout is final.
    let out = s
        .apply(&emu, &["--yes", "--resume", "--restart-running", "m.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}
