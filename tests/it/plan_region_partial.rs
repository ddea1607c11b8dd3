//! Issue 21's planning items, from the outside (the binary against the emulator): a blocked
//! update split with `--partial`, and `Region` as a compared field.

use crate::support::binary::Scratch;
use crate::support::emulator::{Emu, at, seed_task as task};
use livebatch::model::{Region, SourceType, TaskStatus};

const MP4: &[&str] = &["https://media.example.com/a.mp4"];
const NEW_CB: &str = "https://hooks.new.example.com/cb";

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn running() -> Emu {
    let seed = vec![task(
        "t-running",
        SourceType::Url,
        MP4,
        TaskStatus::Running,
        -3_600,
        86_400,
    )];
    Emu::seeded(1000, None, seed)
}

fn write(s: &Scratch, body: &str) -> String {
    let p = s.path("m.yaml");
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

/// A running task's update that also asks for new sources: without `--partial` nothing is sent
/// (the callback stays old); with it the callback is sent and the sources are reported blocked.
#[test]
fn partial_sends_what_a_running_task_allows_and_shows_the_rest_blocked() {
    let emu = running();
    let s = Scratch::new();
    let m = write(
        &s,
        &format!(
            "updates:\n- TaskId: t-running\n  Region: cn-shanghai\n  CallbackUrl: {NEW_CB}\n  \
             SourceUrls: [https://media.example.com/new.mp4]\n"
        ),
    );
    let plan = |extra: &[&str]| {
        let mut c = s.livebatch();
        c.arg("plan")
            .arg("--endpoint")
            .arg(emu.url())
            .args(extra)
            .arg(&m);
        let out = c.output().unwrap();
        text(&out.stdout)
    };
    let whole = plan(&[]);
    assert!(
        whole.contains("! t-running") && whole.contains("blocked"),
        "{whole}"
    );
    let split = plan(&["--partial"]);
    assert!(split.contains("~ t-running"), "{split}");
    let (sent, held) = split.split_once("blocked, not sent").expect(&split);
    assert!(
        sent.contains("CallbackUrl") && !sent.contains("SourceUrls"),
        "{split}"
    );
    assert!(
        held.contains("SourceUrls") && held.contains("task is running"),
        "{split}"
    );
    assert!(
        split.contains("1 to change, 0 already up to date, 0 blocked"),
        "{split}"
    );

    // apply without the flag: nothing changes.
    s.apply(&emu, &[&m, "--yes", "--allow-blocked"])
        .assert()
        .code(0);
    assert_eq!(emu.ok_updates(), 0);
    assert_eq!(
        emu.task("t-running").callback_url,
        "https://hooks.old.example.com/cb"
    );

    // apply --partial: the callback is sent alone, the sources stay, and the report says what
    // was held back and why.
    let out = s
        .apply(&emu, &[&m, "--yes", "--partial", "--report", "r.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path("r.json")).unwrap()).unwrap();
    let held = &report["items"][0]["held"];
    assert_eq!(held[0]["field"], "SourceUrls", "{report}");
    assert!(
        held[0]["reason"].as_str().unwrap().contains("running"),
        "{report}"
    );
    let t = emu.task("t-running");
    assert_eq!(t.callback_url, NEW_CB);
    assert_eq!(t.source_urls, MP4);
    assert_eq!(emu.ok_updates(), 1);
}

/// A saved `--partial` plan records the option and applies as reviewed.
#[test]
fn a_saved_partial_plan_records_the_option_and_applies() {
    let emu = running();
    let s = Scratch::new();
    let m = write(
        &s,
        &format!(
            "updates:\n- TaskId: t-running\n  Region: cn-shanghai\n  CallbackUrl: {NEW_CB}\n  \
             SourceUrls: [https://media.example.com/new.mp4]\n"
        ),
    );
    let plan = s.path("plan.json");
    let out = s
        .livebatch()
        .arg("plan")
        .arg("--endpoint")
        .arg(emu.url())
        .args(["--partial", "--out"])
        .arg(&plan)
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert_eq!(saved["partial"], true);
    assert_eq!(saved["items"][0]["class"], "change");
    assert_eq!(
        saved["items"][0]["held"]["changes"][0]["field"],
        "SourceUrls"
    );
    let out = s
        .apply(&emu, &["--plan", plan.to_str().unwrap(), "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(emu.task("t-running").callback_url, NEW_CB);
    assert_eq!(emu.task("t-running").source_urls, MP4);
}

fn two_regions() -> Emu {
    let mut later = task(
        "t-later",
        SourceType::Url,
        MP4,
        TaskStatus::NotStarted,
        3_600,
        86_400,
    );
    later.region = Region::CnBeijing;
    let mut started = task(
        "t-started",
        SourceType::Url,
        MP4,
        TaskStatus::Running,
        -3_600,
        86_400,
    );
    started.region = Region::CnBeijing;
    Emu::seeded(1000, None, vec![later, started])
}

fn plan_out(s: &Scratch, emu: &Emu, m: &str) -> (Option<i32>, String) {
    let out = s
        .livebatch()
        .args(["plan", "--detailed-exitcode", "--endpoint", &emu.url(), m])
        .output()
        .unwrap();
    (out.status.code(), text(&out.stdout) + &text(&out.stderr))
}

/// An export of cn-beijing edited to cn-shanghai, one task per file (one Describe) and both in one
/// file (list pages): the not-started task's move is a change and is applied; the running one's is
/// blocked with CodeTaskHasStarted; never "already up to date".
#[test]
fn region_is_compared_where_the_task_is() {
    let emu = two_regions();
    let s = Scratch::new();
    let one = |id: &str| {
        write(
            &s,
            &format!(
                "updates:\n- TaskId: {id}\n  Region: cn-shanghai\n  SourceUrls: [{}]\n",
                MP4[0]
            ),
        )
    };
    let (code, out) = plan_out(&s, &emu, &one("t-started"));
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("! t-started") && out.contains("Region"),
        "{out}"
    );
    assert!(out.contains("CodeTaskHasStarted"), "{out}");
    assert!(!out.contains("already up to date, 0 blocked"), "{out}");

    let (code, out) = plan_out(&s, &emu, &one("t-later"));
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("~ t-later") && out.contains(r#"Region: "cn-beijing" → "cn-shanghai""#),
        "{out}"
    );

    let both = write(
        &s,
        "defaults:\n  Region: cn-shanghai\nupdates:\n- TaskId: t-later\n- TaskId: t-started\n",
    );
    let (_, out) = plan_out(&s, &emu, &both);
    assert!(
        out.contains("1 to change, 0 already up to date, 1 blocked, 0 missing"),
        "{out}"
    );
    let out = s
        .apply(&emu, &[&both, "--yes", "--allow-blocked"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(emu.task("t-later").region, Region::CnShanghai);
    assert_eq!(emu.task("t-started").region, Region::CnBeijing);
    // Now where the manifest says: nothing differs for the moved task.
    let (_, out) = plan_out(&s, &emu, &one("t-later"));
    assert!(out.contains("0 to change, 1 already up to date"), "{out}");

    // Found nowhere: missing.
    let (_, out) = plan_out(&s, &emu, &one("t-nowhere"));
    assert!(out.contains("? t-nowhere"), "{out}");
}

/// An exported running task, as `livebatch export` writes it, with `sources` and `callback`.
fn exported(sources: &str, callback: &str) -> String {
    let (start, end) = (at(-3_600), at(86_400));
    format!(
        "updates:\n- TaskId: t-exp\n  Region: cn-shanghai\n  SourceType: url\n  \
         SourceUrls: [{sources}]\n  StartTime: {start}\n  EndTime: {end}\n  \
         CallbackUrl: {callback}\n  RepeatNumber: 0\n  \
         x-TaskStatus: \"1\"\n  x-TaskName: night show\n  x-DstUrl: rtmp://push.example.com/app/exp\n"
    )
}

/// The sandbox on an edited export: alone it cannot know the sources before the edit (it says
/// so, and how to fix it); seeded from the unedited export it blocks what the service would.
#[test]
fn the_sandbox_rehearses_an_edited_export_against_its_seed() {
    let s = Scratch::new();
    let old = "https://hooks.old.example.com/cb";
    let snapshot = s.path("export.yaml");
    std::fs::write(&snapshot, exported(MP4[0], old)).unwrap();
    let edited = s.path("edited.yaml");
    std::fs::write(
        &edited,
        exported("https://media.example.com/new.mp4", NEW_CB),
    )
    .unwrap();
    let edited = edited.to_str().unwrap();
    let run = |extra: &[&str]| {
        let out = s
            .livebatch()
            .args(["apply", "--sandbox", "--yes", "--allow-blocked"])
            .args(extra)
            .arg(edited)
            .output()
            .unwrap();
        (out.status.code(), text(&out.stdout) + &text(&out.stderr))
    };
    let (code, out) = run(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("cannot be rehearsed") && out.contains("--sandbox-seed"),
        "{out}"
    );
    assert!(
        out.contains("SourceUrls, StartTime, EndTime and SourceType"),
        "{out}"
    );

    let (code, out) = run(&["--sandbox-seed", snapshot.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("cannot be rehearsed"), "{out}");
    assert!(out.contains("seeded from --sandbox-seed"), "{out}");
    assert!(out.contains("1 blocked"), "{out}");
    assert!(out.contains("SourceUrls"), "{out}");

    // With --partial the callback is rehearsed as sent, the sources still blocked.
    let (code, out) = run(&["--sandbox-seed", snapshot.to_str().unwrap(), "--partial"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("1 to change") && out.contains("blocked, not sent"),
        "{out}"
    );
}

/// A saved plan of a Region move applies (its staleness read looks where the task was planned,
/// not where the update takes it), and applied again it is already applied.
#[test]
fn a_saved_plan_moves_a_not_started_task_and_reapplied_sends_nothing() {
    let emu = two_regions();
    let s = Scratch::new();
    let m = write(
        &s,
        &format!(
            "updates:\n- TaskId: t-later\n  Region: cn-shanghai\n  SourceUrls: [{}]\n",
            MP4[0]
        ),
    );
    let out = s
        .livebatch()
        .args(["plan", "--endpoint", &emu.url(), "--out", "p.json", &m])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s
        .apply(&emu, &["--plan", "p.json", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(emu.task("t-later").region, Region::CnShanghai);
    let updates = emu.ok_updates();
    let out = s
        .apply(&emu, &["--plan", "p.json", "--yes"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("1 already applied"), "{err}");
    assert_eq!(emu.ok_updates(), updates, "nothing sent again");
}
