//! The shared pacer against a real redis-server: runners sharing one key split it evenly at the
//! shared pace, a runner further from Redis is not starved, and outages pause, halt or fall back
//! without ever failing open.
//!
//! No assertion here reads a wall clock. Runs last until a number of grants, not a number of
//! seconds; what is checked is counted — grants per runner, slots booked in Redis (its `status`:
//! reservations per runner, how far ahead the schedule is booked, the rate in force) — or, for
//! the local fallback, timed on tokio's paused clock. Waits for something that must happen have a
//! one-minute guard against a hang, never a pace.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::quota::{RedisServer, delaying_proxy};
use livebatch::apply::adaptive::AdaptiveConfig;
use livebatch::apply::limiter::Pacer;
use livebatch::quota::model::interval_us;
use livebatch::quota::pacer::{
    MAX_OUTSTANDING, OnStoreError, SharedConfig, SharedPacer, StoreEvent,
};
use livebatch::quota::store::{Status, Store};
use livebatch::quota::{QuotaKey, StoreUrl};
use tokio_util::sync::CancellationToken;

type Events = Arc<Mutex<Vec<StoreEvent>>>;

/// Grants so far, of one pacer.
type Grants = Arc<AtomicUsize>;

const OPERATION: &str = "UpdateLivePullToPush";

fn config(cap: f64, on_error: OnStoreError, timeout: Duration) -> SharedConfig {
    SharedConfig {
        adaptive: AdaptiveConfig::for_cap(cap),
        timeout,
        on_error,
    }
}

async fn pacer(
    url: &str,
    account: &str,
    name: &str,
    cfg: SharedConfig,
) -> (Arc<SharedPacer>, Events, CancellationToken) {
    let store = Store::connect(&StoreUrl::parse(url).unwrap())
        .await
        .unwrap();
    let events: Events = Arc::default();
    let sink = events.clone();
    let halt = CancellationToken::new();
    let p = SharedPacer::new(
        store,
        QuotaKey::new(account, OPERATION).unwrap(),
        name.to_string(),
        cfg,
        halt.clone(),
        move |e| sink.lock().unwrap().push(e.clone()),
    );
    (Arc::new(p), events, halt)
}

fn events_of(events: &Events) -> Vec<StoreEvent> {
    events.lock().unwrap().clone()
}

/// Reads a key's schedule and runners as `quota status` does, on a connection of its own.
struct Watch {
    store: Store,
    key: QuotaKey,
    cfg: SharedConfig,
}

impl Watch {
    async fn new(url: &str, account: &str, cfg: SharedConfig) -> Watch {
        Watch {
            store: Store::connect(&StoreUrl::parse(url).unwrap())
                .await
                .unwrap(),
            key: QuotaKey::new(account, OPERATION).unwrap(),
            cfg,
        }
    }

    async fn status(&self) -> Status {
        self.store
            .status(&self.key, &self.cfg.params())
            .await
            .unwrap()
    }
}

/// Slots `runner` has booked in Redis so far.
fn booked(st: &Status, runner: &str) -> usize {
    st.runners
        .iter()
        .find(|r| r.id == runner)
        .map_or(0, |r| r.total as usize)
}

/// Runs `workers` tasks that each acquire in a loop until `stop`; returns the count of grants.
fn drive(p: Arc<SharedPacer>, workers: usize, stop: CancellationToken) -> Grants {
    let grants: Grants = Arc::default();
    for _ in 0..workers {
        let (p, g, stop) = (p.clone(), grants.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = p.acquire() => { g.fetch_add(1, Ordering::SeqCst); }
                }
            }
        });
    }
    grants
}

/// Waits until `cond` holds, looking every 10 ms; the minute is a guard against a hang.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "still waiting after a minute for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Lets the named runners acquire until they were granted `total` slots between them, checking
/// all along what Redis holds:
/// - each runner has few slots booked but not yet granted: the [`MAX_OUTSTANDING`] it may hold
///   (what makes the split fair, however many calls a runner queues), and for each at most one
///   more, released a round trip before it is due so that the next booking reaches Redis in time;
/// - the schedule is paced at the cap, and booked no further ahead than those slots (one
///   interval more: Redis's next free slot lies one interval past the last booked): a pacer
///   that let calls go before their slots would book ever further ahead.
///
/// Returns the grants per runner.
async fn share_until(
    watch: &Watch,
    runners: &[(&str, Grants)],
    total: usize,
    stop: CancellationToken,
) -> Vec<usize> {
    let cap = (watch.cfg.adaptive.cap * 1000.0).round() as i64;
    let most_held = 2 * MAX_OUTSTANDING;
    let most_ahead = (runners.len() * most_held + 1) as f64;
    let granted = || -> Vec<usize> {
        runners
            .iter()
            .map(|(_, g)| g.load(Ordering::SeqCst))
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while granted().iter().sum::<usize>() < total {
        assert!(
            std::time::Instant::now() < deadline,
            "only {:?} grants after a minute",
            granted()
        );
        let st = watch.status().await;
        // Read after the status: a slot it counts as booked is granted by now or still held.
        let now = granted();
        for ((name, _), g) in runners.iter().zip(&now) {
            let held = booked(&st, name).saturating_sub(*g);
            assert!(
                held <= most_held,
                "runner {name} holds {held} booked slots ({st:?})"
            );
        }
        assert_eq!((st.rate, st.interval_us), (cap, interval_us(cap)), "{st:?}");
        let ahead = st.ahead_us as f64 / st.interval_us as f64;
        assert!(
            ahead <= most_ahead,
            "the schedule is booked {ahead:.1} slots ahead, more than {most_ahead} ({st:?}, granted {now:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    granted()
}

fn share_check(counts: &[usize]) {
    let total: usize = counts.iter().sum();
    for c in counts {
        let share = *c as f64 / total as f64;
        assert!(
            (0.25..=0.42).contains(&share),
            "shares {counts:?} of {total}: not about a third each"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_runners_share_one_key_evenly_at_the_shared_pace() {
    let server = RedisServer::start();
    let cfg = config(48.5, OnStoreError::Pause, Duration::from_secs(30));
    let stop = CancellationToken::new();
    let mut runners = Vec::new();
    // Very different concurrency: fairness must not depend on how many calls a runner queues.
    for (name, workers) in [("a", 2usize), ("b", 4), ("c", 12)] {
        let (p, _, _) = pacer(&server.url(), "acct", name, cfg).await;
        runners.push((name, drive(p, workers, stop.clone())));
    }
    let watch = Watch::new(&server.url(), "acct", cfg).await;
    let counts = share_until(&watch, &runners, 150, stop).await;
    share_check(&counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_behind_a_slow_link_gets_its_share() {
    let server = RedisServer::start();
    let far = delaying_proxy(server.addr(), Duration::from_millis(20)).await;
    let cfg = config(29.1, OnStoreError::Pause, Duration::from_secs(30));
    let stop = CancellationToken::new();
    let (pf, _, _) = pacer(&format!("redis://{far}"), "acct", "far", cfg).await;
    let (pa, _, _) = pacer(&server.url(), "acct", "near1", cfg).await;
    let (pb, _, _) = pacer(&server.url(), "acct", "near2", cfg).await;
    let runners = [
        ("far", drive(pf, 8, stop.clone())),
        ("near1", drive(pa, 8, stop.clone())),
        ("near2", drive(pb, 8, stop.clone())),
    ];
    let watch = Watch::new(&server.url(), "acct", cfg).await;
    let counts = share_until(&watch, &runners, 120, stop).await;
    share_check(&counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_pauses_while_redis_is_down_and_resumes_when_it_is_back() {
    let mut server = RedisServer::start();
    let (p, events, halt) = pacer(
        &server.url(),
        "acct",
        "a",
        config(20.0, OnStoreError::Pause, Duration::from_secs(60)),
    )
    .await;
    let stop = CancellationToken::new();
    let grants = drive(p.clone(), 4, stop.clone());
    until("the first grants", || grants.load(Ordering::SeqCst) >= 5).await;
    server.kill();
    let at_kill = grants.load(Ordering::SeqCst);
    until("the pacer to find the store down", || {
        !events_of(&events).is_empty()
    })
    .await;
    // A second down: failing open, 20/s would let about twenty calls through in it. (A busy
    // machine makes this a weaker test, never a failing one.)
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Slots booked before the kill may still be used, at most the outstanding bound; nothing
    // else is let through while Redis is down.
    let during = grants.load(Ordering::SeqCst) - at_kill;
    assert!(
        during <= MAX_OUTSTANDING,
        "{during} calls let through while the store was down"
    );
    server.restart();
    let back = grants.load(Ordering::SeqCst);
    until("10 calls after Redis came back", || {
        grants.load(Ordering::SeqCst) >= back + 10
    })
    .await;
    stop.cancel();
    assert!(!halt.is_cancelled());
    let ev = events_of(&events);
    assert!(
        matches!(ev.first(), Some(StoreEvent::Down { .. })),
        "{ev:?}"
    );
    assert!(
        ev.iter().any(|e| matches!(e, StoreEvent::Back { .. })),
        "{ev:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_timeout_the_run_halts_and_nothing_more_is_let_through() {
    let mut server = RedisServer::start();
    let (p, events, halt) = pacer(
        &server.url(),
        "acct",
        "a",
        config(20.0, OnStoreError::Pause, Duration::from_secs(1)),
    )
    .await;
    p.acquire().await;
    server.kill();
    tokio::select! {
        _ = p.acquire() => panic!("a slot was handed out with the store down"),
        _ = halt.cancelled() => {}
        _ = tokio::time::sleep(Duration::from_secs(60)) => panic!("the run was not halted"),
    }
    assert!(p.halted().is_some());
    // Halted, a call waits for good: not on the store, on nothing (it is pending at once).
    let more = tokio::time::timeout(Duration::from_millis(500), p.acquire()).await;
    assert!(more.is_err(), "a slot was handed out after the halt");
    let ev = events_of(&events);
    assert!(
        ev.iter().any(|e| matches!(e, StoreEvent::Halted { .. })),
        "{ev:?}"
    );
}

/// On one thread, so that tokio's clock can be paused once Redis is gone: the fallback is timed
/// on the paused clock, which moves only when every task waits on it.
#[tokio::test]
async fn local_fallback_paces_at_the_last_known_share() {
    let mut server = RedisServer::start();
    let cfg = config(20.0, OnStoreError::Local, Duration::from_secs(60));
    let (p, events, halt) = pacer(&server.url(), "acct", "a", cfg).await;
    let (other, _, _) = pacer(&server.url(), "acct", "b", cfg).await;
    other.acquire().await;
    p.acquire().await;
    assert_eq!(p.runners(), 2);
    server.kill();
    tokio::time::pause();
    let stop = CancellationToken::new();
    let grants = drive(p.clone(), 4, stop.clone());
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.cancel();
    let n = grants.load(Ordering::SeqCst);
    // 20/s shared by two runners: 10/s here, 100 calls in 10 s (and one at once), never the
    // whole 20/s.
    assert!(
        (95..=101).contains(&n),
        "{n} calls in 10 s on the local fallback"
    );
    assert!(!halt.is_cancelled());
    let ev = events_of(&events);
    assert!(
        matches!(ev.first(), Some(StoreEvent::Local { rate, .. }) if (*rate - 10.0).abs() < 1e-9),
        "{ev:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_flush_mid_run_reloads_the_script() {
    let server = RedisServer::start();
    let (p, events, _) = pacer(
        &server.url(),
        "acct",
        "a",
        config(50.0, OnStoreError::Pause, Duration::from_secs(30)),
    )
    .await;
    let stop = CancellationToken::new();
    let grants = drive(p.clone(), 4, stop.clone());
    let mut con = server
        .client()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // Under way first: the first calls load the script, and a flush between their SCRIPT LOAD
    // and their EVALSHA would fail them (the client reloads once).
    until("the first grants", || grants.load(Ordering::SeqCst) >= 10).await;
    for _ in 0..5 {
        let before = grants.load(Ordering::SeqCst);
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut con)
            .await
            .unwrap();
        // Slots booked before the flush (at most the outstanding bound) may still be granted;
        // grants beyond them were booked after it, by the script loaded again. Ten: well past
        // the reloads this flush set off, so that the next flush does not fall between one's
        // SCRIPT LOAD and its EVALSHA either.
        until("slots booked after SCRIPT FLUSH", || {
            let ev = events_of(&events);
            assert!(ev.is_empty(), "{ev:?}");
            grants.load(Ordering::SeqCst) >= before + MAX_OUTSTANDING + 10
        })
        .await;
    }
    stop.cancel();
    let ev = events_of(&events);
    assert!(ev.is_empty(), "{ev:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttle_seen_by_one_runner_slows_the_others() {
    let server = RedisServer::start();
    // Recovery all but off (0.001 calls/s per second), so the lowered rate is still in force
    // however long the steps below take.
    let cfg = SharedConfig {
        adaptive: AdaptiveConfig {
            increase_per_sec: 0.001,
            ..AdaptiveConfig::for_cap(9.7)
        },
        timeout: Duration::from_secs(30),
        on_error: OnStoreError::Pause,
    };
    let (a, _, _) = pacer(&server.url(), "acct", "a", cfg).await;
    let (b, _, _) = pacer(&server.url(), "acct", "b", cfg).await;
    let watch = Watch::new(&server.url(), "acct", cfg).await;
    b.acquire().await;
    assert_eq!(b.rate(), 9.7);
    // The executor lowers its pacer's rate on a throttle: reported to the shared schedule, in
    // the background.
    a.set_rate(9.7);
    a.set_rate(6.79);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while watch.status().await.throttles == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no throttle reached the store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    b.acquire().await;
    assert!(b.rate() < 7.0, "b still at {}", b.rate());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_access_keys_of_one_account_share_by_the_account_key() {
    // The key is the account, never the AccessKey: two runners that present different keys but
    // learn (or are told) the same account book on one schedule.
    let server = RedisServer::start();
    let cfg = config(9.7, OnStoreError::Pause, Duration::from_secs(30));
    let (a, _, _) = pacer(&server.url(), "1234567890", "key-one", cfg).await;
    let (b, _, _) = pacer(&server.url(), "1234567890", "key-two", cfg).await;
    let (c, _, _) = pacer(&server.url(), "other-account", "key-three", cfg).await;
    a.acquire().await;
    b.acquire().await;
    c.acquire().await;
    assert_eq!(b.runners(), 2);
    assert_eq!(c.runners(), 1);
}
