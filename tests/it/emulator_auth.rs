//! Signatures, keys, dates and nonces, over real HTTP.

use crate::support::emulator::{How, Signer, t};
use livebatch::emulator::{Clock, Emulator, EmulatorConfig, EmulatorHandle, KeyPair};

async fn start() -> (EmulatorHandle, Signer) {
    let clock = Clock::manual(t("2026-03-01T00:00:00Z"));
    let emu = Emulator::start(EmulatorConfig {
        clock: clock.clone(),
        keys: vec![
            KeyPair::default(),
            KeyPair::new("second-key", "second-secret"),
        ],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let s = Signer::new(&emu.url(), clock);
    (emu, s)
}

const LIST: &str = "DescribeLivePullToPushList";
const P: &[(&str, &str)] = &[("Region", "cn-shanghai")];

#[tokio::test]
async fn v3_get_post_and_v2_are_accepted() {
    let (emu, mut s) = start().await;
    for how in [How::Get, How::PostForm, How::V2] {
        let r = s.call_how(how, LIST, P).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["Total"], 0);
    }
    s.id = "second-key".into();
    s.secret = "second-secret".into();
    assert_eq!(s.call(LIST, P).await.status, 200, "a second key pair");
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn wrong_secret_unknown_key_and_missing_signature() {
    let (emu, mut s) = start().await;
    let date = "2026-03-01T00:00:00Z";
    for how in [How::Get, How::V2] {
        let r = s
            .send(how, LIST, P, date, &s.nonce(), "not-the-secret")
            .await;
        assert_eq!((r.status, r.code()), (400, "SignatureDoesNotMatch"));
    }
    let r = s
        .http
        .get(format!("{}/?Action={LIST}&Region=cn-shanghai", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["Code"], "IncompleteSignature");
    assert!(!body["RequestId"].as_str().unwrap().is_empty());
    s.id = "nobody".into();
    let r = s.call(LIST, P).await;
    assert_eq!((r.status, r.code()), (404, "InvalidAccessKeyId.NotFound"));
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn stale_dates_and_replayed_nonces_are_refused() {
    let (emu, s) = start().await;
    let secret = s.secret.clone();
    for (how, date) in [
        (How::Get, "2026-02-28T23:44:59Z"),
        (How::V2, "2026-03-01T00:15:01Z"),
    ] {
        let r = s.send(how, LIST, P, date, &s.nonce(), &secret).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "InvalidTimeStamp.Expired"),
            "{date}"
        );
    }
    let ok = s
        .send(How::Get, LIST, P, "2026-02-28T23:45:00Z", "n-1", &secret)
        .await;
    assert_eq!(ok.status, 200, "15 minutes exactly is accepted");
    let again = s
        .send(How::Get, LIST, P, "2026-03-01T00:00:00Z", "n-1", &secret)
        .await;
    assert_eq!((again.status, again.code()), (400, "SignatureNonceUsed"));
    let v2 = s
        .send(How::V2, LIST, P, "2026-03-01T00:00:00Z", "n-1", &secret)
        .await;
    assert_eq!(v2.code(), "SignatureNonceUsed", "one nonce space per key");
    let stats = emu.stats();
    assert_eq!(stats.count(LIST, "SignatureNonceUsed"), 2);
    assert_eq!(stats.count(LIST, "ok"), 1);
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_security_token_sent_with_a_permanent_key_is_refused() {
    // A token marks a request as made with STS credentials; a permanent key has none, so the
    // pair is refused rather than the token ignored (the signature itself is valid).
    let (emu, mut s) = start().await;
    s.extra = vec![
        ("x-acs-security-token".into(), "any-token-value".into()),
        ("x-acs-accesskey-id".into(), s.id.clone()),
    ];
    let r = s.call(LIST, P).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidSecurityToken.MismatchWithAccessKey"),
        "{}",
        r.body
    );
    assert_eq!(emu.stats().count(LIST, "ok"), 0);
    emu.shutdown().await.unwrap();
}
