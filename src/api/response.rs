//! What an answer means: a complete HTTP response (status, `x-acs-retry-after`, body) becomes the
//! body's JSON object or a typed [`ApiError`]. Pure, so every shape the service answers is tested
//! without a server.

use std::time::Duration;

use super::error::{ApiError, TransportKind};
use super::models::ErrorBody;

/// Turns a complete HTTP response into the body's JSON or a typed error. Pure.
///
/// - 2xx with a JSON object: success, unless it carries `RetCode != 0` (then a service error
///   with code `RetCode.<n>` and the `Description` as message).
/// - 4xx/5xx with the documented error body: a service error with everything it says.
/// - Anything else (not JSON, not an object): a `Malformed` transport error naming the status.
// `ApiError` is returned by value on purpose (it is the shared error every caller matches on);
// one response is interpreted per network round trip, so its size costs nothing measurable.
#[allow(clippy::result_large_err)]
pub fn interpret_response(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let retry_after = retry_after.and_then(parse_retry_after);
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body)
        .ok()
        .filter(serde_json::Value::is_object);
    let Some(value) = parsed else {
        return Err(ApiError::Transport {
            kind: TransportKind::Malformed,
            message: format!(
                "HTTP {status} with a body that is not a JSON object ({} bytes{})",
                body.len(),
                preview(body)
            ),
        });
    };
    if (200..300).contains(&status) {
        let ret_code = value.get("RetCode").and_then(serde_json::Value::as_i64);
        if let Some(n) = ret_code.filter(|n| *n != 0) {
            let text = |k: &str| {
                value
                    .get(k)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            return Err(ApiError::Service {
                http_status: status,
                code: format!("RetCode.{n}"),
                message: text("Description"),
                request_id: text("RequestId"),
                host_id: text("HostId"),
                recommend: text("Recommend"),
                retry_after,
            });
        }
        return Ok(value);
    }
    let e: ErrorBody = serde_json::from_value(value).unwrap_or_default();
    Err(ApiError::Service {
        http_status: status,
        code: e.code,
        message: e.message,
        request_id: e.request_id,
        host_id: e.host_id,
        recommend: e.recommend,
        retry_after,
    })
}

/// `x-acs-retry-after` is milliseconds; fractions are accepted, anything else ignored.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let ms: f64 = v.trim().parse().ok()?;
    (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0))
}

/// The start of an unexpected body, printable, for error messages.
fn preview(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(", starting {:?}", clean.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpret_success_and_retcode() {
        let ok = interpret_response(200, None, br#"{"RequestId":"r","RetCode":0}"#).unwrap();
        assert_eq!(ok["RequestId"], "r");
        let e = interpret_response(
            200,
            None,
            br#"{"RequestId":"r9","RetCode":3,"Description":"task busy"}"#,
        )
        .unwrap_err();
        match &e {
            ApiError::Service {
                code,
                message,
                request_id,
                http_status,
                ..
            } => {
                assert_eq!(code, "RetCode.3");
                assert_eq!(message, "task busy");
                assert_eq!(request_id, "r9");
                assert_eq!(*http_status, 200);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.class(), crate::api::error::ErrorClass::Permanent);
    }

    #[test]
    fn interpret_error_bodies() {
        let e = interpret_response(
            400,
            Some("1500"),
            br#"{"RequestId":"r","HostId":"live.aliyuncs.com","Code":"Throttling.User","Message":"flow control","Recommend":"https://x"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            ApiError::Service {
                http_status: 400,
                code: "Throttling.User".into(),
                message: "flow control".into(),
                request_id: "r".into(),
                host_id: "live.aliyuncs.com".into(),
                recommend: "https://x".into(),
                retry_after: Some(Duration::from_millis(1500)),
            }
        );
        for bad in [&b"<html>502</html>"[..], b"", b"[1,2]", b"{\"a\":"] {
            let e = interpret_response(502, None, bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    ApiError::Transport {
                        kind: TransportKind::Malformed,
                        ..
                    }
                ),
                "{e:?}"
            );
        }
        let e = interpret_response(200, None, b"not json\x01").unwrap_err();
        assert!(e.message().contains("HTTP 200"), "{e}");
        assert!(!e.message().contains('\x01'));
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(parse_retry_after("250"), Some(Duration::from_millis(250)));
        assert_eq!(
            parse_retry_after(" 1.5 "),
            Some(Duration::from_micros(1500))
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
