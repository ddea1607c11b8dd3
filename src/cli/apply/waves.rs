//! `--waves` and its companions: what the flags and the journal say before planning (a new
//! rollout, one to continue, a rollback to finish, or a failed gate that refuses a resume), then
//! the waves laid over the planned items. The logic is [`crate::apply::waves`]; this maps it to
//! flags, messages and exit codes.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::super::error::CliError;
use super::args::Args;
use crate::apply::journal::JournalState;
use crate::apply::rollout::Rollout;
use crate::apply::waves::gate::Member;
use crate::apply::waves::record::RolloutRecord;
use crate::apply::waves::spec::{self, OnUnhealthy, Threshold, WaveSpec};
use crate::apply::waves::state::{Resume, RolloutState};
use crate::apply::work::WorkList;
use crate::outcome::WaveResult;

/// Each wave's bake unless `--bake` says otherwise: long enough for a stream that cannot pull its
/// source to be reported abnormal (the service retries a failed pull for a while first).
pub const DEFAULT_BAKE: Duration = Duration::from_secs(60);

/// How the waves are gated, from the flags (or the journal's rollout, when resuming it).
#[derive(Debug, Clone)]
pub(super) struct Settings {
    spec: WaveSpec,
    bake: Duration,
    threshold: Threshold,
    on_unhealthy: OnUnhealthy,
    pause_after: Option<u32>,
}

/// What the run does about waves, decided before planning.
#[derive(Debug)]
pub(super) enum Before {
    /// No waves.
    None,
    /// A new rollout.
    New(Settings),
    /// `--resume` of a rollout: the same waves.
    Continue(Settings, Box<RolloutRecord>, Box<RolloutState>),
    /// `--resume` of a run killed while rolling a failed wave back: finish that, nothing else.
    Finish(Settings, Box<RolloutRecord>, Box<WaveResult>, Vec<Member>),
}

/// The revert command for the waves a failed rollout left applied, going where the run went (a
/// rehearsal's tasks were the sandbox's: nothing to revert).
fn revert_hint(args: &Args) -> String {
    if args.sandbox {
        return String::new();
    }
    let inv = super::end::invocation(args);
    format!(
        "\n  undo the waves that stayed applied: livebatch revert{} {}",
        inv.connect, inv.journal
    )
}

fn settings_from(args: &Args, spec: WaveSpec, rec: Option<&RolloutRecord>) -> Settings {
    let recorded_threshold = rec.and_then(|r| Threshold::parse(&r.max_unhealthy).ok());
    let recorded_on = rec.and_then(|r| clap::ValueEnum::from_str(&r.on_unhealthy, false).ok());
    Settings {
        spec,
        bake: args
            .bake
            .or(rec.map(|r| Duration::from_millis(r.bake_ms)))
            .unwrap_or(DEFAULT_BAKE),
        threshold: args
            .max_unhealthy
            .or(recorded_threshold)
            .unwrap_or(Threshold::Count(0)),
        on_unhealthy: args.on_unhealthy.or(recorded_on).unwrap_or_default(),
        pause_after: args.pause_after,
    }
}

/// The waves decision before planning: a failed gate in the journal refuses a resume (exit 5,
/// nothing sent); a resume continues the journal's rollout (its waves, its settings unless a flag
/// overrides one); flags that only mean something with waves are refused without them.
pub(super) fn before_planning(
    args: &Args,
    previous: &JournalState,
    journal: &std::path::Path,
) -> Result<Before, CliError> {
    let resuming = args.resume || args.retry_failed;
    if resuming {
        match previous.rollout.resume() {
            Resume::Final { wave } => {
                return Err(CliError::gate_failed(format!(
                    "refused: wave {}/{} of the rollout in {} failed its health gate ({} unhealthy, at most {} allowed); a failed gate is final and --resume never sends that change again. Nothing was sent.\n  fix the manifest, plan again and apply it as a new run (without --resume){}",
                    wave.index,
                    wave.of,
                    journal.display(),
                    wave.unhealthy.len(),
                    wave.max_unhealthy,
                    revert_hint(args)
                )));
            }
            Resume::FinishRollback {
                rollout,
                wave,
                members,
            } => {
                let spec = WaveSpec::parse(&rollout.spec).map_err(CliError::usage)?;
                let s = settings_from(args, spec, Some(&rollout));
                return Ok(Before::Finish(s, rollout, wave, members));
            }
            Resume::Continue(rec) => {
                if let Some(w) = &args.waves
                    && w.text != rec.spec
                {
                    return Err(CliError::usage(format!(
                        "--waves {} differs from the rollout being resumed (--waves {}): a resume goes on with the same waves; drop --waves, or start a new rollout without --resume",
                        w.text, rec.spec
                    )));
                }
                let spec = WaveSpec::parse(&rec.spec).map_err(CliError::usage)?;
                let s = settings_from(args, spec, Some(&rec));
                return Ok(Before::Continue(s, rec, Box::new(previous.rollout.clone())));
            }
            Resume::Fresh => {}
        }
    }
    match &args.waves {
        Some(spec) => Ok(Before::New(settings_from(args, spec.clone(), None))),
        None => {
            let stray = [
                ("--bake", args.bake.is_some()),
                ("--max-unhealthy", args.max_unhealthy.is_some()),
                ("--on-unhealthy", args.on_unhealthy.is_some()),
                ("--pause-after", args.pause_after.is_some()),
            ];
            match stray.iter().find(|(_, given)| *given) {
                Some((flag, _)) => Err(CliError::usage(format!(
                    "{flag} only applies to a run in waves: add --waves SPEC (or --resume a run made with --waves)"
                ))),
                None => Ok(Before::None),
            }
        }
    }
}

/// Where the change items are in the run's list, and a digest of its task IDs in order (a resume
/// on other items is refused).
struct Layout {
    total: usize,
    /// Position of each change item (not decided unsent before the run).
    changes: Vec<usize>,
    digest: String,
}

fn layout(work: &WorkList) -> Result<Layout, CliError> {
    let mut h = Sha256::new();
    let mut changes = Vec::new();
    let mut total = 0;
    for (at, it) in work.iter().enumerate() {
        let it = it.map_err(|e| CliError::failure(format!("cannot read the plan back: {e}")))?;
        h.update(it.update.task_id.as_bytes());
        h.update(b"\n");
        if it.unsent.is_none() {
            changes.push(at);
        }
        total = at + 1;
    }
    Ok(Layout {
        total,
        changes,
        digest: format!("sha256:{}", hex::encode(h.finalize())),
    })
}

/// The waves over the planned items: a new rollout's sizes resolved against the change items, or
/// the resumed rollout's own (refused if the items are not the ones it was made over).
pub(super) fn lay_out(
    before: Before,
    work: &WorkList,
    no_refresh: bool,
) -> Result<Option<Rollout>, CliError> {
    if matches!(before, Before::None) {
        return Ok(None);
    }
    if no_refresh {
        return Err(CliError::usage(
            "--waves needs a plan to order and before-images to roll back to: it cannot go with --no-refresh",
        ));
    }
    let l = layout(work)?;
    let (s, record, earlier, finish) = match before {
        Before::None => return Ok(None),
        Before::New(s) => {
            let cumulative = s.spec.resolve(l.changes.len()).map_err(CliError::usage)?;
            if cumulative.is_empty() {
                return Ok(None);
            }
            let n = cumulative.len();
            let ends: Vec<usize> = cumulative
                .iter()
                .enumerate()
                .map(|(k, &c)| {
                    if k + 1 == n {
                        l.total
                    } else {
                        l.changes[c - 1] + 1
                    }
                })
                .collect();
            let sizes: Vec<usize> = cumulative
                .iter()
                .scan(0, |prev, &c| {
                    let size = c - *prev;
                    *prev = c;
                    Some(size)
                })
                .collect();
            let record = RolloutRecord {
                run_id: String::new(),
                rollout_id: String::new(),
                spec: s.spec.text.clone(),
                ends,
                sizes,
                items: l.total,
                tasks_digest: l.digest.clone(),
                bake_ms: s.bake.as_millis() as u64,
                max_unhealthy: s.threshold.to_string(),
                on_unhealthy: s.on_unhealthy.name().to_string(),
            };
            (s, record, RolloutState::default(), None)
        }
        Before::Continue(s, rec, earlier) => {
            same_items(&rec, &l)?;
            let mut record = *rec;
            record.bake_ms = s.bake.as_millis() as u64;
            record.max_unhealthy = s.threshold.to_string();
            record.on_unhealthy = s.on_unhealthy.name().to_string();
            (s, record, *earlier, None)
        }
        Before::Finish(s, rec, wave, members) => {
            (s, *rec, RolloutState::default(), Some((*wave, members)))
        }
    };
    spec::check_pause(s.pause_after, record.ends.len()).map_err(CliError::usage)?;
    Ok(Some(Rollout {
        record,
        threshold: s.threshold,
        bake: s.bake,
        on_unhealthy: s.on_unhealthy,
        pause_after: s.pause_after,
        earlier,
        finish_rollback: finish,
    }))
}

fn same_items(rec: &RolloutRecord, l: &Layout) -> Result<(), CliError> {
    if rec.items == l.total && rec.tasks_digest == l.digest {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "refused: the rollout being resumed was made over {} item(s) in another order or of other tasks than these {} — the manifests (or the plan) changed since; a resume must go on over the same items. Plan again and start a new rollout (without --resume). Nothing was sent.",
        rec.items, l.total
    )))
}

/// The wave plan for the confirmation: sizes, bake, threshold, what a failed gate does, and the
/// least time the gates add.
pub(super) fn summary(r: &Rollout) -> String {
    if let Some((wave, members)) = &r.finish_rollback {
        return format!(
            "\nrollout: wave {}/{} failed its health gate in an earlier run, which was stopped during its rollback; this run finishes it — {} task(s) to restore to their before-images — and sends nothing else",
            wave.index,
            wave.of,
            members.len()
        );
    }
    let sizes: Vec<String> = r.record.sizes.iter().map(|s| s.to_string()).collect();
    let n = r.record.sizes.len();
    let bake = crate::apply::progress::human_duration(r.bake);
    let mut s = format!(
        "\nrollout: {n} wave(s) of {} change item(s) (--waves {}), in the plan's order; after each, a {bake} bake, then a health gate reading the wave's tasks back: at most {} unhealthy per wave, else {} and stop (exit 5)",
        sizes.join(", "),
        r.record.spec,
        r.threshold,
        match r.on_unhealthy {
            OnUnhealthy::Rollback => "roll the wave back to its before-images",
            OnUnhealthy::Halt => "leave the wave as it is",
        }
    );
    if let Some(p) = r.pause_after.filter(|&p| (p as usize) < n) {
        s.push_str(&format!(
            "; pausing after wave {p} (exit 0; --resume goes on)"
        ));
    }
    s.push_str(&format!(
        "\nthe gates add at least {} ({n} bake(s) plus their reads)",
        crate::apply::progress::human_duration(r.bake * n as u32)
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::item::{Unsent, WorkItem};
    use crate::model::{Region, Update};
    use crate::outcome::ItemStatus;

    fn work(unsent_at: &[usize], n: usize) -> WorkList {
        WorkList::Items(
            (0..n)
                .map(|i| {
                    let mut w =
                        WorkItem::new(Update::new(format!("t{i}"), Region::CnShanghai), "m");
                    if unsent_at.contains(&i) {
                        w.unsent = Some(Box::new(Unsent {
                            status: ItemStatus::NoOp,
                            error_code: None,
                            message: None,
                        }));
                    }
                    w
                })
                .collect(),
        )
    }

    fn new(spec: &str) -> Before {
        Before::New(Settings {
            spec: WaveSpec::parse(spec).unwrap(),
            bake: Duration::from_secs(5),
            threshold: Threshold::Percent(1000),
            on_unhealthy: OnUnhealthy::Rollback,
            pause_after: Some(1),
        })
    }

    /// Waves count change items; an item not sent stays in the wave its position falls in, and
    /// the last wave ends at the last item.
    #[test]
    fn waves_are_laid_over_the_change_items_in_plan_order() {
        // 10 items, items 1 and 4 no-ops: change items at 0,2,3,5,6,7,8,9.
        let r = lay_out(new("2,50%"), &work(&[1, 4], 10), false)
            .unwrap()
            .unwrap();
        assert_eq!(r.record.sizes, vec![2, 2, 4]);
        // Wave 1 ends after change item 2 (position 2), wave 2 after change item 4 (position 5).
        assert_eq!(r.record.ends, vec![3, 6, 10]);
        assert_eq!(
            (0..10).map(|at| r.wave_of(at)).collect::<Vec<_>>(),
            vec![1, 1, 1, 2, 2, 2, 3, 3, 3, 3]
        );
        assert_eq!(r.record.items, 10);
        assert!(r.record.tasks_digest.starts_with("sha256:"));
        insta::assert_snapshot!(summary(&r), @r"
        rollout: 3 wave(s) of 2, 2, 4 change item(s) (--waves 2,50%), in the plan's order; after each, a 5s bake, then a health gate reading the wave's tasks back: at most 10% unhealthy per wave, else roll the wave back to its before-images and stop (exit 5); pausing after wave 1 (exit 0; --resume goes on)
        the gates add at least 15s (3 bake(s) plus their reads)
        ");
    }

    #[test]
    fn nothing_to_change_means_no_waves_and_no_refresh_means_no_plan() {
        assert!(
            lay_out(new("2"), &work(&[0, 1], 2), false)
                .unwrap()
                .is_none()
        );
        let e = lay_out(new("2"), &work(&[], 2), true).unwrap_err();
        assert_eq!(e.code, crate::exit::USAGE);
        // A count past the items ends the waves there: `1,2,3,4` over 3 items is 3 waves.
        let r = lay_out(new("1,2,3,4"), &work(&[], 3), false)
            .unwrap()
            .unwrap();
        assert_eq!(r.record.ends, vec![1, 2, 3]);
        let Before::New(mut s) = new("1,2") else {
            unreachable!()
        };
        s.pause_after = Some(4);
        let e = lay_out(Before::New(s), &work(&[], 3), false).unwrap_err();
        assert_eq!(e.code, crate::exit::USAGE);
        assert!(
            e.message
                .unwrap()
                .contains("--pause-after 4 is beyond the last wave: this plan has 3"),
        );
    }
}
