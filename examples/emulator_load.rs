//! Load benchmark of the emulator: pre-signed V3 requests over many keep-alive connections.
//!
//! cargo run --release --example emulator_load -- [REQUESTS] [CONCURRENCY] [URL] [--update] [--state FILE]
//!
//! Without URL it starts an emulator in-process (quota raised out of the way, no faults) with one
//! seeded task — with `--state FILE`, durable (every change fsync'd before its answer); with URL
//! it targets a running `livebatch emulator --qps 1000000` that already holds task `bench-task`
//! in cn-shanghai. `--update` sends `UpdateLivePullToPush` (a write: each one is logged and, with
//! a state file, made durable) instead of `DescribeLivePullToPush`. Signing happens before the
//! clock starts, so the figure is the emulator's (plus the HTTP client's), not the signer's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use livebatch::api::sign;
use livebatch::emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, Emulator, EmulatorConfig, SeedTask,
};
use livebatch::model::{ApiTime, Region, SourceType, TaskStatus};

fn seed_task() -> SeedTask {
    let now = chrono::Utc::now().timestamp();
    SeedTask {
        task_id: "bench-task".into(),
        region: Region::CnShanghai,
        task_name: "bench".into(),
        source_type: SourceType::Live,
        source_protocol: "rtmp".into(),
        source_urls: vec!["rtmp://pull.example.com/app/s".into()],
        dst_url: "rtmp://push.example.com/app/s".into(),
        start_time: ApiTime::from_unix(now - 60).unwrap(),
        end_time: ApiTime::from_unix(now + 86_400).unwrap(),
        callback_url: String::new(),
        repeat_number: 0,
        offset: 0,
        file_index: 0,
        retry_count: 3,
        retry_interval: 60,
        task_status: TaskStatus::NotStarted,
        task_exit_reason: None,
        task_exit_time: None,
        restarted_at: None,
    }
}

struct Signed {
    url: String,
    headers: Vec<(String, String)>,
}

fn presign(base: &str, n: usize, update: bool) -> Vec<Signed> {
    let host = base.trim_start_matches("http://").to_string();
    let date = ApiTime::from_unix(chrono::Utc::now().timestamp())
        .unwrap()
        .to_string();
    let mut query: Vec<(String, String)> = vec![
        ("Region".into(), "cn-shanghai".into()),
        ("TaskId".into(), "bench-task".into()),
    ];
    if update {
        query.insert(
            0,
            (
                "CallbackUrl".into(),
                "https://hooks.example.com/bench".into(),
            ),
        );
    }
    let action = if update {
        "UpdateLivePullToPush"
    } else {
        "DescribeLivePullToPush"
    };
    let q = sign::canonical_query(&query);
    (0..n)
        .map(|i| {
            let headers = vec![
                ("host".to_string(), host.clone()),
                ("x-acs-action".into(), action.into()),
                ("x-acs-version".into(), "2016-11-01".into()),
                ("x-acs-date".into(), date.clone()),
                (
                    "x-acs-signature-nonce".into(),
                    format!("bench-{i}-{}", rand::random::<u64>()),
                ),
                ("x-acs-content-sha256".into(), sign::EMPTY_SHA256.into()),
            ];
            let req = sign::V3Request {
                method: "GET",
                path: "/",
                query: &query,
                headers: &headers,
                payload_sha256: sign::EMPTY_SHA256,
            };
            let auth =
                sign::v3_authorization(&req, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET);
            let mut headers: Vec<_> = headers.into_iter().filter(|(k, _)| k != "host").collect();
            headers.push(("authorization".into(), auth));
            Signed {
                url: format!("{base}/?{q}"),
                headers,
            }
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let update = all.iter().any(|a| a == "--update");
    let state = all
        .iter()
        .position(|a| a == "--state")
        .and_then(|i| all.get(i + 1))
        .map(std::path::PathBuf::from);
    let args: Vec<&String> = all
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || all[i - 1] != "--state"))
        .map(|(_, a)| a)
        .collect();
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(40_000);
    let conc: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(32);
    let (emu, base) = match args.get(2) {
        Some(u) => (None, u.trim_end_matches('/').to_string()),
        None => {
            if let Some(p) = &state {
                let _ = std::fs::remove_file(p);
            }
            let e = Emulator::start(EmulatorConfig {
                qps: 1_000_000,
                seed: vec![seed_task()],
                state_file: state.clone(),
                ..EmulatorConfig::default()
            })
            .await
            .expect("emulator starts");
            let u = e.url();
            (Some(e), u)
        }
    };
    let reqs = Arc::new(presign(&base, n, update));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conc)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..conc {
        let (reqs, next, ok, client) = (reqs.clone(), next.clone(), ok.clone(), client.clone());
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(r) = reqs.get(i) else { break };
                let mut b = client.get(&r.url);
                for (k, v) in &r.headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                if let Ok(resp) = b.send().await {
                    let good = resp.status().is_success();
                    let _ = resp.bytes().await;
                    if good {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    let secs = started.elapsed().as_secs_f64();
    let ok = ok.load(Ordering::Relaxed);
    println!(
        "emulator_load: {n} {} requests, {conc} connections, {ok} ok, {secs:.2} s, {:.0} requests/s",
        if update { "Update" } else { "Describe" },
        n as f64 / secs
    );
    if let Some(e) = emu {
        let st = e.stats();
        println!(
            "emulator stats: requests {}, ok {}, max accepted in any 1 s window {}",
            st.requests,
            st.count(
                if update {
                    "UpdateLivePullToPush"
                } else {
                    "DescribeLivePullToPush"
                },
                "ok"
            ),
            st.max_accepted_in_any_window
        );
        e.shutdown().await.expect("shutdown");
    }
    if ok != n {
        std::process::exit(1);
    }
}
