//! The chain: the official SDKs' order of sources, each tried in turn ([`CHAIN`]), the first
//! that is configured deciding how credentials are obtained ([`load`]); when none is, an error
//! listing what each one looked at.

use super::environment::{Environment, var};
use super::error::CredentialsError;
use super::spec::Spec;
use super::step::{Answer, Ask, CredentialSource, Step};
use super::{cli_config, ecs, ini, oidc, static_keys, uri};
use crate::api::secret::Credentials;

/// The official order: AccessKey variables, OIDC variables, the aliyun CLI's config file, the
/// credentials INI file, the ECS instance RAM role, the credentials URI.
const CHAIN: [Step; 6] = [
    static_keys::from_env,
    oidc::from_env,
    cli_config::from_file,
    ini::from_file,
    ecs::from_env,
    uri::from_env,
];

/// Credentials found by [`load`], where they came from, and remarks worth showing the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedCredentials {
    /// How to obtain the credentials.
    pub spec: Spec,
    pub source: CredentialSource,
    /// E.g. that `--profile` was ignored because environment variables take precedence.
    pub notes: Vec<String>,
}

impl LoadedCredentials {
    /// The credentials themselves, when the source gives them as they are (AK, STS token).
    pub fn static_credentials(&self) -> Option<&Credentials> {
        match &self.spec {
            Spec::Static { credentials, .. } => Some(credentials),
            _ => None,
        }
    }
}

/// Finds credentials along the official chain. `profile_flag` is `--profile`; when absent,
/// `ALIBABA_CLOUD_PROFILE` names the profile, else the CLI file's `current` (and `default` for
/// the INI file). Reads only the files the environment points at; the first source that is
/// configured wins (a configured source that then fails to produce credentials is reported, not
/// silently skipped for a different identity).
pub fn load(
    env: &Environment,
    profile_flag: Option<&str>,
) -> Result<LoadedCredentials, CredentialsError> {
    let profile_flag = profile_flag.map(str::trim).filter(|p| !p.is_empty());
    let ask = Ask {
        env,
        requested: profile_flag.or_else(|| env.var(var::PROFILE)),
    };
    let mut tried = Vec::new();
    for step in CHAIN {
        match step(&ask)? {
            Answer::Found {
                spec,
                source,
                overrides_profile,
            } => {
                let notes = match (profile_flag, overrides_profile) {
                    (Some(p), Some(what)) => vec![format!(
                        "--profile {p:?} is ignored: {what} set and come first; unset them to use the profile"
                    )],
                    _ => Vec::new(),
                };
                return Ok(LoadedCredentials {
                    spec,
                    source,
                    notes,
                });
            }
            Answer::Skipped(why) => tried.push(why),
        }
    }
    Err(CredentialsError::NotFound {
        tried,
        profile: ask.requested.map(str::to_string),
    })
}
