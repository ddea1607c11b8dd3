//! Credentials at run time: obtained once, then refreshed ahead of their expiry in the
//! background, so that a run of hours outlives any number of one-hour STS sessions.
//!
//! - A call takes the current credentials without waiting; once they pass their refresh time the
//!   first such call starts one background refresh and every call keeps using the current ones.
//! - Only when credentials are (nearly) expired do calls wait, and all of them wait for the same
//!   single refresh (a `tokio` mutex plus a check that nobody refreshed meanwhile).
//! - A call the service answers `InvalidSecurityToken.Expired` asks for a refresh of exactly the
//!   credentials it used ([`CredentialProvider::refresh_rejected`]); concurrent rejections of
//!   the same credentials share one refresh.
//!
//! When to refresh is a pure function ([`refresh_at`], [`must_wait`]) of the times involved.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as Span, Utc};

use super::error::{CredentialsError, FetchFailure};
use super::spec::Spec;
use super::{answer, ecs, external, oidc, ram_role, uri};
use crate::api::clock::{Clock, SystemClock};
use crate::api::config::ClientConfig;
use crate::api::secret::Credentials;
use crate::api::sts::{RoleRequest, StsClient};

pub use super::ram_role::DEFAULT_DURATION_SECS;

/// The official providers refresh STS credentials 15 minutes before they expire
/// (credentials-go `SessionStaleTimeSeconds`, the same in Python, Java and Node).
pub const STALE_MARGIN_SECS: i64 = 15 * 60;
/// After a failed background refresh, wait this long before trying again in the background
/// (calls keep using the still-valid credentials meanwhile).
pub const BACKGROUND_RETRY_SECS: i64 = 5;

/// Builds the provider for `spec` (STS calls to the endpoint `config` implies) and obtains the
/// first credentials now, on a runtime of its own, so that a source that cannot produce
/// credentials is reported before anything is sent. Works inside or outside a runtime, but blocks
/// the calling thread: from async code that also serves the STS endpoint (an in-process
/// emulator), call it through `spawn_blocking`.
pub fn resolve(
    spec: &Spec,
    config: &ClientConfig,
) -> Result<(Arc<CredentialProvider>, Arc<Issued>), CredentialsError> {
    let sts = StsClient::for_config(config).map_err(|e| CredentialsError::Fetch {
        source_name: spec.describe(),
        message: e.to_string(),
        transient: false,
    })?;
    let provider = CredentialProvider::from_spec(spec, Some(&sts), Arc::new(SystemClock));
    let first = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| CredentialsError::Fetch {
                    source_name: spec.describe(),
                    message: format!("cannot start a runtime: {e}"),
                    transient: false,
                })?;
            rt.block_on(provider.credentials())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(CredentialsError::Fetch {
                source_name: spec.describe(),
                message: "the credential fetch panicked".into(),
                transient: false,
            })
        })
    })?;
    Ok((provider, first))
}

/// Credentials as obtained, with when and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub credentials: Credentials,
    pub obtained: DateTime<Utc>,
    pub expiration: Option<DateTime<Utc>>,
}

/// When credentials obtained at `obtained` and expiring at `expiration` should be refreshed: the
/// official 15 minutes ahead, or a third of their lifetime when that is shorter (short sessions,
/// as `emulator --sts-ttl 60` issues, are refreshed at 40 s rather than immediately).
pub fn refresh_at(obtained: DateTime<Utc>, expiration: DateTime<Utc>) -> DateTime<Utc> {
    let life = (expiration - obtained).max(Span::zero());
    let margin = Span::seconds(STALE_MARGIN_SECS).min(life / 3);
    expiration - margin
}

/// Whether credentials are too close to expiry to be used while a refresh runs: within 5 s or a
/// tenth of their lifetime, whichever is shorter (a call signed now must still be valid when the
/// service checks it).
pub fn must_wait(now: DateTime<Utc>, obtained: DateTime<Utc>, expiration: DateTime<Utc>) -> bool {
    let life = (expiration - obtained).max(Span::zero());
    let hard = Span::seconds(5).min(life / 10);
    expiration - now <= hard
}

/// A source answered credentials whose expiry has already passed. Used, every call would be
/// refused by the service (or, signed anyway, sent with keys known to be dead), and since
/// expired credentials must be fetched again before each call, every call would fetch them
/// again; refused at once, the run stops before sending anything and says why.
fn expired_answer(expiration: DateTime<Utc>, now: DateTime<Utc>) -> FetchFailure {
    FetchFailure::permanent(format!(
        "the credentials it answered expired at {} ({} s before now by this machine's clock); \
         the source must hand out current credentials (or this machine's clock is wrong)",
        expiration.format("%Y-%m-%dT%H:%M:%SZ"),
        (now - expiration).num_seconds()
    ))
}

/// How one kind of source obtains credentials.
enum Fetcher {
    Static(Arc<Issued>),
    Oidc {
        provider_arn: String,
        token_file: std::path::PathBuf,
        request: RoleRequest,
        sts: StsClient,
    },
    RamRole {
        source: Arc<CredentialProvider>,
        request: RoleRequest,
        sts: StsClient,
    },
    External {
        command: String,
    },
    Uri {
        url: String,
        http: reqwest::Client,
    },
    Ecs {
        role_name: Option<String>,
        imdsv1_disabled: bool,
        base: String,
        http: reqwest::Client,
    },
    /// A spec that cannot work as built (why).
    Unavailable(String),
}

/// Obtains, caches and refreshes credentials from one [`Spec`]. Share it in an `Arc`.
pub struct CredentialProvider {
    fetcher: Fetcher,
    description: String,
    clock: Arc<dyn Clock>,
    current: Mutex<Option<Arc<Issued>>>,
    refresh_lock: tokio::sync::Mutex<()>,
    background: AtomicBool,
    next_background: Mutex<Option<DateTime<Utc>>>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for CredentialProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialProvider")
            .field("source", &self.description)
            .field("fetches", &self.fetches.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl CredentialProvider {
    /// Credentials that never change (tests, the sandbox, static keys).
    pub fn fixed(credentials: Credentials) -> Arc<CredentialProvider> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        CredentialProvider::from_spec(
            &Spec::Static {
                credentials,
                expiration: None,
            },
            None,
            clock,
        )
    }

    /// A provider for `spec`. `sts` is where STS calls go (required by OIDC and RAM role specs;
    /// without it they fail at their first fetch with a message saying so).
    pub fn from_spec(
        spec: &Spec,
        sts: Option<&StsClient>,
        clock: Arc<dyn Clock>,
    ) -> Arc<CredentialProvider> {
        let now = clock.now();
        let missing_sts = |spec: &Spec| {
            Fetcher::Unavailable(format!(
                "{} needs an STS client, and none was given",
                spec.describe()
            ))
        };
        let fetcher = match spec {
            Spec::Static {
                credentials,
                expiration,
            } => Fetcher::Static(Arc::new(Issued {
                credentials: credentials.clone(),
                obtained: now,
                expiration: *expiration,
            })),
            Spec::Oidc {
                role_arn,
                provider_arn,
                token_file,
                session_name,
                duration_secs,
                policy,
            } => match sts {
                Some(sts) => Fetcher::Oidc {
                    provider_arn: provider_arn.clone(),
                    token_file: token_file.clone(),
                    request: ram_role::role_request(
                        role_arn,
                        session_name,
                        *duration_secs,
                        policy,
                        &None,
                        now,
                    ),
                    sts: sts.clone(),
                },
                None => missing_sts(spec),
            },
            Spec::RamRole {
                source,
                role_arn,
                session_name,
                duration_secs,
                policy,
                external_id,
            } => match sts {
                Some(sts) => Fetcher::RamRole {
                    source: CredentialProvider::from_spec(source, Some(sts), clock.clone()),
                    request: ram_role::role_request(
                        role_arn,
                        session_name,
                        *duration_secs,
                        policy,
                        external_id,
                        now,
                    ),
                    sts: sts.clone(),
                },
                None => missing_sts(spec),
            },
            Spec::External { command } => Fetcher::External {
                command: command.clone(),
            },
            Spec::Uri { url } => Fetcher::Uri {
                url: url.clone(),
                http: answer::plain_http(),
            },
            Spec::Ecs {
                role_name,
                imdsv1_disabled,
                metadata_url,
            } => Fetcher::Ecs {
                role_name: role_name.clone(),
                imdsv1_disabled: *imdsv1_disabled,
                base: metadata_url.trim_end_matches('/').to_string(),
                http: answer::plain_http(),
            },
        };
        Arc::new(CredentialProvider {
            fetcher,
            description: spec.describe(),
            clock,
            current: Mutex::new(None),
            refresh_lock: tokio::sync::Mutex::new(()),
            background: AtomicBool::new(false),
            next_background: Mutex::new(None),
            fetches: AtomicU64::new(0),
        })
    }

    /// What this provider obtains credentials from (for `-v`; never a secret).
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Whether credentials can be obtained again (everything but static keys and tokens).
    pub fn refreshable(&self) -> bool {
        !matches!(self.fetcher, Fetcher::Static(_))
    }

    /// How many times credentials were obtained again after the first time.
    pub fn refreshes(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// The expiry of the current credentials, when known.
    pub fn expiration(&self) -> Option<DateTime<Utc>> {
        match &self.fetcher {
            Fetcher::Static(i) => i.expiration,
            _ => self.current().and_then(|c| c.expiration),
        }
    }

    fn current(&self) -> Option<Arc<Issued>> {
        if let Fetcher::Static(i) = &self.fetcher {
            return Some(i.clone());
        }
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Credentials to sign a call with now: the current ones, refreshed first only when they
    /// are (nearly) expired; a refresh that is merely due runs in the background.
    pub async fn credentials(self: &Arc<Self>) -> Result<Arc<Issued>, CredentialsError> {
        let now = self.clock.now();
        if let Some(c) = self.current() {
            let Some(exp) = c.expiration.filter(|_| self.refreshable()) else {
                return Ok(c);
            };
            if !must_wait(now, c.obtained, exp) {
                if now >= refresh_at(c.obtained, exp) {
                    self.spawn_background(&c, now);
                }
                return Ok(c);
            }
            return self.refresh(Some(c)).await;
        }
        self.refresh(None).await
    }

    /// The service refused `rejected` as expired: obtain new credentials (once, however many
    /// calls were refused with the same ones). `Ok(None)`: this source cannot refresh.
    pub async fn refresh_rejected(
        self: &Arc<Self>,
        rejected: &Arc<Issued>,
    ) -> Result<Option<Arc<Issued>>, CredentialsError> {
        if !self.refreshable() {
            return Ok(None);
        }
        self.refresh(Some(rejected.clone())).await.map(Some)
    }

    fn spawn_background(self: &Arc<Self>, stale: &Arc<Issued>, now: DateTime<Utc>) {
        if let Some(t) = *self
            .next_background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            && now < t
        {
            return;
        }
        if self.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.background.store(false, Ordering::Release);
            return;
        };
        let me = self.clone();
        let stale = stale.clone();
        rt.spawn(async move {
            if me.refresh(Some(stale)).await.is_err() {
                let retry = me.clock.now() + Span::seconds(BACKGROUND_RETRY_SECS);
                *me.next_background.lock().unwrap_or_else(|e| e.into_inner()) = Some(retry);
            }
            me.background.store(false, Ordering::Release);
        });
    }

    /// One refresh at a time; a caller that waited for another's refresh of the same stale
    /// credentials takes its result instead of fetching again.
    async fn refresh(
        self: &Arc<Self>,
        stale: Option<Arc<Issued>>,
    ) -> Result<Arc<Issued>, CredentialsError> {
        let _guard = self.refresh_lock.lock().await;
        if let Some(cur) = self.current() {
            let replaced = match &stale {
                None => true,
                Some(s) => !Arc::ptr_eq(s, &cur),
            };
            if replaced || !self.refreshable() {
                return Ok(cur);
            }
        }
        let issued = Arc::new(self.fetch().await?);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(issued.clone());
        *self
            .next_background
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        Ok(issued)
    }

    /// Obtains credentials once from the source, as they are now.
    async fn fetch(&self) -> Result<Issued, CredentialsError> {
        let now = self.clock.now();
        let issued = |credentials, expiration| Issued {
            credentials,
            obtained: now,
            expiration,
        };
        let fetched = match &self.fetcher {
            Fetcher::Static(i) => return Ok((**i).clone()),
            Fetcher::Unavailable(why) => Err(FetchFailure::permanent(why.clone())),
            Fetcher::Oidc {
                provider_arn,
                token_file,
                request,
                sts,
            } => oidc::fetch(sts, provider_arn, token_file, request)
                .await
                .map(|t| issued(t.credentials, Some(t.expiration))),
            Fetcher::RamRole {
                source,
                request,
                sts,
            } => {
                let src = Box::pin(source.credentials()).await?;
                ram_role::fetch(sts, &src.credentials, request)
                    .await
                    .map(|t| issued(t.credentials, Some(t.expiration)))
            }
            Fetcher::External { command } => external::fetch(command)
                .await
                .map(|(c, expiration)| issued(c, expiration)),
            Fetcher::Uri { url, http } => uri::fetch(http, url)
                .await
                .map(|(c, expiration)| issued(c, Some(expiration))),
            Fetcher::Ecs {
                role_name,
                imdsv1_disabled,
                base,
                http,
            } => ecs::fetch(http, base, role_name.as_deref(), *imdsv1_disabled)
                .await
                .map(|(c, expiration)| issued(c, Some(expiration))),
        };
        let issued = fetched.map_err(|f| f.named(&self.description))?;
        match issued.expiration {
            Some(exp) if exp <= now => Err(expired_answer(exp, now).named(&self.description)),
            _ => Ok(issued),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn an_hour_session_refreshes_fifteen_minutes_ahead() {
        assert_eq!(refresh_at(t(0), t(3600)), t(2700));
        assert!(!must_wait(t(3594), t(0), t(3600)));
        assert!(must_wait(t(3595), t(0), t(3600)));
    }

    #[test]
    fn a_one_minute_session_refreshes_at_two_thirds() {
        assert_eq!(refresh_at(t(0), t(60)), t(40));
        // Hard limit: a tenth of 60 s, shorter than 5 s? No: min(5, 6) = 5.
        assert!(!must_wait(t(54), t(0), t(60)));
        assert!(must_wait(t(55), t(0), t(60)));
    }

    #[test]
    fn expired_or_backwards_times_must_wait() {
        assert!(must_wait(t(100), t(0), t(60)));
        assert_eq!(refresh_at(t(10), t(0)), t(0));
        assert!(must_wait(t(0), t(10), t(0)));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// The refresh time lies inside the lifetime, at least 2/3 of the way when the
            /// session is short, and a refresh is due before calls must wait.
            #[test]
            fn refresh_is_due_before_calls_must_wait(life in 1i64..50_000, at in 0i64..50_000) {
                let (o, e) = (t(0), t(life));
                let r = refresh_at(o, e);
                prop_assert!(r >= o && r <= e);
                prop_assert!(r >= o + (e - o) * 2 / 3 - Span::seconds(1));
                let now = t(at.min(life));
                if must_wait(now, o, e) {
                    prop_assert!(now >= r);
                }
            }
        }
    }
}
