//! External: a command that prints credentials as JSON (the aliyun CLI's `External` mode, e.g.
//! an SSO or vault helper). Run without a shell, its output bounded and its time limited; no
//! message quotes its output or stderr, since either may hold secrets.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::answer::MAX_ANSWER;
use super::error::FetchFailure;
use crate::api::secret::{Credentials, Secret};
use crate::api::sts::parse_expiration;

/// What the `External` process prints (the aliyun CLI's shape): `mode` `AK` or `StsToken`,
/// `access_key_id`, `access_key_secret`, `sts_token`, and optionally `expiration`
/// (`yyyy-MM-ddTHH:mm:ssZ`, as credentials-go reads it) or `sts_expiration` (unix seconds).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ExternalAnswer {
    mode: String,
    access_key_id: String,
    access_key_secret: String,
    sts_token: String,
    expiration: String,
    sts_expiration: i64,
}

/// Parses an `External` process's output.
pub fn parse_external(stdout: &[u8]) -> Result<(Credentials, Option<DateTime<Utc>>), String> {
    let a: ExternalAnswer = serde_json::from_slice(stdout).map_err(|e| {
        format!(
            "its output is not the expected JSON (line {}, column {}); expected \
             {{\"mode\": \"StsToken\", \"access_key_id\": …, \"access_key_secret\": …, \"sts_token\": …, \"expiration\": \"yyyy-MM-ddTHH:mm:ssZ\"}}",
            e.line(),
            e.column()
        )
    })?;
    if a.access_key_id.trim().is_empty() || a.access_key_secret.trim().is_empty() {
        return Err("its output has no access_key_id or access_key_secret".into());
    }
    let token = match a.mode.as_str() {
        "AK" | "" => None,
        "StsToken" if a.sts_token.trim().is_empty() => {
            return Err("its output has mode StsToken but no sts_token".into());
        }
        "StsToken" => Some(Secret::new(a.sts_token.trim())),
        other => {
            return Err(format!(
                "its output has mode {other:?}; expected AK or StsToken"
            ));
        }
    };
    let expiration = if !a.expiration.trim().is_empty() {
        Some(parse_expiration(&a.expiration).ok_or_else(|| {
            format!(
                "its output's expiration {:?} is not yyyy-MM-ddTHH:mm:ssZ",
                a.expiration
            )
        })?)
    } else if a.sts_expiration > 0 {
        DateTime::from_timestamp(a.sts_expiration, 0)
    } else {
        None
    };
    Ok((
        Credentials {
            access_key_id: a.access_key_id.trim().to_string(),
            access_key_secret: Secret::new(a.access_key_secret.trim()),
            security_token: token,
        },
        expiration,
    ))
}

/// How long a credential process may run. The aliyun CLI's helpers (SSO, vault agents) answer in
/// seconds; one that hangs must not hang the run with it.
pub const EXTERNAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `command` (split on whitespace, no shell, like credentials-go) and parses its output;
/// kills it after [`EXTERNAL_TIMEOUT`]. Its stderr is not shown: a credential helper may print
/// anything there.
pub fn run_external(command: &str) -> Result<(Credentials, Option<DateTime<Utc>>), String> {
    use std::io::Read;
    let mut args = command.split_whitespace();
    let Some(program) = args.next() else {
        return Err("process_command is empty".into());
    };
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    // Read stdout on a thread (a full pipe would block the child), bounded.
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.take(MAX_ANSWER as u64 + 1).read_to_end(&mut buf);
        }
        buf
    });
    let deadline = std::time::Instant::now() + EXTERNAL_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{program}` did not finish within {} s and was stopped",
                    EXTERNAL_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for `{program}`: {e}")),
        }
    };
    let stdout = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "`{program}` failed ({status}); its output is not shown, since it may hold secrets"
        ));
    }
    if stdout.len() > MAX_ANSWER {
        return Err(format!("`{program}` printed more than {MAX_ANSWER} bytes"));
    }
    parse_external(&stdout).map_err(|m| format!("`{program}` ran, but {m}"))
}

/// Runs `command` off the async threads (it blocks while the process runs).
pub async fn fetch(command: &str) -> Result<(Credentials, Option<DateTime<Utc>>), FetchFailure> {
    let command = command.to_string();
    tokio::task::spawn_blocking(move || run_external(&command))
        .await
        .map_err(|e| FetchFailure::permanent(format!("the process could not be run: {e}")))?
        .map_err(FetchFailure::permanent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_shapes() {
        let (c, e) = parse_external(br#"{"mode":"StsToken","access_key_id":"STS.a","access_key_secret":"s","sts_token":"t","expiration":"2030-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(c.access_key_id, "STS.a");
        assert!(c.security_token.is_some());
        assert_eq!(e.unwrap().timestamp(), 1893456000);
        let (c, e) =
            parse_external(br#"{"mode":"AK","access_key_id":"a","access_key_secret":"s"}"#)
                .unwrap();
        assert!(c.security_token.is_none() && e.is_none());
        let m = parse_external(
            br#"{"mode":"StsToken","access_key_id":"a","access_key_secret":"hidden-secret"}"#,
        )
        .unwrap_err();
        assert!(m.contains("sts_token") && !m.contains("hidden-secret"));
        let m = parse_external(b"hidden-secret not json").unwrap_err();
        assert!(!m.contains("hidden-secret"));
    }

    #[test]
    fn external_processes_that_fail_say_so_without_their_output() {
        let e = run_external("sh -c exit_7_is_not_a_command").unwrap_err();
        assert!(e.contains("`sh` failed"), "{e}");
        let e = run_external("/nonexistent/helper --flag").unwrap_err();
        assert!(e.contains("cannot run `/nonexistent/helper`"), "{e}");
        let e = run_external("echo hidden-secret").unwrap_err();
        assert!(
            e.contains("`echo` ran, but") && !e.contains("hidden-secret"),
            "{e}"
        );
        let (c, _) = run_external(
            "echo {\"mode\":\"AK\",\"access_key_id\":\"a\",\"access_key_secret\":\"s\"}",
        )
        .unwrap();
        assert_eq!(c.access_key_id, "a");
    }
}
