//! `quota status` without `--quota-key`: the account of the current credentials, learnt as a
//! run learns it (STS GetCallerIdentity, from the emulator), and said so; `--quota-key` still
//! names another. Against a real redis-server.

use std::time::Duration;

use crate::support::binary::Scratch;
use crate::support::emulator::Emu;
use crate::support::quota::RedisServer;
use assert_cmd::Command;
use livebatch::api::credentials::Secret;
use livebatch::apply::adaptive::AdaptiveConfig;
use livebatch::apply::limiter::Pacer;
use livebatch::emulator::{EmulatorConfig, KeyPair};
use livebatch::quota::pacer::{OnStoreError, SharedConfig, SharedPacer};
use livebatch::quota::store::Store;
use livebatch::quota::{QuotaKey, StoreUrl};

const ACCOUNT: &str = "1234567890123456";

/// A runner `ci-job-9` booking two Update slots on `ACCOUNT`'s schedule, as a run would.
fn book_as_a_run(redis: &RedisServer) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::connect(&StoreUrl::parse(&redis.url()).unwrap())
            .await
            .unwrap();
        let p = SharedPacer::new(
            store,
            QuotaKey::new(ACCOUNT, "UpdateLivePullToPush").unwrap(),
            "ci-job-9".into(),
            SharedConfig {
                adaptive: AdaptiveConfig::for_cap(9.7),
                timeout: Duration::from_secs(60),
                on_error: OnStoreError::Pause,
            },
            tokio_util::sync::CancellationToken::new(),
            |_| {},
        );
        p.acquire().await;
        p.acquire().await;
    });
}

/// `quota status` on `redis` in `s`, signed with the key `ak-ram` and `secret`.
fn status(s: &Scratch, endpoint: &str, redis: &RedisServer, secret: &str) -> Command {
    let mut c = s.unconfigured();
    c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "ak-ram")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret)
        .args(["quota", "status", "--quota-store", &redis.url()])
        .args(["--endpoint", endpoint]);
    c
}

#[test]
fn status_without_quota_key_shows_the_credentials_account_and_says_so() {
    let redis = RedisServer::start();
    // A RAM user's key of ACCOUNT: the account is not the key's own ID.
    let emu = Emu::start(EmulatorConfig {
        keys: vec![KeyPair {
            access_key_id: "ak-ram".into(),
            secret: Secret::new("s2"),
            account_id: ACCOUNT.into(),
        }],
        ..EmulatorConfig::default()
    });
    book_as_a_run(&redis);
    let s = Scratch::new();

    let out = status(&s, &emu.url(), &redis, "s2").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with(&format!(
            "quota store {}, account key {ACCOUNT} (the account of the current credentials, \
             learnt with STS GetCallerIdentity; --quota-key names another)\n",
            redis.url()
        )),
        "{text}"
    );
    // The account is not derived from the key: only the emulator's answer could name it.
    assert!(text.contains("ci-job-9"), "{text}");

    // --quota-key overrides, and nothing is called to learn anything: an endpoint that refuses
    // every connection, and a wrong secret, change nothing.
    let out = status(&s, "http://127.0.0.1:1", &redis, "wrong")
        .args(["--quota-key", "other"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text.starts_with(&format!("quota store {}, account key other\n", redis.url())),
        "{text}"
    );
    assert!(text.contains("no runners share this key now"), "{text}");

    // A key the service refuses: exit 77, the key named, nothing of the secret.
    let out = status(&s, &emu.url(), &redis, "not-the-secret")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("cannot learn the account with GetCallerIdentity")
            && err.contains("pass --quota-key ACCOUNT")
            && err
                .contains("help: the service could not match the signature of AccessKey ID ***ram"),
        "{err}"
    );
    assert!(!err.contains("not-the-secret"), "{err}");
}
