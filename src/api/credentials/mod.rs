//! Access keys, the one type that keeps secrets out of every output, and the lookup chain that
//! finds credentials where Alibaba Cloud users already keep them.
//!
//! The chain is the official SDKs' default order: `ALIBABA_CLOUD_*` AccessKey variables, OIDC
//! from the environment, the aliyun CLI's `~/.aliyun/config.json`, the INI file
//! `~/.alibabacloud/credentials`, the ECS instance RAM role (`ALIBABA_CLOUD_ECS_METADATA`), then
//! `ALIBABA_CLOUD_CREDENTIALS_URI`. [`load`] is a function of an [`Environment`] value (variables
//! and home directory) so tests never depend on, or change, the real process environment; it
//! only reads files and decides *how* credentials are obtained (a [`Spec`]). Obtaining and
//! refreshing them (STS calls, processes, HTTP) is [`provider::CredentialProvider`]'s job.

pub mod provider;
pub mod remote;

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
    pub const ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
    pub const OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
    pub const OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
    pub const ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
    pub const ECS_METADATA: &str = "ALIBABA_CLOUD_ECS_METADATA";
    pub const ECS_METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";
    pub const IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";
    pub const CREDENTIALS_URI: &str = "ALIBABA_CLOUD_CREDENTIALS_URI";
}

/// The instance metadata service every ECS instance reaches (documented address).
pub const ECS_METADATA_URL: &str = "http://100.100.100.200";

/// How credentials are obtained: a decision [`load`] makes from files and variables, without any
/// network or process. `Debug` never shows a secret (they are [`Secret`]s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// AccessKey pair or STS token as given; cannot be refreshed. `expiration` is known only when
    /// the source says it (the CLI's `sts_expiration`).
    Static {
        credentials: Credentials,
        expiration: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// STS `AssumeRoleWithOIDC`; the token file is re-read at every refresh (it rotates).
    Oidc {
        role_arn: String,
        provider_arn: String,
        token_file: PathBuf,
        session_name: Option<String>,
        duration_secs: Option<u32>,
        policy: Option<String>,
    },
    /// STS `AssumeRole` signed with the credentials of `source` (itself any spec).
    RamRole {
        source: Box<Spec>,
        role_arn: String,
        session_name: Option<String>,
        duration_secs: Option<u32>,
        policy: Option<String>,
        external_id: Option<String>,
    },
    /// A command that prints credentials as JSON (the aliyun CLI's `External` mode).
    External { command: String },
    /// A URL answering credentials as JSON.
    Uri { url: String },
    /// The ECS instance RAM role, from the instance metadata service.
    Ecs {
        role_name: Option<String>,
        imdsv1_disabled: bool,
        metadata_url: String,
    },
}

impl Spec {
    /// A one-line description for `-v`: the method and what it names (role ARNs, file paths,
    /// the URL without its query), never a secret.
    pub fn describe(&self) -> String {
        match self {
            Spec::Static {
                credentials,
                expiration,
            } => {
                let kind = if credentials.security_token.is_some() {
                    "STS token"
                } else {
                    "AccessKey"
                };
                match expiration {
                    Some(t) => format!(
                        "{kind} (AccessKey ID {}, expires {}; cannot be refreshed)",
                        credentials.access_key_id,
                        t.format("%Y-%m-%dT%H:%M:%SZ")
                    ),
                    None => format!("{kind} (AccessKey ID {})", credentials.access_key_id),
                }
            }
            Spec::Oidc {
                role_arn,
                token_file,
                ..
            } => format!(
                "OIDC: STS AssumeRoleWithOIDC for {role_arn}, token file {}",
                token_file.display()
            ),
            Spec::RamRole {
                source, role_arn, ..
            } => format!(
                "RAM role: STS AssumeRole for {role_arn}, signed with {}",
                source.describe()
            ),
            Spec::External { command } => {
                let program = command.split_whitespace().next().unwrap_or_default();
                format!("External: the output of `{program}`")
            }
            Spec::Uri { url } => format!("credentials URI {}", redact_url(url)),
            Spec::Ecs { role_name, .. } => format!(
                "ECS instance RAM role {}",
                role_name
                    .as_deref()
                    .unwrap_or("(named by the metadata service)")
            ),
        }
    }

    /// Whether credentials from this spec can be obtained again (refreshed).
    pub fn refreshable(&self) -> bool {
        !matches!(self, Spec::Static { .. })
    }
}

/// A URL for display: scheme, host, port and path; no user information, query or fragment
/// (either may carry a token).
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw.trim()) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(not a valid URL)".to_string(),
    }
}

/// What the loader may look at: environment variables and the home directory. `Debug` shows only
/// variable names, since values include secrets.
#[derive(Clone, Default)]
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub home: Option<PathBuf>,
    /// The instance metadata service's base URL. Only tests set it (to a loopback fake); the
    /// process environment cannot, so a user's variables never redirect where the ECS role's
    /// credentials come from. `None`: [`ECS_METADATA_URL`].
    pub ecs_metadata_url: Option<String>,
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
        Environment {
            vars,
            home,
            ecs_metadata_url: None,
        }
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
    /// `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`, `ALIBABA_CLOUD_OIDC_TOKEN_FILE`.
    OidcEnvironment,
    CliConfig {
        path: PathBuf,
        profile: String,
    },
    IniFile {
        path: PathBuf,
        profile: String,
    },
    /// `ALIBABA_CLOUD_ECS_METADATA`.
    EcsMetadata,
    /// `ALIBABA_CLOUD_CREDENTIALS_URI`.
    CredentialsUri,
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Environment => {
                write!(f, "environment variables ({})", var::ACCESS_KEY_ID)
            }
            CredentialSource::OidcEnvironment => {
                write!(f, "environment variables ({})", var::OIDC_TOKEN_FILE)
            }
            CredentialSource::EcsMetadata => {
                write!(f, "environment variable {}", var::ECS_METADATA)
            }
            CredentialSource::CredentialsUri => {
                write!(f, "environment variable {}", var::CREDENTIALS_URI)
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
    /// How to obtain the credentials.
    pub spec: Spec,
    pub source: CredentialSource,
    /// E.g. that `--profile` was ignored because environment variables take precedence.
    pub notes: Vec<String>,
}

impl LoadedCredentials {
    /// The credentials themselves, when the source gives them as they are (AK, STS token).
    pub fn static_credentials(&self) -> Option<&Credentials> {
        match &self.spec {
            Spec::Static { credentials, .. } => Some(credentials),
            _ => None,
        }
    }
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
    /// A source was configured but could not produce credentials (STS refused, the process
    /// failed, the URL did not answer). `transient`: a network failure worth retrying.
    #[error("{source_name}: {message}")]
    Fetch {
        source_name: String,
        message: String,
        transient: bool,
    },
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
         - run `aliyun configure` (writes ~/.aliyun/config.json; modes AK, StsToken, RamRoleArn, \
         ChainableRamRoleArn, OIDC, External, EcsRamRole, CredentialsURI), \
         or point {} at such a file;\n  \
         - write ~/.alibabacloud/credentials with a [default] section holding type = access_key, \
         access_key_id and access_key_secret (or point {} at it);\n  \
         - in CI, use OIDC: set {}, {} and {};\n  \
         - pick an existing profile with --profile NAME or {}.",
        var::ACCESS_KEY_ID,
        var::ACCESS_KEY_SECRET,
        var::SECURITY_TOKEN,
        var::CONFIG_FILE,
        var::CREDENTIALS_FILE,
        var::ROLE_ARN,
        var::OIDC_PROVIDER_ARN,
        var::OIDC_TOKEN_FILE,
        var::PROFILE
    ));
    m
}

/// Finds credentials along the official chain. `profile_flag` is `--profile`; when absent,
/// `ALIBABA_CLOUD_PROFILE` names the profile, else the CLI file's `current` (and `default` for
/// the INI file). Reads only the files the environment points at; the first source that is
/// configured wins (a configured source that then fails to produce credentials is reported, not
/// silently skipped for a different identity).
pub fn load(
    env: &Environment,
    profile_flag: Option<&str>,
) -> Result<LoadedCredentials, CredentialsError> {
    let profile_flag = profile_flag.map(str::trim).filter(|p| !p.is_empty());
    let requested = profile_flag.or_else(|| env.var(var::PROFILE));
    let mut tried = Vec::new();
    let mut notes = Vec::new();
    let ignored_profile = |notes: &mut Vec<String>, what: &str| {
        if let Some(p) = profile_flag {
            notes.push(format!(
                "--profile {p:?} is ignored: {what} set and come first; unset them to use the profile"
            ));
        }
    };

    // 1. Environment variables.
    match (env.var(var::ACCESS_KEY_ID), env.var(var::ACCESS_KEY_SECRET)) {
        (Some(id), Some(secret)) => {
            ignored_profile(
                &mut notes,
                &format!("{} and {} are", var::ACCESS_KEY_ID, var::ACCESS_KEY_SECRET),
            );
            return Ok(LoadedCredentials {
                spec: Spec::Static {
                    credentials: Credentials {
                        access_key_id: id.to_string(),
                        access_key_secret: Secret::new(secret),
                        security_token: env.var(var::SECURITY_TOKEN).map(Secret::new),
                    },
                    expiration: None,
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

    // 2. OIDC from the environment (all three variables, as the official chain requires).
    let oidc = [var::ROLE_ARN, var::OIDC_PROVIDER_ARN, var::OIDC_TOKEN_FILE];
    let set: Vec<&str> = oidc
        .iter()
        .copied()
        .filter(|v| env.var(v).is_some())
        .collect();
    if set.len() == oidc.len() {
        ignored_profile(&mut notes, "the OIDC variables are");
        return Ok(LoadedCredentials {
            spec: Spec::Oidc {
                role_arn: env.var(var::ROLE_ARN).unwrap_or_default().to_string(),
                provider_arn: env
                    .var(var::OIDC_PROVIDER_ARN)
                    .unwrap_or_default()
                    .to_string(),
                token_file: PathBuf::from(env.var(var::OIDC_TOKEN_FILE).unwrap_or_default()),
                session_name: env.var(var::ROLE_SESSION_NAME).map(str::to_string),
                duration_secs: None,
                policy: None,
            },
            source: CredentialSource::OidcEnvironment,
            notes,
        });
    } else if set.is_empty() {
        tried.push(format!(
            "OIDC: {}, {} and {} are not set",
            var::ROLE_ARN,
            var::OIDC_PROVIDER_ARN,
            var::OIDC_TOKEN_FILE
        ));
    } else {
        let missing: Vec<&str> = oidc.iter().copied().filter(|v| !set.contains(v)).collect();
        tried.push(format!(
            "OIDC: {} set but {} not (all three are needed)",
            set.join(", "),
            missing.join(", ")
        ));
    }

    // 3. The aliyun CLI configuration.
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
            Some(text) => match from_cli_config(env, &path, &text, requested)? {
                Ok((spec, profile)) => {
                    return Ok(LoadedCredentials {
                        spec,
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

    // 4. The credentials INI file.
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
                match from_ini(env, &path, &text, profile)? {
                    Some(spec) => {
                        return Ok(LoadedCredentials {
                            spec,
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

    // 5. The ECS instance RAM role: only when named, so that a machine outside ECS does not wait
    // on an address that will never answer.
    let ecs_disabled = env
        .var(var::ECS_METADATA_DISABLED)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    match env.var(var::ECS_METADATA) {
        Some(role) if !ecs_disabled => {
            return Ok(LoadedCredentials {
                spec: ecs_spec(env, Some(role)),
                source: CredentialSource::EcsMetadata,
                notes,
            });
        }
        Some(_) => tried.push(format!(
            "ECS RAM role: {} is set but {} is true",
            var::ECS_METADATA,
            var::ECS_METADATA_DISABLED
        )),
        None => tried.push(format!("ECS RAM role: {} is not set", var::ECS_METADATA)),
    }

    // 6. The credentials URI.
    if let Some(url) = env.var(var::CREDENTIALS_URI) {
        return Ok(LoadedCredentials {
            spec: Spec::Uri {
                url: url.to_string(),
            },
            source: CredentialSource::CredentialsUri,
            notes,
        });
    }
    tried.push(format!(
        "credentials URI: {} is not set",
        var::CREDENTIALS_URI
    ));

    Err(CredentialsError::NotFound {
        tried,
        profile: requested.map(str::to_string),
    })
}

fn ecs_spec(env: &Environment, role: Option<&str>) -> Spec {
    Spec::Ecs {
        role_name: role
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        imdsv1_disabled: env
            .var(var::IMDSV1_DISABLED)
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        metadata_url: env
            .ecs_metadata_url
            .clone()
            .unwrap_or_else(|| ECS_METADATA_URL.to_string()),
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

/// The aliyun CLI's profile fields livebatch reads (names as the CLI writes them).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct CliProfile {
    name: String,
    mode: String,
    access_key_id: String,
    access_key_secret: String,
    sts_token: String,
    /// Unix seconds; the CLI writes it for StsToken profiles it obtained itself.
    sts_expiration: i64,
    ram_role_arn: String,
    ram_session_name: String,
    expired_seconds: u32,
    source_profile: String,
    policy: String,
    external_id: String,
    oidc_provider_arn: String,
    oidc_token_file: String,
    process_command: String,
    ram_role_name: String,
    credentials_uri: String,
}

const CLI_MODES: &str =
    "AK, StsToken, RamRoleArn, ChainableRamRoleArn, OIDC, External, EcsRamRole, CredentialsURI";

/// `Ok(Ok(..))`: how to obtain credentials, and the profile used; `Ok(Err(why))`: this file has
/// no such profile (the chain goes on); `Err`: the file or the profile is broken (the chain
/// stops, to be fixed).
fn from_cli_config(
    env: &Environment,
    path: &Path,
    text: &str,
    requested: Option<&str>,
) -> Result<Result<(Spec, String), String>, CredentialsError> {
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
    if !cfg.profiles.iter().any(|p| p.name == name) {
        let names: Vec<&str> = cfg.profiles.iter().map(|p| p.name.as_str()).collect();
        return Ok(Err(format!(
            "no profile named {name:?} (profiles: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    }
    let spec = cli_profile_spec(env, path, &cfg, &name, &mut Vec::new())?;
    Ok(Ok((spec, name)))
}

/// The spec of profile `name`; `chain` holds the profiles already visited through
/// `source_profile`, so a loop is reported instead of followed forever.
fn cli_profile_spec(
    env: &Environment,
    path: &Path,
    cfg: &CliConfig,
    name: &str,
    chain: &mut Vec<String>,
) -> Result<Spec, CredentialsError> {
    let malformed = |message: String| CredentialsError::Malformed {
        path: path.to_path_buf(),
        line: None,
        message,
    };
    let Some(p) = cfg.profiles.iter().find(|p| p.name == name) else {
        return Err(malformed(format!(
            "source_profile {name:?} (used by profile {:?}) does not exist",
            chain.last().cloned().unwrap_or_default()
        )));
    };
    if chain.iter().any(|c| c == name) {
        return Err(malformed(format!(
            "source_profile loops: {} -> {name}",
            chain.join(" -> ")
        )));
    }
    chain.push(name.to_string());
    let mode = if p.mode.is_empty() {
        "AK"
    } else {
        p.mode.as_str()
    };
    let missing = |field: &str| malformed(format!("profile {name:?} (mode {mode}) has no {field}"));
    let need = |v: &str, field: &str| -> Result<String, CredentialsError> {
        let v = v.trim();
        if v.is_empty() {
            Err(missing(field))
        } else {
            Ok(v.to_string())
        }
    };
    let opt = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let duration = (p.expired_seconds > 0).then_some(p.expired_seconds);
    let ak = || -> Result<Credentials, CredentialsError> {
        Ok(Credentials {
            access_key_id: need(&p.access_key_id, "access_key_id")?,
            access_key_secret: Secret::new(need(&p.access_key_secret, "access_key_secret")?),
            security_token: None,
        })
    };
    let role = |source: Spec| -> Result<Spec, CredentialsError> {
        Ok(Spec::RamRole {
            source: Box::new(source),
            role_arn: need(&p.ram_role_arn, "ram_role_arn")?,
            session_name: opt(&p.ram_session_name),
            duration_secs: duration,
            policy: opt(&p.policy),
            external_id: opt(&p.external_id),
        })
    };
    match mode {
        "AK" => Ok(Spec::Static {
            credentials: ak()?,
            expiration: None,
        }),
        "StsToken" => {
            let mut credentials = ak()?;
            credentials.security_token = Some(Secret::new(need(&p.sts_token, "sts_token")?));
            Ok(Spec::Static {
                credentials,
                expiration: (p.sts_expiration > 0)
                    .then(|| chrono::DateTime::from_timestamp(p.sts_expiration, 0))
                    .flatten(),
            })
        }
        "RamRoleArn" => role(Spec::Static {
            credentials: ak()?,
            expiration: None,
        }),
        "ChainableRamRoleArn" => {
            let source_name = need(&p.source_profile, "source_profile")?;
            let source = cli_profile_spec(env, path, cfg, &source_name, chain)?;
            role(source)
        }
        "OIDC" => Ok(Spec::Oidc {
            role_arn: need(&p.ram_role_arn, "ram_role_arn")?,
            provider_arn: need(&p.oidc_provider_arn, "oidc_provider_arn")?,
            token_file: PathBuf::from(need(&p.oidc_token_file, "oidc_token_file")?),
            session_name: opt(&p.ram_session_name),
            duration_secs: duration,
            policy: opt(&p.policy),
        }),
        "External" => Ok(Spec::External {
            command: need(&p.process_command, "process_command")?,
        }),
        "EcsRamRole" => Ok(ecs_spec(env, Some(p.ram_role_name.as_str()))),
        "CredentialsURI" => Ok(Spec::Uri {
            url: need(&p.credentials_uri, "credentials_uri")?,
        }),
        other => Err(CredentialsError::Unsupported {
            path: path.to_path_buf(),
            profile: name.to_string(),
            kind: "mode",
            value: other.to_string(),
            supported: CLI_MODES,
        }),
    }
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
    env: &Environment,
    path: &Path,
    text: &str,
    profile: &str,
) -> Result<Option<Spec>, CredentialsError> {
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
    let need = |k: &str| get(k).ok_or_else(|| malformed(format!("section [{profile}] has no {k}")));
    let ak = || -> Result<Credentials, CredentialsError> {
        Ok(Credentials::new(
            need("access_key_id")?,
            need("access_key_secret")?,
        ))
    };
    match get("type") {
        Some("access_key") => Ok(Some(Spec::Static {
            credentials: ak()?,
            expiration: None,
        })),
        Some("ram_role_arn") => Ok(Some(Spec::RamRole {
            source: Box::new(Spec::Static {
                credentials: ak()?,
                expiration: None,
            }),
            role_arn: need("role_arn")?.to_string(),
            session_name: get("role_session_name").map(str::to_string),
            duration_secs: get("duration_seconds").and_then(|v| v.parse().ok()),
            policy: get("policy").map(str::to_string),
            external_id: get("external_id").map(str::to_string),
        })),
        Some("ecs_ram_role") => Ok(Some(ecs_spec(env, get("role_name")))),
        Some("oidc_role_arn") => Ok(Some(Spec::Oidc {
            role_arn: need("role_arn")?.to_string(),
            provider_arn: need("oidc_provider_arn")?.to_string(),
            token_file: PathBuf::from(need("oidc_token_file_path")?),
            session_name: get("role_session_name").map(str::to_string),
            duration_secs: None,
            policy: get("policy").map(str::to_string),
        })),
        Some(other) => Err(CredentialsError::Unsupported {
            path: path.to_path_buf(),
            profile: profile.to_string(),
            kind: "type",
            value: other.to_string(),
            supported: "access_key, ram_role_arn, ecs_ram_role, oidc_role_arn",
        }),
        None => Err(malformed(format!(
            "section [{profile}] has no `type` (expected type = access_key)"
        ))),
    }
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
