//! What the chain may look at: the `ALIBABA_CLOUD_*` variables, the home directory, and the files
//! they point to. An [`Environment`] is a value, so tests never depend on, or change, the real
//! process environment.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Environment variable names the chain reads.
pub mod var {
    pub const ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
    pub const ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
    pub const SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
    pub const PROFILE: &str = "ALIBABA_CLOUD_PROFILE";
    pub const CONFIG_FILE: &str = "ALIBABA_CLOUD_CONFIG_FILE";
    pub const CREDENTIALS_FILE: &str = "ALIBABA_CLOUD_CREDENTIALS_FILE";
    pub const ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
    pub const OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
    pub const OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
    pub const ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
    pub const ECS_METADATA: &str = "ALIBABA_CLOUD_ECS_METADATA";
    pub const ECS_METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";
    pub const IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";
    pub const CREDENTIALS_URI: &str = "ALIBABA_CLOUD_CREDENTIALS_URI";
}

/// What the loader may look at: environment variables and the home directory. `Debug` shows only
/// variable names, since values include secrets.
#[derive(Clone, Default)]
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub home: Option<PathBuf>,
    /// The instance metadata service's base URL. Only tests set it (to a loopback fake); the
    /// process environment cannot, so a user's variables never redirect where the ECS role's
    /// credentials come from. `None`: [`super::ecs::ECS_METADATA_URL`].
    pub ecs_metadata_url: Option<String>,
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("home", &self.home)
            .finish()
    }
}

impl Environment {
    /// The real process environment (only the `ALIBABA_CLOUD_*` variables are kept).
    pub fn from_process() -> Environment {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("ALIBABA_CLOUD_"))
            .collect();
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        Environment {
            vars,
            home,
            ecs_metadata_url: None,
        }
    }

    /// A set variable with a non-blank value; blank counts as unset, as in the official SDKs.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}
