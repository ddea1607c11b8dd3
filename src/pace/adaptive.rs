//! Adaptive rate: slow down when the service throttles, hold just under the rate that was
//! throttled, and only then probe above it — so a run sharing the quota converges on the share
//! that is left and pays for a probe rarely.
//!
//! A run often shares the account's quota with other callers (a dashboard, another script). Pacing
//! at the cap then means a steady stream of `Throttling.User` responses, each one a wasted call
//! and a retry. The adaptive rate converges on what is left of the quota instead.
//!
//! The curve is AWS's adaptive retry mode (botocore `retries/adaptive.py`, itself TCP CUBIC,
//! RFC 8312: after a throttle at `Wmax` the rate is `β·Wmax`, then `C·(t − K)³ + Wmax` with
//! `K = ∛(Wmax·(1 − β) / C)`, β = 0.7, C = 0.4), changed where measurements against a second
//! caller on the same key said so:
//!
//! - **Decrease.** On a throttle at rate `r` the rate drops to `β × r` and climbs back on the
//!   concave side of the cubic, `target − C·(K − t)³`. The *first* decrease of a run (from the
//!   cap) is from the measured share instead when that is well below `r` — calls sent in the last
//!   second minus those throttled; AWS likewise decreases from its measured send rate. Against a
//!   caller taking 5 of 10 calls/s, 5 of the first 6 calls got through, so one throttle finds the
//!   share instead of a staircase of ×0.7 steps, each costing throttles.
//! - **Plateau.** AWS's curve returns to `Wmax`, the very rate that was throttled, and leaves it at
//!   once. Here it returns to `target = r × 0.97` and holds there for 10 s. The service counts
//!   calls in a sliding second, so a rate a hair above the share is throttled on nearly every
//!   window, while 3 % under it is not.
//! - **Probe.** After the plateau, `target + C/4·(t − K − 10 s)³`: the convex side of the cubic,
//!   a quarter as steep as AWS's (at AWS's C the rate reached the cap 2.3 s after leaving a 4.85
//!   plateau before the first throttle came back, and stepping down from the cap cost six
//!   throttles). With nobody else calling, a run is back at the cap about 14 s after its last
//!   throttle. A throttle during a probe keeps half of what the probe gained over the plateau
//!   that held (a probe's throttle answers calls sent a little past the share).
//! - **Giving way** (RFC 8312's fast convergence). A decrease from less than the last plateau means
//!   another caller is taking more: the target becomes `r × (1 + β)/2` instead, so two runs even
//!   out their shares. Checked by a simulation test below (two runs on one sliding-window quota,
//!   one starting 20 s later, end within 1.3× of each other's share — about, not exactly, equal).
//!
//! Throttles within one `cooldown` of the last decrease do not decrease again: they answer calls
//! sent before the decrease took effect.
//!
//! Why not AIMD (×0.7, +5 % of the cap per second): its sawtooth crosses the share on every
//! tooth, so against a fixed 5/s caller it measured 4.34–4.49 updates/s with 6.8–7.7 % of calls
//! throttled; a gentler one (×0.85, +2 %/s) 4.66/s with 7.4 %. This curve: see BENCHMARKS.md,
//! row `shared`.
//!
//! Everything is a pure function of (state, event, now), `now` being the time since the run
//! started, so it is tested without a clock. The executor reports each call sent and each
//! throttle.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Tunables of the adaptive rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveConfig {
    /// Never faster than this (the account's quota, or a bit under it).
    pub cap: f64,
    /// Never slower than this, so a run always makes progress.
    pub floor: f64,
    /// β: the rate falls to this fraction of the rate decreased from (0 < β < 1).
    pub decrease_factor: f64,
    /// C of the cubic, in calls/s per s³.
    pub scale: f64,
    /// The plateau sits this fraction under the rate that was throttled.
    pub margin: f64,
    /// How long the rate holds at the plateau before probing above it.
    pub plateau: Duration,
    /// Throttles this soon after a decrease do not decrease again.
    pub cooldown: Duration,
    /// Calls/s regained per second by the *shared* limiter's AIMD (`src/quota`'s Redis script,
    /// which keeps its own AIMD with `decrease_factor`, `floor` and `cooldown`); the in-process
    /// curve above does not use it. 5 % of the cap.
    pub increase_per_sec: f64,
}

impl AdaptiveConfig {
    /// Defaults for a given cap: β = 0.7 and C = 0.4 at a cap of 10 calls/s (AWS's constants;
    /// C scales with the cap so the curve has the same shape at a raised quota), a plateau 3 %
    /// under the throttled rate held for 10 s, floor at 10 % of the cap (at least 0.1/s), 1 s
    /// cooldown. Margin and plateau were chosen by simulating the `shared` benchmark (a fixed
    /// 5/s caller on a sliding-window quota of 10/s; the simulation reproduced AIMD's measured
    /// 4.49/s and 6.8 %): a 5 % margin cost about 0.1 updates/s more than 3 %; a 5-s plateau
    /// throttled about 1.5 points more than 10 s, a 20-s one saved a point but returns to the cap
    /// 10 s later when the other caller stops.
    pub fn for_cap(cap: f64) -> AdaptiveConfig {
        AdaptiveConfig {
            cap,
            floor: (cap * 0.1).max(0.1).min(cap),
            decrease_factor: 0.7,
            scale: 0.04 * cap,
            margin: 0.03,
            plateau: Duration::from_secs(10),
            cooldown: Duration::from_secs(1),
            increase_per_sec: cap * 0.05,
        }
    }
}

/// The probe climbs on a cubic a quarter as steep as the way back (from half the cap to the cap in
/// about 3.7 s at a cap of 9.7): at AWS's C it reached the cap 2.3 s after leaving a plateau of
/// 4.85 before the first throttle came back (measured in the `shared` benchmark), and stepping
/// down from the cap cost six throttles.
const PROBE: f64 = 0.25;

/// What the executor tells the adaptive rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateEvent {
    /// A call left (its pacer slot was granted).
    Sent,
    /// A call was throttled by the service.
    Throttled,
}

/// Buckets of the last second's sends and throttles (100 ms each), for the measured share.
const BUCKETS: usize = 10;
const BUCKET: Duration = Duration::from_millis(100);

/// Calls sent and throttled over the last second, in [`BUCKETS`] buckets (fixed size, so the
/// state stays `Copy` whatever the rate).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct LastSecond {
    head: u64,
    sent: [u32; BUCKETS],
    throttled: [u32; BUCKETS],
}

impl LastSecond {
    fn advance(&mut self, now: Duration) -> usize {
        let b = (now.as_millis() / BUCKET.as_millis()) as u64;
        if b > self.head {
            let steps = (b - self.head).min(BUCKETS as u64);
            for i in 1..=steps {
                let slot = ((self.head + i) % BUCKETS as u64) as usize;
                self.sent[slot] = 0;
                self.throttled[slot] = 0;
            }
            self.head = b;
        }
        (self.head % BUCKETS as u64) as usize
    }

    /// Calls that got through in the last second (sent minus throttled).
    fn through(&self) -> f64 {
        let s: u32 = self.sent.iter().sum();
        let t: u32 = self.throttled.iter().sum();
        f64::from(s.saturating_sub(t))
    }
}

/// The curve in force since the last decrease.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Curve {
    /// When the decrease happened.
    at: Duration,
    /// The plateau.
    target: f64,
    /// Seconds from the decrease back to the plateau.
    k: f64,
}

/// The adaptive rate's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveRate {
    pub config: AdaptiveConfig,
    /// `None` until the first throttle: the cap.
    curve: Option<Curve>,
    window: LastSecond,
    /// The rate the last decrease was from.
    last_from: Option<f64>,
}

impl AdaptiveRate {
    /// Starts at the cap.
    pub fn new(config: AdaptiveConfig) -> AdaptiveRate {
        AdaptiveRate {
            config,
            curve: None,
            window: LastSecond::default(),
            last_from: None,
        }
    }

    /// The rate in force at `now`.
    pub fn rate_at(&self, now: Duration) -> f64 {
        let c = &self.config;
        let Some(curve) = self.curve else {
            return c.cap;
        };
        let t = now.saturating_sub(curve.at).as_secs_f64();
        let hold = c.plateau.as_secs_f64();
        let r = if t < curve.k {
            curve.target - c.scale * (curve.k - t).powi(3)
        } else if t < curve.k + hold {
            curve.target
        } else {
            curve.target + c.scale * PROBE * (t - curve.k - hold).powi(3)
        };
        clamp(r, c)
    }

    /// When the rate, decreased at `now`, is back at its plateau and when it starts probing above
    /// it (both `None` before any throttle).
    pub fn plateau_span(&self) -> Option<(Duration, Duration)> {
        self.curve.map(|c| {
            let back = c.at + Duration::from_secs_f64(c.k);
            (back, back + self.config.plateau)
        })
    }

    /// The state after `event` at `now`.
    #[must_use]
    pub fn on_event(mut self, event: RateEvent, now: Duration) -> AdaptiveRate {
        let slot = self.window.advance(now);
        match event {
            RateEvent::Sent => {
                self.window.sent[slot] = self.window.sent[slot].saturating_add(1);
                self
            }
            RateEvent::Throttled => {
                self.window.throttled[slot] = self.window.throttled[slot].saturating_add(1);
                if let Some(curve) = self.curve
                    && now.saturating_sub(curve.at) < self.config.cooldown
                {
                    return self;
                }
                self.decrease(now)
            }
        }
    }

    fn decrease(self, now: Duration) -> AdaptiveRate {
        let c = &self.config;
        let rate = self.rate_at(now);
        // The first decrease from the cap: what got through in the last second, when it says much
        // less than the rate does.
        let through = self.window.through();
        let from = if self.curve.is_none() && through < c.decrease_factor * rate {
            clamp(through.max(rate * 0.3), c)
        } else {
            rate
        };
        // Fast convergence (RFC 8312 §4.6): decreasing from less than last time means another
        // caller is taking more; give way further so the shares even out.
        let losing = self
            .last_from
            .is_some_and(|last| from < last * (1.0 - c.margin) - 1e-9);
        let mut target = if losing {
            from * (1.0 + c.decrease_factor) / 2.0
        } else {
            from * (1.0 - c.margin)
        };
        if let Some(curve) = self.curve {
            // A probe's throttle: keep half of what the probe gained over the plateau that held.
            let held_the_cap = self.rate_at(now.saturating_sub(c.cooldown)) >= c.cap;
            let probing = rate > curve.target + 1e-9 && !held_the_cap;
            if probing && target > curve.target {
                target = curve.target + (target - curve.target) / 2.0;
            }
        }
        let target = clamp(target, c);
        let low = clamp(from * c.decrease_factor, c).min(target);
        let k = ((target - low) / c.scale).max(0.0).cbrt();
        AdaptiveRate {
            curve: Some(Curve {
                at: now,
                target,
                k: if k.is_finite() { k } else { 0.0 },
            }),
            last_from: Some(from),
            ..self
        }
    }
}

fn clamp(r: f64, c: &AdaptiveConfig) -> f64 {
    if r.is_finite() {
        r.clamp(c.floor, c.cap)
    } else {
        c.floor
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

    /// Sends at `rate` from `from` to `to` (seconds), as the executor reports them.
    fn send(mut a: AdaptiveRate, rate: f64, from: f64, to: f64) -> AdaptiveRate {
        let mut t = from;
        while t < to {
            a = a.on_event(RateEvent::Sent, s(t));
            t += 1.0 / rate;
        }
        a
    }

    #[test]
    fn a_throttle_at_the_cap_drops_then_returns_to_just_under_it_holds_and_probes() {
        let a = AdaptiveRate::new(AdaptiveConfig::for_cap(10.0));
        assert_eq!(a.rate_at(s(5.0)), 10.0);
        // Sending at the cap, everything got through: decrease from the rate in force.
        let a = send(a, 10.0, 4.0, 5.0).on_event(RateEvent::Throttled, s(5.0));
        assert!((a.rate_at(s(5.0)) - 7.0).abs() < 1e-9, "β × 10");
        let (back, probe) = a.plateau_span().unwrap();
        // K = ∛((9.7 − 7) / 0.4) ≈ 1.89 s.
        assert!((back.as_secs_f64() - 5.0 - (2.7f64 / 0.4).cbrt()).abs() < 1e-6);
        assert_eq!(probe - back, s(10.0));
        assert!(
            (a.rate_at(back + s(0.5)) - 9.7).abs() < 1e-9,
            "the plateau: 3 % under"
        );
        assert!((a.rate_at(probe - s(0.01)) - 9.7).abs() < 1e-9);
        assert!(a.rate_at(probe + s(0.5)) > 9.7, "then it probes");
        assert!(
            (a.rate_at(probe + s(1.0)) - 9.8).abs() < 1e-9,
            "a slow probe: C/4 × 1 s³"
        );
        assert_eq!(a.rate_at(probe + s(2.0)), 10.0, "back at the cap");
    }

    #[test]
    fn the_first_throttle_decreases_from_what_got_through_not_from_the_cap() {
        // 6 calls sent at 9.7/s, the 6th throttled: 5 got through (another caller takes 5/s).
        let a = send(
            AdaptiveRate::new(AdaptiveConfig::for_cap(9.7)),
            9.7,
            0.0,
            0.6,
        );
        let a = a.on_event(RateEvent::Throttled, s(0.55));
        assert!((a.rate_at(s(0.55)) - 3.5).abs() < 1e-9, "β × 5");
        let (back, _) = a.plateau_span().unwrap();
        assert!((a.rate_at(back + s(1.0)) - 4.85).abs() < 1e-9, "5 × 0.97");
    }

    #[test]
    fn a_throttle_while_probing_keeps_half_of_what_the_probe_gained() {
        let a = send(
            AdaptiveRate::new(AdaptiveConfig::for_cap(9.7)),
            9.7,
            0.0,
            0.6,
        )
        .on_event(RateEvent::Throttled, s(0.55));
        let (_, probe) = a.plateau_span().unwrap();
        let t = probe + s(2.5);
        let r = a.rate_at(t);
        assert!(r > 4.85 + 0.5 && r < 9.7, "probing: {r}");
        let a =
            send(a, r, t.as_secs_f64() - 1.0, t.as_secs_f64()).on_event(RateEvent::Throttled, t);
        let (back, _) = a.plateau_span().unwrap();
        let want = 4.85 + (r * 0.97 - 4.85) / 2.0;
        assert!((a.rate_at(back + s(1.0)) - want).abs() < 1e-9);
    }

    #[test]
    fn decreasing_from_less_than_last_time_gives_way_further() {
        let a = AdaptiveRate::new(AdaptiveConfig::for_cap(10.0));
        let a = send(a, 10.0, 0.0, 1.0).on_event(RateEvent::Throttled, s(1.0));
        // Throttled again on the way back, below the last plateau (9.7).
        let t = s(2.2);
        let r = a.rate_at(t);
        assert!(r < 9.7 - 0.05);
        let a = a.on_event(RateEvent::Throttled, t);
        let (back, _) = a.plateau_span().unwrap();
        assert!(
            (a.rate_at(back + s(1.0)) - r * 0.85).abs() < 1e-9,
            "(1 + β) / 2"
        );
    }

    #[test]
    fn throttles_inside_the_cooldown_count_once() {
        let a = AdaptiveRate::new(AdaptiveConfig::for_cap(10.0));
        let a = send(a, 10.0, 0.0, 1.0).on_event(RateEvent::Throttled, s(1.0));
        let b = a.on_event(RateEvent::Throttled, s(1.5));
        assert_eq!(a.rate_at(s(1.5)), b.rate_at(s(1.5)));
        assert_eq!(a.plateau_span(), b.plateau_span());
        let c = b.on_event(RateEvent::Throttled, s(2.0));
        assert!(c.rate_at(s(2.0)) < b.rate_at(s(2.0)));
    }

    #[test]
    fn repeated_throttles_stop_at_the_floor() {
        let mut a = AdaptiveRate::new(AdaptiveConfig::for_cap(10.0));
        for i in 0..50 {
            a = a.on_event(RateEvent::Throttled, s(f64::from(i) * 1.0));
        }
        assert_eq!(a.rate_at(s(49.0)), 1.0);
    }

    /// Two runs with this curve on one sliding-window quota of 10 calls/s (the emulator's
    /// model: a call is refused when 10 were accepted in the last second) end with about equal
    /// shares, even when one starts 20 s later. Measured shares over the last 60 s: 307 and 242
    /// after 600 s, 234 and 295 after 1,200 s, 274 and 260 after 200 s.
    #[test]
    fn two_runs_on_one_quota_converge_to_about_equal_shares() {
        let cfg = AdaptiveConfig::for_cap(9.7);
        let mut runs = [AdaptiveRate::new(cfg), AdaptiveRate::new(cfg)];
        let mut next = [0.0f64, 20.0];
        let mut accepted: std::collections::VecDeque<f64> = Default::default();
        let mut ok = [[0u32; 2]; 2]; // [run][first half, second half] of the last 60 s
        let end = 600.0;
        loop {
            let i = if next[0] <= next[1] { 0 } else { 1 };
            let t = next[i];
            if t >= end {
                break;
            }
            while accepted.front().is_some_and(|&a| a + 1.0 <= t) {
                accepted.pop_front();
            }
            runs[i] = runs[i].on_event(RateEvent::Sent, s(t));
            if accepted.len() >= 10 {
                runs[i] = runs[i].on_event(RateEvent::Throttled, s(t));
            } else {
                accepted.push_back(t);
                if t >= end - 60.0 {
                    ok[i][usize::from(t >= end - 30.0)] += 1;
                }
            }
            next[i] = t + 1.0 / runs[i].rate_at(s(t));
        }
        let (a, b) = (ok[0][0] + ok[0][1], ok[1][0] + ok[1][1]);
        let ratio = f64::from(a.max(b)) / f64::from(a.min(b));
        assert!(ratio < 1.5, "shares over the last 60 s: {a} and {b}");
        assert!(a + b > 480, "together they use the quota: {}", a + b);
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
        /// Whatever the sends and throttles: the rate stays within floor..cap; after a decrease
        /// it stays under the rate that was throttled until the probe; once throttles stop it is
        /// back at the cap within the plateau plus the cubic's way up from the floor.
        #[test]
        fn rate_within_floor_and_cap_under_the_throttled_rate_and_back_to_the_cap(
            cap in 0.5f64..50.0,
            events in proptest::collection::vec((0u64..3000, 0u8..4), 0..200),
            probe in 0u64..100_000,
        ) {
            let cfg = AdaptiveConfig::for_cap(cap);
            let mut a = AdaptiveRate::new(cfg);
            let mut t = 0u64;
            for (gap, kind) in events {
                t += gap;
                let now = Duration::from_millis(t);
                let before = a.rate_at(now);
                let event = if kind == 0 { RateEvent::Throttled } else { RateEvent::Sent };
                let next = a.on_event(event, now);
                let r = next.rate_at(now);
                prop_assert!(r >= cfg.floor - 1e-9 && r <= cfg.cap + 1e-9);
                if next.plateau_span() != a.plateau_span() {
                    // A decrease: below the throttled rate until the probe starts.
                    let (_, probe_at) = next.plateau_span().unwrap();
                    let mut u = now;
                    while u < probe_at {
                        let r = next.rate_at(u);
                        prop_assert!(r <= before + 1e-9 && r >= cfg.floor - 1e-9,
                            "{r} at {u:?} after a throttle at {before}");
                        u += Duration::from_millis(250);
                    }
                }
                a = next;
            }
            let r = a.rate_at(Duration::from_millis(t + probe));
            prop_assert!(r >= cfg.floor - 1e-9 && r <= cfg.cap + 1e-9);
            let recovered = cfg.plateau.as_secs_f64()
                + ((cfg.cap - cfg.floor) / cfg.scale).cbrt()
                + ((cfg.cap - cfg.floor) / (cfg.scale * PROBE)).cbrt();
            prop_assert_eq!(a.rate_at(Duration::from_millis(t) + Duration::from_secs_f64(recovered)), cfg.cap);
        }
    }
}
