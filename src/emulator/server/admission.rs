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
/// expiry are checked. Refusals are counted under the operation the request claims.
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
            None => Ok(v),
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
