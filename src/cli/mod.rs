//! The command line: parse arguments, call the library, map the outcome to an exit code.
//! Each subcommand lives in its own file; none of them holds logic the library could own.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::exit;

pub mod apply;
pub mod completions;
pub mod connect;
pub mod diff;
pub mod emulator;
pub mod error;
pub mod export;
pub mod live;
pub mod manifests;
pub mod plan;
pub mod quota;
pub mod revert;
pub mod shared_quota;
pub mod validate;

const EXAMPLES: &str = "\
Examples:
  livebatch validate examples/migration.yaml        check a manifest offline
  livebatch plan --offline examples/migration.yaml  the exact requests, no call
  livebatch apply --sandbox --yes examples/migration.yaml
                                rehearse against a built-in emulator
  livebatch export --region cn-shanghai -o tasks.yaml
                                start a manifest from live tasks

Exit codes: 0 ok · 1 failure · 2 changes pending · 3 interrupted/halted
            4 stale plan · 6 cancelled at the prompt · 64 usage
            65 invalid manifest · 66 an input missing or unreadable
            77 credentials or permission";

/// Bulk, paced, resumable updates of ApsaraVideo Live pull-to-push tasks.
#[derive(Debug, Parser)]
#[command(name = "livebatch", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Print only errors (and the machine-readable output asked for).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail; repeat for more (-vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour in plans and diffs: auto (on a terminal, unless NO_COLOR or CI is set), always,
    /// never.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Sets the process's choice, which every `anstream` print follows (styles are stripped when
    /// colour is off). `auto` is anstream's (a terminal; `NO_COLOR` off; `CLICOLOR_FORCE` on),
    /// except that a CI log gets none unless asked with `always`.
    fn apply(self) {
        let choice = match self {
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
            ColorWhen::Auto if std::env::var_os("CI").is_some() => anstream::ColorChoice::Never,
            ColorWhen::Auto => anstream::ColorChoice::Auto,
        };
        choice.write_global();
    }
}

/// How to reach the API: the endpoint, the credentials' profile and the timeouts. Shared by
/// every command that calls it, `quota status` included (which has its own --quota-store).
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// API endpoint (default https://live.aliyuncs.com). Plain http:// only for loopback hosts.
    // --help never shows the variable's value: it may hold a user and password.
    #[arg(
        long,
        env = "LIVEBATCH_ENDPOINT",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub endpoint: Option<String>,
    /// Profile in ~/.aliyun/config.json or ~/.alibabacloud/credentials
    /// (default: $ALIBABA_CLOUD_PROFILE, else the file's current profile).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Seconds to wait for a TCP/TLS connection.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub connect_timeout: f64,
    /// Seconds to wait for a whole response once connected.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub read_timeout: f64,
}

/// How a command that calls the API reaches it, and shares the account's quota.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub quota: shared_quota::QuotaArgs,
}

impl<'a> From<&'a ApiArgs> for crate::api::client::ApiSettings<'a> {
    fn from(a: &'a ApiArgs) -> Self {
        crate::api::client::ApiSettings {
            endpoint: a.connect.endpoint.as_deref(),
            connect_timeout: a.connect.connect_timeout,
            read_timeout: a.connect.read_timeout,
        }
    }
}

/// Output format of `validate`, `plan` and `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests against every rule that needs no live state. Sends nothing.
    Validate(validate::Args),
    /// Show what would change: offline (exact requests) or against live state.
    Plan(plan::Args),
    /// Plan against live state, then send exactly the changes, each operation at its own quota.
    Apply(apply::Args),
    /// Read-only drift check: exit 0 when live state matches the manifests, 2 when it differs.
    Diff(diff::Args),
    /// Write the account's tasks as a manifest that `validate` accepts unchanged.
    Export(export::Args),
    /// Write a manifest that undoes a run recorded in a journal (review it with plan, send it
    /// with apply). Sends no update.
    Revert(revert::Args),
    /// Run a local emulator of the pull-to-push API (for tests, benchmarks and rehearsals).
    Emulator(emulator::Args),
    /// The quota shared by several runs through Redis (--quota-store): who shares it, how fast.
    Quota(quota::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionArgs),
    /// Print the manual page (roff; `livebatch man | man -l -`).
    Man(completions::ManArgs),
}

/// The async runtime every networked command runs on (two workers: the machine's size, and
/// enough for paced calls). A failure to start it is a runtime failure, reported once here.
pub fn runtime() -> Result<tokio::runtime::Runtime, error::CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| error::CliError::failure(format!("cannot start the async runtime: {e}")))
}

/// Parses the process arguments and runs the command; the return value is the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => exit::SUCCESS,
                _ => exit::USAGE,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let g = cli.global;
    g.color.apply();
    let result = match cli.command {
        Command::Validate(a) => validate::run(a, &g),
        Command::Plan(a) => plan::run(a, &g),
        Command::Apply(a) => apply::run(a, &g),
        Command::Diff(a) => diff::run(a, &g),
        Command::Export(a) => export::run(a, &g),
        Command::Revert(a) => revert::run(a, &g),
        Command::Emulator(a) => emulator::run(a, &g),
        Command::Quota(a) => quota::run(a, &g),
        Command::Completions(a) => completions::completions(a),
        Command::Man(a) => completions::man(a),
    };
    // The one place an error is printed.
    ExitCode::from(result.unwrap_or_else(|e| {
        if let Some(m) = &e.message {
            eprintln!("error: {m}");
        }
        e.code
    }))
}
