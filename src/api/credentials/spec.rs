//! How credentials are obtained ([`Spec`]): the decision the chain makes from files and variables,
//! without any network or process, and what the provider then acts on.

use std::path::PathBuf;

use crate::api::secret::Credentials;

/// How credentials are obtained: a decision [`load`](super::load) makes from files and
/// variables, without any network or process. `Debug` never shows a secret (they are
/// [`Secret`](crate::api::secret::Secret)s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// AccessKey pair or STS token as given; cannot be refreshed. `expiration` is known only when
    /// the source says it (the CLI's `sts_expiration`).
    Static {
        credentials: Credentials,
        expiration: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// STS `AssumeRoleWithOIDC`; the token file is re-read at every refresh (it rotates).
    Oidc {
        role_arn: String,
        provider_arn: String,
        token_file: PathBuf,
        session_name: Option<String>,
        duration_secs: Option<u32>,
        policy: Option<String>,
    },
    /// STS `AssumeRole` signed with the credentials of `source` (itself any spec).
    RamRole {
        source: Box<Spec>,
        role_arn: String,
        session_name: Option<String>,
        duration_secs: Option<u32>,
        policy: Option<String>,
        external_id: Option<String>,
    },
    /// A command that prints credentials as JSON (the aliyun CLI's `External` mode).
    External { command: String },
    /// A URL answering credentials as JSON.
    Uri { url: String },
    /// The ECS instance RAM role, from the instance metadata service.
    Ecs {
        role_name: Option<String>,
        imdsv1_disabled: bool,
        metadata_url: String,
    },
}

impl Spec {
    /// A one-line description for `-v`: the method and what it names (role ARNs, file paths,
    /// the URL without its query), never a secret.
    pub fn describe(&self) -> String {
        match self {
            Spec::Static {
                credentials,
                expiration,
            } => {
                let kind = if credentials.security_token.is_some() {
                    "STS token"
                } else {
                    "AccessKey"
                };
                match expiration {
                    Some(t) => format!(
                        "{kind} (AccessKey ID {}, expires {}; cannot be refreshed)",
                        credentials.access_key_id,
                        t.format("%Y-%m-%dT%H:%M:%SZ")
                    ),
                    None => format!("{kind} (AccessKey ID {})", credentials.access_key_id),
                }
            }
            Spec::Oidc {
                role_arn,
                token_file,
                ..
            } => format!(
                "OIDC: STS AssumeRoleWithOIDC for {role_arn}, token file {}",
                token_file.display()
            ),
            Spec::RamRole {
                source, role_arn, ..
            } => format!(
                "RAM role: STS AssumeRole for {role_arn}, signed with {}",
                source.describe()
            ),
            Spec::External { command } => {
                let program = command.split_whitespace().next().unwrap_or_default();
                format!("External: the output of `{program}`")
            }
            Spec::Uri { url } => format!("credentials URI {}", redact_url(url)),
            Spec::Ecs { role_name, .. } => format!(
                "ECS instance RAM role {}",
                role_name
                    .as_deref()
                    .unwrap_or("(named by the metadata service)")
            ),
        }
    }

    /// Whether credentials from this spec can be obtained again (refreshed).
    pub fn refreshable(&self) -> bool {
        !matches!(self, Spec::Static { .. })
    }
}

/// A URL for display: scheme, host, port and path; no user information, query or fragment
/// (either may carry a token).
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw.trim()) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(not a valid URL)".to_string(),
    }
}
