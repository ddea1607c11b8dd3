//! Injected faults: delays, failures and dropped connections, drawn from a seedable random
//! source so that a test can reproduce exactly the same sequence.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::task::SourcePattern;

/// What to inject. The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Uniform delay after admission, inclusive range in milliseconds.
    pub latency_ms: Option<(u64, u64)>,
    /// Hold each request up to this many milliseconds before it is counted by the quota.
    pub jitter_ms: u64,
    /// Fraction of admitted requests answered with 500 InternalError or 503 ServiceUnavailable.
    pub fail_rate: f64,
    /// Fraction of admitted requests whose connection is dropped without an answer (the
    /// operation is not performed).
    pub reset_rate: f64,
    /// Fraction of admitted requests that are performed — durably — and then answered by
    /// dropping the connection: the client cannot know the call took effect.
    pub drop_after_apply_rate: f64,
    /// Fraction of running tasks that turn abnormal (status 2) on the clock; see
    /// [`super::task::Abnormal`].
    pub abnormal_rate: f64,
    /// Source URL patterns the emulator cannot pull from: a running task with a matching source
    /// runs abnormally (2, `PullStreamFailed`) a second after it (re)starts; see
    /// [`super::task::Unreachable`].
    pub unreachable_sources: Vec<SourcePattern>,
    /// Seed for every random draw; `None` seeds from the OS.
    pub rng_seed: Option<u64>,
}

/// What happens to one request, drawn when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Normal,
    /// Answer with this status (500 or 503) instead of performing the operation.
    Fail(u16),
    /// Drop the connection without an answer.
    Reset,
    /// Perform the operation, make it durable, then drop the connection without an answer.
    DropAfterApply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    pub jitter: Duration,
    pub latency: Duration,
    pub outcome: Outcome,
}

/// One draw from `rng`. Only the configured faults consume random numbers, so a seed reproduces the
/// same sequence for the same configuration.
pub fn draw(cfg: &FaultConfig, rng: &mut impl Rng) -> Draw {
    let jitter = if cfg.jitter_ms > 0 {
        Duration::from_millis(rng.random_range(0..=cfg.jitter_ms))
    } else {
        Duration::ZERO
    };
    let latency = match cfg.latency_ms {
        Some((lo, hi)) if hi > 0 => {
            Duration::from_millis(rng.random_range(lo.min(hi)..=hi.max(lo)))
        }
        _ => Duration::ZERO,
    };
    let mut outcome = Outcome::Normal;
    if cfg.reset_rate > 0.0 && rng.random_bool(cfg.reset_rate.clamp(0.0, 1.0)) {
        outcome = Outcome::Reset;
    } else if cfg.drop_after_apply_rate > 0.0
        && rng.random_bool(cfg.drop_after_apply_rate.clamp(0.0, 1.0))
    {
        outcome = Outcome::DropAfterApply;
    } else if cfg.fail_rate > 0.0 && rng.random_bool(cfg.fail_rate.clamp(0.0, 1.0)) {
        outcome = Outcome::Fail(if rng.random_bool(0.5) { 500 } else { 503 });
    }
    Draw {
        jitter,
        latency,
        outcome,
    }
}

/// The fault source of one emulator.
#[derive(Debug)]
pub struct Faults {
    cfg: FaultConfig,
    rng: Mutex<StdRng>,
}

impl Faults {
    pub fn new(cfg: FaultConfig) -> Faults {
        let rng = match cfg.rng_seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        Faults {
            cfg,
            rng: Mutex::new(rng),
        }
    }

    pub fn is_off(&self) -> bool {
        self.cfg.latency_ms.is_none_or(|(_, hi)| hi == 0)
            && self.cfg.jitter_ms == 0
            && self.cfg.fail_rate <= 0.0
            && self.cfg.reset_rate <= 0.0
            && self.cfg.drop_after_apply_rate <= 0.0
    }

    pub fn draw(&self) -> Draw {
        if self.is_off() {
            return Draw {
                jitter: Duration::ZERO,
                latency: Duration::ZERO,
                outcome: Outcome::Normal,
            };
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        draw(&self.cfg, &mut *rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_draws_repeat_and_rates_hold() {
        let cfg = FaultConfig {
            latency_ms: Some((5, 10)),
            fail_rate: 0.2,
            reset_rate: 0.1,
            rng_seed: Some(7),
            ..Default::default()
        };
        let run = || {
            let f = Faults::new(cfg.clone());
            (0..1000).map(|_| f.draw()).collect::<Vec<Draw>>()
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        let resets = a.iter().filter(|d| d.outcome == Outcome::Reset).count();
        let fails = a
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Fail(_)))
            .count();
        assert!((50..150).contains(&resets), "{resets}");
        assert!((120..240).contains(&fails), "{fails}");
        assert!(
            a.iter()
                .all(|d| (5..=10).contains(&(d.latency.as_millis() as u64)))
        );
        assert!(a.iter().any(|d| d.outcome == Outcome::Fail(503)));
        assert!(!a.iter().any(|d| d.outcome == Outcome::DropAfterApply));
    }

    #[test]
    fn drop_after_apply_is_drawn_at_its_rate() {
        let f = Faults::new(FaultConfig {
            drop_after_apply_rate: 0.2,
            rng_seed: Some(3),
            ..Default::default()
        });
        assert!(!f.is_off());
        let n = (0..1000)
            .filter(|_| f.draw().outcome == Outcome::DropAfterApply)
            .count();
        assert!((130..270).contains(&n), "{n}");
    }

    #[test]
    fn off_means_nothing() {
        let f = Faults::new(FaultConfig::default());
        assert!(f.is_off());
        assert_eq!(f.draw().outcome, Outcome::Normal);
    }
}
