//! The published rules of `UpdateLivePullToPush`, in one place, as data and pure checks.
//!
//! Three readers share this module: offline validation (manifest records → diagnostics), planning
//! (an update against a task's live state) and the emulator (which must refuse exactly what the
//! service refuses, with the same error codes). A change in the published rules is a change here.
//!
//! Parsers turn a field's text into its typed value (`parse_*`); checks take typed values
//! (`check_offline`, `check_against_live`). Every failure is a [`Violation`] that names the field,
//! says what is allowed, and carries the error code the service answers with.

use std::fmt;

use crate::api::models::TaskState;
use crate::model::{ApiTime, Field, Region, SourceType, TaskStatus, Update};

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

/// Error codes the service answers with, used by the emulator and shown in diagnostics.
pub mod code {
    pub const INVALID_PARAMETER: &str = "InvalidParameter";
    pub const ILLEGAL_DURATION: &str = "InvalidParam.CodeIllegalDuration";
    pub const TASK_HAS_STARTED: &str = "CodeTaskHasStarted";
    pub const TASK_NOT_EXIST: &str = "CodeTaskNotExist";
    pub const MISSING_PARAMETER: &str = "MissingParameter";
}

/// How serious a violation is: errors stop the batch, warnings are reported and the batch goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One broken rule, on one field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    pub field: Field,
    pub severity: Severity,
    /// The error code the service would answer with (empty for warnings).
    pub code: &'static str,
    /// What is wrong and what would be right.
    pub message: String,
}

impl Violation {
    pub fn error(field: Field, code: &'static str, message: impl Into<String>) -> Violation {
        Violation {
            field,
            severity: Severity::Error,
            code,
            message: message.into(),
        }
    }

    pub fn warning(field: Field, message: impl Into<String>) -> Violation {
        Violation {
            field,
            severity: Severity::Warning,
            code: "",
            message: message.into(),
        }
    }

    fn invalid(field: Field, message: impl Into<String>) -> Violation {
        Violation::error(field, code::INVALID_PARAMETER, message)
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What the manifest reference says of each field; the validator and `--help` text read it.
#[derive(Debug, Clone, Copy)]
pub struct FieldRule {
    pub field: Field,
    /// Required in every update.
    pub required: bool,
    /// Sent to the API (`SourceType` is manifest-only).
    pub sent: bool,
    /// What values are allowed, in words.
    pub allowed: &'static str,
}

pub const FIELD_RULES: [FieldRule; 11] = [
    FieldRule {
        field: Field::TaskId,
        required: true,
        sent: true,
        allowed: "letters, digits, '_' and '-', 1 to 55 characters",
    },
    FieldRule {
        field: Field::Region,
        required: true,
        sent: true,
        allowed: "one of ap-southeast-1, ap-southeast-5, cn-beijing, cn-shanghai",
    },
    FieldRule {
        field: Field::StartTime,
        required: false,
        sent: true,
        allowed: "UTC time as yyyy-MM-ddTHH:mm:ssZ; cannot change after the task started",
    },
    FieldRule {
        field: Field::EndTime,
        required: false,
        sent: true,
        allowed: "UTC time as yyyy-MM-ddTHH:mm:ssZ, after StartTime, after now, at most 7 days after StartTime",
    },
    FieldRule {
        field: Field::SourceUrls,
        required: false,
        sent: true,
        allowed: "live: exactly 1 rtmp://, srt:// or http(s) FLV URL; url: up to 30 http(s) MP4 or FLV URLs; vod: up to 30 VOD media IDs",
    },
    FieldRule {
        field: Field::RepeatNumber,
        required: false,
        sent: true,
        allowed: "-1 (loop forever), 0 (no repeat) or a positive count; vod and url sources only",
    },
    FieldRule {
        field: Field::Offset,
        required: false,
        sent: true,
        allowed: "seconds into the first video, greater than 0; vod and url sources only",
    },
    FieldRule {
        field: Field::FileIndex,
        required: false,
        sent: true,
        allowed: "0 or more, and less than the number of SourceUrls",
    },
    FieldRule {
        field: Field::CallbackUrl,
        required: false,
        sent: true,
        allowed: "an absolute http:// or https:// URL of at most 2000 characters",
    },
    FieldRule {
        field: Field::RegionId,
        required: false,
        sent: true,
        allowed: "the common RegionId parameter that routes the call (not where the task runs)",
    },
    FieldRule {
        field: Field::SourceType,
        required: false,
        sent: false,
        allowed: "live, vod or url; never sent, lets source rules be checked offline",
    },
];

pub fn field_rule(field: Field) -> &'static FieldRule {
    FIELD_RULES
        .iter()
        .find(|r| r.field == field)
        .expect("FIELD_RULES lists every Field")
}

/// Which statuses forbid changing a field, and why. Read by [`blocked_in_state`].
struct StateRule {
    field: Field,
    blocked: &'static [TaskStatus],
    code: &'static str,
    reason: &'static str,
}

use TaskStatus::{Exited, Running, RunningAbnormal, Stopped};

const ENDED: &str = "the task has ended; an ended task cannot be updated";
const RUNNING_ONLY: &str = "while the task is running only CallbackUrl and RepeatNumber can change; stop it first (or plan with --restart-running)";

/// The per-state rules of the published page: running → only `CallbackUrl`/`RepeatNumber`;
/// stopped → everything but `Region`; `Region` only before start; `StartTime` not after start;
/// `EndTime` not after the end. The first matching row is the one reported.
const STATE_RULES: &[StateRule] = &[
    StateRule {
        field: Field::Region,
        blocked: &[Running, RunningAbnormal, Stopped, Exited],
        code: code::TASK_HAS_STARTED,
        reason: "Region can change only before the task's scheduled start time",
    },
    StateRule {
        field: Field::StartTime,
        blocked: &[Running, RunningAbnormal, Stopped, Exited],
        code: code::TASK_HAS_STARTED,
        reason: "StartTime cannot change after the task started",
    },
    StateRule {
        field: Field::EndTime,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
    StateRule {
        field: Field::EndTime,
        blocked: &[Running, RunningAbnormal],
        code: code::INVALID_PARAMETER,
        reason: RUNNING_ONLY,
    },
    StateRule {
        field: Field::SourceUrls,
        blocked: &[Running, RunningAbnormal],
        code: code::INVALID_PARAMETER,
        reason: RUNNING_ONLY,
    },
    StateRule {
        field: Field::Offset,
        blocked: &[Running, RunningAbnormal],
        code: code::INVALID_PARAMETER,
        reason: RUNNING_ONLY,
    },
    StateRule {
        field: Field::FileIndex,
        blocked: &[Running, RunningAbnormal],
        code: code::INVALID_PARAMETER,
        reason: RUNNING_ONLY,
    },
    StateRule {
        field: Field::SourceUrls,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
    StateRule {
        field: Field::Offset,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
    StateRule {
        field: Field::FileIndex,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
    StateRule {
        field: Field::CallbackUrl,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
    StateRule {
        field: Field::RepeatNumber,
        blocked: &[Exited],
        code: code::INVALID_PARAMETER,
        reason: ENDED,
    },
];

/// Why `field` cannot change while the task is in `status`, or `None` when it can.
pub fn blocked_in_state(field: Field, status: TaskStatus) -> Option<Violation> {
    STATE_RULES
        .iter()
        .find(|r| r.field == field && r.blocked.contains(&status))
        .map(|r| Violation::error(field, r.code, format!("{} (task is {})", r.reason, status)))
}

/// Fields that need a stopped task: a running task must be stopped, updated and restarted.
pub const NEEDS_STOPPED: [Field; 3] = [Field::SourceUrls, Field::Offset, Field::FileIndex];

// ---------------------------------------------------------------------------------------------
// Parsers: a field's text → its typed value. Shared so that a manifest and a request are read alike.

/// `did you mean X? ` when `s` is a plausible typo of one of `names`, else nothing.
fn did_you_mean<'a>(s: &str, names: impl Iterator<Item = &'a str>) -> String {
    crate::manifest::closest(s.trim(), names)
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
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Violation::invalid(
            field,
            format!("{s:?} is not a whole number; write plain decimal digits such as 0, 5 or -1"),
        ));
    }
    s.parse::<i32>().map_err(|_| {
        Violation::invalid(
            field,
            format!("{s} is out of range; {field} must be between -2147483648 and 2147483647"),
        )
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

/// Checks one source against its source type (when known); `None` when it is acceptable.
pub fn check_source(source_type: Option<SourceType>, src: &str) -> Option<String> {
    if src.trim().is_empty() {
        return Some("a source URL is empty".into());
    }
    if has_hidden_or_space(src) {
        return Some(format!(
            "{:?} contains white space, control or invisible characters",
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
                    "http" | "https" => has_ext(u.path(), &[".flv"]),
                    _ => false,
                },
                _ => false,
            };
            (!ok).then(|| {
                format!("{src:?} is not a live source; use rtmp://, srt:// or an http(s) FLV URL")
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
                "{:?} contains white space, control or invisible characters; a URL has none (percent-encode them, e.g. %20)",
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

fn check_sources(urls: &[String], source_type: Option<SourceType>, out: &mut Vec<Violation>) {
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
        if let Some(why) = check_source(source_type, u) {
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
fn check_times(
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
                "{:?} contains white space, control or invisible characters; a RegionId such as cn-shanghai has none",
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
        check_sources(urls, u.source_type, &mut out);
    }
    check_numbers(
        u,
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

fn check_numbers(
    u: &Update,
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

/// The parts of a task's live state the rules depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTask {
    pub status: TaskStatus,
    pub source_type: Option<SourceType>,
    pub start_time: Option<ApiTime>,
    pub end_time: Option<ApiTime>,
    pub source_urls: Vec<String>,
}

impl LiveTask {
    /// Reads what Describe returned; unknown or unparsable values become `None` rather than errors,
    /// since a rule that cannot be evaluated is left to the service.
    pub fn from_state(s: &TaskState) -> Option<LiveTask> {
        Some(LiveTask {
            status: TaskStatus::from_code(s.task_status)?,
            source_type: s.task_info.source_type.parse().ok(),
            start_time: ApiTime::parse(&s.task_info.start_time).ok(),
            end_time: ApiTime::parse(&s.task_info.end_time).ok(),
            source_urls: s.task_info.source_urls.clone(),
        })
    }
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
        check_sources(urls, source_type, &mut out);
    }
    let sources = u
        .source_urls
        .as_ref()
        .map_or(live.source_urls.len(), Vec::len);
    check_numbers(u, source_type, Some(sources), &mut out);
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
    use TaskStatus::NotStarted;

    fn now() -> ApiTime {
        ApiTime::parse("2026-01-01T00:00:00Z").unwrap()
    }

    fn t(s: &str) -> ApiTime {
        ApiTime::parse(s).unwrap()
    }

    fn codes(v: &[Violation]) -> Vec<(Field, &'static str)> {
        v.iter().map(|x| (x.field, x.code)).collect()
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

    #[test]
    fn state_table() {
        assert!(blocked_in_state(Field::CallbackUrl, Running).is_none());
        assert!(blocked_in_state(Field::RepeatNumber, RunningAbnormal).is_none());
        assert_eq!(
            blocked_in_state(Field::SourceUrls, Running).unwrap().code,
            code::INVALID_PARAMETER
        );
        assert_eq!(
            blocked_in_state(Field::StartTime, Stopped).unwrap().code,
            code::TASK_HAS_STARTED
        );
        assert_eq!(
            blocked_in_state(Field::Region, Stopped).unwrap().code,
            code::TASK_HAS_STARTED
        );
        for f in [
            Field::SourceUrls,
            Field::Offset,
            Field::FileIndex,
            Field::EndTime,
            Field::CallbackUrl,
        ] {
            assert!(blocked_in_state(f, Stopped).is_none(), "{f}");
            assert!(blocked_in_state(f, NotStarted).is_none(), "{f}");
            assert!(blocked_in_state(f, Exited).is_some(), "{f}");
        }
        assert!(blocked_in_state(Field::Region, NotStarted).is_none());
        assert!(blocked_in_state(Field::StartTime, NotStarted).is_none());
    }

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

// ---------------------------------------------------------------------------------------------
// CreateLivePullToPush's own rules (added for the emulator; self-contained section).
//
// Create takes parameters Update does not (SourceType, SourceProtocol, DstUrl, TaskName,
// RetryCount, RetryInterval), so its violations name the wire parameter as text rather than a
// manifest [`Field`]. Field-shared rules (sources, times, numbers, callback) reuse the checks
// above, so that Create and Update can never disagree on them.

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

/// Every Create rule on a typed request. `now` is passed in, as for [`check_offline`].
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
    let rtsp = t.source_protocol.as_deref() == Some("rtsp");
    let mut sources = Vec::new();
    check_sources(&t.source_urls, Some(t.source_type), &mut sources);
    out.extend(
        sources
            .into_iter()
            .filter(|v| !(rtsp && v.message.contains("rtsp://")))
            .map(CreateViolation::from),
    );
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
    let mut u = Update::new("create", t.region);
    u.repeat_number = t.repeat_number;
    u.offset = t.offset;
    u.file_index = t.file_index;
    let mut nums = Vec::new();
    check_numbers(
        &u,
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
mod create_tests {
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
