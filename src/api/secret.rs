//! Secrets: a value that never prints ([`Secret`]) and the access key pair that carries two of
//! them ([`Credentials`]). Every other part of `api` (config, signing, STS, the credential chain)
//! holds keys through these types, so this module depends on nothing.

use std::fmt;

/// A secret value (AccessKey secret, STS token). `Debug` and `Display` print `***`, so a secret
/// cannot reach a log line, an error, a report or a plan file by accident; the value is read only
/// where a signature is computed, through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The raw value, for signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An access key pair, optionally with an STS token. The ID is not secret (it appears in every
/// signed request); the secret and token are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub security_token: Option<Secret>,
}

impl Credentials {
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials {
            access_key_id: id.into(),
            access_key_secret: Secret::new(secret),
            security_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut c = Credentials::new("LTAIid", "very-secret-value");
        c.security_token = Some(Secret::new("token-value"));
        let shown = format!("{c:?} {}", c.access_key_secret);
        assert!(!shown.contains("very-secret-value"));
        assert!(!shown.contains("token-value"));
        assert!(shown.contains("LTAIid"));
    }
}
