//! RAM roles: STS `AssumeRole`, signed with the credentials of another source (the CLI's
//! `RamRoleArn` and `ChainableRamRoleArn` profiles, the INI file's `ram_role_arn`), and the role
//! request every role assumption sends, OIDC's included, with the official providers' defaults.

use chrono::{DateTime, Utc};

use super::error::FetchFailure;
use crate::api::secret::Credentials;
use crate::api::sts::{RoleRequest, StsClient, Temporary};

/// STS's default and minimum session lengths (`DurationSeconds`).
pub const DEFAULT_DURATION_SECS: u32 = 3600;

/// A session name the way the official providers make one (`credentials-go-<micros>`), with
/// this tool's name.
fn default_session_name(now: DateTime<Utc>) -> String {
    format!("livebatch-{}", now.timestamp_micros())
}

/// A role's settings as a spec holds them, as the request STS is sent; a session name and
/// duration not given are the defaults, the name taken at `now`.
pub fn role_request(
    role_arn: &str,
    session_name: &Option<String>,
    duration_secs: Option<u32>,
    policy: &Option<String>,
    external_id: &Option<String>,
    now: DateTime<Utc>,
) -> RoleRequest {
    RoleRequest {
        role_arn: role_arn.to_string(),
        session_name: session_name
            .clone()
            .unwrap_or_else(|| default_session_name(now)),
        duration_secs: duration_secs.unwrap_or(DEFAULT_DURATION_SECS),
        policy: policy.clone(),
        external_id: external_id.clone(),
    }
}

/// `AssumeRole` signed with `source` (the source profile's current credentials).
pub async fn fetch(
    sts: &StsClient,
    source: &Credentials,
    request: &RoleRequest,
) -> Result<Temporary, FetchFailure> {
    sts.assume_role(source, request)
        .await
        .map_err(FetchFailure::from_api)
}
