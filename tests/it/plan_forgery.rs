//! Issue 22 item 4, from the outside: a saved plan sends only what its manifests and recorded
//! live state produce. Each edit a person with write access to the plan artifact could make —
//! an `update` changed beside unchanged `changes`, a field not listed, an item spliced in from
//! another plan, `manifests: []`, `steps: []`, `steps: ["stop"]`, stop → update → restart on a
//! stopped task — refuses the whole plan (exit 65) naming the item, and nothing is sent. The real
//! binary against the emulator on loopback.

use std::path::PathBuf;

use crate::support::binary::Scratch;
use crate::support::emulator::Emu;
use livebatch::apply::sandbox;
use livebatch::model::{ApiTime, Update};
use serde_json::{Value, json};

/// `livebatch COMMAND --endpoint URL ARGS…` in `s`, signed with the emulator's key.
fn run(s: &Scratch, emu: &Emu, args: &[&str]) -> std::process::Output {
    s.livebatch()
        .args(&args[..1])
        .args(["--endpoint", &emu.url()])
        .args(&args[1..])
        .output()
        .unwrap()
}

/// A plan of `us` saved in `s` (manifest `{name}.yaml`), read back as JSON.
fn saved_plan(s: &Scratch, emu: &Emu, us: &[Update], name: &str) -> (PathBuf, Value) {
    crate::support::batch::write_manifest(&s.path(&format!("{name}.yaml")), us);
    let out = run(
        s,
        emu,
        &[
            "plan",
            "--out",
            &format!("{name}.json"),
            &format!("{name}.yaml"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = s.path(&format!("{name}.json"));
    let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    (p, v)
}

#[test]
fn every_edit_that_the_manifests_do_not_produce_refuses_the_plan_and_sends_nothing() {
    let us = crate::support::batch::callback_updates("forge", 3, "https://hooks.new.example.com");
    let other =
        crate::support::batch::callback_updates("spliced", 1, "https://hooks.new.example.com");
    let now = ApiTime::from_unix(chrono::Utc::now().timestamp()).unwrap();
    let seed = sandbox::seed_tasks(us.iter().chain(&other), now);
    let emu = Emu::seeded(0, None, seed);
    let s = Scratch::new();
    let (plan, original) = saved_plan(&s, &emu, &us, "m");
    let (_, foreign) = saved_plan(&s, &emu, &other, "other");

    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: Vec<(&str, Edit, &str)> = vec![
        (
            "an update edited beside unchanged changes",
            Box::new(|p| {
                p["items"][1]["update"]["callback_url"] = json!("https://evil.example.com/x")
            }),
            "item 2 (forge-001",
        ),
        (
            "a field not listed in changes",
            Box::new(|p| {
                p["items"][0]["update"]["source_urls"] = json!(["rtmp://evil.example.com/live/x"])
            }),
            "item 1 (forge-000",
        ),
        (
            "an item spliced in from another plan",
            Box::new(move |p| {
                let item = foreign["items"][0].clone();
                p["items"].as_array_mut().unwrap().push(item);
            }),
            "item 4 (spliced-000",
        ),
        (
            "no manifests",
            Box::new(|p| p["manifests"] = json!([])),
            "names no manifests",
        ),
        (
            "steps: []",
            Box::new(|p| p["items"][0]["steps"] = json!([])),
            "item 1 (forge-000",
        ),
        (
            "steps: [stop]",
            Box::new(|p| p["items"][2]["steps"] = json!(["stop"])),
            "item 3 (forge-002",
        ),
        (
            "stop, update, restart on a stopped task",
            Box::new(|p| p["items"][0]["steps"] = json!(["stop", "update", "restart"])),
            "item 1 (forge-000",
        ),
    ];
    for (what, edit, names) in edits {
        let mut edited = original.clone();
        edit(&mut edited);
        assert_ne!(edited, original, "{what}: the edit changed the plan");
        std::fs::write(&plan, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
        let before = emu.stats().requests;
        let out = run(&s, &emu, &["apply", "--plan", "m.json", "--yes"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(65), "{what}: {err}");
        assert!(err.contains(names), "{what}: {err}");
        assert!(err.contains("nothing was sent"), "{what}: {err}");
        assert_eq!(emu.stats().requests, before, "{what}: nothing was sent");
    }
    // The plan as made applies.
    std::fs::write(&plan, serde_json::to_vec_pretty(&original).unwrap()).unwrap();
    let out = run(&s, &emu, &["apply", "--plan", "m.json", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        emu.task("forge-001").callback_url,
        "https://hooks.new.example.com/forge/1"
    );
}

#[test]
fn a_plan_older_than_max_age_is_refused_with_exit_4_and_a_fresh_one_applies() {
    let us = crate::support::batch::callback_updates("aged", 2, "https://hooks.new.example.com");
    let now = ApiTime::from_unix(chrono::Utc::now().timestamp()).unwrap();
    let emu = Emu::seeded(0, None, sandbox::seed_tasks(&us, now));
    let s = Scratch::new();
    let (plan, original) = saved_plan(&s, &emu, &us, "m");
    let mut old = original.clone();
    old["created_at"] = json!("2020-01-01T00:00:00Z");
    std::fs::write(&plan, serde_json::to_vec_pretty(&old).unwrap()).unwrap();
    let before = emu.stats().requests;
    let out = run(
        &s,
        &emu,
        &["apply", "--plan", "m.json", "--max-age", "7d", "--yes"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("older than --max-age 7d"), "{err}");
    assert_eq!(emu.stats().requests, before, "nothing was sent");

    let mut no_time = original.clone();
    no_time.as_object_mut().unwrap().remove("created_at");
    std::fs::write(&plan, serde_json::to_vec_pretty(&no_time).unwrap()).unwrap();
    let out = run(
        &s,
        &emu,
        &["apply", "--plan", "m.json", "--max-age", "7d", "--yes"],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("created_at"));

    std::fs::write(&plan, serde_json::to_vec_pretty(&original).unwrap()).unwrap();
    let out = run(
        &s,
        &emu,
        &["apply", "--plan", "m.json", "--max-age", "1h", "--yes"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
