//! The ECS instance RAM role: temporary credentials from the instance metadata service, named by
//! `ALIBABA_CLOUD_ECS_METADATA` (the chain's fifth step) or by a profile. Only when named, so a
//! machine outside ECS never waits on an address that cannot answer.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::answer::{get_body, parse_session};
use super::environment::{Environment, var};
use super::error::{CredentialsError, FetchFailure};
use super::spec::Spec;
use super::step::{Answer, Ask, CredentialSource};
use crate::api::secret::Credentials;

/// The instance metadata service every ECS instance reaches (documented address).
pub const ECS_METADATA_URL: &str = "http://100.100.100.200";

/// The official ECS provider's timeouts are 1 s connect and 1 s read; the metadata service is
/// on the instance's own link.
const ECS_TIMEOUT: Duration = Duration::from_secs(2);
/// IMDSv2 session token lifetime asked for (credentials-go `defaultMetadataTokenDuration`).
const ECS_TOKEN_TTL_SECS: u32 = 21600;

/// The variable names a role (and `ALIBABA_CLOUD_ECS_METADATA_DISABLED` is not true): that role.
pub fn from_env(ask: &Ask<'_>) -> Result<Answer, CredentialsError> {
    let env = ask.env;
    let disabled = env
        .var(var::ECS_METADATA_DISABLED)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(match env.var(var::ECS_METADATA) {
        Some(role) if !disabled => {
            Answer::found(ecs_spec(env, Some(role)), CredentialSource::EcsMetadata)
        }
        Some(_) => Answer::Skipped(format!(
            "ECS RAM role: {} is set but {} is true",
            var::ECS_METADATA,
            var::ECS_METADATA_DISABLED
        )),
        None => Answer::Skipped(format!("ECS RAM role: {} is not set", var::ECS_METADATA)),
    })
}

/// The spec of the role `role` (blank: the one the metadata service names), with the IMDSv1
/// setting and metadata address of `env`.
pub fn ecs_spec(env: &Environment, role: Option<&str>) -> Spec {
    Spec::Ecs {
        role_name: role
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        imdsv1_disabled: env
            .var(var::IMDSV1_DISABLED)
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        metadata_url: env
            .ecs_metadata_url
            .clone()
            .unwrap_or_else(|| ECS_METADATA_URL.to_string()),
    }
}

/// The documented ECS metadata protocol: an IMDSv2 session token first (`PUT
/// /latest/api/token`), then the role name (unless given) and the role's credentials from
/// `/latest/meta-data/ram/security-credentials/`, each with the token. Without a token (an
/// older instance), the GETs go without it unless IMDSv1 is disabled.
/// Untested against a real instance: only against a loopback fake following the documentation.
pub async fn fetch(
    http: &reqwest::Client,
    base: &str,
    role_name: Option<&str>,
    imdsv1_disabled: bool,
) -> Result<(Credentials, DateTime<Utc>), FetchFailure> {
    let token = {
        let req = http.put(format!("{base}/latest/api/token")).header(
            "X-aliyun-ecs-metadata-token-ttl-seconds",
            ECS_TOKEN_TTL_SECS.to_string(),
        );
        match get_body(req, "ECS metadata token", ECS_TIMEOUT).await {
            Ok((200, body)) => Some(String::from_utf8_lossy(&body).trim().to_string()),
            Ok((status, _)) if imdsv1_disabled => {
                return Err(FetchFailure {
                    message: format!(
                        "the ECS metadata service refused a session token (HTTP {status}) and IMDSv1 is disabled"
                    ),
                    transient: status >= 500,
                });
            }
            Err(failure) if imdsv1_disabled => return Err(failure),
            _ => None,
        }
    };
    let get = |path: String| {
        let mut req = http.get(format!("{base}{path}"));
        if let Some(t) = &token {
            req = req.header("X-aliyun-ecs-metadata-token", t.as_str());
        }
        req
    };
    const CREDS_PATH: &str = "/latest/meta-data/ram/security-credentials/";
    let role = match role_name {
        Some(r) => r.to_string(),
        None => {
            let (status, body) =
                get_body(get(CREDS_PATH.to_string()), "ECS role name", ECS_TIMEOUT).await?;
            if status != 200 {
                return Err(FetchFailure {
                    message: format!(
                        "the ECS metadata service answered HTTP {status} for the role name"
                    ),
                    transient: status >= 500,
                });
            }
            let name = String::from_utf8_lossy(&body)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            if name.is_empty() {
                return Err(FetchFailure::permanent(
                    "no RAM role is attached to this ECS instance",
                ));
            }
            name
        }
    };
    let what = format!("ECS RAM role {role}");
    let (status, body) = get_body(get(format!("{CREDS_PATH}{role}")), &what, ECS_TIMEOUT).await?;
    if status != 200 {
        return Err(FetchFailure {
            message: format!("{what}: the metadata service answered HTTP {status}"),
            transient: status >= 500,
        });
    }
    parse_session(&body).map_err(|m| FetchFailure::permanent(format!("{what}: {m}")))
}
