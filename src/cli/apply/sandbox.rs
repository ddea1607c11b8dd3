//! `--sandbox`: the built-in emulator, seeded with the manifests' tasks, as the run's target; and
//! the connect phase that picks the target (the sandbox, or the real endpoint with credentials).

use std::net::SocketAddr;

use super::super::connect::connect;
use super::super::error::CliError;
use super::super::{Global, manifests};
use super::args::Args;
use super::load::Source;
use crate::api::client::{Client, ClientConfig};
use crate::api::credentials::Credentials;
use crate::apply::sandbox;
use crate::emulator::task::Unreachable;
use crate::emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, Emulator, EmulatorConfig, EmulatorHandle,
    FaultConfig, KeyPair,
};
use crate::model::ApiTime;

/// Simulated service time of a sandbox call: enough for the progress bar and pacing to look like
/// the real thing, small enough that the bundled example finishes in seconds.
pub const SANDBOX_LATENCY_MS: (u64, u64) = (20, 80);

/// Where the run sends: the client, the sandbox emulator when rehearsing, and how to name it.
pub(super) struct Target {
    pub client: Client,
    pub emulator: Option<EmulatorHandle>,
    pub name: String,
}

/// The connect phase. Credentials and endpoint before planning and asking, so a confirmed run
/// does not stop on them. The sandbox reads no credentials at all: it starts the emulator instead.
pub(super) async fn connect_target(
    args: &Args,
    source: &Source,
    g: &Global,
) -> Result<Target, CliError> {
    if !args.sandbox {
        let client = connect(&args.api, g)?;
        let name = format!("{}", client.endpoint());
        return Ok(Target {
            client,
            emulator: None,
            name,
        });
    }
    if (args.api.connect.endpoint.is_some() || args.api.connect.profile.is_some()) && !g.quiet {
        eprintln!(
            "note: --sandbox ignores the endpoint and profile; it sends nothing beyond 127.0.0.1"
        );
    }
    let (emu, client) = start_sandbox(seeds(args, source)?, args)
        .await
        .map_err(|e| CliError::failure(format!("cannot start the sandbox emulator: {e}")))?;
    if !g.quiet {
        banner(&emu, args, source);
    }
    Ok(Target {
        client,
        emulator: Some(emu),
        name: "the built-in sandbox emulator (127.0.0.1 only; no credentials)".to_string(),
    })
}

/// The tasks the sandbox starts with: those of `--sandbox-seed` (a live snapshot, as exported),
/// else one per task of the manifests, as it is before the change.
fn seeds(args: &Args, source: &Source) -> Result<Vec<crate::emulator::SeedTask>, CliError> {
    let now = sandbox_now(args);
    if !args.sandbox_seed.is_empty() {
        let seeded = crate::emulator::seed::from_files(&args.sandbox_seed, now)
            .map_err(|e| CliError::usage(format!("--sandbox-seed: {e}")))?;
        return Ok(seeded.tasks);
    }
    let Source::Manifests(batch) = source else {
        return Ok(vec![]);
    };
    let mut seen = std::collections::HashSet::new();
    let mut seeds = Vec::new();
    for e in batch.entries.iter() {
        match e {
            Ok(e) if seen.insert(e.update.task_id.clone()) => {
                seeds.push(sandbox::seed_entry(&e.update, &e.annotations, now))
            }
            Ok(_) => {}
            Err(e) => {
                return Err(CliError::failure(format!(
                    "cannot read the validated updates back: {e}"
                )));
            }
        }
    }
    Ok(seeds)
}

/// What the sandbox is: where, on which clock, with what tasks and quota.
fn banner(emu: &EmulatorHandle, args: &Args, source: &Source) {
    let seeded = emu.tasks();
    let annotated = match source {
        Source::Manifests(batch) => batch
            .entries
            .iter_lossy()
            .filter(|e| sandbox::annotated_status(&e.annotations).is_some())
            .count(),
        Source::Plan(..) => 0,
    };
    let from = if args.sandbox_seed.is_empty() {
        format!(
            "from the manifest ({annotated} with the status of their x-TaskStatus, the rest stopped)"
        )
    } else {
        let files: Vec<String> = args
            .sandbox_seed
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        format!("from --sandbox-seed {}, as exported", files.join(", "))
    };
    eprintln!(
        "sandbox: emulator at {} (clock {}{}) with {} task(s) seeded {from}, quota {} calls/s per operation, {}..{} ms latency{}",
        emu.url(),
        emu.clock().now(),
        if args.now.is_some() { ", --now" } else { "" },
        seeded.len(),
        emulator_qps(args.qps),
        SANDBOX_LATENCY_MS.0,
        SANDBOX_LATENCY_MS.1,
        match args.sandbox_fail_rate {
            Some(f) if f > 0.0 => format!(", {:.0}% transient failures", f * 100.0),
            _ => String::new(),
        }
    );
    if !args.sandbox_unreachable_sources.is_empty() {
        let unreachable = Unreachable::new(args.sandbox_unreachable_sources.clone());
        eprintln!("sandbox: {}", unreachable.describe());
    }
    if annotated > 0 && args.sandbox_seed.is_empty() {
        eprintln!("{}", NOT_REHEARSED);
    }
}

/// Why an exported manifest's edits of some fields rehearse as unchanged, and the way out: the
/// sandbox seeds its tasks from the manifest itself, so their values before the edit are unknown.
pub const NOT_REHEARSED: &str = "sandbox: note: this manifest was exported (x-TaskStatus): its SourceUrls, StartTime, EndTime and SourceType are seeded as written, so an edit of them cannot be rehearsed (it plans as unchanged, never blocked); to rehearse them, export the tasks again unedited and pass that file as --sandbox-seed FILE";

/// The sandbox's clock: `--now` when given, else the real one.
fn sandbox_now(args: &Args) -> ApiTime {
    args.now.unwrap_or_else(manifests::clock_now)
}

/// The sandbox quota: the documented 10 calls/s, or the raised one the user says they have.
fn emulator_qps(qps: f64) -> u32 {
    (qps.ceil() as u32).max(crate::emulator::DEFAULT_QPS)
}

/// The sandbox emulator's configuration: on 127.0.0.1:0, its clock `shift` seconds from the real
/// one, the public test key, the quota, the simulated latency and the faults the flags ask for.
fn emulator_config(
    seed: Vec<crate::emulator::SeedTask>,
    args: &Args,
    shift: i64,
) -> EmulatorConfig {
    EmulatorConfig {
        clock: crate::emulator::Clock::offset(shift),
        max_skew_secs: crate::emulator::MAX_CLOCK_SKEW_SECS.saturating_add(shift.saturating_abs()),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        keys: vec![KeyPair::default()],
        qps: emulator_qps(args.qps),
        faults: FaultConfig {
            latency_ms: Some(SANDBOX_LATENCY_MS),
            fail_rate: args.sandbox_fail_rate.unwrap_or(0.0),
            unreachable_sources: args.sandbox_unreachable_sources.clone(),
            ..FaultConfig::default()
        },
        seed,
        ..EmulatorConfig::default()
    }
}

/// Starts the in-process emulator on 127.0.0.1:0 with the given tasks, and a client signed with
/// the emulator's public test key (no credential source is read).
async fn start_sandbox(
    seed: Vec<crate::emulator::SeedTask>,
    args: &Args,
) -> Result<(EmulatorHandle, Client), String> {
    // The sandbox rehearses on the clock validation used: `--now` when given (so a dated manifest
    // rehearses as of its change window, on any day), else the real one. Requests are still
    // signed with the real date, so the allowed skew grows by the shift.
    let shift = sandbox_now(args).unix() - manifests::clock_now().unix();
    let emulator = Emulator::start(emulator_config(seed, args, shift))
        .await
        .map_err(|e| e.to_string())?;
    let mut api = args.api.clone();
    api.connect.endpoint = Some(emulator.url());
    api.connect.profile = None;
    let credentials = Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET);
    let client = ClientConfig::from_args(&api, credentials)
        .map_err(|e| e.to_string())
        .and_then(|c| Client::new(c).map_err(|e| e.to_string()))?;
    Ok((emulator, client))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Apply {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Apply::try_parse_from(std::iter::once("apply").chain(argv.iter().copied())).map(|a| a.args)
    }

    #[test]
    fn the_sandbox_is_given_every_unreachable_source() {
        let args = parse(&[
            "--sandbox",
            "--sandbox-unreachable-source",
            "https://bad.example/*",
            "--sandbox-unreachable-source",
            "*.invalid/*",
            "m.yaml",
        ])
        .unwrap();
        let cfg = emulator_config(Vec::new(), &args, 0);
        let given: Vec<&str> = cfg
            .faults
            .unreachable_sources
            .iter()
            .map(|p| p.as_str())
            .collect();
        assert_eq!(given, ["https://bad.example/*", "*.invalid/*"]);
        let plain = emulator_config(Vec::new(), &parse(&["--sandbox", "m.yaml"]).unwrap(), 0);
        assert!(plain.faults.unreachable_sources.is_empty());
    }

    #[test]
    fn an_unreachable_source_needs_the_sandbox_and_a_pattern_that_names_something() {
        let e = parse(&[
            "--sandbox-unreachable-source",
            "https://bad.example/*",
            "m.yaml",
        ])
        .unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(e.to_string().contains("--sandbox"), "{e}");
        let e = parse(&["--sandbox", "--sandbox-unreachable-source", "*", "m.yaml"]).unwrap_err();
        assert!(
            e.to_string().contains("every running task would break"),
            "{e}"
        );
    }
}
