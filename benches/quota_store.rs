//! The quota store's cost: reservations per second from one process, and Redis round trips per
//! reservation (Redis's own `INFO commandstats`). Run by `scripts/bench/quota.sh`, which starts a
//! redis-server; by hand: `cargo bench --bench quota_store -- redis://127.0.0.1:6379`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use livebatch::quota::model::Params;
use livebatch::quota::store::Store;
use livebatch::quota::{QuotaKey, StoreUrl};

async fn evalsha_calls(url: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut con)
        .await
        .unwrap();
    let count = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    count("evalsha") + count("eval") + count("script|load")
}

async fn run(url: &str, tasks: usize, secs: f64) -> (u64, f64) {
    let store = Store::connect(&StoreUrl::parse(url).unwrap())
        .await
        .unwrap();
    // A cap of 1,000,000 calls/s: slots are 1 µs apart, so this measures the store, not pacing.
    let p = Params {
        cap: 1_000_000_000,
        floor: 1_000,
        increase: 1_000,
        cooldown_us: 1_000_000,
        factor_permille: 700,
        lease_us: 15_000_000,
    };
    let key = QuotaKey::new("bench", &format!("Op{tasks}")).unwrap();
    let n = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(secs);
    let mut handles = Vec::new();
    for i in 0..tasks {
        let (store, key, n) = (store.clone(), key.clone(), n.clone());
        handles.push(tokio::spawn(async move {
            let runner = format!("r{i}");
            while Instant::now() < end {
                store.reserve(&key, &runner, &p).await.unwrap();
                n.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    (n.load(Ordering::Relaxed), t0.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::args()
        .skip(1)
        .find(|a| a.starts_with("redis"))
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    for tasks in [1usize, 16, 64] {
        let before = evalsha_calls(&url).await;
        let (n, secs) = run(&url, tasks, 3.0).await;
        let trips = evalsha_calls(&url).await - before;
        println!(
            "  {tasks:>2} concurrent callers: {n} reservations in {secs:.2} s = {:.0}/s; \
             {:.3} script calls per reservation; mean {:.3} ms each",
            n as f64 / secs,
            trips as f64 / n as f64,
            secs * 1000.0 * tasks as f64 / n as f64
        );
    }
}
