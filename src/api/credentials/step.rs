//! One step of the chain: what every source is given ([`Ask`]), what it answers ([`Answer`]:
//! found, or why not), and the name a found source goes by ([`CredentialSource`]). The sources
//! and the chain that tries them in order both build on this.

use std::fmt;
use std::path::PathBuf;

use super::environment::{Environment, var};
use super::error::CredentialsError;
use super::spec::Spec;

/// What a step may look at.
pub struct Ask<'a> {
    pub env: &'a Environment,
    /// The profile asked for: `--profile`, else `ALIBABA_CLOUD_PROFILE`.
    pub requested: Option<&'a str>,
}

/// A step's answer when nothing is broken.
pub enum Answer {
    /// This source is configured: how to obtain credentials, and where they come from.
    /// `overrides_profile`: set by sources that win over any profile (environment variables), the
    /// words naming them (`"X and Y are"`), for the note that `--profile` was ignored.
    Found {
        spec: Spec,
        source: CredentialSource,
        overrides_profile: Option<String>,
    },
    /// Not configured here: what was looked at and why it yielded nothing, one line of the
    /// "Tried, in order" list.
    Skipped(String),
}

impl Answer {
    /// A source that read the profile it was asked for (or needs none).
    pub fn found(spec: Spec, source: CredentialSource) -> Answer {
        Answer::Found {
            spec,
            source,
            overrides_profile: None,
        }
    }
}

/// One source of the chain. `Err`: the source is configured but broken; the chain stops there,
/// to be fixed, rather than go on to a different identity.
pub type Step = fn(&Ask<'_>) -> Result<Answer, CredentialsError>;

/// Where a set of credentials came from, for `-v` output and error messages (never the values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    Environment,
    /// `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`, `ALIBABA_CLOUD_OIDC_TOKEN_FILE`.
    OidcEnvironment,
    CliConfig {
        path: PathBuf,
        profile: String,
    },
    IniFile {
        path: PathBuf,
        profile: String,
    },
    /// `ALIBABA_CLOUD_ECS_METADATA`.
    EcsMetadata,
    /// `ALIBABA_CLOUD_CREDENTIALS_URI`.
    CredentialsUri,
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Environment => {
                write!(f, "environment variables ({})", var::ACCESS_KEY_ID)
            }
            CredentialSource::OidcEnvironment => {
                write!(f, "environment variables ({})", var::OIDC_TOKEN_FILE)
            }
            CredentialSource::EcsMetadata => {
                write!(f, "environment variable {}", var::ECS_METADATA)
            }
            CredentialSource::CredentialsUri => {
                write!(f, "environment variable {}", var::CREDENTIALS_URI)
            }
            CredentialSource::CliConfig { path, profile } => {
                write!(
                    f,
                    "aliyun CLI config {} (profile {profile:?})",
                    path.display()
                )
            }
            CredentialSource::IniFile { path, profile } => {
                write!(
                    f,
                    "credentials file {} (profile {profile:?})",
                    path.display()
                )
            }
        }
    }
}
