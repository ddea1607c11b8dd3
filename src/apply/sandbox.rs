//! `apply --sandbox`: the tasks a rehearsal starts with, derived from the manifest itself.
//!
//! A rehearsal is only useful if the updates that would succeed against a sensible account succeed
//! here too, so each seeded task is built to accept its own update under [`rules::check_against_live`]:
//! the same `Region` (so no region change), the stated or inferred `SourceType`, enough sources for
//! `FileIndex`, and times chosen so that the manifest's `StartTime`/`EndTime` keep within the
//! 7-day span. Tasks are stopped (the state that accepts the most changes) unless the update moves
//! `StartTime`, which only a task that has not started yet accepts.
//!
//! Pure: `now` is passed in, so the choice is tested against the rules without a server.

use std::collections::BTreeMap;

use crate::emulator::SeedTask;
use crate::model::{ApiTime, Field, TaskStatus, Update};

/// The sandbox task for one update, at `now` (the emulator's clock when the run starts): the
/// task as it is before the update, in a state that accepts it — the same choice `livebatch
/// emulator --seed` makes for a manifest record ([`crate::emulator::seed::task_before`]).
pub fn seed_task(u: &Update, now: ApiTime) -> SeedTask {
    crate::emulator::seed::task_before(u, now)
}

/// `apply` plans before it sends, so a sandbox task whose time already equals the update's would
/// be rehearsed as a no-op. [`seed_task`] can land a stopped task's end exactly on the update's
/// new `EndTime` (an end a day from now): such an end moves an hour later, which keeps the task
/// stopped, and its start within the 7-day span of the new end.
fn apart_in_time(t: &mut SeedTask, u: &Update) {
    if u.end_time == Some(t.end_time)
        && let Some(later) = ApiTime::from_unix(t.end_time.unix() + 3600)
    {
        t.end_time = later;
    }
}

/// The status an `x-TaskStatus` annotation gives (as `livebatch export` writes it), if any.
pub fn annotated_status(annotations: &BTreeMap<String, String>) -> Option<TaskStatus> {
    annotations
        .get("x-TaskStatus")
        .and_then(|s| s.trim().parse::<i32>().ok())
        .and_then(TaskStatus::from_code)
}

/// The fields an exported manifest's task is rebuilt with as they are written (see [`seed_entry`]).
const AS_EXPORTED: [Field; 3] = [Field::StartTime, Field::EndTime, Field::SourceUrls];

/// The sandbox task for one manifest entry. Without an `x-TaskStatus` annotation it is
/// [`seed_task`]'s. With one (an exported manifest), the task is rebuilt as it was exported, so
/// the rehearsal is truthful: that status, and the manifest's own `StartTime`, `EndTime`,
/// `SourceType` and `SourceUrls` (the fields whose change depends on the status; an export
/// carries their live values, so leaving them unedited plans no change to them). The fields any
/// status accepts (`CallbackUrl`, `RepeatNumber`, `Offset`, `FileIndex`) keep the neutral seed
/// values, so what the manifest sets for them is rehearsed as a change.
pub fn seed_entry(u: &Update, annotations: &BTreeMap<String, String>, now: ApiTime) -> SeedTask {
    let mut t = seed_task(u, now);
    let Some(status) = annotated_status(annotations) else {
        apart_in_time(&mut t, u);
        return t;
    };
    t.task_status = status;
    for f in AS_EXPORTED {
        if let Some(v) = u.get(f) {
            t.set(f, v);
        }
    }
    if status == TaskStatus::Exited {
        t.task_exit_reason = Some("TriggerByUser".into());
    }
    let ann = |k: &str| {
        annotations
            .get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if let Some(name) = ann("x-TaskName") {
        t.task_name = name;
    }
    if let Some(dst) = ann("x-DstUrl") {
        t.dst_url = dst;
    }
    if let Some(p) = ann("x-SourceProtocol") {
        t.source_protocol = p;
    }
    t
}

/// One task per distinct `TaskId` (validation already refused duplicates; the first one wins).
pub fn seed_tasks<'a>(
    updates: impl IntoIterator<Item = &'a Update>,
    now: ApiTime,
) -> Vec<SeedTask> {
    let mut seen = std::collections::HashSet::new();
    updates
        .into_iter()
        .filter(|u| seen.insert(u.task_id.clone()))
        .map(|u| seed_task(u, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Input;
    use crate::model::Region;
    use crate::model::SourceType;
    use crate::rules;
    use crate::rules::LiveTask;

    fn t(s: &str) -> ApiTime {
        ApiTime::parse(s).unwrap()
    }

    fn accepted(u: &Update, now: ApiTime) -> Vec<rules::Violation> {
        accepted_seed(&seed_task(u, now), u, now)
    }

    fn accepted_seed(seed: &SeedTask, u: &Update, now: ApiTime) -> Vec<rules::Violation> {
        let live = LiveTask {
            status: seed.status_at(now).0,
            source_type: Some(seed.source_type),
            start_time: Some(seed.start_time),
            end_time: Some(seed.end_time),
            source_urls: seed.source_urls.clone(),
        };
        assert_eq!(seed.region, u.region);
        rules::check_against_live(u, &live, now)
    }

    #[test]
    fn every_bundled_example_update_is_accepted_by_its_sandbox_task() {
        let now = t("2026-11-25T12:00:00Z");
        let root = env!("CARGO_MANIFEST_DIR");
        for f in ["examples/migration.yaml", "examples/migration.csv"] {
            let input = Input::from_arg(&format!("{root}/{f}"));
            let batch = crate::validate::load_batch(&[input], now);
            assert!(!batch.has_errors(), "{f}");
            assert!(batch.entries.len() > 10, "{f}");
            for e in &batch.entries {
                let v = accepted(&e.update, now);
                assert!(v.is_empty(), "{f} {}: {v:?}", e.update.task_id);
            }
        }
    }

    #[test]
    fn each_kind_of_change_gets_a_task_that_accepts_it() {
        let now = t("2026-11-25T12:00:00Z");
        let mut cases = Vec::new();
        let base = Update::new("t1", Region::CnBeijing);
        let mut u = base.clone();
        u.end_time = Some(t("2026-11-25T13:00:00Z"));
        cases.push(u);
        let mut u = base.clone();
        u.end_time = Some(t("2027-06-01T00:00:00Z"));
        cases.push(u);
        let mut u = base.clone();
        u.start_time = Some(t("2026-11-25T12:30:00Z"));
        cases.push(u);
        let mut u = base.clone();
        u.start_time = Some(t("2027-01-01T00:00:00Z"));
        u.end_time = Some(t("2027-01-07T23:00:00Z"));
        cases.push(u);
        let mut u = base.clone();
        u.repeat_number = Some(-1);
        u.file_index = Some(3);
        cases.push(u);
        let mut u = base.clone();
        u.offset = Some(30);
        u.source_urls = Some(vec!["vodabc123".into()]);
        cases.push(u);
        let mut u = base.clone();
        u.source_urls = Some(vec!["srt://h:9000?streamid=x".into()]);
        cases.push(u);
        let mut u = base.clone();
        u.callback_url = Some("https://h/cb".into());
        cases.push(u);
        for u in &cases {
            let v = accepted(u, now);
            assert!(v.is_empty(), "{u:?}: {v:?}");
        }
        // The inferred types are the ones the sources say.
        assert_eq!(seed_task(&cases[5], now).source_type, SourceType::Vod);
        assert_eq!(seed_task(&cases[6], now).source_type, SourceType::Live);
        assert_eq!(seed_task(&cases[4], now).source_urls.len(), 4);
        assert_eq!(seed_task(&cases[7], now).task_status, TaskStatus::Stopped);
        assert_eq!(
            seed_task(&cases[2], now).task_status,
            TaskStatus::NotStarted
        );
    }

    #[test]
    fn a_stated_source_type_is_kept_even_if_the_update_would_not_fit_it() {
        let now = t("2026-11-25T12:00:00Z");
        let mut u = Update::new("t1", Region::CnBeijing);
        u.source_type = Some(SourceType::Live);
        u.repeat_number = Some(2);
        assert_eq!(seed_task(&u, now).source_type, SourceType::Live);
        assert!(!accepted(&u, now).is_empty());
    }

    #[test]
    fn one_task_per_task_id() {
        let now = t("2026-11-25T12:00:00Z");
        let a = Update::new("a", Region::CnBeijing);
        let b = Update::new("b", Region::CnBeijing);
        let seeds = seed_tasks([&a, &b, &a], now);
        assert_eq!(
            seeds.iter().map(|s| s.task_id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn an_exported_task_is_seeded_with_its_status_and_state_bound_fields() {
        let now = t("2026-11-25T12:00:00Z");
        let mut u = Update::new("t1", Region::CnBeijing);
        u.source_type = Some(SourceType::Live);
        u.source_urls = Some(vec!["rtmp://origin/live/s".into()]);
        u.start_time = Some(t("2026-11-25T10:00:00Z"));
        u.end_time = Some(t("2026-11-26T10:00:00Z"));
        u.callback_url = Some("https://new/cb".into());
        let mut ann = BTreeMap::new();
        // Without the annotation: as before (a task that accepts the whole update).
        assert_eq!(seed_entry(&u, &ann, now), seed_task(&u, now));
        ann.insert("x-TaskStatus".to_string(), "1".to_string());
        ann.insert("x-DstUrl".to_string(), "rtmp://push/live/s".to_string());
        let seed = seed_entry(&u, &ann, now);
        assert_eq!(seed.task_status, TaskStatus::Running);
        assert_eq!(seed.status_at(now).0, TaskStatus::Running);
        assert_eq!(seed.start_time, u.start_time.unwrap());
        assert_eq!(seed.source_urls, u.source_urls.clone().unwrap());
        assert_eq!(seed.dst_url, "rtmp://push/live/s");
        assert_eq!(
            seed.callback_url, "",
            "the callback stays a change to rehearse"
        );
        ann.insert("x-TaskStatus".to_string(), "bogus".to_string());
        assert_eq!(annotated_status(&ann), None);
    }

    #[test]
    fn a_seeded_end_never_equals_the_update_s_own() {
        let now = t("2020-01-01T00:00:00Z");
        let mut u = Update::new("o1", Region::CnShanghai);
        u.end_time = Some(t("2020-01-02T00:00:00Z"));
        let seed = seed_entry(&u, &BTreeMap::new(), now);
        assert_ne!(Some(seed.end_time), u.end_time);
        assert!(accepted_seed(&seed, &u, now).is_empty());
    }
}
