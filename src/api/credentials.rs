//! Access keys, the one type that keeps secrets out of every output, and the lookup chain that
//! finds keys where Alibaba Cloud users already keep them.
//!
//! The chain is the official SDKs' default order: `ALIBABA_CLOUD_*` environment variables, then the
//! aliyun CLI's `~/.aliyun/config.json`, then the INI file `~/.alibabacloud/credentials`. [`load`] is
//! a function of an [`Environment`] value (variables and home directory) so tests never depend on,
//! or change, the real process environment.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A secret value (AccessKey secret, STS token). `Debug` and `Display` print `***`, so a secret
/// cannot reach a log line, an error, a report or a plan file by accident; the value is read only
/// where a signature is computed, through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The raw value, for signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An access key pair, optionally with an STS token. The ID is not secret (it appears in every
/// signed request); the secret and token are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub security_token: Option<Secret>,
}

impl Credentials {
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials {
            access_key_id: id.into(),
            access_key_secret: Secret::new(secret),
            security_token: None,
        }
    }
}

/// Environment variable names the chain reads.
pub mod var {
    pub const ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
    pub const ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
    pub const SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
    pub const PROFILE: &str = "ALIBABA_CLOUD_PROFILE";
    pub const CONFIG_FILE: &str = "ALIBABA_CLOUD_CONFIG_FILE";
    pub const CREDENTIALS_FILE: &str = "ALIBABA_CLOUD_CREDENTIALS_FILE";
}

/// What the loader may look at: environment variables and the home directory. `Debug` shows only
/// variable names, since values include secrets.
#[derive(Clone, Default)]
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub home: Option<PathBuf>,
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("home", &self.home)
            .finish()
    }
}

impl Environment {
    /// The real process environment (only the `ALIBABA_CLOUD_*` variables are kept).
    pub fn from_process() -> Environment {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("ALIBABA_CLOUD_"))
            .collect();
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        Environment { vars, home }
    }

    /// A set variable with a non-blank value; blank counts as unset, as in the official SDKs.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// Where a set of credentials came from, for `-v` output and error messages (never the values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    Environment,
    CliConfig { path: PathBuf, profile: String },
    IniFile { path: PathBuf, profile: String },
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Environment => {
                write!(f, "environment variables ({})", var::ACCESS_KEY_ID)
            }
            CredentialSource::CliConfig { path, profile } => {
                write!(
                    f,
                    "aliyun CLI config {} (profile {profile:?})",
                    path.display()
                )
            }
            CredentialSource::IniFile { path, profile } => {
                write!(
                    f,
                    "credentials file {} (profile {profile:?})",
                    path.display()
                )
            }
        }
    }
}

/// Credentials found by [`load`], where they came from, and remarks worth showing the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedCredentials {
    pub credentials: Credentials,
    pub source: CredentialSource,
    /// E.g. that `--profile` was ignored because environment variables take precedence.
    pub notes: Vec<String>,
}

/// Why no credentials could be used. Messages name files, lines and profiles, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("{}", not_found_message(tried, profile.as_deref()))]
    NotFound {
        /// One line per source: what was looked at and why it yielded nothing.
        tried: Vec<String>,
        /// The profile asked for (`--profile` or `ALIBABA_CLOUD_PROFILE`), if any.
        profile: Option<String>,
    },
    #[error(
        "{set} is set but {missing} is not: set both (and {} for STS), or unset {set} to use a profile",
        var::SECURITY_TOKEN
    )]
    IncompleteEnvironment {
        set: &'static str,
        missing: &'static str,
    },
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Malformed {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("cannot read {}: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    #[error(
        "{}: profile {profile:?} has {kind} {value:?}, which livebatch cannot use; supported: {supported}. \
         Choose another profile with --profile NAME, or set {} and {}",
        path.display(), var::ACCESS_KEY_ID, var::ACCESS_KEY_SECRET
    )]
    Unsupported {
        path: PathBuf,
        profile: String,
        kind: &'static str,
        value: String,
        supported: &'static str,
    },
}

fn not_found_message(tried: &[String], profile: Option<&str>) -> String {
    let mut m = String::from("no Alibaba Cloud credentials found");
    if let Some(p) = profile {
        m.push_str(&format!(" (profile {p:?})"));
    }
    m.push_str(". Tried, in order:\n");
    for (i, t) in tried.iter().enumerate() {
        m.push_str(&format!("  {}. {t}\n", i + 1));
    }
    m.push_str(&format!(
        "To fix, do one of:\n  - export {} and {} (and {} for STS credentials);\n  \
         - run `aliyun configure` (writes ~/.aliyun/config.json; mode AK or StsToken), \
         or point {} at such a file;\n  \
         - write ~/.alibabacloud/credentials with a [default] section holding type = access_key, \
         access_key_id and access_key_secret (or point {} at it);\n  \
         - pick an existing profile with --profile NAME or {}.",
        var::ACCESS_KEY_ID,
        var::ACCESS_KEY_SECRET,
        var::SECURITY_TOKEN,
        var::CONFIG_FILE,
        var::CREDENTIALS_FILE,
        var::PROFILE
    ));
    m
}

/// Finds credentials along the official chain. `profile_flag` is `--profile`; when absent,
/// `ALIBABA_CLOUD_PROFILE` names the profile, else the CLI file's `current` (and `default` for
/// the INI file). Reads only the files the environment points at.
pub fn load(
    env: &Environment,
    profile_flag: Option<&str>,
) -> Result<LoadedCredentials, CredentialsError> {
    let profile_flag = profile_flag.map(str::trim).filter(|p| !p.is_empty());
    let requested = profile_flag.or_else(|| env.var(var::PROFILE));
    let mut tried = Vec::new();
    let mut notes = Vec::new();

    // 1. Environment variables.
    match (env.var(var::ACCESS_KEY_ID), env.var(var::ACCESS_KEY_SECRET)) {
        (Some(id), Some(secret)) => {
            if let Some(p) = profile_flag {
                notes.push(format!(
                    "--profile {p:?} is ignored: {} and {} are set and come first; unset them to use the profile",
                    var::ACCESS_KEY_ID,
                    var::ACCESS_KEY_SECRET
                ));
            }
            return Ok(LoadedCredentials {
                credentials: Credentials {
                    access_key_id: id.to_string(),
                    access_key_secret: Secret::new(secret),
                    security_token: env.var(var::SECURITY_TOKEN).map(Secret::new),
                },
                source: CredentialSource::Environment,
                notes,
            });
        }
        (Some(_), None) => {
            return Err(CredentialsError::IncompleteEnvironment {
                set: var::ACCESS_KEY_ID,
                missing: var::ACCESS_KEY_SECRET,
            });
        }
        (None, Some(_)) => {
            return Err(CredentialsError::IncompleteEnvironment {
                set: var::ACCESS_KEY_SECRET,
                missing: var::ACCESS_KEY_ID,
            });
        }
        (None, None) => tried.push(format!(
            "environment: {} and {} are not set",
            var::ACCESS_KEY_ID,
            var::ACCESS_KEY_SECRET
        )),
    }

    // 2. The aliyun CLI configuration.
    match file_path(env, var::CONFIG_FILE, &[".aliyun", "config.json"]) {
        None => tried.push(format!(
            "aliyun CLI config: no home directory (HOME is not set) and {} is not set",
            var::CONFIG_FILE
        )),
        Some((path, how)) => match read_optional(&path)? {
            None => tried.push(format!(
                "aliyun CLI config {} ({how}): does not exist",
                path.display()
            )),
            Some(text) => match from_cli_config(&path, &text, requested)? {
                Ok((credentials, profile)) => {
                    return Ok(LoadedCredentials {
                        credentials,
                        source: CredentialSource::CliConfig { path, profile },
                        notes,
                    });
                }
                Err(why) => tried.push(format!(
                    "aliyun CLI config {} ({how}): {why}",
                    path.display()
                )),
            },
        },
    }

    // 3. The credentials INI file.
    match file_path(
        env,
        var::CREDENTIALS_FILE,
        &[".alibabacloud", "credentials"],
    ) {
        None => tried.push(format!(
            "credentials file: no home directory (HOME is not set) and {} is not set",
            var::CREDENTIALS_FILE
        )),
        Some((path, how)) => match read_optional(&path)? {
            None => tried.push(format!(
                "credentials file {} ({how}): does not exist",
                path.display()
            )),
            Some(text) => {
                let profile = requested.unwrap_or("default");
                match from_ini(&path, &text, profile)? {
                    Some(credentials) => {
                        return Ok(LoadedCredentials {
                            credentials,
                            source: CredentialSource::IniFile {
                                path,
                                profile: profile.to_string(),
                            },
                            notes,
                        });
                    }
                    None => tried.push(format!(
                        "credentials file {} ({how}): no [{profile}] section",
                        path.display()
                    )),
                }
            }
        },
    }

    Err(CredentialsError::NotFound {
        tried,
        profile: requested.map(str::to_string),
    })
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

fn read_optional(path: &Path) -> Result<Option<String>, CredentialsError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| CredentialsError::Malformed {
                path: path.to_path_buf(),
                line: None,
                message: format!("not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CredentialsError::Unreadable {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct CliConfig {
    current: Option<String>,
    profiles: Vec<CliProfile>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct CliProfile {
    name: String,
    mode: String,
    access_key_id: String,
    access_key_secret: String,
    sts_token: String,
}

/// `Ok(Ok(..))`: credentials and the profile used; `Ok(Err(why))`: this file has no such profile
/// (the chain goes on); `Err`: the file or the profile is broken (the chain stops, to be fixed).
fn from_cli_config(
    path: &Path,
    text: &str,
    requested: Option<&str>,
) -> Result<Result<(Credentials, String), String>, CredentialsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let cfg: CliConfig = serde_json::from_str(text).map_err(|e| CredentialsError::Malformed {
        path: path.to_path_buf(),
        line: Some(e.line()),
        // Data errors quote the offending value, which may be a secret: describe, do not quote.
        message: match e.classify() {
            serde_json::error::Category::Data => format!(
                "column {}: unexpected shape; expected {{\"current\": \"NAME\", \"profiles\": \
                 [{{\"name\": \"NAME\", \"mode\": \"AK\", \"access_key_id\": \"…\", \"access_key_secret\": \"…\"}}]}}",
                e.column()
            ),
            _ => format!("column {}: not valid JSON ({})", e.column(), syntax_reason(&e)),
        },
    })?;
    let name = requested
        .map(str::to_string)
        .or_else(|| cfg.current.clone().filter(|c| !c.trim().is_empty()))
        .unwrap_or_else(|| "default".to_string());
    let Some(p) = cfg.profiles.iter().find(|p| p.name == name) else {
        let names: Vec<&str> = cfg.profiles.iter().map(|p| p.name.as_str()).collect();
        return Ok(Err(format!(
            "no profile named {name:?} (profiles: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    };
    let missing = |field: &str| CredentialsError::Malformed {
        path: path.to_path_buf(),
        line: None,
        message: format!("profile {name:?} (mode {}) has no {field}", p.mode),
    };
    let (needs_token, mode_ok) = match p.mode.as_str() {
        "AK" | "" => (false, true),
        "StsToken" => (true, true),
        _ => (false, false),
    };
    if !mode_ok {
        return Err(CredentialsError::Unsupported {
            path: path.to_path_buf(),
            profile: name,
            kind: "mode",
            value: p.mode.clone(),
            supported: "AK, StsToken",
        });
    }
    if p.access_key_id.trim().is_empty() {
        return Err(missing("access_key_id"));
    }
    if p.access_key_secret.trim().is_empty() {
        return Err(missing("access_key_secret"));
    }
    if needs_token && p.sts_token.trim().is_empty() {
        return Err(missing("sts_token"));
    }
    Ok(Ok((
        Credentials {
            access_key_id: p.access_key_id.trim().to_string(),
            access_key_secret: Secret::new(p.access_key_secret.trim()),
            security_token: needs_token.then(|| Secret::new(p.sts_token.trim())),
        },
        name,
    )))
}

fn syntax_reason(e: &serde_json::Error) -> String {
    // serde_json appends " at line L column C"; the location is reported separately.
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// `Ok(None)`: no such section. Keys are compared case-sensitively, as the SDKs do.
fn from_ini(
    path: &Path,
    text: &str,
    profile: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    let sections = parse_ini(text).map_err(|(line, message)| CredentialsError::Malformed {
        path: path.to_path_buf(),
        line: Some(line),
        message,
    })?;
    let Some(section) = sections.iter().find(|s| s.name == profile) else {
        return Ok(None);
    };
    let get = |k: &str| {
        section
            .entries
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let malformed = |message: String| CredentialsError::Malformed {
        path: path.to_path_buf(),
        line: Some(section.line),
        message,
    };
    match get("type") {
        Some("access_key") => {}
        Some(other) => {
            return Err(CredentialsError::Unsupported {
                path: path.to_path_buf(),
                profile: profile.to_string(),
                kind: "type",
                value: other.to_string(),
                supported: "access_key",
            });
        }
        None => {
            return Err(malformed(format!(
                "section [{profile}] has no `type` (expected type = access_key)"
            )));
        }
    }
    let id = get("access_key_id")
        .ok_or_else(|| malformed(format!("section [{profile}] has no access_key_id")))?;
    let secret = get("access_key_secret")
        .ok_or_else(|| malformed(format!("section [{profile}] has no access_key_secret")))?;
    Ok(Some(Credentials::new(id, secret)))
}

struct IniSection {
    name: String,
    line: usize,
    entries: Vec<(String, String)>,
}

/// A small INI reader: `[section]`, `key = value`, `#`/`;` comment lines, optional quotes around a
/// value. Errors carry the 1-based line and never quote the line (it may hold a secret).
fn parse_ini(text: &str) -> Result<Vec<IniSection>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections: Vec<IniSection> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err((n, "section header without a closing `]`".to_string()));
            };
            sections.push(IniSection {
                name: name.trim().to_string(),
                line: n,
                entries: Vec::new(),
            });
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err((
                n,
                "expected `[section]`, `key = value` or a comment".to_string(),
            ));
        };
        let key = k.trim();
        if key.is_empty() {
            return Err((n, "a `key = value` line without a key".to_string()));
        }
        let mut value = v.trim();
        for q in ['"', '\''] {
            if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
                value = &value[1..value.len() - 1];
            }
        }
        match sections.last_mut() {
            Some(s) => s.entries.push((key.to_string(), value.to_string())),
            None => {
                return Err((
                    n,
                    format!("key {key:?} before any [section]; put it under e.g. [default]"),
                ));
            }
        }
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut c = Credentials::new("LTAIid", "very-secret-value");
        c.security_token = Some(Secret::new("token-value"));
        let shown = format!("{c:?} {}", c.access_key_secret);
        assert!(!shown.contains("very-secret-value"));
        assert!(!shown.contains("token-value"));
        assert!(shown.contains("LTAIid"));
    }
}
