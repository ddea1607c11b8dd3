//! The Markdown report: a short summary for a pull-request comment or a CI step summary
//! (`$GITHUB_STEP_SUMMARY`), with a table of the failures.

use std::fmt::Write;

use super::Report;
use crate::apply::outcome::{HaltReason, ItemStatus};

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

pub fn render(r: &Report) -> String {
    let s = &r.summary;
    let mut m = String::new();
    let verdict = match (s.outcome.name(), s.failed) {
        ("completed", 0) => "all updates applied".to_string(),
        ("completed", n) => format!("{n} update(s) failed"),
        ("halted", _) => "halted".to_string(),
        _ => "interrupted".to_string(),
    };
    let _ = writeln!(m, "### livebatch apply: {verdict}\n");
    if let Some(reason) = s.outcome.halt_reason() {
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
        };
        let _ = writeln!(m, "Halted: {why}.\n");
    }
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
    let failed: Vec<_> = r
        .items
        .iter()
        .filter(|i| {
            matches!(
                i.status,
                ItemStatus::Failed | ItemStatus::Stale | ItemStatus::Blocked | ItemStatus::Missing
            )
        })
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(
            m,
            "| task | source | error | message | attempts | request id |"
        );
        let _ = writeln!(m, "|---|---|---|---|---:|---|");
        for i in failed.iter().take(MAX_ROWS) {
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
        if failed.len() > MAX_ROWS {
            let _ = writeln!(
                m,
                "\n…and {} more failures (see the JSON or CSV report).",
                failed.len() - MAX_ROWS
            );
        }
    }
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
    m
}
