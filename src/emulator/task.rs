//! One task: what it holds (the form `--seed`, the state file and the store share) and its
//! clock-driven lifecycle — the status it shows at a given `now`, and `--abnormal-rate`'s rule for
//! which running tasks run abnormally. Pure: `now` is passed in, which is what lets lifecycle tests
//! run without sleeping.

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

    /// The status at `now` with injected abnormality: a running task that `abnormal` picks is
    /// shown as running abnormally (2) once its delay has passed.
    pub fn status_with(
        &self,
        now: ApiTime,
        abnormal: Option<&Abnormal>,
    ) -> (TaskStatus, Option<(String, i64)>) {
        let (status, exit) = self.status_at(now);
        if status == TaskStatus::Running && abnormal.is_some_and(|a| a.is_abnormal(self, now)) {
            return (TaskStatus::RunningAbnormal, None);
        }
        (status, exit)
    }

    /// What Describe and DescribeList report for this task at `now`.
    pub fn to_state(&self, now: ApiTime) -> TaskState {
        self.to_state_with(now, None)
    }

    /// [`SeedTask::to_state`] with injected abnormality. A task running abnormally reports
    /// `TaskInvalidReason` `PullStreamFailed` (why it is retrying; the service documents the
    /// reasons for stopped tasks only, so this is the emulator's choice).
    pub fn to_state_with(&self, now: ApiTime, abnormal: Option<&Abnormal>) -> TaskState {
        let (status, exit) = self.status_with(now, abnormal);
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
        let since = t.start_time.unix().max(t.restarted_at.unwrap_or(i64::MIN));
        let delay = (h % (ABNORMAL_MAX_DELAY_SECS + 1)) as i64;
        now.unix() >= since + delay
    }
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
}
