//! The shared pacer against a real redis-server: runners sharing one key split it evenly at the
//! shared pace, a runner further from Redis is not starved, and outages pause, halt or fall back
//! without ever failing open.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::quota::{RedisServer, delaying_proxy};
use livebatch::apply::adaptive::AdaptiveConfig;
use livebatch::apply::limiter::Pacer;
use livebatch::quota::pacer::{OnStoreError, SharedConfig, SharedPacer, StoreEvent};
use livebatch::quota::store::Store;
use livebatch::quota::{QuotaKey, StoreUrl};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

type Events = Arc<Mutex<Vec<StoreEvent>>>;

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
        QuotaKey::new(account, "UpdateLivePullToPush").unwrap(),
        name.to_string(),
        cfg,
        halt.clone(),
        move |e| sink.lock().unwrap().push(e.clone()),
    );
    (Arc::new(p), events, halt)
}

/// Runs `workers` tasks that each acquire in a loop until `stop`; returns the grant times.
fn drive(p: Arc<SharedPacer>, workers: usize, stop: CancellationToken) -> Arc<Mutex<Vec<Instant>>> {
    let grants: Arc<Mutex<Vec<Instant>>> = Arc::default();
    for _ in 0..workers {
        let (p, g, stop) = (p.clone(), grants.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = p.acquire() => g.lock().unwrap().push(Instant::now()),
                }
            }
        });
    }
    grants
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
    let cap = 48.5; // 97 % of a 50/s quota: short test, same arithmetic as 10/s
    let stop = CancellationToken::new();
    let mut all = Vec::new();
    // Very different concurrency: fairness must not depend on how many calls a runner queues.
    for (name, workers) in [("a", 2usize), ("b", 4), ("c", 12)] {
        let (p, _, _) = pacer(
            &server.url(),
            "acct",
            name,
            config(cap, OnStoreError::Pause, Duration::from_secs(30)),
        )
        .await;
        all.push(drive(p, workers, stop.clone()));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.cancel();
    let counts: Vec<usize> = all.iter().map(|g| g.lock().unwrap().len()).collect();
    share_check(&counts);
    // Never faster than the shared pace: n grants span at least (n - 1) intervals (a little
    // timer slack allowed, never a burst).
    let mut times: Vec<Instant> = all.iter().flat_map(|g| g.lock().unwrap().clone()).collect();
    times.sort();
    let span = *times.last().unwrap() - times[0];
    let min_span = Duration::from_secs_f64((times.len() - 1) as f64 / cap);
    assert!(
        span + Duration::from_millis(60) >= min_span,
        "{} grants in {span:?}",
        times.len()
    );
    assert!(
        times.len() as f64 >= cap * 2.0,
        "only {} grants in 3 s at {cap}/s",
        times.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_behind_a_slow_link_gets_its_share() {
    let server = RedisServer::start();
    let far = delaying_proxy(server.addr(), Duration::from_millis(20)).await;
    let cap = 29.1;
    let cfg = config(cap, OnStoreError::Pause, Duration::from_secs(30));
    let stop = CancellationToken::new();
    let (pf, _, _) = pacer(&format!("redis://{far}"), "acct", "far", cfg).await;
    let (pa, _, _) = pacer(&server.url(), "acct", "near1", cfg).await;
    let (pb, _, _) = pacer(&server.url(), "acct", "near2", cfg).await;
    let all = [
        drive(pf, 8, stop.clone()),
        drive(pa, 8, stop.clone()),
        drive(pb, 8, stop.clone()),
    ];
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.cancel();
    let counts: Vec<usize> = all.iter().map(|g| g.lock().unwrap().len()).collect();
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
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.restart();
    let back = Instant::now();
    // The store is retried with backoff (at most 2 s apart), so give it that and a little more.
    tokio::time::sleep(Duration::from_millis(4000)).await;
    stop.cancel();
    let g = grants.lock().unwrap().clone();
    // Slots booked before the kill may still be used (at most the outstanding bound, all due
    // within a few intervals); nothing else is let through while Redis is down.
    let during = g
        .iter()
        .filter(|t| **t > killed + Duration::from_millis(1000) && **t < back)
        .count();
    assert_eq!(during, 0, "calls let through while the store was down");
    let after = g.iter().filter(|t| **t > back).count();
    assert!(after >= 10, "only {after} calls after Redis came back");
    assert!(!halt.is_cancelled());
    let ev = events.lock().unwrap().clone();
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
    let waited = tokio::time::timeout(Duration::from_secs(8), p.acquire()).await;
    assert!(waited.is_err(), "a slot was handed out with the store down");
    assert!(halt.is_cancelled(), "the run was not halted");
    assert!(p.halted().is_some());
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, StoreEvent::Halted { .. }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_fallback_paces_at_the_last_known_share() {
    let mut server = RedisServer::start();
    let cfg = config(20.0, OnStoreError::Local, Duration::from_secs(60));
    let (p, events, halt) = pacer(&server.url(), "acct", "a", cfg).await;
    let (other, _, _) = pacer(&server.url(), "acct", "b", cfg).await;
    other.acquire().await;
    p.acquire().await;
    assert_eq!(p.runners(), 2);
    server.kill();
    let stop = CancellationToken::new();
    let grants = drive(p.clone(), 4, stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    let n = grants.lock().unwrap().len();
    // 20/s shared by two runners: about 10/s here, never the whole 20/s.
    assert!(
        (12..=24).contains(&n),
        "{n} calls in 2 s on the local fallback"
    );
    assert!(!halt.is_cancelled());
    assert!(
        matches!(events.lock().unwrap().first(), Some(StoreEvent::Local { rate, .. }) if (*rate - 10.0).abs() < 1e-9)
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
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut con)
            .await
            .unwrap();
    }
    let before = grants.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    assert!(
        grants.lock().unwrap().len() > before,
        "no progress after SCRIPT FLUSH"
    );
    assert!(
        events.lock().unwrap().is_empty(),
        "{:?}",
        events.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttle_seen_by_one_runner_slows_the_others() {
    let server = RedisServer::start();
    let cfg = config(9.7, OnStoreError::Pause, Duration::from_secs(30));
    let (a, _, _) = pacer(&server.url(), "acct", "a", cfg).await;
    let (b, _, _) = pacer(&server.url(), "acct", "b", cfg).await;
    b.acquire().await;
    assert_eq!(b.rate(), 9.7);
    // The executor lowers its pacer's rate on a throttle: reported to the shared schedule.
    a.set_rate(9.7);
    a.set_rate(6.79);
    tokio::time::sleep(Duration::from_millis(300)).await;
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
