//! What an emulator holds when it starts: tasks rebuilt from anything a user has — any manifest
//! `livebatch validate` accepts (YAML with `defaults:`, JSON, CSV), what `livebatch export` wrote,
//! an emulator state file — or synthetic ones.
//!
//! Manifests go through the same parser and validator as `validate` ([`crate::validate::load_batch`]),
//! so a seed file is read exactly as a manifest is, with the same located diagnostics.
//!
//! A manifest record is read one of two ways:
//! - **A snapshot** — the record carries `x-TaskStatus`, as every `livebatch export` record does:
//!   the values it states *are* the task, and only what it leaves out is filled in.
//! - **A change** — no `x-TaskStatus`: a migration manifest says what tasks should become, not
//!   what they are. The task is built as it plausibly is *before* the change, in a state that
//!   accepts it ([`task_before`]): stopped (the state that accepts the most changes), or not yet
//!   started when the change moves `StartTime`; the manifest's `Region` and `SourceType`; times
//!   around now that keep the manifest's own `StartTime`/`EndTime` within the 7-day span; and
//!   other values in the fields the change sets, so that planning the manifest against the
//!   emulator shows every update as a change and applying it really changes something.
//!
//! Pure where it can be: `now` and the random source are passed in.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::state_file::{STATE_FORMAT, StateFile};
use super::task::{SeedError, SeedTask};
use crate::manifest::Input;
use crate::model::{ApiTime, Region, SourceType, TaskStatus, Update};
use crate::rules;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

fn at(secs: i64) -> ApiTime {
    ApiTime::from_unix(secs).unwrap_or(ApiTime(chrono::DateTime::UNIX_EPOCH))
}

/// Why seed files could not become tasks. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum SeedFileError {
    #[error("seed file {file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("seed file {file}: {message}")]
    State { file: String, message: String },
    #[error(
        "seed {files}: not a manifest `livebatch validate` accepts ({count} error(s)); fix these or seed from `livebatch export`:\n{rendered}"
    )]
    Invalid {
        files: String,
        count: usize,
        rendered: String,
    },
    #[error(transparent)]
    Task(#[from] SeedError),
}

/// Tasks read from seed files, and how each was read (for the start-up line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seeded {
    pub tasks: Vec<SeedTask>,
    /// From state files, as stored.
    pub from_state: usize,
    /// From manifest records with `x-TaskStatus`, taken as they are.
    pub snapshots: usize,
    /// From manifest records without it, built as they are before the change.
    pub before_change: usize,
}

/// Reads every seed file: emulator state files as they are, manifests through the validator (all
/// manifests as one batch, so a `TaskId` twice across them is refused as `validate` refuses it).
pub fn from_files(paths: &[PathBuf], now: ApiTime) -> Result<Seeded, SeedFileError> {
    let mut out = Seeded::default();
    let mut manifests = Vec::new();
    for p in paths {
        if is_state_file(p)? {
            let f = StateFile::load(p).map_err(|message| SeedFileError::State {
                file: p.display().to_string(),
                message,
            })?;
            out.from_state += f.tasks.len();
            out.tasks.extend(f.tasks);
        } else {
            manifests.push(Input::path(p));
        }
    }
    if !manifests.is_empty() {
        let batch = crate::validate::load_batch(&manifests, now);
        if batch.has_errors() {
            let errors: Vec<String> = batch
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.render())
                .collect();
            return Err(SeedFileError::Invalid {
                files: batch.files.join(", "),
                count: errors.len(),
                rendered: errors.join("\n"),
            });
        }
        for e in &batch.entries {
            let t = from_entry(&e.update, &e.annotations, now)?;
            if e.annotations.contains_key("x-TaskStatus") {
                out.snapshots += 1;
            } else {
                out.before_change += 1;
            }
            out.tasks.push(t);
        }
    }
    let mut seen = HashSet::new();
    if let Some(dup) = out.tasks.iter().find(|t| !seen.insert(t.task_id.as_str())) {
        return Err(SeedError::Duplicate(dup.task_id.clone()).into());
    }
    Ok(out)
}

/// A state file is JSON whose `format` is [`STATE_FORMAT`]; looked for in the first 4 KiB so that
/// a large CSV is not read twice.
fn is_state_file(p: &Path) -> Result<bool, SeedFileError> {
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(p)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|source| SeedFileError::Read {
            file: p.display().to_string(),
            source,
        })?;
    let text = String::from_utf8_lossy(&head);
    Ok(text.trim_start().starts_with('{') && text.contains(STATE_FORMAT))
}

/// One task from one manifest entry: a snapshot when it carries `x-TaskStatus`, else the task as it
/// is before the change (see the module docs). `x-TaskName`, `x-DstUrl` and `x-SourceProtocol`
/// are used either way when present.
pub fn from_entry(
    u: &Update,
    annotations: &BTreeMap<String, String>,
    now: ApiTime,
) -> Result<SeedTask, SeedError> {
    let ann = |k: &str| {
        annotations
            .get(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let mut t = match ann("x-TaskStatus") {
        None => task_before(u, now),
        Some(s) => {
            let status = s
                .parse::<i32>()
                .ok()
                .and_then(TaskStatus::from_code)
                .ok_or_else(|| SeedError::Invalid {
                    task_id: u.task_id.clone(),
                    field: "x-TaskStatus",
                    value: s.clone(),
                    expected: "one of 0, 1, 2, 3, -1",
                })?;
            snapshot(u, status, now)
        }
    };
    if let Some(v) = ann("x-TaskName") {
        t.task_name = v;
    }
    if let Some(v) = ann("x-DstUrl") {
        t.dst_url = v;
    }
    if let Some(v) = ann("x-SourceProtocol") {
        t.source_protocol = v;
    }
    Ok(t)
}

/// The task exactly as the record states it, with what it leaves out filled in plausibly.
fn snapshot(u: &Update, status: TaskStatus, now: ApiTime) -> SeedTask {
    let mut t = task_before(u, now);
    let n = now.unix();
    let start = u.start_time.map(|s| s.unix());
    let end = u.end_time.map(|e| e.unix());
    let (start, end) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + DAY),
        (None, Some(e)) => (
            (e - DAY).min(n - HOUR).max(e - rules::MAX_SPAN_SECS + HOUR),
            e,
        ),
        (None, None) => (n - HOUR, n + DAY),
    };
    t.start_time = at(start);
    t.end_time = at(end);
    // Every other stated field as stated; what it leaves out keeps `task_before`'s neutral value
    // (no callback, 0) or its placeholder sources.
    t.apply(u);
    if t.source_type == SourceType::Live {
        t.source_protocol = protocol_of(t.source_urls.first().map(String::as_str));
    }
    t.task_status = status;
    t.task_exit_reason = (status == TaskStatus::Exited).then(|| "TriggerByUser".to_string());
    t
}

/// The source type a task must have for this update to be valid: the stated one, else the first
/// type every given source and number field fits (live takes one source, so no FileIndex past 0, and
/// no RepeatNumber/Offset).
pub fn source_type_for(u: &Update) -> SourceType {
    if let Some(t) = u.source_type {
        return t;
    }
    // A live task has one source, so a FileIndex past 0 needs a playlist too.
    let vod_url_only =
        u.repeat_number.is_some() || u.offset.is_some() || u.file_index.unwrap_or(0) > 0;
    let candidates: &[SourceType] = if vod_url_only {
        &[SourceType::Url, SourceType::Vod]
    } else {
        &[SourceType::Live, SourceType::Url, SourceType::Vod]
    };
    match &u.source_urls {
        None => candidates[0],
        Some(urls) => candidates
            .iter()
            .copied()
            .find(|&t| {
                (t != SourceType::Live || urls.len() == 1)
                    && urls
                        .iter()
                        .all(|s| rules::check_source(Some(t), s).is_none())
            })
            .unwrap_or(candidates[0]),
    }
}

fn protocol_of(first: Option<&str>) -> String {
    match first.and_then(|u| u.split_once("://")).map(|(s, _)| s) {
        Some("srt") => "srt".into(),
        Some("rtsp") => "rtsp".into(),
        Some("http" | "https") => "http-flv".into(),
        _ => "rtmp".into(),
    }
}

/// Placeholder sources of a type: `n` of them (one for live), under `host`.
fn placeholder_sources(id: &str, t: SourceType, n: usize, host: &str) -> Vec<String> {
    let n = match t {
        SourceType::Live => 1,
        _ => n.clamp(1, rules::SOURCE_URLS_MAX),
    };
    (0..n)
        .map(|i| match t {
            SourceType::Live => format!("rtmp://{host}/live/{id}"),
            SourceType::Url => format!("https://{host}/{id}/part{i}.mp4"),
            SourceType::Vod => vod_media_id(id, i, host),
        })
        .collect()
}

/// A 32-hex-digit VOD media ID, as ApsaraVideo VOD's look, derived from the task and position.
fn vod_media_id(id: &str, i: usize, salt: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("{salt}/{id}/{i}").as_bytes());
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The task as it plausibly is before `u` is applied, at `now`, in a state that accepts `u`
/// under [`rules::check_against_live`] (the apply sandbox seeds with this too).
pub fn task_before(u: &Update, now: ApiTime) -> SeedTask {
    let n = now.unix();
    let id = &u.task_id;
    let source_type = source_type_for(u);
    let (status, start, end) = match (u.start_time, u.end_time) {
        // Moving StartTime needs a task that has not started: start it a day from now at the
        // earliest (a run does not cross it), and end it within 7 days of the new start.
        (Some(s), e) => {
            let start = s.unix().max(n + DAY);
            let start = if start == s.unix() {
                start + HOUR
            } else {
                start
            };
            // The end an hour off the new one (so that it changes too), within 7 days of both.
            let end = match e.map(|e| e.unix()) {
                Some(e) if e - HOUR > start + HOUR => e - HOUR,
                Some(e) => e.max(start) + HOUR,
                None => (s.unix() + DAY).max(start + HOUR),
            };
            (TaskStatus::NotStarted, start, end)
        }
        // A new EndTime must be within 7 days of the (unchanged) start: start a day before it, or
        // an hour ago when that is earlier, so that the task is a plausible stopped one.
        (None, Some(e)) => {
            let start = (e.unix() - DAY)
                .min(n - HOUR)
                .max(e.unix() - rules::MAX_SPAN_SECS + HOUR);
            (TaskStatus::Stopped, start, n.max(start) + DAY)
        }
        (None, None) => (TaskStatus::Stopped, n - HOUR, n + DAY),
    };
    // Sources before the change: placeholders of the right kind, enough for the update's
    // FileIndex (and as many as the new list, so an index into it stays in range).
    let wanted = u
        .source_urls
        .as_ref()
        .map_or(0, Vec::len)
        .max(u.file_index.unwrap_or(0).max(0) as usize + 1);
    let source_urls = placeholder_sources(id, source_type, wanted, "origin.emulator.invalid");
    SeedTask {
        task_id: id.clone(),
        region: u.region,
        task_name: format!("emulated {id}"),
        source_type,
        source_protocol: match source_type {
            SourceType::Live => "rtmp".into(),
            _ => String::new(),
        },
        source_urls,
        dst_url: format!("rtmp://push.emulator.invalid/live/{id}"),
        start_time: at(start),
        end_time: at(end),
        callback_url: String::new(),
        repeat_number: 0,
        offset: 0,
        file_index: 0,
        retry_count: rules::RETRY_COUNT_DEFAULT,
        retry_interval: rules::RETRY_INTERVAL_DEFAULT,
        task_status: status,
        task_exit_reason: None,
        task_exit_time: None,
        restarted_at: None,
    }
}

/// `n` synthetic tasks around `now`: about half stopped, a third running, the rest not started;
/// half live, a quarter url, a quarter vod; spread over the four regions (half in cn-shanghai).
/// The same `rng_seed` gives the same tasks for the same `now`.
pub fn synthetic(n: usize, rng_seed: Option<u64>, now: ApiTime) -> Vec<SeedTask> {
    let mut rng = match rng_seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_os_rng(),
    };
    let t0 = now.unix();
    (0..n)
        .map(|i| {
            let id = uuid_from(&mut rng);
            let region = match rng.random_range(0..20) {
                0..10 => Region::CnShanghai,
                10..15 => Region::CnBeijing,
                15..18 => Region::ApSoutheast1,
                _ => Region::ApSoutheast5,
            };
            let source_type = match rng.random_range(0..4) {
                0 | 1 => SourceType::Live,
                2 => SourceType::Url,
                _ => SourceType::Vod,
            };
            let (status, start) = match rng.random_range(0..6) {
                0..3 => (TaskStatus::Stopped, t0 - rng.random_range(HOUR..3 * DAY)),
                3 | 4 => (TaskStatus::Running, t0 - rng.random_range(60..DAY)),
                _ => (TaskStatus::NotStarted, t0 + rng.random_range(HOUR..3 * DAY)),
            };
            let end = (start + rng.random_range(DAY..rules::MAX_SPAN_SECS)).max(t0 + HOUR);
            let files = rng.random_range(1..=3);
            let source_urls = placeholder_sources(&id, source_type, files, "origin.example.com");
            SeedTask {
                task_id: id.clone(),
                region,
                task_name: format!("synthetic-{:04}", i + 1),
                source_type,
                source_protocol: match source_type {
                    SourceType::Live => "rtmp".into(),
                    _ => String::new(),
                },
                source_urls,
                dst_url: format!("rtmp://push.example.com/live/{id}"),
                start_time: at(start),
                end_time: at(end),
                callback_url: format!("https://hooks.example.com/live/{}", i % 7),
                repeat_number: if source_type == SourceType::Live {
                    0
                } else {
                    rng.random_range(-1..3)
                },
                offset: 0,
                file_index: 0,
                retry_count: rules::RETRY_COUNT_DEFAULT,
                retry_interval: rules::RETRY_INTERVAL_DEFAULT,
                task_status: status,
                task_exit_reason: None,
                task_exit_time: None,
                restarted_at: None,
            }
        })
        .collect()
}

/// A UUID-shaped (version 4) ID from `rng`, like the service's task IDs.
pub fn uuid_from(rng: &mut impl Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random::<u128>().to_be_bytes())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::LiveTask;

    fn t(s: &str) -> ApiTime {
        ApiTime::parse(s).unwrap()
    }

    fn live(s: &SeedTask, now: ApiTime) -> LiveTask {
        LiveTask {
            status: s.status_at(now).0,
            source_type: Some(s.source_type),
            start_time: Some(s.start_time),
            end_time: Some(s.end_time),
            source_urls: s.source_urls.clone(),
        }
    }

    fn example(name: &str, now: ApiTime) -> Seeded {
        let root = env!("CARGO_MANIFEST_DIR");
        from_files(&[PathBuf::from(format!("{root}/examples/{name}"))], now).unwrap()
    }

    #[test]
    fn the_bundled_manifests_seed_tasks_that_accept_every_update_as_a_change() {
        let now = t("2026-11-25T12:00:00Z");
        for f in ["migration.yaml", "migration.csv"] {
            let seeded = example(f, now);
            let root = env!("CARGO_MANIFEST_DIR");
            let input = Input::from_arg(&format!("{root}/examples/{f}"));
            let batch = crate::validate::load_batch(&[input], now);
            assert_eq!(seeded.tasks.len(), batch.entries.len(), "{f}");
            assert_eq!(seeded.before_change, batch.entries.len(), "{f}");
            for (s, e) in seeded.tasks.iter().zip(&batch.entries) {
                let u = &e.update;
                assert_eq!((&s.task_id, s.region), (&u.task_id, u.region));
                let v = rules::check_against_live(u, &live(s, now), now);
                assert!(v.is_empty(), "{f} {}: {v:?}", u.task_id);
                if let Some(c) = &u.callback_url {
                    assert_ne!(&s.callback_url, c, "{f} {}", u.task_id);
                }
                if let Some(e) = u.end_time {
                    assert_ne!(s.end_time, e, "{f} {}", u.task_id);
                    assert!(e.unix() - s.start_time.unix() <= rules::MAX_SPAN_SECS);
                }
                if let Some(st) = u.start_time {
                    assert_ne!(s.start_time, st, "{f} {}", u.task_id);
                    assert_eq!(s.task_status, TaskStatus::NotStarted);
                }
                if let Some(urls) = &u.source_urls {
                    assert_ne!(&s.source_urls, urls, "{f} {}", u.task_id);
                }
            }
        }
    }

    #[test]
    fn a_record_with_x_task_status_is_taken_as_it_is() {
        let now = t("2026-11-25T12:00:00Z");
        let mut u = Update::new("t-1", Region::CnBeijing);
        u.start_time = Some(t("2026-11-25T00:00:00Z"));
        u.end_time = Some(t("2026-11-26T00:00:00Z"));
        u.source_urls = Some(vec!["srt://pull.example.com:9000?streamid=a".into()]);
        u.callback_url = Some("https://hooks.example.com/x".into());
        let ann: BTreeMap<String, String> = [
            ("x-TaskStatus", "1"),
            ("x-TaskName", "night show"),
            ("x-DstUrl", "rtmp://push.example.com/app/a"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let s = from_entry(&u, &ann, now).unwrap();
        assert_eq!(s.task_status, TaskStatus::Running);
        assert_eq!(s.status_at(now).0, TaskStatus::Running);
        assert_eq!(
            (s.start_time, s.end_time),
            (u.start_time.unwrap(), u.end_time.unwrap())
        );
        assert_eq!(s.source_urls, u.source_urls.clone().unwrap());
        assert_eq!(
            (s.source_type, s.source_protocol.as_str()),
            (SourceType::Live, "srt")
        );
        assert_eq!(s.callback_url, "https://hooks.example.com/x");
        assert_eq!(s.task_name, "night show");
        assert_eq!(s.dst_url, "rtmp://push.example.com/app/a");

        let mut bad = ann.clone();
        bad.insert("x-TaskStatus".into(), "7".into());
        let e = from_entry(&u, &bad, now).unwrap_err();
        assert!(e.to_string().contains("x-TaskStatus \"7\""), "{e}");

        // Only EndTime stated: the start is chosen within the 7-day span before it.
        let mut u2 = Update::new("t-2", Region::CnBeijing);
        u2.end_time = Some(t("2026-12-20T00:00:00Z"));
        let s = from_entry(&u2, &ann, now).unwrap();
        assert_eq!(s.end_time, u2.end_time.unwrap());
        assert!(s.end_time.unix() - s.start_time.unix() <= rules::MAX_SPAN_SECS);
    }

    #[test]
    fn invalid_manifests_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.yaml");
        std::fs::write(&p, "updates:\n  - TaskId: a\n    Region: mars-1\n").unwrap();
        let e = from_files(&[p], t("2026-11-25T12:00:00Z")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("bad.yaml"), "{msg}");
        assert!(msg.contains("mars-1"), "{msg}");
        assert!(
            matches!(e, SeedFileError::Invalid { count: 1, .. }),
            "{msg}"
        );
    }

    #[test]
    fn a_state_file_seeds_as_stored_and_duplicates_are_refused() {
        let now = t("2026-11-25T12:00:00Z");
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("emu.json");
        let tasks = synthetic(3, Some(1), now);
        StateFile::new(tasks.clone()).save_atomic(&state).unwrap();
        let s = from_files(std::slice::from_ref(&state), now).unwrap();
        assert_eq!((s.tasks, s.from_state), (tasks, 3));
        let e = from_files(&[state.clone(), state], now).unwrap_err();
        assert!(
            matches!(e, SeedFileError::Task(SeedError::Duplicate(_))),
            "{e}"
        );
    }

    #[test]
    fn synthetic_tasks_are_reproducible_mixed_and_valid() {
        let now = t("2026-11-25T12:00:00Z");
        let a = synthetic(300, Some(7), now);
        assert_eq!(a, synthetic(300, Some(7), now));
        assert_ne!(a, synthetic(300, Some(8), now));
        let count = |st: TaskStatus| a.iter().filter(|t| t.status_at(now).0 == st).count();
        for st in [
            TaskStatus::Stopped,
            TaskStatus::Running,
            TaskStatus::NotStarted,
        ] {
            assert!(count(st) > 30, "{st:?}: {}", count(st));
        }
        for ty in [SourceType::Live, SourceType::Url, SourceType::Vod] {
            assert!(
                a.iter().filter(|t| t.source_type == ty).count() > 30,
                "{ty:?}"
            );
        }
        let ids: HashSet<_> = a.iter().map(|t| &t.task_id).collect();
        assert_eq!(ids.len(), 300);
        for s in &a {
            assert!(s.end_time > now, "{s:?}");
            assert!(s.end_time.unix() - s.start_time.unix() <= rules::MAX_SPAN_SECS);
            for u in &s.source_urls {
                assert_eq!(rules::check_source(Some(s.source_type), u), None, "{u}");
            }
            assert!(rules::check_task_id(&s.task_id).is_none());
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn update() -> impl Strategy<Value = Update> {
            let ty = prop_oneof![
                Just(None),
                Just(Some(SourceType::Live)),
                Just(Some(SourceType::Url)),
                Just(Some(SourceType::Vod)),
            ];
            (
                ty,
                proptest::option::of(HOUR..20 * DAY),
                proptest::option::of(HOUR..7 * DAY),
                proptest::option::of(-1i32..5),
                proptest::option::of(1i32..100),
                proptest::option::of(0i32..4),
                any::<bool>(),
                proptest::option::of(1usize..5),
            )
                .prop_map(|(ty, start, span, repeat, offset, index, cb, urls)| {
                    let now = 1_795_000_000i64;
                    let mut u = Update::new("prop-task", Region::CnShanghai);
                    u.source_type = ty;
                    u.start_time = start.map(|s| at(now + s));
                    u.end_time = span.map(|d| at(now + start.unwrap_or(0).max(0) + d));
                    u.repeat_number = repeat;
                    u.offset = offset;
                    u.file_index = index;
                    u.callback_url = cb.then(|| "https://hooks.example.com/cb".to_string());
                    u.source_urls = urls.map(|n| match ty {
                        Some(SourceType::Live) | None => {
                            vec!["rtmp://pull.example.com/app/s".to_string()]
                        }
                        Some(SourceType::Url) => (0..n)
                            .map(|i| format!("https://media.example.com/{i}.mp4"))
                            .collect(),
                        Some(SourceType::Vod) => (0..n).map(|i| format!("media{i}")).collect(),
                    });
                    u
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig { max_global_rejects: 100_000, ..ProptestConfig::default() })]
            /// Whatever valid change a manifest makes, the task seeded before it accepts it.
            #[test]
            fn the_task_before_a_valid_change_accepts_it(u in update()) {
                let now = at(1_795_000_000);
                // Valid for a task of some source type (the stated one when stated).
                let valid_as = |t: Option<SourceType>| {
                    let mut typed = u.clone();
                    typed.source_type = t.or(u.source_type);
                    rules::check_offline(&typed, now)
                        .iter()
                        .all(|v| v.severity != rules::Severity::Error)
                };
                prop_assume!(
                    [SourceType::Live, SourceType::Url, SourceType::Vod]
                        .into_iter()
                        .any(|t| valid_as(Some(t)))
                        && valid_as(None)
                );
                // A stated live type (kept as stated) has one source: no FileIndex past 0 fits.
                prop_assume!(!(u.source_type == Some(SourceType::Live) && u.file_index.unwrap_or(0) > 0));
                let s = task_before(&u, now);
                let v = rules::check_against_live(&u, &live(&s, now), now);
                let errors: Vec<_> = v.iter().filter(|v| v.severity == rules::Severity::Error).collect();
                prop_assert!(errors.is_empty(), "{:?} -> {:?}: {:?}", u, s, errors);
                prop_assert!(s.end_time > s.start_time);
                prop_assert!(s.end_time.unix() - s.start_time.unix() <= rules::MAX_SPAN_SECS);
            }
        }
    }
}
