//! The aliyun CLI's configuration file (`~/.aliyun/config.json`, or `ALIBABA_CLOUD_CONFIG_FILE`):
//! the chain's third step. The profile asked for, else the file's `current`, becomes a spec by its
//! `mode` (AK, StsToken, RamRoleArn, ChainableRamRoleArn, OIDC, External, EcsRamRole,
//! CredentialsURI); chained profiles are followed through `source_profile`.

use std::path::{Path, PathBuf};

use super::ecs::ecs_spec;
use super::environment::{Environment, var};
use super::error::CredentialsError;
use super::profile_file;
use super::spec::Spec;
use super::step::{Answer, Ask, CredentialSource};
use crate::api::secret::{Credentials, Secret};

/// The file exists: the profile asked for in it, or skipped when it has no such profile.
pub fn from_file(ask: &Ask<'_>) -> Result<Answer, CredentialsError> {
    let label = "aliyun CLI config";
    let file = match profile_file::read(
        ask.env,
        var::CONFIG_FILE,
        &[".aliyun", "config.json"],
        label,
    )? {
        Ok(file) => file,
        Err(why) => return Ok(Answer::Skipped(why)),
    };
    Ok(
        match from_cli_config(ask.env, &file.path, &file.text, ask.requested)? {
            Ok((spec, profile)) => Answer::found(
                spec,
                CredentialSource::CliConfig {
                    path: file.path,
                    profile,
                },
            ),
            Err(why) => Answer::Skipped(format!(
                "{label} {} ({}): {why}",
                file.path.display(),
                file.how
            )),
        },
    )
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
