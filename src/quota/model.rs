//! A pure Rust model of `gcra.lua`: the same integer arithmetic over the same state, with the
//! clock passed in. The script is the one that runs; this model is how its arithmetic is read,
//! unit-tested without Redis, and checked against the real script (`tests/it/quota_script.rs`
//! replays every script call here with the `now` the script reports and compares every output
//! and the stored state).
//!
//! Units: times are integer microseconds of Redis's clock; rates are integer milli-calls per
//! second (9.7 calls/s = 9700), so nothing depends on how Lua or Rust round a float.

use std::collections::BTreeMap;

/// Idle schedule keys expire after a day (refreshed on every call).
pub const KEEP_MS: i64 = 86_400_000;
/// A schedule further ahead than this means Redis's clock went back (a failover to a host with
/// a different clock): the schedule restarts at `now` rather than making everyone wait.
pub const MAX_AHEAD_US: i64 = 300_000_000;
/// Recovery looks back at most this far (the ramp from the floor to the cap takes ~18 s at the
/// default 5 % of the cap per second), which keeps `elapsed × recovery` far below 2^53.
pub const MAX_ELAPSED_US: i64 = 1_000_000_000;
/// A runner's recent rate is measured over windows of this length.
pub const WINDOW_US: i64 = 5_000_000;
/// Runners whose lease ran out are dropped this often.
pub const GC_EVERY_US: i64 = 5_000_000;

/// What every runner of a key passes to the script: the shared AIMD's tunables and the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Never faster (97 % of the quota), milli-calls/s.
    pub cap: i64,
    /// Never slower, milli-calls/s.
    pub floor: i64,
    /// Linear recovery, milli-calls/s gained per second without a throttle.
    pub increase: i64,
    /// Throttles this soon after a decrease do not decrease again, µs.
    pub cooldown_us: i64,
    /// Multiplicative decrease, per mille (700 = ×0.7).
    pub factor_permille: i64,
    /// How long a runner stays registered after its last reservation, µs.
    pub lease_us: i64,
}

/// The interval between two slots at `rate` milli-calls/s, rounded up (never faster).
pub fn interval_us(rate: i64) -> i64 {
    let r = rate.max(1);
    (1_000_000_000 + r - 1) / r
}

/// The schedule's stored fields (`HMGET tat base since lastdec thr gc`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedule {
    /// The next free slot.
    pub tat: Option<i64>,
    /// The rate right after the last decrease (or the cap), and when it was set.
    pub base: Option<i64>,
    pub since: Option<i64>,
    pub last_decrease: Option<i64>,
    /// Throttles that slowed the schedule, ever.
    pub throttles: i64,
    /// When expired runners are next dropped.
    pub gc: i64,
}

/// One runner's record in the runners hash: `"lease window_start window_count rate total"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runner {
    pub lease_until: i64,
    pub window_start: i64,
    pub window_count: i64,
    /// Reservations/s over the last closed window, milli-calls/s.
    pub rate: i64,
    pub total: i64,
}

impl Runner {
    /// The stored form (the script's `int(...) .. ' ' ..`).
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.lease_until, self.window_start, self.window_count, self.rate, self.total
        )
    }

    /// Reads the stored form; anything else is no record (the script drops it the same way).
    pub fn decode(s: &str) -> Option<Runner> {
        let mut it = s.split(' ').map(|p| {
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse::<i64>().ok()
            } else {
                None
            }
        });
        let r = Runner {
            lease_until: it.next()??,
            window_start: it.next()??,
            window_count: it.next()??,
            rate: it.next()??,
            total: it.next()??,
        };
        it.next().is_none().then_some(r)
    }
}

/// A booked slot, as the script returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booking {
    /// Redis's clock when the slot was booked.
    pub now: i64,
    /// How long the caller waits before its call, µs.
    pub wait_us: i64,
    /// The spacing in force, µs, and the rate it comes from, milli-calls/s.
    pub interval_us: i64,
    pub rate: i64,
    /// Runners registered on this key (including the caller).
    pub runners: i64,
}

/// A throttle report's effect, as the script returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slowed {
    pub now: i64,
    /// Whether this report slowed the schedule (false inside the cooldown).
    pub applied: bool,
    pub interval_us: i64,
    pub rate: i64,
    pub throttles: i64,
}

/// A key's whole state: the schedule hash and the runners hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub schedule: Schedule,
    pub runners: BTreeMap<String, Runner>,
}

impl Model {
    /// The shared AIMD rate at `now`: the base plus linear recovery, within floor and cap.
    fn rate_at(base: i64, since: i64, now: i64, p: &Params) -> i64 {
        let elapsed = (now - since).clamp(0, MAX_ELAPSED_US);
        (base + elapsed * p.increase / 1_000_000)
            .min(p.cap)
            .max(p.floor)
    }

    fn base_since(&self, now: i64, p: &Params) -> (i64, i64) {
        match (self.schedule.base, self.schedule.since) {
            (Some(b), Some(s)) => (b, s),
            _ => (p.cap, now),
        }
    }

    /// Books `runner` the next free slot: `max(now, tat)`, and moves `tat` one interval past it.
    /// No burst: a slot in the past is never handed out, so after a pause the schedule restarts
    /// at `now` instead of releasing a backlog.
    pub fn reserve(&mut self, now: i64, runner: &str, p: &Params) -> Booking {
        let (base, since) = self.base_since(now, p);
        let rate = Self::rate_at(base, since, now, p);
        let iv = interval_us(rate);
        let tat = match self.schedule.tat {
            Some(t) if t <= now + MAX_AHEAD_US => t,
            _ => now,
        };
        let slot = tat.max(now);
        self.schedule.tat = Some(slot + iv);
        self.schedule.base = Some(base);
        self.schedule.since = Some(since);

        let mut r = self.runners.get(runner).copied().unwrap_or(Runner {
            lease_until: 0,
            window_start: now,
            window_count: 0,
            rate: 0,
            total: 0,
        });
        if now - r.window_start >= WINDOW_US {
            r.rate = r.window_count * 1_000_000_000 / (now - r.window_start);
            r.window_start = now;
            r.window_count = 0;
        }
        r.window_count += 1;
        r.total += 1;
        r.lease_until = now + p.lease_us;
        self.runners.insert(runner.to_string(), r);
        if now >= self.schedule.gc {
            self.runners.retain(|_, r| r.lease_until >= now);
            self.schedule.gc = now + GC_EVERY_US;
        }
        Booking {
            now,
            wait_us: slot - now,
            interval_us: iv,
            rate,
            runners: self.runners.len() as i64,
        }
    }

    /// A runner saw a throttle: the shared rate becomes `rate × factor` (within floor and cap)
    /// and recovers linearly from now, unless another decrease happened within the cooldown
    /// (those throttles answer calls sent before it took effect).
    pub fn throttle(&mut self, now: i64, p: &Params) -> Slowed {
        let (base, since) = self.base_since(now, p);
        let rate = Self::rate_at(base, since, now, p);
        if let Some(last) = self.schedule.last_decrease
            && now - last < p.cooldown_us
            && now >= last
        {
            return Slowed {
                now,
                applied: false,
                interval_us: interval_us(rate),
                rate,
                throttles: self.schedule.throttles,
            };
        }
        let lowered = (rate * p.factor_permille / 1000).max(p.floor).min(p.cap);
        self.schedule.throttles += 1;
        self.schedule.base = Some(lowered);
        self.schedule.since = Some(now);
        self.schedule.last_decrease = Some(now);
        Slowed {
            now,
            applied: true,
            interval_us: interval_us(lowered),
            rate: lowered,
            throttles: self.schedule.throttles,
        }
    }

    /// A runner leaves (end of its run): its registration goes at once.
    pub fn leave(&mut self, runner: &str) {
        self.runners.remove(runner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params() -> Params {
        Params {
            cap: 9_700,
            floor: 970,
            increase: 485,
            cooldown_us: 1_000_000,
            factor_permille: 700,
            lease_us: 15_000_000,
        }
    }

    #[test]
    fn slots_are_evenly_spaced_at_the_cap_and_never_in_the_past() {
        let p = params();
        let mut m = Model::default();
        assert_eq!(interval_us(9_700), 103_093);
        let waits: Vec<i64> = (0..4).map(|_| m.reserve(1_000, "a", &p).wait_us).collect();
        assert_eq!(waits, [0, 103_093, 206_186, 309_279]);
        // After a 10-s pause the next slot is now: no backlog of unused slots.
        let b = m.reserve(10_000_000, "b", &p);
        assert_eq!(b.wait_us, 0);
        assert_eq!(m.reserve(10_000_000, "a", &p).wait_us, 103_093);
    }

    #[test]
    fn a_throttle_slows_everyone_by_thirty_percent_then_recovery_is_linear() {
        let p = params();
        let mut m = Model::default();
        m.reserve(0, "a", &p);
        let s = m.throttle(1_000_000, &p);
        assert!(s.applied);
        assert_eq!(s.rate, 6_790);
        // Inside the cooldown a second report changes nothing.
        assert!(!m.throttle(1_500_000, &p).applied);
        // Two seconds later: 6790 + 2 × 485.
        assert_eq!(m.reserve(3_000_000, "b", &p).rate, 7_760);
        // Long after: back at the cap, never above.
        assert_eq!(m.reserve(100_000_000, "b", &p).rate, 9_700);
    }

    #[test]
    fn leases_expire_and_leaving_unregisters() {
        let p = params();
        let mut m = Model::default();
        assert_eq!(m.reserve(0, "a", &p).runners, 1);
        assert_eq!(m.reserve(1, "b", &p).runners, 2);
        // 20 s later "a" has not renewed: dropped at the next collection.
        assert_eq!(m.reserve(20_000_000, "b", &p).runners, 1);
        m.leave("b");
        assert!(m.runners.is_empty());
    }

    #[test]
    fn a_clock_that_went_back_does_not_freeze_the_schedule() {
        let p = params();
        let mut m = Model::default();
        m.reserve(1_000_000_000, "a", &p);
        // Redis failed over to a host whose clock is 10 minutes behind.
        assert_eq!(m.reserve(400_000_000, "a", &p).wait_us, 0);
    }

    #[test]
    fn runner_records_round_trip_and_refuse_junk() {
        let r = Runner {
            lease_until: 1,
            window_start: 2,
            window_count: 3,
            rate: 4,
            total: 5,
        };
        assert_eq!(Runner::decode(&r.encode()), Some(r));
        for bad in [
            "",
            "1 2 3 4",
            "1 2 3 4 5 6",
            "1 2 -3 4 5",
            "1 2 x 4 5",
            "1  2 3 4 5",
        ] {
            assert_eq!(Runner::decode(bad), None, "{bad:?}");
        }
    }

    proptest! {
        /// Whatever the arrivals and throttles, booked slots are never closer than the interval
        /// in force when booked and never more than the cap in any 1-s window.
        #[test]
        fn never_more_than_cap_in_any_second(
            ops in proptest::collection::vec((0i64..400_000, 0u8..3, any::<bool>()), 1..300),
        ) {
            let p = params();
            let mut m = Model::default();
            let mut now = 0;
            let mut slots = Vec::new();
            for (gap, who, thr) in ops {
                now += gap;
                if thr {
                    m.throttle(now, &p);
                }
                let b = m.reserve(now, ["a", "b", "c"][who as usize], &p);
                prop_assert!(b.wait_us >= 0);
                prop_assert!(b.rate >= p.floor && b.rate <= p.cap);
                slots.push(now + b.wait_us);
            }
            let cap_per_s = (p.cap as usize).div_ceil(1000);
            for (i, a) in slots.iter().enumerate() {
                let n = slots[i..].iter().take_while(|b| **b < a + 1_000_000).count();
                prop_assert!(n <= cap_per_s, "{n} slots in the second from {a}");
            }
        }
    }
}
