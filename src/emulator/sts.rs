//! The emulator as STS (version `2015-04-01`), on the same port as the Live API: the request's
//! version routes it here. `GetCallerIdentity` says which account a key belongs to;
//! `AssumeRole` (signed) and `AssumeRoleWithOIDC` (unsigned: the token is the proof) issue
//! temporary keys, which every Live operation then accepts with their security token until they
//! expire, and refuses after with the service's `InvalidSecurityToken.Expired`.
//!
//! Issued keys live as long as the emulator; lifetimes follow the emulator's clock, so a test
//! with a manual clock can expire them without waiting.

use std::collections::HashMap;

use rand::Rng;
use rand::distr::Alphanumeric;

use super::{ApiFault, KeyPair};
use crate::api::credentials::Secret;
use crate::api::sts::{
    AssumeRoleResponse, AssumedRoleUser, CallerIdentity, OidcTokenInfo, StsCredentials,
};
use crate::model::ApiTime;

/// STS's bounds on `DurationSeconds` (15 minutes to 12 hours).
pub const MIN_DURATION_SECS: i64 = 900;
pub const MAX_DURATION_SECS: i64 = 43_200;

/// A 16-digit account ID derived from a key ID, stable across runs: a key given without an
/// account is an account of its own.
pub fn account_for_key(key_id: &str) -> String {
    digits(key_id, 16)
}

fn digits(seed: &str, n: usize) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(seed.as_bytes());
    let mut out = String::from("1");
    for b in d.iter().cycle() {
        if out.len() >= n {
            break;
        }
        out.push(char::from(b'0' + b % 10));
    }
    out
}

/// Temporary credentials the emulator issued.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: KeyPair,
    pub token: Secret,
    /// Unix seconds on the emulator's clock.
    pub expires: i64,
    pub role_arn: String,
    pub role_name: String,
    pub session_name: String,
}

/// Every temporary key issued, by AccessKey ID.
#[derive(Debug, Default)]
pub struct StsStore {
    issued: HashMap<String, IssuedKey>,
    /// How many credentials each action issued (for tests and stats).
    pub assume_role_count: u64,
    pub oidc_count: u64,
}

impl StsStore {
    pub fn lookup(&self, access_key_id: &str) -> Option<IssuedKey> {
        self.issued.get(access_key_id).cloned()
    }

    fn issue(
        &mut self,
        account_id: &str,
        role_arn: &str,
        role_name: &str,
        session_name: &str,
        expires: i64,
    ) -> IssuedKey {
        let mut r = rand::rng();
        let mut alnum = |n: usize| -> String {
            (&mut r)
                .sample_iter(Alphanumeric)
                .take(n)
                .map(char::from)
                .collect()
        };
        let id = format!("STS.{}", alnum(24));
        let issued = IssuedKey {
            key: KeyPair::with_account(id.clone(), alnum(40), account_id),
            token: Secret::new(format!("CAIS{}", alnum(180))),
            expires,
            role_arn: role_arn.to_string(),
            role_name: role_name.to_string(),
            session_name: session_name.to_string(),
        };
        self.issued.insert(id, issued.clone());
        issued
    }
}

/// The AccessKey ID a request claims (V3 `Authorization` credential, else V2 `AccessKeyId`),
/// before any verification: used only to find which secret to verify with.
pub fn claimed_key_id(headers: &[(String, String)], params: &[(String, String)]) -> Option<String> {
    let auth = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_str());
    if let Some(a) = auth {
        return crate::api::sign::parse_v3_authorization(a).map(|p| p.access_key_id);
    }
    params
        .iter()
        .find(|(n, _)| n == "AccessKeyId")
        .map(|(_, v)| v.clone())
}

/// The security token a request carries (V3 header, V2 parameter).
fn presented_token<'a>(
    headers: &'a [(String, String)],
    params: &'a [(String, String)],
) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-acs-security-token"))
        .or_else(|| params.iter().find(|(n, _)| n == "SecurityToken"))
        .map(|(_, v)| v.as_str())
}

/// A temporary key's request, its signature already verified: the token must be the one issued
/// with the key, and the key must not have expired.
pub fn check_temporary(
    issued: &IssuedKey,
    headers: &[(String, String)],
    params: &[(String, String)],
    now: ApiTime,
) -> Result<(), ApiFault> {
    match presented_token(headers, params) {
        None | Some("") => {
            return Err(ApiFault::bad(
                "InvalidSecurityToken.Malformed",
                "The AccessKey is a temporary one; the request must carry its SecurityToken.",
            ));
        }
        Some(t) if !crate::api::sign::constant_time_eq(t, issued.token.expose()) => {
            return Err(ApiFault::bad(
                "InvalidSecurityToken.MismatchWithAccessKey",
                "The SecurityToken does not belong to the AccessKey.",
            ));
        }
        Some(_) => {}
    }
    if now.unix() >= issued.expires {
        return Err(ApiFault::bad(
            "InvalidSecurityToken.Expired",
            "Specified SecurityToken is expired.",
        ));
    }
    Ok(())
}

/// The caller behind a verified key: the account's first key is the account itself, later keys
/// of the same account are its RAM users, issued keys are assumed-role sessions.
pub fn caller_identity(
    keys: &[KeyPair],
    access_key_id: &str,
    temporary: Option<&IssuedKey>,
    request_id: &str,
) -> CallerIdentity {
    if let Some(t) = temporary {
        let role_id = digits(&t.role_arn, 19);
        return CallerIdentity {
            request_id: request_id.into(),
            account_id: t.key.account_id.clone(),
            user_id: format!("{role_id}:{}", t.session_name),
            arn: format!(
                "acs:ram::{}:assumed-role/{}/{}",
                t.key.account_id,
                t.role_name.to_ascii_lowercase(),
                t.session_name
            ),
            identity_type: "AssumedRoleUser".into(),
            principal_id: format!("{role_id}:{}", t.session_name),
            role_id,
        };
    }
    let key = keys.iter().find(|k| k.access_key_id == access_key_id);
    let account = key
        .map(|k| k.account_id.clone())
        .unwrap_or_else(|| account_for_key(access_key_id));
    let first_of_account = keys
        .iter()
        .find(|k| k.account_id == account)
        .is_some_and(|k| k.access_key_id == access_key_id);
    if first_of_account {
        CallerIdentity {
            request_id: request_id.into(),
            account_id: account.clone(),
            user_id: account.clone(),
            arn: format!("acs:ram::{account}:root"),
            identity_type: "Account".into(),
            principal_id: account,
            role_id: String::new(),
        }
    } else {
        let user_id = digits(access_key_id, 16);
        CallerIdentity {
            request_id: request_id.into(),
            account_id: account.clone(),
            user_id: user_id.clone(),
            arn: format!("acs:ram::{account}:user/{access_key_id}"),
            identity_type: "RAMUser".into(),
            principal_id: user_id,
            role_id: String::new(),
        }
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// `acs:ram::ACCOUNT:role/NAME` → (account, name).
fn parse_role_arn(arn: &str) -> Result<(String, String), ApiFault> {
    let bad = || {
        ApiFault::bad(
            "InvalidParameter.RoleArn",
            format!("The parameter RoleArn {arn:?} is not acs:ram::ACCOUNT_ID:role/ROLE_NAME."),
        )
    };
    let rest = arn.strip_prefix("acs:ram::").ok_or_else(bad)?;
    let (account, role) = rest.split_once(':').ok_or_else(bad)?;
    let name = role
        .strip_prefix("role/")
        .or_else(|| role.strip_prefix("ROLE/"))
        .ok_or_else(bad)?;
    if account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return Err(bad());
    }
    Ok((account.to_string(), name.to_string()))
}

fn session_name(params: &[(String, String)], required: bool) -> Result<String, ApiFault> {
    match param(params, "RoleSessionName") {
        None if required => Err(ApiFault::missing("RoleSessionName")),
        None => Ok("oidc-session".into()),
        Some(s)
            if (2..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b)) =>
        {
            Ok(s.to_string())
        }
        Some(s) => Err(ApiFault::bad(
            "InvalidParameter.RoleSessionName",
            format!(
                "The parameter RoleSessionName {s:?} must be 2 to 64 letters, digits or . _ @ -."
            ),
        )),
    }
}

/// `DurationSeconds` (default 3600, 900 to 43200), then the emulator's `--sts-ttl` if set.
fn lifetime(params: &[(String, String)], ttl: Option<u64>) -> Result<i64, ApiFault> {
    let asked = match param(params, "DurationSeconds") {
        None => 3600,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&n) => n,
            _ => {
                return Err(ApiFault::bad(
                    "InvalidParameter.DurationSeconds",
                    format!(
                        "The parameter DurationSeconds {v:?} must be from {MIN_DURATION_SECS} to {MAX_DURATION_SECS}."
                    ),
                ));
            }
        },
    };
    Ok(ttl.map_or(asked, |t| t.min(i64::MAX as u64) as i64))
}

fn answer(issued: &IssuedKey, request_id: &str, oidc: Option<OidcTokenInfo>) -> serde_json::Value {
    let role_id = digits(&issued.role_arn, 19);
    let body = AssumeRoleResponse {
        request_id: request_id.into(),
        credentials: StsCredentials {
            access_key_id: issued.key.access_key_id.clone(),
            access_key_secret: issued.key.secret.expose().to_string(),
            security_token: issued.token.expose().to_string(),
            expiration: ApiTime::from_unix(issued.expires)
                .map(|t| t.to_string())
                .unwrap_or_default(),
        },
        assumed_role_user: AssumedRoleUser {
            assumed_role_id: format!("{role_id}:{}", issued.session_name),
            arn: format!(
                "acs:ram::{}:role/{}/{}",
                issued.key.account_id,
                issued.role_name.to_ascii_lowercase(),
                issued.session_name
            ),
        },
        oidc_token_info: oidc,
    };
    serde_json::to_value(body).unwrap_or_default()
}

/// `AssumeRole`, by a caller whose signature checked out.
pub fn assume_role(
    store: &mut StsStore,
    params: &[(String, String)],
    now: ApiTime,
    ttl: Option<u64>,
    request_id: &str,
) -> Result<serde_json::Value, ApiFault> {
    let arn = param(params, "RoleArn").ok_or_else(|| ApiFault::missing("RoleArn"))?;
    let (account, role) = parse_role_arn(arn)?;
    let session = session_name(params, true)?;
    let life = lifetime(params, ttl)?;
    let issued = store.issue(&account, arn, &role, &session, now.unix() + life);
    store.assume_role_count += 1;
    Ok(answer(&issued, request_id, None))
}

/// `AssumeRoleWithOIDC`: unsigned. The token must look like a JWT (three base64url parts); when
/// its payload carries `exp` in the past it is refused (code chosen here:
/// `InvalidParameter.OIDCToken.Expired`; the service's exact code is undocumented). A rotated
/// token file is therefore visible: an old token stops working.
pub fn assume_role_with_oidc(
    store: &mut StsStore,
    params: &[(String, String)],
    now: ApiTime,
    ttl: Option<u64>,
    request_id: &str,
) -> Result<serde_json::Value, ApiFault> {
    let arn = param(params, "RoleArn").ok_or_else(|| ApiFault::missing("RoleArn"))?;
    let provider =
        param(params, "OIDCProviderArn").ok_or_else(|| ApiFault::missing("OIDCProviderArn"))?;
    if !provider.starts_with("acs:ram::") || !provider.contains(":oidc-provider/") {
        return Err(ApiFault::bad(
            "InvalidParameter.OIDCProviderArn",
            format!(
                "The parameter OIDCProviderArn {provider:?} is not acs:ram::ACCOUNT_ID:oidc-provider/NAME."
            ),
        ));
    }
    let token = param(params, "OIDCToken").ok_or_else(|| ApiFault::missing("OIDCToken"))?;
    let claims = jwt_claims(token).ok_or_else(|| {
        ApiFault::bad(
            "InvalidParameter.OIDCToken",
            "The parameter OIDCToken is not a JWT (header.payload.signature, base64url).",
        )
    })?;
    if let Some(exp) = claims.get("exp").and_then(serde_json::Value::as_i64)
        && exp <= now.unix()
    {
        return Err(ApiFault::bad(
            "InvalidParameter.OIDCToken.Expired",
            "The OIDCToken has expired; read a fresh one from the token file.",
        ));
    }
    let (account, role) = parse_role_arn(arn)?;
    let session = session_name(params, false)?;
    let life = lifetime(params, ttl)?;
    let issued = store.issue(&account, arn, &role, &session, now.unix() + life);
    store.oidc_count += 1;
    let text = |k: &str| {
        claims
            .get(k)
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let info = OidcTokenInfo {
        subject: text("sub"),
        issuer: text("iss"),
        client_ids: text("aud"),
    };
    Ok(answer(&issued, request_id, Some(info)))
}

fn jwt_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (_h, p, _s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn jwt(payload: &str) -> String {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            e.encode("{\"alg\":\"RS256\"}"),
            e.encode(payload)
        )
    }

    #[test]
    fn account_ids_are_stable_and_numeric() {
        let a = account_for_key("livebatch-emulator");
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(a, account_for_key("livebatch-emulator"));
        assert_ne!(a, account_for_key("other"));
    }

    #[test]
    fn key_flags_parse_without_quoting_secrets() {
        let k = KeyPair::parse("ak-1:s3cret:1234567890123456").unwrap();
        assert_eq!(
            (k.access_key_id.as_str(), k.account_id.as_str()),
            ("ak-1", "1234567890123456")
        );
        assert_eq!(k.secret.expose(), "s3cret");
        let k = KeyPair::parse("ak-2:s3cret").unwrap();
        assert_eq!(k.account_id, account_for_key("ak-2"));
        for bad in ["ak-3", ":s", "ak-4:", "ak-5:hidden-secret:bad account"] {
            let e = KeyPair::parse(bad).unwrap_err();
            assert!(!e.contains("hidden-secret"), "{e}");
        }
    }

    #[test]
    fn identities_of_an_account_and_its_users() {
        let keys = vec![
            KeyPair::with_account("main", "s", "1111"),
            KeyPair::with_account("user", "s", "1111"),
            KeyPair::new("alone", "s"),
        ];
        let main = caller_identity(&keys, "main", None, "r");
        assert_eq!(
            (main.identity_type.as_str(), main.arn.as_str()),
            ("Account", "acs:ram::1111:root")
        );
        let user = caller_identity(&keys, "user", None, "r");
        assert_eq!(user.identity_type, "RAMUser");
        assert_eq!(user.account_id, "1111");
        assert_eq!(
            caller_identity(&keys, "alone", None, "r").account_id,
            account_for_key("alone")
        );
    }

    #[test]
    fn assume_role_issues_keys_that_expire() {
        let mut store = StsStore::default();
        let now = ApiTime::from_unix(1_800_000_000).unwrap();
        let body = assume_role(
            &mut store,
            &p(&[
                ("RoleArn", "acs:ram::2222:role/Deployer"),
                ("RoleSessionName", "ci"),
            ]),
            now,
            Some(60),
            "r",
        )
        .unwrap();
        let r: AssumeRoleResponse = serde_json::from_value(body).unwrap();
        assert!(r.credentials.access_key_id.starts_with("STS."));
        assert_eq!(r.credentials.expiration, "2027-01-15T08:01:00Z");
        assert_eq!(r.assumed_role_user.arn, "acs:ram::2222:role/deployer/ci");
        let issued = store.lookup(&r.credentials.access_key_id).unwrap();
        assert_eq!(issued.key.account_id, "2222");
        let h = vec![(
            "x-acs-security-token".to_string(),
            r.credentials.security_token.clone(),
        )];
        assert!(check_temporary(&issued, &h, &[], now).is_ok());
        let later = ApiTime::from_unix(now.unix() + 60).unwrap();
        assert_eq!(
            check_temporary(&issued, &h, &[], later).unwrap_err().code,
            "InvalidSecurityToken.Expired"
        );
        let wrong = vec![("x-acs-security-token".to_string(), "nope".to_string())];
        assert_eq!(
            check_temporary(&issued, &wrong, &[], now).unwrap_err().code,
            "InvalidSecurityToken.MismatchWithAccessKey"
        );
        assert_eq!(
            check_temporary(&issued, &[], &[], now).unwrap_err().code,
            "InvalidSecurityToken.Malformed"
        );
    }

    #[test]
    fn assume_role_checks_its_parameters() {
        let mut store = StsStore::default();
        let now = ApiTime::from_unix(1_800_000_000).unwrap();
        let e = assume_role(&mut store, &p(&[("RoleArn", "role")]), now, None, "r").unwrap_err();
        assert_eq!(e.code, "InvalidParameter.RoleArn");
        let e = assume_role(
            &mut store,
            &p(&[
                ("RoleArn", "acs:ram::1:role/r"),
                ("RoleSessionName", "ok"),
                ("DurationSeconds", "60"),
            ]),
            now,
            None,
            "r",
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameter.DurationSeconds");
    }

    #[test]
    fn oidc_tokens_must_be_current_jwts() {
        let mut store = StsStore::default();
        let now = ApiTime::from_unix(1_800_000_000).unwrap();
        let base = [
            ("RoleArn", "acs:ram::3333:role/ci"),
            ("OIDCProviderArn", "acs:ram::3333:oidc-provider/github"),
        ];
        let with = |token: &str| {
            let mut v = p(&base);
            v.push(("OIDCToken".into(), token.into()));
            v
        };
        let fresh = jwt(
            r#"{"sub":"repo:o/r","iss":"https://token.actions.githubusercontent.com","aud":"sts.aliyuncs.com","exp":1800000100}"#,
        );
        let body = assume_role_with_oidc(&mut store, &with(&fresh), now, None, "r").unwrap();
        let r: AssumeRoleResponse = serde_json::from_value(body).unwrap();
        assert_eq!(r.oidc_token_info.unwrap().subject, "repo:o/r");
        let old = jwt(r#"{"exp":1799999999}"#);
        let e = assume_role_with_oidc(&mut store, &with(&old), now, None, "r").unwrap_err();
        assert_eq!(e.code, "InvalidParameter.OIDCToken.Expired");
        let e = assume_role_with_oidc(&mut store, &with("not-a-jwt"), now, None, "r").unwrap_err();
        assert_eq!(e.code, "InvalidParameter.OIDCToken");
    }
}
