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
    let out = s
        .apply(
            &emu,
            &[
                "--yes", "--waves", "2,50%", "--bake", "1s", "--report", "r.json", "m.yaml",
            ],
        )
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
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
    let out = s
        .apply(
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
        )
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(emu.ok_updates(), 2, "only the first wave was sent");
    let rep = s.report("r1.json");
    assert_eq!(rep.summary.outcome.name(), "paused");
    assert_eq!(rep.summary.not_attempted, 4);
    assert_eq!(rep.waves[1].verdict, Verdict::NotReached);
    // The resume takes the waves from the journal: no --waves given.
    let out = s
        .apply(
            &emu,
            &["--yes", "--resume", "--report", "r2.json", "m.yaml"],
        )
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
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
        (&["--waves", "2", "--no-refresh"], "--no-refresh"),
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
    let out = s
        .apply(&emu, &["--yes", "--resume", "--waves", "2", "m.yaml"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
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
    let out = s
        .apply(&emu, &["--yes", "--resume", "m.yaml"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
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
    let out = s
        .apply(
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
        )
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
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
