//! A plan as a person reviews it: one block per task, old → new per field, a summary line.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use crate::model::Field;
use crate::plan::diff::{Decision, FieldChange, Held, Step};
use crate::plan::file::PlanItem;

// The text carries these styles always; it is printed through `anstream`, which strips them
// unless colour is on (`--color`, a terminal, `NO_COLOR`), so callers never decide twice.
const CHANGE: Style = AnsiColor::Yellow.on_default().bold();
const OLD: Style = AnsiColor::Red.on_default();
const NEW: Style = AnsiColor::Green.on_default();
const BLOCKED: Style = AnsiColor::Red.on_default().bold();
const MISSING: Style = AnsiColor::Magenta.on_default().bold();

/// Counts per class, for the summary line and `--detailed-exitcode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub change: usize,
    pub no_op: usize,
    pub blocked: usize,
    pub missing: usize,
}

impl Summary {
    pub fn of(items: &[PlanItem]) -> Summary {
        let mut s = Summary::default();
        for i in items {
            match i.decision {
                Decision::Change { .. } => s.change += 1,
                Decision::NoOp => s.no_op += 1,
                Decision::Blocked { .. } => s.blocked += 1,
                Decision::Missing => s.missing += 1,
            }
        }
        s
    }

    /// Anything that differs from the manifests: a change to make, or one that cannot be made.
    pub fn differs(&self) -> bool {
        self.change + self.blocked + self.missing > 0
    }

    pub fn line(&self) -> String {
        format!(
            "Plan: {} to change, {} already up to date, {} blocked, {} missing.",
            self.change, self.no_op, self.blocked, self.missing
        )
    }
}

fn steps_text(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Stop => "stop",
            Step::Update => "update",
            Step::Restart => "restart",
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

/// The held-back part of a `--partial` item: its fields and why each cannot change now.
fn held_lines(out: &mut String, held: &Held) {
    let _ = writeln!(out, "    blocked, not sent (--partial):");
    for c in &held.changes {
        change_lines(out, c);
    }
    for r in &held.reasons {
        let _ = writeln!(out, "    ✗ {}: {} [{}]", r.field, r.message, r.code);
    }
}

/// The reviewed-diff text. `show_no_op` lists up-to-date tasks too (with -v); otherwise they are
/// only counted.
pub fn text(items: &[PlanItem], show_no_op: bool) -> String {
    let mut out = String::new();
    for item in items {
        block(&mut out, item, show_no_op);
    }
    out.push_str(&Summary::of(items).line());
    out.push('\n');
    out
}

/// What `apply` shows before asking: the first `limit` items that differ (changes, blocked and
/// missing ones, with their diff and reasons; all of them with `None`), a line saying how many
/// more there are, and the summary line.
pub fn preview(items: &[PlanItem], limit: Option<usize>) -> String {
    let differing: Vec<PlanItem> = items
        .iter()
        .filter(|i| i.decision != Decision::NoOp)
        .take(limit.unwrap_or(usize::MAX))
        .cloned()
        .collect();
    let total = items
        .iter()
        .filter(|i| i.decision != Decision::NoOp)
        .count();
    preview_of(&differing, total, Summary::of(items))
}

/// [`preview`] from what a plan too large to hold keeps: the items to show, how many differ in
/// all, and the counts per class.
pub fn preview_of(shown: &[PlanItem], differing: usize, summary: Summary) -> String {
    let mut out = String::new();
    for item in shown {
        block(&mut out, item, false);
    }
    if shown.len() < differing {
        let _ = writeln!(
            out,
            "... and {} more: first {} of {differing} shown; -v for all",
            differing - shown.len(),
            shown.len()
        );
    }
    out.push_str(&summary.line());
    out.push('\n');
    out
}

/// One task's block of the reviewed diff.
fn block(out: &mut String, item: &PlanItem, show_no_op: bool) {
    let status = item
        .live
        .as_ref()
        .and_then(|l| crate::model::TaskStatus::from_code(l.task_status))
        .map(|s| format!(", {s}"))
        .unwrap_or_default();
    let head = format!(
        "{} ({}{status})  {}",
        item.task_id, item.region, item.origin
    );
    match &item.decision {
        Decision::Change {
            changes,
            steps,
            held,
        } => {
            let how = if steps.len() > 1 {
                format!("  [{}]", steps_text(steps))
            } else {
                String::new()
            };
            let _ = writeln!(out, "{CHANGE}~{CHANGE:#} {head}{how}");
            for c in changes {
                change_lines(out, c);
            }
            if let Some(h) = held {
                held_lines(out, h);
            }
        }
        Decision::NoOp => {
            if show_no_op {
                let _ = writeln!(out, "= {head}  (already up to date)");
            }
        }
        Decision::Blocked {
            changes,
            reasons,
            hint,
        } => {
            let _ = writeln!(
                out,
                "{BLOCKED}!{BLOCKED:#} {head}  {BLOCKED}blocked{BLOCKED:#}"
            );
            for c in changes {
                change_lines(out, c);
            }
            for r in reasons {
                let code = if r.code.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", r.code)
                };
                let _ = writeln!(
                    out,
                    "    {BLOCKED}✗{BLOCKED:#} {}: {}{code}",
                    r.field, r.message
                );
            }
            if let Some(h) = hint {
                let _ = writeln!(out, "    hint: {h}");
            }
        }
        Decision::Missing => {
            let _ = writeln!(
                out,
                "{MISSING}?{MISSING:#} {head}  {MISSING}missing{MISSING:#}: no task {} in {}",
                item.task_id, item.region
            );
        }
    }
}

/// One field's change: `field: "old" → "new"`; SourceUrls (a list, JSON in the plan) one URL a
/// line, the old ones with `-` and the new ones with `+`, so a long RTMP URL is read, not decoded.
fn change_lines(out: &mut String, c: &FieldChange) {
    if c.field == Field::SourceUrls {
        let list = |s: &str| serde_json::from_str::<Vec<String>>(s).ok();
        if let (Some(old), Some(new)) = (list(&c.old), list(&c.new)) {
            let _ = writeln!(out, "    {}:", c.field);
            for u in &old {
                let _ = writeln!(out, "      {OLD}- {}{OLD:#}", crate::text::escape(u));
            }
            for u in &new {
                let _ = writeln!(out, "      {NEW}+ {}{NEW:#}", crate::text::escape(u));
            }
            return;
        }
    }
    let _ = writeln!(
        out,
        "    {}: {OLD}{:?}{OLD:#} → {NEW}{:?}{NEW:#}",
        c.field, c.old, c.new
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::{TaskInfo, TaskState};
    use crate::model::{Field, Region, Update};
    use crate::plan::diff::{FieldChange, Reason};

    fn item(id: &str, decision: Decision) -> PlanItem {
        PlanItem {
            task_id: id.into(),
            region: Region::CnShanghai,
            origin: format!("m.yaml:{}", id.len()),
            decision,
            update: Update::new(id, Region::CnShanghai),
            live: Some(TaskState {
                task_status: 1,
                task_info: TaskInfo::default(),
                ..TaskState::default()
            }),
            fingerprint: None,
            live_region: None,
        }
    }

    #[test]
    fn renders_each_class_and_summary() {
        let items = vec![
            item(
                "a",
                Decision::Change {
                    changes: vec![FieldChange {
                        field: Field::CallbackUrl,
                        old: "https://o".into(),
                        new: "https://n".into(),
                    }],
                    steps: vec![Step::Update],
                    held: None,
                },
            ),
            item(
                "bb",
                Decision::Change {
                    changes: vec![FieldChange {
                        field: Field::SourceUrls,
                        old: "[]".into(),
                        new: "[\"x\"]".into(),
                    }],
                    steps: vec![Step::Stop, Step::Update, Step::Restart],
                    held: None,
                },
            ),
            item("ccc", Decision::NoOp),
            item(
                "dddd",
                Decision::Blocked {
                    changes: vec![],
                    reasons: vec![Reason {
                        field: Field::StartTime,
                        code: "CodeTaskHasStarted".into(),
                        message: "no".into(),
                    }],
                    hint: Some("try".into()),
                },
            ),
            item("eeeee", Decision::Missing),
        ];
        let styled = text(&items, false);
        assert!(
            styled.contains("\x1b["),
            "styled for anstream to keep or strip"
        );
        let t = anstream::adapter::strip_str(&styled).to_string();
        assert_eq!(
            t,
            "~ a (cn-shanghai, running)  m.yaml:1\n    CallbackUrl: \"https://o\" → \"https://n\"\n\
             ~ bb (cn-shanghai, running)  m.yaml:2  [stop → update → restart]\n    SourceUrls:\n      + x\n\
             ! dddd (cn-shanghai, running)  m.yaml:4  blocked\n    ✗ StartTime: no [CodeTaskHasStarted]\n    hint: try\n\
             ? eeeee (cn-shanghai, running)  m.yaml:5  missing: no task eeeee in cn-shanghai\n\
             Plan: 2 to change, 1 already up to date, 1 blocked, 1 missing.\n"
        );
        assert!(
            anstream::adapter::strip_str(&text(&items, true))
                .to_string()
                .contains("= ccc (cn-shanghai, running)  m.yaml:3  (already up to date)")
        );
        let s = Summary::of(&items);
        assert!(s.differs());
        assert!(!Summary::of(&[item("x", Decision::NoOp)]).differs());
    }

    #[test]
    fn preview_shows_the_first_differing_items_and_counts_the_rest() {
        let items: Vec<PlanItem> = (0..5)
            .map(|i| item(&"x".repeat(i + 1), Decision::Missing))
            .chain([item("same", Decision::NoOp)])
            .collect();
        let p = anstream::adapter::strip_str(&preview(&items, Some(2))).to_string();
        assert_eq!(p.matches("missing: no task").count(), 2);
        assert!(
            p.contains("... and 3 more: first 2 of 5 shown; -v for all"),
            "{p}"
        );
        assert!(p.ends_with("Plan: 0 to change, 1 already up to date, 0 blocked, 5 missing.\n"));
        assert!(!preview(&items, None).contains("more"));
    }
}
