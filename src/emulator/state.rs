//! Tasks and their clock-driven lifecycle, and the seven operations as functions over
//! (store, parameters, now). No I/O and no clock reads here: the server passes `now`, which is what
//! lets lifecycle tests run without sleeping.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ApiFault;
use crate::api::models::{
    DescribeResponse, ListResponse, RetCodeResponse, TaskIdResponse, TaskInfo, TaskState,
};
use crate::model::{self, ApiTime, Field, Region, SourceType, TaskStatus, Update};
use crate::rules::{self, LiveTask, NewTask, Severity, Violation, code};

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

/// The state file: what `--state` writes and reads, and what `--seed` accepts directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// Always `livebatch-emulator-state`, so that a wrong file is recognised as such.
    pub format: String,
    pub version: u32,
    /// The last write-ahead-log sequence number this snapshot includes; log records up to it
    /// are already here and are skipped when the log is replayed.
    #[serde(default)]
    pub seq: u64,
    pub tasks: Vec<SeedTask>,
}

pub const STATE_FORMAT: &str = "livebatch-emulator-state";

impl StateFile {
    pub fn new(tasks: Vec<SeedTask>) -> StateFile {
        StateFile {
            format: STATE_FORMAT.into(),
            version: 1,
            seq: 0,
            tasks,
        }
    }

    /// Reads a state file; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<StateFile, String> {
        let f: StateFile = serde_json::from_str(text).map_err(|e| {
            format!("not a livebatch emulator state file (JSON with format, version, tasks): {e}")
        })?;
        if f.format != STATE_FORMAT || f.version != 1 {
            return Err(format!(
                "format {:?} version {} is not {STATE_FORMAT:?} version 1",
                f.format, f.version
            ));
        }
        Ok(f)
    }

    pub fn load(path: &Path) -> Result<StateFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        StateFile::parse(&text)
    }

    /// Writes atomically: a temporary file in the same directory, fsync, rename, so a crash leaves
    /// either the old file or the new one, never a torn one.
    pub fn save_atomic(&self, path: &Path) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        crate::fsutil::write_atomic(path, &bytes)
    }
}

/// The request parameters, query and form body merged (the first occurrence of a name wins).
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, ApiFault> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiFault::missing(name)),
        }
    }
}

fn fault(v: Violation) -> ApiFault {
    ApiFault::bad(v.code, v.message)
}

fn first_error(vs: Vec<Violation>) -> Result<(), ApiFault> {
    match vs.into_iter().find(|v| v.severity == Severity::Error) {
        Some(v) => Err(fault(v)),
        None => Ok(()),
    }
}

fn opt<T>(
    p: &Params,
    name: &str,
    parse: impl Fn(&str) -> Result<T, Violation>,
) -> Result<Option<T>, ApiFault> {
    p.get(name).map(parse).transpose().map_err(fault)
}

fn opt_int(p: &Params, field: Field) -> Result<Option<i32>, ApiFault> {
    opt(p, field.name(), |s| rules::parse_int(field, s))
}

/// Every task, in creation order (the stable order DescribeList pages through).
#[derive(Debug, Default)]
pub struct Store {
    tasks: Vec<SeedTask>,
    index: HashMap<String, usize>,
    /// Sequence number of the last change (see [`super::wal`]).
    seq: u64,
    abnormal: Option<Abnormal>,
    /// Each region's task positions in order, for DescribeList pages without a filter: built on
    /// the first list after tasks were added or removed. Scanning every task for each page made
    /// reading a million tasks (10,000 pages) take about a scan of a million per page.
    by_region: std::sync::Mutex<Option<HashMap<Region, Vec<usize>>>>,
}

fn ok_ret(request_id: &str) -> Value {
    json(&RetCodeResponse {
        request_id: request_id.into(),
        ret_code: 0,
        description: "OK".into(),
    })
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn not_exist(id: &str) -> ApiFault {
    ApiFault::bad(
        code::TASK_NOT_EXIST,
        format!("The task {id} does not exist."),
    )
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// Makes `abnormal` pick running tasks to run abnormally (`None`: none do).
    pub fn set_abnormal(&mut self, abnormal: Option<Abnormal>) {
        self.abnormal = abnormal.filter(|a| a.rate > 0.0);
    }

    /// A task's status at `now`, abnormality included: what every operation sees.
    pub fn status_of(&self, t: &SeedTask, now: ApiTime) -> TaskStatus {
        t.status_with(now, self.abnormal.as_ref()).0
    }

    /// How many tasks are in each status at `now`, in the order running, running abnormally,
    /// stopped, not started, exited.
    pub fn status_counts(&self, now: ApiTime) -> Vec<(TaskStatus, usize)> {
        let order = [
            TaskStatus::Running,
            TaskStatus::RunningAbnormal,
            TaskStatus::Stopped,
            TaskStatus::NotStarted,
            TaskStatus::Exited,
        ];
        let mut n = [0usize; 5];
        for t in &self.tasks {
            let s = self.status_of(t, now);
            if let Some(i) = order.iter().position(|&o| o == s) {
                n[i] += 1;
            }
        }
        order.into_iter().zip(n).collect()
    }

    /// The sequence number of the last change.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Numbers the next change.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Continues numbering after `seq` (a loaded snapshot's and log's).
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// Puts a task as it is (replacing one with the same ID, or adding it): replaying the log.
    pub fn put(&mut self, t: SeedTask) {
        match self.index.get(&t.task_id) {
            Some(&i) => self.tasks[i] = t,
            None => {
                self.index.insert(t.task_id.clone(), self.tasks.len());
                self.tasks.push(t);
                self.regions_changed();
            }
        }
    }

    /// Tasks were added or removed: the per-region order is built again when next needed.
    fn regions_changed(&mut self) {
        *self.by_region.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// How many tasks `region` has, and the positions of `take` of them from the `skip`-th, in
    /// order (see `by_region`).
    fn region_page(&self, region: Region, skip: usize, take: usize) -> (usize, Vec<usize>) {
        let mut cache = self.by_region.lock().unwrap_or_else(|p| p.into_inner());
        let by_region = cache.get_or_insert_with(|| {
            let mut m: HashMap<Region, Vec<usize>> = HashMap::new();
            for (i, t) in self.tasks.iter().enumerate() {
                m.entry(t.region).or_default().push(i);
            }
            m
        });
        let all = by_region
            .get(&region)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let page = all.iter().skip(skip).take(take).copied().collect();
        (all.len(), page)
    }

    /// Removes a task if present: replaying the log.
    pub fn forget(&mut self, id: &str) {
        self.remove(id);
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    pub fn tasks(&self) -> &[SeedTask] {
        &self.tasks
    }

    pub fn get(&self, id: &str) -> Option<&SeedTask> {
        self.index.get(id).map(|&i| &self.tasks[i])
    }

    /// Adds tasks; an ID already present is an error, and nothing is added then.
    pub fn seed(&mut self, tasks: Vec<SeedTask>) -> Result<(), SeedError> {
        let mut seen = std::collections::HashSet::new();
        for t in &tasks {
            if self.index.contains_key(&t.task_id) || !seen.insert(t.task_id.as_str()) {
                return Err(SeedError::Duplicate(t.task_id.clone()));
            }
        }
        for t in tasks {
            self.index.insert(t.task_id.clone(), self.tasks.len());
            self.tasks.push(t);
        }
        self.regions_changed();
        Ok(())
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut SeedTask> {
        self.index.get(id).map(|&i| &mut self.tasks[i])
    }

    fn remove(&mut self, id: &str) -> Option<SeedTask> {
        let i = self.index.remove(id)?;
        let t = self.tasks.remove(i);
        self.regions_changed();
        for (j, t) in self.tasks.iter().enumerate().skip(i) {
            self.index.insert(t.task_id.clone(), j);
        }
        Some(t)
    }

    /// Runs one operation. Returns the response body, and whether the store changed (so that
    /// the caller knows to persist).
    pub fn execute(
        &mut self,
        action: &str,
        p: &Params,
        now: ApiTime,
        request_id: &str,
        new_id: impl FnOnce() -> String,
    ) -> Result<(Value, bool), ApiFault> {
        use crate::api::models::action as a;
        match action {
            a::CREATE => self.create(p, now, request_id, new_id).map(|v| (v, true)),
            a::UPDATE => self.update(p, now, request_id).map(|v| (v, true)),
            a::DELETE => self.delete(p, request_id).map(|v| (v, true)),
            a::DESCRIBE => self.describe(p, now, request_id).map(|v| (v, false)),
            a::DESCRIBE_LIST => self.list(p, now, request_id).map(|v| (v, false)),
            a::STOP => self.stop(p, now, request_id),
            a::RESTART => self.restart(p, now, request_id),
            other => Err(ApiFault::new(
                404,
                "InvalidAction.NotFound",
                format!("Specified api {other} is not found, please check your url and method."),
            )),
        }
    }

    /// TaskId and Region, required by every operation on one task.
    fn target(p: &Params) -> Result<(String, Region), ApiFault> {
        let id = p.required(Field::TaskId.name())?.to_string();
        let region = rules::parse_region(p.required(Field::Region.name())?).map_err(fault)?;
        if let Some(v) = rules::check_task_id(&id) {
            return Err(fault(v));
        }
        Ok((id, region))
    }

    fn create(
        &mut self,
        p: &Params,
        now: ApiTime,
        request_id: &str,
        new_id: impl FnOnce() -> String,
    ) -> Result<Value, ApiFault> {
        let region = rules::parse_region(p.required("Region")?).map_err(fault)?;
        let source_type = rules::parse_source_type(p.required("SourceType")?).map_err(fault)?;
        let source_urls =
            rules::parse_source_urls_json(p.required("SourceUrls")?).map_err(fault)?;
        let dst_url = p.required("DstUrl")?.to_string();
        let start_time =
            rules::parse_time(Field::StartTime, p.required("StartTime")?).map_err(fault)?;
        let end_time = rules::parse_time(Field::EndTime, p.required("EndTime")?).map_err(fault)?;
        let int = |name: &'static str| -> Result<Option<i32>, ApiFault> {
            p.get(name)
                .map(|s| rules::parse_whole(name, s))
                .transpose()
                .map_err(|m| ApiFault::bad(code::INVALID_PARAMETER, m))
        };
        let t = NewTask {
            region,
            source_type,
            source_protocol: p.get("SourceProtocol").map(str::to_string),
            source_urls,
            dst_url,
            start_time,
            end_time,
            task_name: p.get("TaskName").map(str::to_string),
            callback_url: p.get("CallbackUrl").map(str::to_string),
            repeat_number: opt_int(p, Field::RepeatNumber)?,
            offset: opt_int(p, Field::Offset)?,
            file_index: opt_int(p, Field::FileIndex)?,
            retry_count: int("RetryCount")?,
            retry_interval: int("RetryInterval")?,
        };
        if let Some(v) = rules::check_create(&t, now).into_iter().next() {
            return Err(ApiFault::bad(v.code, v.message));
        }
        let task_id = new_id();
        let task = SeedTask {
            task_id: task_id.clone(),
            region: t.region,
            task_name: t.task_name.unwrap_or_default(),
            source_type: t.source_type,
            source_protocol: t.source_protocol.unwrap_or_default(),
            source_urls: t.source_urls,
            dst_url: t.dst_url,
            start_time: t.start_time,
            end_time: t.end_time,
            callback_url: t.callback_url.unwrap_or_default(),
            repeat_number: t.repeat_number.unwrap_or(0),
            offset: t.offset.unwrap_or(0),
            file_index: t.file_index.unwrap_or(0),
            retry_count: t.retry_count.unwrap_or(rules::RETRY_COUNT_DEFAULT),
            retry_interval: t.retry_interval.unwrap_or(rules::RETRY_INTERVAL_DEFAULT),
            task_status: TaskStatus::NotStarted,
            task_exit_reason: None,
            task_exit_time: None,
            restarted_at: None,
        };
        self.seed(vec![task])
            .map_err(|e| ApiFault::new(500, "InternalError", e.to_string()))?;
        Ok(json(&TaskIdResponse {
            request_id: request_id.into(),
            task_id,
            ret_code: Some(0),
            description: Some("OK".into()),
        }))
    }

    /// Reads an Update request into the same typed [`Update`] a manifest produces: the task it
    /// names, then every other parameter the field table says is sent, in the table's order (the
    /// first one that does not parse is the one refused).
    fn parse_update(p: &Params) -> Result<Update, ApiFault> {
        let (id, region) = Store::target(p)?;
        let mut u = Update::new(id, region);
        let sent = Field::ALL
            .into_iter()
            .filter(|f| f.role().is_sent() && !f.is_required());
        for f in sent {
            if let Some(v) = opt(p, f.name(), |s| rules::parse_wire(f, s))? {
                u.set(f, v);
            }
        }
        Ok(u)
    }

    fn update(&mut self, p: &Params, now: ApiTime, request_id: &str) -> Result<Value, ApiFault> {
        let u = Store::parse_update(p)?;
        first_error(rules::check_offline(&u, now))?;
        let status = {
            let t = self.get(&u.task_id).ok_or_else(|| not_exist(&u.task_id))?;
            self.status_of(t, now)
        };
        let task = self
            .get_mut(&u.task_id)
            .ok_or_else(|| not_exist(&u.task_id))?;
        if u.region != task.region
            && let Some(v) = rules::blocked_in_state(Field::Region, status)
        {
            return Err(fault(v));
        }
        let live = LiveTask {
            status,
            source_type: Some(task.source_type),
            start_time: Some(task.start_time),
            end_time: Some(task.end_time),
            source_urls: task.source_urls.clone(),
        };
        first_error(rules::check_against_live(&u, &live, now))?;
        task.region = u.region;
        task.apply(&u);
        Ok(ok_ret(request_id))
    }

    fn delete(&mut self, p: &Params, request_id: &str) -> Result<Value, ApiFault> {
        let (id, _) = Store::target(p)?;
        self.remove(&id).ok_or_else(|| not_exist(&id))?;
        Ok(ok_ret(request_id))
    }

    fn describe(&self, p: &Params, now: ApiTime, request_id: &str) -> Result<Value, ApiFault> {
        let (id, _) = Store::target(p)?;
        let t = self.get(&id).ok_or_else(|| not_exist(&id))?;
        Ok(json(&DescribeResponse {
            request_id: request_id.into(),
            ret_code: 0,
            description: "OK".into(),
            task: t.to_state_with(now, self.abnormal.as_ref()),
        }))
    }

    fn list(&self, p: &Params, now: ApiTime, request_id: &str) -> Result<Value, ApiFault> {
        let region = rules::parse_region(p.required("Region")?).map_err(fault)?;
        let page_number = p
            .get("PageNumber")
            .map(|s| rules::parse_whole("PageNumber", s))
            .transpose()
            .map_err(|_| {
                ApiFault::bad(
                    code::INVALID_PARAMETER,
                    "PageNumber must be a whole number of 1 or more",
                )
            })?
            .unwrap_or(1);
        let page_size = p
            .get("PageSize")
            .map(|s| rules::parse_whole("PageSize", s))
            .transpose()
            .map_err(|_| {
                ApiFault::bad(
                    code::INVALID_PARAMETER,
                    "PageSize must be a whole number from 1 to 100",
                )
            })?
            .unwrap_or(10);
        if page_number < 1 {
            return Err(ApiFault::bad(
                code::INVALID_PARAMETER,
                format!("PageNumber {page_number} must be 1 or more"),
            ));
        }
        if !(1..=100).contains(&page_size) {
            return Err(ApiFault::bad(
                code::INVALID_PARAMETER,
                format!("PageSize {page_size} must be from 1 to 100"),
            ));
        }
        let filt = |name: &str| p.get(name).filter(|s| !s.is_empty());
        let (fid, fname, fdst) = (filt("TaskId"), filt("TaskName"), filt("DstUrl"));
        let skip = (page_number as usize - 1).saturating_mul(page_size as usize);
        let (total, page): (usize, Vec<&SeedTask>) =
            if fid.is_none() && fname.is_none() && fdst.is_none() {
                let (total, at) = self.region_page(region, skip, page_size as usize);
                (total, at.into_iter().map(|i| &self.tasks[i]).collect())
            } else {
                let matching: Vec<&SeedTask> = self
                    .tasks
                    .iter()
                    .filter(|t| t.region == region)
                    .filter(|t| fid.is_none_or(|f| t.task_id.contains(f)))
                    .filter(|t| fname.is_none_or(|f| t.task_name.contains(f)))
                    .filter(|t| fdst.is_none_or(|f| t.dst_url.contains(f)))
                    .collect();
                let total = matching.len();
                let page = matching
                    .into_iter()
                    .skip(skip)
                    .take(page_size as usize)
                    .collect();
                (total, page)
            };
        Ok(json(&ListResponse {
            request_id: request_id.into(),
            page_number: page_number as u32,
            page_size: page_size as u32,
            total: total as u64,
            task_list: page
                .into_iter()
                .map(|t| t.to_state_with(now, self.abnormal.as_ref()))
                .collect(),
        }))
    }

    fn id_reply(request_id: &str, id: String) -> Value {
        json(&TaskIdResponse {
            request_id: request_id.into(),
            task_id: id,
            ret_code: None,
            description: None,
        })
    }

    /// Stop affects running tasks only; on others it succeeds and changes nothing.
    fn stop(
        &mut self,
        p: &Params,
        now: ApiTime,
        request_id: &str,
    ) -> Result<(Value, bool), ApiFault> {
        let (id, _) = Store::target(p)?;
        let status = {
            let t = self.get(&id).ok_or_else(|| not_exist(&id))?;
            self.status_of(t, now)
        };
        let t = self.get_mut(&id).ok_or_else(|| not_exist(&id))?;
        let changed = status.is_running();
        if changed {
            t.task_status = TaskStatus::Stopped;
        }
        Ok((Store::id_reply(request_id, id), changed))
    }

    /// Restart (re)starts a stopped or running task with its latest configuration; before
    /// `StartTime` it has no effect; an ended task cannot be restarted.
    fn restart(
        &mut self,
        p: &Params,
        now: ApiTime,
        request_id: &str,
    ) -> Result<(Value, bool), ApiFault> {
        let (id, _) = Store::target(p)?;
        let status = {
            let t = self.get(&id).ok_or_else(|| not_exist(&id))?;
            self.status_of(t, now)
        };
        let t = self.get_mut(&id).ok_or_else(|| not_exist(&id))?;
        let changed = match status {
            TaskStatus::Exited => {
                return Err(ApiFault::bad(
                    code::INVALID_PARAMETER,
                    format!("The task {id} has ended and cannot be restarted."),
                ));
            }
            TaskStatus::NotStarted => false,
            _ => {
                t.task_status = TaskStatus::Running;
                t.restarted_at = Some(now.unix());
                true
            }
        };
        Ok((Store::id_reply(request_id, id), changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn t(s: &str) -> ApiTime {
        ApiTime::parse(s).unwrap()
    }

    fn entry() -> (Update, BTreeMap<String, String>) {
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

    #[test]
    fn state_file_round_trips_and_rejects_strangers() {
        let (u, ann) = entry();
        let f = StateFile::new(vec![
            super::super::seed::from_entry(&u, &ann, t("2026-02-01T00:00:00Z")).unwrap(),
        ]);
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(StateFile::parse(&text).unwrap(), f);
        assert!(StateFile::parse(r#"{"format":"other","version":1,"tasks":[]}"#).is_err());
        assert!(StateFile::parse("updates: []").is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        f.save_atomic(&p).unwrap();
        assert_eq!(StateFile::load(&p).unwrap(), f);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
