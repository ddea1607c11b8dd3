//! Pacing: at most N calls per second, evenly spaced, with no catch-up burst after a stall.
//!
//! Why evenly spaced: the service counts calls per second per account and operation, and a burst
//! (even one that averages out under the quota) is exactly what trips `Throttling.User`. So call
//! slots lie on an even grid, `previous slot + 1/rate`; a caller a little late (a timer's wake-up)
//! still gets its slot on the grid, but after a stall the grid restarts at "now", never a backlog
//! of slots that were not used.
//!
//! The quota is per operation, so a run holds one pacer per operation ([`Pacers`]), each any
//! [`Pacer`] implementation (a limiter shared between processes can replace one).
//!
//! The arithmetic lives in [`Spacing`], a pure model over `Duration`s since the run started, tested
//! without sleeps. Two [`Pacer`]s use it:
//! - [`ClockPacer`] sleeps on tokio's clock, so tests drive it with paused time;
//! - [`GovernorPacer`] adds the `governor` crate as a hard ceiling at the quota (even spacing, a
//!   burst of one grid tolerance: 1 call at 10/s) on top of the adaptive spacing. governor sleeps on its own (quanta) clock,
//!   which tokio's paused time does not control, so it is used only in real runs.
//!
//! Why [`Spacing`] is hand-written and governor only the ceiling: governor (GCRA) grants on its own
//! clock at a fixed rate, while the grid here must change rate at every grant (the adaptive AIMD
//! rate), restart at "now" after a stall and be driven by a test's paused clock; no crate does that.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::api::operation::Operation;

/// The spacing between two calls at `rate` calls/s. Rates are clamped to a tiny positive minimum
/// so a zero or negative rate (a bug elsewhere) cannot stop the run or divide by zero.
pub fn interval_for(rate: f64) -> Duration {
    let rate = if rate.is_finite() {
        rate.max(0.01)
    } else {
        0.01
    };
    Duration::from_secs_f64(1.0 / rate)
}

/// The pure pacing model: when the next call may leave, given when the last one left.
///
/// Grants are kept on an even grid: the next slot is the previous one plus the interval. A caller
/// arriving after its slot is granted that slot (its call leaves late, not the next one) as long
/// as the slot is at most `tolerance` behind; further behind (a stall), the grid restarts at
/// `now`, so a stall never turns into a catch-up burst. Why the tolerance: timers wake up to a
/// millisecond late, so at 10 calls/s a grid restarted at each wake-up drifts below the pace
/// (measured: 9.46 instead of 9.7 calls/s over 600 calls), and at thousands of calls/s (a slot
/// every 0.2 ms) a grid restarted at each 1-ms wake-up grants about one call per millisecond
/// (measured: 918 updates/s at `--qps 5000`). Within the tolerance, up to `tolerance / interval`
/// late slots are granted at once; every slot is still on the grid, so no 1-second span of slots
/// holds more than the rate allows.
///
/// The spacing is checked at grant time with the rate in force then, so a slowdown applies to the
/// very next call (nothing is reserved ahead at an old rate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spacing {
    last_grant: Option<Duration>,
}

impl Spacing {
    pub fn new() -> Spacing {
        Spacing::default()
    }

    /// Grants a call (`None`) if its slot has come, else says when to ask again (`Some(at)`).
    pub fn poll(
        &mut self,
        now: Duration,
        interval: Duration,
        tolerance: Duration,
    ) -> Option<Duration> {
        match self.last_grant {
            Some(last) if last + interval > now => Some(last + interval),
            Some(last) if now - (last + interval) <= tolerance => {
                self.last_grant = Some(last + interval);
                None
            }
            _ => {
                self.last_grant = Some(now);
                None
            }
        }
    }

    /// The slot of the last grant.
    pub fn last_grant(&self) -> Option<Duration> {
        self.last_grant
    }
}

/// Something that makes a caller wait for its turn to send one call.
///
/// A trait so the executor runs on any clock: tests use [`ClockPacer`] under tokio's paused time;
/// real runs use [`GovernorPacer`].
pub trait Pacer: Send + Sync + 'static {
    /// Waits until one call may be sent.
    fn acquire(&self) -> impl Future<Output = ()> + Send;
    /// Changes the pace (calls/s) from the next grant on. Callers keep it at or
    /// under the cap; implementations clamp to it anyway.
    fn set_rate(&self, rate: f64);
    /// The pace currently in force.
    fn rate(&self) -> f64;
}

/// How late a timer may wake and still be granted its slot (see [`ClockPacer`]'s `acquire`).
/// Actual send times then lag the even grid by at most this much, without accumulating.
pub const GRID_TOLERANCE: Duration = Duration::from_millis(10);

/// Pacing on tokio's clock, using [`Spacing`]. Callers are served first come, first served
/// (tokio's mutex is fair): only the first in line sleeps, and it re-checks the rate when it wakes.
#[derive(Debug)]
pub struct ClockPacer {
    start: tokio::time::Instant,
    cap: f64,
    turn: tokio::sync::Mutex<()>,
    inner: Mutex<(Spacing, f64)>,
}

impl ClockPacer {
    /// `cap` calls/s is both the starting pace and the ceiling.
    pub fn new(cap: f64) -> ClockPacer {
        ClockPacer {
            start: tokio::time::Instant::now(),
            cap,
            turn: tokio::sync::Mutex::new(()),
            inner: Mutex::new((Spacing::new(), cap)),
        }
    }

    fn poll_at(&self, now: Duration) -> Option<Duration> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let interval = interval_for(g.1);
        g.0.poll(now, interval, GRID_TOLERANCE)
    }
}

impl Pacer for ClockPacer {
    async fn acquire(&self) {
        let _turn = self.turn.lock().await;
        while let Some(at) = self.poll_at(self.start.elapsed()) {
            tokio::time::sleep_until(self.start + at).await;
        }
    }

    fn set_rate(&self, rate: f64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.1 = rate.min(self.cap);
    }

    fn rate(&self) -> f64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

/// Why a pacer could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PacerError {
    #[error("--qps must be a positive number of calls per second (at least 0.01), got {0}")]
    BadRate(f64),
}

/// Real-run pacing: adaptive spacing on tokio's clock, then `governor` as a hard ceiling at the
/// account's quota.
///
/// The ceiling is a GCRA with one cell per `1/quota` and `allow_burst(1)`, so even if the adaptive
/// layer had a bug, no two calls leave closer together than the quota's even spacing. It is set
/// at the quota, not at the (slightly lower) pace: a GCRA restarts its grid from every late call,
/// so at the same rate it would add each call's timer lateness to the next gap and drift.
pub struct GovernorPacer {
    spacing: ClockPacer,
    ceiling: DefaultDirectRateLimiter,
}

impl std::fmt::Debug for GovernorPacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GovernorPacer")
            .field("spacing", &self.spacing)
            .finish_non_exhaustive()
    }
}

impl GovernorPacer {
    /// Paces at `cap` calls/s at most (the adaptive layer may go slower), never above `quota`.
    pub fn new(cap: f64, quota: f64) -> Result<GovernorPacer, PacerError> {
        for v in [cap, quota] {
            if !v.is_finite() || v < 0.01 {
                return Err(PacerError::BadRate(v));
            }
        }
        let cap = cap.min(quota);
        let quota = Quota::with_period(interval_for(quota))
            .ok_or(PacerError::BadRate(quota))?
            .allow_burst(ceiling_burst(quota));
        Ok(GovernorPacer {
            spacing: ClockPacer::new(cap),
            ceiling: RateLimiter::direct(quota),
        })
    }
}

/// The ceiling's burst: the slots of one [`GRID_TOLERANCE`] at the quota, at least 1. At 10
/// calls/s that is 1 (strict even spacing); at 5,000 calls/s it is 50, so the late slots the
/// spacing grants at once after a 1-ms timer wake-up are not held back one per wake-up (at most
/// 1 % over the quota in any second, under the 3 % headroom of the pace).
pub fn ceiling_burst(quota: f64) -> NonZeroU32 {
    let n = (quota * GRID_TOLERANCE.as_secs_f64()).floor();
    NonZeroU32::new(n.clamp(1.0, 1_000_000.0) as u32).unwrap_or(NonZeroU32::MIN)
}

impl Pacer for GovernorPacer {
    async fn acquire(&self) {
        self.spacing.acquire().await;
        self.ceiling.until_ready().await;
    }

    fn set_rate(&self, rate: f64) {
        self.spacing.set_rate(rate);
    }

    fn rate(&self) -> f64 {
        self.spacing.rate()
    }
}

/// A [`Pacer`] behind a pointer, so that each operation can have a pacer of its own kind (a
/// shared, cross-process limiter for one operation, a local one for the others). Every [`Pacer`]
/// is one; only the future is boxed (one small allocation per call).
///
/// Its methods are [`Pacer`]'s under other names, so both traits can be in scope at once.
pub trait DynPacer: Send + Sync + 'static {
    fn dyn_acquire(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    fn dyn_set_rate(&self, rate: f64);
    fn dyn_rate(&self) -> f64;
}

impl<P: Pacer> DynPacer for P {
    fn dyn_acquire(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(Pacer::acquire(self))
    }
    fn dyn_set_rate(&self, rate: f64) {
        Pacer::set_rate(self, rate)
    }
    fn dyn_rate(&self) -> f64 {
        Pacer::rate(self)
    }
}

/// One pacer per operation. The service's quota is per operation, so a Describe waits only on
/// Describe's pacer and never takes an Update's slot; a throttled Describe slows only Describe.
#[derive(Clone)]
pub struct Pacers {
    by_op: [Arc<dyn DynPacer>; 7],
    /// Each operation's quota (calls/s): the hard ceiling its adaptive rate recovers to.
    quotas: [f64; 7],
}

impl std::fmt::Debug for Pacers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacers")
            .field("quotas", &self.quotas)
            .finish_non_exhaustive()
    }
}

impl Pacers {
    /// A pacer per operation from `make(operation)`, which says the operation's quota and gives
    /// its pacer (already at its starting pace).
    pub fn from_fn(mut make: impl FnMut(Operation) -> (f64, Arc<dyn DynPacer>)) -> Pacers {
        let made = Operation::ALL.map(&mut make);
        Pacers {
            quotas: made.clone().map(|(q, _)| q),
            by_op: made.map(|(_, p)| p),
        }
    }

    /// Every operation at `quota` calls/s, paced at [`crate::pace::PACE_HEADROOM`] of
    /// it by a [`GovernorPacer`] each (real runs).
    pub fn governed(quota: f64, headroom: f64) -> Result<Pacers, PacerError> {
        let mut err = None;
        let p = Pacers::from_fn(|_| {
            let pacer: Arc<dyn DynPacer> = match GovernorPacer::new(quota * headroom, quota) {
                Ok(g) => Arc::new(g),
                Err(e) => {
                    err = Some(e);
                    Arc::new(ClockPacer::new(1.0))
                }
            };
            (quota, pacer)
        });
        match err {
            Some(e) => Err(e),
            None => Ok(p),
        }
    }

    /// Every operation paced at exactly `cap` calls/s on tokio's clock (tests, paused time).
    pub fn clock(cap: f64) -> Pacers {
        Pacers::from_fn(|_| (cap, Arc::new(ClockPacer::new(cap)) as Arc<dyn DynPacer>))
    }

    /// Replaces one operation's pacer (e.g. with a limiter shared between processes).
    pub fn with(mut self, op: Operation, quota: f64, pacer: Arc<dyn DynPacer>) -> Pacers {
        self.by_op[op.index()] = pacer;
        self.quotas[op.index()] = quota;
        self
    }

    /// Waits for one call of `op`.
    pub async fn acquire(&self, op: Operation) {
        self.by_op[op.index()].dyn_acquire().await
    }

    /// Changes `op`'s pace (calls/s) from its next grant on.
    pub fn set_rate(&self, op: Operation, rate: f64) {
        self.by_op[op.index()].dyn_set_rate(rate)
    }

    /// `op`'s pace in force.
    pub fn rate(&self, op: Operation) -> f64 {
        self.by_op[op.index()].dyn_rate()
    }

    /// The quota `op` was given.
    pub fn quota(&self, op: Operation) -> f64 {
        self.quotas[op.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn no_catch_up_after_a_stall() {
        let mut s = Spacing::new();
        let (i, tol) = (ms(100), ms(10));
        assert_eq!(s.poll(ms(0), i, tol), None);
        assert_eq!(s.poll(ms(0), i, tol), Some(ms(100)));
        assert_eq!(s.poll(ms(99), i, tol), Some(ms(100)));
        assert_eq!(s.poll(ms(100), i, tol), None);
        // A 5-second stall: one call now, then evenly spaced again — no burst of missed slots.
        assert_eq!(s.poll(ms(5000), i, tol), None);
        assert_eq!(s.poll(ms(5000), i, tol), Some(ms(5100)));
        // A slowdown applies to the very next call.
        assert_eq!(s.poll(ms(5100), ms(300), tol), Some(ms(5300)));
    }

    #[test]
    fn a_late_wake_up_keeps_the_grid_within_the_tolerance() {
        let mut s = Spacing::new();
        let tol = ms(10);
        // 10 calls/s, woken 3 ms late: granted on its slot, the next slot stays on the grid.
        assert_eq!(s.poll(ms(0), ms(100), tol), None);
        assert_eq!(s.poll(ms(103), ms(100), tol), None);
        assert_eq!(s.last_grant(), Some(ms(100)));
        assert_eq!(s.poll(ms(103), ms(100), tol), Some(ms(200)));
        // 5,000 calls/s (0.2 ms slots), woken 1 ms after a slot: the 5 slots due are granted at
        // once, then it waits for the next.
        let mut s = Spacing::new();
        let i = Duration::from_micros(200);
        assert_eq!(s.poll(ms(0), i, tol), None);
        let granted = (0..10)
            .take_while(|_| s.poll(ms(1), i, tol).is_none())
            .count();
        assert_eq!(granted, 5);
        assert_eq!(s.last_grant(), Some(ms(1)));
    }

    #[test]
    fn the_ceiling_bursts_only_at_high_quotas() {
        assert_eq!(ceiling_burst(10.0).get(), 1);
        assert_eq!(ceiling_burst(99.0).get(), 1);
        assert_eq!(ceiling_burst(5000.0).get(), 50);
    }

    #[test]
    fn bad_rates_do_not_divide_by_zero() {
        assert_eq!(interval_for(0.0), Duration::from_secs(100));
        assert_eq!(interval_for(f64::NAN), Duration::from_secs(100));
        assert_eq!(interval_for(10.0), ms(100));
        assert!(GovernorPacer::new(0.0, 10.0).is_err());
        assert!(GovernorPacer::new(9.7, f64::INFINITY).is_err());
        assert!(GovernorPacer::new(9.7, 10.0).is_ok());
    }

    proptest! {
        /// Whatever the arrival pattern and whatever pace changes under the cap, no half-open
        /// 1-second window ever holds more than `cap` granted slots.
        #[test]
        fn never_more_than_cap_in_any_second(
            cap in 1u32..=20,
            asks in proptest::collection::vec((0u64..3000, 0.2f64..=1.0), 1..200),
        ) {
            let mut s = Spacing::new();
            let mut now = Duration::ZERO;
            let mut slots = Vec::new();
            let tol = ms(10);
            for (gap, frac) in asks {
                now += ms(gap % 400);
                let rate = f64::from(cap) * frac;
                if let Some(at) = s.poll(now, interval_for(rate), tol) {
                    now = at;
                    prop_assert_eq!(s.poll(now, interval_for(rate), tol), None);
                }
                let slot = s.last_grant().expect("granted");
                prop_assert!(slot <= now && now - slot <= tol);
                slots.push(slot);
            }
            slots.sort();
            for (i, a) in slots.iter().enumerate() {
                let in_window = slots[i..].iter().take_while(|b| **b < *a + Duration::from_secs(1)).count();
                prop_assert!(in_window <= cap as usize, "{in_window} slots in the second from {a:?}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn clock_pacer_spaces_calls_on_tokio_time() {
        let p = ClockPacer::new(10.0);
        let t0 = tokio::time::Instant::now();
        for _ in 0..11 {
            p.acquire().await;
        }
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        p.set_rate(50.0); // above the cap: clamped
        assert_eq!(p.rate(), 10.0);
        p.set_rate(5.0);
        p.acquire().await; // the slowdown applies at once
        assert_eq!(t0.elapsed(), Duration::from_millis(1200));
    }
}
