//! The JSON shapes of the pull-to-push operations, shared by the client (which reads them) and the
//! emulator (which writes them), so that both sides agree by construction.
//!
//! Responses are read leniently (every field optional with a default): a field the service adds or
//! omits must not turn a successful call into a parse failure. Note the spelling: requests say
//! `CallbackUrl`, responses say `CallbackURL`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::model::{ApiTime, Field, Value};

/// The API version every call names.
pub const API_VERSION: &str = "2016-11-01";

/// Operation names, as `Action` / `x-acs-action` carry them.
pub mod action {
    pub const CREATE: &str = "CreateLivePullToPush";
    pub const UPDATE: &str = "UpdateLivePullToPush";
    pub const DELETE: &str = "DeleteLivePullToPush";
    pub const DESCRIBE: &str = "DescribeLivePullToPush";
    pub const DESCRIBE_LIST: &str = "DescribeLivePullToPushList";
    pub const STOP: &str = "StopLivePullToPush";
    pub const RESTART: &str = "RestartLivePullToPush";
    pub const ALL: [&str; 7] = [
        CREATE,
        UPDATE,
        DELETE,
        DESCRIBE,
        DESCRIBE_LIST,
        STOP,
        RESTART,
    ];
}

/// A task's configuration as Describe returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskInfo {
    pub task_id: String,
    pub task_name: String,
    pub source_type: String,
    pub source_protocol: String,
    pub source_urls: Vec<String>,
    pub dst_url: String,
    pub start_time: String,
    pub end_time: String,
    #[serde(rename = "CallbackURL")]
    pub callback_url: String,
    pub repeat_number: i32,
    pub offset: i32,
    pub file_index: i32,
    pub retry_count: i32,
    pub retry_interval: i32,
}

/// One field of a task as Describe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported<'a> {
    /// The typed value, when what the service wrote is one (a time not in the API's format, or
    /// an unknown source type, is `None`): what an update's value is compared with.
    pub value: Option<Value<'a>>,
    /// The service's own text, for fields Describe reports as text (times, source type,
    /// callback); the others are shown as their value's wire text.
    raw: Option<&'a str>,
}

impl<'a> Reported<'a> {
    /// As the service wrote it, in the request's text form (`SourceUrls` as a JSON array): what
    /// plans and drift messages show. Made only when asked for: comparing needs only the value.
    pub fn text(&self) -> Cow<'a, str> {
        match (self.raw, &self.value) {
            (Some(raw), _) => Cow::Borrowed(raw),
            (None, Some(v)) => Cow::Owned(v.wire()),
            (None, None) => Cow::Borrowed(""),
        }
    }
}

impl TaskInfo {
    /// What Describe reports of `field`; `None` for the fields it does not report as the task's
    /// configuration (see `Field::described_as`).
    pub fn reported(&self, field: Field) -> Option<Reported<'_>> {
        fn typed(v: Value<'_>) -> Reported<'_> {
            Reported {
                value: Some(v),
                raw: None,
            }
        }
        fn text<'a>(raw: &'a str, value: Option<Value<'a>>) -> Reported<'a> {
            Reported {
                value,
                raw: Some(raw),
            }
        }
        let time = |s: &str| ApiTime::parse(s).ok().map(Value::Time);
        Some(match field {
            Field::TaskId | Field::Region | Field::RegionId => return None,
            Field::StartTime => text(&self.start_time, time(&self.start_time)),
            Field::EndTime => text(&self.end_time, time(&self.end_time)),
            Field::SourceUrls => typed(Value::Urls(Cow::Borrowed(&self.source_urls))),
            Field::RepeatNumber => typed(Value::Int(self.repeat_number)),
            Field::Offset => typed(Value::Int(self.offset)),
            Field::FileIndex => typed(Value::Int(self.file_index)),
            Field::CallbackUrl => text(
                &self.callback_url,
                Some(Value::Text(Cow::Borrowed(&self.callback_url))),
            ),
            Field::SourceType => text(
                &self.source_type,
                self.source_type.parse().ok().map(Value::SourceType),
            ),
        })
    }
}

/// One task's status and configuration: a Describe response body without its envelope, and one
/// element of DescribeList's `TaskList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskState {
    pub task_id: String,
    pub task_status: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub task_invalid_reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub task_exit_reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_exit_time: Option<i64>,
    pub current_file_index: i32,
    pub current_offset: i32,
    pub task_info: TaskInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeResponse {
    pub request_id: String,
    pub ret_code: i32,
    pub description: String,
    #[serde(flatten)]
    pub task: TaskState,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListResponse {
    pub request_id: String,
    pub page_number: u32,
    pub page_size: u32,
    pub total: u64,
    pub task_list: Vec<TaskState>,
}

/// Update and Delete answer with a return code; `RetCode != 0` is a failure even on HTTP 200.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RetCodeResponse {
    pub request_id: String,
    pub ret_code: i32,
    pub description: String,
}

/// Stop and Restart answer with the task's ID; Create also carries `RetCode` and `Description`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskIdResponse {
    pub request_id: String,
    pub task_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ret_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The error body every failing call carries, with HTTP 4xx/5xx.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ErrorBody {
    pub request_id: String,
    pub host_id: String,
    pub code: String,
    pub message: String,
    pub recommend: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_reads_callback_url_with_capital_url() {
        let body = r#"{"RequestId":"r","RetCode":0,"Description":"OK","TaskId":"t","TaskStatus":3,
            "TaskInfo":{"TaskId":"t","SourceUrls":["rtmp://a/b"],"CallbackURL":"https://h/x","RepeatNumber":-1}}"#;
        let d: DescribeResponse = serde_json::from_str(body).unwrap();
        assert_eq!(d.task.task_status, 3);
        assert_eq!(d.task.task_info.callback_url, "https://h/x");
        assert_eq!(d.task.task_info.repeat_number, -1);
        let back = serde_json::to_string(&d).unwrap();
        assert!(back.contains("\"CallbackURL\""));
    }

    #[test]
    fn the_field_table_names_what_task_info_reports() {
        let info = serde_json::to_value(TaskInfo::default()).unwrap();
        for f in Field::ALL {
            // Reported exactly when the table says Describe reports it, under the table's key.
            assert_eq!(
                TaskInfo::default().reported(f).is_some(),
                f.described_as().is_some(),
                "{f}"
            );
            if let Some(key) = f.described_as() {
                assert!(info.get(key).is_some(), "{f}: TaskInfo has no {key}");
            }
        }
    }
}
