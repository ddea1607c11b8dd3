//! The end of an `apply` run tells one story (issue 21): the outcome line ends with the exit code
//! the command returns, the `next:` command goes where the run went (`--sandbox`, `--endpoint`,
//! `--journal` repeated) and names the flag for blocked items, `--verify` says when there was
//! nothing to verify. (Declining the prompt, exit 5: `operator_output`.)

use crate::support::binary::Scratch;
use crate::support::emulator::{Emu, seed_task};
use livebatch::model::{SourceType, TaskStatus};

const MP4: &[&str] = &["https://media.example.com/a.mp4"];

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn last_line(err: &str) -> &str {
    err.trim_end().lines().last().unwrap_or("")
}

/// The migration example in the scratch directory as `m.yaml`.
fn migration(s: &Scratch) {
    std::fs::copy("examples/migration.yaml", s.path("m.yaml")).unwrap();
}

#[test]
fn a_sandbox_runs_next_command_stays_in_the_sandbox_and_its_outcome_line_says_the_exit_code() {
    let s = Scratch::new();
    migration(&s);
    let run = |args: &[&str]| {
        s.unconfigured()
            .args(["apply", "--yes"])
            .args(args)
            .output()
            .unwrap()
    };
    // Every update refused (transient 503, no retry): all fail, nothing to verify.
    let out = run(&[
        "--sandbox",
        "--no-refresh",
        "--sandbox-fail-rate",
        "1",
        "--max-attempts",
        "1",
        "--verify",
        "m.yaml",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("verify: nothing to verify (no update was sent)"),
        "{err}"
    );
    let next = err
        .lines()
        .find(|l| l.starts_with("next: "))
        .unwrap_or_else(|| panic!("no next: line\n{err}"));
    assert_eq!(
        next,
        "next: livebatch apply --retry-failed --sandbox m.yaml   (once the cause is fixed)"
    );
    assert!(last_line(&err).ends_with("; exit 1"), "{err}");

    // Run as printed (with --yes), it retries in the sandbox, on the sandbox's journal.
    let printed: Vec<&str> = next
        .trim_start_matches("next: livebatch apply ")
        .split("   (")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let out = run(&printed);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("36 succeeded"), "{err}");
    assert!(last_line(&err).ends_with("; exit 0"), "{err}");
    assert!(s.path("m.yaml.sandbox.journal.jsonl").exists());
    assert!(
        !s.path("m.yaml.journal.jsonl").exists(),
        "the real journal was never written"
    );
}

#[test]
fn blocked_items_name_the_flag_that_sends_them_and_the_exit_code_is_said_once_last() {
    let emu = Emu::seeded(
        100,
        None,
        vec![seed_task(
            "blk-1",
            SourceType::Url,
            MP4,
            TaskStatus::Running,
            -3_600,
            86_400,
        )],
    );
    let s = Scratch::new();
    let m = s.path("m.yaml");
    std::fs::write(
        &m,
        "updates:\n  - TaskId: blk-1\n    Region: cn-shanghai\n    SourceUrls: [https://media.example.com/b.mp4]\n",
    )
    .unwrap();
    let out = s
        .apply(&emu, &[m.to_str().unwrap(), "--yes"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let next = err
        .lines()
        .find(|l| l.starts_with("next: "))
        .unwrap_or_else(|| panic!("no next: line\n{err}"));
    let journal = s.path("j.jsonl");
    assert!(
        next.starts_with(&format!(
            "next: livebatch apply --restart-running --endpoint {} --journal {} {}",
            emu.url(),
            journal.display(),
            m.display()
        )),
        "{next}"
    );
    assert!(
        next.contains("1 blocked") && next.contains("--partial"),
        "{next}"
    );
    // The exit code is said once, on the last line, and it is the one returned.
    assert_eq!(err.matches("exit 1").count(), 1, "{err}");
    assert!(last_line(&err).ends_with("; exit 1"), "{err}");
    assert!(
        err.contains("not sent and not accepted: 1 blocked"),
        "{err}"
    );
}

/// A manifest moving each of `ids` to a new source file.
fn new_sources(s: &Scratch, ids: &[String]) -> std::path::PathBuf {
    let mut text = String::from("updates:\n");
    for id in ids {
        text.push_str(&format!(
            "  - TaskId: {id}\n    Region: cn-shanghai\n    SourceUrls: [https://media.example.com/b.mp4]\n"
        ));
    }
    let m = s.path("m.yaml");
    std::fs::write(&m, text).unwrap();
    m
}

fn running(n: usize) -> (Emu, Vec<String>) {
    let ids: Vec<String> = (0..n).map(|i| format!("run-{i:02}")).collect();
    let seeds = ids
        .iter()
        .map(|id| {
            seed_task(
                id,
                SourceType::Url,
                MP4,
                TaskStatus::Running,
                -3_600,
                86_400,
            )
        })
        .collect();
    (Emu::seeded(100, None, seeds), ids)
}

/// The confirmation's lines from the plan's summary line to the journal line, with the run's
/// endpoint and directory replaced, for a snapshot.
fn confirmation(err: &str, emu: &Emu, s: &Scratch) -> String {
    let from = err.find("Plan: ").unwrap_or_else(|| panic!("{err}"));
    let text = &err[from..];
    let to = text.find("\njournal: ").unwrap();
    text[..to]
        .replace(&emu.url(), "http://EMULATOR")
        .replace(&s.dir.path().display().to_string(), "DIR")
}

#[test]
fn the_confirmation_names_the_running_streams_it_will_interrupt() {
    let (emu, ids) = running(3);
    let s = Scratch::new();
    let m = new_sources(&s, &ids);
    let out = s
        .apply(&emu, &[m.to_str().unwrap(), "--yes", "--restart-running"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    insta::assert_snapshot!(confirmation(&err, &emu, &s));
}

#[test]
fn the_confirmation_counts_what_is_not_sent_as_the_preview_shows_it() {
    let (emu, ids) = running(25);
    let s = Scratch::new();
    let m = new_sources(&s, &ids);
    let out = s
        .apply(&emu, &[m.to_str().unwrap(), "--yes", "--allow-blocked"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(err.matches("  blocked\n").count(), 20, "{err}");
    assert!(
        err.contains("... and 5 more: first 20 of 25 shown; -v for all"),
        "{err}"
    );
    insta::assert_snapshot!(confirmation(&err, &emu, &s));
    // With -v every blocked item is listed and nothing says "more".
    let out = s
        .apply(
            &emu,
            &[m.to_str().unwrap(), "--yes", "--allow-blocked", "-v"],
        )
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(err.matches("  blocked\n").count(), 25, "{err}");
    assert!(!err.contains("more: first"), "{err}");
}

#[test]
fn source_urls_read_one_a_line_and_colour_is_on_only_when_asked() {
    let (emu, ids) = running(1);
    let s = Scratch::new();
    let m = new_sources(&s, &ids);
    let run = |extra: &[&str]| {
        let mut args = vec![m.to_str().unwrap(), "--yes", "--allow-blocked"];
        args.extend_from_slice(extra);
        let out = s.apply(&emu, &args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stderr(&out)
    };
    // Not a terminal: no colour, by default or with NO_COLOR.
    let plain = run(&[]);
    assert!(!plain.contains('\x1b'), "{plain}");
    assert!(
        plain.contains(
            "    SourceUrls:\n      - https://media.example.com/a.mp4\n      + https://media.example.com/b.mp4\n"
        ),
        "{plain}"
    );
    let forced = run(&["--color", "always"]);
    assert!(
        forced.contains("\x1b[32m+ https://media.example.com/b.mp4\x1b[0m"),
        "{forced}"
    );
    assert_eq!(
        anstream::adapter::strip_str(&forced)
            .to_string()
            .lines()
            .count(),
        plain.lines().count()
    );
    assert!(!run(&["--color", "never"]).contains('\x1b'));
}

#[test]
fn reports_say_what_changed_where_and_in_which_steps() {
    let (emu, ids) = running(2);
    let s = Scratch::new();
    let m = new_sources(&s, &ids);
    let out = s
        .apply(
            &emu,
            &[
                m.to_str().unwrap(),
                "--yes",
                "--restart-running",
                "--report",
                "r.json",
                "--report",
                "r.csv",
                "--report",
                "r.md",
            ],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("r.json")).unwrap()).unwrap();
    let first = &json["items"][0];
    assert_eq!(first["region"], "cn-shanghai");
    assert_eq!(
        first["steps"],
        serde_json::json!(["stop", "update", "restart"])
    );
    assert_eq!(first["changes"][0]["field"], "SourceUrls");
    assert_eq!(
        first["changes"][0]["old"],
        "[\"https://media.example.com/a.mp4\"]"
    );
    assert_eq!(
        first["changes"][0]["new"],
        "[\"https://media.example.com/b.mp4\"]"
    );
    let mut csv = csv::Reader::from_path(s.path("r.csv")).unwrap();
    let row = csv.records().next().unwrap().unwrap();
    assert_eq!(&row[8], "cn-shanghai");
    assert!(row[9].starts_with("SourceUrls: "), "{:?}", &row[9]);
    assert_eq!(&row[10], "stop → update → restart");
    let md = std::fs::read_to_string(s.path("r.md")).unwrap();
    assert!(
        md.contains("- `run-00` (cn-shanghai) [stop → update → restart]"),
        "{md}"
    );
    assert!(md.contains("https://media.example.com/b.mp4"), "{md}");
    assert!(
        !md.contains("mermaid"),
        "a run of a second is not charted\n{md}"
    );
}
