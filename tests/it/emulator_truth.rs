//! Where the truth is hardest: calls applied but never answered, clients that go away, status 2,
//! idle connections, empty nonces — in-process, over real HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::emulator::{Signer, seed_task, t};
use livebatch::emulator::{Clock, Emulator, EmulatorConfig, FaultConfig};
use livebatch::model::{SourceType, TaskStatus};

const UPDATE: &str = "UpdateLivePullToPush";
const DESCRIBE: &str = "DescribeLivePullToPush";

fn live_task(id: &str, status: TaskStatus) -> livebatch::emulator::SeedTask {
    seed_task(
        id,
        SourceType::Live,
        &["rtmp://pull.example.com/app/s"],
        status,
        -3600,
        86_400,
    )
}

fn callback_of(emu: &livebatch::emulator::EmulatorHandle, id: &str) -> String {
    emu.tasks()
        .into_iter()
        .find(|t| t.task_id == id)
        .unwrap()
        .callback_url
}

#[tokio::test]
async fn drop_after_apply_performs_the_update_and_never_answers() {
    let emu = Emulator::start(EmulatorConfig {
        seed: vec![live_task("a", TaskStatus::Stopped)],
        faults: FaultConfig {
            drop_after_apply_rate: 1.0,
            ..Default::default()
        },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let s = Signer::new(&emu.url(), Clock::system());
    let r = s
        .call(
            UPDATE,
            &[
                ("TaskId", "a"),
                ("Region", "cn-shanghai"),
                ("CallbackUrl", "https://hooks.example.com/new"),
            ],
        )
        .await;
    assert_eq!(r.status, 0, "no answer: {}", r.body);
    assert_eq!(callback_of(&emu, "a"), "https://hooks.example.com/new");
    assert_eq!(emu.stats().count(UPDATE, "dropped after apply"), 1);
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_admitted_request_takes_effect_although_its_client_went_away() {
    let emu = Emulator::start(EmulatorConfig {
        seed: vec![live_task("a", TaskStatus::Stopped)],
        faults: FaultConfig {
            latency_ms: Some((400, 400)),
            ..Default::default()
        },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let mut s = Signer::new(&emu.url(), Clock::system());
    s.http = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let r = s
        .call(
            UPDATE,
            &[
                ("TaskId", "a"),
                ("Region", "cn-shanghai"),
                ("CallbackUrl", "https://hooks.example.com/late"),
            ],
        )
        .await;
    assert_eq!(r.status, 0, "the client gave up first");
    // The server finishes the admitted request on its own (400 ms of latency; allow plenty).
    let mut applied = false;
    for _ in 0..100 {
        if callback_of(&emu, "a") == "https://hooks.example.com/late" {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        applied,
        "the update took effect after the client disconnected"
    );
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_empty_nonce_is_refused_every_time() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s = Signer::new(&emu.url(), Clock::system());
    let date = Clock::system().now().to_string();
    for how in [
        crate::support::emulator::How::Get,
        crate::support::emulator::How::V2,
    ] {
        for _ in 0..2 {
            let r = s
                .send(
                    how,
                    "DescribeLivePullToPushList",
                    &[("Region", "cn-shanghai")],
                    &date,
                    "",
                    livebatch::emulator::DEFAULT_ACCESS_KEY_SECRET,
                )
                .await;
            assert_eq!(r.status, 400, "{}", r.body);
            assert_eq!(r.code(), "MissingParameter", "{}", r.body);
        }
    }
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn running_tasks_turn_abnormal_on_the_clock_and_follow_the_running_rules() {
    let clock = Clock::manual(t("2026-03-01T00:00:00Z"));
    let mut task = live_task("a", TaskStatus::Running);
    task.start_time = t("2026-03-01T00:00:00Z");
    task.end_time = t("2026-03-03T00:00:00Z");
    let emu = Emulator::start(EmulatorConfig {
        clock: clock.clone(),
        seed: vec![task],
        faults: FaultConfig {
            abnormal_rate: 1.0,
            rng_seed: Some(1),
            ..Default::default()
        },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let s = Signer::new(&emu.url(), clock.clone());
    let id = [("TaskId", "a"), ("Region", "cn-shanghai")];
    clock.advance(601); // past the longest delay
    let d = s.call(DESCRIBE, &id).await;
    assert_eq!(d.body["TaskStatus"], 2, "{}", d.body);
    assert_eq!(d.body["TaskInvalidReason"], "PullStreamFailed");
    let sources = s
        .call(
            UPDATE,
            &[
                ("TaskId", "a"),
                ("Region", "cn-shanghai"),
                ("SourceUrls", r#"["rtmp://pull.example.com/app/other"]"#),
            ],
        )
        .await;
    assert_eq!(sources.status, 400, "running rules: {}", sources.body);
    let cb = s
        .call(
            UPDATE,
            &[
                ("TaskId", "a"),
                ("Region", "cn-shanghai"),
                ("CallbackUrl", "https://hooks.example.com/new"),
            ],
        )
        .await;
    assert_eq!(cb.status, 200, "{}", cb.body);
    let stop = s.call("StopLivePullToPush", &id).await;
    assert_eq!(stop.status, 200, "{}", stop.body);
    assert_eq!(s.call(DESCRIBE, &id).await.body["TaskStatus"], 3);
    emu.shutdown().await.unwrap();
}

/// Waits for the server to close `c`: `Ok` on end of stream; an error when a byte arrives instead
/// or nothing happens for 20 s (the connection is still open).
fn closed_by_server(mut c: TcpStream) -> Result<(), String> {
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 64];
    match c.read(&mut buf) {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!("the server sent {n} bytes instead of closing")),
        Err(e) => Err(format!("still open after 20 s ({e})")),
    }
}

/// A connection that was answered one request and kept alive: the stats (unsigned), read whole.
fn answered_once(addr: std::net::SocketAddr) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(b"GET /_emulator/stats HTTP/1.1\r\nHost: emulator\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the answer was complete");
        got.extend_from_slice(&buf[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .expect("a content-length");
        if got.len() >= end + 4 + len {
            assert!(head.starts_with("http/1.1 200"), "{head}");
            assert!(!head.contains("connection: close"), "kept alive: {head}");
            return c;
        }
    }
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let emu = Emulator::start(EmulatorConfig {
        idle_timeout: Some(Duration::from_millis(200)),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let addr = emu.addr();
    // Closed by the server, both: a connection that never sent a request, and one kept alive
    // after its answer (the case a pooling client meets).
    let (never_used, after_a_request) = tokio::task::spawn_blocking(move || {
        let never_used = closed_by_server(TcpStream::connect(addr).unwrap());
        let after_a_request = closed_by_server(answered_once(addr));
        (never_used, after_a_request)
    })
    .await
    .unwrap();
    assert_eq!(never_used, Ok(()), "a connection that never sent a request");
    assert_eq!(after_a_request, Ok(()), "a connection idle after a request");
    // A pooling client whose idle connection was closed simply opens another one.
    let s = Signer::new(&emu.url(), Clock::system());
    let list = [("Region", "cn-shanghai")];
    assert_eq!(
        s.call("DescribeLivePullToPushList", &list).await.status,
        200
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        s.call("DescribeLivePullToPushList", &list).await.status,
        200
    );
    emu.shutdown().await.unwrap();
}
