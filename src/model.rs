//! The domain types every stage shares: one task update, typed and validated.
//!
//! Manifests produce *located raw records* (see [`crate::manifest`]); validation turns each into an
//! [`Update`] or diagnostics. From here on the update is plain data: the plan diffs it, the client
//! sends it, the emulator receives it. Keeping one type for all of them means the bytes the plan shows
//! are the bytes the client signs.

use std::borrow::Cow;
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

// ---------------------------------------------------------------------------------------------
// The field table: what livebatch knows of each field, in one place.

/// How a field takes part in an update. Every consumer that treats fields alike reads this rather
/// than listing fields: what is required, what is sent, what counts as a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Names the task: required in every update, always sent, never a change (`TaskId`, `Region`).
    Identity,
    /// The common parameter that routes the call: sent when given, never a change (`RegionId`).
    Routing,
    /// What an update changes: sent when given.
    Change,
    /// Stated in manifests so that source rules can be checked offline; never sent (`SourceType`).
    ManifestOnly,
}

impl Role {
    /// Whether a field of this role is a request parameter.
    pub fn is_sent(self) -> bool {
        !matches!(self, Role::ManifestOnly)
    }
}

/// The type of a field's value: how its text is parsed (`rules::parse_text`, `rules::parse_wire`),
/// how it is written on the wire ([`Value::wire`]) and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Taken as written.
    Text,
    Region,
    /// [`ApiTime`].
    Time,
    /// A strict `i32`.
    Int,
    /// `SourceUrls`: a JSON array string on the wire.
    Urls,
    SourceType,
}

/// One row of the field table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub field: Field,
    /// The name requests and manifests use (the variant's own name).
    pub name: &'static str,
    pub role: Role,
    pub kind: Kind,
    /// The key under which Describe's `TaskInfo` reports the field's current value, when it does:
    /// the response's own spelling (`CallbackURL` where requests say `CallbackUrl`).
    pub described_as: Option<&'static str>,
}

/// Declares [`Field`], [`Field::ALL`] and the field table from one list, so that the three cannot
/// disagree. Each row: `Variant: role, kind, Describe's name;`.
macro_rules! field_table {
    ($( $(#[$doc:meta])* $field:ident: $role:ident, $kind:ident, $described:expr; )*) => {
        /// Every field of an update, by its wire name, in the documented order (the order of
        /// [`Update::changed_fields`], plan summaries and diagnostics). See [`Field::spec`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Field {
            $( $(#[$doc])* $field, )*
        }

        impl Field {
            pub const ALL: [Field; [$(stringify!($field)),*].len()] = [$(Field::$field),*];

            const SPECS: [FieldSpec; [$(stringify!($field)),*].len()] = [$(FieldSpec {
                field: Field::$field,
                name: stringify!($field),
                role: Role::$role,
                kind: Kind::$kind,
                described_as: $described,
            }),*];
        }
    };
}

// Adding a field: a row here; its arms in `Update::get`/`clear` (below), `TaskInfo::reported`
// (api/models.rs) and `SeedTask::set` (emulator/task.rs) — the compiler points at each — and in
// `Update::set` (its debug assertion and the round-trip test point there); its column in `export::ExportRecord` and `CSV_COLUMNS` (a test points there);
// its words in `rules::FIELD_RULES` and whatever checks it needs. Every other consumer (params,
// changed fields, validation's and the emulator's parsing, diff, fingerprint, drift, export's
// reading of live state, seeding) iterates this table; `field_table_tests.rs` checks they do.
field_table! {
    // field          role          kind        Describe's TaskInfo key
    TaskId:           Identity,     Text,       None;
    /// Where the task runs. Distinct from `RegionId`, which only routes the call.
    Region:           Identity,     Region,     None;
    StartTime:        Change,       Time,       Some("StartTime");
    EndTime:          Change,       Time,       Some("EndTime");
    SourceUrls:       Change,       Urls,       Some("SourceUrls");
    RepeatNumber:     Change,       Int,        Some("RepeatNumber");
    Offset:           Change,       Int,        Some("Offset");
    FileIndex:        Change,       Int,        Some("FileIndex");
    CallbackUrl:      Change,       Text,       Some("CallbackURL");
    RegionId:         Routing,      Text,       None;
    SourceType:       ManifestOnly, SourceType, Some("SourceType");
}

impl Field {
    /// This field's row of the table.
    pub fn spec(self) -> &'static FieldSpec {
        &Field::SPECS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn role(self) -> Role {
        self.spec().role
    }

    pub fn kind(self) -> Kind {
        self.spec().kind
    }

    /// Required in every update (and every call on one task): the identifying fields.
    pub fn is_required(self) -> bool {
        self.role() == Role::Identity
    }

    /// The fields every update must give.
    pub fn required() -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(|f| f.is_required())
    }

    /// See [`FieldSpec::described_as`].
    pub fn described_as(self) -> Option<&'static str> {
        self.spec().described_as
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

/// One field's typed value, borrowed from an [`Update`] (or owned, from a parser). Lets code that
/// treats fields alike — sending, comparing, copying — work over [`Field::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value<'a> {
    Text(Cow<'a, str>),
    Region(Region),
    Time(ApiTime),
    Int(i32),
    Urls(Cow<'a, [String]>),
    SourceType(SourceType),
}

impl Value<'_> {
    /// The value as a request parameter carries it: times as `yyyy-MM-ddTHH:mm:ssZ`, integers as
    /// decimal text, `SourceUrls` as one compact JSON array.
    pub fn wire(&self) -> String {
        match self {
            Value::Text(s) => s.to_string(),
            Value::Region(r) => r.as_str().to_string(),
            Value::Time(t) => t.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Urls(u) => source_urls_wire(u),
            Value::SourceType(t) => t.as_str().to_string(),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::Text(_) => Kind::Text,
            Value::Region(_) => Kind::Region,
            Value::Time(_) => Kind::Time,
            Value::Int(_) => Kind::Int,
            Value::Urls(_) => Kind::Urls,
            Value::SourceType(_) => Kind::SourceType,
        }
    }

    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Text(s) => Value::Text(Cow::Owned(s.into_owned())),
            Value::Urls(u) => Value::Urls(Cow::Owned(u.into_owned())),
            Value::Region(r) => Value::Region(r),
            Value::Time(t) => Value::Time(t),
            Value::Int(n) => Value::Int(n),
            Value::SourceType(t) => Value::SourceType(t),
        }
    }

    pub fn into_text(self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s.into_owned()),
            _ => None,
        }
    }

    pub fn into_urls(self) -> Option<Vec<String>> {
        match self {
            Value::Urls(u) => Some(u.into_owned()),
            _ => None,
        }
    }

    pub fn as_time(&self) -> Option<ApiTime> {
        match self {
            Value::Time(t) => Some(*t),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i32> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_region(&self) -> Option<Region> {
        match self {
            Value::Region(r) => Some(*r),
            _ => None,
        }
    }

    pub fn as_source_type(&self) -> Option<SourceType> {
        match self {
            Value::SourceType(t) => Some(*t),
            _ => None,
        }
    }
}

/// One validated update of one task: `None` means "leave unchanged".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    /// The fields this update would change: every [`Role::Change`] field it sets.
    pub fn changed_fields(&self) -> Vec<Field> {
        Field::ALL
            .into_iter()
            .filter(|&f| f.role() == Role::Change && self.is_set(f))
            .collect()
    }

    /// The business parameters of `UpdateLivePullToPush` exactly as the wire carries them: every
    /// sent field that is set ([`Role::is_sent`]), sorted by name, in its [`Value::wire`] form.
    pub fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut p: Vec<(&'static str, String)> = Field::ALL
            .into_iter()
            .filter(|f| f.role().is_sent())
            .filter_map(|f| self.get(f).map(|v| (f.name(), v.wire())))
            .collect();
        p.sort_by(|a, b| a.0.cmp(b.0));
        p
    }

    /// Whether the update gives `field` (the identifying fields always are).
    #[inline]
    pub fn is_set(&self, field: Field) -> bool {
        self.get(field).is_some()
    }

    /// The value the update gives `field`, borrowed; `None` means "leave unchanged".
    #[inline]
    pub fn get(&self, field: Field) -> Option<Value<'_>> {
        fn text(s: &Option<String>) -> Option<Value<'_>> {
            s.as_deref().map(|s| Value::Text(Cow::Borrowed(s)))
        }
        match field {
            Field::TaskId => Some(Value::Text(Cow::Borrowed(&self.task_id))),
            Field::Region => Some(Value::Region(self.region)),
            Field::StartTime => self.start_time.map(Value::Time),
            Field::EndTime => self.end_time.map(Value::Time),
            Field::SourceUrls => self
                .source_urls
                .as_deref()
                .map(|u| Value::Urls(Cow::Borrowed(u))),
            Field::RepeatNumber => self.repeat_number.map(Value::Int),
            Field::Offset => self.offset.map(Value::Int),
            Field::FileIndex => self.file_index.map(Value::Int),
            Field::CallbackUrl => text(&self.callback_url),
            Field::RegionId => text(&self.region_id),
            Field::SourceType => self.source_type.map(Value::SourceType),
        }
    }

    /// Gives `field` the value `v`. A value of another [`Kind`] than the field's is a bug in the
    /// caller (every parser returns the field's own kind): it is left out, and asserts in debug
    /// builds — which is also what a field missing here does (`get` and `clear` are the
    /// exhaustive ones; this is one match on the pair, the fastest form for validation's hot loop).
    #[inline]
    pub fn set(&mut self, field: Field, v: Value<'_>) {
        match (field, v) {
            (Field::TaskId, Value::Text(s)) => self.task_id = s.into_owned(),
            (Field::Region, Value::Region(r)) => self.region = r,
            (Field::StartTime, Value::Time(t)) => self.start_time = Some(t),
            (Field::EndTime, Value::Time(t)) => self.end_time = Some(t),
            (Field::SourceUrls, Value::Urls(u)) => self.source_urls = Some(u.into_owned()),
            (Field::RepeatNumber, Value::Int(n)) => self.repeat_number = Some(n),
            (Field::Offset, Value::Int(n)) => self.offset = Some(n),
            (Field::FileIndex, Value::Int(n)) => self.file_index = Some(n),
            (Field::CallbackUrl, Value::Text(s)) => self.callback_url = Some(s.into_owned()),
            (Field::RegionId, Value::Text(s)) => self.region_id = Some(s.into_owned()),
            (Field::SourceType, Value::SourceType(t)) => self.source_type = Some(t),
            (field, v) => debug_assert!(false, "{field} cannot take a {:?} value", v.kind()),
        }
    }

    /// Leaves `field` unchanged (unset); `false` for the identifying fields, which cannot be.
    pub fn clear(&mut self, field: Field) -> bool {
        match field {
            Field::TaskId | Field::Region => return false,
            Field::StartTime => self.start_time = None,
            Field::EndTime => self.end_time = None,
            Field::SourceUrls => self.source_urls = None,
            Field::RepeatNumber => self.repeat_number = None,
            Field::Offset => self.offset = None,
            Field::FileIndex => self.file_index = None,
            Field::CallbackUrl => self.callback_url = None,
            Field::RegionId => self.region_id = None,
            Field::SourceType => self.source_type = None,
        }
        true
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
    fn the_field_table_is_consistent() {
        for (i, f) in Field::ALL.into_iter().enumerate() {
            assert_eq!(f as usize, i);
            assert_eq!(f.spec().field, f);
            assert_eq!(Field::from_name(f.name()), Some(f));
            // Planning compares every changeable field with what Describe reports of it.
            if f.role() == Role::Change {
                assert!(f.described_as().is_some(), "{f}");
            }
        }
        assert_eq!(Field::CallbackUrl.described_as(), Some("CallbackURL"));
        let required: Vec<Field> = Field::required().collect();
        assert_eq!(required, [Field::TaskId, Field::Region]);
    }

    #[test]
    fn set_get_and_clear_agree() {
        let mut u = Update::new("t", Region::CnShanghai);
        u.set(Field::Offset, Value::Int(4));
        u.set(Field::CallbackUrl, Value::Text("https://h/x".into()));
        assert_eq!(u.offset, Some(4));
        assert_eq!(u.get(Field::CallbackUrl).unwrap().wire(), "https://h/x");
        assert_eq!(u.changed_fields(), [Field::Offset, Field::CallbackUrl]);
        assert!(u.clear(Field::Offset));
        assert!(!u.clear(Field::TaskId));
        assert_eq!(u.changed_fields(), [Field::CallbackUrl]);
    }

    #[test]
    fn status_codes_round_trip() {
        for code in [-1, 0, 1, 2, 3] {
            assert_eq!(TaskStatus::from_code(code).unwrap().code(), code);
        }
        assert!(TaskStatus::from_code(7).is_none());
    }
}
