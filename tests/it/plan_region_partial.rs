//! Issue 21's planning items, from the outside (the binary against the emulator): a blocked
//! update split with `--partial`, and `Region` as a compared field.

use crate::support::binary::Scratch;
use crate::support::emulator::{Emu, seed_task as task};
use livebatch::model::{SourceType, TaskStatus};

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

    // apply --partial: the callback is sent alone, the sources stay.
    let out = s.apply(&emu, &[&m, "--yes", "--partial"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
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
