//! What a journal says of its last rollout, as it is read: the waves, what each applied (its
//! members' before-images), each gate's verdict, what was rolled back; and from that, what a
//! `--resume` must do ([`Resume`]). Pure: fed one record at a time by the journal's reader.

use std::collections::{BTreeMap, HashSet};

use super::gate::{Member, Members};
use super::record::{RolloutRecord, WaveRecord};
use crate::outcome::{ItemResult, ItemStatus, Verdict, WaveResult};

/// The journal's last rollout, as far as it got.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RolloutState {
    /// Its settings (the latest run's record of it).
    pub rollout: Option<RolloutRecord>,
    runs: HashSet<String>,
    /// Per wave (1-based), the tasks it applied, in the order they were recorded; a task once.
    members: BTreeMap<u32, Members>,
    /// Tasks whose change a rollback restored.
    rolled_back: HashSet<String>,
    /// Per wave, its latest gate record and whether its rollback finished.
    gates: BTreeMap<u32, Gate>,
}

#[derive(Debug, Clone, PartialEq)]
struct Gate {
    result: WaveResult,
    rollback_done: bool,
}

/// What a resume of the journal's rollout must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Resume {
    /// No rollout to continue.
    Fresh,
    /// Go on with the same waves (those whose gate passed are not gated again unless this run
    /// sends some of their items).
    Continue(Box<RolloutRecord>),
    /// A gate failed and the run was killed during its rollback: finish it (the items not yet
    /// restored), send nothing else, end as the failed gate.
    FinishRollback {
        rollout: Box<RolloutRecord>,
        wave: Box<WaveResult>,
        members: Vec<Member>,
    },
    /// A gate failed: the rollout is over; nothing is sent again.
    Final { wave: Box<WaveResult> },
}

impl RolloutState {
    /// A rollout record: the rollout it names becomes the one followed (a new rollout starts
    /// afresh; a resume's record adds its run to the same one).
    pub fn rollout(&mut self, r: &RolloutRecord) {
        let same = self
            .rollout
            .as_ref()
            .is_some_and(|cur| cur.rollout_id == r.rollout_id);
        if !same {
            *self = RolloutState::default();
        }
        self.runs.insert(r.run_id.clone());
        self.rollout = Some(r.clone());
    }

    /// An item record of run `run_id`. An item of a run outside the rollout, sent after it, ends
    /// it: a later run changed the tasks without waves, so there is nothing to continue.
    pub fn item(&mut self, run_id: &str, it: &ItemResult) {
        if self.rollout.is_none() {
            return;
        }
        if !self.runs.contains(run_id) {
            if matches!(it.status, ItemStatus::Succeeded | ItemStatus::Failed) {
                *self = RolloutState::default();
            }
            return;
        }
        if it.rollback {
            if it.status == ItemStatus::Succeeded {
                self.rolled_back.insert(it.task_id.clone());
            }
            return;
        }
        let (Some(wave), Some(m)) = (it.wave, Member::from_result(it)) else {
            return;
        };
        self.members.entry(wave).or_default().upsert(m);
        // Applied again after a rollback (never by a resume; by an explicit new change): its
        // restore no longer stands.
        self.rolled_back.remove(&it.task_id);
    }

    /// A wave record of the rollout.
    pub fn wave(&mut self, w: &WaveRecord) {
        if !self.runs.contains(&w.run_id) {
            return;
        }
        let gate = self.gates.entry(w.wave.index).or_insert_with(|| Gate {
            result: w.wave.clone(),
            rollback_done: false,
        });
        gate.result = w.wave.clone();
        gate.rollback_done = w.phase == super::record::ROLLED_BACK;
    }

    /// Wave `k`'s members recorded so far (an earlier run's, for a resumed gate).
    pub fn members(&self, wave: u32) -> &[Member] {
        self.members.get(&wave).map_or(&[], Members::as_slice)
    }

    /// Wave `k`'s gate passed in an earlier run.
    pub fn passed(&self, wave: u32) -> Option<&WaveResult> {
        self.gates
            .get(&wave)
            .filter(|g| g.result.verdict == Verdict::Passed)
            .map(|g| &g.result)
    }

    /// What a resume must do.
    pub fn resume(&self) -> Resume {
        let Some(rollout) = &self.rollout else {
            return Resume::Fresh;
        };
        let failed = self
            .gates
            .values()
            .find(|g| g.result.verdict == Verdict::Failed);
        match failed {
            None => Resume::Continue(Box::new(rollout.clone())),
            Some(g)
                if g.rollback_done
                    || rollout.on_unhealthy != super::spec::OnUnhealthy::Rollback.name() =>
            {
                Resume::Final {
                    wave: Box::new(g.result.clone()),
                }
            }
            Some(g) => Resume::FinishRollback {
                rollout: Box::new(rollout.clone()),
                wave: Box::new(g.result.clone()),
                members: self
                    .members(g.result.index)
                    .iter()
                    .filter(|m| !self.rolled_back.contains(&m.task_id))
                    .cloned()
                    .collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Change;

    fn rollout(run: &str, id: &str) -> RolloutRecord {
        RolloutRecord {
            run_id: run.into(),
            rollout_id: id.into(),
            spec: "1,100%".into(),
            ends: vec![1, 2],
            sizes: vec![1, 1],
            items: 2,
            tasks_digest: "d".into(),
            bake_ms: 1000,
            max_unhealthy: "0".into(),
            on_unhealthy: "rollback".into(),
        }
    }

    fn item(task: &str, wave: u32, rollback: bool) -> ItemResult {
        let mut r = ItemResult::pending(task.into(), "m.yaml:1".into(), "h".into());
        r.status = ItemStatus::Succeeded;
        r.region = Some("cn-shanghai".into());
        r.wave = Some(wave);
        r.rollback = rollback;
        r.before_status = Some(1);
        r.changes = vec![Change {
            field: "CallbackUrl".into(),
            old: "http://a".into(),
            new: "http://b".into(),
        }];
        r
    }

    fn gate(run: &str, wave: u32, verdict: Verdict, phase: &str) -> WaveRecord {
        WaveRecord {
            run_id: run.into(),
            rollout_id: "r1".into(),
            phase: phase.into(),
            wave: WaveResult {
                verdict,
                ..crate::apply::waves::gate::not_reached(crate::apply::waves::gate::WaveShape {
                    index: wave,
                    of: 2,
                    size: 1,
                    threshold: crate::apply::waves::spec::Threshold::Count(0),
                    bake_seconds: 1.0,
                })
            },
            at: "t".into(),
        }
    }

    #[test]
    fn a_paused_rollout_continues_and_knows_what_passed() {
        let mut st = RolloutState::default();
        assert_eq!(st.resume(), Resume::Fresh);
        st.rollout(&rollout("run1", "r1"));
        st.item("run1", &item("a", 1, false));
        st.wave(&gate("run1", 1, Verdict::Passed, "gated"));
        assert!(matches!(st.resume(), Resume::Continue(_)));
        assert!(st.passed(1).is_some());
        assert!(st.passed(2).is_none());
        assert_eq!(st.members(1).len(), 1);
        // The resume's own record joins the same rollout.
        st.rollout(&rollout("run2", "r1"));
        st.item("run2", &item("b", 2, false));
        assert_eq!(st.members(2)[0].task_id, "b");
        assert!(st.passed(1).is_some());
    }

    #[test]
    fn a_failed_gate_is_final_once_rolled_back_and_finished_otherwise() {
        let mut st = RolloutState::default();
        st.rollout(&rollout("run1", "r1"));
        st.item("run1", &item("a", 1, false));
        st.item("run1", &item("b", 1, false));
        st.wave(&gate("run1", 1, Verdict::Failed, "gated"));
        st.item("run1", &item("a", 1, true));
        // Killed during the rollback: b is left to restore.
        match st.resume() {
            Resume::FinishRollback { members, .. } => {
                assert_eq!(members.len(), 1);
                assert_eq!(members[0].task_id, "b");
            }
            other => panic!("{other:?}"),
        }
        st.wave(&gate(
            "run1",
            1,
            Verdict::Failed,
            super::super::record::ROLLED_BACK,
        ));
        assert!(matches!(st.resume(), Resume::Final { .. }));
    }

    #[test]
    fn halt_on_unhealthy_is_final_at_once() {
        let mut st = RolloutState::default();
        let mut r = rollout("run1", "r1");
        r.on_unhealthy = "halt".into();
        st.rollout(&r);
        st.wave(&gate("run1", 1, Verdict::Failed, "gated"));
        assert!(matches!(st.resume(), Resume::Final { .. }));
    }

    #[test]
    fn a_later_run_without_waves_ends_the_rollout() {
        let mut st = RolloutState::default();
        st.rollout(&rollout("run1", "r1"));
        st.item("run1", &item("a", 1, false));
        st.item("run2", &item("a", 1, false));
        assert_eq!(st.resume(), Resume::Fresh);
    }
}
