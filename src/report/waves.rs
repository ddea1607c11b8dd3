//! What every report says of a rollout in waves (`apply --waves`), in one place, so the end of the
//! run on the terminal, the Markdown and the JUnit reports name the same wave, the same counts and
//! the same waves left applied.

use crate::outcome::{Outcome, Verdict, WaveResult};

/// The wave whose gate failed the run: the one the outcome names, else the first one failed.
pub fn failed<'a>(outcome: &Outcome, waves: &'a [WaveResult]) -> Option<&'a WaveResult> {
    let named = match outcome {
        Outcome::GateFailed { wave } => waves.iter().find(|w| w.index == *wave),
        _ => None,
    };
    named.or_else(|| waves.iter().find(|w| w.verdict == Verdict::Failed))
}

/// A failed wave left as it was (`--on-unhealthy halt`): tasks applied, none rolled back or tried.
pub fn left_as_is(w: &WaveResult) -> bool {
    w.verdict == Verdict::Failed
        && w.applied > 0
        && w.rolled_back.is_empty()
        && w.rollback_failed.is_empty()
}

/// `wave 2/4 failed its health gate: 12 task(s) unhealthy, at most 3 allowed`.
pub fn gate_line(w: &WaveResult) -> String {
    format!(
        "wave {}/{} failed its health gate: {} task(s) unhealthy, at most {} allowed",
        w.index,
        w.of,
        w.unhealthy.len(),
        w.max_unhealthy
    )
}

/// `wave 1`, `waves 1–3`, `waves 1, 3` (indices in order).
pub fn named(indices: &[u32]) -> String {
    match indices {
        [] => String::new(),
        [one] => format!("wave {one}"),
        [first, .., last] if (*last - *first) as usize + 1 == indices.len() => {
            format!("waves {first}–{last}")
        }
        _ => format!(
            "waves {}",
            indices
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What of a stopped rollout still carries its change, in words: the waves whose gate passed,
/// the failed wave when it was not rolled back, and its tasks whose rollback failed. `None` when
/// nothing does (the first wave failed and was rolled back whole). This is what `livebatch revert`
/// restores.
pub fn still_applied(outcome: &Outcome, waves: &[WaveResult]) -> Option<String> {
    let passed: Vec<&WaveResult> = waves
        .iter()
        .filter(|w| w.verdict == Verdict::Passed && w.applied > 0)
        .collect();
    let mut parts = Vec::new();
    if !passed.is_empty() {
        let indices: Vec<u32> = passed.iter().map(|w| w.index).collect();
        let tasks: usize = passed.iter().map(|w| w.applied).sum();
        parts.push(format!(
            "{} ({tasks} task(s), gate passed)",
            named(&indices)
        ));
    }
    if let Some(w) = failed(outcome, waves) {
        if left_as_is(w) {
            parts.push(format!(
                "wave {} ({} task(s), not rolled back)",
                w.index, w.applied
            ));
        } else if !w.rollback_failed.is_empty() {
            parts.push(format!(
                "{} task(s) of wave {} whose rollback failed",
                w.rollback_failed.len(),
                w.index
            ));
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The waves never reached, in words (`waves 3–4`), or `None`.
pub fn left(waves: &[WaveResult]) -> Option<String> {
    let indices: Vec<u32> = waves
        .iter()
        .filter(|w| w.verdict == Verdict::NotReached)
        .map(|w| w.index)
        .collect();
    (!indices.is_empty()).then(|| named(&indices))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Region;
    use crate::outcome::TaskHealth;

    /// A wave as a test needs it: `applied` of `size` applied, every applied one healthy.
    pub fn wave(index: u32, of: u32, size: usize, applied: usize, verdict: Verdict) -> WaveResult {
        WaveResult {
            index,
            of,
            size,
            applied,
            healthy: applied,
            unhealthy: Vec::new(),
            not_counted: Vec::new(),
            inconclusive: 0,
            max_unhealthy: 0,
            verdict,
            rolled_back: Vec::new(),
            rollback_failed: Vec::new(),
            bake_seconds: 60.0,
        }
    }

    pub fn health(task: &str, status: Option<i32>, reason: &str) -> TaskHealth {
        TaskHealth {
            task_id: task.into(),
            region: Region::CnShanghai,
            status,
            reason: reason.into(),
        }
    }

    /// A rollout of 300 tasks in waves of 30, 70 and 200 whose second wave failed its gate: 23
    /// unhealthy (7 allowed), one already abnormal when planned, 68 rolled back, 2 that could not
    /// be.
    pub fn failed_gate() -> Vec<WaveResult> {
        let mut bad = wave(2, 3, 70, 70, Verdict::Failed);
        bad.max_unhealthy = 7;
        bad.unhealthy = (60..83)
            .map(|n| {
                health(
                    &format!("t{n:03}"),
                    Some(2),
                    "running abnormally: PullStreamFailed",
                )
            })
            .collect();
        bad.unhealthy[1] = health("t061", Some(3), "stopped, should run\x1b[2K");
        bad.healthy = 70 - bad.unhealthy.len() - 1;
        bad.not_counted = vec![health("t099", Some(2), "abnormal when planned")];
        bad.rolled_back = (30..100)
            .filter(|n| ![97, 98].contains(n))
            .map(|n| format!("t{n:03}"))
            .collect();
        bad.rollback_failed = vec![
            health("t098", Some(1), "ServiceUnavailable: retries ran out"),
            health("t097", None, "the task was not found"),
        ];
        bad.bake_seconds = 3.0;
        vec![
            wave(1, 3, 30, 30, Verdict::Passed),
            bad,
            wave(3, 3, 200, 0, Verdict::NotReached),
        ]
    }

    #[test]
    fn waves_are_named_as_a_range_when_they_follow_each_other() {
        assert_eq!(named(&[]), "");
        assert_eq!(named(&[2]), "wave 2");
        assert_eq!(named(&[1, 2, 3]), "waves 1–3");
        assert_eq!(named(&[1, 3]), "waves 1, 3");
    }

    #[test]
    fn what_stays_applied_is_the_passed_waves_and_what_the_rollback_did_not_restore() {
        let gate = Outcome::GateFailed { wave: 3 };
        let mut failed_wave = wave(3, 4, 70, 70, Verdict::Failed);
        failed_wave.rolled_back = (0..68).map(|i| format!("t{i}")).collect();
        failed_wave.rollback_failed =
            vec![health("t68", Some(2), "x"), health("t69", Some(2), "y")];
        let mut waves = vec![
            wave(1, 4, 10, 10, Verdict::Passed),
            wave(2, 4, 20, 20, Verdict::Passed),
            failed_wave,
            wave(4, 4, 200, 0, Verdict::NotReached),
        ];
        assert_eq!(
            still_applied(&gate, &waves).as_deref(),
            Some("waves 1–2 (30 task(s), gate passed), 2 task(s) of wave 3 whose rollback failed")
        );
        assert_eq!(left(&waves).as_deref(), Some("wave 4"));
        // --on-unhealthy halt: the failed wave keeps its change whole.
        waves[2].rolled_back.clear();
        waves[2].rollback_failed.clear();
        assert!(left_as_is(&waves[2]));
        assert_eq!(
            still_applied(&gate, &waves[2..]).as_deref(),
            Some("wave 3 (70 task(s), not rolled back)")
        );
        // The first wave failed and was rolled back whole: nothing to revert.
        let mut first = wave(1, 2, 10, 10, Verdict::Failed);
        first.rolled_back = (0..10).map(|i| format!("t{i}")).collect();
        let only = [first, wave(2, 2, 90, 0, Verdict::NotReached)];
        assert_eq!(still_applied(&Outcome::GateFailed { wave: 1 }, &only), None);
        assert_eq!(
            gate_line(&waves[2]),
            "wave 3/4 failed its health gate: 0 task(s) unhealthy, at most 0 allowed"
        );
    }
}
