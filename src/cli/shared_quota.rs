//! The shared quota on the command line: the `--quota-store` flags every API command takes and
//! the shared pacer they build from them (`livebatch quota status` is in `quota.rs`).

use std::sync::Arc;
use std::time::Duration;

use clap::Args as ClapArgs;
use tokio_util::sync::CancellationToken;

use super::Global;
use super::connect::engine_for;
use super::error::{CliError, call_failed};
use crate::api::client::Client;
use crate::api::operation::Operation;
use crate::apply::config::ExecConfig;
use crate::apply::engine::Engine;

use crate::pace::PACE_HEADROOM;
use crate::pace::adaptive::AdaptiveConfig;
use crate::pace::limiter::{DynPacer, Pacers};
use crate::quota::pacer::{OnStoreError, SharedConfig, SharedPacer, StoreEvent, runner_id};
use crate::quota::store::Store;
use crate::quota::{QuotaKey, StoreUrl};

/// Sharing one account's quota with other runners through Redis.
#[derive(Debug, Clone, ClapArgs)]
pub struct QuotaArgs {
    /// Share the account's quota with other livebatch runs through Redis:
    /// redis://[:PASSWORD@]HOST[:PORT][/DB], or rediss:// for TLS. Without it, pacing is in-process.
    #[arg(
        long,
        env = "LIVEBATCH_QUOTA_STORE",
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Shared quota"
    )]
    pub quota_store: Option<String>,
    /// Whose quota: the account ID (runs with the same key share one quota). Default: the
    /// credentials' account, learnt once with STS GetCallerIdentity.
    #[arg(
        long,
        value_name = "NAME",
        requires = "quota_store",
        help_heading = "Shared quota"
    )]
    pub quota_key: Option<String>,
    /// Seconds the quota store may stay unreachable (dispatch paused) before the run stops
    /// (apply: exit 3, resumable with --resume).
    #[arg(
        long,
        default_value_t = 60.0,
        value_name = "SECS",
        help_heading = "Shared quota"
    )]
    pub quota_store_timeout: f64,
    /// While the quota store is unreachable: pause dispatch (default), or pace in-process at the
    /// quota divided by the number of runners last seen.
    #[arg(long, value_enum, default_value_t = OnStoreError::Pause, value_name = "MODE", help_heading = "Shared quota")]
    pub on_quota_store_error: OnStoreError,
}

/// The store URL and account from the flags (`None` without `--quota-store`), or a usage error.
fn target(args: &QuotaArgs) -> Result<Option<(StoreUrl, String)>, CliError> {
    let Some(url) = &args.quota_store else {
        return Ok(None);
    };
    let url = StoreUrl::parse(url).map_err(CliError::usage)?;
    let Some(account) = &args.quota_key else {
        return Err(CliError::usage(
            "--quota-store needs the account: --quota-key ACCOUNT, or credentials that can call GetCallerIdentity",
        ));
    };
    QuotaKey::new(account, "UpdateLivePullToPush").map_err(CliError::usage)?;
    Ok(Some((url, account.clone())))
}

/// The flags with the account filled in: with `--quota-store` and no `--quota-key`, the account
/// is learnt once, here, with STS `GetCallerIdentity` (keys of one account — the account and its
/// RAM users — share its quota, so the key is the account, never the AccessKey).
pub async fn resolve(args: &QuotaArgs, client: &Client, g: &Global) -> Result<QuotaArgs, CliError> {
    if args.quota_store.is_none() || args.quota_key.is_some() {
        return Ok(args.clone());
    }
    match client.caller_identity().await {
        Ok(id) => {
            if g.verbose >= 1 {
                eprintln!(
                    "quota: account {} (GetCallerIdentity: {} {})",
                    id.account_id, id.identity_type, id.arn
                );
            }
            Ok(QuotaArgs {
                quota_key: Some(id.account_id),
                ..args.clone()
            })
        }
        Err(e) => {
            let message = format!(
                "--quota-store: cannot learn the account with GetCallerIdentity ({e}); \
                 pass --quota-key ACCOUNT"
            );
            Err(call_failed(&e, message))
        }
    }
}

/// Prints a store event on stderr (always: a paused or degraded run must say why).
pub fn print_event(e: &StoreEvent) {
    match e {
        StoreEvent::Down { message } => eprintln!(
            "warning: {message}; dispatch paused (calls in flight finish), retrying the quota store"
        ),
        StoreEvent::Local { rate, message } => eprintln!(
            "warning: {message}; pacing in-process at {rate:.2} calls/s (the quota shared by the runners last seen) until it answers"
        ),
        StoreEvent::Back { after } => eprintln!(
            "note: quota store answers again after {:.1} s; dispatch resumed",
            after.as_secs_f64()
        ),
        StoreEvent::Halted { after, message } => eprintln!(
            "error: {message}; no booking for {:.0} s (--quota-store-timeout): stopping",
            after.as_secs_f64()
        ),
    }
}

/// The shared pacers of one run (one per operation, one runner) and the token they fire when
/// the store stays unreachable past the timeout.
pub struct SharedRun {
    pacers: Vec<Arc<SharedPacer>>,
    pub halt: CancellationToken,
}

impl SharedRun {
    /// The store's halt as the run sees it: it halts the run with the store's reason.
    pub fn external_halt(&self) -> crate::apply::dispatch::ExternalHalt {
        let pacers = self.pacers.clone();
        crate::apply::dispatch::ExternalHalt {
            token: self.halt.clone(),
            reason: Arc::new(move || crate::outcome::HaltReason::QuotaStore {
                message: pacers
                    .iter()
                    .find_map(|p| p.halted())
                    .unwrap_or_else(|| "unreachable past --quota-store-timeout".into()),
            }),
        }
    }

    /// Ends a shared run: says why it halted if the store made it, and unregisters the runner.
    pub async fn finish(&self) {
        if let Some(why) = self.pacers.iter().find_map(|p| p.halted()) {
            // Shared by every command: only `apply` keeps a journal, so only it can resume.
            eprintln!(
                "error: the run stopped because the quota store could not be used ({why}); \
                 once it answers, run the command again (apply: with --resume, to skip what was done)"
            );
        }
        // All at once, under one bound: the store may be unreachable (stopped, partitioned), and
        // the run must still end promptly (CI grace periods are often 10 s). Leases not left
        // expire on their own.
        let leave = futures_util::future::join_all(self.pacers.iter().map(|p| p.leave()));
        let _ = tokio::time::timeout(Duration::from_secs(1), leave).await;
    }
}

/// The engine of a real run: as [`engine_for`] without `--quota-store`; with it, every
/// operation's pacer is a [`SharedPacer`] on `livebatch:{ACCOUNT}:OPERATION`, the account learnt
/// once with GetCallerIdentity unless `--quota-key` names it.
pub async fn engine(
    client: Client,
    qps: f64,
    config: &ExecConfig,
    args: &QuotaArgs,
    g: &Global,
) -> Result<(Arc<Engine<Client>>, Option<Arc<SharedRun>>), CliError> {
    let args = resolve(args, &client, g).await?;
    let Some((url, account)) = target(&args)? else {
        return engine_for(client, qps, config).map(|e| (e, None));
    };
    if !args.quota_store_timeout.is_finite() || args.quota_store_timeout <= 0.0 {
        return Err(CliError::usage(format!(
            "--quota-store-timeout must be a positive number of seconds, got {}",
            args.quota_store_timeout
        )));
    }
    let mut keys = Vec::new();
    for op in Operation::ALL {
        keys.push(QuotaKey::new(&account, op.action()).map_err(CliError::usage)?);
    }
    let store = Store::connect(&url).await.map_err(CliError::failure)?;
    let runner = runner_id();
    if !g.quiet {
        eprintln!(
            "quota: sharing livebatch:{{{account}}}:<operation> through {url} as runner {runner}"
        );
    }
    let shared_config = SharedConfig {
        adaptive: AdaptiveConfig::for_cap(qps * PACE_HEADROOM),
        timeout: Duration::from_secs_f64(args.quota_store_timeout),
        on_error: args.on_quota_store_error,
    };
    let halt = CancellationToken::new();
    let mut made = Vec::new();
    let pacers = Pacers::from_fn(|op| {
        let p = Arc::new(SharedPacer::new(
            store.clone(),
            keys[op.index()].clone(),
            runner.clone(),
            shared_config,
            halt.clone(),
            print_event,
        ));
        made.push(p.clone());
        (qps, p as Arc<dyn DynPacer>)
    });
    let engine = Arc::new(Engine::new(Arc::new(client), pacers, config));
    Ok((engine, Some(Arc::new(SharedRun { pacers: made, halt }))))
}

/// Runs `work` unless the quota store halts the run first (exit `halted`, without a message:
/// [`SharedRun::finish`] says why): planning and verify wait on the shared pacers too, and a
/// halted pacer never hands out a slot. `apply` passes 3 (its journal makes the run resumable);
/// `plan`, `diff` and `export` pass 1: they have nothing to resume, only to run again.
pub async fn until_halted<T>(
    shared: Option<&SharedRun>,
    halted: u8,
    work: impl std::future::Future<Output = T>,
) -> Result<T, CliError> {
    let Some(s) = shared else {
        return Ok(work.await);
    };
    tokio::select! {
        r = work => Ok(r),
        _ = s.halt.cancelled() => Err(CliError::reported(halted)),
    }
}
