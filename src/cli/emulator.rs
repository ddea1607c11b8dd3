//! `livebatch emulator`: run the local pull-to-push API emulator until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Global;
use super::error::{CliError, CliResult};
use crate::emulator::task::Unreachable;
use crate::emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, Emulator, EmulatorConfig, FaultConfig,
    KeyPair, SeedTask, SourcePattern, seed,
};
use crate::exit;
use crate::model::{ApiTime, TaskStatus};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The default key pair (id livebatch-emulator, secret livebatch-emulator-secret)
is a public test key: it protects nothing; --key replaces it. The same port
answers STS (2015-04-01): GetCallerIdentity, AssumeRole and AssumeRoleWithOIDC.
The first line printed is `listening on http://HOST:PORT`; the next (on stderr)
says what it holds, e.g. `holding 36 tasks: 12 running, 20 stopped, 4 not
started, from FILE (…)`. GET /_emulator/stats (unsigned, loopback only) returns
counts and the busiest one-second window.

Seeds: any manifest `livebatch validate` accepts (YAML, JSON, CSV). A record
with x-TaskStatus (as `livebatch export` writes) is the task as it is; a record
without it is a change, and the task is held as it is before that change, so
planning the manifest shows every update.

Examples:
  livebatch emulator --seed examples/migration.yaml --state emu.json
  livebatch emulator --tasks 500 --rng-seed 1 --abnormal-rate 0.1
  livebatch emulator --latency-ms 100..300 --drop-after-apply-rate 0.2 \\
      --rng-seed 7
  livebatch emulator --seed live.yaml \\
      --unreachable-source 'https://bad.example/*'
                                tasks restarted onto that host turn abnormal
  livebatch emulator --key ak-main:s1:1234567890123456 \\
      --key ak-ram:s2:1234567890123456 --sts-ttl 60
  livebatch plan --endpoint http://127.0.0.1:8787 m.yaml
                                with the default key in ALIBABA_CLOUD_*

Exit codes: 0 stopped by Ctrl-C or SIGTERM
            1 cannot listen, or the state file cannot be read or written
            64 usage (a malformed --key or --unreachable-source too)
            65 invalid --seed file")]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "HOST:PORT")]
    pub listen: SocketAddr,
    /// AccessKey ID clients sign with.
    #[arg(long, default_value = DEFAULT_ACCESS_KEY_ID, value_name = "ID", requires = "access_key_secret")]
    pub access_key_id: String,
    /// AccessKey secret clients sign with (never printed).
    #[arg(
        long,
        env = "LIVEBATCH_EMULATOR_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub access_key_secret: Option<String>,
    /// More key pairs, repeatable: ID:SECRET, or ID:SECRET:ACCOUNT so that keys of one account
    /// share its quota (an account and its RAM users). The first key of an account is the
    /// account itself in GetCallerIdentity, later ones its RAM users.
    /// (Parsed after clap, whose own errors would echo the value, secret included.)
    #[arg(long = "key", value_name = "ID:SECRET[:ACCOUNT]")]
    pub keys: Vec<String>,
    /// Lifetime of temporary credentials issued by STS AssumeRole / AssumeRoleWithOIDC, in
    /// seconds (default: the DurationSeconds asked for). Short lifetimes exercise refreshes.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub sts_ttl: Option<u64>,
    /// Tasks to start with (repeatable): any manifest `validate` accepts, what `livebatch export`
    /// writes, or an emulator state file. Not used when the --state file already exists.
    #[arg(long, value_name = "FILE")]
    pub seed: Vec<PathBuf>,
    /// Also start with N synthetic tasks: a mix of statuses, source types and regions
    /// (reproducible with --rng-seed).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub tasks: usize,
    /// Keep tasks here across restarts. Every acknowledged change is on disk (fsync'd) before
    /// its answer is sent. When the file exists it is loaded and --seed/--tasks are not used.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Accepted calls per account and operation in any sliding one-second window (0: unlimited).
    #[arg(long, default_value_t = crate::emulator::DEFAULT_QPS, value_name = "N")]
    pub qps: u32,
    /// Delay each admitted request by MIN ms, or uniformly MIN..MAX ms.
    #[arg(long, value_name = "MIN[..MAX]", value_parser = parse_latency)]
    pub latency_ms: Option<(u64, u64)>,
    /// Hold each request up to J ms before the quota counts it.
    #[arg(long, default_value_t = 0, value_name = "J")]
    pub jitter_ms: u64,
    /// Fraction of admitted requests answered with 500 InternalError or 503 ServiceUnavailable.
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_rate)]
    pub fail_rate: f64,
    /// Fraction of admitted requests whose connection is dropped without an answer (the
    /// operation is not performed).
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_rate)]
    pub reset_rate: f64,
    /// Fraction of admitted requests that are performed (and made durable) and then answered
    /// by dropping the connection: "applied but never acknowledged".
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_rate)]
    pub drop_after_apply_rate: f64,
    /// Fraction of running tasks that turn abnormal (TaskStatus 2, retrying) a while after they
    /// start or restart.
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_rate)]
    pub abnormal_rate: f64,
    /// A source URL the emulator cannot pull from (repeatable): a running task with any source
    /// URL matching PATTERN turns abnormal (TaskStatus 2, TaskInvalidReason PullStreamFailed) 1 s
    /// after it starts or restarts, as when a rollout sends a wrong source with --restart-running;
    /// stopped and not-started tasks are unaffected, and an Update to a good source then a Restart
    /// makes it run normally again. `*` matches any run of characters, every other character
    /// itself: 'https://bad.example/*', '*.invalid/*'. A lone `*` (every task) is refused.
    #[arg(long = "unreachable-source", value_name = "PATTERN", value_parser = SourcePattern::parse)]
    pub unreachable_sources: Vec<SourcePattern>,
    /// Close a keep-alive connection after this many seconds without a request (0: never).
    #[arg(long, default_value_t = crate::emulator::DEFAULT_IDLE_TIMEOUT_SECS, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Seed for every random draw: faults, abnormal tasks and --tasks (reproducible runs).
    #[arg(long, value_name = "N")]
    pub rng_seed: Option<u64>,
}

/// `MIN` or `MIN..MAX`, milliseconds.
pub fn parse_latency(s: &str) -> Result<(u64, u64), String> {
    let num = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("{t:?} is not a whole number of milliseconds"))
    };
    let (lo, hi) = match s.split_once("..") {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let v = num(s)?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(format!("{lo}..{hi}: MIN is larger than MAX"));
    }
    Ok((lo, hi))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a fraction from 0 to 1 (e.g. 0.05)")),
    }
}
pub fn run(args: Args, g: &Global) -> CliResult {
    let rt = super::runtime()?;
    rt.block_on(serve(args, g))
}

/// What the emulator starts with, and the phrase that says where it came from.
fn initial_tasks(args: &Args, now: ApiTime) -> Result<(Vec<SeedTask>, String), String> {
    if let Some(state) = args.state.as_ref().filter(|p| p.exists()) {
        let mut note = format!("from state file {}", state.display());
        let unused: Vec<String> = args
            .seed
            .iter()
            .map(|p| format!("--seed {}", p.display()))
            .chain((args.tasks > 0).then(|| format!("--tasks {}", args.tasks)))
            .collect();
        if !unused.is_empty() {
            note.push_str(&format!(
                "; {} not used (the state file exists; remove it to start from the seed)",
                unused.join(", ")
            ));
        }
        // The server loads the state file itself.
        return Ok((Vec::new(), note));
    }
    let seeded = seed::from_files(&args.seed, now).map_err(|e| e.to_string())?;
    let mut parts: Vec<String> = args.seed.iter().map(|p| p.display().to_string()).collect();
    let mut how = Vec::new();
    if seeded.snapshots > 0 {
        how.push(format!("{} as exported", seeded.snapshots));
    }
    if seeded.before_change > 0 {
        how.push(format!(
            "{} as before the manifest's changes",
            seeded.before_change
        ));
    }
    if seeded.from_state > 0 {
        how.push(format!("{} from a state file", seeded.from_state));
    }
    let mut tasks = seeded.tasks;
    if args.tasks > 0 {
        parts.push(format!("--tasks {}", args.tasks));
        how.push(format!("{} synthetic", args.tasks));
        tasks.extend(seed::synthetic(args.tasks, args.rng_seed, now));
    }
    let mut note = if parts.is_empty() {
        "nothing seeded (no --seed, --tasks or existing --state): every task is missing until created"
            .to_string()
    } else {
        format!("from {}", parts.join(" and "))
    };
    if !how.is_empty() {
        note.push_str(&format!(" ({})", how.join(", ")));
    }
    Ok((tasks, note))
}

/// `holding 36 tasks: 12 running, 20 stopped, 4 not started`.
pub fn holding_line(counts: &[(TaskStatus, usize)]) -> String {
    let total: usize = counts.iter().map(|c| c.1).sum();
    let parts: Vec<String> = counts
        .iter()
        .filter(|c| c.1 > 0)
        .map(|(s, n)| format!("{n} {}", s.name()))
        .collect();
    let s = if total == 1 { "" } else { "s" };
    if parts.is_empty() {
        format!("holding {total} task{s}")
    } else {
        format!("holding {total} task{s}: {}", parts.join(", "))
    }
}

async fn serve(args: Args, g: &Global) -> CliResult {
    let (seed, origin) =
        initial_tasks(&args, super::manifests::clock_now()).map_err(|e| CliError {
            code: exit::INVALID_MANIFEST,
            message: Some(e),
        })?;
    let secret = args
        .access_key_secret
        .clone()
        .unwrap_or_else(|| DEFAULT_ACCESS_KEY_SECRET.to_string());
    let mut extra = Vec::new();
    for (i, spec) in args.keys.iter().enumerate() {
        let k = KeyPair::parse(spec)
            .map_err(|e| CliError::usage(format!("--key (number {}): {e}", i + 1)))?;
        extra.push(k);
    }
    let mut keys = vec![KeyPair::new(args.access_key_id.clone(), secret)];
    if !extra.is_empty() && args.access_key_secret.is_none() {
        // --key replaces the public default key unless --access-key-secret names one.
        keys.clear();
    }
    keys.extend(extra.iter().cloned());
    let cfg = EmulatorConfig {
        listen: args.listen,
        keys,
        qps: args.qps,
        sts_ttl_secs: args.sts_ttl,
        faults: FaultConfig {
            latency_ms: args.latency_ms,
            jitter_ms: args.jitter_ms,
            fail_rate: args.fail_rate,
            reset_rate: args.reset_rate,
            drop_after_apply_rate: args.drop_after_apply_rate,
            abnormal_rate: args.abnormal_rate,
            unreachable_sources: args.unreachable_sources.clone(),
            rng_seed: args.rng_seed,
        },
        state_file: args.state.clone(),
        seed,
        idle_timeout: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
        ..EmulatorConfig::default()
    };
    let handle = Emulator::start(cfg).await.map_err(CliError::failure)?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", handle.url());
        let _ = out.flush();
    }
    if !g.quiet {
        eprintln!(
            "emulator: {}, {origin}",
            holding_line(&handle.status_counts())
        );
        if let Some(p) = &args.state {
            eprintln!(
                "emulator: state kept in {} (each acknowledged change is on disk before its answer)",
                p.display()
            );
        }
        if args.keys.is_empty() {
            eprintln!(
                "emulator: access key id {} ({}), quota {} calls/s per account and operation; Ctrl-C stops",
                args.access_key_id,
                if args.access_key_secret.is_some() {
                    "secret as given"
                } else {
                    "the public default test secret"
                },
                args.qps
            );
        } else {
            let mut shown: Vec<String> = Vec::new();
            if args.access_key_secret.is_some() {
                shown.push(args.access_key_id.clone());
            }
            shown.extend(
                extra
                    .iter()
                    .map(|k| format!("{} (account {})", k.access_key_id, k.account_id)),
            );
            eprintln!(
                "emulator: access keys {}; quota {} calls/s per account and operation; Ctrl-C stops",
                shown.join(", "),
                args.qps
            );
        }
        if !args.unreachable_sources.is_empty() {
            let unreachable = Unreachable::new(args.unreachable_sources.clone());
            eprintln!("emulator: {}", unreachable.describe());
        }
        if let Some(t) = args.sts_ttl {
            eprintln!("emulator: STS issues temporary credentials valid for {t} s");
        }
    }
    wait_for_stop().await;
    if !g.quiet {
        eprintln!("emulator: stopping");
    }
    handle.shutdown().await.map_err(CliError::failure)?;
    Ok(exit::SUCCESS)
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holding_line_names_each_status_present() {
        let c = [
            (TaskStatus::Running, 12),
            (TaskStatus::RunningAbnormal, 0),
            (TaskStatus::Stopped, 20),
            (TaskStatus::NotStarted, 4),
        ];
        assert_eq!(
            holding_line(&c),
            "holding 36 tasks: 12 running, 20 stopped, 4 not started"
        );
        assert_eq!(holding_line(&[]), "holding 0 tasks");
    }

    #[test]
    fn latency_forms() {
        assert_eq!(parse_latency("5"), Ok((5, 5)));
        assert_eq!(parse_latency("5..20"), Ok((5, 20)));
        assert!(parse_latency("20..5").is_err());
        assert!(parse_latency("x").is_err());
        assert!(parse_rate("1.5").is_err());
        assert_eq!(parse_rate("0.25"), Ok(0.25));
    }
}
