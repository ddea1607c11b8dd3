//! The shared quota on the command line: the `--quota-store` flags every API command takes, the
//! shared pacer they build from them, and `livebatch quota status`.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args as ClapArgs, Subcommand};
use tokio_util::sync::CancellationToken;

use super::Global;
use crate::api::client::Client;
use crate::api::operation::Operation;
use crate::apply::adaptive::AdaptiveConfig;
use crate::apply::executor::PACE_HEADROOM;
use crate::apply::executor::{Engine, ExecConfig};
use crate::apply::limiter::{DynPacer, Pacers};
use crate::exit;
use crate::quota::pacer::{
    OnStoreError, SharedConfig, SharedPacer, StoreEvent, params_for, runner_id,
};
use crate::quota::store::{Status, Store};
use crate::quota::{QuotaKey, StoreUrl};

/// The operations whose quotas `quota status` shows (each has its own 10 calls/s per account).
pub const OPERATIONS: [&str; 7] = [
    "UpdateLivePullToPush",
    "DescribeLivePullToPushList",
    "DescribeLivePullToPushInfo",
    "StopLivePullToPush",
    "RestartLivePullToPush",
    "CreateLivePullToPush",
    "DeleteLivePullToPush",
];

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
    /// Seconds the quota store may stay unreachable (dispatch paused) before the run halts
    /// with exit 3, resumable with --resume.
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

fn usage(m: impl std::fmt::Display) -> u8 {
    eprintln!("error: {m}");
    exit::USAGE
}

/// The store URL and account from the flags (`None` without `--quota-store`), or a usage error.
fn target(args: &QuotaArgs) -> Result<Option<(StoreUrl, String)>, u8> {
    let Some(url) = &args.quota_store else {
        return Ok(None);
    };
    let url = StoreUrl::parse(url).map_err(usage)?;
    let Some(account) = &args.quota_key else {
        return Err(usage(
            "--quota-store needs the account: --quota-key ACCOUNT, or credentials that can call GetCallerIdentity",
        ));
    };
    QuotaKey::new(account, "UpdateLivePullToPush").map_err(usage)?;
    Ok(Some((url, account.clone())))
}

/// The flags with the account filled in: with `--quota-store` and no `--quota-key`, the account
/// is learnt once, here, with STS `GetCallerIdentity` (keys of one account — the account and its
/// RAM users — share its quota, so the key is the account, never the AccessKey).
pub async fn resolve(args: &QuotaArgs, client: &Client, g: &Global) -> Result<QuotaArgs, u8> {
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
            eprintln!(
                "error: --quota-store: cannot learn the account with GetCallerIdentity ({e}); \
                 pass --quota-key ACCOUNT"
            );
            Err(super::export::exit_code_for(&e))
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
            "error: {message}; unreachable for {:.0} s: halting (exit 3, resumable with --resume)",
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
    /// Ends a shared run: says why it halted if the store made it, and unregisters the runner.
    pub async fn finish(&self) {
        if let Some(why) = self.pacers.iter().find_map(|p| p.halted()) {
            eprintln!("error: the run halted because the quota store was unreachable ({why})");
        }
        for p in &self.pacers {
            let _ = tokio::time::timeout(Duration::from_secs(2), p.leave()).await;
        }
    }
}

/// The engine of a real run: as `apply::engine_for` without `--quota-store`; with it, every
/// operation's pacer is a [`SharedPacer`] on `livebatch:{ACCOUNT}:OPERATION`, the account learnt
/// once with GetCallerIdentity unless `--quota-key` names it.
pub async fn engine(
    client: Client,
    qps: f64,
    config: &ExecConfig,
    args: &QuotaArgs,
    g: &Global,
) -> Result<(Arc<Engine<Client>>, Option<Arc<SharedRun>>), u8> {
    let args = resolve(args, &client, g).await?;
    let Some((url, account)) = target(&args)? else {
        return super::apply::engine_for(client, qps, config).map(|e| (e, None));
    };
    if !args.quota_store_timeout.is_finite() || args.quota_store_timeout <= 0.0 {
        return Err(usage(format!(
            "--quota-store-timeout must be a positive number of seconds, got {}",
            args.quota_store_timeout
        )));
    }
    let mut keys = Vec::new();
    for op in Operation::ALL {
        keys.push(QuotaKey::new(&account, op.action()).map_err(usage)?);
    }
    let store = Store::connect(&url).await.map_err(|e| {
        eprintln!("error: {e}");
        exit::FAILURE
    })?;
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

/// Runs `work` unless the quota store halts the run first (exit 3): planning and verify wait on
/// the shared pacers too, and a halted pacer never hands out a slot.
pub async fn until_halted<T>(
    shared: Option<&SharedRun>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, u8> {
    let Some(s) = shared else {
        return Ok(work.await);
    };
    tokio::select! {
        r = work => Ok(r),
        _ = s.halt.cancelled() => Err(exit::INTERRUPTED),
    }
}

/// `livebatch quota …`
#[derive(Debug, ClapArgs)]
#[command(after_help = "\
Examples:
  livebatch quota status --quota-store redis://127.0.0.1:6379 --quota-key 1234567890

Exit codes: 0 ok · 1 the store cannot be reached · 64 usage")]
pub struct Args {
    #[command(subcommand)]
    pub command: QuotaCommand,
}

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Show the runners sharing an account's quota, their recent rate and the current interval.
    Status(StatusArgs),
}

#[derive(Debug, ClapArgs)]
pub struct StatusArgs {
    /// The quota store: redis://HOST[:PORT][/DB] or rediss://…
    #[arg(
        long,
        env = "LIVEBATCH_QUOTA_STORE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub quota_store: String,
    /// The account key the runs share (their --quota-key).
    #[arg(long, value_name = "NAME")]
    pub quota_key: String,
    /// The quota the runs use (their --qps): only to show the rate of a key no run has slowed.
    #[arg(long, default_value_t = 10.0, value_name = "N")]
    pub qps: f64,
}

pub fn run(args: Args, _g: &Global) -> u8 {
    let QuotaCommand::Status(a) = args.command;
    if let Err(m) = super::apply::check_qps(a.qps, true) {
        return usage(m);
    }
    let url = match StoreUrl::parse(&a.quota_store) {
        Ok(u) => u,
        Err(e) => return usage(e),
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let store = match Store::connect(&url).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILURE;
            }
        };
        let params = params_for(&AdaptiveConfig::for_cap(a.qps * PACE_HEADROOM));
        let mut shown = Vec::new();
        for op in OPERATIONS {
            let key = match QuotaKey::new(&a.quota_key, op) {
                Ok(k) => k,
                Err(e) => return usage(e),
            };
            match store.status(&key, &params).await {
                Ok(s) => shown.push((op, s)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::FAILURE;
                }
            }
        }
        print!("{}", render_status(&url.to_string(), &a.quota_key, &shown));
        exit::SUCCESS
    })
}

/// The human form of `quota status`: one block per operation that has runners or was slowed.
pub fn render_status(store: &str, account: &str, ops: &[(&str, Status)]) -> String {
    let mut s = format!("quota store {store}, account key {account}\n");
    let mut any = false;
    for (op, st) in ops {
        if st.runners.is_empty() && st.throttles == 0 {
            continue;
        }
        any = true;
        s.push_str(&format!(
            "\n{op}: {:.2} calls/s (one slot every {:.1} ms), booked {:.2} s ahead, {} throttle(s) shared\n",
            st.rate as f64 / 1000.0,
            st.interval_us as f64 / 1000.0,
            st.ahead_us as f64 / 1e6,
            st.throttles
        ));
        if st.runners.is_empty() {
            s.push_str("  no runners\n");
            continue;
        }
        let w = st
            .runners
            .iter()
            .map(|r| r.id.len())
            .max()
            .unwrap_or(6)
            .max(6);
        s.push_str(&format!(
            "  {:<w$}  {:>8}  {:>12}  {:>7}\n",
            "runner", "calls/s", "reservations", "lease"
        ));
        for r in &st.runners {
            s.push_str(&format!(
                "  {:<w$}  {:>8.2}  {:>12}  {:>6.1}s\n",
                r.id,
                r.rate as f64 / 1000.0,
                r.total,
                r.lease_left_us as f64 / 1e6
            ));
        }
    }
    if !any {
        s.push_str("\nno runners share this key now\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::store::RunnerStatus;

    #[test]
    fn status_shows_each_runner_and_the_interval() {
        let st = Status {
            now: 0,
            interval_us: 103_093,
            rate: 9_700,
            ahead_us: 412_000,
            throttles: 1,
            runners: vec![
                RunnerStatus {
                    id: "ci-1-00a1b2".into(),
                    lease_left_us: 14_800_000,
                    rate: 3_230,
                    total: 120,
                },
                RunnerStatus {
                    id: "ci-2-00c3d4".into(),
                    lease_left_us: 14_900_000,
                    rate: 3_240,
                    total: 118,
                },
            ],
        };
        let idle = Status {
            runners: vec![],
            throttles: 0,
            ..st.clone()
        };
        let out = render_status(
            "redis://127.0.0.1:6379",
            "1234567890",
            &[("UpdateLivePullToPush", st), ("StopLivePullToPush", idle)],
        );
        insta::assert_snapshot!(out);
    }
}
