//! The shared quota when Redis fails (issue 22 items 5 and 6): the local fallback of a run that
//! lost the store before any reservation answered divides the quota as if another run shared it,
//! and a password in a `--quota-store` URL never reaches the screen. A real `redis-server`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::binary::lb;
use crate::support::quota::RedisServer;
use livebatch::apply::adaptive::AdaptiveConfig;
use livebatch::quota::pacer::{OnStoreError, SharedConfig, SharedPacer, StoreEvent};
use livebatch::quota::store::Store;
use livebatch::quota::{QuotaKey, StoreUrl};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_lost_before_any_booking_falls_back_to_half_the_quota_not_all_of_it() {
    let mut server = RedisServer::start();
    let store = Store::connect(&StoreUrl::parse(&server.url()).unwrap())
        .await
        .unwrap();
    let events: Arc<Mutex<Vec<StoreEvent>>> = Arc::default();
    let sink = events.clone();
    let p = SharedPacer::new(
        store,
        QuotaKey::new("acct", "UpdateLivePullToPush").unwrap(),
        "only".into(),
        SharedConfig {
            adaptive: AdaptiveConfig::for_cap(20.0),
            timeout: Duration::from_secs(60),
            on_error: OnStoreError::Local,
        },
        CancellationToken::new(),
        move |e| sink.lock().unwrap().push(e.clone()),
    );
    server.kill();
    livebatch::apply::limiter::Pacer::acquire(&p).await;
    let events = events.lock().unwrap();
    match events.first() {
        Some(StoreEvent::Local { rate, .. }) => assert!(
            (*rate - 10.0).abs() < 1e-9,
            "20/s shared by at least two runners is 10/s each, got {rate}"
        ),
        other => panic!("expected the local fallback, got {other:?}"),
    }
}

#[test]
fn a_password_in_the_store_url_query_is_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/migration.yaml"),
        &m,
    )
    .unwrap();
    let out = lb()
        .current_dir(dir.path())
        // Static keys of no account: the URL is refused before any call (port 9 is discard).
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIexample")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-a-secret")
        .args([
            "plan",
            "--endpoint",
            "http://127.0.0.1:9",
            "--quota-key",
            "acct",
            "--quota-store",
            "redis://127.0.0.1:9/0?password=S3cret",
        ])
        .arg(&m)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(64), "{all}");
    assert!(!all.contains("S3cret"), "{all}");
    assert!(all.contains("no query"), "{all}");
}
