//! One signed request, before it is sent: the V3 (`ACS3-HMAC-SHA256`) headers and the exact query
//! of a GET, for a date, a nonce and credentials. Pure: the same inputs give the same bytes, which
//! is what the published vectors check; the transport adds the network.

use std::fmt;

use chrono::{DateTime, Utc};

use super::models::API_VERSION;
use super::secret::Credentials;
use super::sign;

/// A signed request, ready to send: the exact query string and the headers to add (`host` is
/// included because it is signed; the HTTP stack sends the same value itself).
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub query: String,
    pub headers: Vec<(String, String)>,
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let v = if n == "x-acs-security-token" {
                    "***"
                } else {
                    v.as_str()
                };
                (n.as_str(), v)
            })
            .collect();
        f.debug_struct("SignedRequest")
            .field("query", &self.query)
            .field("headers", &headers)
            .finish()
    }
}

/// Signs a GET of `action` with `params` (all in the query, empty body) with V3, for `date` and
/// `nonce`. Pure: the same inputs give the same bytes, which is what the published vectors check.
pub fn sign_request<K: AsRef<str>, V: AsRef<str>>(
    host: &str,
    action: &str,
    params: &[(K, V)],
    credentials: &Credentials,
    date: DateTime<Utc>,
    nonce: &str,
) -> SignedRequest {
    sign_request_for(host, action, API_VERSION, params, credentials, date, nonce)
}

/// [`sign_request`] for any API version (STS calls name `2015-04-01`).
pub fn sign_request_for<K: AsRef<str>, V: AsRef<str>>(
    host: &str,
    action: &str,
    version: &str,
    params: &[(K, V)],
    credentials: &Credentials,
    date: DateTime<Utc>,
    nonce: &str,
) -> SignedRequest {
    let query: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host.into()),
        ("x-acs-action".into(), action.into()),
        ("x-acs-version".into(), version.into()),
        (
            "x-acs-date".into(),
            date.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ),
        ("x-acs-signature-nonce".into(), nonce.into()),
        ("x-acs-content-sha256".into(), sign::EMPTY_SHA256.into()),
    ];
    if let Some(token) = &credentials.security_token {
        headers.push(("x-acs-security-token".into(), token.expose().into()));
        headers.push((
            "x-acs-accesskey-id".into(),
            credentials.access_key_id.clone(),
        ));
    }
    let req = sign::V3Request {
        method: "GET",
        path: "/",
        query: &query,
        headers: &headers,
        payload_sha256: sign::EMPTY_SHA256,
    };
    let authorization = sign::v3_authorization(
        &req,
        &credentials.access_key_id,
        credentials.access_key_secret.expose(),
    );
    headers.push(("authorization".into(), authorization));
    SignedRequest {
        query: sign::canonical_query(&query),
        headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::action;
    use crate::api::secret::Secret;
    use crate::model::{ApiTime, Region, Update};

    fn fixed_date() -> DateTime<Utc> {
        ApiTime::parse("2024-08-23T15:30:00Z").unwrap().0
    }

    /// The published UpdateLivePullToPush vector, produced through the client's own signing path
    /// from a typed `Update`.
    #[test]
    fn update_vector_through_the_client_path() {
        let mut u = Update::new("fd245384-4067-4f91-9d75-9666a6bc0000", Region::CnShanghai);
        u.source_urls = Some(vec!["rtmp://pulltest.example.com/app/stream".into()]);
        u.repeat_number = Some(-1);
        u.callback_url = Some("https://callback.example.com/notify?a=1 b*".into());
        let creds = Credentials::new("YourAccessKeyId", "YourAccessKeySecret");
        let s = sign_request(
            "live.aliyuncs.com",
            action::UPDATE,
            &u.to_params(),
            &creds,
            fixed_date(),
            "3156853299f313e23d1673dc12e1703d",
        );
        assert_eq!(
            s.query,
            "CallbackUrl=https%3A%2F%2Fcallback.example.com%2Fnotify%3Fa%3D1%20b%2A&Region=cn-shanghai&RepeatNumber=-1&SourceUrls=%5B%22rtmp%3A%2F%2Fpulltest.example.com%2Fapp%2Fstream%22%5D&TaskId=fd245384-4067-4f91-9d75-9666a6bc0000"
        );
        let auth = &s.headers.iter().find(|h| h.0 == "authorization").unwrap().1;
        assert_eq!(
            auth,
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=0917c8f55ce83608038446f1a40a9eb7f0a85c0056cec54d488d63d0bbe77935"
        );
    }

    #[test]
    fn sts_token_is_sent_signed_and_never_debug_printed() {
        let mut creds = Credentials::new("STS.id", "sec");
        creds.security_token = Some(Secret::new("tok-en-value"));
        let s = sign_request(
            "h",
            action::STOP,
            &[("TaskId", "t")],
            &creds,
            fixed_date(),
            "n",
        );
        let auth = &s.headers.iter().find(|h| h.0 == "authorization").unwrap().1;
        assert!(auth.contains("x-acs-accesskey-id;"), "{auth}");
        assert!(auth.contains("x-acs-security-token;"), "{auth}");
        assert!(
            s.headers
                .contains(&("x-acs-accesskey-id".into(), "STS.id".into()))
        );
        assert!(!format!("{s:?}").contains("tok-en-value"));
    }

    #[test]
    fn different_nonce_or_date_different_signature() {
        let creds = Credentials::new("id", "sec");
        let a = sign_request("h", "A", &[("x", "1")], &creds, fixed_date(), "n1");
        let b = sign_request("h", "A", &[("x", "1")], &creds, fixed_date(), "n2");
        let c = sign_request(
            "h",
            "A",
            &[("x", "1")],
            &creds,
            fixed_date() + chrono::Duration::seconds(1),
            "n1",
        );
        let auth = |s: &SignedRequest| s.headers.last().unwrap().1.clone();
        assert_ne!(auth(&a), auth(&b));
        assert_ne!(auth(&a), auth(&c));
    }
}
