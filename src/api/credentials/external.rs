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

/// Once the process has exited, how long what it left behind may keep its output open. A
/// helper that starts a background process without redirecting it hands that process our pipe,
/// and end-of-output would only come when that process ends.
const LINGER: Duration = Duration::from_secs(2);

/// How long to wait for end-of-output after stopping the process group: SIGKILL closes the
/// pipe as soon as the kernel reaps the processes.
const AFTER_KILL: Duration = Duration::from_secs(1);

/// Runs `command` (split on whitespace, no shell, like credentials-go) and parses its output,
/// within [`EXTERNAL_TIMEOUT`]. Its stderr is not shown: a credential helper may print anything
/// there.
pub fn run_external(command: &str) -> Result<(Credentials, Option<DateTime<Utc>>), String> {
    run_within(command, EXTERNAL_TIMEOUT)
}

/// Stops every process of the group `pgid` (the helper and whatever it started that did not
/// leave the group).
fn kill_group(pgid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid) {
        // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// [`run_external`] with the limit given: the process runs in a process group of its own, and at
/// `limit` the whole group is stopped, not only the process started, so neither a helper that
/// never exits nor a background process holding its output can keep the run waiting. Output is
/// read with a deadline, never until end-of-output alone. The bound is `limit` plus
/// [`AFTER_KILL`].
pub fn run_within(
    command: &str,
    limit: Duration,
) -> Result<(Credentials, Option<DateTime<Utc>>), String> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc::{RecvTimeoutError, channel};
    use std::time::Instant;

    let start = Instant::now();
    let deadline = start + limit;
    let mut args = command.split_whitespace();
    let Some(program) = args.next() else {
        return Err("process_command is empty".into());
    };
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    let pgid = child.id();
    // Read stdout on a thread (a full pipe would block the child), bounded; the chunks come
    // through a channel so that waiting for them has a deadline. A thread still blocked on a
    // pipe that some escaped process holds open is left behind, not joined.
    let (tx, rx) = channel::<Vec<u8>>();
    if let Some(mut out) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut total = 0usize;
            let mut buf = vec![0u8; 8192];
            while total <= MAX_ANSWER {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        total += n;
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    let too_slow = || {
        format!(
            "`{program}` did not finish within {} s and was stopped, with every process it started",
            limit.as_secs_f64()
        )
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(pgid);
                let _ = child.wait();
                return Err(too_slow());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_group(pgid);
                let _ = child.wait();
                return Err(format!("waiting for `{program}`: {e}"));
            }
        }
    };
    if !status.success() {
        return Err(format!(
            "`{program}` failed ({status}); its output is not shown, since it may hold secrets"
        ));
    }
    let mut stdout = Vec::new();
    let mut wait_until = deadline.min(Instant::now() + LINGER);
    let mut killed = false;
    loop {
        let left = wait_until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => {
                stdout.extend_from_slice(&chunk);
                if stdout.len() > MAX_ANSWER {
                    kill_group(pgid);
                    return Err(format!("`{program}` printed more than {MAX_ANSWER} bytes"));
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) if !killed => {
                // The helper exited, but something it started still holds its output.
                kill_group(pgid);
                killed = true;
                wait_until = Instant::now() + AFTER_KILL;
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "`{program}` exited, but a process it started left its process group and \
                     keeps its output open; a credential helper must close its output (redirect \
                     what it starts in the background)"
                ));
            }
        }
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

    /// A script in a temporary directory, run by `sh` (the command is split on spaces, no
    /// shell), and where it writes the pid of what it starts.
    fn script(body: &str) -> (tempfile::TempDir, String, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("helper.sh");
        let pid = dir.path().join("pid");
        std::fs::write(&path, body.replace("PIDFILE", pid.to_str().unwrap())).unwrap();
        let cmd = format!("sh {}", path.display());
        (dir, cmd, pid)
    }

    /// Whether the process named in `pid_file` still runs (a zombie waiting to be reaped does
    /// not), once a SIGKILL sent to it has had time to land (delivery is asynchronous).
    fn running(pid_file: &std::path::Path) -> bool {
        let pid = std::fs::read_to_string(pid_file).unwrap();
        let alive = || {
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
            })
        };
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while alive() {
            if std::time::Instant::now() > until {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    const AK: &str = r#"{"mode":"AK","access_key_id":"a","access_key_secret":"s"}"#;

    #[test]
    fn a_helper_that_never_exits_is_stopped_at_the_limit_with_what_it_started() {
        // `sh` waits for `sleep`: killing `sh` alone would leave `sleep` holding the pipe.
        let (_d, cmd, pid) = script("sleep 1000 &\necho $! > PIDFILE\nwait\n");
        let e = run_within(&cmd, Duration::from_secs(3)).unwrap_err();
        assert!(e.contains("did not finish within 3 s"), "{e}");
        // (On a machine too busy to start `sleep` within 3 s there is no child to look for.)
        if pid.exists() {
            assert!(!running(&pid), "the helper's child was left running");
        }
    }

    #[test]
    fn a_background_process_holding_the_output_does_not_hold_the_run() {
        let (_d, cmd, pid) = script(&format!("sleep 1000 &\necho $! > PIDFILE\necho '{AK}'\n"));
        let (c, _) = run_within(&cmd, Duration::from_secs(30)).unwrap();
        assert_eq!(c.access_key_id, "a");
        assert!(
            !running(&pid),
            "the process holding the output was left running"
        );
    }

    #[test]
    fn a_process_that_escapes_the_group_with_the_output_is_reported_at_the_limit() {
        let (_d, cmd, pid) = script(&format!(
            "setsid sleep 1000 &\necho $! > PIDFILE\necho '{AK}'\n"
        ));
        let e = run_within(&cmd, Duration::from_secs(30)).unwrap_err();
        let escaped = std::fs::read_to_string(&pid).unwrap();
        let _ = std::process::Command::new("kill")
            .args(["-9", escaped.trim()])
            .status();
        assert!(e.contains("left its process group"), "{e}");
    }
}
