//! `livebatch completions SHELL` and `livebatch man`: shell completions and the manual page,
//! generated from the same clap definition the parser uses, so they can never list a flag the
//! binary does not take. The release archives ship both (see `.github/workflows/release.yml`).

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;
use super::error::{CliError, CliResult};
use crate::exit;

const COMPLETION_EXAMPLES: &str = "\
Examples:
  livebatch completions bash \\
      > ~/.local/share/bash-completion/completions/livebatch
  livebatch completions zsh > \"${fpath[1]}/_livebatch\"
  livebatch completions fish > ~/.config/fish/completions/livebatch.fish
  livebatch completions powershell >> $PROFILE

Exit codes: 0 written · 1 standard output cannot be written · 64 usage";

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(after_help = COMPLETION_EXAMPLES)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// Print the manual page (roff), or write one page per command into a directory.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  livebatch man | man -l -
  livebatch man --out-dir share/man/man1

Exit codes: 0 written · 1 a page or its directory cannot be written · 64 usage")]
pub struct ManArgs {
    /// Write livebatch.1 and one page per subcommand (livebatch-plan.1, ...) into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn completions(args: CompletionArgs) -> CliResult {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "livebatch", &mut out);
    write_stdout(&out)
}

pub fn man(args: ManArgs) -> CliResult {
    let cmd = Cli::command();
    if let Some(dir) = args.out_dir {
        std::fs::create_dir_all(&dir)
            .map_err(|e| CliError::failure(format!("cannot create {}: {e}", dir.display())))?;
        clap_mangen::generate_to(cmd, &dir).map_err(|e| {
            CliError::failure(format!(
                "cannot write manual pages into {}: {e}",
                dir.display()
            ))
        })?;
        return Ok(exit::SUCCESS);
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| CliError::failure(format!("cannot render the manual page: {e}")))?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> CliResult {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::failure(format!("cannot write to standard output: {e}")))?;
    Ok(exit::SUCCESS)
}
