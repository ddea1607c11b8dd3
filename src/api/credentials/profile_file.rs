//! The two profile files (the aliyun CLI's `config.json`, the `credentials` INI file): the path a
//! variable names, else the default under the home directory, and reading it when it exists.

use std::path::{Path, PathBuf};

use super::environment::Environment;
use super::error::CredentialsError;
use super::local_file;

/// A profile file found and read.
pub(super) struct ProfileFile {
    pub path: PathBuf,
    /// How it was found (`from VAR` or `default location`), for messages.
    pub how: String,
    pub text: String,
}

/// Reads the file `override_var` names, else `~/<parts>`. `Ok(Err(why))`: there is none; `why`
/// starts with `label` and is one line of the chain's list of what it tried.
pub(super) fn read(
    env: &Environment,
    override_var: &str,
    parts: &[&str],
    label: &str,
) -> Result<Result<ProfileFile, String>, CredentialsError> {
    let Some((path, how)) = file_path(env, override_var, parts) else {
        return Ok(Err(format!(
            "{label}: no home directory (HOME is not set) and {override_var} is not set"
        )));
    };
    match read_optional(&path)? {
        None => Ok(Err(format!(
            "{label} {} ({how}): does not exist",
            path.display()
        ))),
        Some(text) => Ok(Ok(ProfileFile { path, how, text })),
    }
}

/// The file named by `override_var`, else `~/<parts>`, with a note on which it was.
fn file_path(env: &Environment, override_var: &str, parts: &[&str]) -> Option<(PathBuf, String)> {
    if let Some(p) = env.var(override_var) {
        return Some((PathBuf::from(p), format!("from {override_var}")));
    }
    let mut p = env.home.clone()?;
    for part in parts {
        p.push(part);
    }
    Some((p, "default location".to_string()))
}

/// The largest profile file read (the aliyun CLI's file with many profiles is a few kilobytes).
const MAX_PROFILE_FILE: u64 = 4 << 20;

fn read_optional(path: &Path) -> Result<Option<String>, CredentialsError> {
    match local_file::read_bounded(path, MAX_PROFILE_FILE) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| CredentialsError::Malformed {
                path: path.to_path_buf(),
                line: None,
                message: format!("not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
            }),
        Err(local_file::ReadError::NotFound) => Ok(None),
        Err(e) => Err(CredentialsError::Unreadable {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}
