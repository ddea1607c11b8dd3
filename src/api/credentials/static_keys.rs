//! Static keys from the environment, the chain's first step: `ALIBABA_CLOUD_ACCESS_KEY_ID` and
//! `ALIBABA_CLOUD_ACCESS_KEY_SECRET` (with `ALIBABA_CLOUD_SECURITY_TOKEN` for STS credentials).
//! Used as given; they cannot be refreshed.

use super::environment::var;
use super::error::CredentialsError;
use super::spec::Spec;
use super::step::{Answer, Ask, CredentialSource};
use crate::api::secret::{Credentials, Secret};

/// Both variables set: these keys, over any profile. One of them alone is an error, not a reason
/// to go on to a different identity.
pub fn from_env(ask: &Ask<'_>) -> Result<Answer, CredentialsError> {
    let env = ask.env;
    match (env.var(var::ACCESS_KEY_ID), env.var(var::ACCESS_KEY_SECRET)) {
        (Some(id), Some(secret)) => Ok(Answer::Found {
            spec: Spec::Static {
                credentials: Credentials {
                    access_key_id: id.to_string(),
                    access_key_secret: Secret::new(secret),
                    security_token: env.var(var::SECURITY_TOKEN).map(Secret::new),
                },
                expiration: None,
            },
            source: CredentialSource::Environment,
            overrides_profile: Some(format!(
                "{} and {} are",
                var::ACCESS_KEY_ID,
                var::ACCESS_KEY_SECRET
            )),
        }),
        (Some(_), None) => Err(CredentialsError::IncompleteEnvironment {
            set: var::ACCESS_KEY_ID,
            missing: var::ACCESS_KEY_SECRET,
        }),
        (None, Some(_)) => Err(CredentialsError::IncompleteEnvironment {
            set: var::ACCESS_KEY_SECRET,
            missing: var::ACCESS_KEY_ID,
        }),
        (None, None) => Ok(Answer::Skipped(format!(
            "environment: {} and {} are not set",
            var::ACCESS_KEY_ID,
            var::ACCESS_KEY_SECRET
        ))),
    }
}
