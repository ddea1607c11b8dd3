//! What each signed call is stamped with: the time ([`Clock`]) and a fresh nonce
//! ([`NonceSource`]). Both are injected, so tests reproduce exact signatures and the credential
//! provider can be driven by a test clock.

use chrono::{DateTime, Utc};

/// Where the signing time comes from. Injected so tests can reproduce exact signatures.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Where `x-acs-signature-nonce` values come from; each call (and so each retry) takes a new one.
pub trait NonceSource: Send + Sync + 'static {
    fn nonce(&self) -> String;
}

/// 128 random bits as 32 hex digits, like the official SDKs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomNonce;

impl NonceSource for RandomNonce {
    fn nonce(&self) -> String {
        format!("{:032x}", rand::random::<u128>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_nonces_differ() {
        let n = RandomNonce;
        let (a, b) = (n.nonce(), n.nonce());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
