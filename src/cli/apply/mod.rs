//! `livebatch apply`: validate, plan against live state (as `plan` does), confirm, then send exactly
//! the changes, each operation paced at its own quota, with retries, a journal and reports. All
//! logic is in [`crate::apply`] and [`crate::plan`]; these files map flags and outcomes.
//!
//! [`run_async`] reads as the run's phases, each a function of its own: load ([`load`]) → journal
//! ([`open_journal`]) → connect ([`sandbox::connect_target`]) → plan ([`plan::plan_work`]) →
//! confirm ([`confirm`]) → run ([`run_session`], stopped by [`signals`]) → verify
//! ([`verify::verify_run`]) → report and end ([`end`]).

use super::connect::check_qps;
use super::error::{CliError, CliResult};
use super::{Global, shared_quota};
use crate::api::client::Client;
use crate::apply::config::ExecConfig;
use crate::apply::engine::Engine;
use crate::apply::journal::{JournalError, JournalState, LockedJournal, ResumeMode};
use crate::apply::progress;
use crate::apply::session::{self, Confirm, Ran, Session, SessionOptions};
use crate::exit;
use crate::report;
use std::io::IsTerminal;
use std::path::PathBuf;

mod args;
mod end;
mod load;
mod plan;
mod sandbox;
mod signals;
mod verify;
mod waves;

pub use args::{Args, default_journal};
pub use load::recheck_plan;
pub use plan::PREVIEW_ITEMS;
pub use sandbox::SANDBOX_LATENCY_MS;

use args::journal_path;
use load::{Source, load_entries, load_plan};

pub fn run(args: Args, g: &Global) -> CliResult {
    check_qps(args.qps, args.quota_raised).map_err(CliError::usage)?;
    let reports = report::check_paths(&args.reports).map_err(CliError::usage)?;
    // Every file the run writes, checked before anything is read or sent: none is an input or
    // another output, and each can be written (a report that fails at the end hides the outcome).
    let mut outputs = vec![report::outputs::Output::new("journal", journal_path(&args))];
    outputs.extend(
        reports
            .iter()
            .map(|(p, _)| report::outputs::Output::new("--report", p)),
    );
    report::outputs::check(&outputs, &inputs(&args)).map_err(CliError::usage)?;
    let source = match &args.plan {
        Some(plan) => load_plan(plan, args.now, args.max_age)?,
        None => {
            let journal = journal_path(&args);
            let dir = session::spill_dir(&journal);
            Source::Manifests(load_entries(&args.files, args.now, dir, g)?)
        }
    };
    let rt = super::runtime()?;
    rt.block_on(run_async(args, source, reports, g))
}

/// The files the run reads: the manifests, or the saved plan.
fn inputs(args: &Args) -> Vec<PathBuf> {
    match &args.plan {
        Some(p) => vec![p.clone()],
        None => args.files.iter().map(PathBuf::from).collect(),
    }
}

/// The run after loading, phase by phase. What ends the command before or instead of a run (the
/// journal, the sandbox, credentials, the quota store, planning, confirmation) is returned as a
/// `CliError`, printed once by `cli::main`. A failure the run reports and goes past (a report that
/// cannot be written, a verify read that fails, a session whose journal cannot start) is printed
/// where it happens and raises the exit code, because the end of the run still follows it in
/// order (credentials and sandbox counts, what needs attention, the outcome line last).
async fn run_async(
    args: Args,
    source: Source,
    reports: Vec<(PathBuf, report::Format)>,
    g: &Global,
) -> CliResult {
    let started_at = now_rfc3339();
    let mut config = exec_config(&args);
    let display: std::sync::Arc<dyn progress::Progress> =
        progress::for_this_process(g.quiet).into();
    let watch = signals::Watch::start(journal_path(&args), display.clone(), g.quiet);
    let (previous, locked) = open_journal(&args, config.resume, g)?;
    let before = waves::before_planning(&args, &previous, &journal_path(&args))?;
    let target = sandbox::connect_target(&args, &source, g).await?;
    // A rehearsal books nothing in a shared quota store: its calls never reach the account.
    let mut quota = args.api.quota.clone();
    if args.sandbox && quota.quota_store.take().is_some() && !g.quiet {
        eprintln!(
            "note: --sandbox does not use the quota store; its calls never reach the account"
        );
    }
    let client = target.client.clone();
    let (engine, shared) = shared_quota::engine(client, args.qps, &config, &quota, g).await?;
    let locked = recover_unfinished(&args, &previous, locked, &engine, g).await?;
    let journal = journal_path(&args);
    let ctx = plan::PlanContext {
        engine: &engine,
        shared: shared.as_deref(),
        previous: &previous,
        config: &config,
        journal: &journal,
    };
    let planned = plan::plan_work(&args, source, ctx, g).await?;
    let rollout = waves::lay_out(before, &planned.work, args.no_refresh)?;
    config = match args.concurrency {
        Some(c) => ExecConfig {
            concurrency: c as usize,
            ..config
        },
        None => config.scaled_for(planned.counts.max_calls.max(1)),
    };
    let opts = SessionOptions {
        manifests: inputs(&args),
        journal,
        config,
        keep_sent: args.verify,
    };
    let confirmed = Confirmation {
        planned: &planned,
        opts: &opts,
        target: &target.name,
        engine: &engine,
        rollout: rollout.as_ref(),
    };
    let locked = confirm(&args, confirmed, locked, g)?;
    let cancel = shared
        .as_ref()
        .map(|s| s.halt.child_token())
        .unwrap_or_default();
    let session = Session {
        counts: &planned.counts,
        previous: &previous,
        opts: &opts,
        engine: engine.clone(),
        cancel,
        progress: display.as_ref(),
        halt: shared.as_ref().map(|s| s.external_halt()),
        rollout,
    };
    let ran = run_session(&planned.work, locked, session, &watch).await;
    watch.ending();
    let ended = Ended::now(&engine);
    let mut code = exit::FAILURE;
    let mut report = None;
    if let Some(ran) = ran {
        let accept = crate::outcome::Accept {
            blocked: args.allow_blocked,
            missing: args.allow_missing,
        };
        code = report::stats::summarize(&ran.record).exit_code(accept);
        let mut verification = None;
        if args.verify {
            let rolled_back: std::collections::HashSet<String> = ran
                .record
                .waves
                .iter()
                .flat_map(|w| w.rolled_back.iter().cloned())
                .collect();
            let verified = verify::verify_run(code, &ran.outcomes, &rolled_back, &engine, g);
            // Halted by the quota store during verify: the run ends as halted (exit 3).
            (code, verification) =
                shared_quota::until_halted(shared.as_deref(), exit::INTERRUPTED, verified)
                    .await
                    .unwrap_or_else(|halted| (halted.code, None));
        }
        let facts = end::RunFacts {
            run: run_info(&args, &target.name, &engine, &opts, (started_at, ended.at)),
            credential_refreshes: ended.refreshes,
            verify: verification,
        };
        let rep = end::assemble(ran, facts, &args);
        code = end::write_reports(&rep, &reports, code);
        report = Some(rep);
    }
    if let Some(s) = &shared {
        s.finish().await;
    }
    closing_stats(&engine, target.emulator, g).await;
    if let Some(rep) = &report {
        code = end::end(rep, &args, &opts, code, g);
    }
    Ok(code)
}

/// How the run behaves, from the flags (its concurrency is settled once the work is counted).
fn exec_config(args: &Args) -> ExecConfig {
    let mut config = ExecConfig::new(args.qps);
    config.retry.max_attempts = args.max_attempts;
    config.halt = args.max_failures.unwrap_or_default();
    config.resume = match (args.resume, args.retry_failed) {
        (true, _) => ResumeMode::Resume,
        (_, true) => ResumeMode::RetryFailed,
        _ => ResumeMode::Fresh,
    };
    config
}

/// The journal phase: what it says of earlier runs (when resuming), and the journal locked until
/// the process ends — a second run on it is refused here, before it reads or sends anything.
fn open_journal(
    args: &Args,
    resume: ResumeMode,
    g: &Global,
) -> Result<(JournalState, LockedJournal), CliError> {
    let path = journal_path(args);
    let previous = session::previous_state(resume, &path).map_err(|e| match e {
        JournalError::Missing(_) => CliError::usage(e),
        e => CliError::failure(e),
    })?;
    if previous.unreadable_lines > 0 && !g.quiet {
        eprintln!(
            "note: {} unreadable line(s) in {} ignored (a run was killed mid-write); earlier records are intact",
            previous.unreadable_lines,
            path.display()
        );
    }
    let locked = LockedJournal::lock(&path).map_err(|e| match e {
        JournalError::Locked(_) => CliError::usage(e),
        e => CliError::failure(e),
    })?;
    Ok((previous, locked))
}

/// The recover phase, before planning: each multi-call item an earlier run began and never
/// finished (killed between a stop and its restart) has its task read, and restarted if it is
/// stopped, each said on stderr and journaled as a run of its own. The plan that follows then sees
/// the task running (with the configuration the item meant if the update took). A sandbox run
/// recovers nothing: its tasks are not the account's.
async fn recover_unfinished(
    args: &Args,
    previous: &JournalState,
    locked: LockedJournal,
    engine: &Engine<Client>,
    g: &Global,
) -> Result<LockedJournal, CliError> {
    use crate::apply::recover::{Recovered, recover};
    if previous.unfinished.is_empty() || args.sandbox {
        return Ok(locked);
    }
    let n = previous.unfinished.len();
    eprintln!(
        "recovering: {n} stop → update → restart item(s) an earlier run began and never finished; checking their tasks"
    );
    let header = crate::apply::journal::RunHeader::now(&inputs(args));
    let mut writer =
        crate::apply::journal::JournalWriter::start(locked, &header).map_err(CliError::failure)?;
    let say = |u: &crate::apply::recover::Unfinished, r: &Recovered| {
        let id = crate::text::escape(&u.task_id);
        let what = match r {
            Recovered::Restarted => "was left stopped; restarted".to_string(),
            Recovered::NotStopped(s) => format!("not stopped ({s:?}); nothing to do"),
            Recovered::Missing => "no longer exists; nothing to do".to_string(),
            Recovered::Failed(why) => format!(
                "could not be recovered ({}); it may still be stopped, the next run tries again",
                crate::text::escape(why)
            ),
        };
        if !g.quiet || matches!(r, Recovered::Failed(_)) {
            eprintln!("  task {id}: {what}");
        }
    };
    let done = recover(engine, &mut writer, &previous.unfinished, say)
        .await
        .map_err(CliError::failure)?;
    eprintln!(
        "recovered: {} task(s) restarted, {} needed nothing, {} could not be recovered",
        done.restarted, done.checked, done.failed
    );
    Ok(writer.into_locked())
}

/// What the confirmation shows: the plan's preview, the counts, where and how fast it goes.
struct Confirmation<'a> {
    planned: &'a plan::Planned,
    opts: &'a SessionOptions,
    target: &'a str,
    engine: &'a Engine<Client>,
    rollout: Option<&'a crate::apply::rollout::Rollout>,
}

/// The confirm phase: the plan's preview and the summary, then go (`--yes`), ask, or refuse when
/// nobody can answer. A run not confirmed leaves no empty journal behind; a confirmed one gets its
/// journal back.
fn confirm(
    args: &Args,
    c: Confirmation<'_>,
    locked: LockedJournal,
    g: &Global,
) -> Result<LockedJournal, CliError> {
    let pace = session::update_pace(c.engine);
    let summary = match c.rollout {
        // Finishing a killed run's rollback sends that and nothing else: the plan is not shown as
        // if it were to be sent.
        Some(r) if r.finish_rollback.is_some() => format!(
            "{}\njournal: {}",
            waves::summary(r).trim_start(),
            c.opts.journal.display()
        ),
        rollout => {
            let mut s = c.planned.preview.clone().unwrap_or_default();
            s.push_str(&session::summary_text(
                &c.planned.counts,
                c.opts,
                c.target,
                pace,
            ));
            if let Some(r) = rollout {
                s.push_str(&waves::summary(r));
            }
            s
        }
    };
    match session::confirm_mode(args.yes, std::io::stdin().is_terminal()) {
        Confirm::Proceed => {
            if !g.quiet {
                anstream::eprintln!("{summary}");
            }
            Ok(locked)
        }
        Confirm::Ask => {
            anstream::eprintln!("{summary}");
            let stdin = std::io::stdin();
            if !session::ask("Apply?", &mut stdin.lock(), &mut std::io::stderr()) {
                locked.discard_if_empty();
                eprintln!("cancelled; nothing sent");
                return Err(CliError::reported(exit::CANCELLED));
            }
            Ok(locked)
        }
        Confirm::Refuse => {
            locked.discard_if_empty();
            anstream::eprintln!("{summary}");
            Err(CliError::usage(
                "standard input is not a terminal, so apply cannot ask for confirmation; pass --yes to apply without asking",
            ))
        }
    }
}

/// The run phase: the session over the work, stopped by the first Ctrl-C or SIGTERM (see
/// [`signals`]). A session that cannot start or keep its outcomes is said here (exit 1, no
/// report); the end of the run still follows.
async fn run_session(
    work: &crate::apply::work::WorkList,
    locked: LockedJournal,
    session: Session<'_, Client>,
    watch: &signals::Watch,
) -> Option<Ran> {
    let cancel = session.cancel.clone();
    let on_journal = move |j: &crate::apply::journal::Journal| watch.running(j, cancel);
    match session::execute(work.iter(), locked, session, on_journal).await {
        Ok(ran) => Some(ran),
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

/// What is true when the run ends: its end time and the credential refreshes so far (what the
/// reports say; verify's reads after it are not the run's).
struct Ended {
    at: String,
    refreshes: Option<u64>,
}

impl Ended {
    fn now(engine: &Engine<Client>) -> Ended {
        let provider = engine.ops().credential_provider();
        Ended {
            at: now_rfc3339(),
            refreshes: provider.refreshable().then(|| provider.refreshes()),
        }
    }
}

/// What run the report describes: target, inputs and their hashes, times, pace.
fn run_info(
    args: &Args,
    target: &str,
    engine: &Engine<Client>,
    opts: &SessionOptions,
    times: (String, String),
) -> report::RunInfo {
    let (started_at, finished_at) = times;
    report::RunInfo {
        target: target.to_string(),
        sandbox: args.sandbox,
        inputs: match &args.plan {
            Some(p) => vec![report::InputFile::of(&p.display().to_string())],
            None => args
                .files
                .iter()
                .map(|f| report::InputFile::of(f))
                .collect(),
        },
        started_at,
        finished_at,
        qps: args.qps,
        update_pace: session::update_pace(engine),
        concurrency: opts.config.concurrency,
        max_attempts: opts.config.retry.max_attempts,
    }
}

/// After the run: how often the credentials were refreshed, and what the sandbox saw (then it is
/// stopped).
async fn closing_stats(
    engine: &Engine<Client>,
    emulator: Option<crate::emulator::EmulatorHandle>,
    g: &Global,
) {
    let provider = engine.ops().credential_provider();
    if provider.refreshable() && !g.quiet {
        eprintln!(
            "credentials: refreshed {} time(s) during the run ({})",
            provider.refreshes(),
            provider.describe()
        );
    }
    if let Some(emu) = emulator {
        let stats = emu.stats();
        if !g.quiet {
            eprintln!(
                "sandbox: the emulator answered {} call(s), {} throttled; busiest one-second window {} of {} allowed",
                stats.requests, stats.throttled, stats.max_accepted_in_any_window, stats.qps
            );
        }
        let _ = emu.shutdown().await;
    }
}

/// Now, RFC 3339 in UTC to the millisecond, as the journal writes times.
fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qps_above_the_quota_needs_the_flag() {
        assert!(check_qps(10.0, false).is_ok());
        assert!(check_qps(2.5, false).is_ok());
        let e = check_qps(20.0, false).unwrap_err();
        assert!(e.contains("--quota-raised"), "{e}");
        assert!(check_qps(20.0, true).is_ok());
        assert!(check_qps(0.0, true).is_err());
        assert!(check_qps(f64::NAN, true).is_err());
    }
}
