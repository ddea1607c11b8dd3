//! Alibaba Cloud STS (Security Token Service, API version `2015-04-01`): the three calls livebatch
//! makes — `GetCallerIdentity` (which account a key belongs to), `AssumeRole` (temporary keys for
//! a RAM role, signed with other credentials) and `AssumeRoleWithOIDC` (temporary keys for an
//! OIDC token, unsigned) — and their JSON shapes, shared with the emulator so both sides agree by
//! construction.
//!
//! The real endpoint is `sts.aliyuncs.com`; when `--endpoint` redirects the Live API (to the
//! emulator, say), it redirects STS too, since the emulator answers both on one port.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::clock::{RandomNonce, SystemClock};
use super::config::{ClientConfig, ClientError};
use super::endpoint::{Endpoint, EndpointError};
use super::error::{ApiError, TransportKind};
use super::secret::{Credentials, Secret};
use super::transport::{MAX_BODY_BYTES, Transport, send_signed, send_unsigned_form};

/// The STS API version every call names.
pub const STS_API_VERSION: &str = "2015-04-01";
/// The official STS endpoint.
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.aliyuncs.com";

/// STS operation names.
pub mod action {
    pub const GET_CALLER_IDENTITY: &str = "GetCallerIdentity";
    pub const ASSUME_ROLE: &str = "AssumeRole";
    pub const ASSUME_ROLE_WITH_OIDC: &str = "AssumeRoleWithOIDC";
}

/// `GetCallerIdentity`'s answer: who the calling key is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CallerIdentity {
    pub request_id: String,
    /// The account the key belongs to; keys of one account share its quotas.
    pub account_id: String,
    pub user_id: String,
    pub arn: String,
    /// `Account` (the main account's key), `RAMUser` or `AssumedRoleUser`.
    pub identity_type: String,
    pub principal_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role_id: String,
}

/// Temporary credentials as STS answers them. `Debug` hides the secret and token.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StsCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    /// UTC, `yyyy-MM-ddTHH:mm:ssZ`.
    pub expiration: String,
}

impl std::fmt::Debug for StsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AssumedRoleUser {
    pub assumed_role_id: String,
    pub arn: String,
}

/// The answer of `AssumeRole` and `AssumeRoleWithOIDC` (the latter adds `OIDCTokenInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AssumeRoleResponse {
    pub request_id: String,
    pub credentials: StsCredentials,
    pub assumed_role_user: AssumedRoleUser,
    #[serde(rename = "OIDCTokenInfo", skip_serializing_if = "Option::is_none")]
    pub oidc_token_info: Option<OidcTokenInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct OidcTokenInfo {
    pub subject: String,
    pub issuer: String,
    pub client_ids: String,
}

/// The parameters of a role assumption (both kinds).
#[derive(Clone, PartialEq, Eq)]
pub struct RoleRequest {
    pub role_arn: String,
    pub session_name: String,
    pub duration_secs: u32,
    pub policy: Option<String>,
    pub external_id: Option<String>,
}

impl std::fmt::Debug for RoleRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleRequest")
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field("duration_secs", &self.duration_secs)
            .finish_non_exhaustive()
    }
}

impl RoleRequest {
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("DurationSeconds", self.duration_secs.to_string()),
            ("RoleArn", self.role_arn.clone()),
            ("RoleSessionName", self.session_name.clone()),
        ];
        if let Some(v) = &self.policy {
            p.push(("Policy", v.clone()));
        }
        if let Some(v) = &self.external_id {
            p.push(("ExternalId", v.clone()));
        }
        p
    }
}

/// Credentials STS issued, with their expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Temporary {
    pub credentials: Credentials,
    pub expiration: DateTime<Utc>,
}

impl TryFrom<StsCredentials> for Temporary {
    type Error = String;

    fn try_from(c: StsCredentials) -> Result<Temporary, String> {
        if c.access_key_id.is_empty() || c.access_key_secret.is_empty() {
            return Err("the answer has no AccessKeyId or AccessKeySecret".into());
        }
        let expiration = parse_expiration(&c.expiration)
            .ok_or_else(|| format!("Expiration {:?} is not yyyy-MM-ddTHH:mm:ssZ", c.expiration))?;
        Ok(Temporary {
            credentials: Credentials {
                access_key_id: c.access_key_id,
                access_key_secret: Secret::new(c.access_key_secret),
                security_token: (!c.security_token.is_empty())
                    .then(|| Secret::new(c.security_token)),
            },
            expiration,
        })
    }
}

/// `yyyy-MM-ddTHH:mm:ssZ` (what STS, the credentials URI and IMDS answer), or RFC 3339.
pub fn parse_expiration(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
        .map(|n| n.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|d| d.with_timezone(&Utc))
        })
}

/// The STS endpoint for a Live endpoint: the official one for the official Live endpoint, else
/// the same (the emulator answers both).
pub fn sts_endpoint_for(live: &Endpoint) -> Result<Endpoint, EndpointError> {
    if live.is_default() {
        Endpoint::parse(DEFAULT_STS_ENDPOINT)
    } else {
        Ok(live.clone())
    }
}

/// A small STS client: the Live client's transport (connection pool, timeouts, clock and nonces),
/// pointed at the STS endpoint.
#[derive(Clone)]
pub struct StsClient(pub(crate) Transport);

impl std::fmt::Debug for StsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsClient")
            .field("endpoint", &self.0.endpoint.to_string())
            .finish_non_exhaustive()
    }
}

impl StsClient {
    /// An STS client for the Live endpoint `live` (see [`sts_endpoint_for`]), with the timeouts
    /// of `config`, for credential providers built before the Live client.
    pub fn for_config(config: &ClientConfig) -> Result<StsClient, ClientError> {
        let endpoint = sts_endpoint_for(&config.endpoint)?;
        Ok(StsClient(Transport::with_pool(
            endpoint,
            config.connect_timeout,
            config.read_timeout,
            Arc::new(SystemClock),
            Arc::new(RandomNonce),
            MAX_BODY_BYTES,
            false,
        )?))
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.0.endpoint
    }

    /// `GetCallerIdentity` for `credentials`.
    pub async fn caller_identity(
        &self,
        credentials: &Credentials,
    ) -> Result<CallerIdentity, ApiError> {
        let no: [(&str, &str); 0] = [];
        let v = send_signed(
            &self.0,
            action::GET_CALLER_IDENTITY,
            STS_API_VERSION,
            &no,
            credentials,
        )
        .await?;
        decode(action::GET_CALLER_IDENTITY, v)
    }

    /// `AssumeRole`, signed with `credentials` (the source identity).
    pub async fn assume_role(
        &self,
        credentials: &Credentials,
        req: &RoleRequest,
    ) -> Result<Temporary, ApiError> {
        let v = send_signed(
            &self.0,
            action::ASSUME_ROLE,
            STS_API_VERSION,
            &req.params(),
            credentials,
        )
        .await?;
        let r: AssumeRoleResponse = decode(action::ASSUME_ROLE, v)?;
        Temporary::try_from(r.credentials).map_err(|m| malformed(action::ASSUME_ROLE, &m))
    }

    /// `AssumeRoleWithOIDC`: unsigned (the OIDC token is the proof), sent as a form body like
    /// the official credential providers do, so the token never lands in a URL or a log.
    pub async fn assume_role_with_oidc(
        &self,
        provider_arn: &str,
        oidc_token: &Secret,
        req: &RoleRequest,
    ) -> Result<Temporary, ApiError> {
        let mut form = req.params();
        form.push(("OIDCProviderArn", provider_arn.to_string()));
        let v = send_unsigned_form(
            &self.0,
            action::ASSUME_ROLE_WITH_OIDC,
            STS_API_VERSION,
            &form,
            ("OIDCToken", oidc_token),
        )
        .await?;
        let r: AssumeRoleResponse = decode(action::ASSUME_ROLE_WITH_OIDC, v)?;
        Temporary::try_from(r.credentials).map_err(|m| malformed(action::ASSUME_ROLE_WITH_OIDC, &m))
    }
}

fn malformed(action: &str, why: &str) -> ApiError {
    ApiError::Transport {
        kind: TransportKind::Malformed,
        message: format!("{action}: {why}"),
    }
}

// `ApiError` by value, as everywhere (see `interpret_response`): one per STS round trip.
#[allow(clippy::result_large_err)]
fn decode<T: serde::de::DeserializeOwned>(
    action: &str,
    v: serde_json::Value,
) -> Result<T, ApiError> {
    // Never echo the body: it holds secrets.
    serde_json::from_value(v).map_err(|e| {
        malformed(
            action,
            &format!(
                "the response does not have the documented shape (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_formats() {
        let t = parse_expiration("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(t.timestamp(), 1767323045);
        assert_eq!(parse_expiration("2026-01-02T03:04:05+00:00"), Some(t));
        assert_eq!(parse_expiration("tomorrow"), None);
    }

    #[test]
    fn sts_goes_where_the_live_endpoint_goes() {
        let official = Endpoint::parse("https://live.aliyuncs.com").unwrap();
        assert_eq!(
            sts_endpoint_for(&official).unwrap().host_header(),
            "sts.aliyuncs.com"
        );
        let local = Endpoint::parse("http://127.0.0.1:8787").unwrap();
        assert_eq!(sts_endpoint_for(&local).unwrap(), local);
    }

    #[test]
    fn sts_credentials_debug_hides_secrets() {
        let c = StsCredentials {
            access_key_id: "STS.id".into(),
            access_key_secret: "the-secret".into(),
            security_token: "the-token".into(),
            expiration: "2026-01-02T03:04:05Z".into(),
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("STS.id"));
        assert!(!shown.contains("the-secret") && !shown.contains("the-token"));
    }

    #[test]
    fn answer_shapes() {
        let body = r#"{"RequestId":"r","AssumedRoleUser":{"AssumedRoleId":"1:s","Arn":"acs:ram::1:role/r/s"},
            "Credentials":{"AccessKeyId":"STS.a","AccessKeySecret":"b","SecurityToken":"c","Expiration":"2026-01-02T03:04:05Z"}}"#;
        let r: AssumeRoleResponse = serde_json::from_str(body).unwrap();
        let t = Temporary::try_from(r.credentials).unwrap();
        assert_eq!(t.credentials.access_key_id, "STS.a");
        assert!(t.credentials.security_token.is_some());
        let id: CallerIdentity = serde_json::from_str(
            r#"{"RequestId":"r","AccountId":"1","UserId":"2","Arn":"acs:ram::1:user/u","IdentityType":"RAMUser","PrincipalId":"2"}"#,
        )
        .unwrap();
        assert_eq!(id.identity_type, "RAMUser");
    }
}
