//! `livebatch quota status`: who shares a quota through the store, and how fast. The
//! `--quota-store` flags and the shared pacer every API command builds are in `shared_quota.rs`.

use clap::{Args as ClapArgs, Subcommand};

use super::connect::{check_qps, connect};
use super::error::{CliError, CliResult};
use super::shared_quota::{QuotaArgs, resolve};
use super::{ApiArgs, ConnectArgs, Global};
use crate::exit;
use crate::pace::PACE_HEADROOM;
use crate::pace::adaptive::AdaptiveConfig;
use crate::quota::pacer::{OnStoreError, params_for};
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

/// `livebatch quota …`
#[derive(Debug, ClapArgs)]
#[command(after_help = "\
Examples:
  livebatch quota status --quota-store redis://127.0.0.1:6379
  livebatch quota status --quota-store redis://127.0.0.1:6379 \\
      --quota-key 1234567890

Exit codes: 0 ok · 1 the store cannot be reached, or a call failed · 64 usage
            77 credentials or permission (learning the account)")]
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
#[command(after_help = "\
Without --quota-key, the account is the one of the current credentials, learnt
with STS GetCallerIdentity as apply learns it (and the output says so).

Exit codes: 0 ok · 1 the store cannot be reached, or a call failed · 64 usage
            77 credentials or permission (learning the account)")]
pub struct StatusArgs {
    /// The quota store: redis://HOST[:PORT][/DB] or rediss://…
    #[arg(
        long,
        env = "LIVEBATCH_QUOTA_STORE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub quota_store: String,
    /// The account key the runs share (their --quota-key). Default: the account of the current
    /// credentials, learnt with STS GetCallerIdentity, as the runs learn it.
    #[arg(long, value_name = "NAME")]
    pub quota_key: Option<String>,
    /// The quota the runs use (their --qps): only to show the rate of a key no run has slowed.
    #[arg(long, default_value_t = 10.0, value_name = "N")]
    pub qps: f64,
    // How to reach the API, for learning the account (its own --quota-store is above).
    #[command(flatten)]
    pub connect: ConnectArgs,
}

impl StatusArgs {
    /// The API flags of a run sharing this store, with no `--quota-key`: what apply would use.
    fn api(&self) -> ApiArgs {
        ApiArgs {
            connect: self.connect.clone(),
            quota: QuotaArgs {
                quota_store: Some(self.quota_store.clone()),
                quota_key: None,
                quota_store_timeout: 60.0,
                on_quota_store_error: OnStoreError::Pause,
            },
        }
    }
}

/// Whose quota `quota status` shows, and how it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// Named with `--quota-key`.
    Named(String),
    /// The current credentials' account, from STS `GetCallerIdentity`.
    Learnt(String),
}

impl Account {
    fn key(&self) -> &str {
        match self {
            Account::Named(k) | Account::Learnt(k) => k,
        }
    }
}

pub fn run(args: Args, g: &Global) -> CliResult {
    let QuotaCommand::Status(a) = args.command;
    check_qps(a.qps, true).map_err(CliError::usage)?;
    let url = StoreUrl::parse(&a.quota_store).map_err(CliError::usage)?;
    // Without --quota-key, the account is learnt exactly as a run learns it (shared_quota::
    // resolve), so status shows the schedule those runs book on.
    enum Who {
        Named(String),
        Learn(crate::api::client::Client),
    }
    let who = match &a.quota_key {
        Some(k) => Who::Named(k.clone()),
        None => Who::Learn(connect(&a.api(), g)?),
    };
    let rt = super::runtime()?;
    rt.block_on(async {
        let account = match who {
            Who::Named(k) => Account::Named(k),
            Who::Learn(client) => {
                let learnt = resolve(&a.api().quota, &client, g).await?;
                let key = learnt.quota_key.ok_or_else(|| {
                    CliError::failure("GetCallerIdentity answered no account; pass --quota-key")
                })?;
                Account::Learnt(key)
            }
        };
        let store = Store::connect(&url).await.map_err(CliError::failure)?;
        let params = params_for(&AdaptiveConfig::for_cap(a.qps * PACE_HEADROOM));
        let mut shown = Vec::new();
        for op in OPERATIONS {
            let key = QuotaKey::new(account.key(), op).map_err(CliError::usage)?;
            let s = store
                .status(&key, &params)
                .await
                .map_err(CliError::failure)?;
            shown.push((op, s));
        }
        print!("{}", render_status(&url.to_string(), &account, &shown));
        Ok(exit::SUCCESS)
    })
}

/// The human form of `quota status`: one block per operation that has runners or was slowed.
pub fn render_status(store: &str, account: &Account, ops: &[(&str, Status)]) -> String {
    let mut s = match account {
        Account::Named(k) => format!("quota store {store}, account key {k}\n"),
        Account::Learnt(k) => format!(
            "quota store {store}, account key {k} (the account of the current credentials, \
             learnt with STS GetCallerIdentity; --quota-key names another)\n"
        ),
    };
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
            &Account::Named("1234567890".into()),
            &[("UpdateLivePullToPush", st), ("StopLivePullToPush", idle)],
        );
        insta::assert_snapshot!(out);
    }
}
