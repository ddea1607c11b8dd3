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

use crate::emulator::SeedTask;
use crate::model::{ApiTime, Update};

/// The sandbox task for one update, at `now` (the emulator's clock when the run starts): the
/// task as it is before the update, in a state that accepts it — the same choice `livebatch
/// emulator --seed` makes for a manifest record ([`crate::emulator::seed::task_before`]).
pub fn seed_task(u: &Update, now: ApiTime) -> SeedTask {
    crate::emulator::seed::task_before(u, now)
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
    use crate::model::{SourceType, TaskStatus};
    use crate::rules;
    use crate::rules::LiveTask;

    fn t(s: &str) -> ApiTime {
        ApiTime::parse(s).unwrap()
    }

    fn accepted(u: &Update, now: ApiTime) -> Vec<rules::Violation> {
        let seed = seed_task(u, now);
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
}
