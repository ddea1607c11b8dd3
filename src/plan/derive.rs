//! A saved plan derived again from its manifests before anything is sent.
//!
//! Why: a saved plan is a file, and in CI an artifact anyone with write access to the pipeline can
//! touch between review and apply. What `apply --plan` sends must be what the reviewer saw, and
//! what they saw must be what the manifests produce: an `update` edited beside unchanged
//! `changes`, a field not listed, an item spliced in from another plan, `steps: []` or
//! `steps: ["stop"]`, a stop → update → restart on a stopped task — each was sent (or reported
//! succeeded) before. So every item is decided again, by the same pure function planning used
//! ([`plan_item_in`]), from the manifest's update and the live state the item recorded, as of the
//! plan's `created_at`, and must come out identical — decision, changes, steps, the update sent,
//! origin and the fingerprint of the recorded state. Any difference refuses the whole plan,
//! naming the item. The recorded live state itself is checked at apply time against the task's
//! real state by its fingerprint (a moved task is `stale`), so editing it gains nothing either.

use std::collections::HashMap;
use std::path::Path;

use crate::model::{Region, Update};
use crate::plan::diff::PlanOptions;
use crate::plan::file::{PlanFile, PlanItem};
use crate::plan::live::plan_item_in;

/// One way a saved plan is not what its manifests produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Underived {
    #[error(
        "the plan names no manifests: a saved plan must be made from manifests (`livebatch plan --out`)"
    )]
    NoManifests,
    #[error("item {index} ({task} in {region}) is not in the plan's manifests")]
    NotInManifests {
        index: usize,
        task: String,
        region: &'static str,
    },
    #[error("item {index} ({task} in {region}) appears twice")]
    Twice {
        index: usize,
        task: String,
        region: &'static str,
    },
    #[error(
        "item {index} ({task} in {region}, from {origin}): its {what} is not what its manifest and recorded live state produce"
    )]
    Differs {
        index: usize,
        task: String,
        region: &'static str,
        origin: String,
        what: &'static str,
    },
    #[error(
        "the update of {task} in {region} (from {origin}) is in the manifests but not in the plan"
    )]
    Omitted {
        task: String,
        region: &'static str,
        origin: String,
    },
}

/// Why a saved plan is refused as not derived from its manifests.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error("the plan {path} does not match its manifests; nothing was sent:\n{}\nre-run `livebatch plan --out` and review it again instead of editing the plan", .found.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"))]
    Underived { path: String, found: Vec<Underived> },
    #[error(
        "the plan {path}: its manifests no longer validate as of the plan's time ({errors} error(s)); re-run `livebatch plan --out`"
    )]
    ManifestsInvalid { path: String, errors: usize },
}

/// Reads a saved plan's manifests again, validated as of the plan's `created_at`, and derives
/// every item ([`check`]): refuses the plan whole, naming each item that is not what the
/// manifests and its recorded live state produce. Call after [`PlanFile::check_manifests`] (which
/// makes sure the manifests are the files hashed at planning, and regular files).
pub fn check_saved(plan: &PlanFile, plan_path: &Path) -> Result<(), DeriveError> {
    let shown = plan_path.display().to_string();
    let inputs: Vec<crate::manifest::Input> = plan
        .manifests
        .iter()
        .map(|m| crate::manifest::Input::from_arg(&m.path))
        .collect();
    let batch = crate::validate::load_batch(&inputs, plan.created_at);
    if batch.has_errors() {
        return Err(DeriveError::ManifestsInvalid {
            path: shown,
            errors: batch.counts().errors,
        });
    }
    let entries: Vec<(Update, String)> = batch
        .entries
        .into_iter()
        .map(|e| {
            let origin = e.origin.file_line();
            (e.update, origin)
        })
        .collect();
    let found = check(plan, &entries);
    if found.is_empty() {
        Ok(())
    } else {
        Err(DeriveError::Underived { path: shown, found })
    }
}

/// Checks every item of `plan` against `entries`, the manifests' valid updates with their
/// `file:line` origins (read again now, validated as of the plan's `created_at`). Returns every
/// difference found, in item order; empty means the plan is exactly what the manifests produce.
pub fn check(plan: &PlanFile, entries: &[(Update, String)]) -> Vec<Underived> {
    let mut out = Vec::new();
    if plan.manifests.is_empty() {
        out.push(Underived::NoManifests);
    }
    let opts = PlanOptions {
        restart_running: plan.restart_running,
        partial: plan.partial,
    };
    let mut wanted: HashMap<(Region, &str), (&Update, &str, bool)> = entries
        .iter()
        .map(|(u, o)| ((u.region, u.task_id.as_str()), (u, o.as_str(), false)))
        .collect();
    for (i, item) in plan.items.iter().enumerate() {
        let index = i + 1;
        let (task, region) = (
            crate::text::escape(&item.task_id).into_owned(),
            item.region.as_str(),
        );
        let Some((u, origin, seen)) = wanted.get_mut(&(item.region, item.task_id.as_str())) else {
            out.push(Underived::NotInManifests {
                index,
                task,
                region,
            });
            continue;
        };
        if *seen {
            out.push(Underived::Twice {
                index,
                task,
                region,
            });
            continue;
        }
        *seen = true;
        // Against the state and the region it was planned against.
        let found = item
            .live
            .clone()
            .map(|s| (item.live_region.unwrap_or(u.region), s));
        let derived = plan_item_in(u, origin.to_string(), found, plan.created_at, opts);
        if let Some(what) = first_difference(item, &derived) {
            out.push(Underived::Differs {
                index,
                task,
                region,
                origin: crate::text::escape(&item.origin).into_owned(),
                what,
            });
        }
    }
    let mut omitted: Vec<_> = wanted
        .into_iter()
        .filter(|(_, (_, _, seen))| !seen)
        .map(|((region, task), (_, origin, _))| Underived::Omitted {
            task: crate::text::escape(task).into_owned(),
            region: region.as_str(),
            origin: origin.to_string(),
        })
        .collect();
    omitted.sort_by_key(ToString::to_string);
    out.extend(omitted);
    out
}

/// The first part of `item` that differs from the `derived` one, named for the message.
fn first_difference(item: &PlanItem, derived: &PlanItem) -> Option<&'static str> {
    use crate::plan::diff::Decision;
    let steps = |d: &Decision| match d {
        Decision::Change { steps, .. } => Some(steps.clone()),
        _ => None,
    };
    if item.decision.name() != derived.decision.name() {
        Some("class")
    } else if steps(&item.decision) != steps(&derived.decision) {
        Some("steps")
    } else if item.decision != derived.decision {
        Some("changes (or reasons)")
    } else if item.update != derived.update {
        Some("update (what would be sent)")
    } else if item.origin != derived.origin {
        Some("origin")
    } else if item.fingerprint != derived.fingerprint {
        Some("fingerprint (of its recorded live state)")
    } else if item != derived {
        Some("content")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::TaskState;
    use crate::model::ApiTime;
    use crate::plan::diff::{Decision, Step};
    use crate::plan::file::ManifestRef;
    use crate::plan::live::plan_item;

    fn now() -> ApiTime {
        ApiTime::parse("2026-06-01T00:00:00Z").unwrap()
    }

    /// A live task as Describe shows it, with status `status` and the old callback.
    fn live(u: &Update, status: i32) -> TaskState {
        let mut st = TaskState {
            task_id: u.task_id.clone(),
            task_status: status,
            ..TaskState::default()
        };
        st.task_info.task_id = u.task_id.clone();
        st.task_info.source_type = "url".into();
        st.task_info.callback_url = "https://old.example.com/cb".into();
        st
    }

    fn update(id: &str) -> Update {
        let mut u = Update::new(id, Region::CnShanghai);
        u.callback_url = Some("https://new.example.com/cb".into());
        u
    }

    fn plan(entries: &[(Update, String)], statuses: &[i32], restart: bool) -> PlanFile {
        let opts = PlanOptions {
            restart_running: restart,
            ..PlanOptions::default()
        };
        let items = entries
            .iter()
            .zip(statuses)
            .map(|((u, o), s)| plan_item(u, o.clone(), Some(live(u, *s)), now(), opts))
            .collect();
        PlanFile::new(
            opts,
            now(),
            vec![ManifestRef {
                path: "m.yaml".into(),
                sha256: "0".repeat(64),
            }],
            items,
        )
    }

    fn entries(n: usize) -> Vec<(Update, String)> {
        (0..n)
            .map(|i| (update(&format!("t-{i}")), format!("m.yaml:{}", 2 + i)))
            .collect()
    }

    #[test]
    fn a_plan_as_made_derives_again() {
        let e = entries(3);
        assert_eq!(check(&plan(&e, &[3, 3, 1], false), &e), vec![]);
    }

    #[test]
    fn an_edited_update_an_extra_field_or_edited_steps_are_refused_by_item() {
        let e = entries(2);
        let mut p = plan(&e, &[3, 3], false);
        p.items[0].update.callback_url = Some("https://evil.example.com/cb".into());
        p.items[1].update.source_urls = Some(vec!["rtmp://evil.example.com/x".into()]);
        let found = check(&p, &e);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].to_string().contains("item 1 (t-0"), "{}", found[0]);
        assert!(found[0].to_string().contains("update"), "{}", found[0]);
        assert!(found[1].to_string().contains("item 2 (t-1"), "{}", found[1]);

        for steps in [
            vec![],
            vec![Step::Stop],
            vec![Step::Stop, Step::Update, Step::Restart],
        ] {
            let mut p = plan(&e, &[3, 3], false);
            if let Decision::Change { steps: s, .. } = &mut p.items[0].decision {
                *s = steps.clone();
            }
            let found = check(&p, &e);
            assert_eq!(found.len(), 1, "{steps:?}: {found:?}");
            assert!(found[0].to_string().contains("its steps"), "{}", found[0]);
        }
    }

    #[test]
    fn a_spliced_item_a_duplicate_an_omission_and_no_manifests_are_refused() {
        let e = entries(2);
        let mut p = plan(&e, &[3, 3], false);
        let foreign = entries(3).pop().unwrap();
        let spliced = plan(std::slice::from_ref(&foreign), &[3], false)
            .items
            .remove(0);
        p.items.push(spliced);
        p.items.push(p.items[0].clone());
        let found = check(&p, &e);
        assert!(
            matches!(found[0], Underived::NotInManifests { index: 3, .. }),
            "{found:?}"
        );
        assert!(
            matches!(found[1], Underived::Twice { index: 4, .. }),
            "{found:?}"
        );

        let mut p = plan(&e, &[3, 3], false);
        p.items.pop();
        p.manifests.clear();
        let found = check(&p, &e);
        assert_eq!(found[0], Underived::NoManifests);
        assert!(matches!(found[1], Underived::Omitted { .. }), "{found:?}");
    }

    #[test]
    fn an_edited_origin_or_recorded_state_is_refused() {
        let e = entries(1);
        let mut p = plan(&e, &[3], false);
        p.items[0].origin = "other.yaml:9".into();
        assert!(check(&p, &e)[0].to_string().contains("origin"));
        // A zeroed fingerprint (issue 22 item 16 met it as "live state changed since planning
        // ()" at apply time) is refused before anything is read or sent.
        let mut p = plan(&e, &[3], false);
        p.items[0].fingerprint = Some(String::new());
        assert!(check(&p, &e)[0].to_string().contains("fingerprint"));
        let mut p = plan(&e, &[3], false);
        // The recorded state edited to "running" without its fingerprint: refused.
        p.items[0].live.as_mut().unwrap().task_status = 1;
        assert!(!check(&p, &e).is_empty());
    }
}
