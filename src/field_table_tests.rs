//! The field table's promise, checked end to end: every field an update can carry survives every
//! consumer that derives from the table — sent (`Update::to_params`), read and applied by the
//! emulator, reported by Describe, planned as no change, exported, and validated back. A field
//! added to the table (`model::Field`) but missed by a consumer fails here.

use crate::api::models::TaskState;
use crate::emulator::seed::task_before;
use crate::emulator::{operations::Params, store::Store};
use crate::export::{self, ExportFormat};
use crate::manifest::Input;
use crate::model::{ApiTime, Field, Region, Role, SourceType, Update};
use crate::plan::diff;
use crate::rules;

fn t(s: &str) -> ApiTime {
    ApiTime::parse(s).unwrap()
}

fn now() -> ApiTime {
    t("2026-11-25T12:00:00Z")
}

/// An update of a url task (the source type every field applies to) that gives every field.
fn full_update() -> Update {
    let mut u = Update::new("round-trip-1", Region::CnBeijing);
    u.region_id = Some("cn-beijing".into());
    u.start_time = Some(t("2026-11-26T00:00:00Z"));
    u.end_time = Some(t("2026-11-27T00:00:00Z"));
    u.source_urls = Some(vec![
        "https://media.example.com/a.mp4".into(),
        "https://media.example.com/b.flv".into(),
    ]);
    u.repeat_number = Some(2);
    u.offset = Some(30);
    u.file_index = Some(1);
    u.callback_url = Some("https://hooks.example.com/cb".into());
    u.source_type = Some(SourceType::Url);
    u
}

/// The same task's update with every changeable field different from [`full_update`]'s.
fn other_update() -> Update {
    let mut u = full_update();
    u.start_time = Some(t("2026-11-26T01:00:00Z"));
    u.end_time = Some(t("2026-11-27T01:00:00Z"));
    u.source_urls = Some(vec!["https://media.example.com/c.mp4".into()]);
    u.repeat_number = Some(-1);
    u.offset = Some(31);
    u.file_index = Some(0);
    u.callback_url = Some("https://hooks.example.com/other".into());
    u
}

/// Sends `u` to the emulator's Update operation and describes the task afterwards.
fn send(store: &mut Store, u: &Update) -> TaskState {
    let params = Params(
        u.to_params()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    );
    let res = store.execute(
        crate::api::models::action::UPDATE,
        &params,
        now(),
        "r",
        String::new,
    );
    assert!(res.is_ok(), "{u:?}: {:?}", res.err());
    store.get(&u.task_id).unwrap().to_state(now())
}

#[test]
fn the_round_trip_update_gives_every_field() {
    let u = full_update();
    for f in Field::ALL {
        assert!(u.is_set(f), "{f}: give it a value in full_update()");
    }
    assert!(rules::check_offline(&u, now()).is_empty());
}

#[test]
fn every_field_survives_params_the_emulator_describe_plan_export_and_validate() {
    let u = full_update();

    // Sent: every field the table says is sent, each in a form its wire parser reads back.
    let params = u.to_params();
    let names: Vec<&str> = params.iter().map(|p| p.0).collect();
    let mut sent: Vec<&str> = Field::ALL
        .into_iter()
        .filter(|f| f.role().is_sent())
        .map(Field::name)
        .collect();
    sent.sort_unstable();
    assert_eq!(names, sent);
    for (name, text) in &params {
        let f = Field::from_name(name).unwrap();
        assert_eq!(rules::parse_wire(f, text).ok(), u.get(f), "{f}");
    }

    // The emulator reads the request into the same update and applies every change; Describe
    // reports each field the table says it reports, with the update's value.
    let mut store = Store::new();
    store.seed(vec![task_before(&u, now())]).unwrap();
    let state = send(&mut store, &u);
    for f in Field::ALL {
        if f.described_as().is_some() {
            let r = state.task_info.reported(f).unwrap();
            assert_eq!(r.value, u.get(f), "{f}: {}", r.text());
        }
    }

    // Planned against that state, nothing differs.
    let (changes, narrowed) = diff::changes(&u, &state);
    assert!(changes.is_empty(), "{changes:?}");
    assert!(narrowed.changed_fields().is_empty());

    // Exported and validated back, in every format: the same update, but for the routing
    // RegionId, which is no part of a task.
    let e = export::from_tasks(std::slice::from_ref(&state), u.region, now().0);
    assert!(e.skipped.is_empty() && e.notes.is_empty(), "{e:?}");
    let dir = tempfile::tempdir().unwrap();
    for (format, ext) in [
        (ExportFormat::Yaml, "yaml"),
        (ExportFormat::Json, "json"),
        (ExportFormat::Csv, "csv"),
    ] {
        let path = dir.path().join(format!("export.{ext}"));
        std::fs::write(&path, export::render(&e.doc, format, None).unwrap()).unwrap();
        let batch = crate::validate::load_batch(&[Input::path(&path)], now());
        assert!(!batch.has_errors(), "{ext}: {:?}", batch.diagnostics);
        let back = &batch.entries[0].update;
        for f in Field::ALL {
            let want = if f.role() == Role::Routing {
                None
            } else {
                u.get(f)
            };
            assert_eq!(back.get(f), want, "{ext}: {f}");
        }
    }
}

#[test]
fn every_changeable_field_is_planned_applied_fingerprinted_and_named_in_drift() {
    let (u, v) = (full_update(), other_update());
    let mut store = Store::new();
    store.seed(vec![task_before(&u, now())]).unwrap();
    let before = send(&mut store, &u);
    let changeable: Vec<Field> = Field::ALL
        .into_iter()
        .filter(|f| f.role() == Role::Change)
        .collect();
    for f in &changeable {
        assert_ne!(u.get(*f), v.get(*f), "{f}: other_update() must change it");
    }

    let (changes, _) = diff::changes(&v, &before);
    let planned: Vec<Field> = changes.iter().map(|c| c.field).collect();
    assert_eq!(planned, changeable);

    let after = send(&mut store, &v);
    assert!(diff::changes(&v, &after).0.is_empty());
    assert_ne!(diff::fingerprint(&before), diff::fingerprint(&after));
    let drifted: Vec<String> = diff::drift(&before, &after)
        .into_iter()
        .map(|d| d.what)
        .collect();
    let names: Vec<String> = changeable.iter().map(|f| f.name().to_string()).collect();
    assert_eq!(drifted, names);
}
