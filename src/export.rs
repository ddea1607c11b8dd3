//! Live tasks as a manifest: what `livebatch export` writes and the emulator's `--seed` reads.
//!
//! The promise is that `livebatch validate` accepts an export unchanged, so a user can start a
//! migration file from what is live. Live state can hold values the offline rules refuse (an
//! exited task, an `EndTime` already past, `Offset` 0 meaning "not set", a callback that is not
//! an http(s) URL), so [`from_tasks`] applies the same rules first and, instead of writing
//! something invalid, skips the task (when it can no longer be updated at all) or omits the one
//! field (leaving it unchanged), and says so in [`Export::notes`]. Current state that is not an
//! update field travels as `x-` annotations, which validation ignores and nothing sends.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::models::{TaskInfo, TaskState};
use crate::model::{ApiTime, Field, Kind, Region, SourceType, Update, Value};
use crate::rules::{self, Severity};

/// Output formats of `export`. JSON is the YAML structure in JSON (and so also valid YAML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Yaml,
    Csv,
    Json,
}

/// One task as one manifest update, with manifest (request) field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    #[serde(rename = "TaskId")]
    pub task_id: String,
    #[serde(rename = "Region")]
    pub region: Region,
    #[serde(
        rename = "SourceType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_type: Option<SourceType>,
    #[serde(
        rename = "SourceUrls",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_urls: Option<Vec<String>>,
    #[serde(rename = "StartTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<ApiTime>,
    #[serde(rename = "EndTime", default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<ApiTime>,
    #[serde(
        rename = "RepeatNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub repeat_number: Option<i32>,
    #[serde(rename = "Offset", default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i32>,
    #[serde(rename = "FileIndex", default, skip_serializing_if = "Option::is_none")]
    pub file_index: Option<i32>,
    #[serde(
        rename = "CallbackUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub callback_url: Option<String>,
    /// The task's `TaskStatus` code when exported (0, 1, 2, 3; -1 is never exported).
    #[serde(rename = "x-TaskStatus")]
    pub task_status: i32,
    #[serde(
        rename = "x-TaskName",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub task_name: String,
    #[serde(rename = "x-DstUrl", default, skip_serializing_if = "String::is_empty")]
    pub dst_url: String,
    #[serde(
        rename = "x-SourceProtocol",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub source_protocol: String,
}

/// A whole export: the `updates:` list of a manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportDoc {
    pub updates: Vec<ExportRecord>,
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 14] = [
    "TaskId",
    "Region",
    "SourceType",
    "SourceUrls",
    "StartTime",
    "EndTime",
    "RepeatNumber",
    "Offset",
    "FileIndex",
    "CallbackUrl",
    "x-TaskStatus",
    "x-TaskName",
    "x-DstUrl",
    "x-SourceProtocol",
];

/// The result of turning live tasks into a manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Export {
    pub doc: ExportDoc,
    /// Tasks left out, with the reason: `(TaskId, reason)`.
    pub skipped: Vec<(String, String)>,
    /// Fields left out of exported tasks, with the reason, one line each.
    pub notes: Vec<String>,
}

impl ExportRecord {
    /// The update this record stands for (annotations dropped), as validation sees it.
    pub fn to_update(&self) -> Update {
        let mut u = Update::new(self.task_id.clone(), self.region);
        u.source_type = self.source_type;
        u.source_urls = self.source_urls.clone();
        u.start_time = self.start_time;
        u.end_time = self.end_time;
        u.repeat_number = self.repeat_number;
        u.offset = self.offset;
        u.file_index = self.file_index;
        u.callback_url = self.callback_url.clone();
        u
    }

    /// The record of update `u` (every field but the routing `RegionId`, which is no part of a
    /// task) with the task's current state as annotations.
    fn new(u: Update, task_status: i32, info: &TaskInfo) -> ExportRecord {
        ExportRecord {
            task_id: u.task_id,
            region: u.region,
            source_type: u.source_type,
            source_urls: u.source_urls,
            start_time: u.start_time,
            end_time: u.end_time,
            repeat_number: u.repeat_number,
            offset: u.offset,
            file_index: u.file_index,
            callback_url: u.callback_url,
            task_status,
            task_name: info.task_name.clone(),
            dst_url: info.dst_url.clone(),
            source_protocol: info.source_protocol.clone(),
        }
    }
}

/// Leaves `field` out of `u` (unchanged); `false` when the field cannot be left out: the
/// identifying fields, and `EndTime`, which decided above that the task can be updated at all.
/// `FileIndex` indexes `SourceUrls`, so it goes with them.
fn omit(u: &mut Update, field: Field) -> bool {
    match field {
        Field::EndTime => false,
        Field::SourceUrls => u.clear(Field::SourceUrls) && u.clear(Field::FileIndex),
        f => u.clear(f),
    }
}

/// What a reported value that does not parse should have been, for the note that omits it.
fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Time => "yyyy-MM-ddTHH:mm:ssZ",
        Kind::SourceType => "live, vod or url",
        Kind::Text | Kind::Region | Kind::Int | Kind::Urls => "a valid value",
    }
}

/// Turns listed tasks into manifest records for `region`, as of `now` (see the module comment).
/// Each record is checked with the same offline rules `validate` applies ([`rules::check_offline`]);
/// a field they refuse is left out with a note, and a task they refuse as a whole is skipped.
/// Pure: same tasks and `now`, same output.
pub fn from_tasks(tasks: &[TaskState], region: Region, now: DateTime<Utc>) -> Export {
    let mut out = Export::default();
    let now_t = ApiTime(now);
    for t in tasks {
        let info = &t.task_info;
        let id = if t.task_id.is_empty() {
            info.task_id.clone()
        } else {
            t.task_id.clone()
        };
        if t.task_status == -1 {
            out.skipped.push((
                id,
                "exited (TaskStatus -1): it can no longer be updated".into(),
            ));
            continue;
        }
        // The end decides whether the task can be updated at all; the loop below then takes it.
        match ApiTime::parse(&info.end_time) {
            Ok(e) if e > now_t => {}
            Ok(e) => {
                out.skipped.push((
                    id,
                    format!("EndTime {e} is not after now ({now_t}): it can no longer be updated"),
                ));
                continue;
            }
            Err(_) => {
                out.skipped.push((
                    id,
                    format!(
                        "EndTime {:?} is not in the API's time format, so the task cannot be checked",
                        info.end_time
                    ),
                ));
                continue;
            }
        }
        let mut notes = Vec::new();
        // Every field Describe reports, as it reports it; empty text or an empty list is "not
        // set", and a value that does not parse is left out with a note.
        let mut u = Update::new(id.clone(), region);
        for f in Field::ALL {
            let Some(r) = info.reported(f) else { continue };
            match r.value {
                Some(Value::Text(t)) if t.is_empty() => {}
                Some(Value::Urls(l)) if l.is_empty() => {}
                Some(v) => u.set(f, v),
                None if r.text().is_empty() => {}
                None => notes.push(format!(
                    "{id}: {f} omitted: {:?} is not {}",
                    r.text(),
                    expected(f.kind())
                )),
            }
        }
        // RepeatNumber, Offset and FileIndex mean nothing for live sources; Offset 0 is the
        // service's "not set" (the rule is Offset > 0); FileIndex indexes SourceUrls.
        if u.source_type == Some(SourceType::Live) {
            for f in [Field::RepeatNumber, Field::Offset, Field::FileIndex] {
                u.clear(f);
            }
        }
        if u.offset.is_some_and(|o| o <= 0) {
            u.clear(Field::Offset);
        }
        if u.source_urls.is_none() {
            u.clear(Field::FileIndex);
        }
        // Omitting a field can only remove violations, so this settles within a few rounds.
        let mut verdict = Err(String::new());
        for _ in 0..Field::ALL.len() {
            let errors: Vec<_> = rules::check_offline(&u, now_t)
                .into_iter()
                .filter(|v| v.severity == Severity::Error)
                .collect();
            if errors.is_empty() {
                verdict = Ok(());
                break;
            }
            for v in errors {
                // An impossible span: the start is the field to leave alone.
                let field = if v.field == Field::EndTime && u.start_time.is_some() {
                    Field::StartTime
                } else {
                    v.field
                };
                if omit(&mut u, field) {
                    notes.push(format!("{id}: {field} omitted: {}", v.message));
                } else {
                    verdict = Err(v.message);
                }
            }
            if verdict.as_ref().is_err_and(|m| !m.is_empty()) {
                break;
            }
        }
        match verdict {
            Ok(()) => {
                out.notes.extend(notes);
                out.doc
                    .updates
                    .push(ExportRecord::new(u, t.task_status, info));
            }
            Err(why) => out.skipped.push((id, why)),
        }
    }
    out
}

/// Several regions' listings as one manifest, region by region in the order given (see
/// [`from_tasks`]). A manifest names a task once (`validate` refuses a TaskId twice), so a TaskId
/// already exported from an earlier region is skipped in a later one, with the reason.
pub fn from_regions(listed: &[(Region, Vec<TaskState>)], now: DateTime<Utc>) -> Export {
    let mut out = Export::default();
    let mut first_in: std::collections::HashMap<String, Region> = Default::default();
    for (region, tasks) in listed {
        let one = from_tasks(tasks, *region, now);
        for r in one.doc.updates {
            match first_in.get(&r.task_id) {
                Some(earlier) => out.skipped.push((
                    r.task_id,
                    format!(
                        "listed in {region} too, already exported from {earlier}; a manifest \
                         names a task once"
                    ),
                )),
                None => {
                    first_in.insert(r.task_id.clone(), *region);
                    out.doc.updates.push(r);
                }
            }
        }
        out.skipped.extend(one.skipped);
        out.notes.extend(one.notes);
    }
    out
}

/// Why an export could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot render the export as YAML: {0}")]
    Yaml(String),
    #[error("cannot render the export as CSV: {0}")]
    Csv(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// YAML: an optional `#` comment block, then `updates:`. Generic over the document so that
/// `revert`, which writes a manifest of fewer fields, writes it the same way.
pub fn to_yaml<T: Serialize>(doc: &T, comment: Option<&str>) -> Result<String, ExportError> {
    let body = serde_saphyr::to_string(doc).map_err(|e| ExportError::Yaml(e.to_string()))?;
    let mut out = String::new();
    if let Some(c) = comment {
        for line in c.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&body);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// JSON: `{"updates": [...]}`, pretty-printed (valid YAML too).
pub fn to_json(doc: &ExportDoc) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_else(|_| "{\"updates\":[]}".into());
    s.push('\n');
    s
}

/// CSV: the [`CSV_COLUMNS`] header; an empty cell is "leave unchanged"; `SourceUrls` as a JSON array.
pub fn to_csv(doc: &ExportDoc) -> Result<String, ExportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| ExportError::Csv(e.to_string());
    w.write_record(CSV_COLUMNS).map_err(err)?;
    for r in &doc.updates {
        // The field columns come first (a test holds CSV_COLUMNS to it), each in its wire form.
        let u = r.to_update();
        let fields = CSV_COLUMNS.iter().filter_map(|c| Field::from_name(c));
        let cells = fields
            .map(|f| u.get(f).map(|v| v.wire()).unwrap_or_default())
            .chain([
                r.task_status.to_string(),
                r.task_name.clone(),
                r.dst_url.clone(),
                r.source_protocol.clone(),
            ]);
        w.write_record(cells.collect::<Vec<_>>()).map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ExportError::Csv(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ExportError::Csv(e.to_string()))
}

/// Renders `doc` in `format`; `comment` goes into YAML only (JSON and CSV have no comments).
pub fn render(
    doc: &ExportDoc,
    format: ExportFormat,
    comment: Option<&str>,
) -> Result<String, ExportError> {
    match format {
        ExportFormat::Yaml => to_yaml(doc, comment),
        ExportFormat::Json => Ok(to_json(doc)),
        ExportFormat::Csv => to_csv(doc),
    }
}

/// Reads an export back (YAML or JSON), e.g. to seed the emulator. Other manifests are the
/// manifest parser's job; this reads exactly what [`to_yaml`] and [`to_json`] write.
pub fn read_export(text: &str) -> Result<ExportDoc, String> {
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

/// Writes `data` to `path` atomically (see [`crate::fsutil::write_atomic`]): a reader never sees
/// half a file and a failure leaves the old file intact.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ExportError> {
    crate::fsutil::write_atomic(path, data).map_err(|source| ExportError::Write {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::TaskInfo;

    fn now() -> DateTime<Utc> {
        ApiTime::parse("2030-01-01T12:00:00Z").unwrap().0
    }

    fn task(id: &str, status: i32, st: &str, urls: &[&str]) -> TaskState {
        TaskState {
            task_id: id.into(),
            task_status: status,
            task_info: TaskInfo {
                task_id: id.into(),
                task_name: "n".into(),
                source_type: st.into(),
                source_urls: urls.iter().map(|s| s.to_string()).collect(),
                dst_url: "rtmp://push/app/s".into(),
                start_time: "2030-01-01T00:00:00Z".into(),
                end_time: "2030-01-03T00:00:00Z".into(),
                repeat_number: -1,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn several_regions_make_one_manifest_that_names_each_task_once() {
        let url = ["http://a/b.mp4"];
        let listed = vec![
            (
                Region::CnBeijing,
                vec![task("b1", 0, "url", &url), task("same", 0, "url", &url)],
            ),
            (
                Region::CnShanghai,
                vec![task("s1", 1, "url", &url), task("same", 1, "url", &url)],
            ),
        ];
        let e = from_regions(&listed, now());
        let ids: Vec<_> = e
            .doc
            .updates
            .iter()
            .map(|u| (u.task_id.as_str(), u.region))
            .collect();
        assert_eq!(
            ids,
            [
                ("b1", Region::CnBeijing),
                ("same", Region::CnBeijing),
                ("s1", Region::CnShanghai)
            ]
        );
        assert_eq!(
            e.skipped,
            [(
                "same".to_string(),
                "listed in cn-shanghai too, already exported from cn-beijing; a manifest names \
                 a task once"
                    .to_string()
            )]
        );
    }

    #[test]
    fn skips_what_cannot_be_updated() {
        let mut ended = task("ended", 3, "url", &["http://a/b.mp4"]);
        ended.task_info.end_time = "2030-01-01T11:00:00Z".into();
        let tasks = vec![
            task("exited", -1, "url", &["http://a/b.mp4"]),
            ended,
            task("bad id!", 0, "url", &["http://a/b.mp4"]),
            task("ok", 1, "url", &["http://a/b.mp4"]),
        ];
        let e = from_tasks(&tasks, Region::CnShanghai, now());
        assert_eq!(e.doc.updates.len(), 1);
        let skipped: Vec<&str> = e.skipped.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(skipped, ["exited", "ended", "bad id!"]);
    }

    #[test]
    fn live_tasks_carry_no_vod_fields_and_offset_zero_is_omitted() {
        let e = from_tasks(
            &[
                task("live1", 1, "live", &["rtmp://src/app/s"]),
                task("url1", 0, "url", &["http://a/b.mp4", "https://c/d.FLV?x=1"]),
            ],
            Region::CnBeijing,
            now(),
        );
        let live = &e.doc.updates[0];
        assert_eq!(live.repeat_number, None);
        assert_eq!(live.file_index, None);
        assert_eq!(live.source_type, Some(SourceType::Live));
        let url = &e.doc.updates[1];
        assert_eq!(url.repeat_number, Some(-1));
        assert_eq!(url.offset, None);
        assert_eq!(url.file_index, Some(0));
        assert_eq!(url.region, Region::CnBeijing);
        assert!(e.notes.is_empty(), "{:?}", e.notes);
    }

    #[test]
    fn fields_that_would_fail_validation_are_omitted_with_a_note() {
        let mut t = task("t1", 3, "live", &["rtsp://cam/1"]);
        t.task_info.callback_url = "not a url".into();
        t.task_info.start_time = "2029-12-01T00:00:00Z".into();
        let e = from_tasks(&[t], Region::CnShanghai, now());
        let r = &e.doc.updates[0];
        assert_eq!(r.source_urls, None);
        assert_eq!(r.callback_url, None);
        assert_eq!(r.start_time, None);
        assert!(r.end_time.is_some());
        assert_eq!(e.notes.len(), 3, "{:?}", e.notes);
    }

    #[test]
    fn yaml_round_trips_awkward_strings() {
        let mut t = task("t-1", 0, "url", &["http://a/b.mp4"]);
        for name in [
            "yes",
            "null",
            "123",
            "- x",
            "a: b",
            "#c",
            " lead",
            "multi\nline",
            "ü€",
            "'\"",
            "~",
            "1e3",
            "",
        ] {
            t.task_info.task_name = name.into();
            t.task_info.callback_url = format!("https://cb.example.com/x?a=1&b={}", name.len());
            let e = from_tasks(std::slice::from_ref(&t), Region::CnShanghai, now());
            let yaml = to_yaml(&e.doc, Some("comment\nline two")).unwrap();
            assert_eq!(read_export(&yaml).unwrap(), e.doc, "{yaml}");
            assert_eq!(read_export(&to_json(&e.doc)).unwrap(), e.doc);
        }
    }

    #[test]
    fn csv_has_the_header_and_empty_cells_for_unset() {
        let e = from_tasks(
            &[task("live1", 1, "live", &["rtmp://src/app/s"])],
            Region::CnShanghai,
            now(),
        );
        let csv = to_csv(&e.doc).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap(), CSV_COLUMNS.join(","));
        assert_eq!(
            lines.next().unwrap(),
            r#"live1,cn-shanghai,live,"[""rtmp://src/app/s""]",2030-01-01T00:00:00Z,2030-01-03T00:00:00Z,,,,,1,n,rtmp://push/app/s,"#
        );
    }

    #[test]
    fn the_columns_are_every_field_of_a_task_then_the_annotations_in_the_record_s_order() {
        use crate::model::Role;
        let fields: Vec<Field> = CSV_COLUMNS
            .iter()
            .map_while(|c| Field::from_name(c))
            .collect();
        let mut sorted = fields.clone();
        sorted.sort();
        let of_a_task: Vec<Field> = Field::ALL
            .into_iter()
            .filter(|f| f.role() != Role::Routing)
            .collect();
        assert_eq!(sorted, of_a_task, "a field missing from the export");
        assert!(
            CSV_COLUMNS[fields.len()..]
                .iter()
                .all(|c| c.starts_with("x-"))
        );
        // YAML and JSON write a record's keys in the CSV's order.
        let mut u = Update::new("t", Region::CnShanghai);
        for f in fields.iter().skip(2) {
            let text = match f.kind() {
                Kind::Time => "2030-01-01T00:00:00Z",
                Kind::Int => "1",
                Kind::Urls => "[\"https://a/b.mp4\"]",
                Kind::SourceType => "url",
                _ => "https://cb.example.com/x",
            };
            u.set(*f, rules::parse_wire(*f, text).unwrap());
        }
        let info = TaskInfo {
            task_name: "n".into(),
            dst_url: "d".into(),
            source_protocol: "p".into(),
            ..TaskInfo::default()
        };
        let json = serde_json::to_value(ExportRecord::new(u, 1, &info)).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, CSV_COLUMNS);
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.yaml");
        std::fs::write(&p, "old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let bad = dir.path().join("missing-dir/out.yaml");
        assert!(write_atomic(&bad, b"x").is_err());
    }
}
