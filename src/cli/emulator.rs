//! `livebatch emulator`: run the local pull-to-push API emulator until Ctrl-C.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::Global;
use crate::emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, Emulator, EmulatorConfig, FaultConfig,
    KeyPair, SeedTask, StateFile,
};
use crate::exit;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The default key pair (id livebatch-emulator, secret livebatch-emulator-secret) is a public test
key: it protects nothing; --key replaces it. The same port answers STS (2015-04-01):
GetCallerIdentity, AssumeRole and AssumeRoleWithOIDC. The first line printed is `listening on http://HOST:PORT`.
GET /_emulator/stats (unsigned, loopback only) returns counts and the busiest one-second window.

Examples:
  livebatch emulator --listen 127.0.0.1:8787 --seed tasks.yaml --state emu.json
  livebatch emulator --listen 127.0.0.1:0 --latency-ms 100..300 --fail-rate 0.1 --rng-seed 7
  livebatch emulator --key ak-main:s1:1234567890123456 --key ak-ram:s2:1234567890123456 --sts-ttl 60
  livebatch plan --endpoint http://127.0.0.1:8787 m.yaml   (with the default key in ALIBABA_CLOUD_*)

Exit codes: 0 stopped by Ctrl-C or SIGTERM · 1 cannot listen, or the state file cannot be read or written · 64 usage (a malformed --key too) · 65 invalid --seed file")]
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
    /// Tasks to start with: what `livebatch export` writes (YAML, JSON or CSV, with x-TaskStatus,
    /// x-TaskName, x-DstUrl, x-SourceProtocol), or an emulator state file (the --state format).
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Keep tasks here across restarts (written atomically after changes). When it exists it is
    /// loaded and --seed is ignored.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Accepted calls per key and operation in any sliding one-second window (0: unlimited).
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
    /// Fraction of admitted requests whose connection is dropped without an answer.
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_rate)]
    pub reset_rate: f64,
    /// Seed for the fault injection's random draws (reproducible runs).
    #[arg(long, value_name = "N")]
    pub rng_seed: Option<u64>,
}

/// Seed tasks from an emulator state file, or from what `livebatch export` writes (YAML or
/// JSON, with its `x-` annotations).
pub fn load_seed(text: &str) -> Result<Vec<SeedTask>, String> {
    if let Ok(f) = StateFile::parse(text) {
        return Ok(f.tasks);
    }
    let doc = crate::export::read_export(text).map_err(|e| {
        format!("neither an emulator state file nor a `livebatch export` manifest: {e}")
    })?;
    doc.updates
        .iter()
        .map(|r| {
            let mut ann = BTreeMap::new();
            ann.insert("x-TaskStatus".to_string(), r.task_status.to_string());
            ann.insert("x-TaskName".to_string(), r.task_name.clone());
            ann.insert("x-DstUrl".to_string(), r.dst_url.clone());
            ann.insert("x-SourceProtocol".to_string(), r.source_protocol.clone());
            SeedTask::from_manifest_entry(&r.to_update(), &ann).map_err(|e| e.to_string())
        })
        .collect()
}

/// Reads a seed file: a CSV export goes through the manifest parser and validator (as `validate`
/// would read it, located diagnostics and all); anything else through [`load_seed`].
pub fn load_seed_file(path: &std::path::Path) -> Result<Vec<SeedTask>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        || crate::manifest::sniff(text.as_bytes()) == crate::manifest::Format::Csv;
    if !is_csv {
        return load_seed(&text);
    }
    let input = crate::manifest::Input::path(path);
    let batch = crate::validate::load_batch(&[input], super::validate::clock_now());
    if batch.has_errors() {
        let shown: Vec<String> = batch
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.render())
            .collect();
        return Err(format!("not a valid CSV export:\n{}", shown.join("\n")));
    }
    batch
        .entries
        .iter()
        .map(|e| {
            SeedTask::from_manifest_entry(&e.update, &e.annotations)
                .map_err(|err| format!("{}:{}: {err}", e.origin.file, e.origin.line))
        })
        .collect()
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

pub fn run(args: Args, g: &Global) -> u8 {
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(serve(args, g))
}

async fn serve(args: Args, g: &Global) -> u8 {
    let seed = match &args.seed {
        None => Vec::new(),
        Some(p) => match load_seed_file(p) {
            Ok(tasks) => tasks,
            Err(e) => {
                eprintln!("error: seed file {}: {e}", p.display());
                return exit::INVALID_MANIFEST;
            }
        },
    };
    let secret = args
        .access_key_secret
        .clone()
        .unwrap_or_else(|| DEFAULT_ACCESS_KEY_SECRET.to_string());
    let mut extra = Vec::new();
    for (i, spec) in args.keys.iter().enumerate() {
        match KeyPair::parse(spec) {
            Ok(k) => extra.push(k),
            Err(e) => {
                eprintln!("error: --key (number {}): {e}", i + 1);
                return exit::USAGE;
            }
        }
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
            rng_seed: args.rng_seed,
        },
        state_file: args.state.clone(),
        seed,
        ..EmulatorConfig::default()
    };
    let handle = match Emulator::start(cfg).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", handle.url());
        let _ = out.flush();
    }
    if !g.quiet {
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
        if let Some(t) = args.sts_ttl {
            eprintln!("emulator: STS issues temporary credentials valid for {t} s");
        }
    }
    wait_for_stop().await;
    if !g.quiet {
        eprintln!("emulator: stopping");
    }
    match handle.shutdown().await {
        Ok(()) => exit::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILURE
        }
    }
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
    fn seeds_from_an_export() {
        let yaml = "updates:\n- TaskId: t-1\n  Region: cn-shanghai\n  SourceType: live\n  SourceUrls: [\"rtmp://pull.example.com/app/s\"]\n  StartTime: 2026-03-01T00:00:00Z\n  EndTime: 2026-03-02T00:00:00Z\n  x-TaskStatus: 3\n  x-TaskName: show\n  x-DstUrl: rtmp://push.example.com/app/s\n  x-SourceProtocol: rtmp\n";
        let tasks = load_seed(yaml).unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].task_status, crate::model::TaskStatus::Stopped);
        assert_eq!(tasks[0].dst_url, "rtmp://push.example.com/app/s");
        assert_eq!(tasks[0].task_name, "show");
        assert!(load_seed("hello: 1").is_err());
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
