//! Dispatch: an admitted call to its answer — the latency, the injected fault, the operation on
//! the store, durability (with a state file, the answer waits for the log), then the answer or,
//! for `--drop-after-apply-rate`, a dropped connection. Also the STS operations, which are
//! answered before the quota (STS is not counted in the Live operations' stats or quota).

use std::ops::ControlFlow::{self, Break, Continue};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::oneshot;

use super::{Answer, InjectedReset, Resp, Shared, error_response, json_response, refuse};
use crate::api::models::action;
use crate::api::sts::action as sts_action;
use crate::emulator::ApiFault;
use crate::emulator::faults::{Draw, Outcome};
use crate::emulator::operations::Params;
use crate::emulator::sts::{self as emu_sts, IssuedKey};
use crate::emulator::wal::Record;
use crate::model::ApiTime;

/// What a step decides: go on, or end the request with this answer.
type Step<T> = ControlFlow<Answer, T>;

/// A call the quota admitted: from here it counts, and a change runs to its end.
pub(super) struct Admitted {
    /// One of the seven operations ([`action::ALL`]).
    pub(super) action: &'static str,
    pub(super) params: Params,
    pub(super) request_id: String,
}

/// Where a change's log record is.
enum Logged {
    /// Nothing to log: a read, a change refused, or no state file.
    NotNeeded,
    /// Queued; the receiver answers once it is on disk (or why it is not).
    Queued(oneshot::Receiver<Result<(), String>>),
    /// The log writer is stopping; the change goes into the final snapshot instead.
    Refused,
}

/// Runs an admitted call. A change runs to the end even if the client goes away (its own task,
/// when it has anything to wait for); a read has nothing to finish.
pub(super) async fn run_admitted(shared: Arc<Shared>, call: Admitted, draw: Draw) -> Answer {
    let waits = !draw.latency.is_zero() || shared.wal.is_some();
    if waits && is_write(call.action) {
        let run = tokio::spawn(perform(shared, call, draw));
        return run.await.unwrap_or(Err(InjectedReset));
    }
    perform(shared, call, draw).await
}

/// Operations that change tasks.
fn is_write(act: &str) -> bool {
    !matches!(act, action::DESCRIBE | action::DESCRIBE_LIST)
}

/// An admitted call, in order: latency, injected outcome, the operation, durability, the answer.
async fn perform(shared: Arc<Shared>, call: Admitted, draw: Draw) -> Answer {
    let (act, rid) = (call.action, call.request_id.as_str());
    if !draw.latency.is_zero() {
        tokio::time::sleep(draw.latency).await;
    }
    if let Break(answer) = inject(&shared, act, draw.outcome, rid) {
        return answer;
    }
    let (result, logged) = operate(&shared, act, &call.params, rid);
    // An answer is sent only once its change is on disk.
    if let Break(answer) = durable(&shared, act, logged, rid).await {
        return answer;
    }
    if draw.outcome == Outcome::DropAfterApply {
        shared.stats.outcome(act, "dropped after apply");
        return Err(InjectedReset);
    }
    match result {
        Ok((body, _)) => {
            shared.stats.outcome(act, "ok");
            Ok(json_response(200, &body, rid))
        }
        Err(f) => refuse(&shared, act, &f, rid),
    }
}

/// The injected outcome drawn for the request: a reset or a failure ends it before the operation.
fn inject(shared: &Shared, act: &str, outcome: Outcome, rid: &str) -> Step<()> {
    match outcome {
        Outcome::Reset => {
            shared.stats.outcome(act, "reset");
            Break(Err(InjectedReset))
        }
        Outcome::Fail(status) => {
            let f = if status == 503 {
                ApiFault::new(
                    503,
                    "ServiceUnavailable",
                    "The request has failed due to a temporary failure of the server.",
                )
            } else {
                ApiFault::new(
                    500,
                    "InternalError",
                    "The request processing has failed due to some unknown error.",
                )
            };
            Break(refuse(shared, act, &f, rid))
        }
        Outcome::Normal | Outcome::DropAfterApply => Continue(()),
    }
}

/// The operation on the store and, when it changed something and a state file is kept, its log
/// record queued — under the store lock, so records queue in the store's order.
fn operate(
    shared: &Shared,
    act: &str,
    params: &Params,
    rid: &str,
) -> (Result<(Value, bool), ApiFault>, Logged) {
    let now = shared.clock.now();
    let mut created = None;
    let mut store = shared.store();
    let result = store.execute(act, params, now, rid, || {
        let id = crate::emulator::seed::uuid_from(&mut rand::rng());
        created = Some(id.clone());
        id
    });
    let mut logged = Logged::NotNeeded;
    if let (Ok((_, true)), Some(w)) = (&result, &shared.wal) {
        let id = created
            .clone()
            .or_else(|| params.get("TaskId").map(str::to_string))
            .unwrap_or_default();
        let seq = store.next_seq();
        logged = match w.submit(Record::of(seq, &store, &id).encode()) {
            Some(rx) => Logged::Queued(rx),
            None => Logged::Refused,
        };
    }
    (result, logged)
}

/// Waits for the change's record to be on disk; a change that could not be made durable is not
/// answered as done.
async fn durable(shared: &Shared, act: &str, logged: Logged, rid: &str) -> Step<()> {
    let f = match logged {
        Logged::NotNeeded => return Continue(()),
        Logged::Queued(rx) => match rx.await.map_err(|e| e.to_string()) {
            Ok(Ok(())) => return Continue(()),
            Ok(Err(e)) | Err(e) => ApiFault::new(
                500,
                "InternalError",
                format!("The change could not be made durable: {e}"),
            ),
        },
        Logged::Refused => ApiFault::new(
            503,
            "ServiceUnavailable",
            "The emulator is stopping; the change is in its final snapshot.",
        ),
    };
    Break(refuse(shared, act, &f, rid))
}

/// STS's `AssumeRoleWithOIDC`, which is unsigned: the OIDC token is its credential.
pub(super) fn sts_unsigned(shared: &Shared, params: &Params, now: ApiTime, rid: &str) -> Resp {
    let r = emu_sts::assume_role_with_oidc(&mut shared.sts(), &params.0, now, shared.sts_ttl, rid);
    sts_reply(r, rid)
}

/// A signed STS call: who the caller is, or temporary keys for a role.
pub(super) fn sts_signed(
    shared: &Shared,
    act: Option<&str>,
    access_key_id: &str,
    temporary: Option<&IssuedKey>,
    params: &Params,
    now: ApiTime,
    rid: &str,
) -> Resp {
    let r = match act {
        Some(sts_action::GET_CALLER_IDENTITY) => {
            let id = emu_sts::caller_identity(&shared.keys, access_key_id, temporary, rid);
            Ok(serde_json::to_value(id).unwrap_or_default())
        }
        Some(sts_action::ASSUME_ROLE) => {
            emu_sts::assume_role(&mut shared.sts(), &params.0, now, shared.sts_ttl, rid)
        }
        other => Err(ApiFault::new(
            404,
            "InvalidAction.NotFound",
            format!(
                "Specified api {} is not found, please check your url and method.",
                other.unwrap_or_default()
            ),
        )),
    };
    sts_reply(r, rid)
}

/// An STS answer (not counted in the Live operations' stats or quota).
fn sts_reply(r: Result<Value, ApiFault>, rid: &str) -> Resp {
    match r {
        Ok(body) => json_response(200, &body, rid),
        Err(f) => error_response(&f, rid),
    }
}
