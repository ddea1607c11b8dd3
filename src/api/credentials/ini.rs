//! The credentials INI file (`~/.alibabacloud/credentials`, or `ALIBABA_CLOUD_CREDENTIALS_FILE`):
//! the chain's fourth step, and the small INI reader it needs. The section of the profile asked
//! for (else `[default]`) becomes a spec by its `type` (access_key, ram_role_arn, ecs_ram_role,
//! oidc_role_arn).

use std::path::{Path, PathBuf};

use super::ecs::ecs_spec;
use super::environment::{Environment, var};
use super::error::CredentialsError;
use super::profile_file;
use super::spec::Spec;
use super::step::{Answer, Ask, CredentialSource};
use crate::api::secret::Credentials;

/// The file exists: its section for the profile asked for, or skipped when it has none.
pub fn from_file(ask: &Ask<'_>) -> Result<Answer, CredentialsError> {
    let label = "credentials file";
    let parts = [".alibabacloud", "credentials"];
    let file = match profile_file::read(ask.env, var::CREDENTIALS_FILE, &parts, label)? {
        Ok(file) => file,
        Err(why) => return Ok(Answer::Skipped(why)),
    };
    let profile = ask.requested.unwrap_or("default");
    Ok(match from_ini(ask.env, &file.path, &file.text, profile)? {
        Some(spec) => Answer::found(
            spec,
            CredentialSource::IniFile {
                path: file.path,
                profile: profile.to_string(),
            },
        ),
        None => Answer::Skipped(format!(
            "{label} {} ({}): no [{profile}] section",
            file.path.display(),
            file.how
        )),
    })
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
