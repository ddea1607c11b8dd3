//! Benchmark of the apply engine's pacing in real time, with an in-process fake sender whose
//! latency is uniform in [100, 300] ms (the emulator latency), so what is measured is the
//! engine alone: achieved updates/s against the 10 calls/s quota and the busiest 1-s window.
//!
//! `cargo run --release --example apply_pace -- [ITEMS] [QPS]` (defaults: 600 items, 10 calls/s).
//! Sends nothing over any network.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use livebatch::api::error::ApiError;
use livebatch::api::models::{ListResponse, TaskState};
use livebatch::apply::config::ExecConfig;
use livebatch::apply::dispatch::{RunContext, run};
use livebatch::apply::engine::Engine;
use livebatch::apply::item::WorkItem;
use livebatch::apply::journal::{Journal, JournalState, JournalWriter, RunHeader};
use livebatch::apply::ops::{Sent, TaskOps};
use livebatch::apply::progress::Silent;
use livebatch::model::{Region, Update};
use livebatch::pace::PACE_HEADROOM;
use livebatch::pace::Pacers;
use rand::Rng;
use tokio_util::sync::CancellationToken;

struct Fake {
    sent: Mutex<Vec<Instant>>,
}

impl TaskOps for Fake {
    async fn stop(&self, _: &str, _: Region) -> Result<Sent, ApiError> {
        unreachable!("this benchmark only updates")
    }
    async fn restart(&self, _: &str, _: Region) -> Result<Sent, ApiError> {
        unreachable!("this benchmark only updates")
    }
    async fn describe(&self, _: &str, _: Region) -> Result<Option<TaskState>, ApiError> {
        unreachable!("this benchmark only updates")
    }
    async fn list_page(&self, _: Region, _: u32, _: u32) -> Result<ListResponse, ApiError> {
        unreachable!("this benchmark only updates")
    }
    async fn update(&self, _u: &Update) -> Result<Sent, ApiError> {
        self.sent.lock().unwrap().push(Instant::now());
        let ms = rand::rng().random_range(100..=300);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(Sent {
            request_id: String::new(),
        })
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(600);
    let qps: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.journal.jsonl");
    let journal = Journal::with_group_commit(
        JournalWriter::open(&path, &RunHeader::now(&[])).expect("journal"),
    );
    let items: Vec<WorkItem> = (0..n)
        .map(|i| {
            let mut u = Update::new(format!("task-{i:05}"), Region::CnShanghai);
            u.repeat_number = Some(-1);
            WorkItem::new(u, format!("bench.yaml:{}", i + 1))
        })
        .collect();
    let fake = Arc::new(Fake {
        sent: Mutex::new(Vec::new()),
    });
    let config = ExecConfig::new(qps);
    let pacers = Pacers::governed(qps, PACE_HEADROOM).expect("qps");
    let ctx = RunContext {
        engine: Arc::new(Engine::new(fake.clone(), pacers, &config)),
        journal: &journal,
        previous: &JournalState::default(),
        config: &config,
        cancel: CancellationToken::new(),
        progress: &Silent,
        halt: None,
        rollout: None,
    };
    let applied = run(items, &ctx).await;
    let summary = livebatch::report::stats::summarize(&applied.record);
    let mut t = fake.sent.lock().unwrap().clone();
    t.sort();
    let busiest = (0..t.len())
        .map(|i| {
            t[i..]
                .iter()
                .take_while(|x| x.duration_since(t[i]) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    let tt = &summary;
    println!(
        "items {n} qps {qps}: succeeded {} in {:.2} s = {:.2} updates/s ({:.1}% of quota); busiest 1-s window {busiest} calls; latency p50 {:.0} ms p95 {:.0} ms p99 {:.0} ms",
        tt.succeeded,
        tt.elapsed_seconds,
        tt.updates_per_second,
        tt.updates_per_second / qps * 100.0,
        tt.latency_ms.p50.unwrap_or(0.0),
        tt.latency_ms.p95.unwrap_or(0.0),
        tt.latency_ms.p99.unwrap_or(0.0),
    );
}
