//! The admission pipeline: from the bytes of a request to an admitted call, or its answer.
//!
//! Each check is a small step that either lets the request go on — with what it found — or ends
//! it with an answer. The order is the contract, and the tests below hold it:
//! body → jitter hold → parameters → (STS `AssumeRoleWithOIDC`, unsigned) → signature and date →
//! nonce → (signed STS calls) → operation known → API version → quota → admitted. A request
//! refused by a step never reaches the ones after it: a bad signature or a replayed nonce uses no
//! quota, and a throttled call is never performed. What happens after admission is
//! [`super::dispatch`].

use std::net::SocketAddr;
use std::ops::ControlFlow::{self, Break, Continue};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::Request;
use hyper::body::Body;
use hyper::header::CONTENT_TYPE;
use hyper::http::request::Parts;

use super::dispatch::{self, Admitted};
use super::{
    Answer, MAX_BODY, Resp, STATS_PATH, Shared, error_response, json_response, refuse, request_id,
};
use crate::api::models::{API_VERSION, action};
use crate::api::sign;
use crate::api::sts::{STS_API_VERSION, action as sts_action};
use crate::emulator::auth::{self, SignedRequest, Verified};
use crate::emulator::operations::Params;
use crate::emulator::sts::{self as emu_sts, IssuedKey};
use crate::emulator::{ApiFault, KeyPair};
use crate::model::ApiTime;

/// What a step decides: go on with what it found, or end the request with this answer.
type Step<T> = ControlFlow<Answer, T>;

/// A request as read, before any check.
struct Received {
    request_id: String,
    method: String,
    path: String,
    /// Every header, names as received.
    headers: Vec<(String, String)>,
    /// Decoded query parameters.
    query: Vec<(String, String)>,
    /// Query and form body merged.
    params: Params,
    body: Bytes,
    /// The operation the request names, before its signature is checked: what a refused
    /// signature is counted under.
    claimed: Option<String>,
    /// Addressed to STS (version 2015-04-01), which shares the port.
    is_sts: bool,
    /// The emulator's clock when the request was read: dates, nonces and STS expiries are
    /// checked against it.
    now: ApiTime,
}

/// Who signed a request whose signature checked out.
struct Caller {
    verified: Verified,
    /// Set when the key is a temporary one STS issued.
    temporary: Option<IssuedKey>,
    /// The account whose quota the call counts against.
    account: String,
}

/// One request, from its bytes to its answer. The stats path is answered first (unsigned,
/// loopback only, and drawing no fault); every other request draws its faults on arrival, is read
/// and held for its jitter, then goes through [`admit`] and, admitted, to
/// [`dispatch::run_admitted`].
pub(super) async fn handle<B>(shared: Arc<Shared>, peer: SocketAddr, req: Request<B>) -> Answer
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let rid = request_id();
    if req.uri().path() == STATS_PATH {
        return Ok(stats_response(&shared, peer, &rid));
    }
    let draw = shared.faults.draw();
    let (parts, body) = req.into_parts();
    let body = match read_body(&shared, body, &rid).await {
        Continue(body) => body,
        Break(answer) => return answer,
    };
    if !draw.jitter.is_zero() {
        tokio::time::sleep(draw.jitter).await;
    }
    match admit(&shared, &parts, body, rid) {
        Continue(call) => dispatch::run_admitted(shared, call, draw).await,
        Break(answer) => answer,
    }
}

/// The checks between a request read and an admitted call, in order; the first that answers ends
/// the request.
fn admit(shared: &Shared, parts: &Parts, body: Bytes, rid: String) -> Step<Admitted> {
    let req = receive(shared, parts, body, rid)?;
    sts_unsigned(shared, &req)?;
    let caller = authenticate(shared, &req)?;
    check_nonce(shared, &caller, &req)?;
    sts_signed(shared, &caller, &req)?;
    let act = known_action(shared, &caller, &req)?;
    check_version(shared, act, &caller, &req)?;
    check_quota(shared, act, &caller, &req)?;
    Continue(admitted(shared, act, &caller, req))
}

/// The body, up to [`MAX_BODY`] bytes.
async fn read_body<B>(shared: &Shared, body: B, rid: &str) -> Step<Bytes>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => Continue(b.to_bytes()),
        Err(_) => {
            let f = ApiFault::bad(
                "InvalidParameter",
                format!("The request body is unreadable or larger than {MAX_BODY} bytes."),
            );
            Break(refuse(shared, "-", &f, rid))
        }
    }
}

/// The request's parameters decoded, and what it says it is.
fn receive(shared: &Shared, parts: &Parts, body: Bytes, rid: String) -> Step<Received> {
    let (query, params) = match prepare(parts, &body) {
        Ok(x) => x,
        Err(f) => return Break(refuse(shared, "-", &f, &rid)),
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let claimed = params
        .get("Action")
        .map(str::to_string)
        .or_else(|| header("x-acs-action"));
    let version = params
        .get("Version")
        .map(str::to_string)
        .or_else(|| header("x-acs-version"));
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Continue(Received {
        request_id: rid,
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        headers,
        query,
        params,
        body,
        claimed,
        is_sts: version.as_deref() == Some(STS_API_VERSION),
        now: shared.clock.now(),
    })
}

/// STS's `AssumeRoleWithOIDC` is unsigned, so it is answered before the signature check.
fn sts_unsigned(shared: &Shared, req: &Received) -> Step<()> {
    if req.is_sts && req.claimed.as_deref() == Some(sts_action::ASSUME_ROLE_WITH_OIDC) {
        let r = dispatch::sts_unsigned(shared, &req.params, req.now, &req.request_id);
        return Break(Ok(r));
    }
    Continue(())
}

/// The signature and date. A temporary key is verified with its own secret, then its token and
/// expiry are checked; a permanent key must come without a token. Refusals are counted under the operation the request claims.
fn authenticate(shared: &Shared, req: &Received) -> Step<Caller> {
    let temporary = emu_sts::claimed_key_id(&req.headers, &req.params.0)
        .and_then(|id| shared.sts().lookup(&id));
    let keys: &[KeyPair] = match &temporary {
        Some(t) => std::slice::from_ref(&t.key),
        None => &shared.keys,
    };
    let signed = SignedRequest {
        method: &req.method,
        path: &req.path,
        query: &req.query,
        params: &req.params.0,
        headers: &req.headers,
        body: &req.body,
    };
    let checked =
        auth::verify(&signed, keys, req.now, shared.max_skew).and_then(|v| match &temporary {
            Some(t) => {
                emu_sts::check_temporary(t, &req.headers, &req.params.0, req.now).map(|()| v)
            }
            None => auth::check_permanent(&req.headers, &req.params.0).map(|()| v),
        });
    let verified = match checked {
        Ok(v) => v,
        Err(f) => {
            let label = label(req.claimed.as_deref());
            return Break(refuse(shared, label, &f, &req.request_id));
        }
    };
    let account = match &temporary {
        Some(t) => t.key.account_id.clone(),
        None => shared
            .keys
            .iter()
            .find(|k| k.access_key_id == verified.access_key_id)
            .map(|k| k.account_id.clone())
            .unwrap_or_default(),
    };
    Continue(Caller {
        verified,
        temporary,
        account,
    })
}

/// The nonce: one use per key within the date window (an empty one is refused by the signature
/// check already).
fn check_nonce(shared: &Shared, caller: &Caller, req: &Received) -> Step<()> {
    let v = &caller.verified;
    let fresh = shared
        .nonces
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .check_and_insert(&v.access_key_id, &v.nonce, req.now.unix(), shared.max_skew);
    if fresh {
        return Continue(());
    }
    let f = auth::nonce_used(&v.nonce);
    Break(refuse(
        shared,
        label(v.action.as_deref()),
        &f,
        &req.request_id,
    ))
}

/// Signed STS calls are answered here: they are not Live operations and use no Live quota.
fn sts_signed(shared: &Shared, caller: &Caller, req: &Received) -> Step<()> {
    if !req.is_sts {
        return Continue(());
    }
    Break(Ok(dispatch::sts_signed(
        shared,
        caller.verified.action.as_deref(),
        &caller.verified.access_key_id,
        caller.temporary.as_ref(),
        &req.params,
        req.now,
        &req.request_id,
    )))
}

/// The operation: one of the seven, as signed.
fn known_action(shared: &Shared, caller: &Caller, req: &Received) -> Step<&'static str> {
    let named = caller.verified.action.as_deref();
    if let Some(act) = named.and_then(|n| action::ALL.into_iter().find(|a| *a == n)) {
        return Continue(act);
    }
    let f = match named {
        None => ApiFault::missing("Action"),
        Some(a) => ApiFault::new(
            404,
            "InvalidAction.NotFound",
            format!("Specified api {a} is not found, please check your url and method."),
        ),
    };
    Break(refuse(shared, "-", &f, &req.request_id))
}

/// The API version, as signed.
fn check_version(shared: &Shared, act: &str, caller: &Caller, req: &Received) -> Step<()> {
    let version = caller.verified.api_version.as_deref();
    if version == Some(API_VERSION) {
        return Continue(());
    }
    let f = ApiFault::bad(
        "InvalidVersion",
        format!(
            "Specified parameter Version {:?} is not valid; this API is {API_VERSION}.",
            version.unwrap_or_default()
        ),
    );
    Break(refuse(shared, act, &f, &req.request_id))
}

/// The quota of the caller's account for this operation; a call refused here is not counted.
fn check_quota(shared: &Shared, act: &str, caller: &Caller, req: &Received) -> Step<()> {
    let Err(wait_ms) = shared.limiter.admit(&caller.account, act) else {
        return Continue(());
    };
    let mut f = ApiFault::bad(
        "Throttling.User",
        "Request was denied due to user flow control.",
    );
    f.retry_after_ms = Some(wait_ms);
    Break(refuse(shared, act, &f, &req.request_id))
}

/// Admitted: counted in the busiest-window measure, and handed to dispatch.
fn admitted(shared: &Shared, act: &'static str, caller: &Caller, req: Received) -> Admitted {
    shared.stats.accepted(&caller.verified.access_key_id, act);
    Admitted {
        action: act,
        params: req.params,
        request_id: req.request_id,
    }
}

/// What a refusal is counted under: the operation when it is one of the seven, else `-`.
fn label(named: Option<&str>) -> &str {
    match named {
        Some(a) if action::ALL.contains(&a) => a,
        _ => "-",
    }
}

/// Decoded query parameters, and the query and form body merged.
fn prepare(parts: &Parts, body: &[u8]) -> Result<(Vec<(String, String)>, Params), ApiFault> {
    let bad_utf8 = |_| {
        ApiFault::bad(
            "InvalidParameter",
            "A parameter is not valid percent-encoded UTF-8.",
        )
    };
    let query = sign::parse_query(parts.uri.query().unwrap_or(""), true).map_err(bad_utf8)?;
    let mut all = query.clone();
    let is_form = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if is_form && !body.is_empty() {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiFault::bad("InvalidParameter", "The form body is not UTF-8."))?;
        all.extend(sign::parse_query(text, true).map_err(bad_utf8)?);
    }
    Ok((query, Params(all)))
}

/// The emulator's own counters, for loopback peers only.
fn stats_response(shared: &Shared, peer: SocketAddr, rid: &str) -> Resp {
    if !peer.ip().is_loopback() {
        let f = ApiFault::new(
            403,
            "Forbidden",
            "The emulator's stats are served to loopback peers only.",
        );
        return error_response(&f, rid);
    }
    let body = serde_json::to_value(shared.stats.snapshot()).unwrap_or_default();
    json_response(200, &body, rid)
}

#[cfg(test)]
mod tests {
    //! The admission order, without a TCP server: requests built in memory, signed as a client
    //! signs them, straight into [`handle`].

    use std::sync::Mutex;
    use std::time::Duration;

    use http_body_util::Full;

    use super::*;
    use crate::emulator::faults::FaultConfig;
    use crate::emulator::quota::Limiter;
    use crate::emulator::stats::StatsSnapshot;
    use crate::emulator::store::Store;
    use crate::emulator::task::SeedTask;
    use crate::emulator::{
        Clock, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, EmulatorConfig,
    };
    use crate::model::{Region, SourceType, TaskStatus};

    const NOW: &str = "2026-03-01T00:00:00Z";
    const LIST: &str = action::DESCRIBE_LIST;
    const UPDATE: &str = action::UPDATE;
    const SECRET: &str = DEFAULT_ACCESS_KEY_SECRET;
    const HOUR: i64 = 3600;

    fn at(offset_secs: i64) -> ApiTime {
        ApiTime::from_unix(ApiTime::parse(NOW).unwrap().unix() + offset_secs).unwrap()
    }

    /// A server's state with no server: a manual clock, `limit` calls per operation in any hour
    /// (an hour, so that nothing here depends on how fast the machine runs it), `faults`, and one
    /// stopped task `a`, whose callback an Update may change.
    fn shared(limit: u32, faults: FaultConfig) -> Arc<Shared> {
        let cfg = EmulatorConfig {
            qps: limit,
            faults,
            clock: Clock::manual(at(0)),
            ..EmulatorConfig::default()
        };
        let task = SeedTask {
            task_id: "a".into(),
            region: Region::CnShanghai,
            task_name: String::new(),
            source_type: SourceType::Live,
            source_protocol: "rtmp".into(),
            source_urls: vec!["rtmp://pull.example.com/app/s".into()],
            dst_url: "rtmp://push.example.com/app/a".into(),
            start_time: at(-HOUR),
            end_time: at(24 * HOUR),
            callback_url: String::new(),
            repeat_number: 0,
            offset: 0,
            file_index: 0,
            retry_count: 3,
            retry_interval: 60,
            task_status: TaskStatus::Stopped,
            task_exit_reason: None,
            task_exit_time: None,
            restarted_at: None,
        };
        let mut store = Store::new();
        store.seed(vec![task]).unwrap();
        let mut s = Shared::new(&cfg, Arc::new(Mutex::new(store)), None);
        s.limiter = Limiter::with_window(limit, Duration::from_secs(3600));
        Arc::new(s)
    }

    /// A V3-signed GET, as a client sends it, signed with `secret` and using `nonce`.
    fn signed(
        act: &str,
        params: &[(&str, &str)],
        nonce: &str,
        secret: &str,
    ) -> Request<Full<Bytes>> {
        let query: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let payload = sign::sha256_hex(b"");
        let headers = vec![
            ("host".to_string(), "127.0.0.1:9".to_string()),
            ("x-acs-action".into(), act.into()),
            ("x-acs-version".into(), API_VERSION.into()),
            ("x-acs-date".into(), NOW.into()),
            ("x-acs-signature-nonce".into(), nonce.into()),
            ("x-acs-content-sha256".into(), payload.clone()),
        ];
        let v3 = sign::V3Request {
            method: "GET",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: &payload,
        };
        let authorization = sign::v3_authorization(&v3, DEFAULT_ACCESS_KEY_ID, secret);
        let mut b = Request::builder()
            .method("GET")
            .uri(format!("/?{}", sign::canonical_query(&query)));
        for (k, v) in &headers {
            b = b.header(k.as_str(), v.as_str());
        }
        b.header("authorization", authorization)
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    fn list(nonce: &str, secret: &str) -> Request<Full<Bytes>> {
        signed(LIST, &[("Region", "cn-shanghai")], nonce, secret)
    }

    fn update_callback(nonce: &str, url: &str) -> Request<Full<Bytes>> {
        let p = [
            ("TaskId", "a"),
            ("Region", "cn-shanghai"),
            ("CallbackUrl", url),
        ];
        signed(UPDATE, &p, nonce, SECRET)
    }

    async fn answer(s: &Arc<Shared>, req: Request<Full<Bytes>>) -> Answer {
        handle(s.clone(), SocketAddr::from(([127, 0, 0, 1], 9)), req).await
    }

    /// The status and the error code answered (`ok` for a success).
    async fn reply(s: &Arc<Shared>, req: Request<Full<Bytes>>) -> (u16, String) {
        let resp = answer(s, req).await.expect("answered, not dropped");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let code = v["Code"].as_str().unwrap_or("ok").to_string();
        (status, code)
    }

    fn callback(s: &Shared) -> String {
        s.store().get("a").unwrap().callback_url.clone()
    }

    fn accepted(stats: &StatsSnapshot, act: &str) -> u64 {
        stats
            .windows
            .iter()
            .filter(|w| w.action == act)
            .map(|w| w.accepted)
            .sum()
    }

    fn ok() -> (u16, String) {
        (200, "ok".into())
    }

    fn refused(status: u16, code: &str) -> (u16, String) {
        (status, code.into())
    }

    #[tokio::test]
    async fn a_bad_signature_is_refused_for_it_before_the_quota_and_uses_none() {
        let s = shared(1, FaultConfig::default());
        let bad = refused(400, "SignatureDoesNotMatch");
        assert_eq!(reply(&s, list("n1", "wrong-secret")).await, bad);
        assert_eq!(reply(&s, list("n2", SECRET)).await, ok(), "quota left");
        // The one call the quota allows is used: a bad signature is still refused for the
        // signature, not for the quota.
        assert_eq!(reply(&s, list("n3", "wrong-secret")).await, bad);
        assert_eq!(
            reply(&s, list("n4", SECRET)).await,
            refused(400, "Throttling.User")
        );
        let stats = s.stats.snapshot();
        assert_eq!(stats.count(LIST, "SignatureDoesNotMatch"), 2);
        assert_eq!(accepted(&stats, LIST), 1);
    }

    #[tokio::test]
    async fn a_replayed_nonce_is_refused_and_uses_no_quota() {
        let s = shared(2, FaultConfig::default());
        let replay = refused(400, "SignatureNonceUsed");
        assert_eq!(reply(&s, list("n1", SECRET)).await, ok());
        assert_eq!(reply(&s, list("n1", SECRET)).await, replay);
        assert_eq!(reply(&s, list("n2", SECRET)).await, ok(), "quota left");
        // Over quota now: a replay is still refused as a replay.
        assert_eq!(reply(&s, list("n1", SECRET)).await, replay);
        assert_eq!(
            reply(&s, list("n3", SECRET)).await,
            refused(400, "Throttling.User")
        );
        assert_eq!(accepted(&s.stats.snapshot(), LIST), 2);
    }

    #[tokio::test]
    async fn a_throttled_change_is_not_applied() {
        let s = shared(1, FaultConfig::default());
        let first = "https://hooks.example.com/first";
        assert_eq!(reply(&s, update_callback("n1", first)).await, ok());
        let second = update_callback("n2", "https://hooks.example.com/second");
        assert_eq!(reply(&s, second).await, refused(400, "Throttling.User"));
        assert_eq!(callback(&s), first);
    }

    #[tokio::test]
    async fn a_failure_injected_after_admission_counts_as_admitted_and_changes_nothing() {
        let faults = FaultConfig {
            fail_rate: 1.0,
            rng_seed: Some(7),
            ..FaultConfig::default()
        };
        let s = shared(1, faults);
        let (status, code) = reply(&s, update_callback("n1", "https://hooks.example.com/x")).await;
        assert!(
            matches!(
                (status, code.as_str()),
                (500, "InternalError") | (503, "ServiceUnavailable")
            ),
            "{status} {code}"
        );
        assert_eq!(callback(&s), "", "not performed");
        assert_eq!(accepted(&s.stats.snapshot(), UPDATE), 1);
        // It used the quota's one call.
        let next = update_callback("n2", "https://hooks.example.com/y");
        assert_eq!(reply(&s, next).await, refused(400, "Throttling.User"));
    }

    #[tokio::test]
    async fn a_reset_drops_the_call_before_the_operation() {
        let faults = FaultConfig {
            reset_rate: 1.0,
            rng_seed: Some(7),
            ..FaultConfig::default()
        };
        let s = shared(1, faults);
        let dropped = answer(&s, update_callback("n1", "https://hooks.example.com/x")).await;
        assert!(dropped.is_err(), "no answer");
        assert_eq!(callback(&s), "", "not performed");
        let stats = s.stats.snapshot();
        assert_eq!(stats.count(UPDATE, "reset"), 1);
        assert_eq!(accepted(&stats, UPDATE), 1);
    }

    #[tokio::test]
    async fn a_drop_after_apply_applies_the_change_and_answers_nothing() {
        let faults = FaultConfig {
            drop_after_apply_rate: 1.0,
            rng_seed: Some(7),
            ..FaultConfig::default()
        };
        let s = shared(1, faults);
        let url = "https://hooks.example.com/applied";
        let dropped = answer(&s, update_callback("n1", url)).await;
        assert!(dropped.is_err(), "no answer");
        assert_eq!(callback(&s), url, "performed");
        assert_eq!(s.stats.snapshot().count(UPDATE, "dropped after apply"), 1);
    }

    #[tokio::test]
    async fn checks_before_the_quota_use_none_of_it() {
        let s = shared(1, FaultConfig::default());
        // An operation the API does not have, and a body too large to read.
        let unknown = signed("DescribeSomethingElse", &[], "n1", SECRET);
        assert_eq!(
            reply(&s, unknown).await,
            refused(404, "InvalidAction.NotFound")
        );
        let big = Request::builder()
            .uri("/")
            .body(Full::new(Bytes::from(vec![b'x'; MAX_BODY + 1])))
            .unwrap();
        assert_eq!(reply(&s, big).await, refused(400, "InvalidParameter"));
        assert_eq!(reply(&s, list("n2", SECRET)).await, ok(), "quota left");
    }
}
