//! The Markdown report: a short summary for a pull-request comment or a CI step summary
//! (`$GITHUB_STEP_SUMMARY`), with a table of the failures.

use std::fmt::Write;

use super::Report;
use super::waves;
use crate::outcome::{HaltReason, ItemStatus, Outcome, SecondStats, TaskHealth, Verdict};

/// Failures listed at most; the rest are counted.
pub const MAX_ROWS: usize = 50;

/// Makes text safe inside a table cell: no line breaks, no column breaks, no stray markup.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\''),
            c if c.is_control() => {}
            c if crate::text::is_hidden(c) => {
                out.push_str(&crate::text::escape(c.encode_utf8(&mut [0; 4])))
            }
            c => out.push(c),
        }
    }
    out
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.0} ms"))
}

/// The verdict of a run, in the heading: completed, failed, stale, halted or interrupted.
pub fn verdict(r: &Report) -> String {
    let s = &r.summary;
    match &s.outcome {
        Outcome::Interrupted => format!(
            "interrupted — {} succeeded, {} not attempted (--resume sends them)",
            s.succeeded, s.not_attempted
        ),
        Outcome::Halted { .. } => format!(
            "halted — {} succeeded, {} failed, {} not attempted",
            s.succeeded, s.failed, s.not_attempted
        ),
        Outcome::Completed if s.failed > 0 => {
            format!("failed — {} of {} update(s) failed", s.failed, s.total)
        }
        Outcome::Completed if s.stale > 0 => format!(
            "stale — {} task(s) changed since the plan; re-plan",
            s.stale
        ),
        Outcome::Completed => format!("completed — {} update(s) applied", s.succeeded),
        Outcome::GateFailed { wave } => format!(
            "gate failed — wave {wave} failed its health gate; {} succeeded, {} not attempted",
            s.succeeded, s.not_attempted
        ),
        Outcome::Paused { wave } => format!(
            "paused — after wave {wave}'s gate passed; {} succeeded, {} left for --resume",
            s.succeeded, s.not_attempted
        ),
    }
}

/// Runs shorter than this many seconds get no chart: a few bars say nothing the totals do not.
pub const CHART_MIN_SECONDS: f64 = 30.0;

/// Changed items listed at most; the rest are counted.
pub const MAX_CHANGES: usize = 50;

/// Seconds shown at most in the chart; longer runs are grouped into spans of whole seconds.
pub const CHART_POINTS: usize = 120;

/// The run per second as a Mermaid `xychart-beta` (GitHub and GitLab render it): calls and
/// throttled answers per second, then p95 latency on a chart of its own (another unit). A span
/// groups seconds when the run is longer than [`CHART_POINTS`]: its busiest second's calls, its
/// throttled answers summed, its worst p95.
pub fn chart(per_second: &[SecondStats]) -> String {
    if per_second.is_empty() {
        return String::new();
    }
    let span = per_second.len().div_ceil(CHART_POINTS).max(1);
    let groups: Vec<&[SecondStats]> = per_second.chunks(span).collect();
    let x: Vec<String> = groups.iter().map(|g| g[0].second.to_string()).collect();
    let calls: Vec<u64> = groups
        .iter()
        .map(|g| g.iter().map(|b| b.calls).max().unwrap_or(0))
        .collect();
    let throttled: Vec<u64> = groups
        .iter()
        .map(|g| g.iter().map(|b| b.throttled).sum())
        .collect();
    let p95: Vec<f64> = groups
        .iter()
        .map(|g| {
            g.iter()
                .filter_map(|b| b.p95_ms)
                .fold(0.0, f64::max)
                .round()
        })
        .collect();
    let join = |v: Vec<String>| v.join(", ");
    let axis = if span == 1 {
        "second of the run".to_string()
    } else {
        format!("second of the run ({span} s per point)")
    };
    let top_calls = calls.iter().copied().max().unwrap_or(0).max(1);
    let top_ms = p95.iter().copied().fold(1.0, f64::max);
    let mut m = String::new();
    let _ = writeln!(m, "```mermaid\nxychart-beta");
    let _ = writeln!(
        m,
        "    title \"Calls (bars) and throttled answers (line) per second\""
    );
    let _ = writeln!(m, "    x-axis \"{axis}\" [{}]", x.join(", "));
    let _ = writeln!(m, "    y-axis \"calls\" 0 --> {top_calls}");
    let _ = writeln!(
        m,
        "    bar [{}]",
        join(calls.iter().map(u64::to_string).collect())
    );
    let _ = writeln!(
        m,
        "    line [{}]\n```\n",
        join(throttled.iter().map(u64::to_string).collect())
    );
    let _ = writeln!(m, "```mermaid\nxychart-beta");
    let _ = writeln!(m, "    title \"p95 latency per second (ms)\"");
    let _ = writeln!(m, "    x-axis \"{axis}\" [{}]", x.join(", "));
    let _ = writeln!(m, "    y-axis \"ms\" 0 --> {top_ms}");
    let _ = writeln!(
        m,
        "    line [{}]\n```\n",
        join(p95.iter().map(|v| format!("{v}")).collect())
    );
    m
}

/// The whole report, section by section.
pub fn render(r: &Report) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "### livebatch apply: {}\n", cell(&verdict(r)));
    run_section(&mut m, r);
    halt_section(&mut m, r);
    totals_section(&mut m, r);
    waves_section(&mut m, r);
    calls_section(&mut m, r);
    if r.summary.elapsed_seconds >= CHART_MIN_SECONDS {
        m.push_str(&chart(&r.summary.per_second));
    }
    changes_section(&mut m, r);
    failures_section(&mut m, r);
    verify_section(&mut m, r);
    next_section(&mut m, r);
    m
}

/// What the run changed: each updated task, where, its steps when several, and each field old →
/// new; the first [`MAX_CHANGES`], then how many more.
fn changes_section(m: &mut String, r: &Report) {
    let mut shown = 0usize;
    let mut changed = 0usize;
    for i in r.items.iter().filter(|i| i.status == ItemStatus::Succeeded) {
        changed += 1;
        if shown == MAX_CHANGES {
            continue;
        }
        if shown == 0 {
            m.push_str("#### Changed\n\n");
        }
        shown += 1;
        let steps = if i.steps.is_empty() {
            String::new()
        } else {
            format!(" [{}]", cell(&i.steps.join(" → ")))
        };
        let region = i
            .region
            .as_deref()
            .map(|r| format!(" ({})", cell(r)))
            .unwrap_or_default();
        let _ = write!(m, "- `{}`{region}{steps}", cell(&i.task_id));
        if i.changes.is_empty() {
            m.push_str(": sent as written (not planned against live state)");
        }
        m.push('\n');
        for c in &i.changes {
            let _ = writeln!(
                m,
                "  - {}: `{}` → `{}`",
                cell(&c.field),
                cell(&c.old),
                cell(&c.new)
            );
        }
    }
    if changed > shown {
        let _ = writeln!(
            m,
            "\n… and {} more (see the JSON or CSV report).",
            changed - shown
        );
    }
    if shown > 0 {
        m.push('\n');
    }
}

/// The command to run next, as the end of the run printed it.
fn next_section(m: &mut String, r: &Report) {
    let Some(next) = &r.next else {
        return;
    };
    // After a table, a blank line first: else the heading would read as one more row.
    if !m.ends_with("\n\n") {
        m.push('\n');
    }
    m.push_str("#### Next\n\n");
    for line in next.lines() {
        let line = line.strip_prefix("next: ").unwrap_or(line);
        let (cmd, why) = match line.split_once("   (") {
            Some((c, w)) => (c, format!(" ({}", cell(w))),
            None => (line, String::new()),
        };
        // A command in code; advice in words (`fix the manifest, then plan …`) as text.
        if cmd.starts_with("livebatch ") {
            let _ = writeln!(m, "- `{}`{why}", cell(cmd));
        } else {
            let _ = writeln!(m, "- {}{why}", cell(cmd));
        }
    }
    m.push('\n');
}

/// What run this is: tool, target, times, pace, and the inputs with their hashes.
fn run_section(m: &mut String, r: &Report) {
    let Some(run) = &r.run else {
        return;
    };
    let _ = writeln!(
        m,
        "livebatch {} → {}, from {} to {}; updates paced at {} calls/s (quota {} calls/s per operation), concurrency {}, up to {} attempts each.\n",
        cell(&r.tool_version),
        cell(&run.target),
        cell(&run.started_at),
        cell(&run.finished_at),
        run.update_pace,
        run.qps,
        run.concurrency,
        run.max_attempts
    );
    let _ = writeln!(m, "| input | sha256 |\n|---|---|");
    for f in &run.inputs {
        let _ = writeln!(
            m,
            "| {} | {} |",
            cell(&f.path),
            cell(f.sha256.as_deref().unwrap_or("(standard input)"))
        );
    }
    m.push('\n');
}

/// Why the run halted, when it did.
fn halt_section(m: &mut String, r: &Report) {
    let Some(reason) = r.summary.outcome.halt_reason() else {
        return;
    };
    let why = match reason {
        HaltReason::Systemic { code, message } => format!(
            "the service refused the account or key (`{}`: {}); nothing more was sent",
            cell(code),
            cell(message)
        ),
        HaltReason::MaxFailures { failed, policy } => {
            format!(
                "{failed} failures exceeded `--max-failures {}`",
                cell(policy)
            )
        }
        HaltReason::Journal { message } => {
            format!("the journal could not be written: {}", cell(message))
        }
        HaltReason::QuotaStore { message } => {
            format!("the quota store stayed unreachable: {}", cell(message))
        }
        HaltReason::GateInconclusive { wave, message } => format!(
            "wave {wave}'s health gate could not read its tasks back ({}); nothing was rolled back, `--resume` evaluates the gate again",
            cell(message)
        ),
    };
    let _ = writeln!(m, "Halted: {why}.\n");
}

/// The items by outcome (stale only when there are some), and those never sent.
fn totals_section(m: &mut String, r: &Report) {
    let s = &r.summary;
    if s.stale > 0 {
        let _ = writeln!(
            m,
            "| total | succeeded | failed | stale | skipped | not attempted |"
        );
        let _ = writeln!(m, "|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} |\n",
            s.total, s.succeeded, s.failed, s.stale, s.skipped, s.not_attempted
        );
    } else {
        let _ = writeln!(
            m,
            "| total | succeeded | failed | skipped | not attempted |"
        );
        let _ = writeln!(m, "|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} |\n",
            s.total, s.succeeded, s.failed, s.skipped, s.not_attempted
        );
    }
    if s.noop + s.blocked + s.missing + s.already_applied > 0 {
        let _ = writeln!(
            m,
            "Not sent: {} already up to date, {} blocked, {} missing, {} already applied.\n",
            s.noop, s.blocked, s.missing, s.already_applied
        );
    }
}

/// Tasks listed at most under a failed wave (unhealthy, not counted, rolled back, not rolled
/// back); the rest are counted.
pub const MAX_GATE_ROWS: usize = 20;

/// A rollout's waves (`apply --waves`), one row each with its gate's verdict; under it, for the
/// wave that failed its gate, its unhealthy tasks with their reasons, what was rolled back and
/// what was not, and what stays applied. Nothing for a run without waves.
fn waves_section(m: &mut String, r: &Report) {
    if r.waves.is_empty() {
        return;
    }
    m.push_str("#### Waves\n\n");
    m.push_str(
        "| wave | size | applied | healthy | unhealthy | not counted | verdict | rolled back |\n",
    );
    m.push_str("|---|---:|---:|---:|---:|---:|---|---|\n");
    for w in &r.waves {
        let verdict = match w.verdict {
            Verdict::Failed => "**failed**".to_string(),
            Verdict::Inconclusive => format!("inconclusive ({} not read)", w.inconclusive),
            v => v.name().to_string(),
        };
        let rolled_back = if waves::left_as_is(w) {
            "not rolled back".to_string()
        } else if w.rollback_failed.is_empty() && w.rolled_back.is_empty() {
            "–".to_string()
        } else if w.rollback_failed.is_empty() {
            w.rolled_back.len().to_string()
        } else {
            format!(
                "{} ({} failed)",
                w.rolled_back.len(),
                w.rollback_failed.len()
            )
        };
        let _ = writeln!(
            m,
            "| {}/{} | {} | {} | {} | {} (at most {}) | {} | {verdict} | {rolled_back} |",
            w.index,
            w.of,
            w.size,
            w.applied,
            w.healthy,
            w.unhealthy.len(),
            w.max_unhealthy,
            w.not_counted.len()
        );
    }
    m.push('\n');
    let Some(w) = waves::failed(&r.summary.outcome, &r.waves) else {
        return;
    };
    let _ = writeln!(
        m,
        "**{}**, after a {} s bake.\n",
        cell(&capitalized(&waves::gate_line(w))),
        w.bake_seconds
    );
    if !w.unhealthy.is_empty() {
        m.push_str("| unhealthy task | region | status | reason |\n|---|---|---:|---|\n");
        for t in w.unhealthy.iter().take(MAX_GATE_ROWS) {
            let status = t.status.map_or_else(|| "–".to_string(), |s| s.to_string());
            let _ = writeln!(
                m,
                "| {} | {} | {status} | {} |",
                cell(&t.task_id),
                t.region,
                cell(&t.reason)
            );
        }
        more(m, w.unhealthy.len());
        m.push('\n');
    }
    if !w.not_counted.is_empty() {
        m.push_str("Already abnormal when planned, not counted:\n\n");
        tasks_list(m, &w.not_counted);
    }
    if waves::left_as_is(w) {
        let _ = writeln!(
            m,
            "Not rolled back (`--on-unhealthy halt`): the wave's {} applied task(s) keep the change.\n",
            w.applied
        );
    } else {
        let shown: Vec<String> = w
            .rolled_back
            .iter()
            .take(MAX_GATE_ROWS)
            .map(|t| format!("`{}`", cell(t)))
            .collect();
        let _ = write!(
            m,
            "Rolled back to their values before the change: {} of the wave's {} applied task(s)",
            w.rolled_back.len(),
            w.applied
        );
        if !shown.is_empty() {
            let _ = write!(m, ": {}", shown.join(", "));
        }
        if w.rolled_back.len() > MAX_GATE_ROWS {
            let _ = write!(m, " and {} more", w.rolled_back.len() - MAX_GATE_ROWS);
        }
        m.push_str(".\n\n");
    }
    if !w.rollback_failed.is_empty() {
        m.push_str("Failed to roll back, still changed:\n\n");
        tasks_list(m, &w.rollback_failed);
    }
    if let Some(kept) = waves::still_applied(&r.summary.outcome, &r.waves) {
        let _ = writeln!(
            m,
            "Stays applied: {}; `livebatch revert` writes a manifest that restores it (see Next).\n",
            cell(&kept)
        );
    }
}

/// `- `task` (region): reason` for the first [`MAX_GATE_ROWS`], then how many more.
fn tasks_list(m: &mut String, tasks: &[TaskHealth]) {
    for t in tasks.iter().take(MAX_GATE_ROWS) {
        let _ = writeln!(
            m,
            "- `{}` ({}): {}",
            cell(&t.task_id),
            t.region,
            cell(&t.reason)
        );
    }
    more(m, tasks.len());
    m.push('\n');
}

/// `…and N more` when a list of `total` was cut at [`MAX_GATE_ROWS`].
fn more(m: &mut String, total: usize) {
    if total > MAX_GATE_ROWS {
        let _ = writeln!(
            m,
            "\n…and {} more (see the JSON report).",
            total - MAX_GATE_ROWS
        );
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The calls: counts, rates, latency, and the credential refreshes.
fn calls_section(m: &mut String, r: &Report) {
    let s = &r.summary;
    let _ = writeln!(
        m,
        "{} calls ({} retries, {} throttled) in {:.1} s: {:.2} calls/s, {:.2} updates/s. Latency p50 {} · p95 {} · p99 {}.\n",
        s.calls,
        s.retries,
        s.throttled,
        s.elapsed_seconds,
        s.calls_per_second,
        s.updates_per_second,
        ms(s.latency_ms.p50),
        ms(s.latency_ms.p95),
        ms(s.latency_ms.p99)
    );
    if let Some(n) = r.credential_refreshes {
        let _ = writeln!(m, "Credentials refreshed {n} time(s) during the run.\n");
    }
}

/// The first failures (failed, stale, blocked, missing) as a table, and how many more.
fn failures_section(m: &mut String, r: &Report) {
    // Counted as they are read, the first rows kept: a run's items are not all held.
    let mut failed = Vec::new();
    let mut failures = 0usize;
    for i in r.items.iter().filter(|i| {
        matches!(
            i.status,
            ItemStatus::Failed | ItemStatus::Stale | ItemStatus::Blocked | ItemStatus::Missing
        )
    }) {
        failures += 1;
        if failed.len() < MAX_ROWS {
            failed.push(i);
        }
    }
    if !failed.is_empty() {
        let _ = writeln!(
            m,
            "| task | source | error | message | attempts | request id |"
        );
        let _ = writeln!(m, "|---|---|---|---|---:|---|");
        for i in &failed {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&i.task_id),
                cell(&i.source),
                cell(i.error_code.as_deref().unwrap_or("")),
                cell(i.error_message.as_deref().unwrap_or("")),
                i.attempts,
                cell(i.request_id.as_deref().unwrap_or(""))
            );
        }
        if failures > MAX_ROWS {
            let _ = writeln!(
                m,
                "\n…and {} more failures (see the JSON or CSV report).",
                failures - MAX_ROWS
            );
        }
    }
}

/// What `--verify` found.
fn verify_section(m: &mut String, r: &Report) {
    if let Some(v) = &r.verify {
        if v.mismatches.is_empty() {
            let _ = writeln!(
                m,
                "\nVerify: all {} updated task(s) read back match what was sent.",
                v.checked
            );
        } else {
            let _ = writeln!(
                m,
                "\nVerify: {} of {} updated task(s) do not match what was sent.\n",
                v.mismatches.len(),
                v.checked
            );
            let _ = writeln!(m, "| task | field | live | sent |");
            let _ = writeln!(m, "|---|---|---|---|");
            for x in v.mismatches.iter().take(MAX_ROWS) {
                if x.missing {
                    let _ = writeln!(m, "| {} | — | (task gone) | |", cell(&x.task_id));
                }
                for d in &x.differences {
                    let _ = writeln!(
                        m,
                        "| {} | {} | {} | {} |",
                        cell(&x.task_id),
                        d.field,
                        cell(&d.old),
                        cell(&d.new)
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{HaltReason, ItemResult};
    use crate::report::{InputFile, RunInfo};

    fn report(outcome: Outcome, failed: u64, stale: u64) -> Report {
        let json = serde_json::json!({
            "schema": crate::report::SCHEMA,
            "tool_version": "0.1.0",
            "summary": {
                "outcome": "completed",
                "total": 5, "succeeded": 3, "failed": failed, "skipped": 0,
                "stale": stale, "not_attempted": 0,
                "calls": 14, "retries": 2, "throttled": 1, "calls_per_second": 4.667,
                "updates_per_second": 1.0, "elapsed_seconds": 42.0,
                "latency_ms": {"p50": 40.0, "p95": 180.0, "p99": 240.0},
                "rate_samples": [],
                "per_second": [
                    {"second": 0, "calls": 9, "throttled": 0, "p95_ms": 61.5},
                    {"second": 1, "calls": 4, "throttled": 1, "p95_ms": 240.0},
                    {"second": 2, "calls": 1, "throttled": 0, "p95_ms": 35.0}
                ]
            },
            "items": []
        });
        let mut r: Report = serde_json::from_value(json).unwrap();
        r.summary.outcome = outcome;
        r.run = Some(RunInfo {
            target: "https://live.aliyuncs.com/".into(),
            sandbox: false,
            inputs: vec![
                InputFile {
                    path: "manifests/m|x.yaml".into(),
                    sha256: Some("sha256:0a1b".into()),
                },
                InputFile {
                    path: "-".into(),
                    sha256: None,
                },
            ],
            started_at: "2026-11-25T16:00:00.000Z".into(),
            finished_at: "2026-11-25T16:00:03.100Z".into(),
            qps: 10.0,
            update_pace: 9.7,
            concurrency: 24,
            max_attempts: 5,
        });
        let mut ok = ItemResult::pending("t-ok".into(), "m.yaml:3".into(), "h".into());
        ok.status = ItemStatus::Succeeded;
        ok.region = Some("cn-shanghai".into());
        ok.steps = vec!["stop".into(), "update".into(), "restart".into()];
        ok.changes = vec![crate::outcome::Change {
            field: "SourceUrls".into(),
            old: "[\"rtmp://old/a\"]".into(),
            new: "[\"rtmp://new/a\"]".into(),
        }];
        r.items = vec![ok.clone()].into();
        r.next = Some(
            "next: livebatch apply --retry-failed --sandbox m.yaml   (once the cause is fixed)"
                .into(),
        );
        if failed > 0 {
            let mut it = ItemResult::pending("t-bad".into(), "m.yaml:7".into(), "h".into());
            it.status = ItemStatus::Failed;
            it.error_code = Some("InvalidParameter".into());
            it.error_message = Some("CallbackUrl is malformed".into());
            it.attempts = 1;
            r.items = vec![ok, it].into();
        }
        r
    }

    #[test]
    fn the_report_says_what_run_it_describes_with_a_chart_per_second() {
        insta::assert_snapshot!(render(&report(Outcome::Completed, 1, 0)));
    }

    #[test]
    fn a_short_run_gets_no_chart_and_many_changes_are_capped() {
        let mut r = report(Outcome::Completed, 0, 0);
        r.summary.elapsed_seconds = 2.4;
        let items: Vec<ItemResult> = (0..MAX_CHANGES + 7)
            .map(|n| {
                let mut it =
                    ItemResult::pending(format!("t{n}"), format!("m.yaml:{n}"), "h".into());
                it.status = ItemStatus::Succeeded;
                it
            })
            .collect();
        r.items = items.into();
        let m = render(&r);
        assert!(!m.contains("mermaid"), "{m}");
        assert_eq!(m.matches("- `t").count(), MAX_CHANGES, "{m}");
        assert!(
            m.contains("… and 7 more (see the JSON or CSV report)."),
            "{m}"
        );
        assert!(m.contains("sent as written"), "{m}");
        assert!(
            m.contains(
                "- `livebatch apply --retry-failed --sandbox m.yaml` (once the cause is fixed)"
            ),
            "{m}"
        );
    }

    #[test]
    fn the_verdict_tells_every_ending_apart() {
        let halted = Outcome::Halted {
            halt_reason: HaltReason::MaxFailures {
                failed: 3,
                policy: "2".into(),
            },
        };
        let verdicts: Vec<String> = [
            report(Outcome::Completed, 0, 0),
            report(Outcome::Completed, 1, 0),
            report(Outcome::Completed, 0, 2),
            report(halted, 1, 0),
            report(Outcome::Interrupted, 0, 0),
        ]
        .iter()
        .map(|r| verdict(r).split(' ').next().unwrap().to_string())
        .collect();
        assert_eq!(
            verdicts,
            ["completed", "failed", "stale", "halted", "interrupted"]
        );
    }

    #[test]
    fn a_long_run_is_charted_in_spans_of_seconds() {
        let per_second: Vec<SecondStats> = (0..1000)
            .map(|i| SecondStats {
                second: i,
                calls: if i == 500 { 10 } else { 9 },
                throttled: u64::from(i % 100 == 0),
                p95_ms: Some(50.0),
            })
            .collect();
        let c = chart(&per_second);
        let bars = c
            .lines()
            .find(|l| l.trim_start().starts_with("bar"))
            .unwrap();
        assert_eq!(bars.matches(',').count() + 1, 1000usize.div_ceil(9));
        assert!(
            bars.contains("10"),
            "the busiest second of a span is kept: {bars}"
        );
        assert!(c.contains("(9 s per point)"), "{c}");
        assert_eq!(chart(&[]), "");
    }

    /// A rollout whose second wave failed its gate: the waves table after the totals, then the
    /// failed wave's unhealthy tasks (capped), what was rolled back and what was not.
    #[test]
    fn a_failed_rollout_shows_its_waves_and_what_its_failed_gate_found() {
        let mut r = report(Outcome::GateFailed { wave: 2 }, 0, 0);
        r.summary.elapsed_seconds = 12.0;
        r.waves = crate::report::waves::tests::failed_gate();
        r.waves[1].unhealthy[2].reason = "CallbackURL is http://a|b, not what was sent".into();
        r.next = Some(
            "next: livebatch revert j.jsonl   (a manifest that restores what stays applied: review it with plan, then apply it)\n\
             next: fix the manifest, then plan and apply it again   (a failed gate is final: --resume refuses this run)"
                .into(),
        );
        let m = render(&r);
        assert!(
            m.find("| total |").unwrap() < m.find("#### Waves").unwrap(),
            "{m}"
        );
        assert_eq!(m.matches("| t0").count(), MAX_GATE_ROWS, "{m}");
        assert!(m.contains("…and 3 more (see the JSON report)."), "{m}");
        assert!(m.contains("http://a\\|b"), "a pipe is escaped: {m}");
        insta::assert_snapshot!(m);
    }

    #[test]
    fn a_run_without_waves_has_no_waves_section_and_a_paused_one_has_no_failed_wave() {
        let m = render(&report(Outcome::Completed, 0, 0));
        assert!(!m.contains("Waves"), "{m}");
        use crate::report::waves::tests::wave;
        let mut r = report(Outcome::Paused { wave: 1 }, 0, 0);
        r.waves = vec![
            wave(1, 2, 10, 10, Verdict::Passed),
            wave(2, 2, 90, 0, Verdict::NotReached),
        ];
        let m = render(&r);
        assert!(
            m.contains("| 1/2 | 10 | 10 | 10 | 0 (at most 0) | 0 | passed | – |"),
            "{m}"
        );
        assert!(
            m.contains("| 2/2 | 90 | 0 | 0 | 0 (at most 0) | 0 | not reached | – |"),
            "{m}"
        );
        assert!(!m.contains("failed its health gate"), "{m}");
        assert!(verdict(&r).starts_with("paused — after wave 1"), "{m}");
    }
}
