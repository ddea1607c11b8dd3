//! Quota, injected faults and the state file, over real HTTP.

use std::sync::Arc;

use crate::support::emulator::{Signer, t};
use livebatch::emulator::{Clock, Emulator, EmulatorConfig, FaultConfig, StatsSnapshot};

const LIST: &str = "DescribeLivePullToPushList";
const P: &[(&str, &str)] = &[("Region", "cn-shanghai")];

#[tokio::test]
async fn a_burst_is_throttled_with_retry_after_and_no_window_exceeds_the_quota() {
    let emu = Emulator::start(EmulatorConfig {
        qps: 3,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let s = Arc::new(Signer::new(&emu.url(), Clock::system()));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let s = s.clone();
        set.spawn(async move { s.call(LIST, P).await });
    }
    let mut throttled = Vec::new();
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        match r.status {
            200 => ok += 1,
            400 => {
                assert_eq!(r.code(), "Throttling.User");
                assert_eq!(
                    r.body["Message"],
                    "Request was denied due to user flow control."
                );
                let ms: u64 = r.retry_after.as_deref().unwrap().parse().unwrap();
                assert!((1..=1000).contains(&ms), "{ms}");
                throttled.push(ms);
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert!(
        ok >= 3 && !throttled.is_empty(),
        "ok {ok}, throttled {}",
        throttled.len()
    );
    // Another operation has its own window.
    let other = s
        .call(
            "DescribeLivePullToPush",
            &[("TaskId", "x"), ("Region", "cn-shanghai")],
        )
        .await;
    assert_eq!(other.code(), "CodeTaskNotExist");

    let text = reqwest::get(format!("{}/_emulator/stats", emu.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let http: StatsSnapshot = serde_json::from_str(&text).unwrap();
    assert_eq!(http.throttled, throttled.len() as u64);
    assert_eq!(http.count(LIST, "Throttling.User"), throttled.len() as u64);
    assert_eq!(http.count(LIST, "ok"), ok);
    assert!(http.max_accepted_in_any_window <= 3);
    assert!(http.max_accepted_in_any_window >= 1);
    let w = http.windows.iter().find(|w| w.action == LIST).unwrap();
    assert_eq!(w.accepted, ok);
    emu.shutdown().await.unwrap();
}

async fn run_faults(seed: u64) -> Vec<u16> {
    let emu = Emulator::start(EmulatorConfig {
        qps: 0,
        faults: FaultConfig {
            fail_rate: 0.3,
            reset_rate: 0.2,
            rng_seed: Some(seed),
            latency_ms: Some((0, 2)),
            ..FaultConfig::default()
        },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let s = Signer::new(&emu.url(), Clock::system());
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let r = s.call(LIST, P).await;
        if r.status == 500 {
            assert_eq!(r.code(), "InternalError");
        }
        if r.status == 503 {
            assert_eq!(r.code(), "ServiceUnavailable");
        }
        statuses.push(r.status);
    }
    let st = emu.stats();
    assert_eq!(
        st.count(LIST, "reset"),
        statuses.iter().filter(|&&c| c == 0).count() as u64
    );
    emu.shutdown().await.unwrap();
    statuses
}

#[tokio::test]
async fn faults_are_injected_and_reproducible_with_a_seed() {
    let a = run_faults(42).await;
    let b = run_faults(42).await;
    assert_eq!(a, b, "same seed, same sequence");
    assert!(a.contains(&0), "some connections dropped: {a:?}");
    assert!(a.contains(&500) || a.contains(&503), "some failures: {a:?}");
    assert!(a.contains(&200));
    assert!(a.iter().all(|c| [0, 200, 500, 503].contains(c)));
}

#[tokio::test]
async fn tasks_survive_a_restart_through_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let clock = Clock::manual(t("2026-03-01T00:00:00Z"));
    let cfg = EmulatorConfig {
        clock: clock.clone(),
        state_file: Some(path.clone()),
        ..EmulatorConfig::default()
    };
    let emu = Emulator::start(cfg.clone()).await.unwrap();
    let s = Signer::new(&emu.url(), clock.clone());
    let r = s
        .call(
            "CreateLivePullToPush",
            &[
                ("Region", "cn-shanghai"),
                ("SourceType", "vod"),
                ("SourceUrls", r#"["3f8e1c2b9a7d4e6f"]"#),
                ("DstUrl", "rtmp://push.example.com/app/s"),
                ("StartTime", "2026-03-01T00:00:00Z"),
                ("EndTime", "2026-03-02T00:00:00Z"),
            ],
        )
        .await;
    let id = r.body["TaskId"].as_str().unwrap().to_string();
    s.call(
        "StopLivePullToPush",
        &[("TaskId", &id), ("Region", "cn-shanghai")],
    )
    .await;
    emu.shutdown().await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&id) && text.contains("livebatch-emulator-state"));
    assert!(!text.contains("secret"));

    let emu = Emulator::start(cfg).await.unwrap();
    let s = Signer::new(&emu.url(), clock);
    let d = s
        .call(
            "DescribeLivePullToPush",
            &[("TaskId", &id), ("Region", "cn-shanghai")],
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.body["TaskStatus"], 3, "still stopped after the restart");
    assert_eq!(emu.tasks().len(), 1);
    emu.shutdown().await.unwrap();
}
