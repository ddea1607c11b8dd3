//! Shared by the commands that decide updates against live state (`plan`, `diff`): their flags
//! and the paced reads of every task a batch names.

use super::connect::{check_qps, connect};
use super::error::{CliError, call_failed};
use super::{ApiArgs, Global, shared_quota};
use crate::apply::config::ExecConfig;
use crate::model::ApiTime;
use crate::plan::diff::PlanOptions;
use crate::plan::file::PlanItem;
use crate::plan::live::plan_updates;
use crate::validate::Batch;

/// Flags of every command that reads live state to decide updates (`plan`, `diff`).
#[derive(Debug, Clone, clap::Args)]
pub struct LiveArgs {
    /// For a running task whose update needs a stopped task (SourceUrls, Offset, FileIndex, ...):
    /// plan stop → update → restart as one item. Without it such updates are blocked.
    #[arg(long)]
    pub restart_running: bool,
    /// For a blocked update whose task allows some of its fields (a running task's CallbackUrl
    /// beside new SourceUrls): plan those now and show the rest blocked, with the reason.
    /// Without it the whole update is blocked.
    #[arg(long)]
    pub partial: bool,
    /// The account's quota in calls/s of each operation: the reads (Describe, DescribeList) are
    /// paced at 97% of it, each operation on its own.
    #[arg(long, default_value_t = 10.0, value_name = "N")]
    pub qps: f64,
    /// The account's quota was raised above the documented 10 calls/s: allow a larger --qps.
    #[arg(long)]
    pub quota_raised: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl LiveArgs {
    /// How updates are decided, as the flags say.
    pub fn options(&self) -> PlanOptions {
        PlanOptions {
            restart_running: self.restart_running,
            partial: self.partial,
        }
    }
}

/// Reads the live state of every task the batch names (paced, retried) and decides each update.
pub fn plan_live(
    batch: &Batch,
    live: &LiveArgs,
    now: ApiTime,
    g: &Global,
) -> Result<Vec<PlanItem>, CliError> {
    check_qps(live.qps, live.quota_raised).map_err(CliError::usage)?;
    let client = connect(&live.api, g)?;
    let updates: Vec<_> = batch
        .entries
        .iter()
        .map(|e| (e.update.clone(), e.origin.file_line()))
        .collect();
    let opts = live.options();
    let rt = super::runtime()?;
    rt.block_on(async {
        let config = ExecConfig::new(live.qps);
        let (engine, shared) =
            shared_quota::engine(client, live.qps, &config, &live.api.quota, g).await?;
        let planned = plan_updates(engine.as_ref(), &updates, now, opts);
        let planned =
            shared_quota::until_halted(shared.as_deref(), crate::exit::FAILURE, planned).await;
        if let Some(s) = &shared {
            s.finish().await;
        }
        let items =
            planned?.map_err(|e| call_failed(&e, format!("reading live state failed: {e}")))?;
        if g.verbose > 0 {
            eprintln!(
                "read the live state of {} task(s) in {} call(s)",
                updates.len(),
                engine.counts().calls()
            );
        }
        Ok(items)
    })
}
