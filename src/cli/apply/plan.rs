//! The plan phase: what the run will apply, counted for the confirmation — a saved plan's items as
//! they are, a batch sent whole (`--no-refresh`), or a batch planned against live state as `plan`
//! does (each list page decided as it arrives, each item kept on disk).

use super::super::error::{CliError, call_failed};
use super::super::shared_quota::{self, SharedRun};
use super::super::{Global, manifests};
use super::args::Args;
use super::load::Source;
use crate::api::client::Client;
use crate::apply::config::ExecConfig;
use crate::apply::engine::Engine;
use crate::apply::journal::JournalState;
use crate::apply::ops::TaskOps;
use crate::apply::planned::{self, Guard};
use crate::apply::progress;
use crate::apply::session;
use crate::apply::work::{WorkCounts, WorkList};
use crate::plan::diff::PlanOptions;
use crate::plan::file::PlanItem;
use crate::plan::render;
use crate::plan::spilled::{Planning, SpilledBatch, SpilledPlan, SpilledPlanError, plan_spilled};

/// Changes and blocked items shown before asking, unless `-v` (then all).
pub const PREVIEW_ITEMS: usize = 20;

/// What the run will apply, its counts, and the preview shown before asking.
pub(super) struct Planned {
    pub work: WorkList,
    pub counts: WorkCounts,
    pub preview: Option<String>,
}

/// What planning reads with: the engine, the quota store's halt, what the journal said, how the
/// run behaves (resume mode, reads in flight), and where the journal is (plan items go beside it).
pub(super) struct PlanContext<'a> {
    pub engine: &'a Engine<Client>,
    pub shared: Option<&'a SharedRun>,
    pub previous: &'a JournalState,
    pub config: &'a ExecConfig,
    pub journal: &'a std::path::Path,
}

/// The plan phase (see the module docs).
pub(super) async fn plan_work(
    args: &Args,
    source: Source,
    ctx: PlanContext<'_>,
    g: &Global,
) -> Result<Planned, CliError> {
    let limit = if g.verbose > 0 {
        None
    } else {
        Some(PREVIEW_ITEMS)
    };
    let (previous, resume) = (ctx.previous, ctx.config.resume);
    match source {
        Source::Plan(items, plan) => {
            let mut counts = WorkCounts::default();
            for it in &items {
                counts.add(it, previous, resume);
            }
            Ok(Planned {
                work: WorkList::Items(items),
                counts,
                preview: Some(render::preview(&plan, limit)),
            })
        }
        Source::Manifests(batch) if args.no_refresh => {
            if !g.quiet {
                eprintln!(
                    "note: --no-refresh: live state is not read; every update is sent whole, as written"
                );
            }
            let work = WorkList::Blind(batch.entries);
            let counts = work.counts(previous, resume).map_err(|e| {
                CliError::failure(format!("cannot read the validated updates back: {e}"))
            })?;
            Ok(Planned {
                work,
                counts,
                preview: None,
            })
        }
        Source::Manifests(batch) => {
            let how = Planning {
                dir: session::spill_dir(ctx.journal),
                now: args.now.unwrap_or_else(manifests::clock_now),
                opts: PlanOptions {
                    restart_running: args.restart_running,
                    partial: args.partial,
                },
                reads: ctx.config.concurrency,
                preview: limit,
            };
            let mut counts = WorkCounts::default();
            let count =
                |it: &PlanItem| counts.add(&planned::work_item(it, Guard::None), previous, resume);
            let planning = plan_entries(ctx.engine, &batch, how, count, g);
            let plan = shared_quota::until_halted(ctx.shared, crate::exit::INTERRUPTED, planning)
                .await??;
            drop(batch);
            let preview = plan.preview_text();
            Ok(Planned {
                work: WorkList::Planned(plan.items),
                counts,
                preview: Some(preview),
            })
        }
    }
}

/// Plans the batch against live state through the engine (reads on their own quotas), as `plan`
/// does, saying every few seconds how far reading has got; `count` sees every item.
async fn plan_entries<S: TaskOps>(
    engine: &Engine<S>,
    batch: &SpilledBatch,
    how: Planning<'_>,
    count: impl FnMut(&PlanItem),
    g: &Global,
) -> Result<SpilledPlan, CliError> {
    let tasks = batch.index.len();
    let t0 = std::time::Instant::now();
    let planning = plan_spilled(engine, batch, how, count);
    tokio::pin!(planning);
    // Reading live state takes a call per 100 tasks (or per task), paced like every call: say so
    // every few seconds rather than sit silent.
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    tick.tick().await;
    let planned = loop {
        tokio::select! {
            r = &mut planning => break r,
            _ = tick.tick(), if !g.quiet => {
                eprintln!(
                    "planning: reading the live state of {tasks} task(s): {} read call(s), {} throttled, elapsed {}",
                    engine.counts().calls(),
                    engine.counts().throttled(),
                    progress::human_duration(t0.elapsed())
                );
            }
        }
    };
    let plan = planned.map_err(|e| match e {
        SpilledPlanError::Api(e) => call_failed(
            &e,
            format!("reading live state failed (nothing was sent): {e}"),
        ),
        SpilledPlanError::Io(e) => CliError::failure(format!(
            "cannot keep the plan in a temporary file in {} (nothing was sent): {e}",
            how.dir.display()
        )),
    })?;
    if g.verbose > 0 {
        eprintln!(
            "read the live state of {tasks} task(s) in {} call(s), {:.1} s",
            engine.counts().calls(),
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(plan)
}
