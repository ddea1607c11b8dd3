//! Every rule on one update that needs no live state.

use super::Violation;
use super::field::{
    LiveSchemes, Numbers, check_callback_url, check_numbers, check_sources, check_task_id,
    check_times, has_hidden_or_space,
};
use crate::model::{ApiTime, Field, Update};

/// Every rule that needs no live state, on one typed update. `now` is passed in so that checks are
/// deterministic (`--now` in tests). An update that changes nothing is a warning.
pub fn check_offline(u: &Update, now: ApiTime) -> Vec<Violation> {
    check_offline_inner(u, now, true)
}

fn no_change(u: &Update) -> Violation {
    Violation::warning(
        Field::TaskId,
        format!("the update of {} changes nothing", u.task_id),
    )
}

fn check_offline_inner(u: &Update, now: ApiTime, check_callback: bool) -> Vec<Violation> {
    let mut out = Vec::new();
    out.extend(check_task_id(&u.task_id));
    if let Some(r) = &u.region_id
        && has_hidden_or_space(r)
    {
        out.push(Violation::invalid(
            Field::RegionId,
            format!(
                "\"{}\" contains white space, control or invisible characters; a RegionId such as cn-shanghai has none",
                crate::text::escape(r)
            ),
        ));
    }
    check_times(
        u.start_time,
        u.end_time,
        u.end_time.is_some(),
        now,
        &mut out,
    );
    if let Some(urls) = &u.source_urls {
        check_sources(urls, u.source_type, LiveSchemes::default(), &mut out);
    }
    check_numbers(
        Numbers::from(u),
        u.source_type,
        u.source_urls.as_ref().map(Vec::len),
        &mut out,
    );
    if check_callback && let Some(cb) = &u.callback_url {
        out.extend(check_callback_url(cb));
    }
    if u.changed_fields().is_empty() {
        out.push(no_change(u));
    }
    out
}

/// [`check_offline`] for long runs of updates: remembers the last `CallbackUrl` found valid, since
/// a migration usually sets the same one on every row. Same results, fewer URL parses.
#[derive(Debug, Default)]
pub struct OfflineChecker {
    last_good_callback: Option<String>,
}

impl OfflineChecker {
    pub fn check(&mut self, u: &Update, now: ApiTime) -> Vec<Violation> {
        let Some(cb) = &u.callback_url else {
            return check_offline(u, now);
        };
        if self.last_good_callback.as_deref() == Some(cb.as_str()) {
            return check_offline_inner(u, now, false);
        }
        let out = check_offline(u, now);
        if !out.iter().any(|v| v.field == Field::CallbackUrl) {
            self.last_good_callback = Some(cb.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Region, SourceType};
    use crate::rules::testutil::*;
    use crate::rules::{Severity, code};

    #[test]
    fn text_fields_refuse_hidden_characters() {
        assert!(check_callback_url("https://h/x").is_none());
        for bad in [
            "https://h/x\rhttps://evil/",
            "https://h/x\n",
            "https://h/\tx",
            "https://h/x y",
            "https://h/\u{1b}[2Kx",
            "https://h/\u{202E}x",
            "https://h/\u{200B}x",
        ] {
            let v = check_callback_url(bad).expect(bad);
            assert!(v.message.contains("white space, control"), "{}", v.message);
            assert!(!v.message.contains('\r') && !v.message.contains('\u{1b}'));
        }
        let mut u = Update::new("t1", Region::CnShanghai);
        u.callback_url = Some("https://h/x".into());
        u.region_id = Some("cn-shanghai\r".into());
        assert_eq!(
            codes(&check_offline(&u, now())),
            vec![(Field::RegionId, code::INVALID_PARAMETER)]
        );
    }
    #[test]
    fn offline_rules() {
        let mut u = Update::new("t1", Region::CnShanghai);
        u.start_time = Some(t("2026-01-02T00:00:00Z"));
        u.end_time = Some(t("2026-01-10T00:00:01Z"));
        u.source_type = Some(SourceType::Live);
        u.source_urls = Some(vec!["rtmp://a/b".into(), "rtmp://c/d".into()]);
        u.repeat_number = Some(-2);
        u.offset = Some(0);
        u.file_index = Some(2);
        u.callback_url = Some("ftp://x".into());
        let v = check_offline(&u, now());
        assert_eq!(
            codes(&v),
            vec![
                (Field::EndTime, code::ILLEGAL_DURATION),
                (Field::SourceUrls, code::INVALID_PARAMETER),
                (Field::RepeatNumber, code::INVALID_PARAMETER),
                (Field::RepeatNumber, code::INVALID_PARAMETER),
                (Field::Offset, code::INVALID_PARAMETER),
                (Field::Offset, code::INVALID_PARAMETER),
                (Field::FileIndex, code::INVALID_PARAMETER),
                (Field::CallbackUrl, code::INVALID_PARAMETER),
            ]
        );
    }
    #[test]
    fn end_time_rules() {
        let mut u = Update::new("t1", Region::CnShanghai);
        u.end_time = Some(t("2025-12-31T00:00:00Z"));
        let v = check_offline(&u, now());
        assert_eq!(codes(&v), vec![(Field::EndTime, code::INVALID_PARAMETER)]);
        u.start_time = Some(t("2025-12-31T00:00:00Z"));
        u.end_time = Some(t("2026-01-07T00:00:00Z"));
        assert!(check_offline(&u, now()).is_empty());
        u.end_time = Some(t("2026-01-07T00:00:01Z"));
        assert_eq!(
            codes(&check_offline(&u, now())),
            vec![(Field::EndTime, code::ILLEGAL_DURATION)]
        );
    }
    #[test]
    fn memoized_checker_agrees_with_check_offline() {
        let mut c = OfflineChecker::default();
        let mut u = Update::new("t1", Region::CnShanghai);
        for cb in [
            "https://h/x",
            "https://h/x",
            "ftp://x",
            "ftp://x",
            "https://h/x",
        ] {
            u.callback_url = Some(cb.into());
            assert_eq!(c.check(&u, now()), check_offline(&u, now()), "{cb}");
        }
        u.offset = Some(0);
        assert_eq!(c.check(&u, now()), check_offline(&u, now()));
    }
    #[test]
    fn no_op_is_a_warning() {
        let v = check_offline(&Update::new("t1", Region::CnBeijing), now());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].severity, Severity::Warning);
    }
}
