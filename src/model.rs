//! The domain types every stage shares: one task update, typed and validated.
//!
//! Manifests produce *located raw records* (see [`crate::manifest`]); validation turns each into an
//! [`Update`] or diagnostics. From here on the update is plain data: the plan diffs it, the client
//! sends it, the emulator receives it. Keeping one type for all of them means the bytes the plan shows
//! are the bytes the client signs.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a task runs. Distinct from the common `RegionId` parameter, which only routes the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Region {
    #[serde(rename = "ap-southeast-1")]
    ApSoutheast1,
    #[serde(rename = "ap-southeast-5")]
    ApSoutheast5,
    #[serde(rename = "cn-beijing")]
    CnBeijing,
    #[serde(rename = "cn-shanghai")]
    CnShanghai,
}

impl Region {
    pub const ALL: [Region; 4] = [
        Region::ApSoutheast1,
        Region::ApSoutheast5,
        Region::CnBeijing,
        Region::CnShanghai,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Region::ApSoutheast1 => "ap-southeast-1",
            Region::ApSoutheast5 => "ap-southeast-5",
            Region::CnBeijing => "cn-beijing",
            Region::CnShanghai => "cn-shanghai",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Region {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Region::ALL.into_iter().find(|r| r.as_str() == s).ok_or(())
    }
}

/// What a task pulls from. Never sent on update; stated in manifests so source rules can be checked
/// offline, and read from live state when planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceType {
    Live,
    Vod,
    Url,
}

impl SourceType {
    pub const ALL: [SourceType; 3] = [SourceType::Live, SourceType::Vod, SourceType::Url];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Live => "live",
            SourceType::Vod => "vod",
            SourceType::Url => "url",
        }
    }
}

impl fmt::Display for SourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        SourceType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(())
    }
}

/// `TaskStatus` as Describe reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "i32", try_from = "i32")]
pub enum TaskStatus {
    NotStarted,
    Running,
    RunningAbnormal,
    Stopped,
    Exited,
}

impl TaskStatus {
    pub fn code(self) -> i32 {
        match self {
            TaskStatus::NotStarted => 0,
            TaskStatus::Running => 1,
            TaskStatus::RunningAbnormal => 2,
            TaskStatus::Stopped => 3,
            TaskStatus::Exited => -1,
        }
    }

    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            0 => TaskStatus::NotStarted,
            1 => TaskStatus::Running,
            2 => TaskStatus::RunningAbnormal,
            3 => TaskStatus::Stopped,
            -1 => TaskStatus::Exited,
            _ => return None,
        })
    }

    /// Running for the update rules: the page counts retrying-after-an-exception as running.
    pub fn is_running(self) -> bool {
        matches!(self, TaskStatus::Running | TaskStatus::RunningAbnormal)
    }

    pub fn name(self) -> &'static str {
        match self {
            TaskStatus::NotStarted => "not started",
            TaskStatus::Running => "running",
            TaskStatus::RunningAbnormal => "running (retrying)",
            TaskStatus::Stopped => "stopped",
            TaskStatus::Exited => "exited",
        }
    }
}

impl From<TaskStatus> for i32 {
    fn from(s: TaskStatus) -> i32 {
        s.code()
    }
}

impl TryFrom<i32> for TaskStatus {
    type Error = String;
    fn try_from(code: i32) -> Result<Self, String> {
        TaskStatus::from_code(code).ok_or_else(|| format!("unknown TaskStatus {code}"))
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The API's only time format, `yyyy-MM-ddTHH:mm:ssZ` in UTC. Stored parsed; printed back exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiTime(pub DateTime<Utc>);

/// Why a time string is not in the API's format; the message says what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error(
        "expected yyyy-MM-ddTHH:mm:ssZ (UTC, 20 characters, e.g. 2026-01-02T03:04:05Z), got {0:?}"
    )]
    Shape(String),
    #[error("{0:?} is not a real date or time")]
    NoSuchDate(String),
}

impl ApiTime {
    /// Strict parse: the 20-character shape first (chrono alone accepts `2026-1-2T3:4:5Z`),
    /// then calendar checks. Offsets, fractions and lower-case `z` are rejected.
    pub fn parse(s: &str) -> Result<ApiTime, TimeError> {
        let b = s.as_bytes();
        let shape_ok = b.len() == 20
            && b.iter().enumerate().all(|(i, &c)| match i {
                4 | 7 => c == b'-',
                10 => c == b'T',
                13 | 16 => c == b':',
                19 => c == b'Z',
                _ => c.is_ascii_digit(),
            });
        if !shape_ok {
            return Err(TimeError::Shape(s.to_string()));
        }
        let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(u32::MAX);
        let date = NaiveDate::from_ymd_opt(num(0..4) as i32, num(5..7), num(8..10));
        let time = NaiveTime::from_hms_opt(num(11..13), num(14..16), num(17..19));
        match (date, time) {
            (Some(d), Some(t)) => Ok(ApiTime(NaiveDateTime::new(d, t).and_utc())),
            _ => Err(TimeError::NoSuchDate(s.to_string())),
        }
    }

    pub fn from_unix(secs: i64) -> Option<ApiTime> {
        DateTime::from_timestamp(secs, 0).map(ApiTime)
    }

    pub fn unix(self) -> i64 {
        self.0.timestamp()
    }
}

impl fmt::Display for ApiTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

impl Serialize for ApiTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ApiTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ApiTime::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Every field `UpdateLivePullToPush` accepts, by its wire name. The order is the documented order;
/// `SourceType` is manifest-only (never sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Field {
    TaskId,
    Region,
    StartTime,
    EndTime,
    SourceUrls,
    RepeatNumber,
    Offset,
    FileIndex,
    CallbackUrl,
    RegionId,
    SourceType,
}

impl Field {
    pub const ALL: [Field; 11] = [
        Field::TaskId,
        Field::Region,
        Field::StartTime,
        Field::EndTime,
        Field::SourceUrls,
        Field::RepeatNumber,
        Field::Offset,
        Field::FileIndex,
        Field::CallbackUrl,
        Field::RegionId,
        Field::SourceType,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::TaskId => "TaskId",
            Field::Region => "Region",
            Field::StartTime => "StartTime",
            Field::EndTime => "EndTime",
            Field::SourceUrls => "SourceUrls",
            Field::RepeatNumber => "RepeatNumber",
            Field::Offset => "Offset",
            Field::FileIndex => "FileIndex",
            Field::CallbackUrl => "CallbackUrl",
            Field::RegionId => "RegionId",
            Field::SourceType => "SourceType",
        }
    }

    pub fn from_name(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == s)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One validated update of one task: `None` means "leave unchanged".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub task_id: String,
    pub region: Region,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<ApiTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<ApiTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_number: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_index: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Manifest-only: lets source rules be checked without live state. Never sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<SourceType>,
}

impl Update {
    pub fn new(task_id: impl Into<String>, region: Region) -> Update {
        Update {
            task_id: task_id.into(),
            region,
            region_id: None,
            start_time: None,
            end_time: None,
            source_urls: None,
            repeat_number: None,
            offset: None,
            file_index: None,
            callback_url: None,
            source_type: None,
        }
    }

    /// The fields this update would change (everything set except the identifying ones).
    pub fn changed_fields(&self) -> Vec<Field> {
        let mut out = Vec::new();
        let set = [
            (Field::StartTime, self.start_time.is_some()),
            (Field::EndTime, self.end_time.is_some()),
            (Field::SourceUrls, self.source_urls.is_some()),
            (Field::RepeatNumber, self.repeat_number.is_some()),
            (Field::Offset, self.offset.is_some()),
            (Field::FileIndex, self.file_index.is_some()),
            (Field::CallbackUrl, self.callback_url.is_some()),
        ];
        for (f, is_set) in set {
            if is_set {
                out.push(f);
            }
        }
        out
    }

    /// The business parameters of `UpdateLivePullToPush` exactly as the wire carries them: sorted by
    /// name, integers as decimal text, `SourceUrls` as one compact JSON array string.
    pub fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut p: Vec<(&'static str, String)> = vec![
            ("TaskId", self.task_id.clone()),
            ("Region", self.region.as_str().to_string()),
        ];
        if let Some(v) = &self.region_id {
            p.push(("RegionId", v.clone()));
        }
        if let Some(v) = self.start_time {
            p.push(("StartTime", v.to_string()));
        }
        if let Some(v) = self.end_time {
            p.push(("EndTime", v.to_string()));
        }
        if let Some(v) = &self.source_urls {
            p.push(("SourceUrls", source_urls_wire(v)));
        }
        if let Some(v) = self.repeat_number {
            p.push(("RepeatNumber", v.to_string()));
        }
        if let Some(v) = self.offset {
            p.push(("Offset", v.to_string()));
        }
        if let Some(v) = self.file_index {
            p.push(("FileIndex", v.to_string()));
        }
        if let Some(v) = &self.callback_url {
            p.push(("CallbackUrl", v.clone()));
        }
        p.sort_by(|a, b| a.0.cmp(b.0));
        p
    }
}

/// `SourceUrls` on the wire: one compact JSON array, e.g. `["rtmp://a/b"]`.
pub fn source_urls_wire(urls: &[String]) -> String {
    serde_json::to_string(urls).expect("a list of strings always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_time_is_strict() {
        assert_eq!(
            ApiTime::parse("2024-08-23T15:30:00Z").unwrap().to_string(),
            "2024-08-23T15:30:00Z"
        );
        for bad in [
            "2024-8-23T15:30:00Z",
            "2024-08-23T15:30:00+00:00",
            "2024-08-23T15:30:00.5Z",
            "2024-08-23 15:30:00Z",
            "2024-08-23T15:30:00z",
            "",
        ] {
            assert!(
                matches!(ApiTime::parse(bad), Err(TimeError::Shape(_))),
                "{bad}"
            );
        }
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
        ] {
            assert!(
                matches!(ApiTime::parse(bad), Err(TimeError::NoSuchDate(_))),
                "{bad}"
            );
        }
        assert!(ApiTime::parse("2024-02-29T23:59:59Z").is_ok());
    }

    #[test]
    fn params_are_sorted_and_wire_shaped() {
        let mut u = Update::new("t-1", Region::CnShanghai);
        u.source_urls = Some(vec!["rtmp://a/b".into(), "rtmp://c/d".into()]);
        u.repeat_number = Some(-1);
        // SourceType is manifest-only: it lets source rules be checked offline, never sent.
        u.source_type = Some(SourceType::Vod);
        let p = u.to_params();
        let names: Vec<_> = p.iter().map(|x| x.0).collect();
        assert_eq!(names, ["Region", "RepeatNumber", "SourceUrls", "TaskId"]);
        assert_eq!(p[2].1, r#"["rtmp://a/b","rtmp://c/d"]"#);
        assert_eq!(p[1].1, "-1");
    }

    #[test]
    fn status_codes_round_trip() {
        for code in [-1, 0, 1, 2, 3] {
            assert_eq!(TaskStatus::from_code(code).unwrap().code(), code);
        }
        assert!(TaskStatus::from_code(7).is_none());
    }
}
