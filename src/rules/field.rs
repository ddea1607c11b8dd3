//! What each field accepts on its own: the reference's words per field, the strict parsers (a
//! field's text → its typed value, shared so that a manifest and a request are read alike), and the
//! checks every operation shares — Update offline, Update against live state, and Create.

use super::{Violation, code};
use std::borrow::Cow;

use crate::model::{ApiTime, Field, Kind, Region, SourceType, Update, Value};

/// Longest `TaskId` accepted.
pub const TASK_ID_MAX_LEN: usize = 55;
/// Most `SourceUrls` for `vod` and `url` sources; `live` takes exactly one.
pub const SOURCE_URLS_MAX: usize = 30;
/// Longest `CallbackUrl` (characters).
pub const CALLBACK_URL_MAX_LEN: usize = 2000;
/// Longest StartTime → EndTime span, in seconds (7 days).
pub const MAX_SPAN_SECS: i64 = 7 * 24 * 3600;
/// Smallest `RepeatNumber` (-1 loops forever).
pub const REPEAT_NUMBER_MIN: i32 = -1;

/// What the manifest reference says of each field's values, in words; validation quotes it in its
/// messages. What is required, sent or a change is the field table's to say (`model::Field::spec`).
#[derive(Debug, Clone, Copy)]
pub struct FieldRule {
    pub field: Field,
    /// What values are allowed, in words.
    pub allowed: &'static str,
}

pub const FIELD_RULES: [FieldRule; 11] = [
    FieldRule {
        field: Field::TaskId,
        allowed: "letters, digits, '_' and '-', 1 to 55 characters",
    },
    FieldRule {
        field: Field::Region,
        allowed: "one of ap-southeast-1, ap-southeast-5, cn-beijing, cn-shanghai",
    },
    FieldRule {
        field: Field::StartTime,
        allowed: "UTC time as yyyy-MM-ddTHH:mm:ssZ; cannot change after the task started",
    },
    FieldRule {
        field: Field::EndTime,
        allowed: "UTC time as yyyy-MM-ddTHH:mm:ssZ, after StartTime, after now, at most 7 days after StartTime",
    },
    FieldRule {
        field: Field::SourceUrls,
        allowed: "live: exactly 1 rtmp://, srt:// or http(s) FLV URL; url: up to 30 http(s) MP4 or FLV URLs; vod: up to 30 VOD media IDs",
    },
    FieldRule {
        field: Field::RepeatNumber,
        allowed: "-1 (loop forever), 0 (no repeat) or a positive count; vod and url sources only",
    },
    FieldRule {
        field: Field::Offset,
        allowed: "seconds into the first video, greater than 0; vod and url sources only",
    },
    FieldRule {
        field: Field::FileIndex,
        allowed: "0 or more, and less than the number of SourceUrls",
    },
    FieldRule {
        field: Field::CallbackUrl,
        allowed: "an absolute http:// or https:// URL of at most 2000 characters",
    },
    FieldRule {
        field: Field::RegionId,
        allowed: "the common RegionId parameter that routes the call (not where the task runs)",
    },
    FieldRule {
        field: Field::SourceType,
        allowed: "live, vod or url; never sent, lets source rules be checked offline",
    },
];

/// The fields every update must give: the identifying ones of the field table.
pub fn required_fields() -> impl Iterator<Item = Field> {
    Field::required()
}

pub fn field_rule(field: Field) -> &'static FieldRule {
    FIELD_RULES
        .iter()
        .find(|r| r.field == field)
        .expect("FIELD_RULES lists every Field")
}

// ---------------------------------------------------------------------------------------------
// Parsers: a field's text → its typed value. Shared so that a manifest and a request are read alike.

/// `did you mean X? ` when `s` is a plausible typo of one of `names`, else nothing.
fn did_you_mean<'a>(s: &str, names: impl Iterator<Item = &'a str>) -> String {
    crate::text::closest(s.trim(), names)
        .map(|c| format!("did you mean {c}? "))
        .unwrap_or_default()
}

pub fn parse_region(s: &str) -> Result<Region, Violation> {
    s.parse().map_err(|_| {
        Violation::invalid(
            Field::Region,
            format!(
                "{:?} is not a Region; {}{}",
                crate::text::escape(s),
                did_you_mean(s, Region::ALL.iter().map(|r| r.as_str())),
                field_rule(Field::Region).allowed
            ),
        )
    })
}

pub fn parse_source_type(s: &str) -> Result<SourceType, Violation> {
    s.parse().map_err(|_| {
        Violation::invalid(
            Field::SourceType,
            format!(
                "{:?} is not a SourceType; {}expected live, vod or url",
                crate::text::escape(s),
                did_you_mean(s, SourceType::ALL.iter().map(|t| t.as_str()))
            ),
        )
    })
}

/// Strict integer: optional `-`, then decimal digits only, within i32. Rejects `1e3`, `" 5"`, `+5`,
/// `5.0` and values beyond i32, each with a message saying what would be right.
pub fn parse_int(field: Field, s: &str) -> Result<i32, Violation> {
    parse_whole(field.name(), s).map_err(|m| Violation::invalid(field, m))
}

/// [`parse_int`] for a parameter that is not a manifest [`Field`] (Create's `RetryCount`, a list's
/// `PageNumber`): `name` is what the message calls it. The error is the message alone.
pub fn parse_whole(name: &str, s: &str) -> Result<i32, String> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{s:?} is not a whole number; write plain decimal digits such as 0, 5 or -1"
        ));
    }
    s.parse::<i32>().map_err(|_| {
        format!("{s} is out of range; {name} must be between -2147483648 and 2147483647")
    })
}

pub fn parse_time(field: Field, s: &str) -> Result<ApiTime, Violation> {
    ApiTime::parse(s).map_err(|e| Violation::invalid(field, e.to_string()))
}

/// `SourceUrls` as the wire carries it: one JSON array of strings.
pub fn parse_source_urls_json(s: &str) -> Result<Vec<String>, Violation> {
    serde_json::from_str::<Vec<String>>(s).map_err(|e| {
        Violation::invalid(
            Field::SourceUrls,
            format!("SourceUrls must be a JSON array of strings such as [\"rtmp://host/app/stream\"]: {e}"),
        )
    })
}

/// `SourceUrls` written as one text value (a CSV cell, or a YAML string): a JSON array when it
/// starts with `[`, else values separated by `|`. Nothing is trimmed: stray spaces are reported by
/// the source checks rather than silently removed.
pub fn parse_source_urls_text(s: &str) -> Result<Vec<String>, Violation> {
    if s.trim_start().starts_with('[') {
        parse_source_urls_json(s)
    } else {
        Ok(s.split('|').map(str::to_string).collect())
    }
}

/// One field's text as a manifest writes it (a YAML scalar, a CSV cell) → its typed value, by the
/// field's [`Kind`]. `SourceUrls` may be a JSON array or values separated by `|`.
#[inline]
pub fn parse_text(field: Field, s: &str) -> Result<Value<'static>, Violation> {
    match field.kind() {
        Kind::Urls => parse_source_urls_text(s).map(|u| Value::Urls(Cow::Owned(u))),
        _ => parse_wire(field, s),
    }
}

/// One request parameter → its typed value, by the field's [`Kind`]: what the emulator reads, and
/// the inverse of [`Value::wire`]. `SourceUrls` is a JSON array.
#[inline]
pub fn parse_wire(field: Field, s: &str) -> Result<Value<'static>, Violation> {
    Ok(match field.kind() {
        Kind::Text => Value::Text(Cow::Owned(s.to_string())),
        Kind::Region => Value::Region(parse_region(s)?),
        Kind::Time => Value::Time(parse_time(field, s)?),
        Kind::Int => Value::Int(parse_int(field, s)?),
        Kind::Urls => Value::Urls(Cow::Owned(parse_source_urls_json(s)?)),
        Kind::SourceType => Value::SourceType(parse_source_type(s)?),
    })
}

// ---------------------------------------------------------------------------------------------
// Checks on typed values.

pub fn check_task_id(id: &str) -> Option<Violation> {
    let ok_chars = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    // All-ASCII (the only valid case) means bytes are characters.
    let len = if ok_chars {
        id.len()
    } else {
        id.chars().count()
    };
    if id.is_empty() || !ok_chars || len > TASK_ID_MAX_LEN {
        let why = if id.is_empty() {
            "TaskId is empty".to_string()
        } else if !ok_chars {
            format!("TaskId {id:?} has characters other than letters, digits, '_' and '-'")
        } else {
            format!("TaskId is {len} characters long; at most {TASK_ID_MAX_LEN} are allowed")
        };
        return Some(Violation::invalid(Field::TaskId, why));
    }
    None
}

fn has_ext(path: &str, exts: &[&str]) -> bool {
    let lower = path.to_ascii_lowercase();
    exts.iter().any(|e| lower.ends_with(e))
}

/// Which live-source schemes an operation accepts besides `rtmp://`, `srt://` and http(s) FLV:
/// Update never takes `rtsp://`; Create takes it when the request's `SourceProtocol` is `rtsp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LiveSchemes {
    pub rtsp: bool,
}

/// Checks one source against its source type (when known); `None` when it is acceptable.
pub fn check_source(source_type: Option<SourceType>, src: &str) -> Option<String> {
    check_source_with(source_type, src, LiveSchemes::default())
}

/// [`check_source`] with the live schemes the operation accepts.
pub fn check_source_with(
    source_type: Option<SourceType>,
    src: &str,
    live: LiveSchemes,
) -> Option<String> {
    if src.trim().is_empty() {
        return Some("a source URL is empty".into());
    }
    if has_hidden_or_space(src) {
        return Some(format!(
            "\"{}\" contains white space, control or invisible characters",
            crate::text::escape(src)
        ));
    }
    let parsed = url::Url::parse(src).ok();
    match source_type {
        None => None,
        Some(SourceType::Vod) => {
            let ok = !src.contains("://")
                && src.len() <= 64
                && src
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            (!ok).then(|| format!("{src:?} is not a VOD media ID; vod sources are ApsaraVideo VOD media IDs, not URLs"))
        }
        Some(SourceType::Live) => {
            let ok = match &parsed {
                Some(u) if u.host_str().is_some() => match u.scheme() {
                    "rtmp" | "srt" => true,
                    "rtsp" => live.rtsp,
                    "http" | "https" => has_ext(u.path(), &[".flv"]),
                    _ => false,
                },
                _ => false,
            };
            (!ok).then(|| {
                let rtsp = if live.rtsp { "rtsp://, " } else { "" };
                format!(
                    "{src:?} is not a live source; use rtmp://, {rtsp}srt:// or an http(s) FLV URL"
                )
            })
        }
        Some(SourceType::Url) => {
            let ok = match &parsed {
                Some(u) if u.host_str().is_some() => {
                    matches!(u.scheme(), "http" | "https") && has_ext(u.path(), &[".mp4", ".flv"])
                }
                _ => false,
            };
            (!ok).then(|| {
                format!("{src:?} is not a url source; use an http(s) URL of an MP4 or FLV file")
            })
        }
    }
}

/// White space, a control character or an invisible format character (see
/// [`crate::text::is_hidden`]): none belongs in a URL or an identifier, and each can make what a
/// reviewer reads differ from what is sent (a CR hides the start of a line; URL parsers drop tabs
/// and line ends silently).
pub fn has_hidden_or_space(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_whitespace() || crate::text::is_hidden(c))
}

pub fn check_callback_url(s: &str) -> Option<Violation> {
    if has_hidden_or_space(s) {
        return Some(Violation::invalid(
            Field::CallbackUrl,
            format!(
                "\"{}\" contains white space, control or invisible characters; a URL has none (percent-encode them, e.g. %20)",
                crate::text::escape(s)
            ),
        ));
    }
    let len = s.chars().count();
    if len > CALLBACK_URL_MAX_LEN {
        return Some(Violation::invalid(
            Field::CallbackUrl,
            format!(
                "CallbackUrl is {len} characters long; at most {CALLBACK_URL_MAX_LEN} are allowed"
            ),
        ));
    }
    match url::Url::parse(s) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            None
        }
        _ => Some(Violation::invalid(
            Field::CallbackUrl,
            format!(
                "{s:?} is not an absolute http(s) URL; write e.g. https://hooks.example.com/live"
            ),
        )),
    }
}

pub(super) fn check_sources(
    urls: &[String],
    source_type: Option<SourceType>,
    live: LiveSchemes,
    out: &mut Vec<Violation>,
) {
    if urls.is_empty() {
        out.push(Violation::invalid(
            Field::SourceUrls,
            "SourceUrls is empty; give at least one source or leave the field out",
        ));
    }
    if source_type == Some(SourceType::Live) && urls.len() > 1 {
        out.push(Violation::invalid(
            Field::SourceUrls,
            format!("a live source takes exactly 1 URL, {} given", urls.len()),
        ));
    } else if urls.len() > SOURCE_URLS_MAX {
        out.push(Violation::invalid(
            Field::SourceUrls,
            format!(
                "{} sources given; at most {SOURCE_URLS_MAX} are allowed",
                urls.len()
            ),
        ));
    }
    for u in urls {
        if let Some(why) = check_source_with(source_type, u, live) {
            out.push(Violation::invalid(Field::SourceUrls, why));
        }
    }
}

fn check_vod_url_only(field: Field, source_type: Option<SourceType>, out: &mut Vec<Violation>) {
    if source_type == Some(SourceType::Live) {
        out.push(Violation::invalid(
            field,
            format!("{field} applies only to vod and url sources, and this task is live"),
        ));
    }
}

/// Checks the time rules on the effective start and end of a task.
pub(super) fn check_times(
    start: Option<ApiTime>,
    end: Option<ApiTime>,
    end_is_new: bool,
    now: ApiTime,
    out: &mut Vec<Violation>,
) {
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            out.push(Violation::error(
                Field::EndTime,
                code::ILLEGAL_DURATION,
                format!("EndTime {e} is not after StartTime {s}"),
            ));
        } else if e.unix() - s.unix() > MAX_SPAN_SECS {
            out.push(Violation::error(
                Field::EndTime,
                code::ILLEGAL_DURATION,
                format!("EndTime {e} is more than 7 days after StartTime {s}"),
            ));
        }
    }
    if end_is_new
        && let Some(e) = end
        && e <= now
    {
        out.push(Violation::invalid(
            Field::EndTime,
            format!("EndTime {e} is not after the current time {now}"),
        ));
    }
}

/// The numeric fields an update or a create request may set.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Numbers {
    pub repeat_number: Option<i32>,
    pub offset: Option<i32>,
    pub file_index: Option<i32>,
}

impl From<&Update> for Numbers {
    fn from(u: &Update) -> Numbers {
        Numbers {
            repeat_number: u.repeat_number,
            offset: u.offset,
            file_index: u.file_index,
        }
    }
}

/// The number rules, given the source type and how many sources the task will have (when known).
pub(super) fn check_numbers(
    u: Numbers,
    source_type: Option<SourceType>,
    sources: Option<usize>,
    out: &mut Vec<Violation>,
) {
    if let Some(n) = u.repeat_number {
        if n < REPEAT_NUMBER_MIN {
            out.push(Violation::invalid(
                Field::RepeatNumber,
                format!("RepeatNumber {n} is below -1; use -1 (forever), 0 or a positive count"),
            ));
        }
        check_vod_url_only(Field::RepeatNumber, source_type, out);
    }
    if let Some(n) = u.offset {
        if n <= 0 {
            out.push(Violation::invalid(
                Field::Offset,
                format!("Offset {n} must be greater than 0 (seconds)"),
            ));
        }
        check_vod_url_only(Field::Offset, source_type, out);
    }
    if let Some(n) = u.file_index {
        if n < 0 {
            out.push(Violation::invalid(
                Field::FileIndex,
                format!("FileIndex {n} must be 0 or more"),
            ));
        } else if let Some(len) = sources
            && n as usize >= len
        {
            out.push(Violation::invalid(
                Field::FileIndex,
                format!(
                    "FileIndex {n} is outside SourceUrls, which has {len} entries (valid: 0 to {})",
                    len.saturating_sub(1)
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_character_is_shown_escaped_once() {
        let v = check_callback_url("https://a.example.com/x\rhttps://evil").unwrap();
        assert!(
            v.message
                .starts_with("\"https://a.example.com/x\\rhttps://evil\" contains"),
            "{}",
            v.message
        );
    }

    #[test]
    fn the_table_lists_every_field_once_and_marks_the_required_ones() {
        for f in Field::ALL {
            assert_eq!(
                FIELD_RULES.iter().filter(|r| r.field == f).count(),
                1,
                "{f}"
            );
        }
        let required: Vec<Field> = required_fields().collect();
        assert_eq!(required, [Field::TaskId, Field::Region]);
    }

    #[test]
    fn strict_ints() {
        assert_eq!(parse_int(Field::Offset, "5").unwrap(), 5);
        assert_eq!(parse_int(Field::RepeatNumber, "-1").unwrap(), -1);
        for bad in ["1e3", " 5", "+5", "5.0", "", "-", "0x10"] {
            assert!(parse_int(Field::Offset, bad).is_err(), "{bad:?}");
        }
        let e = parse_int(Field::Offset, "2147483648").unwrap_err();
        assert!(e.message.contains("out of range"));
    }
    #[test]
    fn typos_get_a_suggestion() {
        for (typo, want) in [
            ("cn-shanghia", "did you mean cn-shanghai? "),
            ("CN-Beijing", "did you mean cn-beijing? "),
            ("ap-southeast1", "did you mean ap-southeast-1? "),
            ("vdo", "did you mean vod? "),
        ] {
            let m = if typo == "vdo" {
                parse_source_type(typo).unwrap_err()
            } else {
                parse_region(typo).unwrap_err()
            };
            assert!(m.message.contains(want), "{typo}: {}", m.message);
        }
        let m = parse_region("us-east-1").unwrap_err().message;
        assert!(!m.contains("did you mean"), "{m}");
        assert!(m.contains("one of ap-southeast-1"), "{m}");
    }
    #[test]
    fn task_ids() {
        assert!(check_task_id("fd245384-4067-4f91-9d75-9666a6bc0000").is_none());
        assert!(check_task_id("").is_some());
        assert!(check_task_id("a b").is_some());
        assert!(check_task_id(&"a".repeat(55)).is_none());
        assert!(check_task_id(&"a".repeat(56)).is_some());
    }
    #[test]
    fn sources_by_type() {
        use SourceType::*;
        assert!(check_source(Some(Live), "rtmp://h/app/s").is_none());
        assert!(check_source(Some(Live), "srt://h:9000?streamid=x").is_none());
        assert!(check_source(Some(Live), "https://h/app/s.flv").is_none());
        assert!(check_source(Some(Live), "https://h/app/s.mp4").is_some());
        assert!(check_source(Some(Live), "rtsp://h/s").is_some());
        assert!(check_source(Some(Url), "https://cdn/v/a.MP4?x=1").is_none());
        assert!(check_source(Some(Url), "rtmp://h/app/s").is_some());
        assert!(check_source(Some(Vod), "3f8e1c2b9a7d4e6f8a0b1c2d3e4f5a6b").is_none());
        assert!(check_source(Some(Vod), "https://x/y.mp4").is_some());
        assert!(check_source(None, "anything-goes").is_none());
        assert!(check_source(None, "has space").is_some());
        assert!(check_source(None, "rtmp://h/a\u{202E}b").is_some());
    }
    #[test]
    fn a_parameter_that_is_not_a_field_is_named_in_its_message() {
        assert_eq!(parse_whole("RetryCount", "7"), Ok(7));
        let m = parse_whole("RetryCount", "99999999999").unwrap_err();
        assert!(m.contains("RetryCount must be between"), "{m}");
        let m = parse_int(Field::Offset, "99999999999").unwrap_err().message;
        assert!(m.contains("Offset must be between"), "{m}");
    }

    #[test]
    fn rtsp_is_a_live_source_only_where_the_operation_accepts_it() {
        let rtsp = LiveSchemes { rtsp: true };
        let src = "rtsp://cam.example.com/s";
        assert!(check_source(Some(SourceType::Live), src).is_some());
        assert!(check_source_with(Some(SourceType::Live), src, rtsp).is_none());
        // The parameter widens live sources only: a url source is still http(s) media.
        assert!(check_source_with(Some(SourceType::Url), src, rtsp).is_some());
        // A URL that merely mentions rtsp:// is not an RTSP source.
        let m = check_source_with(Some(SourceType::Live), "ftp://h/rtsp://x", rtsp).unwrap();
        assert!(m.contains("use rtmp://, rtsp://, srt://"), "{m}");
    }

    #[test]
    fn source_urls_as_text() {
        assert_eq!(
            parse_source_urls_text(r#"["rtmp://a/b"]"#).unwrap(),
            vec!["rtmp://a/b"]
        );
        assert_eq!(
            parse_source_urls_text("https://a/1.mp4|https://a/2.mp4").unwrap(),
            vec!["https://a/1.mp4", "https://a/2.mp4"]
        );
        assert!(parse_source_urls_text("[not json").is_err());
    }
}
