//! OIDC: STS `AssumeRoleWithOIDC` with a token from a file (CI runners, Kubernetes). The chain's
//! second step reads the three `ALIBABA_CLOUD_*` variables that configure it; profiles can name it
//! too. The token file is re-read at every fetch, because it rotates.

use std::path::{Path, PathBuf};

use super::environment::var;
use super::error::{CredentialsError, FetchFailure};
use super::local_file;
use super::spec::Spec;
use super::step::{Answer, Ask, CredentialSource};
use crate::api::secret::Secret;
use crate::api::sts::{RoleRequest, StsClient, Temporary};

/// All three variables set: OIDC, over any profile. Some of them only: skipped, saying which are
/// missing (all three are needed, as in the official chain).
pub fn from_env(ask: &Ask<'_>) -> Result<Answer, CredentialsError> {
    let env = ask.env;
    let oidc = [var::ROLE_ARN, var::OIDC_PROVIDER_ARN, var::OIDC_TOKEN_FILE];
    let set: Vec<&str> = oidc
        .iter()
        .copied()
        .filter(|v| env.var(v).is_some())
        .collect();
    if set.len() == oidc.len() {
        return Ok(Answer::Found {
            spec: Spec::Oidc {
                role_arn: env.var(var::ROLE_ARN).unwrap_or_default().to_string(),
                provider_arn: env
                    .var(var::OIDC_PROVIDER_ARN)
                    .unwrap_or_default()
                    .to_string(),
                token_file: PathBuf::from(env.var(var::OIDC_TOKEN_FILE).unwrap_or_default()),
                session_name: env.var(var::ROLE_SESSION_NAME).map(str::to_string),
                duration_secs: None,
                policy: None,
            },
            source: CredentialSource::OidcEnvironment,
            overrides_profile: Some("the OIDC variables are".to_string()),
        });
    }
    if set.is_empty() {
        return Ok(Answer::Skipped(format!(
            "OIDC: {}, {} and {} are not set",
            var::ROLE_ARN,
            var::OIDC_PROVIDER_ARN,
            var::OIDC_TOKEN_FILE
        )));
    }
    let missing: Vec<&str> = oidc.iter().copied().filter(|v| !set.contains(v)).collect();
    Ok(Answer::Skipped(format!(
        "OIDC: {} set but {} not (all three are needed)",
        set.join(", "),
        missing.join(", ")
    )))
}

/// The largest OIDC token file read. A JWT from a CI runner or Kubernetes is a few kilobytes.
const MAX_TOKEN: u64 = 64 << 10;

/// Reads the token (now: it rotates) and exchanges it for temporary credentials.
pub async fn fetch(
    sts: &StsClient,
    provider_arn: &str,
    token_file: &Path,
    request: &RoleRequest,
) -> Result<Temporary, FetchFailure> {
    let token = local_file::read_bounded(token_file, MAX_TOKEN).map_err(|e| {
        FetchFailure::permanent(format!(
            "cannot read the OIDC token file {}: {e}",
            token_file.display()
        ))
    })?;
    let token = String::from_utf8(token).map_err(|_| {
        FetchFailure::permanent(format!(
            "the OIDC token file {} is not UTF-8 text (an OIDC token is a JWT)",
            token_file.display()
        ))
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(FetchFailure::permanent(format!(
            "the OIDC token file {} is empty",
            token_file.display()
        )));
    }
    sts.assume_role_with_oidc(provider_arn, &Secret::new(token), request)
        .await
        .map_err(FetchFailure::from_api)
}
