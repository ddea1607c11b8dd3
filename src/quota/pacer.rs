//! [`SharedPacer`]: a [`Pacer`] whose slots are booked in the quota store, shared by every runner
//! of one account and operation.
//!
//! - **One round trip per call**: `acquire` books a slot (`EVALSHA`) and sleeps until it.
//! - **Fair**: each runner holds at most [`MAX_OUTSTANDING`] booked-but-not-yet-due slots, so
//!   with the schedule first come, first served, concurrent runners split the quota about
//!   equally whatever their concurrency (a runner with 24 calls waiting does not book 24 slots
//!   ahead of a runner with 2).
//! - **Adaptive together**: a throttle seen here is reported to the script, which slows the
//!   schedule for every runner (×0.7, then linear recovery, shared).
//! - **Never fails open** when Redis is unreachable: by default dispatch pauses (calls already
//!   let through finish) and the store is retried with backoff; after the timeout the run is
//!   halted through its cancellation token (exit 3, resumable). With [`OnStoreError::Local`] it
//!   paces in-process at the cap divided by the last known number of runners instead.

use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::model::Params;
use super::store::Store;
use super::{QuotaError, QuotaKey};
use crate::pace::adaptive::AdaptiveConfig;
use crate::pace::limiter::{ClockPacer, Pacer};

/// Booked-but-not-yet-due slots one runner may hold. One is enough for fairness; two hide the
/// round trip to Redis (the next slot is booked while the previous one is still being waited
/// for), so a runner further from Redis is not left with a gap at each of its turns.
pub const MAX_OUTSTANDING: usize = 2;

/// A runner stays registered this long after its last reservation.
pub const LEASE: Duration = Duration::from_secs(15);

/// What to do while the quota store is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnStoreError {
    /// Pause dispatch, retry with backoff, continue when it is back; halt after the timeout.
    Pause,
    /// Pace in-process at the quota divided by the last known number of runners.
    Local,
}

/// How a runner uses the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SharedConfig {
    /// The shared AIMD's cap (97 % of the quota), floor, recovery and cooldown.
    pub adaptive: AdaptiveConfig,
    /// How long the store may stay unreachable before the run halts (pause policy).
    pub timeout: Duration,
    pub on_error: OnStoreError,
}

impl SharedConfig {
    /// The script's integer parameters.
    pub fn params(&self) -> Params {
        params_for(&self.adaptive)
    }
}

/// The script's integer parameters for an adaptive configuration (rates in milli-calls/s).
pub fn params_for(a: &AdaptiveConfig) -> Params {
    let m = |r: f64| (r * 1000.0).round().max(1.0) as i64;
    Params {
        cap: m(a.cap),
        floor: m(a.floor).min(m(a.cap)),
        increase: m(a.increase_per_sec),
        cooldown_us: a.cooldown.as_micros() as i64,
        factor_permille: (a.decrease_factor * 1000.0).round() as i64,
        lease_us: LEASE.as_micros() as i64,
    }
}

/// Full-jitter backoff for retrying the store: uniform in `[0, min(2 s, 50 ms × 2^attempt)]`,
/// at least 10 ms. Short, because every second paused is a second of quota unused.
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    let ceiling = (0.05 * 2f64.powi(attempt.min(10) as i32)).min(2.0);
    Duration::from_secs_f64((ceiling * unit.clamp(0.0, 1.0)).max(0.01))
}

/// When to let the next booking go and when to call, on this runner's clock, for a slot `wait`
/// after Redis's `now`, answered at `got` after a round trip `rtt`.
///
/// Redis's `now` was about `rtt / 2` before `got`, so the slot is at `got + wait - rtt/2`. The
/// outstanding-reservation permit is released another `rtt / 2` earlier, so the next booking
/// reaches Redis as the slot passes: a runner further from Redis then keeps as many slots
/// booked as a near one and gets the same share (without this, each of its turns would lose a
/// round trip).
pub fn slot_times(got: Instant, rtt: Duration, wait: Duration) -> (Instant, Instant) {
    let slot = (got + wait).checked_sub(rtt / 2).unwrap_or(got).max(got);
    let release = slot.checked_sub(rtt / 2).unwrap_or(got).max(got);
    (release, slot)
}

/// What happened to the store, for the runner's log.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreEvent {
    /// The store stopped answering; dispatch pauses (or falls back).
    Down { message: String },
    /// Pacing in-process at `rate` calls/s until the store answers again.
    Local { rate: f64, message: String },
    /// The store answers again after `after`.
    Back { after: Duration },
    /// Unreachable for longer than the timeout: the run halts.
    Halted { after: Duration, message: String },
}

#[derive(Debug)]
struct State {
    rate: i64,
    runners: i64,
    down_since: Option<Instant>,
    retry_at: Option<Instant>,
    attempt: u32,
    last_set_rate: f64,
    halted: Option<String>,
}

type Sink = Box<dyn Fn(&StoreEvent) + Send + Sync>;

/// A [`Pacer`] over the quota store for one key. See the module documentation.
pub struct SharedPacer {
    store: Store,
    key: QuotaKey,
    runner: String,
    params: Params,
    config: SharedConfig,
    outstanding: Semaphore,
    state: Mutex<State>,
    local: ClockPacer,
    halt: CancellationToken,
    events: Sink,
}

impl std::fmt::Debug for SharedPacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPacer")
            .field("store", &self.store)
            .field("key", &self.key)
            .field("runner", &self.runner)
            .finish_non_exhaustive()
    }
}

/// A runner id: the host, the process and a random suffix, so two runs on one host differ.
pub fn runner_id() -> String {
    let host: String = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(40)
        .collect();
    let host = if host.is_empty() { "host".into() } else { host };
    let tag: u32 = rand::rng().random();
    format!("{host}-{}-{:06x}", std::process::id(), tag & 0xff_ffff)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SharedPacer {
    /// `halt` is the run's cancellation token: it is fired when the store stays unreachable past
    /// the timeout, so the run stops dispatching and ends resumable (exit 3).
    pub fn new(
        store: Store,
        key: QuotaKey,
        runner: String,
        config: SharedConfig,
        halt: CancellationToken,
        events: impl Fn(&StoreEvent) + Send + Sync + 'static,
    ) -> SharedPacer {
        let params = config.params();
        SharedPacer {
            store,
            key,
            runner,
            params,
            config,
            outstanding: Semaphore::new(MAX_OUTSTANDING),
            state: Mutex::new(State {
                rate: params.cap,
                // Unknown until the first reservation answers (see `down`).
                runners: 0,
                down_since: None,
                retry_at: None,
                attempt: 0,
                // The executor's first `set_rate` is the cap: not a decrease. Starting at
                // infinity counted it as one, so every run reported a throttle it never got and
                // slowed the shared schedule to 0.7 × the cap as it started.
                last_set_rate: config.adaptive.cap,
                halted: None,
            }),
            local: ClockPacer::new(config.adaptive.cap),
            halt,
            events: Box::new(events),
        }
    }

    pub fn key(&self) -> &QuotaKey {
        &self.key
    }

    pub fn runner(&self) -> &str {
        &self.runner
    }

    /// Why the run was halted, if the store made it halt.
    pub fn halted(&self) -> Option<String> {
        lock(&self.state).halted.clone()
    }

    /// Runners on this key at the last reservation (this one included); 0 before the first.
    pub fn runners(&self) -> i64 {
        lock(&self.state).runners
    }

    /// Reports a throttle to the store: the shared schedule slows for every runner.
    pub async fn report_throttle(&self) -> Result<(), QuotaError> {
        let s = self
            .store
            .throttled(&self.key, &self.runner, &self.params)
            .await?;
        lock(&self.state).rate = s.rate;
        Ok(())
    }

    /// Unregisters this runner (end of the run), so `quota status` and the others' fallback
    /// share stop counting it at once rather than when its lease runs out.
    pub async fn leave(&self) -> Result<(), QuotaError> {
        self.store
            .leave(&self.key, &self.runner, &self.params)
            .await
    }

    /// The store answered: note the rate and runners; say so if it had been down.
    fn up(&self, rate: i64, runners: i64) {
        let back = {
            let mut s = lock(&self.state);
            s.rate = rate;
            s.runners = runners.max(1);
            s.attempt = 0;
            s.retry_at = None;
            s.down_since.take()
        };
        if let Some(since) = back {
            (self.events)(&StoreEvent::Back {
                after: since.elapsed(),
            });
        }
    }

    /// The store failed: returns what to do next.
    fn down(&self, e: &QuotaError) -> Next {
        let now = Instant::now();
        let mut s = lock(&self.state);
        if s.halted.is_some() {
            return Next::Halted;
        }
        let first = s.down_since.is_none();
        let since = *s.down_since.get_or_insert(now);
        let unit: f64 = rand::rng().random();
        let wait = backoff(s.attempt, unit);
        s.attempt = s.attempt.saturating_add(1);
        s.retry_at = Some(now + wait);
        let message = e.to_string();
        match self.config.on_error {
            OnStoreError::Local => {
                let rate = self.config.adaptive.cap / fallback_share(s.runners) as f64;
                drop(s);
                self.local.set_rate(rate);
                if first {
                    (self.events)(&StoreEvent::Local { rate, message });
                }
                Next::Local
            }
            OnStoreError::Pause => {
                let after = now - since;
                if after >= self.config.timeout {
                    s.halted = Some(message.clone());
                    drop(s);
                    (self.events)(&StoreEvent::Halted { after, message });
                    self.halt.cancel();
                    return Next::Halted;
                }
                drop(s);
                if first {
                    (self.events)(&StoreEvent::Down { message });
                }
                Next::Wait(wait)
            }
        }
    }
}

/// How many runners the local fallback divides the quota by: those the store counted at the last
/// reservation, or — when the store failed before any reservation answered, so nothing is known
/// — [`RUNNERS_ASSUMED_UNSEEN`]. Assuming one then let two runs that lost Redis at start-up each
/// pace at the whole quota (59 calls/s together against 30, measured).
pub fn fallback_share(runners_seen: i64) -> i64 {
    if runners_seen > 0 {
        runners_seen
    } else {
        RUNNERS_ASSUMED_UNSEEN
    }
}

/// Runners assumed by the local fallback when none was ever seen: a run that shares a quota
/// through a store is, by the flag's purpose, not alone.
pub const RUNNERS_ASSUMED_UNSEEN: i64 = 2;

enum Next {
    Wait(Duration),
    Local,
    Halted,
}

impl Pacer for SharedPacer {
    async fn acquire(&self) {
        // Closed never: the semaphore lives as long as the pacer.
        let Ok(permit) = self.outstanding.acquire().await else {
            return std::future::pending().await;
        };
        loop {
            let local_now = {
                let s = lock(&self.state);
                if s.halted.is_some() {
                    None
                } else {
                    Some(
                        self.config.on_error == OnStoreError::Local
                            && s.retry_at.is_some_and(|t| Instant::now() < t),
                    )
                }
            };
            match local_now {
                // Halted: the run's token is cancelled; never hand out a slot (no fail-open).
                None => return std::future::pending().await,
                Some(true) => return self.local.acquire().await,
                Some(false) => {}
            }
            let sent = Instant::now();
            match self
                .store
                .reserve(&self.key, &self.runner, &self.params)
                .await
            {
                Ok(b) => {
                    let got = Instant::now();
                    self.up(b.rate, b.runners);
                    let wait = Duration::from_micros(b.wait_us.max(0) as u64);
                    let (release, slot) = slot_times(got, got - sent, wait);
                    tokio::time::sleep_until(release).await;
                    drop(permit);
                    tokio::time::sleep_until(slot).await;
                    return;
                }
                Err(e) => match self.down(&e) {
                    Next::Wait(d) => tokio::time::sleep(d).await,
                    Next::Local => return self.local.acquire().await,
                    Next::Halted => return std::future::pending().await,
                },
            }
        }
    }

    /// The executor keeps its own AIMD and sets the pacer to it; the shared schedule is the one
    /// that paces here, so only a decrease matters: it means this runner saw a throttle, which
    /// is reported to the script (best effort: a store that is down is handled by `acquire`).
    fn set_rate(&self, rate: f64) {
        let decreased = {
            let mut s = lock(&self.state);
            let d = rate < s.last_set_rate - 1e-9;
            s.last_set_rate = rate;
            d
        };
        if decreased && let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (store, key, runner, params) = (
                self.store.clone(),
                self.key.clone(),
                self.runner.clone(),
                self.params,
            );
            rt.spawn(async move {
                let _ = store.throttled(&key, &runner, &params).await;
            });
        }
    }

    fn rate(&self) -> f64 {
        lock(&self.state).rate as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_share_assumes_two_runners_when_none_was_seen() {
        assert_eq!(fallback_share(0), 2);
        assert_eq!(fallback_share(1), 1);
        assert_eq!(fallback_share(3), 3);
    }

    #[test]
    fn backoff_grows_to_two_seconds_and_never_spins() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(10));
        assert_eq!(backoff(0, 1.0), Duration::from_millis(50));
        assert_eq!(backoff(3, 1.0), Duration::from_millis(400));
        assert_eq!(backoff(30, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(30, 7.0), Duration::from_secs(2));
    }

    #[test]
    fn a_far_runner_calls_at_the_slot_and_books_ahead_by_its_round_trip() {
        let got = Instant::now();
        let ms = Duration::from_millis;
        let (release, slot) = slot_times(got, ms(40), ms(300));
        assert_eq!(slot - got, ms(280));
        assert_eq!(release - got, ms(260));
        // A slot due now (or already behind, by the round trip) is taken at once.
        assert_eq!(slot_times(got, ms(40), ms(0)), (got, got));
        assert_eq!(slot_times(got, ms(40), ms(10)), (got, got));
    }

    #[test]
    fn params_are_the_adaptive_rate_in_integers() {
        let p = params_for(&AdaptiveConfig::for_cap(9.7));
        assert_eq!(p.cap, 9_700);
        assert_eq!(p.floor, 970);
        assert_eq!(p.increase, 485);
        assert_eq!(p.cooldown_us, 1_000_000);
        assert_eq!(p.factor_permille, 700);
    }

    #[test]
    fn runner_ids_are_distinct_and_key_safe() {
        let (a, b) = (runner_id(), runner_id());
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._".contains(&c))
        );
    }
}
