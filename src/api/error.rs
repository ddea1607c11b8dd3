//! What went wrong with a call, and what the caller should do about it.
//!
//! The executor's whole retry policy hangs on [`ErrorClass`]: throttled and transient failures are
//! retried, per-item failures are reported and skipped, systemic failures halt the run (every
//! further call would fail the same way). Classification is a pure function of what the service
//! answered, so it is tested without a server.

use std::fmt;
use std::time::Duration;

/// How a failed call should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The account's quota was exceeded: wait (honouring `x-acs-retry-after`) and retry, slower.
    Throttled,
    /// The service or the network failed this once (5xx, timeouts, resets): retry with backoff.
    Transient,
    /// This item is wrong or impossible (bad parameter, no such task, task already started):
    /// retrying cannot help; report it and go on with the others.
    Permanent,
    /// The account or key is wrong (bad key, signature, permission): every call would fail; halt.
    Systemic,
}

impl ErrorClass {
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Throttled | ErrorClass::Transient)
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Throttled => "throttled",
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Systemic => "systemic",
        })
    }
}

/// Classifies an error response. The throttling status is undocumented, so throttling is told by
/// the code prefix or the `x-acs-retry-after` header (as the official SDK does), never by status.
pub fn classify(http_status: u16, code: &str, has_retry_after: bool) -> ErrorClass {
    if has_retry_after || code.starts_with("Throttling") {
        return ErrorClass::Throttled;
    }
    const SYSTEMIC_EXACT: [&str; 7] = [
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "CodeInvalidAliUid",
        "LiveServiceNotFound",
        "InvalidSecurityToken.Expired",
        "InvalidSecurityToken.Malformed",
        "InvalidSecurityToken.MismatchWithAccessKey",
    ];
    if SYSTEMIC_EXACT.contains(&code)
        || code.starts_with("InvalidAccessKeyId")
        || code.starts_with("Forbidden")
        || code.starts_with("InvalidSecurityToken")
        || code.starts_with("Credentials.")
        || code == "SignatureNonceUsed"
        || code == "InvalidTimeStamp.Expired"
    {
        return ErrorClass::Systemic;
    }
    if matches!(
        code,
        "ServiceUnavailable" | "InternalError" | "UnknownError"
    ) || http_status >= 500
    {
        return ErrorClass::Transient;
    }
    ErrorClass::Permanent
}

/// Whether `code` says the credentials' session expired. The client refreshes and resends such a
/// call itself; it reaches the executor only when the credentials cannot be refreshed (a static
/// STS token), and then the run halts resumably (exit 3) rather than as a bad key (exit 77):
/// the work left is fine, only the token has to be renewed.
pub fn is_credential_expiry(code: &str) -> bool {
    matches!(
        code,
        "InvalidSecurityToken.Expired" | "SecurityTokenExpired" | "InvalidAccessKeyId.Expired"
    )
}

/// How a call failed below the API: no usable answer came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    Connect,
    Timeout,
    /// The connection closed or reset before a whole response arrived.
    Reset,
    /// A response arrived but is not the documented JSON (or is larger than any sane response).
    Malformed,
    Other,
}

/// A failed call, with everything the service said about it. Contains no secret: requests are
/// not kept, only what came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The service answered with an error body (or `RetCode != 0`).
    /// Shown with the server's text escaped ([`crate::text::escape`]): it is not ours to trust.
    #[error(
        "{}: {} (HTTP {http_status}, RequestId {})",
        crate::text::escape(code),
        crate::text::escape(message),
        crate::text::escape(request_id)
    )]
    Service {
        http_status: u16,
        code: String,
        message: String,
        request_id: String,
        host_id: String,
        recommend: String,
        /// `x-acs-retry-after`, as sent (milliseconds).
        retry_after: Option<Duration>,
    },
    /// No usable response: connection refused, timeout, reset, or an unreadable body.
    #[error("{kind:?} error: {}", crate::text::escape(message))]
    Transport {
        kind: TransportKind,
        message: String,
    },
}

impl ApiError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ApiError::Service {
                http_status,
                code,
                retry_after,
                ..
            } => classify(*http_status, code, retry_after.is_some()),
            ApiError::Transport {
                kind: TransportKind::Malformed,
                ..
            } => ErrorClass::Transient,
            ApiError::Transport { .. } => ErrorClass::Transient,
        }
    }

    /// The service's code, or a stable name for a transport failure, for reports.
    pub fn code(&self) -> String {
        match self {
            ApiError::Service { code, .. } => code.clone(),
            ApiError::Transport { kind, .. } => match kind {
                TransportKind::Connect => "Transport.Connect",
                TransportKind::Timeout => "Transport.Timeout",
                TransportKind::Reset => "Transport.Reset",
                TransportKind::Malformed => "Transport.MalformedResponse",
                TransportKind::Other => "Transport.Other",
            }
            .to_string(),
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Service { message, .. } | ApiError::Transport { message, .. } => {
                message.clone()
            }
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            ApiError::Service { request_id, .. } if !request_id.is_empty() => Some(request_id),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Service { retry_after, .. } => *retry_after,
            ApiError::Transport { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_by_code_and_header() {
        assert_eq!(
            classify(400, "Throttling.User", false),
            ErrorClass::Throttled
        );
        assert_eq!(classify(503, "Throttling", false), ErrorClass::Throttled);
        assert_eq!(classify(400, "Whatever", true), ErrorClass::Throttled);
        assert_eq!(classify(500, "InternalError", false), ErrorClass::Transient);
        assert_eq!(
            classify(503, "ServiceUnavailable", false),
            ErrorClass::Transient
        );
        assert_eq!(classify(502, "", false), ErrorClass::Transient);
        assert_eq!(
            classify(400, "InvalidParameter", false),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify(400, "InvalidParam.CodeIllegalDuration", false),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify(400, "CodeTaskNotExist", false),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify(400, "CodeTaskHasStarted", false),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify(404, "InvalidAccessKeyId.NotFound", false),
            ErrorClass::Systemic
        );
        assert_eq!(
            classify(400, "SignatureDoesNotMatch", false),
            ErrorClass::Systemic
        );
        assert_eq!(
            classify(400, "IncompleteSignature", false),
            ErrorClass::Systemic
        );
        assert_eq!(classify(403, "Forbidden.RAM", false), ErrorClass::Systemic);
        assert_eq!(
            classify(400, "CodeInvalidAliUid", false),
            ErrorClass::Systemic
        );
        assert_eq!(
            classify(400, "LiveServiceNotFound", false),
            ErrorClass::Systemic
        );
    }

    #[test]
    fn transport_failures_are_transient() {
        let e = ApiError::Transport {
            kind: TransportKind::Reset,
            message: "closed".into(),
        };
        assert_eq!(e.class(), ErrorClass::Transient);
        assert_eq!(e.code(), "Transport.Reset");
    }
}
