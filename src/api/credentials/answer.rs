//! What sources outside STS answer: the bound on what a process, URL or metadata service may
//! answer, the JSON credentials a credentials URI and the ECS metadata service both answer, and
//! reading such an answer over plain HTTP. No message quotes a body, since bodies hold secrets.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::FetchFailure;
use crate::api::secret::{Credentials, Secret};
use crate::api::sts::parse_expiration;
use crate::api::transport::error_text;

/// Largest answer read from a process, URL or metadata service.
pub const MAX_ANSWER: usize = 64 << 10;

/// The HTTP client for credential URLs and the metadata service: no proxy (the metadata service
/// is link-local, and a credentials URI answers secrets), no idle connections kept (fetches are
/// rare and may run on a runtime other than the calls'), no redirects.
pub fn plain_http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("livebatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// What a credentials URI and the ECS metadata service answer.
#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct SessionAnswer {
    code: Option<String>,
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

/// Parses `{"AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}` (and `Code`, which
/// when present must be `Success`). All four are required, as the official providers require.
pub fn parse_session(body: &[u8]) -> Result<(Credentials, DateTime<Utc>), String> {
    let a: SessionAnswer = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the answer is not JSON credentials (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    if let Some(code) = a.code.as_deref().filter(|c| *c != "Success") {
        return Err(format!("the answer's Code is {code:?}, not \"Success\""));
    }
    for (v, name) in [
        (&a.access_key_id, "AccessKeyId"),
        (&a.access_key_secret, "AccessKeySecret"),
        (&a.security_token, "SecurityToken"),
        (&a.expiration, "Expiration"),
    ] {
        if v.trim().is_empty() {
            return Err(format!("the answer has no {name}"));
        }
    }
    let expiration = parse_expiration(&a.expiration).ok_or_else(|| {
        format!(
            "the answer's Expiration {:?} is not yyyy-MM-ddTHH:mm:ssZ",
            a.expiration
        )
    })?;
    Ok((
        Credentials {
            access_key_id: a.access_key_id,
            access_key_secret: Secret::new(a.access_key_secret),
            security_token: Some(Secret::new(a.security_token)),
        },
        expiration,
    ))
}

/// Sends `req` and reads its answer, at most [`MAX_ANSWER`] bytes within `timeout`. `what` names
/// the request in messages.
pub async fn get_body(
    req: reqwest::RequestBuilder,
    what: &str,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), FetchFailure> {
    let exchange = async {
        let mut resp = req
            .send()
            .await
            .map_err(|e| FetchFailure::transient(format!("{what}: {}", error_text(e))))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchFailure::transient(format!("{what}: {}", error_text(e))))?
        {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(FetchFailure::permanent(format!(
                    "{what}: the answer exceeds {MAX_ANSWER} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| FetchFailure::transient(format!("{what}: no answer within {timeout:?}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_shapes() {
        let ok = br#"{"Code":"Success","AccessKeyId":"STS.a","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2030-01-01T00:00:00Z","LastUpdated":"x"}"#;
        assert!(parse_session(ok).is_ok());
        let no_code = br#"{"AccessKeyId":"STS.a","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2030-01-01T00:00:00Z"}"#;
        assert!(parse_session(no_code).is_ok());
        let failed = br#"{"Code":"Failed","AccessKeyId":"a","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2030-01-01T00:00:00Z"}"#;
        assert!(parse_session(failed).unwrap_err().contains("Failed"));
        let no_token = br#"{"AccessKeyId":"a","AccessKeySecret":"hidden","Expiration":"2030-01-01T00:00:00Z"}"#;
        let m = parse_session(no_token).unwrap_err();
        assert!(m.contains("SecurityToken") && !m.contains("hidden"));
    }
}
