//! Shared by every command that calls the API: credentials and flags to a client, the pace
//! flags' check, and the engine of a run without a shared quota. (The exit code of a failed call
//! is `error.rs`'s, with the error type; it is re-exported here for the commands that import it
//! from this file.)

use std::sync::Arc;

use super::error::CliError;
pub use super::error::exit_code_for;
use super::{ApiArgs, Global};
use crate::api::client::{Client, ClientConfig};
use crate::api::credentials::{self, Environment};
use crate::apply::config::ExecConfig;
use crate::apply::engine::Engine;
use crate::pace::PACE_HEADROOM;
use crate::pace::Pacers;

/// The documented per-account quota of every pull-to-push operation.
pub const DOCUMENTED_QUOTA: f64 = 10.0;

/// Checks the pace flags; the message says what would be right.
pub fn check_qps(qps: f64, quota_raised: bool) -> Result<(), String> {
    if !qps.is_finite() || qps < 0.01 {
        return Err(format!(
            "--qps must be a positive number of calls per second, got {qps}"
        ));
    }
    if qps > DOCUMENTED_QUOTA && !quota_raised {
        return Err(format!(
            "--qps {qps} is above the documented quota of {DOCUMENTED_QUOTA} calls/s per account; \
             calls over it are throttled. If Alibaba Cloud raised this account's quota, add --quota-raised"
        ));
    }
    Ok(())
}

/// Resolves credentials and builds a client from the shared API flags; the error says what went
/// wrong, with its exit code. Every API command uses this entry point.
pub fn connect(api: &ApiArgs, g: &Global) -> Result<Client, CliError> {
    let loaded =
        match credentials::load(&Environment::from_process(), api.connect.profile.as_deref()) {
            Ok(l) => l,
            Err(e) => return Err(CliError::credentials(e)),
        };
    if !g.quiet {
        for n in &loaded.notes {
            eprintln!("note: {n}");
        }
    }
    let placeholder = crate::api::credentials::Credentials::new("", "");
    let mut config = match ClientConfig::from_args(api, placeholder) {
        Ok(c) => c,
        Err(e) => return Err(CliError::usage(e)),
    };
    let (provider, first) = match credentials::provider::resolve(&loaded.spec, &config) {
        Ok(x) => x,
        Err(e) => {
            return Err(CliError::credentials(format!(
                "credentials from {} could not be obtained: {e}\n\
                 (the chain stops at the first source that is configured; fix it, or unset it to use the next)",
                loaded.source
            )));
        }
    };
    config.credentials = first.credentials.clone();
    super::error::note_key_in_use(super::error::KeyInUse {
        source: loaded.source.clone(),
        access_key_id: first.credentials.access_key_id.clone(),
        temporary: loaded.static_credentials().is_none(),
    });
    if g.verbose >= 1 {
        eprintln!(
            "credentials: {} — {}; endpoint: {}",
            loaded.source,
            provider.describe(),
            config.endpoint
        );
    }
    if !g.quiet
        && !provider.refreshable()
        && let Some(exp) = provider.expiration()
    {
        let left = exp - chrono::Utc::now();
        eprintln!(
            "warning: these STS credentials expire at {} ({}) and cannot be refreshed; a run still \
             going then halts (exit 3) and can be resumed with --resume once they are renewed",
            exp.format("%Y-%m-%dT%H:%M:%SZ"),
            if left.num_seconds() <= 0 {
                "already expired".to_string()
            } else {
                format!("in {} min", left.num_minutes())
            }
        );
    }
    Client::builder(config)
        .provider(provider)
        .build()
        .map_err(CliError::failure)
}

/// The engine of a real run: the client's calls, each operation paced at [`PACE_HEADROOM`] of
/// `qps` by a pacer of its own.
pub fn engine_for(
    client: Client,
    qps: f64,
    config: &ExecConfig,
) -> Result<Arc<Engine<Client>>, CliError> {
    let pacers = Pacers::governed(qps, PACE_HEADROOM).map_err(CliError::usage)?;
    Ok(Arc::new(Engine::new(Arc::new(client), pacers, config)))
}
