//! Each task's before-image against its live state, decided (pure): left out because it *moved*
//! since the run, or restored — as an update of the fields the run changed, back to their old
//! values — less the fields that cannot be restored.
//!
//! Moved means a field the run changed no longer holds what the run set (someone or something
//! changed it since), or the task is gone. Restoring such a task would overwrite a change the run
//! did not make, so it is left out and listed unless the operator asks (`--include-moved`). The
//! comparison is planning's own ([`crate::plan::diff::changes`]: typed values, as Describe
//! reports them), so "moved" here and "differs" in `plan` cannot disagree.

use super::image::{FieldImage, TaskImage};
use crate::api::models::TaskState;
use crate::model::{ApiTime, Field, Region, Role, TaskStatus, Update, Value};
use crate::rules::{self, Severity};

/// One field whose live value is no longer what the run set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub field: Field,
    /// What the run set.
    pub set: String,
    /// What is live now.
    pub live: String,
}

/// How a task moved since the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// It holds other values than the run set.
    Changed(Vec<Drift>),
    /// It is in no region any more.
    Gone,
}

/// A task that moved since the run, and whether it is restored anyway (`--include-moved`; a
/// task that is gone never is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedTask {
    pub task_id: String,
    pub moved: Moved,
    pub included: bool,
}

/// Something the revert cannot restore, and why: one field, or (`field: None`) the whole task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrestorable {
    pub task_id: String,
    /// The field as the journal names it.
    pub field: Option<String>,
    /// The value it had before the run.
    pub old: String,
    pub why: String,
}

/// Every task decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decided {
    /// The updates to write, in the run's order.
    pub updates: Vec<Update>,
    pub moved: Vec<MovedTask>,
    pub unrestorable: Vec<Unrestorable>,
    /// Some update restores a field a running task must be stopped for (`--restart-running`).
    pub restart_running: bool,
}

impl Decided {
    /// Moved tasks left out of the manifest.
    pub fn left_out(&self) -> usize {
        self.moved.iter().filter(|m| !m.included).count()
    }
}

/// Decides every task: `live` holds where each task is now and its state (absent: gone).
pub fn decide_all(
    tasks: &[TaskImage],
    live: &super::live::Found,
    include_moved: bool,
    now: ApiTime,
) -> Decided {
    let mut out = Decided::default();
    for t in tasks {
        let v = decide(t, live.get(&t.task_id), include_moved, now);
        if let Some(m) = v.moved {
            out.moved.push(MovedTask {
                task_id: t.task_id.clone(),
                included: v.update.is_some(),
                moved: m,
            });
        }
        out.unrestorable.extend(v.unrestorable);
        if let Some(u) = v.update {
            out.restart_running |= v.needs_restart;
            out.updates.push(u);
        }
    }
    out
}

/// One task decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub update: Option<Update>,
    pub moved: Option<Moved>,
    pub unrestorable: Vec<Unrestorable>,
    pub needs_restart: bool,
}

/// A field of the image, typed: the field, and what the run set.
struct Typed<'a> {
    image: &'a FieldImage,
    field: Field,
    set: Value<'static>,
}

/// Decides one task against `live` (where it is and its state; `None`: gone).
pub fn decide(
    t: &TaskImage,
    live: Option<&(Region, TaskState)>,
    include_moved: bool,
    now: ApiTime,
) -> Verdict {
    let mut v = Verdict::default();
    let Some((region, state)) = live else {
        v.moved = Some(Moved::Gone);
        return v;
    };
    let typed = typed_fields(t, &mut v.unrestorable);
    let drift = drift(&t.task_id, *region, state, &typed);
    if !drift.is_empty() {
        v.moved = Some(Moved::Changed(drift));
        if !include_moved {
            return v;
        }
    }
    if state.task_status == TaskStatus::Exited.code() {
        v.unrestorable.push(Unrestorable {
            task_id: t.task_id.clone(),
            field: None,
            old: String::new(),
            why: "the task has exited (TaskStatus -1): it can no longer be updated".into(),
        });
        return v;
    }
    let Some(u) = restore(t, *region, &typed, now, &mut v.unrestorable) else {
        return v;
    };
    v.needs_restart = TaskStatus::from_code(state.task_status).is_some_and(|s| {
        s.is_running()
            && u.changed_fields().into_iter().any(|f| {
                rules::blocked_in_state(f, s).is_some()
                    && rules::blocked_in_state(f, TaskStatus::Stopped).is_none()
            })
    });
    v.update = Some(u);
    v
}

fn unrestorable(t: &TaskImage, f: &FieldImage, why: String) -> Unrestorable {
    Unrestorable {
        task_id: t.task_id.clone(),
        field: Some(f.field.clone()),
        old: f.old.clone(),
        why,
    }
}

/// The image's fields typed, each with what the run set; a field no update changes, or whose
/// recorded value does not parse, is not restorable.
fn typed_fields<'a>(t: &'a TaskImage, out: &mut Vec<Unrestorable>) -> Vec<Typed<'a>> {
    let mut typed = Vec::new();
    for f in &t.fields {
        let field = match Field::from_name(&f.field) {
            Some(field) if field.role() == Role::Change || field == Field::Region => field,
            _ => {
                let why = format!("{:?} is not a field an update changes", f.field);
                out.push(unrestorable(t, f, why));
                continue;
            }
        };
        match rules::parse_wire(field, &f.new) {
            Ok(set) => typed.push(Typed {
                image: f,
                field,
                set,
            }),
            Err(e) => {
                let why = format!(
                    "the value the journal says was sent does not parse: {}",
                    e.message
                );
                out.push(unrestorable(t, f, why));
            }
        }
    }
    typed
}

/// The update restoring each typed field's old value on the task (in `region` now), less what
/// cannot be restored (said in `out`); `None` when nothing is left to restore.
fn restore(
    t: &TaskImage,
    region: Region,
    typed: &[Typed<'_>],
    now: ApiTime,
    out: &mut Vec<Unrestorable>,
) -> Option<Update> {
    let mut u = Update::new(t.task_id.clone(), region);
    for x in typed {
        let old = x.image.old.as_str();
        let empty = || "empty before the run, and the API cannot clear a field";
        let value = match rules::parse_wire(x.field, old) {
            _ if old.is_empty() => Err(empty().to_string()),
            Ok(Value::Urls(urls)) if urls.is_empty() => Err(empty().to_string()),
            Ok(value) => Ok(value),
            Err(e) => Err(format!(
                "{old:?}, its value before the run, does not parse: {}",
                e.message
            )),
        };
        match value {
            Ok(value) => u.set(x.field, value),
            Err(why) => out.push(unrestorable(t, x.image, why)),
        }
    }
    // What `validate` would refuse is left out, as `export` does: the manifest must pass it
    // unchanged. Omitting a field only removes violations, so this settles.
    for _ in 0..Field::ALL.len() {
        let errors: Vec<_> = rules::check_offline(&u, now)
            .into_iter()
            .filter(|e| e.severity == Severity::Error)
            .collect();
        if errors.is_empty() {
            break;
        }
        for e in errors {
            let old = typed
                .iter()
                .find(|x| x.field == e.field)
                .map(|x| x.image.old.clone())
                .unwrap_or_default();
            let cleared = u.clear(e.field);
            out.push(Unrestorable {
                task_id: t.task_id.clone(),
                field: cleared.then(|| e.field.to_string()),
                old,
                why: if cleared {
                    format!("validate would refuse it: {}", e.message)
                } else {
                    e.message
                },
            });
            if !cleared {
                // An identifying field (a TaskId the service would refuse): no update at all.
                return None;
            }
        }
    }
    (!u.changed_fields().is_empty() || u.region != region).then_some(u)
}

/// The fields whose live value is no longer what the run set: `Region` by where the task was
/// found, the others by planning's comparison of an update carrying what the run set.
fn drift(task_id: &str, region: Region, state: &TaskState, typed: &[Typed<'_>]) -> Vec<Drift> {
    let mut out = Vec::new();
    let mut set = Update::new(task_id, region);
    for x in typed {
        match x.field {
            Field::Region => {
                if x.set.as_region() != Some(region) {
                    out.push(Drift {
                        field: Field::Region,
                        set: x.image.new.clone(),
                        live: region.to_string(),
                    });
                }
            }
            f => set.set(f, x.set.clone()),
        }
    }
    let (differs, _) = crate::plan::diff::changes(&set, state);
    out.extend(differs.into_iter().map(|c| Drift {
        field: c.field,
        set: c.new,
        live: c.old,
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::TaskInfo;
    use std::collections::HashMap;

    fn now() -> ApiTime {
        ApiTime::parse("2030-01-01T00:00:00Z").unwrap()
    }

    fn image(fields: &[(&str, &str, &str)]) -> TaskImage {
        TaskImage {
            task_id: "t1".into(),
            region: Some("cn-shanghai".into()),
            fields: fields
                .iter()
                .map(|(f, o, n)| FieldImage {
                    field: f.to_string(),
                    old: o.to_string(),
                    new: n.to_string(),
                })
                .collect(),
            line: 2,
            source: "m.yaml:2".into(),
        }
    }

    fn live(status: i32, cb: &str, urls: &[&str]) -> (Region, TaskState) {
        (
            Region::CnShanghai,
            TaskState {
                task_id: "t1".into(),
                task_status: status,
                task_info: TaskInfo {
                    task_id: "t1".into(),
                    source_type: "url".into(),
                    source_urls: urls.iter().map(|s| s.to_string()).collect(),
                    callback_url: cb.into(),
                    start_time: "2029-12-31T00:00:00Z".into(),
                    end_time: "2030-01-05T00:00:00Z".into(),
                    ..TaskInfo::default()
                },
                ..TaskState::default()
            },
        )
    }

    const CB: (&str, &str, &str) = ("CallbackUrl", "https://h/old", "https://h/new");
    const SRC: (&str, &str, &str) = (
        "SourceUrls",
        r#"["https://m/old.mp4"]"#,
        r#"["https://m/new.mp4"]"#,
    );

    #[test]
    fn a_task_as_the_run_left_it_is_restored_with_a_restart_when_running() {
        let l = live(1, "https://h/new", &["https://m/new.mp4"]);
        let v = decide(&image(&[CB, SRC]), Some(&l), false, now());
        assert_eq!(v.moved, None);
        assert!(v.unrestorable.is_empty(), "{:?}", v.unrestorable);
        let u = v.update.unwrap();
        assert_eq!(u.callback_url.as_deref(), Some("https://h/old"));
        assert_eq!(u.source_urls, Some(vec!["https://m/old.mp4".to_string()]));
        assert_eq!(u.changed_fields(), [Field::SourceUrls, Field::CallbackUrl]);
        assert!(v.needs_restart, "SourceUrls on a running task");
        // A callback alone needs no restart; nor does a stopped task.
        let v = decide(&image(&[CB]), Some(&l), false, now());
        assert!(!v.needs_restart);
        let l = live(3, "https://h/new", &["https://m/new.mp4"]);
        assert!(!decide(&image(&[CB, SRC]), Some(&l), false, now()).needs_restart);
    }

    #[test]
    fn a_task_changed_since_the_run_has_moved_and_is_left_out_unless_asked() {
        let l = live(1, "https://h/someone-else", &["https://m/new.mp4"]);
        let v = decide(&image(&[CB, SRC]), Some(&l), false, now());
        assert_eq!(
            v.moved,
            Some(Moved::Changed(vec![Drift {
                field: Field::CallbackUrl,
                set: "https://h/new".into(),
                live: "https://h/someone-else".into()
            }]))
        );
        assert_eq!(v.update, None);
        let v = decide(&image(&[CB, SRC]), Some(&l), true, now());
        assert!(v.moved.is_some());
        assert_eq!(
            v.update.unwrap().callback_url.as_deref(),
            Some("https://h/old")
        );
        // Gone: never included.
        let v = decide(&image(&[CB]), None, true, now());
        assert_eq!((v.moved, v.update), (Some(Moved::Gone), None));
    }

    #[test]
    fn the_comparison_is_typed_not_textual() {
        // The same list written with other spacing is what the run set: not moved.
        let img = image(&[(
            "SourceUrls",
            r#"["https://m/old.mp4"]"#,
            r#"[ "https://m/new.mp4" ]"#,
        )]);
        let l = live(3, "x", &["https://m/new.mp4"]);
        assert_eq!(decide(&img, Some(&l), false, now()).moved, None);
    }

    #[test]
    fn a_task_moved_to_another_region_has_moved() {
        let img = image(&[("Region", "cn-beijing", "cn-shanghai"), CB]);
        let mut l = live(0, "https://h/new", &[]);
        let v = decide(&img, Some(&l), false, now());
        assert_eq!(v.moved, None);
        let u = v.update.unwrap();
        assert_eq!(u.region, Region::CnBeijing, "back where it was");
        l.0 = Region::ApSoutheast1;
        let v = decide(&img, Some(&l), false, now());
        assert_eq!(
            v.moved,
            Some(Moved::Changed(vec![Drift {
                field: Field::Region,
                set: "cn-shanghai".into(),
                live: "ap-southeast-1".into()
            }]))
        );
    }

    #[test]
    fn empty_and_refused_old_values_are_not_restorable() {
        let img = image(&[
            ("CallbackUrl", "", "https://h/new"),
            ("SourceUrls", "[]", r#"["https://m/new.mp4"]"#),
            // Past: validate refuses an EndTime not after now.
            ("EndTime", "2029-01-01T00:00:00Z", "2030-01-05T00:00:00Z"),
            ("RepeatNumber", "0", "5"),
            ("Bogus", "a", "b"),
        ]);
        let mut l = live(3, "https://h/new", &["https://m/new.mp4"]);
        l.1.task_info.repeat_number = 5;
        let v = decide(&img, Some(&l), false, now());
        let why: Vec<(Option<&str>, &str)> = v
            .unrestorable
            .iter()
            .map(|x| (x.field.as_deref(), x.why.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            why,
            [
                (Some("Bogus"), "\"Bogus\" is not a field an update changes"),
                (
                    Some("CallbackUrl"),
                    "empty before the run, and the API cannot clear a field"
                ),
                (
                    Some("SourceUrls"),
                    "empty before the run, and the API cannot clear a field"
                ),
                (Some("EndTime"), "validate would refuse it"),
            ]
        );
        let u = v.update.unwrap();
        assert_eq!(u.changed_fields(), [Field::RepeatNumber]);
        assert_eq!(u.repeat_number, Some(0));
        // Nothing restorable at all: no update.
        let v = decide(
            &image(&[("CallbackUrl", "", "https://h/new")]),
            Some(&l),
            false,
            now(),
        );
        assert_eq!(v.update, None);
        assert_eq!(v.unrestorable.len(), 1);
    }

    #[test]
    fn an_exited_task_is_not_restorable() {
        let l = live(-1, "https://h/new", &[]);
        let v = decide(&image(&[CB]), Some(&l), false, now());
        assert_eq!(v.update, None);
        assert_eq!(v.unrestorable[0].field, None);
        assert!(v.unrestorable[0].why.contains("exited"));
    }

    #[test]
    fn every_task_is_decided_in_order() {
        let mut a = image(&[CB]);
        a.task_id = "a".into();
        let mut b = image(&[CB]);
        b.task_id = "b".into();
        let mut gone = image(&[CB]);
        gone.task_id = "gone".into();
        let mut live_map = HashMap::new();
        let (r, mut s) = live(3, "https://h/new", &[]);
        s.task_id = "a".into();
        live_map.insert("a".to_string(), (r, s.clone()));
        s.task_info.callback_url = "https://h/other".into();
        live_map.insert("b".to_string(), (r, s));
        let d = decide_all(&[a, b.clone(), gone], &live_map, false, now());
        let ids: Vec<&str> = d.updates.iter().map(|u| u.task_id.as_str()).collect();
        assert_eq!(ids, ["a"]);
        assert_eq!(d.moved.len(), 2);
        assert_eq!(d.left_out(), 2);
        let d = decide_all(&[b], &live_map, true, now());
        assert_eq!((d.updates.len(), d.left_out()), (1, 0));
        assert!(d.moved[0].included);
    }
}
