//! The CLI's one error type: an exit code and, unless the failure site already printed its
//! lines (diagnostics, lists), the message `cli::main` prints once as `error: …`; and the exit
//! code of a failed API call, decided here once for every command.

use std::sync::Mutex;

use crate::api::credentials::{CredentialSource, var};
use crate::api::error::{ApiError, ErrorClass};
use crate::exit;

/// A failed command: the process exit code (`src/exit.rs`) and what to print on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub code: u8,
    /// Printed once as `error: {message}`; `None` when the failure site printed it already.
    pub message: Option<String>,
}

impl CliError {
    fn new(code: u8, message: impl std::fmt::Display) -> Self {
        CliError {
            code,
            message: Some(message.to_string()),
        }
    }

    /// Exit 5: a wave failed its health gate (a resume of its journal is refused with it too).
    pub fn gate_failed(message: impl std::fmt::Display) -> Self {
        Self::new(exit::GATE_FAILED, message)
    }

    /// Exit 64: a flag or argument is wrong.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Self::new(exit::USAGE, message)
    }

    /// Exit 1: a call, a read or a write failed.
    pub fn failure(message: impl std::fmt::Display) -> Self {
        Self::new(exit::FAILURE, message)
    }

    /// Exit 66: an input file does not exist or cannot be read.
    pub fn no_input(message: impl std::fmt::Display) -> Self {
        Self::new(exit::NO_INPUT, message)
    }

    /// Exit 77: credentials cannot be had, or the key lacks permission.
    pub fn credentials(message: impl std::fmt::Display) -> Self {
        Self::new(exit::CREDENTIALS, message)
    }

    /// An exit code whose lines were printed where the failure happened (or that prints none).
    pub fn reported(code: u8) -> Self {
        CliError {
            code,
            message: None,
        }
    }
}

/// The exit code for a failed call: systemic failures are about the key or permissions.
pub fn exit_code_for(e: &ApiError) -> u8 {
    if e.class() == ErrorClass::Systemic {
        exit::CREDENTIALS
    } else {
        exit::FAILURE
    }
}

/// A failed API call: systemic failures (the key, permissions) exit 77, others exit 1. When the
/// service refused the key itself, a `help:` line names the key (its AccessKey ID shown as the
/// aliyun CLI shows it), where it came from and what to check there.
pub fn call_failed(e: &ApiError, message: impl std::fmt::Display) -> CliError {
    match refused_key_help(e) {
        Some(help) => CliError::new(exit_code_for(e), format!("{message}\nhelp: {help}")),
        None => CliError::new(exit_code_for(e), message),
    }
}

/// The key a command signs with, as far as explaining a refusal needs it. Never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInUse {
    pub source: CredentialSource,
    /// The AccessKey ID of the first credentials obtained (shown masked).
    pub access_key_id: String,
    /// The key was issued for this run (STS, ECS, a process, a URL), not configured as it is.
    pub temporary: bool,
}

/// Set by `connect`. One process runs one command and signs with the credentials of its last
/// `connect`; every site that reports a failed call reaches [`call_failed`] without a client at
/// hand, so the key is kept here rather than threaded through each of them.
static KEY_IN_USE: Mutex<Option<KeyInUse>> = Mutex::new(None);

/// Records the key calls are signed with, for [`call_failed`] to name on a refusal.
pub fn note_key_in_use(key: KeyInUse) {
    *KEY_IN_USE.lock().unwrap_or_else(|p| p.into_inner()) = Some(key);
}

/// An AccessKey ID as the aliyun CLI's `configure list` shows one: `***` and its last 3
/// characters. The ID is not secret, but logs and CI output are read widely; this is enough to
/// tell which key it was.
pub fn masked_key_id(id: &str) -> String {
    let n = id.chars().count();
    let tail: String = id.chars().skip(n.saturating_sub(3)).collect();
    format!("***{}", crate::text::escape(&tail))
}

/// What the service refused, when it refused the key rather than the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Signature,
    UnknownKey,
    DisabledKey,
}

fn refusal(code: &str) -> Option<Refusal> {
    match code {
        "SignatureDoesNotMatch" => Some(Refusal::Signature),
        "InvalidAccessKeyId.Inactive" => Some(Refusal::DisabledKey),
        // `.Expired` is a temporary key's end of life: the client refreshes and resends.
        "InvalidAccessKeyId.Expired" => None,
        c if c.starts_with("InvalidAccessKeyId") => Some(Refusal::UnknownKey),
        _ => None,
    }
}

fn refused_key_help(e: &ApiError) -> Option<String> {
    let ApiError::Service { code, .. } = e else {
        return None;
    };
    help_for_refused_key(code)
}

/// The `help:` text for a service error code that refuses the key itself (without `help: `),
/// naming the key `connect` noted; `None` for any other code. For sites that report a refusal
/// without an `ApiError` at hand (a run halted by one, its code kept in the halt reason).
pub fn help_for_refused_key(code: &str) -> Option<String> {
    let why = refusal(code)?;
    let key = KEY_IN_USE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()?;
    Some(key_help(why, &key))
}

/// Where the configured key's ID and secret are written, to name what to check.
fn places(source: &CredentialSource) -> Option<(String, String)> {
    let in_profile = |path: &std::path::Path, profile: &str, field: &str| {
        format!("{field} of profile {profile:?} in {}", path.display())
    };
    match source {
        CredentialSource::Environment => Some((
            var::ACCESS_KEY_ID.to_string(),
            var::ACCESS_KEY_SECRET.to_string(),
        )),
        CredentialSource::CliConfig { path, profile }
        | CredentialSource::IniFile { path, profile } => Some((
            in_profile(path, profile, "access_key_id"),
            in_profile(path, profile, "access_key_secret"),
        )),
        _ => None,
    }
}

fn key_help(why: Refusal, key: &KeyInUse) -> String {
    let id = masked_key_id(&key.access_key_id);
    let source = crate::text::escape(&key.source.to_string()).into_owned();
    let places = if key.temporary {
        None
    } else {
        places(&key.source)
    };
    match (why, places) {
        (Refusal::Signature, Some((_, secret))) => format!(
            "the service could not match the signature of AccessKey ID {id}, from {source}: \
             check that {secret} is the secret of that AccessKey, copied whole (no quotes, \
             spaces or line ends around it)"
        ),
        (Refusal::UnknownKey, Some((id_place, _))) => format!(
            "the service knows no AccessKey ID {id}, from {source}: check that {id_place} is \
             an AccessKey of this account, not deleted (RAM console, AccessKey), copied whole"
        ),
        (Refusal::DisabledKey, Some(_)) => format!(
            "AccessKey ID {id}, from {source}, is disabled: enable it in the RAM console, or \
             configure another"
        ),
        (_, None) => format!(
            "the service refused the temporary AccessKey ID {id}, obtained through {source}: \
             check what that source is configured with (the role, the account it belongs to) \
             and that this machine's clock is right"
        ),
    }
}

/// What a command returns: its exit code when it ran (0, or 2 for pending changes), else why not.
pub type CliResult = Result<u8, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: &str) -> ApiError {
        ApiError::Service {
            http_status: 400,
            code: code.into(),
            message: "no".into(),
            request_id: "R".into(),
            host_id: String::new(),
            recommend: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn a_refused_key_is_named_with_where_to_look() {
        let file = KeyInUse {
            source: CredentialSource::IniFile {
                path: "/h/.alibabacloud/credentials".into(),
                profile: "ci".into(),
            },
            access_key_id: "LTAI5tAbCdEfGh123".into(),
            temporary: false,
        };
        assert_eq!(masked_key_id(&file.access_key_id), "***123");
        assert_eq!(masked_key_id("ab"), "***ab");
        let disabled = key_help(refusal("InvalidAccessKeyId.Inactive").unwrap(), &file);
        assert_eq!(
            disabled,
            "AccessKey ID ***123, from credentials file /h/.alibabacloud/credentials (profile \
             \"ci\"), is disabled: enable it in the RAM console, or configure another"
        );
        let unknown = key_help(refusal("InvalidAccessKeyId.NotFound").unwrap(), &file);
        assert!(
            unknown.contains(
                "check that access_key_id of profile \"ci\" in /h/.alibabacloud/credentials"
            ),
            "{unknown}"
        );
        let role = KeyInUse {
            source: CredentialSource::OidcEnvironment,
            temporary: true,
            ..file
        };
        let sig = key_help(refusal("SignatureDoesNotMatch").unwrap(), &role);
        assert!(sig.starts_with("the service refused the temporary AccessKey ID ***123, obtained through environment variables (ALIBABA_CLOUD_OIDC_TOKEN_FILE)"), "{sig}");
        // Not the key: no help, whatever key is in use.
        for code in [
            "InvalidAccessKeyId.Expired",
            "Forbidden.RAM",
            "Throttling.User",
        ] {
            assert_eq!(refusal(code), None, "{code}");
        }
        assert!(call_failed(&refused("Forbidden.RAM"), "m").message == Some("m".into()));
    }
}
