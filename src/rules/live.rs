//! The rules on an update against the task's live state.

use super::Violation;
use super::field::{LiveSchemes, Numbers, check_numbers, check_sources, check_times};
use super::state::blocked_in_state;
use crate::model::{ApiTime, Field, SourceType, TaskStatus, Update};

/// The parts of a task's live state the rules depend on. Built by whoever holds the state: the
/// planner from a Describe answer (`plan::diff::live_task`), the emulator from its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTask {
    pub status: TaskStatus,
    pub source_type: Option<SourceType>,
    pub start_time: Option<ApiTime>,
    pub end_time: Option<ApiTime>,
    pub source_urls: Vec<String>,
}

/// The rules that depend on the task's live state: the per-state table, the source rules with the
/// task's real `SourceType`, and the time rules on the effective start and end.
pub fn check_against_live(u: &Update, live: &LiveTask, now: ApiTime) -> Vec<Violation> {
    let mut out = Vec::new();
    for f in u.changed_fields() {
        out.extend(blocked_in_state(f, live.status));
    }
    if let (Some(stated), Some(real)) = (u.source_type, live.source_type)
        && stated != real
    {
        out.push(Violation::invalid(
            Field::SourceType,
            format!("the manifest says SourceType {stated}, but the task's source type is {real}"),
        ));
    }
    let source_type = live.source_type.or(u.source_type);
    if let Some(urls) = &u.source_urls {
        check_sources(urls, source_type, LiveSchemes::default(), &mut out);
    }
    let sources = u
        .source_urls
        .as_ref()
        .map_or(live.source_urls.len(), Vec::len);
    check_numbers(Numbers::from(u), source_type, Some(sources), &mut out);
    if u.start_time.is_some() || u.end_time.is_some() {
        let start = u.start_time.or(live.start_time);
        let end = u.end_time.or(live.end_time);
        check_times(start, end, u.end_time.is_some(), now, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Region;
    use crate::rules::code;
    use crate::rules::testutil::*;
    use TaskStatus::{Running, Stopped};

    #[test]
    fn live_rules_use_the_real_source_type_and_times() {
        let live = LiveTask {
            status: Stopped,
            source_type: Some(SourceType::Url),
            start_time: Some(t("2025-12-30T00:00:00Z")),
            end_time: Some(t("2026-01-02T00:00:00Z")),
            source_urls: vec!["https://a/1.mp4".into(), "https://a/2.mp4".into()],
        };
        let mut u = Update::new("t1", Region::CnShanghai);
        u.file_index = Some(1);
        u.end_time = Some(t("2026-01-05T00:00:00Z"));
        assert!(check_against_live(&u, &live, now()).is_empty());
        u.end_time = Some(t("2026-01-07T00:00:01Z"));
        u.file_index = Some(2);
        u.source_urls = None;
        assert_eq!(
            codes(&check_against_live(&u, &live, now())),
            vec![
                (Field::FileIndex, code::INVALID_PARAMETER),
                (Field::EndTime, code::ILLEGAL_DURATION)
            ]
        );
        let mut running = live.clone();
        running.status = Running;
        let mut u2 = Update::new("t1", Region::CnShanghai);
        u2.source_urls = Some(vec!["rtmp://x/y".into()]);
        let v = check_against_live(&u2, &running, now());
        assert_eq!(v[0].code, code::INVALID_PARAMETER);
        assert!(v[0].message.contains("running"));
        assert!(v.iter().any(|x| x.message.contains("not a url source")));
    }
}
