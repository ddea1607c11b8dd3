//! `CreateLivePullToPush`'s own rules (the emulator reads them).
//!
//! Create takes parameters Update does not (SourceType, SourceProtocol, DstUrl, TaskName,
//! RetryCount, RetryInterval), so its violations name the wire parameter as text rather than a
//! manifest [`Field`](crate::model::Field). Field-shared rules (sources, times, numbers, callback) reuse the checks in
//! `field`, so that Create and Update can never disagree on them.

use super::field::{
    LiveSchemes, Numbers, check_callback_url, check_numbers, check_sources, check_times,
};
use super::{Violation, code};
use crate::model::{ApiTime, Region, SourceType, source_urls_wire};

/// Longest `DstUrl` (characters).
pub const DST_URL_MAX_LEN: usize = 2000;
/// `RetryInterval` bounds, in seconds, and its default.
pub const RETRY_INTERVAL_MIN: i32 = 60;
pub const RETRY_INTERVAL_MAX: i32 = 300;
pub const RETRY_INTERVAL_DEFAULT: i32 = 60;
/// `RetryCount` when the caller gives none.
pub const RETRY_COUNT_DEFAULT: i32 = 3;
/// `SourceProtocol` values Create accepts (required for `live` sources).
pub const SOURCE_PROTOCOLS: [&str; 5] = ["rtmp", "rtsp", "srt", "http-flv", "flv"];

/// One broken Create rule, naming the wire parameter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CreateViolation {
    pub param: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl From<Violation> for CreateViolation {
    fn from(v: Violation) -> CreateViolation {
        CreateViolation {
            param: v.field.name(),
            code: v.code,
            message: v.message,
        }
    }
}

/// A typed `CreateLivePullToPush` request (after the strict parsers), as the checks read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub region: Region,
    pub source_type: SourceType,
    pub source_protocol: Option<String>,
    pub source_urls: Vec<String>,
    pub dst_url: String,
    pub start_time: ApiTime,
    pub end_time: ApiTime,
    pub task_name: Option<String>,
    pub callback_url: Option<String>,
    pub repeat_number: Option<i32>,
    pub offset: Option<i32>,
    pub file_index: Option<i32>,
    pub retry_count: Option<i32>,
    pub retry_interval: Option<i32>,
}

impl NewTask {
    /// The wire parameters, `SourceUrls` as one compact JSON array, like Update's.
    pub fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("Region", self.region.as_str().to_string()),
            ("SourceType", self.source_type.as_str().to_string()),
            ("SourceUrls", source_urls_wire(&self.source_urls)),
            ("DstUrl", self.dst_url.clone()),
            ("StartTime", self.start_time.to_string()),
            ("EndTime", self.end_time.to_string()),
        ];
        for (name, v) in [
            ("SourceProtocol", &self.source_protocol),
            ("TaskName", &self.task_name),
            ("CallbackUrl", &self.callback_url),
        ] {
            if let Some(v) = v {
                p.push((name, v.clone()));
            }
        }
        for (name, v) in [
            ("RepeatNumber", self.repeat_number),
            ("Offset", self.offset),
            ("FileIndex", self.file_index),
            ("RetryCount", self.retry_count),
            ("RetryInterval", self.retry_interval),
        ] {
            if let Some(v) = v {
                p.push((name, v.to_string()));
            }
        }
        p.sort_by(|a, b| a.0.cmp(b.0));
        p
    }
}

/// Every Create rule on a typed request. `now` is passed in, as for [`check_offline`](super::check_offline).
pub fn check_create(t: &NewTask, now: ApiTime) -> Vec<CreateViolation> {
    let mut out: Vec<CreateViolation> = Vec::new();
    let bad = |param: &'static str, message: String| CreateViolation {
        param,
        code: code::INVALID_PARAMETER,
        message,
    };
    match (&t.source_protocol, t.source_type) {
        (None, SourceType::Live) => out.push(CreateViolation {
            param: "SourceProtocol",
            code: code::MISSING_PARAMETER,
            message: format!(
                "SourceProtocol is required for live sources; one of {}",
                SOURCE_PROTOCOLS.join(", ")
            ),
        }),
        (Some(p), _) if !SOURCE_PROTOCOLS.contains(&p.as_str()) => out.push(bad(
            "SourceProtocol",
            format!(
                "{p:?} is not a SourceProtocol; one of {}",
                SOURCE_PROTOCOLS.join(", ")
            ),
        )),
        _ => {}
    }
    // Create (unlike Update) lists RTSP for live pulls; accept rtsp:// when that is the protocol.
    let live = LiveSchemes {
        rtsp: t.source_protocol.as_deref() == Some("rtsp"),
    };
    let mut sources = Vec::new();
    check_sources(&t.source_urls, Some(t.source_type), live, &mut sources);
    out.extend(sources.into_iter().map(CreateViolation::from));
    let dst_len = t.dst_url.chars().count();
    if dst_len > DST_URL_MAX_LEN {
        out.push(bad(
            "DstUrl",
            format!("DstUrl is {dst_len} characters long; at most {DST_URL_MAX_LEN} are allowed"),
        ));
    } else if !matches!(url::Url::parse(&t.dst_url), Ok(u) if u.scheme() == "rtmp" && u.host_str().is_some_and(|h| !h.is_empty()))
    {
        out.push(bad(
            "DstUrl",
            format!(
                "{:?} is not an RTMP ingest URL; write e.g. rtmp://push.example.com/app/stream",
                t.dst_url
            ),
        ));
    }
    let mut times = Vec::new();
    check_times(Some(t.start_time), Some(t.end_time), true, now, &mut times);
    out.extend(times.into_iter().map(CreateViolation::from));
    let numbers = Numbers {
        repeat_number: t.repeat_number,
        offset: t.offset,
        file_index: t.file_index,
    };
    let mut nums = Vec::new();
    check_numbers(
        numbers,
        Some(t.source_type),
        Some(t.source_urls.len()),
        &mut nums,
    );
    out.extend(nums.into_iter().map(CreateViolation::from));
    if let Some(cb) = &t.callback_url {
        out.extend(check_callback_url(cb).map(CreateViolation::from));
    }
    if let Some(n) = t.retry_interval
        && !(RETRY_INTERVAL_MIN..=RETRY_INTERVAL_MAX).contains(&n)
    {
        out.push(bad(
            "RetryInterval",
            format!(
                "RetryInterval {n} is outside {RETRY_INTERVAL_MIN} to {RETRY_INTERVAL_MAX} seconds"
            ),
        ));
    }
    if let Some(n) = t.retry_count
        && n < 0
    {
        out.push(bad(
            "RetryCount",
            format!("RetryCount {n} must be 0 or more"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> ApiTime {
        ApiTime::parse(s).unwrap()
    }

    fn base() -> NewTask {
        NewTask {
            region: Region::CnShanghai,
            source_type: SourceType::Live,
            source_protocol: Some("rtmp".into()),
            source_urls: vec!["rtmp://pull.example.com/app/s".into()],
            dst_url: "rtmp://push.example.com/app/s".into(),
            start_time: t("2026-01-02T00:00:00Z"),
            end_time: t("2026-01-03T00:00:00Z"),
            task_name: None,
            callback_url: None,
            repeat_number: None,
            offset: None,
            file_index: None,
            retry_count: None,
            retry_interval: None,
        }
    }

    fn params(v: &[CreateViolation]) -> Vec<(&'static str, &'static str)> {
        v.iter().map(|x| (x.param, x.code)).collect()
    }

    #[test]
    fn a_good_create_passes() {
        assert!(check_create(&base(), t("2026-01-01T00:00:00Z")).is_empty());
    }

    #[test]
    fn create_rules() {
        let now = t("2026-01-01T00:00:00Z");
        let mut c = base();
        c.source_protocol = None;
        c.dst_url = "http://push/app".into();
        c.end_time = t("2026-01-10T00:00:00Z");
        c.retry_interval = Some(59);
        c.repeat_number = Some(2);
        assert_eq!(
            params(&check_create(&c, now)),
            vec![
                ("SourceProtocol", code::MISSING_PARAMETER),
                ("DstUrl", code::INVALID_PARAMETER),
                ("EndTime", code::ILLEGAL_DURATION),
                ("RepeatNumber", code::INVALID_PARAMETER),
                ("RetryInterval", code::INVALID_PARAMETER),
            ]
        );
        let mut r = base();
        r.source_protocol = Some("rtsp".into());
        r.source_urls = vec!["rtsp://cam.example.com/s".into()];
        assert!(check_create(&r, now).is_empty());
        r.source_protocol = Some("rtmp".into());
        assert_eq!(
            params(&check_create(&r, now)),
            vec![("SourceUrls", code::INVALID_PARAMETER)]
        );
        r.source_protocol = Some("webrtc".into());
        assert_eq!(
            params(&check_create(&r, now))[0],
            ("SourceProtocol", code::INVALID_PARAMETER)
        );
    }
}
