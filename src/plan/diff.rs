//! An update against a task's live state: what would change, what cannot change now, and why.
//!
//! Pure: given the manifest's update, what Describe said of the task (if anything) and the time,
//! it decides the item's class and the exact calls that would carry it out. Planning, `diff` and
//! `apply --plan` all decide through here, so what a person reviewed is what gets sent.

use serde::{Deserialize, Serialize};

use crate::api::models::{TaskInfo, TaskState};
use crate::model::{ApiTime, Field, Region, TaskStatus, Update};
use crate::rules::{self, LiveTask, Severity, Violation};

/// One field that differs: the live value and the value the manifest asks for, as display text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: Field,
    pub old: String,
    pub new: String,
}

/// Why a field cannot change now: a rule's verdict, kept as plain data so plans can be saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub field: Field,
    /// The error code the service would answer with.
    pub code: String,
    pub message: String,
}

impl From<Violation> for Reason {
    fn from(v: Violation) -> Reason {
        Reason {
            field: v.field,
            code: v.code.to_string(),
            message: v.message,
        }
    }
}

/// One call of a plan item, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Stop,
    Update,
    Restart,
}

/// What planning concluded about one update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum Decision {
    /// Fields differ and the task's state allows the change.
    Change {
        changes: Vec<FieldChange>,
        steps: Vec<Step>,
        /// With `--partial`: what the update asks for that the task's state does not allow now,
        /// and why. Not sent; the rest of the update is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        held: Option<Held>,
    },
    /// Already as requested: nothing will be sent.
    NoOp,
    /// The task's state (or its real source type) forbids the change.
    Blocked {
        changes: Vec<FieldChange>,
        reasons: Vec<Reason>,
        hint: Option<String>,
    },
    /// No such task in that region.
    Missing,
}

impl Decision {
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Change { .. } => "change",
            Decision::NoOp => "no-op",
            Decision::Blocked { .. } => "blocked",
            Decision::Missing => "missing",
        }
    }
}

/// The part of a `--partial` item that stays blocked: its fields and the reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub changes: Vec<FieldChange>,
    pub reasons: Vec<Reason>,
}

/// Options that change how a decision is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Plan stop → update → restart for a running task whose update needs a stopped task.
    pub restart_running: bool,
    /// Send the fields of a blocked update that the task's state allows, and keep the rest
    /// blocked (`Decision::Change` with `held`), instead of blocking the whole update.
    pub partial: bool,
}

/// The fields of `u` that differ from the live task, and the update narrowed to exactly those
/// fields (identity fields kept). Sending only what differs keeps an unchanged `StartTime` in a
/// manifest from being refused on a running task.
pub fn changes(u: &Update, live: &TaskState) -> (Vec<FieldChange>, Update) {
    let info = &live.task_info;
    let mut narrowed = u.clone();
    let mut out = Vec::new();
    for field in u.changed_fields() {
        let Some(new) = u.get(field) else { continue };
        // Every changeable field is reported by Describe (the field table's test says so); one
        // that were not would count as differing from nothing.
        let live = info.reported(field);
        if live
            .as_ref()
            .is_some_and(|r| r.value.as_ref() == Some(&new))
        {
            narrowed.clear(field);
        } else {
            out.push(FieldChange {
                field,
                old: live.map(|r| r.text().into_owned()).unwrap_or_default(),
                new: new.wire(),
            });
        }
    }
    (out, narrowed)
}

fn errors(v: Vec<Violation>) -> Vec<Reason> {
    v.into_iter()
        .filter(|x| x.severity == Severity::Error)
        .map(Reason::from)
        .collect()
}

/// Decides one update against what Describe returned (`None`: no such task), the task found in
/// the update's own region. Returns the decision and the update narrowed to the fields that
/// differ (what would be sent).
pub fn decide(
    u: &Update,
    live: Option<&TaskState>,
    now: ApiTime,
    opts: PlanOptions,
) -> (Decision, Update) {
    decide_in(u, live, u.region, now, opts)
}

/// [`decide`] for a task found in `region`: when that is not the update's `Region`, moving it
/// there is one of the changes (Describe does not report a task's region: where a read found it
/// is what says it), allowed only before the task's scheduled start.
pub fn decide_in(
    u: &Update,
    live: Option<&TaskState>,
    region: Region,
    now: ApiTime,
    opts: PlanOptions,
) -> (Decision, Update) {
    let Some(state) = live else {
        return (Decision::Missing, u.clone());
    };
    let (mut changes, narrowed) = changes(u, state);
    if region != u.region {
        changes.insert(
            0,
            FieldChange {
                field: Field::Region,
                old: region.to_string(),
                new: u.region.to_string(),
            },
        );
    }
    if changes.is_empty() {
        return (Decision::NoOp, narrowed);
    }
    let Some(task) = live_task(state) else {
        let reason = Reason {
            field: Field::TaskId,
            code: String::new(),
            message: format!(
                "the service reported an unknown TaskStatus {}",
                state.task_status
            ),
        };
        return (
            Decision::Blocked {
                changes,
                reasons: vec![reason],
                hint: None,
            },
            narrowed,
        );
    };
    // The live rules, and the move to another region (which they do not see: `LiveTask` has no
    // region) judged by the same state table.
    let check = |task: &LiveTask| {
        let moved = (region != u.region)
            .then(|| rules::blocked_in_state(Field::Region, task.status))
            .flatten();
        let live = rules::check_against_live(&narrowed, task, now);
        errors(moved.into_iter().chain(live).collect())
    };
    let reasons = check(&task);
    if reasons.is_empty() {
        return (
            Decision::Change {
                changes,
                steps: vec![Step::Update],
                held: None,
            },
            narrowed,
        );
    }
    if task.status.is_running() {
        let stopped = LiveTask {
            status: TaskStatus::Stopped,
            ..task.clone()
        };
        let ok_when_stopped = check(&stopped).is_empty();
        if ok_when_stopped && opts.restart_running {
            let steps = vec![Step::Stop, Step::Update, Step::Restart];
            let held = None;
            return (
                Decision::Change {
                    changes,
                    steps,
                    held,
                },
                narrowed,
            );
        }
        if ok_when_stopped {
            let hint = Some(
                "the task is running; --restart-running plans stop → update → restart for it"
                    .to_string(),
            );
            return blocked_or_partial(changes, reasons, hint, narrowed, &task, now, opts);
        }
    }
    blocked_or_partial(changes, reasons, None, narrowed, &task, now, opts)
}

/// A blocked update, or with `--partial` the fields its task allows now as a change and the
/// rest held back with their reasons. Only a split the rules accept as a whole is planned: the
/// fields left must pass every live check together (so a cross-field rule cannot be split open).
fn blocked_or_partial(
    changes: Vec<FieldChange>,
    reasons: Vec<Reason>,
    hint: Option<String>,
    narrowed: Update,
    task: &LiveTask,
    now: ApiTime,
    opts: PlanOptions,
) -> (Decision, Update) {
    let blocked = |f: Field| reasons.iter().any(|r| r.field == f);
    if opts.partial {
        let mut allowed = narrowed.clone();
        let mut separable = true;
        for c in &changes {
            if blocked(c.field) {
                // `Region` cannot be left out of a call (it names the task): not split.
                separable &= allowed.clear(c.field);
            }
        }
        let sends = separable && changes.iter().any(|c| !blocked(c.field));
        if sends && errors(rules::check_against_live(&allowed, task, now)).is_empty() {
            let (now_sent, held): (Vec<_>, Vec<_>) =
                changes.into_iter().partition(|c| !blocked(c.field));
            let decision = Decision::Change {
                changes: now_sent,
                steps: vec![Step::Update],
                held: Some(Held {
                    changes: held,
                    reasons,
                }),
            };
            return (decision, allowed);
        }
    }
    (
        Decision::Blocked {
            changes,
            reasons,
            hint,
        },
        narrowed,
    )
}

/// A stable fingerprint of the live state an item was planned against: the status, every field
/// Describe reports (the field table's `described_as`, in the response's order and spelling) and
/// `DstUrl`, as one JSON object, hashed. A saved plan refuses an item whose fingerprint moved; the
/// object's text is part of every saved plan, so its keys and their order must not change.
pub fn fingerprint(state: &TaskState) -> String {
    use sha2::{Digest, Sha256};
    let mut canonical = serde_json::Map::new();
    canonical.insert("TaskStatus".into(), state.task_status.into());
    if let Ok(serde_json::Value::Object(info)) = serde_json::to_value(&state.task_info) {
        let described = |k: &str| Field::ALL.iter().any(|f| f.described_as() == Some(k));
        canonical.extend(info.into_iter().filter(|(k, _)| described(k)));
    }
    canonical.insert("DstUrl".into(), state.task_info.dst_url.clone().into());
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(
            serde_json::Value::Object(canonical).to_string().as_bytes()
        ))
    )
}

/// One thing that moved between planning and now (`TaskStatus` or a configuration field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub what: String,
    pub then: String,
    pub now: String,
}

/// What moved between two observations of a task, for "refused: stale" messages: its status,
/// `SourceType` (what kind of task the rest describe), every other field Describe reports in the
/// table's order, and `DstUrl`.
pub fn drift(planned: &TaskState, now: &TaskState) -> Vec<Drift> {
    let (a, b) = (&planned.task_info, &now.task_info);
    let mut fields: Vec<Field> = Field::ALL.to_vec();
    fields.sort_by_key(|&f| f != Field::SourceType);
    let reported = |i: &TaskInfo, f: Field| i.reported(f).map(|r| r.text().into_owned());
    let pairs = std::iter::once((
        "TaskStatus",
        status_text(planned.task_status),
        status_text(now.task_status),
    ))
    .chain(
        fields
            .into_iter()
            .filter_map(|f| Some((f.name(), reported(a, f)?, reported(b, f)?))),
    )
    .chain(std::iter::once((
        "DstUrl",
        a.dst_url.clone(),
        b.dst_url.clone(),
    )));
    pairs
        .filter(|(_, then, now)| then != now)
        .map(|(what, then, now)| Drift {
            what: what.to_string(),
            then,
            now,
        })
        .collect()
}

/// Whether a saved plan's item is already done: the task now holds every value the item sets,
/// and nothing else moved since planning (its status included; after stop → update → restart a
/// running task is expected to be running again). Such an item is reported as already applied,
/// not stale: re-applying a plan that went through is a success that sends nothing.
pub fn already_applied(
    planned: &TaskState,
    update: &Update,
    steps: &[Step],
    now: &TaskState,
) -> bool {
    if !changes(update, now).0.is_empty() {
        return false;
    }
    let set: Vec<&str> = update.changed_fields().iter().map(|f| f.name()).collect();
    let restarted = steps.contains(&Step::Restart);
    let running = |code: i32| TaskStatus::from_code(code).is_some_and(TaskStatus::is_running);
    drift(planned, now).iter().all(|d| {
        if d.what == "TaskStatus" {
            restarted && running(planned.task_status) && running(now.task_status)
        } else {
            set.contains(&d.what.as_str())
        }
    })
}

/// The parts of a Describe answer the live rules read. Unknown or unparsable values become `None`
/// rather than errors, since a rule that cannot be evaluated is left to the service. Lives here,
/// not in `rules`, so that the rules know nothing of the API's JSON shapes.
pub fn live_task(s: &TaskState) -> Option<LiveTask> {
    Some(LiveTask {
        status: TaskStatus::from_code(s.task_status)?,
        source_type: s.task_info.source_type.parse().ok(),
        start_time: ApiTime::parse(&s.task_info.start_time).ok(),
        end_time: ApiTime::parse(&s.task_info.end_time).ok(),
        source_urls: s.task_info.source_urls.clone(),
    })
}

fn status_text(code: i32) -> String {
    TaskStatus::from_code(code)
        .map_or_else(|| format!("unknown ({code})"), |s| s.name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceType;
    use crate::rules::code;

    fn t(s: &str) -> ApiTime {
        ApiTime::parse(s).unwrap()
    }

    fn now() -> ApiTime {
        t("2027-03-01T00:00:00Z")
    }

    fn live(status: TaskStatus) -> TaskState {
        TaskState {
            task_id: "t1".into(),
            task_status: status.code(),
            task_info: TaskInfo {
                task_id: "t1".into(),
                source_type: "url".into(),
                source_urls: vec!["https://old/a.mp4".into(), "https://old/b.mp4".into()],
                start_time: "2027-02-28T00:00:00Z".into(),
                end_time: "2027-03-02T00:00:00Z".into(),
                callback_url: "https://old-hooks/cb".into(),
                repeat_number: 0,
                ..TaskInfo::default()
            },
            ..TaskState::default()
        }
    }

    fn update() -> Update {
        Update::new("t1", Region::CnShanghai)
    }

    #[test]
    fn missing_and_no_op() {
        assert_eq!(
            decide(&update(), None, now(), PlanOptions::default()).0,
            Decision::Missing
        );
        let mut u = update();
        u.callback_url = Some("https://old-hooks/cb".into());
        u.start_time = Some(t("2027-02-28T00:00:00Z"));
        let (d, narrowed) = decide(
            &u,
            Some(&live(TaskStatus::Running)),
            now(),
            PlanOptions::default(),
        );
        assert_eq!(d, Decision::NoOp);
        assert!(narrowed.changed_fields().is_empty());
    }

    #[test]
    fn running_task_allows_callback_and_repeat_and_sends_only_what_differs() {
        let mut u = update();
        u.callback_url = Some("https://new-hooks/cb".into());
        u.repeat_number = Some(-1);
        u.start_time = Some(t("2027-02-28T00:00:00Z")); // unchanged: must not be sent
        let (d, narrowed) = decide(
            &u,
            Some(&live(TaskStatus::Running)),
            now(),
            PlanOptions::default(),
        );
        match d {
            Decision::Change { changes, steps, .. } => {
                assert_eq!(steps, vec![Step::Update]);
                assert_eq!(changes.len(), 2);
                assert_eq!(changes[1].old, "https://old-hooks/cb");
                assert_eq!(changes[1].new, "https://new-hooks/cb");
            }
            other => panic!("expected a change, got {other:?}"),
        }
        assert_eq!(
            narrowed.changed_fields(),
            vec![Field::RepeatNumber, Field::CallbackUrl]
        );
        assert_eq!(narrowed.start_time, None);
    }

    #[test]
    fn running_task_with_new_sources_is_blocked_or_restarted() {
        let mut u = update();
        u.source_urls = Some(vec!["https://new/a.mp4".into()]);
        let st = live(TaskStatus::Running);
        let (d, _) = decide(&u, Some(&st), now(), PlanOptions::default());
        match d {
            Decision::Blocked { reasons, hint, .. } => {
                assert_eq!(reasons[0].field, Field::SourceUrls);
                assert!(hint.unwrap().contains("--restart-running"));
            }
            other => panic!("expected blocked, got {other:?}"),
        }
        let (d, _) = decide(
            &u,
            Some(&st),
            now(),
            PlanOptions {
                restart_running: true,
                partial: false,
            },
        );
        assert_eq!(
            d,
            Decision::Change {
                changes: vec![FieldChange {
                    field: Field::SourceUrls,
                    old: r#"["https://old/a.mp4","https://old/b.mp4"]"#.into(),
                    new: r#"["https://new/a.mp4"]"#.into(),
                }],
                steps: vec![Step::Stop, Step::Update, Step::Restart],
                held: None,
            }
        );
    }

    #[test]
    fn partial_sends_the_allowed_fields_and_holds_the_rest() {
        let mut u = update();
        u.callback_url = Some("https://new-hooks/cb".into());
        u.source_urls = Some(vec!["https://new/a.mp4".into()]);
        let st = live(TaskStatus::Running);
        let opts = PlanOptions {
            partial: true,
            ..PlanOptions::default()
        };
        let (d, narrowed) = decide(&u, Some(&st), now(), opts);
        let Decision::Change {
            changes,
            steps,
            held: Some(held),
        } = d
        else {
            panic!("expected a partial change, got {d:?}");
        };
        assert_eq!(steps, vec![Step::Update]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, Field::CallbackUrl);
        assert_eq!(held.changes[0].field, Field::SourceUrls);
        assert_eq!(held.reasons[0].field, Field::SourceUrls);
        assert_eq!(narrowed.changed_fields(), vec![Field::CallbackUrl]);
        // --restart-running wins: the whole update, by stop → update → restart.
        let both = PlanOptions {
            restart_running: true,
            partial: true,
        };
        let (d, _) = decide(&u, Some(&st), now(), both);
        assert!(matches!(d, Decision::Change { held: None, ref steps, .. } if steps.len() == 3));
        // Nothing the task allows: still blocked.
        u.callback_url = None;
        assert_eq!(decide(&u, Some(&st), now(), opts).0.name(), "blocked");
    }

    #[test]
    fn a_task_found_in_another_region_is_moved_before_start_and_blocked_after() {
        let mut u = update();
        u.callback_url = Some("https://old-hooks/cb".into()); // as it is: only Region differs
        let beijing = Region::CnBeijing;
        let later = live(TaskStatus::NotStarted);
        let (d, narrowed) = decide_in(&u, Some(&later), beijing, now(), PlanOptions::default());
        let Decision::Change { changes, .. } = d else {
            panic!("expected a change, got {d:?}");
        };
        assert_eq!(
            changes,
            vec![FieldChange {
                field: Field::Region,
                old: "cn-beijing".into(),
                new: "cn-shanghai".into(),
            }]
        );
        assert_eq!(narrowed.region, Region::CnShanghai);
        let all = PlanOptions {
            restart_running: true,
            partial: true,
        };
        let (d, _) = decide_in(&u, Some(&live(TaskStatus::Running)), beijing, now(), all);
        let Decision::Blocked { reasons, .. } = d else {
            panic!("expected blocked, got {d:?}");
        };
        assert_eq!(reasons[0].field, Field::Region);
        assert_eq!(reasons[0].code, code::TASK_HAS_STARTED);
        // Found where the manifest says: nothing differs.
        let (d, _) = decide(&u, Some(&later), now(), PlanOptions::default());
        assert_eq!(d, Decision::NoOp);
    }

    #[test]
    fn start_time_after_start_is_blocked_even_with_restart() {
        let mut u = update();
        u.start_time = Some(t("2027-02-28T01:00:00Z"));
        let (d, _) = decide(
            &u,
            Some(&live(TaskStatus::Running)),
            now(),
            PlanOptions {
                restart_running: true,
                partial: false,
            },
        );
        match d {
            Decision::Blocked { reasons, hint, .. } => {
                assert!(reasons.iter().any(|r| r.code == code::TASK_HAS_STARTED));
                assert_eq!(hint, None);
            }
            other => panic!("expected blocked, got {other:?}"),
        }
    }

    #[test]
    fn real_source_type_is_used() {
        let mut u = update();
        u.source_urls = Some(vec!["rtmp://live/app/s".into()]);
        let (d, _) = decide(
            &u,
            Some(&live(TaskStatus::Stopped)),
            now(),
            PlanOptions::default(),
        );
        assert_eq!(d.name(), "blocked");
        u.source_urls = Some(vec!["https://new/a.mp4".into()]);
        u.source_type = Some(SourceType::Url);
        let (d, _) = decide(
            &u,
            Some(&live(TaskStatus::Stopped)),
            now(),
            PlanOptions::default(),
        );
        assert_eq!(d.name(), "change");
    }

    #[test]
    fn ended_task_blocks_end_time() {
        let mut u = update();
        u.end_time = Some(t("2027-03-03T00:00:00Z"));
        let (d, _) = decide(
            &u,
            Some(&live(TaskStatus::Exited)),
            now(),
            PlanOptions::default(),
        );
        assert_eq!(d.name(), "blocked");
        let (d, _) = decide(
            &u,
            Some(&live(TaskStatus::Stopped)),
            now(),
            PlanOptions::default(),
        );
        assert_eq!(d.name(), "change");
    }

    #[test]
    fn fingerprint_moves_with_state_and_drift_names_fields() {
        let a = live(TaskStatus::Stopped);
        let mut b = a.clone();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.task_info.callback_url = "https://elsewhere/cb".into();
        b.task_status = TaskStatus::Running.code();
        assert_ne!(fingerprint(&a), fingerprint(&b));
        let d = drift(&a, &b);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].what.as_str(), d[0].then.as_str(), d[0].now.as_str()),
            ("TaskStatus", "stopped", "running")
        );
        assert_eq!(d[1].what, "CallbackUrl");
    }

    #[test]
    fn the_fingerprint_and_drift_keep_the_saved_plans_format() {
        use sha2::{Digest, Sha256};
        let mut a = live(TaskStatus::Running);
        a.task_info.dst_url = "rtmp://push/app/s".into();
        a.task_info.offset = 7;
        // The canonical object saved plans have always hashed: keys, spelling and order.
        let i = &a.task_info;
        let canonical = serde_json::json!({
            "TaskStatus": a.task_status,
            "SourceType": i.source_type,
            "SourceUrls": i.source_urls,
            "StartTime": i.start_time,
            "EndTime": i.end_time,
            "CallbackURL": i.callback_url,
            "RepeatNumber": i.repeat_number,
            "Offset": i.offset,
            "FileIndex": i.file_index,
            "DstUrl": i.dst_url,
        });
        let want = hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
        assert_eq!(fingerprint(&a), format!("sha256:{want}"));

        // Everything moves: drift names it all, in its order.
        let b = TaskState {
            task_status: TaskStatus::Stopped.code(),
            task_info: TaskInfo {
                source_type: "vod".into(),
                source_urls: vec!["m1".into()],
                start_time: "2027-02-27T00:00:00Z".into(),
                end_time: "bad".into(),
                callback_url: "https://x/cb".into(),
                repeat_number: 3,
                offset: 1,
                file_index: 2,
                dst_url: "rtmp://push/app/t".into(),
                ..a.task_info.clone()
            },
            ..a.clone()
        };
        let what: Vec<String> = drift(&a, &b).into_iter().map(|d| d.what).collect();
        assert_eq!(
            what,
            [
                "TaskStatus",
                "SourceType",
                "StartTime",
                "EndTime",
                "SourceUrls",
                "RepeatNumber",
                "Offset",
                "FileIndex",
                "CallbackUrl",
                "DstUrl"
            ]
        );
        let end = drift(&a, &b).into_iter().find(|d| d.what == "EndTime");
        assert_eq!(end.unwrap().now, "bad", "shown as the service wrote it");
    }

    #[test]
    fn an_item_already_at_its_end_state_is_applied_not_stale() {
        let planned = live(TaskStatus::Stopped);
        let mut u = update();
        u.callback_url = Some("https://new-hooks/cb".into());
        let mut now = planned.clone();
        assert!(!already_applied(&planned, &u, &[Step::Update], &now));
        now.task_info.callback_url = "https://new-hooks/cb".into();
        assert!(already_applied(&planned, &u, &[Step::Update], &now));
        // Something else moved too: stale.
        let mut other = now.clone();
        other.task_info.repeat_number = 4;
        assert!(!already_applied(&planned, &u, &[Step::Update], &other));
        let mut started = now.clone();
        started.task_status = TaskStatus::Running.code();
        assert!(!already_applied(&planned, &u, &[Step::Update], &started));
        // Stop → update → restart of a running task ends running.
        let planned = live(TaskStatus::Running);
        let mut now = planned.clone();
        now.task_info.callback_url = "https://new-hooks/cb".into();
        let steps = [Step::Stop, Step::Update, Step::Restart];
        assert!(already_applied(&planned, &u, &steps, &now));
        now.task_status = TaskStatus::Stopped.code();
        assert!(!already_applied(&planned, &u, &steps, &now));
    }
}
