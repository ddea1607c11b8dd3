//! One task: what it holds (the form `--seed`, the state file and the store share) and its
//! clock-driven lifecycle — the status it shows at a given `now`, and the two rules that make a
//! running task run abnormally: `--abnormal-rate`'s draw ([`Abnormal`]) and `--unreachable-source`'s
//! patterns ([`Unreachable`]). Pure: `now` is passed in, which is what lets lifecycle tests run
//! without sleeping.

use serde::{Deserialize, Serialize};

use crate::api::models::{TaskInfo, TaskState};
use crate::model::{self, ApiTime, Field, Region, SourceType, TaskStatus, Update};
use crate::rules;

/// One task, complete: what `--seed` and the state file hold, and what the store keeps.
///
/// `TaskStatus` is the *recorded* status: `Stopped`, `Exited` and `RunningAbnormal` stick until an
/// operation changes them; `NotStarted` and `Running` mean "let the clock decide" (not started
/// before `StartTime`, running after it). Any task is exited once the clock passes `EndTime`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SeedTask {
    pub task_id: String,
    pub region: Region,
    #[serde(default)]
    pub task_name: String,
    pub source_type: SourceType,
    #[serde(default)]
    pub source_protocol: String,
    pub source_urls: Vec<String>,
    pub dst_url: String,
    pub start_time: ApiTime,
    pub end_time: ApiTime,
    #[serde(default)]
    pub callback_url: String,
    #[serde(default)]
    pub repeat_number: i32,
    #[serde(default)]
    pub offset: i32,
    #[serde(default)]
    pub file_index: i32,
    #[serde(default = "default_retry_count")]
    pub retry_count: i32,
    #[serde(default = "default_retry_interval")]
    pub retry_interval: i32,
    #[serde(default = "default_status")]
    pub task_status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_exit_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_exit_time: Option<i64>,
    /// When the last Restart (re)started it, unix seconds: an abnormal task recovers then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<i64>,
}

fn default_retry_count() -> i32 {
    rules::RETRY_COUNT_DEFAULT
}
fn default_retry_interval() -> i32 {
    rules::RETRY_INTERVAL_DEFAULT
}
fn default_status() -> TaskStatus {
    TaskStatus::NotStarted
}

/// Why a seed entry cannot become a task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error(
        "seed task {task_id}: {field} is required to rebuild a task (write it, or export it with `livebatch export`)"
    )]
    Missing {
        task_id: String,
        field: &'static str,
    },
    #[error("seed task {task_id}: {field} {value:?} is not valid: {expected}")]
    Invalid {
        task_id: String,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("seed task {0} appears twice")]
    Duplicate(String),
}

impl SeedTask {
    /// Takes every field `u` changes ([`Update::changed_fields`]): what an accepted Update does
    /// to the task, and what a snapshot seed states.
    pub fn apply(&mut self, u: &Update) {
        for f in u.changed_fields() {
            if let Some(v) = u.get(f) {
                self.set(f, v);
            }
        }
    }

    /// Gives the task's `field` the value `v`. The fields a task does not hold as configuration
    /// (`TaskId` names it, `RegionId` routes a call, `SourceType` never changes; `Region` is set
    /// by the Update operation after its own rule) are left alone, as is a value of another kind.
    pub fn set(&mut self, field: Field, v: model::Value<'_>) {
        match field {
            Field::TaskId | Field::Region | Field::RegionId | Field::SourceType => {}
            Field::StartTime => self.start_time = v.as_time().unwrap_or(self.start_time),
            Field::EndTime => self.end_time = v.as_time().unwrap_or(self.end_time),
            Field::SourceUrls => {
                if let Some(u) = v.into_urls() {
                    self.source_urls = u;
                }
            }
            Field::RepeatNumber => self.repeat_number = v.as_int().unwrap_or(self.repeat_number),
            Field::Offset => self.offset = v.as_int().unwrap_or(self.offset),
            Field::FileIndex => self.file_index = v.as_int().unwrap_or(self.file_index),
            Field::CallbackUrl => {
                if let Some(s) = v.into_text() {
                    self.callback_url = s;
                }
            }
        }
    }

    /// The status the task shows at `now`, with the exit reason and time when it has exited.
    pub fn status_at(&self, now: ApiTime) -> (TaskStatus, Option<(String, i64)>) {
        match self.task_status {
            TaskStatus::Exited => (
                TaskStatus::Exited,
                Some((
                    self.task_exit_reason
                        .clone()
                        .unwrap_or_else(|| "TriggerByUser".into()),
                    self.task_exit_time.unwrap_or(self.end_time.unix()),
                )),
            ),
            _ if now >= self.end_time => (
                TaskStatus::Exited,
                Some(("OverEndTime".into(), self.end_time.unix())),
            ),
            TaskStatus::Stopped => (TaskStatus::Stopped, None),
            _ if now < self.start_time => (TaskStatus::NotStarted, None),
            TaskStatus::RunningAbnormal => (TaskStatus::RunningAbnormal, None),
            _ => (TaskStatus::Running, None),
        }
    }

    /// The status at `now` with injected abnormality: a running task that `injected` makes
    /// abnormal (see [`Injected::is_abnormal`]) is shown as running abnormally (2).
    pub fn status_with(
        &self,
        now: ApiTime,
        injected: &Injected,
    ) -> (TaskStatus, Option<(String, i64)>) {
        let (status, exit) = self.status_at(now);
        if status == TaskStatus::Running && injected.is_abnormal(self, now) {
            return (TaskStatus::RunningAbnormal, None);
        }
        (status, exit)
    }

    /// When the task last began to run: its `StartTime`, or the last Restart after it. Injected
    /// abnormality counts its delay from here, so a restart starts it afresh.
    fn running_since(&self) -> i64 {
        self.start_time
            .unix()
            .max(self.restarted_at.unwrap_or(i64::MIN))
    }

    /// What Describe and DescribeList report for this task at `now`.
    pub fn to_state(&self, now: ApiTime) -> TaskState {
        self.to_state_with(now, &Injected::default())
    }

    /// [`SeedTask::to_state`] with injected abnormality. A task running abnormally reports
    /// `TaskInvalidReason` `PullStreamFailed` (why it is retrying: for an unreachable source it is
    /// the truth; for `--abnormal-rate` the service documents the reasons for stopped tasks only,
    /// so this is the emulator's choice).
    pub fn to_state_with(&self, now: ApiTime, injected: &Injected) -> TaskState {
        let (status, exit) = self.status_with(now, injected);
        TaskState {
            task_id: self.task_id.clone(),
            task_status: status.code(),
            task_invalid_reason: match status {
                TaskStatus::Stopped => "UnknownError".into(),
                TaskStatus::RunningAbnormal => "PullStreamFailed".into(),
                _ => String::new(),
            },
            task_exit_reason: exit.as_ref().map(|e| e.0.clone()).unwrap_or_default(),
            task_exit_time: exit.map(|e| e.1),
            current_file_index: self.file_index,
            current_offset: self.offset,
            task_info: TaskInfo {
                task_id: self.task_id.clone(),
                task_name: self.task_name.clone(),
                source_type: self.source_type.as_str().into(),
                source_protocol: self.source_protocol.clone(),
                source_urls: self.source_urls.clone(),
                dst_url: self.dst_url.clone(),
                start_time: self.start_time.to_string(),
                end_time: self.end_time.to_string(),
                callback_url: self.callback_url.clone(),
                repeat_number: self.repeat_number,
                offset: self.offset,
                file_index: self.file_index,
                retry_count: self.retry_count,
                retry_interval: self.retry_interval,
            },
        }
    }
}

/// `--abnormal-rate`: which running tasks run abnormally, and from when. Pure: the choice is a
/// hash of the task ID and the run's seed, so it is the same on every read and after restarts.
///
/// A picked task turns abnormal (status 2, "running abnormally / retrying") a delay of 0–10
/// minutes (also from the hash) after it started or was last restarted, and stays so until it is
/// stopped or restarted. The service says updates in that state follow the running rules (only
/// `CallbackUrl` and `RepeatNumber`); Stop stops it; Restart starts it afresh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Abnormal {
    pub rate: f64,
    pub seed: u64,
}

/// Longest delay before a picked task turns abnormal.
const ABNORMAL_MAX_DELAY_SECS: u64 = 600;

impl Abnormal {
    fn hash(&self, id: &str) -> u64 {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.seed.to_le_bytes());
        h.update(id.as_bytes());
        let d = h.finalize();
        u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    }

    /// Whether `t` (running, by its recorded status and the clock) is abnormal at `now`.
    pub fn is_abnormal(&self, t: &SeedTask, now: ApiTime) -> bool {
        let h = self.hash(&t.task_id);
        if (h >> 11) as f64 / (1u64 << 53) as f64 >= self.rate {
            return false;
        }
        let delay = (h % (ABNORMAL_MAX_DELAY_SECS + 1)) as i64;
        now.unix() >= t.running_since() + delay
    }
}

/// What the emulator injects into running tasks' health: `--abnormal-rate`'s draw and
/// `--unreachable-source`'s patterns. The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Injected {
    /// `--abnormal-rate`; `None` (or a rate of 0) picks no task.
    pub abnormal: Option<Abnormal>,
    pub unreachable: Unreachable,
}

impl Injected {
    /// Whether `t`, running by its recorded status and the clock, runs abnormally at `now`:
    /// picked by the abnormal rate, or pulling from an unreachable source.
    pub fn is_abnormal(&self, t: &SeedTask, now: ApiTime) -> bool {
        self.abnormal
            .as_ref()
            .is_some_and(|a| a.is_abnormal(t, now))
            || self.unreachable.pull_fails(t, now)
    }
}

/// How long a task that pulls from an unreachable source runs normally after it (re)starts, in
/// seconds of the emulator's clock: the service too shows a task running until its pull has
/// failed. One second keeps a rehearsed bad rollout quick, yet a Describe right after the
/// restart still sees the task running, as it would on the service.
pub const UNREACHABLE_AFTER_SECS: i64 = 1;

/// `--unreachable-source`: source URLs the emulator cannot pull from. A running task with any
/// source URL that matches one of the patterns runs abnormally (2, `PullStreamFailed`)
/// [`UNREACHABLE_AFTER_SECS`] after it started or was last restarted, and until it is stopped; a
/// restart after an Update to reachable sources makes it run normally again. The patterns are
/// configuration, not state: they are not in the state file, and a restarted emulator has the
/// ones it is given then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unreachable {
    patterns: Vec<SourcePattern>,
}

impl Unreachable {
    pub fn new(patterns: Vec<SourcePattern>) -> Unreachable {
        Unreachable { patterns }
    }

    pub fn patterns(&self) -> &[SourcePattern] {
        &self.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// What the patterns do, said once at start-up so that abnormal tasks are no surprise:
    /// `sources matching 'https://bad.example/*' are unreachable: …`.
    pub fn describe(&self) -> String {
        let quoted: Vec<String> = self
            .patterns
            .iter()
            .map(|p| format!("'{}'", crate::text::escape(p.as_str())))
            .collect();
        format!(
            "sources matching {} are unreachable: a task running on one turns abnormal (2, PullStreamFailed) {UNREACHABLE_AFTER_SECS} s after it starts or restarts",
            quoted.join(" or ")
        )
    }

    /// Whether any of `t`'s source URLs matches a pattern.
    pub fn affects(&self, t: &SeedTask) -> bool {
        t.source_urls
            .iter()
            .any(|u| self.patterns.iter().any(|p| p.matches(u)))
    }

    /// Whether `t`, running by its recorded status and the clock, has failed to pull at `now`.
    pub fn pull_fails(&self, t: &SeedTask, now: ApiTime) -> bool {
        !self.patterns.is_empty()
            && self.affects(t)
            && now.unix() >= t.running_since() + UNREACHABLE_AFTER_SECS
    }
}

/// One `--unreachable-source` pattern: `*` matches any run of characters, none included; every
/// other character matches itself. Neither empty nor only `*`s ([`SourcePattern::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePattern(String);

/// Why a text is not a usable [`SourcePattern`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error(
        "an empty pattern names no source URL; write the unreachable part and `*` for the rest, e.g. 'https://bad.example/*'"
    )]
    Empty,
    #[error(
        "{0:?} is only `*`, which matches every source URL, so every running task would break; name the unreachable host or path and `*` for the rest, e.g. 'https://bad.example/*'"
    )]
    MatchesEverything(String),
}

impl SourcePattern {
    /// The pattern `text`, refused when empty or only `*`s (which would break every task).
    pub fn parse(text: &str) -> Result<SourcePattern, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.bytes().all(|b| b == b'*') {
            return Err(PatternError::MatchesEverything(text.to_string()));
        }
        Ok(SourcePattern(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, url: &str) -> bool {
        source_matches(&self.0, url)
    }
}

impl std::fmt::Display for SourcePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `url` matches `pattern`, where `*` matches any run of characters (none included) and
/// every other character only itself. The text between stars must appear in order: the first
/// part as a prefix, the last as a suffix, each middle part at its leftmost place after the one
/// before (leftmost leaves the most room for the rest, so it never misses a match).
pub fn source_matches(pattern: &str, url: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = url.strip_prefix(first) else {
        return false;
    };
    let mut middle: Vec<&str> = parts.collect();
    let Some(last) = middle.pop() else {
        // No star: the pattern is the whole URL.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    pub(crate) fn t(s: &str) -> ApiTime {
        ApiTime::parse(s).unwrap()
    }

    /// One stopped task's update and annotations, as a manifest entry seeds it; shared with the
    /// state file's tests.
    pub(crate) fn entry() -> (Update, BTreeMap<String, String>) {
        let mut u = Update::new("task-1", Region::CnBeijing);
        u.start_time = Some(t("2026-03-01T00:00:00Z"));
        u.end_time = Some(t("2026-03-02T00:00:00Z"));
        u.source_urls = Some(vec!["srt://pull.example.com:9000?streamid=a".into()]);
        u.callback_url = Some("https://hooks.example.com/x".into());
        let ann = [
            ("x-TaskStatus", "3"),
            ("x-TaskName", "night show"),
            ("x-DstUrl", "rtmp://push.example.com/app/a"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        (u, ann)
    }

    #[test]
    fn lifecycle_follows_the_clock() {
        let (u, mut ann) = entry();
        ann.insert("x-TaskStatus".into(), "0".into());
        let mut s = super::super::seed::from_entry(&u, &ann, t("2026-02-01T00:00:00Z")).unwrap();
        assert_eq!(
            s.status_at(t("2026-02-28T23:59:59Z")).0,
            TaskStatus::NotStarted
        );
        assert_eq!(
            s.status_at(t("2026-03-01T00:00:00Z")).0,
            TaskStatus::Running
        );
        let (st, exit) = s.status_at(t("2026-03-02T00:00:00Z"));
        assert_eq!(st, TaskStatus::Exited);
        assert_eq!(exit.unwrap().0, "OverEndTime");
        s.task_status = TaskStatus::Stopped;
        assert_eq!(
            s.status_at(t("2026-03-01T10:00:00Z")).0,
            TaskStatus::Stopped
        );
        assert_eq!(s.to_state(t("2026-03-01T10:00:00Z")).task_status, 3);
    }

    /// A task running since 2026-03-01 on a source `unreachable` calls bad.
    fn running_on(url: &str) -> SeedTask {
        let (u, mut ann) = entry();
        ann.insert("x-TaskStatus".into(), "1".into());
        let mut s = super::super::seed::from_entry(&u, &ann, t("2026-02-01T00:00:00Z")).unwrap();
        s.source_urls = vec![url.into()];
        s
    }

    fn bad_sources() -> Injected {
        Injected {
            abnormal: None,
            unreachable: Unreachable::new(vec![
                SourcePattern::parse("https://bad.example/*").unwrap(),
            ]),
        }
    }

    const BAD: &str = "https://bad.example/live/a.flv";
    const GOOD: &str = "https://good.example/live/a.flv";

    /// Restart as the emulator's operation does it: running again, from `now`.
    fn restart(s: &mut SeedTask, now: &str) {
        s.task_status = TaskStatus::Running;
        s.restarted_at = Some(t(now).unix());
    }

    #[test]
    fn a_running_task_on_an_unreachable_source_fails_one_second_after_it_restarts() {
        let inj = bad_sources();
        let mut s = running_on(GOOD);
        // Stop → Update to the bad source → Restart at 10:00:00.
        s.task_status = TaskStatus::Stopped;
        s.source_urls = vec![BAD.into()];
        assert_eq!(
            s.status_with(t("2026-03-01T09:59:59Z"), &inj).0,
            TaskStatus::Stopped
        );
        restart(&mut s, "2026-03-01T10:00:00Z");
        let right_after = s.to_state_with(t("2026-03-01T10:00:00Z"), &inj);
        assert_eq!(
            (
                right_after.task_status,
                right_after.task_invalid_reason.as_str()
            ),
            (1, "")
        );
        for later in ["2026-03-01T10:00:01Z", "2026-03-01T18:00:00Z"] {
            let st = s.to_state_with(t(later), &inj);
            assert_eq!(st.task_status, 2, "{later}");
            assert_eq!(st.task_invalid_reason, "PullStreamFailed", "{later}");
        }
        // Stopped, the bad source breaks nothing: a stopped task pulls nothing.
        s.task_status = TaskStatus::Stopped;
        assert_eq!(
            s.to_state_with(t("2026-03-01T11:00:00Z"), &inj).task_status,
            3
        );
        // Restarted on the still-bad source: running, then abnormal again a second later.
        restart(&mut s, "2026-03-01T12:00:00Z");
        assert_eq!(
            s.status_with(t("2026-03-01T12:00:00Z"), &inj).0,
            TaskStatus::Running
        );
        assert_eq!(
            s.status_with(t("2026-03-01T12:00:01Z"), &inj).0,
            TaskStatus::RunningAbnormal
        );
        // Stop → Update to a good source → Restart: running normally, and it stays so.
        s.task_status = TaskStatus::Stopped;
        s.source_urls = vec![GOOD.into()];
        restart(&mut s, "2026-03-01T13:00:00Z");
        for later in [
            "2026-03-01T13:00:00Z",
            "2026-03-01T13:00:01Z",
            "2026-03-01T23:59:59Z",
        ] {
            let st = s.to_state_with(t(later), &inj);
            assert_eq!(
                (st.task_status, st.task_invalid_reason.as_str()),
                (1, ""),
                "{later}"
            );
        }
    }

    #[test]
    fn a_task_seeded_running_on_an_unreachable_source_fails_a_second_after_its_start() {
        let inj = bad_sources();
        let s = running_on(BAD);
        assert_eq!(
            s.status_with(t("2026-03-01T00:00:00Z"), &inj).0,
            TaskStatus::Running
        );
        assert_eq!(
            s.status_with(t("2026-03-01T00:00:01Z"), &inj).0,
            TaskStatus::RunningAbnormal
        );
        // Without the pattern the same task runs normally: the patterns are the only cause.
        assert_eq!(
            s.status_with(t("2026-03-01T00:00:01Z"), &Injected::default())
                .0,
            TaskStatus::Running
        );
    }

    #[test]
    fn tasks_that_do_not_run_are_unaffected_by_an_unreachable_source() {
        let inj = bad_sources();
        let mut s = running_on(BAD);
        assert_eq!(
            s.status_with(t("2026-02-28T12:00:00Z"), &inj).0,
            TaskStatus::NotStarted
        );
        let (st, exit) = s.status_with(t("2026-03-02T00:00:00Z"), &inj);
        assert_eq!(
            (st, exit.unwrap().0.as_str()),
            (TaskStatus::Exited, "OverEndTime")
        );
        s.task_status = TaskStatus::Exited;
        assert_eq!(
            s.status_with(t("2026-03-01T10:00:00Z"), &inj).0,
            TaskStatus::Exited
        );
        s.task_status = TaskStatus::Stopped;
        assert_eq!(
            s.status_with(t("2026-03-01T10:00:00Z"), &inj).0,
            TaskStatus::Stopped
        );
    }

    #[test]
    fn any_one_matching_source_url_is_enough() {
        let inj = bad_sources();
        let mut s = running_on(GOOD);
        s.source_urls = vec![
            "https://good.example/v/1.mp4".into(),
            "https://bad.example/v/2.mp4".into(),
        ];
        assert!(inj.unreachable.affects(&s));
        assert_eq!(
            s.status_with(t("2026-03-01T10:00:00Z"), &inj).0,
            TaskStatus::RunningAbnormal
        );
        s.source_urls.pop();
        assert!(!inj.unreachable.affects(&s));
    }

    #[test]
    fn source_patterns_match_as_documented() {
        let m = source_matches;
        assert!(m("https://bad.example/*", "https://bad.example/live/a.flv"));
        assert!(m("https://bad.example/*", "https://bad.example/"));
        assert!(!m("https://bad.example/*", "https://bad.example.org/a.flv"));
        assert!(!m("https://bad.example/*", "http://bad.example/a.flv"));
        assert!(m("*.flv", "rtmp://x/a.flv"));
        assert!(!m("*.flv", "rtmp://x/a.flv?x=1"));
        assert!(m("*://*bad*/*", "srt://very-bad-host/s"));
        assert!(m("a*b*b", "abbb"));
        assert!(
            m("a*ab", "aaab"),
            "a middle part found too early must not end the search"
        );
        assert!(!m("a*a", "a"), "the prefix and the suffix must not overlap");
        assert!(m("rtmp://h/app/s", "rtmp://h/app/s"));
        assert!(!m("rtmp://h/app/s", "rtmp://h/app/s2"));
        assert!(m("?x=1", "?x=1"), "every character but `*` is literal");
        assert!(!m("a?c", "abc"));
    }

    #[test]
    fn a_pattern_that_names_nothing_or_everything_is_refused() {
        assert_eq!(SourcePattern::parse(""), Err(PatternError::Empty));
        for all in ["*", "***"] {
            let e = SourcePattern::parse(all).unwrap_err();
            assert_eq!(e, PatternError::MatchesEverything(all.into()));
            assert!(
                e.to_string().contains("every running task would break"),
                "{e}"
            );
        }
        assert!(SourcePattern::parse("*bad*").is_ok());
    }

    /// The reference the matcher is checked against: the textbook recursion, slow but plainly
    /// right.
    fn reference(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| reference(rest, &s[i..])),
            Some((c, rest)) => s.first() == Some(c) && reference(rest, &s[1..]),
        }
    }

    mod props {
        use super::super::source_matches;
        use proptest::prelude::*;

        proptest! {
            /// A URL with any of its parts replaced by `*` still matches: a star stands for
            /// whatever it replaced.
            #[test]
            fn starring_parts_of_a_url_keeps_it_matching(
                parts in proptest::collection::vec(("[a-z0-9:/.?=_-]{0,6}", any::<bool>()), 1..8)
            ) {
                let url: String = parts.iter().map(|(p, _)| p.as_str()).collect();
                let pattern: String = parts
                    .iter()
                    .map(|(p, star)| if *star { "*" } else { p.as_str() })
                    .collect();
                prop_assert!(source_matches(&pattern, &url), "{pattern:?} vs {url:?}");
            }

            /// Without `*`, a pattern matches exactly itself.
            #[test]
            fn a_pattern_without_a_star_matches_only_itself(
                p in "[^*]{0,12}",
                s in "[^*]{0,12}",
            ) {
                prop_assert!(source_matches(&p, &p));
                prop_assert_eq!(source_matches(&p, &s), p == s);
            }

            /// On a small alphabet, where stars and near-misses are frequent, the matcher agrees
            /// with the textbook recursion.
            #[test]
            fn agrees_with_the_reference(p in "[ab*]{0,8}", s in "[ab]{0,10}") {
                prop_assert_eq!(
                    source_matches(&p, &s),
                    super::reference(p.as_bytes(), s.as_bytes()),
                    "{:?} vs {:?}", p, s
                );
            }
        }
    }
}
