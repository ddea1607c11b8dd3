//! The report phase and the end of a run: the report assembled once, after verify, from the run's
//! record and outcomes, written once to every `--report`; then on standard error what needs
//! attention, the next command, and last of all the outcome line.

use std::path::PathBuf;

use super::super::{Global, OutputFormat};
use super::args::Args;
use crate::apply::session::{Ran, SessionOptions};
use crate::exit;
use crate::outcome::{Accept, Outcome};
use crate::report::{self, Report, RunInfo, Verification};

/// What the report says besides the run's own record: where and how it ran, and what was true
/// when the run ended (its end time, the credential refreshes so far), and verify's finding.
pub(super) struct RunFacts {
    pub run: RunInfo,
    pub credential_refreshes: Option<u64>,
    pub verify: Option<Verification>,
}

/// The report of a run, assembled once, with the command to run next.
pub(super) fn assemble(ran: Ran, facts: RunFacts, args: &Args) -> Report {
    let mut rep = Report::spilled(report::stats::summarize(&ran.record), ran.outcomes);
    rep.waves = ran.record.waves;
    rep.verify = facts.verify;
    rep.credential_refreshes = facts.credential_refreshes;
    rep.run = Some(facts.run);
    rep.next = report::terminal::next_command(&rep, &invocation(args));
    rep
}

/// How the run was invoked, for the next command: its inputs and every flag that chose the target
/// and the journal, so that the command printed goes where this run went (a sandbox run's next
/// command is a sandbox run, on the sandbox journal). An endpoint is shown without a password.
pub(super) fn invocation(args: &Args) -> report::terminal::Invocation {
    use report::terminal::shell_word;
    let mut target = String::new();
    let mut connect = String::new();
    if args.sandbox {
        target.push_str(" --sandbox");
    }
    if let Some(e) = &args.api.connect.endpoint {
        let shown = crate::api::endpoint::redact_userinfo(e);
        connect.push_str(&format!(" --endpoint {}", shell_word(&shown)));
    }
    if let Some(p) = &args.api.connect.profile {
        connect.push_str(&format!(" --profile {}", shell_word(p)));
    }
    target.push_str(&connect);
    if let Some(j) = &args.journal {
        target.push_str(&format!(
            " --journal {}",
            shell_word(&j.display().to_string())
        ));
    }
    // The rollout's flags as given, so the printed resume names the waves it goes on with (the
    // journal's rollout is resumed either way; the same `--waves` text is accepted, another is
    // refused). `--pause-after` is left out: a paused rollout is resumed to go on with the rest.
    let mut rollout = String::new();
    if let Some(w) = &args.waves {
        rollout.push_str(&format!(" --waves {}", shell_word(&w.text)));
    }
    if let Some(b) = args.bake {
        // `--bake` takes whole seconds and up, so this reads back as the same duration.
        rollout.push_str(&format!(" --bake {}s", b.as_secs()));
    }
    if let Some(m) = args.max_unhealthy {
        rollout.push_str(&format!(" --max-unhealthy {}", shell_word(&m.to_string())));
    }
    if let Some(o) = args.on_unhealthy {
        rollout.push_str(&format!(" --on-unhealthy {}", o.name()));
    }
    report::terminal::Invocation {
        inputs: match &args.plan {
            Some(p) => format!("--plan {}", shell_word(&p.display().to_string())),
            None => args
                .files
                .iter()
                .map(|f| shell_word(f))
                .collect::<Vec<_>>()
                .join(" "),
        },
        target,
        saved_plan: args.plan.is_some(),
        restart_running: args.restart_running,
        partial: args.partial,
        rollout,
        journal: shell_word(&super::args::journal_path(args).display().to_string()),
        connect,
    }
}

/// Writes every report; one that cannot be written is said where it happens and raises the exit
/// code (the end of the run still follows).
pub(super) fn write_reports(rep: &Report, reports: &[(PathBuf, report::Format)], code: u8) -> u8 {
    match report::write_all(rep, reports) {
        Ok(()) => code,
        Err(e) => {
            eprintln!("error: {e}");
            code.max(exit::FAILURE)
        }
    }
}

/// The end of the run: what needs attention and the next command on standard error, the JSON
/// document on standard output with `--format json`, and last of all the outcome line, which ends
/// with the exit code the command returns (so the two never disagree).
pub(super) fn end(rep: &Report, args: &Args, opts: &SessionOptions, code: u8, g: &Global) -> u8 {
    let accept = Accept {
        blocked: args.allow_blocked,
        missing: args.allow_missing,
    };
    let mut code = code;
    if !attention_and_next(rep, accept, g) {
        code = code.max(exit::FAILURE);
    }
    if args.format == OutputFormat::Json {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if report::Format::Json
            .render_to(rep, &mut out)
            .and_then(|()| out.flush())
            .is_err()
        {
            code = code.max(exit::FAILURE);
        }
    }
    // The outcome line is printed even with -q when the run did not complete: it is the reason.
    let stopped = rep.summary.outcome.halt_reason().is_some()
        || matches!(rep.summary.outcome, Outcome::GateFailed { .. });
    if !g.quiet || stopped {
        eprintln!("{}", outcome_line(&rep.summary, opts, code));
    }
    code
}

/// What needs attention, the next command, and the blocked or missing items the exit code counts
/// against the run. Returns false if the items could not be read back for the list (said in its
/// place; the outcome line still comes last).
fn attention_and_next(rep: &Report, accept: Accept, g: &Global) -> bool {
    let s = &rep.summary;
    if g.quiet {
        return true;
    }
    let mut listed = true;
    match report::terminal::attention(rep, report::terminal::LISTED) {
        Ok(text) => eprint!("{text}"),
        Err(e) => {
            eprintln!("error: cannot read the run's outcomes back: {e}");
            listed = false;
        }
    }
    eprint!(
        "{}",
        report::terminal::rollout(rep, report::terminal::LISTED)
    );
    if let Some(next) = &rep.next {
        eprintln!("{next}");
    }
    let unaccepted: Vec<String> = [
        (s.blocked, accept.blocked, "blocked", "--allow-blocked"),
        (s.missing, accept.missing, "missing", "--allow-missing"),
    ]
    .into_iter()
    .filter(|(n, ok, _, _)| *n > 0 && !ok)
    .map(|(n, _, what, flag)| format!("{n} {what} (accept with {flag})"))
    .collect();
    if !unaccepted.is_empty() {
        // No exit code here: the outcome line, last, says the one the command returns.
        eprintln!(
            "not sent and not accepted: {} (the run fails on them)",
            unaccepted.join(", ")
        );
    }
    listed
}

/// The last line of a run: its outcome, the counts, the pace, the journal, and the exit code.
fn outcome_line(s: &crate::outcome::Summary, opts: &SessionOptions, code: u8) -> String {
    let mut extra = String::new();
    for (n, what) in [
        (s.stale, "stale (re-plan)"),
        (s.already_applied, "already applied"),
        (s.noop, "already up to date"),
        (s.blocked, "blocked"),
        (s.missing, "missing"),
    ] {
        if n > 0 {
            extra.push_str(&format!(", {n} {what}"));
        }
    }
    let outcome = match &s.outcome {
        Outcome::Halted { halt_reason } => format!("halted ({halt_reason})"),
        Outcome::GateFailed { wave } => format!("gate_failed (wave {wave})"),
        Outcome::Paused { wave } => format!("paused (after wave {wave})"),
        o => o.name().to_string(),
    };
    // Each operation has its own quota: with several, the total alone (a saved plan's reads and
    // updates: 19.4/s) would read as twice the quota, so each one's pace follows it.
    let per_operation = if s.by_operation.len() > 1 && s.elapsed_seconds > 0.0 {
        let each: Vec<String> = s
            .by_operation
            .iter()
            .map(|(action, c)| {
                let short = action.strip_suffix("LivePullToPush").unwrap_or(action);
                format!("{short} {:.2}", c.calls as f64 / s.elapsed_seconds)
            })
            .collect();
        format!(" ({}, each on its own quota)", each.join(", "))
    } else {
        String::new()
    };
    format!(
        "{outcome}: {} succeeded, {} failed{extra}, {} skipped, {} not attempted; {} retries, {} throttled; {:.2} calls/s{per_operation} over {:.1} s; journal {}; exit {code}",
        s.succeeded,
        s.failed,
        s.skipped,
        s.not_attempted,
        s.retries,
        s.throttled,
        s.calls_per_second,
        s.elapsed_seconds,
        opts.journal.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Outcome, Verdict};
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Apply {
        #[command(flatten)]
        args: Args,
    }

    fn parse(words: &[&str]) -> Args {
        Apply::try_parse_from(std::iter::once("apply").chain(words.iter().copied()))
            .unwrap()
            .args
    }

    /// The command printed after a paused rollout, run as printed, is the same rollout resumed:
    /// the same target, journal, planning flags and waves, without the pause.
    #[test]
    fn a_paused_rollouts_next_command_resumes_the_same_rollout() {
        let args = parse(&[
            "--profile",
            "prod",
            "--journal",
            "runs/j.jsonl",
            "--restart-running",
            "--waves",
            "10,12.5%",
            "--bake",
            "2m",
            "--max-unhealthy",
            "12.5%",
            "--on-unhealthy",
            "halt",
            "--pause-after",
            "1",
            "m.yaml",
        ]);
        let inv = invocation(&args);
        assert_eq!(
            inv.rollout,
            " --waves 10,12.5% --bake 120s --max-unhealthy 12.5% --on-unhealthy halt"
        );
        assert_eq!(
            (inv.journal.as_str(), inv.connect.as_str()),
            ("runs/j.jsonl", " --profile prod")
        );

        let mut rep = Report::new(crate::outcome::RunResult {
            summary: serde_json::from_value(serde_json::json!({
                "outcome": "paused", "wave": 1, "total": 100, "succeeded": 10, "failed": 0,
                "skipped": 0, "not_attempted": 90, "calls": 10, "retries": 0, "throttled": 0,
                "calls_per_second": 1.0, "updates_per_second": 1.0, "elapsed_seconds": 10.0,
                "latency_ms": {}, "rate_samples": []
            }))
            .unwrap(),
            items: Vec::new(),
        });
        assert_eq!(rep.summary.outcome, Outcome::Paused { wave: 1 });
        rep.waves = vec![crate::outcome::WaveResult {
            index: 1,
            of: 2,
            size: 10,
            applied: 10,
            healthy: 10,
            unhealthy: vec![],
            not_counted: vec![],
            inconclusive: 0,
            max_unhealthy: 1,
            verdict: Verdict::Passed,
            rolled_back: vec![],
            rollback_failed: vec![],
            bake_seconds: 120.0,
        }];
        let next = report::terminal::next_command(&rep, &inv).unwrap();
        let command = next
            .strip_prefix("next: livebatch apply ")
            .and_then(|n| n.split("   (").next())
            .unwrap_or_else(|| panic!("{next}"));
        let again = parse(&command.split(' ').collect::<Vec<_>>());
        assert!(again.resume && again.restart_running, "{next}");
        assert_eq!(again.waves.map(|w| w.text), Some("10,12.5%".to_string()));
        assert_eq!(again.bake, args.bake);
        assert_eq!(again.max_unhealthy, args.max_unhealthy);
        assert_eq!(again.on_unhealthy, args.on_unhealthy);
        assert_eq!(again.pause_after, None, "resumed to go on with the rest");
        assert_eq!(again.api.connect.profile.as_deref(), Some("prod"));
        assert_eq!(again.journal, args.journal);
        assert_eq!(again.files, ["m.yaml"]);

        // Without --waves, nothing of them.
        assert_eq!(invocation(&parse(&["m.yaml"])).rollout, "");
    }
}
