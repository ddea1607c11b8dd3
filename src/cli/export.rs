//! `livebatch export`: list the account's tasks in one region and write them as a manifest.

use std::path::PathBuf;

use super::connect::{DOCUMENTED_QUOTA, connect};
use super::error::{CliError, CliResult, call_failed};
use super::{ApiArgs, Global, shared_quota};
use tokio_util::sync::CancellationToken;

use crate::api::client::{Client, ListQuery, MAX_PAGE_SIZE, list_all_pages};
use crate::api::error::{ApiError, TransportKind};
use crate::api::models::TaskState;
use crate::api::operation::Operation;
use crate::apply::config::ExecConfig;
use crate::apply::engine::Engine;
use crate::exit;
use crate::export::{self, ExportFormat};
use crate::model::{ApiTime, Region};
use crate::text;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Tasks that can no longer be updated (exited, or EndTime already past) are
skipped, and fields whose live value the offline rules would refuse are left
out, each with a note on stderr, so that `livebatch validate` accepts the
output unchanged. x-TaskStatus, x-TaskName, x-DstUrl and x-SourceProtocol are
annotations: kept for reference, never validated or sent.

Examples:
  livebatch export --region cn-shanghai -o tasks.yaml
  livebatch export --region cn-shanghai --task-id news- --format csv > news.csv
  livebatch export --region all -o everything.yaml
  livebatch export --region cn-beijing --region cn-shanghai -o two.yaml

Exit codes: 0 written · 1 a call or write failed (a region that cannot be read
            is named; nothing is written) · 64 usage
            77 credentials or permission")]
pub struct Args {
    /// Region whose tasks to list (ap-southeast-1, ap-southeast-5, cn-beijing, cn-shanghai), or
    /// `all` of them; repeat for several. One manifest holds them all.
    #[arg(long, required = true, value_parser = parse_region, value_name = "REGION")]
    pub region: Vec<RegionArg>,
    /// Only tasks whose ID contains PATTERN (the service's fuzzy match).
    #[arg(long, value_name = "PATTERN")]
    pub task_id: Option<String>,
    /// Only tasks whose name contains PATTERN.
    #[arg(long, value_name = "PATTERN")]
    pub task_name: Option<String>,
    /// Only tasks whose push URL contains PATTERN.
    #[arg(long, value_name = "PATTERN")]
    pub dst_url: Option<String>,
    /// Output format; json is the YAML structure in JSON.
    #[arg(long, value_enum, default_value_t = ExportFormat::Yaml)]
    pub format: ExportFormat,
    /// Write to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Treat this UTC time (yyyy-MM-ddTHH:mm:ssZ) as now when deciding what has ended.
    #[arg(long, value_parser = parse_now, value_name = "TIME")]
    pub now: Option<ApiTime>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// One `--region` value: a documented region, or `all` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionArg {
    All,
    One(Region),
}

fn parse_region(s: &str) -> Result<RegionArg, String> {
    if s == "all" {
        return Ok(RegionArg::All);
    }
    s.parse().map(RegionArg::One).map_err(|()| {
        format!(
            "{s:?} is not a region; expected one of {}, or all",
            Region::ALL.map(|r| r.as_str()).join(", ")
        )
    })
}

/// The regions asked for, each once, in the documented order (so the output does not depend on
/// the order of the flags).
pub fn regions(args: &[RegionArg]) -> Vec<Region> {
    Region::ALL
        .into_iter()
        .filter(|r| {
            args.iter()
                .any(|a| *a == RegionArg::All || *a == RegionArg::One(*r))
        })
        .collect()
}

fn parse_now(s: &str) -> Result<ApiTime, String> {
    ApiTime::parse(s).map_err(|e| e.to_string())
}

/// Every page of each region's listing, region after region, each call through the same engine
/// as planning and apply: paced on `DescribeLivePullToPushList`'s own quota (booked in the
/// shared quota store with `--quota-store`), retried by error class. The first region that cannot
/// be read ends the listing with its error and its name. The outer error is the CLI's (the quota
/// store halted the run, or could not be set up).
async fn list(
    client: &Client,
    queries: &[ListQuery],
    api: &ApiArgs,
    g: &Global,
) -> Result<Listed, CliError> {
    let qps = DOCUMENTED_QUOTA;
    let config = ExecConfig::new(qps);
    let (engine, shared) =
        shared_quota::engine(client.clone(), qps, &config, &api.quota, g).await?;
    let stop = CancellationToken::new();
    let listing = async {
        let mut all = Vec::new();
        for query in queries {
            match list_region(client, query, &engine, &stop, g.verbose).await {
                Ok(tasks) => all.push((query.region, tasks)),
                Err(e) => return Err((query.region, e)),
            }
        }
        Ok(all)
    };
    let listed = shared_quota::until_halted(shared.as_deref(), exit::FAILURE, listing).await;
    if let Some(s) = &shared {
        s.finish().await;
    }
    listed
}

/// Each region's tasks, or the first region that could not be read and why.
type Listed = Result<Vec<(Region, Vec<TaskState>)>, (Region, ApiError)>;

/// Every page of one region's listing through `engine`.
async fn list_region(
    client: &Client,
    query: &ListQuery,
    engine: &Engine<Client>,
    stop: &CancellationToken,
    verbose: u8,
) -> Result<Vec<TaskState>, ApiError> {
    list_all_pages(
        |page| async move {
            let (mut attempts, mut latency) = (0, None);
            engine
                .call(
                    Operation::DescribeList,
                    stop,
                    &mut attempts,
                    &mut latency,
                    || client.describe_list_page(query, page, MAX_PAGE_SIZE),
                )
                .await
                .map_err(|f| {
                    f.into_error().unwrap_or_else(|| ApiError::Transport {
                        kind: TransportKind::Other,
                        message: "the listing was stopped before its first call".into(),
                    })
                })
        },
        |page| {
            if verbose >= 2 {
                eprintln!(
                    "DescribeLivePullToPushList {} page {}: {} tasks of {} (RequestId {})",
                    query.region,
                    page.page_number,
                    page.task_list.len(),
                    page.total,
                    text::escape(&page.request_id)
                );
            }
        },
    )
    .await
}

pub fn run(args: Args, g: &Global) -> CliResult {
    let client = connect(&args.api, g)?;
    let regions = regions(&args.region);
    let queries: Vec<ListQuery> = regions
        .iter()
        .map(|&region| ListQuery {
            region,
            task_id: args.task_id.clone(),
            task_name: args.task_name.clone(),
            dst_url: args.dst_url.clone(),
        })
        .collect();
    let rt = super::runtime()?;
    let listed = match rt.block_on(list(&client, &queries, &args.api, g))? {
        Ok(l) => l,
        Err((region, e)) => {
            // Nothing is written: a manifest missing a region would look like one without tasks.
            let message = format!(
                "listing the tasks in {region} at {} failed: {e} [{}]; nothing was written",
                client.endpoint(),
                e.class()
            );
            return Err(call_failed(&e, message));
        }
    };
    let now = args.now.map(|t| t.0).unwrap_or_else(chrono::Utc::now);
    let ex = export::from_regions(&listed, now);
    let from = from_text(&listed);
    if !g.quiet {
        for (id, why) in &ex.skipped {
            eprintln!("note: skipped {id}: {why}");
        }
        for n in &ex.notes {
            eprintln!("note: {n}");
        }
    }
    let comment = format!(
        "Exported by livebatch from {from} at {}: {} task(s), {} skipped.\n\
         x-* fields are annotations (the state at export time); validate ignores them and nothing sends them.",
        ApiTime(now),
        ex.doc.updates.len(),
        ex.skipped.len()
    );
    let text = export::render(&ex.doc, args.format, Some(&comment)).map_err(CliError::failure)?;
    match &args.output {
        Some(path) => {
            export::write_atomic(path, text.as_bytes()).map_err(CliError::failure)?;
            if !g.quiet {
                eprintln!(
                    "exported {} task(s) from {from} to {} ({} skipped)",
                    ex.doc.updates.len(),
                    path.display(),
                    ex.skipped.len()
                );
            }
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                // Standard output is gone (a closed pipe): nothing more can be said there.
                return Err(CliError::reported(exit::FAILURE));
            }
        }
    }
    Ok(exit::SUCCESS)
}

/// "region cn-shanghai", or "regions ap-southeast-1 (3 listed), cn-beijing (0 listed)": what an
/// export came from, with how many tasks each region listed when there are several.
fn from_text(listed: &[(Region, Vec<TaskState>)]) -> String {
    match listed {
        [(r, _)] => format!("region {r}"),
        _ => {
            let each: Vec<String> = listed
                .iter()
                .map(|(r, t)| format!("{r} ({} listed)", t.len()))
                .collect();
            format!("regions {}", each.join(", "))
        }
    }
}
