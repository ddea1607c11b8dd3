//! Adaptive rate: slow down when the service throttles, recover gradually toward the cap.
//!
//! A run often shares the account's quota with other callers (a dashboard, another script). Pacing
//! at the cap then means a steady stream of `Throttling.User` responses, each one a wasted call
//! and a retry. The adaptive rate converges on what is left of the quota instead.
//!
//! The design is AIMD (additive increase, multiplicative decrease), chosen over AWS's cubic curve
//! because the cap is low (10 calls/s): cubic's advantage is reaching a large previous maximum
//! fast, but here the whole range from the floor to the cap is crossed in seconds by a linear ramp,
//! AIMD is provably fair between competing clients that use it, and its rate at any moment is a
//! one-line formula that a person can check against the report's rate samples.
//!
//! - Decrease: on a throttled response the rate becomes `rate × 0.7` (AWS's factor), never below
//!   the floor. Throttles within one `cooldown` of the last decrease are ignored: they answer calls
//!   sent before the decrease took effect, and counting them would collapse the rate to the floor
//!   after a single burst.
//! - Increase: while no throttle arrives the rate grows linearly by `increase_per_sec` calls/s each
//!   second, never above the cap.
//!
//! Everything is a pure function of (state, event, now), `now` being the time since the run
//! started, so it is tested without a clock.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Tunables of the adaptive rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveConfig {
    /// Never faster than this (the account's quota, or a bit under it).
    pub cap: f64,
    /// Never slower than this, so a run always makes progress.
    pub floor: f64,
    /// Multiplier applied on a throttle (0 < factor < 1).
    pub decrease_factor: f64,
    /// Calls/s regained per second without throttling.
    pub increase_per_sec: f64,
    /// Throttles this soon after a decrease do not decrease again.
    pub cooldown: Duration,
}

impl AdaptiveConfig {
    /// Defaults for a given cap: ×0.7 on throttle, floor at 10% of the cap (at least 0.1/s), regain
    /// 5% of the cap per second (from 0.7×cap back to the cap in 6 s), 1 s cooldown.
    pub fn for_cap(cap: f64) -> AdaptiveConfig {
        AdaptiveConfig {
            cap,
            floor: (cap * 0.1).max(0.1).min(cap),
            decrease_factor: 0.7,
            increase_per_sec: cap * 0.05,
            cooldown: Duration::from_secs(1),
        }
    }
}

/// What the executor tells the adaptive rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateEvent {
    /// A call was throttled by the service.
    Throttled,
}

/// The adaptive rate's state: the rate at `since`, from which it ramps up linearly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveRate {
    pub config: AdaptiveConfig,
    base: f64,
    since: Duration,
    last_decrease: Option<Duration>,
}

impl AdaptiveRate {
    /// Starts at the cap.
    pub fn new(config: AdaptiveConfig) -> AdaptiveRate {
        AdaptiveRate {
            config,
            base: config.cap,
            since: Duration::ZERO,
            last_decrease: None,
        }
    }

    /// The rate in force at `now`.
    pub fn rate_at(&self, now: Duration) -> f64 {
        let grown = now.saturating_sub(self.since).as_secs_f64() * self.config.increase_per_sec;
        (self.base + grown).clamp(self.config.floor, self.config.cap)
    }

    /// The state after `event` at `now`.
    #[must_use]
    pub fn on_event(self, event: RateEvent, now: Duration) -> AdaptiveRate {
        match event {
            RateEvent::Throttled => {
                if let Some(last) = self.last_decrease
                    && now.saturating_sub(last) < self.config.cooldown
                {
                    return self;
                }
                let lowered = (self.rate_at(now) * self.config.decrease_factor)
                    .clamp(self.config.floor, self.config.cap);
                AdaptiveRate {
                    base: lowered,
                    since: now,
                    last_decrease: Some(now),
                    ..self
                }
            }
        }
    }
}

/// One point of the rate-over-time curve shown in reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateSample {
    /// Seconds since the run started.
    pub t: f64,
    /// Calls per second in force at `t`.
    pub rate: f64,
}

/// Collects rate samples: one per `every` at most, plus every change of direction, so a long run
/// keeps a small, readable curve.
#[derive(Debug, Clone, PartialEq)]
pub struct RateRecorder {
    every: Duration,
    last: Option<(Duration, f64)>,
    samples: Vec<RateSample>,
}

impl RateRecorder {
    pub fn new(every: Duration) -> RateRecorder {
        RateRecorder {
            every,
            last: None,
            samples: Vec::new(),
        }
    }

    /// Records `rate` at `now` if a sample is due or the rate dropped (a throttle is always shown).
    pub fn observe(&mut self, now: Duration, rate: f64) {
        let due = match self.last {
            None => true,
            Some((t, r)) => rate < r - 1e-9 || now.saturating_sub(t) >= self.every,
        };
        if due {
            self.last = Some((now, rate));
            self.samples.push(RateSample {
                t: round3(now.as_secs_f64()),
                rate: round3(rate),
            });
        }
    }

    /// Records a final sample so the curve reaches the end of the run.
    pub fn finish(mut self, now: Duration, rate: f64) -> Vec<RateSample> {
        if self.last.map(|(t, _)| t) != Some(now) {
            self.samples.push(RateSample {
                t: round3(now.as_secs_f64()),
                rate: round3(rate),
            });
        }
        self.samples
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: f64) -> Duration {
        Duration::from_secs_f64(v)
    }

    #[test]
    fn throttle_lowers_by_thirty_percent_then_recovers_linearly_to_the_cap() {
        let a = AdaptiveRate::new(AdaptiveConfig::for_cap(10.0));
        assert_eq!(a.rate_at(s(5.0)), 10.0);
        let a = a.on_event(RateEvent::Throttled, s(5.0));
        assert!((a.rate_at(s(5.0)) - 7.0).abs() < 1e-9);
        assert!((a.rate_at(s(7.0)) - 8.0).abs() < 1e-9);
        assert_eq!(a.rate_at(s(11.0)), 10.0);
        assert_eq!(a.rate_at(s(1000.0)), 10.0);
    }

    #[test]
    fn throttles_inside_the_cooldown_count_once() {
        let a = AdaptiveRate::new(AdaptiveConfig::for_cap(10.0));
        let a = a.on_event(RateEvent::Throttled, s(1.0));
        let b = a.on_event(RateEvent::Throttled, s(1.5));
        assert_eq!(a, b);
        let c = b.on_event(RateEvent::Throttled, s(2.0));
        assert!(c.rate_at(s(2.0)) < a.rate_at(s(2.0)));
    }

    #[test]
    fn repeated_throttles_stop_at_the_floor() {
        let cfg = AdaptiveConfig {
            increase_per_sec: 0.0,
            ..AdaptiveConfig::for_cap(10.0)
        };
        let mut a = AdaptiveRate::new(cfg);
        for i in 0..50 {
            a = a.on_event(RateEvent::Throttled, s(f64::from(i) * 1.0));
        }
        assert_eq!(a.rate_at(s(49.0)), 1.0);
    }

    #[test]
    fn recorder_keeps_drops_and_one_sample_per_period() {
        let mut r = RateRecorder::new(s(1.0));
        r.observe(s(0.0), 10.0);
        r.observe(s(0.5), 10.0); // not due
        r.observe(s(0.6), 7.0); // a drop: always kept
        r.observe(s(1.0), 7.2); // not due yet (0.4 s since last)
        r.observe(s(1.6), 7.5);
        let v = r.finish(s(2.0), 7.7);
        let ts: Vec<f64> = v.iter().map(|x| x.t).collect();
        assert_eq!(ts, [0.0, 0.6, 1.6, 2.0]);
    }

    proptest! {
        #[test]
        fn rate_always_within_floor_and_cap(
            cap in 0.5f64..50.0,
            events in proptest::collection::vec(0u64..5000, 0..60),
            probe in 0u64..100_000,
        ) {
            let cfg = AdaptiveConfig::for_cap(cap);
            let mut a = AdaptiveRate::new(cfg);
            let mut t = 0u64;
            for gap in events {
                t += gap;
                a = a.on_event(RateEvent::Throttled, Duration::from_millis(t));
                let r = a.rate_at(Duration::from_millis(t));
                prop_assert!(r >= cfg.floor - 1e-9 && r <= cfg.cap + 1e-9);
            }
            let r = a.rate_at(Duration::from_millis(t + probe));
            prop_assert!(r >= cfg.floor - 1e-9 && r <= cfg.cap + 1e-9);
        }
    }
}
