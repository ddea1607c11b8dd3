//! The end of a run on the terminal: which updates need attention, and what to run next.
//!
//! Why: a run of thousands of updates that ends "12 failed" sends the operator digging through a
//! report for which ones and why. The first few are listed where they are already looking, with
//! the command that picks up from here.

use std::fmt::Write as _;

use super::Report;
use crate::outcome::{HaltReason, ItemStatus, Outcome};

/// Items listed at most; the rest are counted and left to the report.
pub const LISTED: usize = 20;

/// Whether an item needs the operator's attention after the run.
fn needs_attention(s: ItemStatus) -> bool {
    matches!(
        s,
        ItemStatus::Failed | ItemStatus::Blocked | ItemStatus::Missing | ItemStatus::Stale
    )
}

/// Text from a file or the service, made safe for the terminal (see [`crate::text::escape`]).
fn safe(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::escape(s)
}

/// The updates that failed, were blocked, missing or stale: the first `limit` as
/// `status task (file:line): code: message`, then how many more. Empty when there are none.
/// Fails (rather than listing fewer) if an item could not be read back.
pub fn attention(r: &Report, limit: usize) -> std::io::Result<String> {
    // Counted as they are read, the first `limit` kept: a run's items are not all held.
    let mut items = Vec::new();
    let mut count = 0usize;
    for i in r.items.iter().filter(|i| needs_attention(i.status)) {
        count += 1;
        if items.len() < limit {
            items.push(i);
        }
    }
    if let Some(e) = r.items.take_error() {
        return Err(e);
    }
    if count == 0 {
        return Ok(String::new());
    }
    let mut s = format!("{count} update(s) need attention:\n");
    for it in &items {
        let _ = write!(
            s,
            "  {:<8} {} ({})",
            it.status.as_str(),
            safe(&it.task_id),
            safe(&it.source)
        );
        if let Some(code) = &it.error_code {
            let _ = write!(s, ": {}", safe(code));
        }
        if let Some(m) = &it.error_message {
            let _ = write!(s, ": {}", safe(m));
        }
        s.push('\n');
    }
    if count > limit {
        let _ = writeln!(s, "  and {} more, see the report", count - limit);
    }
    Ok(s)
}

/// How this run was invoked, for the next command: the manifests (or `--plan PLAN`) and every
/// flag that chose the target and the journal, so the command printed reaches the same place.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// `m.yaml other.csv`, or `--plan plan.json` (shell-quoted where needed).
    pub inputs: String,
    /// ` --sandbox`, ` --endpoint URL`, ` --profile NAME`, ` --journal PATH` as the run had them,
    /// each with its leading space; empty for the default target and journal.
    pub target: String,
    /// Whether the run applied a saved plan.
    pub saved_plan: bool,
    /// Whether the run planned with `--restart-running`.
    pub restart_running: bool,
}

/// `word` as a shell reads it back unchanged: as is when it holds only characters no shell
/// treats specially, else in single quotes.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@%+=,-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// What to run next, one `next:` line each, if anything: `--resume` after a halt or an
/// interruption with work left, `--retry-failed` after failures, a new plan after stale items,
/// and for blocked items the flag that sends them (`--restart-running` for running tasks, else
/// `--partial` for the fields that can change now).
pub fn next_command(r: &Report, inv: &Invocation) -> Option<String> {
    let s = &r.summary;
    let apply = |flag: &str| format!("livebatch apply {flag}{} {}", inv.target, inv.inputs);
    let credentials = matches!(
        s.outcome,
        Outcome::Halted {
            halt_reason: HaltReason::Systemic { .. }
        }
    );
    let mut lines = Vec::new();
    if s.not_attempted > 0 && s.outcome != Outcome::Completed {
        let why = if credentials {
            "once the account or key is fixed"
        } else {
            "to send what is left"
        };
        lines.push(format!("next: {}   ({why})", apply("--resume")));
    } else if s.failed > 0 {
        lines.push(format!(
            "next: {}   (once the cause is fixed)",
            apply("--retry-failed")
        ));
    } else if s.stale > 0 {
        let how = if inv.saved_plan {
            "re-plan: livebatch plan --out PLAN MANIFEST…, review it, then livebatch apply --plan PLAN"
        } else {
            "re-run apply: it plans against live state again"
        };
        lines.push(format!("next: {how}   (tasks changed since the plan)"));
    }
    if s.blocked > 0 && !inv.saved_plan {
        let line = if inv.restart_running {
            format!(
                "next: {}   ({} blocked: send only the fields that can change now)",
                apply("--restart-running --partial"),
                s.blocked
            )
        } else {
            format!(
                "next: {}   ({} blocked: stops, updates and restarts running tasks; or --partial to send only the fields that can change now)",
                apply("--restart-running"),
                s.blocked
            )
        };
        lines.push(line);
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ItemResult;

    fn report(outcome: Outcome, items: Vec<ItemResult>) -> Report {
        let json = serde_json::json!({
            "schema": crate::report::SCHEMA,
            "tool_version": "0.0.0",
            "summary": {
                "outcome": "completed",
                "total": 0, "succeeded": 0, "failed": 0, "skipped": 0, "not_attempted": 0,
                "calls": 0, "retries": 0, "throttled": 0, "calls_per_second": 0.0,
                "updates_per_second": 0.0, "elapsed_seconds": 0.0, "latency_ms": {},
                "rate_samples": []
            },
            "items": []
        });
        let mut r: Report = serde_json::from_value(json).unwrap();
        for it in &items {
            match it.status {
                ItemStatus::Failed => r.summary.failed += 1,
                ItemStatus::Stale => r.summary.stale += 1,
                ItemStatus::NotAttempted => r.summary.not_attempted += 1,
                _ => {}
            }
        }
        r.summary.total = items.len() as u64;
        r.summary.outcome = outcome;
        r.items = items.into();
        r
    }

    fn item(task: &str, status: ItemStatus, code: Option<&str>, msg: &str) -> ItemResult {
        let mut it = ItemResult::pending(task.into(), format!("m.yaml:{}", task.len()), "h".into());
        it.status = status;
        it.error_code = code.map(str::to_string);
        it.error_message = Some(msg.to_string()).filter(|m| !m.is_empty());
        it
    }

    fn inv() -> Invocation {
        Invocation {
            inputs: "m.yaml".into(),
            ..Invocation::default()
        }
    }

    #[test]
    fn the_end_of_a_run_lists_what_needs_attention_and_what_to_run_next() {
        let mut items = vec![
            item("ok-1", ItemStatus::Succeeded, None, ""),
            item(
                "t-failed",
                ItemStatus::Failed,
                Some("InvalidParameter"),
                "CallbackUrl is malformed\r\x1b[2Kall good",
            ),
            item(
                "t-blocked",
                ItemStatus::Blocked,
                Some("CodeTaskHasStarted"),
                "the task is running; add --restart-running",
            ),
            item(
                "t-missing",
                ItemStatus::Missing,
                Some("TaskNotFound"),
                "no such task",
            ),
            item("t-noop", ItemStatus::NoOp, None, ""),
        ];
        for i in 0..22 {
            items.push(item(
                &format!("bulk-{i:02}"),
                ItemStatus::Failed,
                Some("ServiceUnavailable"),
                "retries ran out",
            ));
        }
        let r = report(Outcome::Completed, items);
        let mut text = attention(&r, LISTED).unwrap();
        text.push_str(&next_command(&r, &inv()).unwrap());
        insta::assert_snapshot!(text);
    }

    #[test]
    fn the_next_command_follows_the_outcome() {
        let none = report(
            Outcome::Completed,
            vec![item("a", ItemStatus::Succeeded, None, "")],
        );
        assert_eq!(attention(&none, LISTED).unwrap(), "");
        assert_eq!(next_command(&none, &inv()), None);
        let interrupted = report(
            Outcome::Interrupted,
            vec![
                item("a", ItemStatus::Failed, Some("X"), "x"),
                item("b", ItemStatus::NotAttempted, None, ""),
            ],
        );
        let mut named = inv();
        named.target = " --sandbox --journal j.jsonl".into();
        let next = next_command(&interrupted, &named).unwrap();
        assert!(
            next.starts_with("next: livebatch apply --resume --sandbox --journal j.jsonl m.yaml"),
            "{next}"
        );
        let stale = report(
            Outcome::Completed,
            vec![item("a", ItemStatus::Stale, None, "")],
        );
        let mut plan = inv();
        plan.saved_plan = true;
        assert!(next_command(&stale, &plan).unwrap().contains("re-plan"));
        let mut blocked = report(
            Outcome::Completed,
            vec![item("a", ItemStatus::Blocked, None, "")],
        );
        blocked.summary.blocked = 1;
        let next = next_command(&blocked, &inv()).unwrap();
        assert!(
            next.starts_with("next: livebatch apply --restart-running m.yaml"),
            "{next}"
        );
        assert!(next.contains("--partial"), "{next}");
        assert_eq!(shell_word("my file.yaml"), "'my file.yaml'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("a/b-c.yaml"), "a/b-c.yaml");
    }
}
