//! Why credentials could not be had: [`CredentialsError`] for the chain and the provider (messages
//! name files, lines, profiles and sources, never values), and [`FetchFailure`], what one source's
//! fetch reports before the provider names the source.

use std::path::PathBuf;

use super::environment::var;
use crate::api::error::ApiError;

/// Why no credentials could be used. Messages name files, lines and profiles, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("{}", not_found_message(tried, profile.as_deref()))]
    NotFound {
        /// One line per source: what was looked at and why it yielded nothing.
        tried: Vec<String>,
        /// The profile asked for (`--profile` or `ALIBABA_CLOUD_PROFILE`), if any.
        profile: Option<String>,
    },
    #[error(
        "{set} is set but {missing} is not: set both (and {} for STS), or unset {set} to use a profile",
        var::SECURITY_TOKEN
    )]
    IncompleteEnvironment {
        set: &'static str,
        missing: &'static str,
    },
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Malformed {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("cannot read {}: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    /// A source was configured but could not produce credentials (STS refused, the process
    /// failed, the URL did not answer). `transient`: a network failure worth retrying.
    #[error("{source_name}: {message}")]
    Fetch {
        source_name: String,
        message: String,
        transient: bool,
    },
    #[error(
        "{}: profile {profile:?} has {kind} {value:?}, which livebatch cannot use; supported: {supported}. \
         Choose another profile with --profile NAME, or set {} and {}",
        path.display(), var::ACCESS_KEY_ID, var::ACCESS_KEY_SECRET
    )]
    Unsupported {
        path: PathBuf,
        profile: String,
        kind: &'static str,
        value: String,
        supported: &'static str,
    },
}

fn not_found_message(tried: &[String], profile: Option<&str>) -> String {
    let mut m = String::from("no Alibaba Cloud credentials found");
    if let Some(p) = profile {
        m.push_str(&format!(" (profile {p:?})"));
    }
    m.push_str(". Tried, in order:\n");
    for (i, t) in tried.iter().enumerate() {
        m.push_str(&format!("  {}. {t}\n", i + 1));
    }
    m.push_str(&format!(
        "To fix, do one of:\n  - export {} and {} (and {} for STS credentials);\n  \
         - run `aliyun configure` (writes ~/.aliyun/config.json; modes AK, StsToken, RamRoleArn, \
         ChainableRamRoleArn, OIDC, External, EcsRamRole, CredentialsURI), \
         or point {} at such a file;\n  \
         - write ~/.alibabacloud/credentials with a [default] section holding type = access_key, \
         access_key_id and access_key_secret (or point {} at it);\n  \
         - in CI, use OIDC: set {}, {} and {};\n  \
         - pick an existing profile with --profile NAME or {}.",
        var::ACCESS_KEY_ID,
        var::ACCESS_KEY_SECRET,
        var::SECURITY_TOKEN,
        var::CONFIG_FILE,
        var::CREDENTIALS_FILE,
        var::ROLE_ARN,
        var::OIDC_PROVIDER_ARN,
        var::OIDC_TOKEN_FILE,
        var::PROFILE
    ));
    m
}

/// A source's fetch failed: why (never a secret), and whether a retry may succeed (a network
/// failure, a 5xx) or not (a missing file, a refusal, a malformed answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchFailure {
    pub message: String,
    pub transient: bool,
}

impl FetchFailure {
    pub fn permanent(message: impl Into<String>) -> FetchFailure {
        FetchFailure {
            message: message.into(),
            transient: false,
        }
    }

    pub fn transient(message: impl Into<String>) -> FetchFailure {
        FetchFailure {
            message: message.into(),
            transient: true,
        }
    }

    /// An STS call failed: transient when its class is retried.
    pub fn from_api(e: ApiError) -> FetchFailure {
        FetchFailure {
            transient: e.class().is_retryable(),
            message: e.to_string(),
        }
    }

    /// The error as the provider reports it, naming the source (`Spec::describe`).
    pub fn named(self, source_name: &str) -> CredentialsError {
        CredentialsError::Fetch {
            source_name: source_name.to_string(),
            message: self.message,
            transient: self.transient,
        }
    }
}
