//! Credential sources outside STS: a process (`External`), a URL (`ALIBABA_CLOUD_CREDENTIALS_URI`)
//! and the ECS instance metadata service. Each answers JSON; the parsers are pure and tested on
//! text, the transports are thin. No message quotes a body, since bodies hold secrets.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Credentials, Secret};
use crate::api::sts::parse_expiration;

/// Largest answer read from a process, URL or metadata service.
const MAX_ANSWER: usize = 64 << 10;
/// The official URL provider's timeouts (credentials-go `URLCredentialsProvider`: 5 s connect,
/// 10 s read).
const URI_TIMEOUT: Duration = Duration::from_secs(15);
/// The official ECS provider's timeouts are 1 s connect and 1 s read; the metadata service is
/// on the instance's own link.
const ECS_TIMEOUT: Duration = Duration::from_secs(2);
/// IMDSv2 session token lifetime asked for (credentials-go `defaultMetadataTokenDuration`).
const ECS_TOKEN_TTL_SECS: u32 = 21600;

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

/// What a credentials URI and the ECS metadata service answer.
#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct SessionAnswer {
    code: Option<String>,
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

/// Parses `{"AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}` (and `Code`, which
/// when present must be `Success`). All four are required, as the official providers require.
pub fn parse_session(body: &[u8]) -> Result<(Credentials, DateTime<Utc>), String> {
    let a: SessionAnswer = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the answer is not JSON credentials (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    if let Some(code) = a.code.as_deref().filter(|c| *c != "Success") {
        return Err(format!("the answer's Code is {code:?}, not \"Success\""));
    }
    for (v, name) in [
        (&a.access_key_id, "AccessKeyId"),
        (&a.access_key_secret, "AccessKeySecret"),
        (&a.security_token, "SecurityToken"),
        (&a.expiration, "Expiration"),
    ] {
        if v.trim().is_empty() {
            return Err(format!("the answer has no {name}"));
        }
    }
    let expiration = parse_expiration(&a.expiration).ok_or_else(|| {
        format!(
            "the answer's Expiration {:?} is not yyyy-MM-ddTHH:mm:ssZ",
            a.expiration
        )
    })?;
    Ok((
        Credentials {
            access_key_id: a.access_key_id,
            access_key_secret: Secret::new(a.access_key_secret),
            security_token: Some(Secret::new(a.security_token)),
        },
        expiration,
    ))
}

/// Reads a bounded body; `Err((message, transient))`.
async fn get_body(
    req: reqwest::RequestBuilder,
    what: &str,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), (String, bool)> {
    let exchange = async {
        let mut resp = req
            .send()
            .await
            .map_err(|e| (format!("{what}: {}", without_url(&e)), true))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| (format!("{what}: {}", without_url(&e)), true))?
        {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err((
                    format!("{what}: the answer exceeds {MAX_ANSWER} bytes"),
                    false,
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| (format!("{what}: no answer within {timeout:?}"), true))?
}

/// A reqwest error without its URL (which may carry a token in its query).
fn without_url(e: &reqwest::Error) -> String {
    let mut parts = vec![e.without_url_ref()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        source = s.source();
    }
    parts.join(": ")
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let text = self.to_string();
        match text.find(" for url (") {
            Some(i) => text[..i].to_string(),
            None => text,
        }
    }
}

/// GET the credentials URI.
pub async fn fetch_uri(
    http: &reqwest::Client,
    url: &str,
) -> Result<(Credentials, DateTime<Utc>), (String, bool)> {
    let shown = super::redact_url(url);
    let parsed =
        url::Url::parse(url.trim()).map_err(|e| (format!("{shown} is not a URL ({e})"), false))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err((
            format!("{shown}: only http:// and https:// URLs are read"),
            false,
        ));
    }
    let (status, body) = get_body(http.get(parsed), &shown, URI_TIMEOUT).await?;
    if status != 200 {
        return Err((format!("{shown} answered HTTP {status}"), status >= 500));
    }
    parse_session(&body).map_err(|m| (format!("{shown}: {m}"), false))
}

/// The documented ECS metadata protocol: an IMDSv2 session token first (`PUT
/// /latest/api/token`), then the role name (unless given) and the role's credentials from
/// `/latest/meta-data/ram/security-credentials/`, each with the token. Without a token (an
/// older instance), the GETs go without it unless IMDSv1 is disabled.
/// Untested against a real instance: only against a loopback fake following the documentation.
pub async fn fetch_ecs(
    http: &reqwest::Client,
    base: &str,
    role_name: Option<&str>,
    imdsv1_disabled: bool,
) -> Result<(Credentials, DateTime<Utc>), (String, bool)> {
    let token = {
        let req = http.put(format!("{base}/latest/api/token")).header(
            "X-aliyun-ecs-metadata-token-ttl-seconds",
            ECS_TOKEN_TTL_SECS.to_string(),
        );
        match get_body(req, "ECS metadata token", ECS_TIMEOUT).await {
            Ok((200, body)) => Some(String::from_utf8_lossy(&body).trim().to_string()),
            Ok((status, _)) if imdsv1_disabled => {
                return Err((
                    format!(
                        "the ECS metadata service refused a session token (HTTP {status}) and IMDSv1 is disabled"
                    ),
                    status >= 500,
                ));
            }
            Err((m, t)) if imdsv1_disabled => return Err((m, t)),
            _ => None,
        }
    };
    let get = |path: String| {
        let mut req = http.get(format!("{base}{path}"));
        if let Some(t) = &token {
            req = req.header("X-aliyun-ecs-metadata-token", t.as_str());
        }
        req
    };
    const CREDS_PATH: &str = "/latest/meta-data/ram/security-credentials/";
    let role = match role_name {
        Some(r) => r.to_string(),
        None => {
            let (status, body) =
                get_body(get(CREDS_PATH.to_string()), "ECS role name", ECS_TIMEOUT).await?;
            if status != 200 {
                return Err((
                    format!("the ECS metadata service answered HTTP {status} for the role name"),
                    status >= 500,
                ));
            }
            let name = String::from_utf8_lossy(&body)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            if name.is_empty() {
                return Err(("no RAM role is attached to this ECS instance".into(), false));
            }
            name
        }
    };
    let what = format!("ECS RAM role {role}");
    let (status, body) = get_body(get(format!("{CREDS_PATH}{role}")), &what, ECS_TIMEOUT).await?;
    if status != 200 {
        return Err((
            format!("{what}: the metadata service answered HTTP {status}"),
            status >= 500,
        ));
    }
    parse_session(&body).map_err(|m| (format!("{what}: {m}"), false))
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

    #[test]
    fn session_shapes() {
        let ok = br#"{"Code":"Success","AccessKeyId":"STS.a","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2030-01-01T00:00:00Z","LastUpdated":"x"}"#;
        assert!(parse_session(ok).is_ok());
        let no_code = br#"{"AccessKeyId":"STS.a","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2030-01-01T00:00:00Z"}"#;
        assert!(parse_session(no_code).is_ok());
        let failed = br#"{"Code":"Failed","AccessKeyId":"a","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2030-01-01T00:00:00Z"}"#;
        assert!(parse_session(failed).unwrap_err().contains("Failed"));
        let no_token = br#"{"AccessKeyId":"a","AccessKeySecret":"hidden","Expiration":"2030-01-01T00:00:00Z"}"#;
        let m = parse_session(no_token).unwrap_err();
        assert!(m.contains("SecurityToken") && !m.contains("hidden"));
    }
}
