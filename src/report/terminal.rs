//! The end of a run on the terminal: which updates need attention, and what to run next.
//!
//! Why: a run of thousands of updates that ends "12 failed" sends the operator digging through a
//! report for which ones and why. The first few are listed where they are already looking, with
//! the command that picks up from here.

use std::fmt::Write as _;

use super::{Report, waves};
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
    /// Whether the run planned with `--partial`.
    pub partial: bool,
    /// The rollout's flags as the run had them (` --waves SPEC --bake D --max-unhealthy N
    /// --on-unhealthy P`), each with its leading space; empty without `--waves`. A resumed rollout
    /// must plan the same waves, so its command repeats them; `--pause-after` is not repeated: a
    /// paused rollout is resumed to go on with the rest.
    pub rollout: String,
    /// The journal the run wrote (shell-quoted): what `livebatch revert` reads.
    pub journal: String,
    /// ` --endpoint URL`, ` --profile NAME` as the run had them: where `revert` reads live state.
    pub connect: String,
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

/// What to run next, one `next:` line each, if anything: `--resume` after a halt, an
/// interruption or a pause with work left (and after a gate that could not read its tasks, which a
/// resume evaluates again), `--retry-failed` after failures, a new plan after stale items, and for
/// blocked items the flag that sends them (`--restart-running` for running tasks, else `--partial`
/// for the fields that can change now). After a failed gate never `--resume` (the run is final):
/// `livebatch revert` for what stays applied, and a fixed manifest planned again.
pub fn next_command(r: &Report, inv: &Invocation) -> Option<String> {
    let s = &r.summary;
    if let Outcome::GateFailed { .. } = s.outcome {
        return Some(after_failed_gate(r, inv));
    }
    // A command that plans again plans as this run did: the same waves, and the stop → update →
    // restart and the split it was allowed.
    let mut replan = String::new();
    if inv.restart_running {
        replan.push_str(" --restart-running");
    }
    if inv.partial {
        replan.push_str(" --partial");
    }
    replan.push_str(&inv.rollout);
    let again = |flag: &str| {
        format!(
            "livebatch apply {flag}{replan}{} {}",
            inv.target, inv.inputs
        )
    };
    let apply = |flag: &str| {
        format!(
            "livebatch apply {flag}{}{} {}",
            inv.rollout, inv.target, inv.inputs
        )
    };
    let credentials = matches!(
        s.outcome,
        Outcome::Halted {
            halt_reason: HaltReason::Systemic { .. }
        }
    );
    let mut lines = Vec::new();
    if let Outcome::Halted {
        halt_reason: HaltReason::GateInconclusive { wave, .. },
    } = s.outcome
    {
        // Even with nothing left to send: the gate has no verdict yet.
        lines.push(format!(
            "next: {}   (evaluates wave {wave}'s health gate again, then goes on)",
            again("--resume")
        ));
    } else if s.not_attempted > 0 && s.outcome != Outcome::Completed {
        let why = match s.outcome {
            _ if credentials => "once the account or key is fixed".to_string(),
            Outcome::Paused { wave } => format!("goes on with wave {}", wave + 1),
            _ => "to send what is left".to_string(),
        };
        lines.push(format!("next: {}   ({why})", again("--resume")));
    } else if s.failed > 0 {
        lines.push(format!(
            "next: {}   (once the cause is fixed)",
            again("--retry-failed")
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

/// After a failed gate: revert what stays applied (when anything does), and plan a fixed manifest
/// again. Never `--resume`: it refuses a run whose gate failed, so the bad change is not re-sent.
fn after_failed_gate(r: &Report, inv: &Invocation) -> String {
    let mut lines = Vec::new();
    // A rehearsal's tasks lived in the sandbox, gone with it: revert has nothing to read there.
    let sandbox = r.run.as_ref().is_some_and(|run| run.sandbox);
    if !sandbox && waves::still_applied(&r.summary.outcome, &r.waves).is_some() {
        lines.push(format!(
            "next: livebatch revert{} {}   (a manifest that restores what stays applied: review it with plan, then apply it)",
            inv.connect, inv.journal
        ));
    }
    lines.push(
        "next: fix the manifest, then plan and apply it again   (a failed gate is final: --resume refuses this run)"
            .to_string(),
    );
    lines.join("\n")
}

/// The end of a rollout in waves, where the operator looks: for a failed gate, the wave, its
/// unhealthy tasks with their reasons (the first `limit`, then how many more), the tasks already
/// abnormal when planned (not counted), what was rolled back and what failed to roll back, and
/// what stays applied; for a pause, where it stopped and what is left. Empty otherwise (a gate that
/// could not read says so in the outcome line).
pub fn rollout(r: &Report, limit: usize) -> String {
    let mut s = String::new();
    match r.summary.outcome {
        Outcome::GateFailed { .. } => {
            let Some(w) = waves::failed(&r.summary.outcome, &r.waves) else {
                return s;
            };
            let _ = writeln!(
                s,
                "{} (after a {} s bake):",
                waves::gate_line(w),
                w.bake_seconds
            );
            list_tasks(&mut s, &w.unhealthy, limit);
            if !w.not_counted.is_empty() {
                let _ = writeln!(
                    s,
                    "not counted, already abnormal when planned: {} task(s), see the report",
                    w.not_counted.len()
                );
            }
            if waves::left_as_is(w) {
                let _ = writeln!(
                    s,
                    "not rolled back (--on-unhealthy halt): the wave's {} applied task(s) keep the change",
                    w.applied
                );
            } else {
                let _ = writeln!(
                    s,
                    "rolled back to their values before the change: {} of the wave's {} applied task(s)",
                    w.rolled_back.len(),
                    w.applied
                );
            }
            if !w.rollback_failed.is_empty() {
                let _ = writeln!(
                    s,
                    "failed to roll back, still changed: {} task(s):",
                    w.rollback_failed.len()
                );
                list_tasks(&mut s, &w.rollback_failed, limit);
            }
            if let Some(kept) = waves::still_applied(&r.summary.outcome, &r.waves) {
                let _ = writeln!(s, "stays applied: {kept}");
            }
        }
        Outcome::Paused { wave } => {
            let Some(w) = r.waves.iter().find(|w| w.index == wave) else {
                return s;
            };
            let _ = write!(
                s,
                "paused after wave {}/{}: its gate passed ({} healthy, {} unhealthy, at most {} allowed)",
                w.index,
                w.of,
                w.healthy,
                w.unhealthy.len(),
                w.max_unhealthy
            );
            if let Some(left) = waves::left(&r.waves) {
                let _ = write!(s, "; {left} left");
            }
            s.push('\n');
        }
        _ => {}
    }
    s
}

/// `  task (region): reason` for the first `limit`, then how many more.
fn list_tasks(s: &mut String, tasks: &[crate::outcome::TaskHealth], limit: usize) {
    for t in tasks.iter().take(limit) {
        let _ = writeln!(
            s,
            "  {} ({}): {}",
            safe(&t.task_id),
            t.region,
            safe(&t.reason)
        );
    }
    if tasks.len() > limit {
        let _ = writeln!(s, "  and {} more, see the report", tasks.len() - limit);
    }
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

    /// A rollout of 300 tasks in waves of 30, 70 and 200, as the bench runs it.
    fn rollout_report(outcome: Outcome, waves: Vec<crate::outcome::WaveResult>) -> Report {
        let mut items = Vec::new();
        for n in 0..300 {
            // Waves 1 and 2 sent (a rollback is not an item of the run), wave 3 never.
            let status = if n < 100 {
                ItemStatus::Succeeded
            } else {
                ItemStatus::NotAttempted
            };
            items.push(item(&format!("t{n:03}"), status, None, ""));
        }
        let mut r = report(outcome, items);
        r.waves = waves;
        r
    }

    fn rollout_inv() -> Invocation {
        Invocation {
            inputs: "m.yaml".into(),
            target: " --profile prod --journal runs/j.jsonl".into(),
            restart_running: true,
            rollout: " --waves 30,100,100% --bake 3s --max-unhealthy 10%".into(),
            journal: "runs/j.jsonl".into(),
            connect: " --profile prod".into(),
            ..Invocation::default()
        }
    }

    fn end_of_run(r: &Report, inv: &Invocation) -> String {
        let mut text = attention(r, LISTED).unwrap();
        text.push_str(&rollout(r, LISTED));
        text.push_str(&next_command(r, inv).unwrap_or_default());
        text
    }

    #[test]
    fn the_end_of_a_failed_gate_names_the_wave_its_unhealthy_tasks_the_rollback_and_revert() {
        let r = rollout_report(
            Outcome::GateFailed { wave: 2 },
            crate::report::waves::tests::failed_gate(),
        );
        let text = end_of_run(&r, &rollout_inv());
        assert!(
            !text.contains("apply --resume"),
            "a failed gate is final: {text}"
        );
        insta::assert_snapshot!(text);
    }

    #[test]
    fn the_end_of_a_paused_rollout_resumes_with_the_same_flags() {
        use crate::outcome::Verdict;
        use crate::report::waves::tests::wave;
        let r = rollout_report(
            Outcome::Paused { wave: 2 },
            vec![
                wave(1, 3, 30, 30, Verdict::Passed),
                wave(2, 3, 70, 70, Verdict::Passed),
                wave(3, 3, 200, 0, Verdict::NotReached),
            ],
        );
        insta::assert_snapshot!(end_of_run(&r, &rollout_inv()));
    }

    #[test]
    fn after_a_failed_gate_revert_is_offered_only_when_something_stays_applied() {
        use crate::outcome::Verdict;
        use crate::report::waves::tests::wave;
        // The canary failed and was rolled back whole: nothing to revert, only a new plan.
        let mut canary = wave(1, 2, 10, 10, Verdict::Failed);
        canary.rolled_back = (0..10).map(|n| format!("t{n:03}")).collect();
        let r = rollout_report(
            Outcome::GateFailed { wave: 1 },
            vec![canary, wave(2, 2, 290, 0, Verdict::NotReached)],
        );
        let next = next_command(&r, &rollout_inv()).unwrap();
        assert_eq!(
            next,
            "next: fix the manifest, then plan and apply it again   (a failed gate is final: --resume refuses this run)"
        );
        let text = rollout(&r, LISTED);
        assert!(
            text.contains("rolled back to their values before the change: 10 of the wave's 10"),
            "{text}"
        );
        assert!(!text.contains("stays applied"), "{text}");
        // --on-unhealthy halt: the failed wave keeps its change, and revert restores it.
        let mut kept = wave(1, 2, 10, 10, Verdict::Failed);
        kept.unhealthy = vec![crate::report::waves::tests::health("t000", Some(2), "x")];
        let r = rollout_report(
            Outcome::GateFailed { wave: 1 },
            vec![kept, wave(2, 2, 290, 0, Verdict::NotReached)],
        );
        let next = next_command(&r, &rollout_inv()).unwrap();
        assert!(
            next.starts_with("next: livebatch revert --profile prod runs/j.jsonl   (a manifest"),
            "{next}"
        );
        let text = rollout(&r, LISTED);
        assert!(
            text.contains("not rolled back (--on-unhealthy halt)")
                && text.contains("stays applied: wave 1 (10 task(s), not rolled back)"),
            "{text}"
        );
    }

    #[test]
    fn a_gate_that_could_not_read_is_resumed_even_with_nothing_left_to_send() {
        use crate::outcome::Verdict;
        use crate::report::waves::tests::wave;
        let mut last = wave(2, 2, 270, 270, Verdict::Inconclusive);
        last.inconclusive = 4;
        let mut r = rollout_report(
            Outcome::Halted {
                halt_reason: HaltReason::GateInconclusive {
                    wave: 2,
                    message: "Describe failed: ServiceUnavailable".into(),
                },
            },
            vec![wave(1, 2, 30, 30, Verdict::Passed), last],
        );
        r.summary.not_attempted = 0;
        let next = next_command(&r, &rollout_inv()).unwrap();
        assert_eq!(
            next,
            "next: livebatch apply --resume --restart-running --waves 30,100,100% --bake 3s --max-unhealthy 10% --profile prod --journal runs/j.jsonl m.yaml   (evaluates wave 2's health gate again, then goes on)"
        );
        assert_eq!(rollout(&r, LISTED), "", "the outcome line says why");
        // A run without waves says nothing of them.
        assert_eq!(rollout(&report(Outcome::Completed, vec![]), LISTED), "");
    }
}
