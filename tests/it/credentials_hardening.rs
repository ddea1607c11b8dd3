//! Credential sources that misbehave, driven from outside: the real binary against the emulator
//! with a credential helper that leaves a process holding its output, a credentials URI that
//! answers expired credentials, OIDC and profile files that are FIFOs. Each must end promptly
//! with a message naming the problem (exit 77), never hang or send with credentials known dead.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use assert_cmd::Command;
use livebatch::api::client::{Client, ClientConfig, ListQuery};
use livebatch::api::credentials::Credentials;
use livebatch::api::credentials::Spec;
use livebatch::api::credentials::provider::resolve;
use livebatch::api::endpoint::Endpoint;
use livebatch::api::sts::{RoleRequest, StsClient, Temporary};
use livebatch::emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, EmulatorConfig};
use livebatch::model::Region;

use crate::support::emulator::Emu;

const ROLE: &str = "acs:ram::5555000011112222:role/Deployer";
/// Longer than any of these runs takes when it works; a run that hangs fails the test here
/// instead of hanging the suite.
const HANG: Duration = Duration::from_secs(90);

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with an empty environment and this directory as HOME.
    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("livebatch").unwrap();
        c.env_clear()
            .env("HOME", self.dir.path())
            .env("NO_PROXY", "127.0.0.1")
            .current_dir(self.dir.path())
            .timeout(HANG);
        c
    }

    /// `export` of cn-shanghai from `emu`.
    fn export(&self, emu: &Emu) -> Command {
        let mut c = self.cmd();
        c.args([
            "export",
            "--region",
            "cn-shanghai",
            "--endpoint",
            &emu.url(),
        ]);
        c
    }

    fn fifo(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        let st = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success(), "mkfifo {}", p.display());
        p
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An emulator without a quota (the calls of one test are not paced).
fn emulator() -> Emu {
    Emu::start(EmulatorConfig {
        qps: 0,
        ..EmulatorConfig::default()
    })
}

fn config(emu: &Emu) -> ClientConfig {
    ClientConfig {
        endpoint: Endpoint::parse(&emu.url()).unwrap(),
        credentials: Credentials::new("", ""),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
    }
}

/// Temporary credentials from the emulator's STS, valid for an hour.
fn assume_role(emu: &Emu) -> Temporary {
    let sts = StsClient::for_config(&config(emu)).unwrap();
    emu.block_on(sts.assume_role(
        &Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET),
        &RoleRequest {
            role_arn: ROLE.into(),
            session_name: "uri".into(),
            duration_secs: 3600,
            policy: None,
            external_id: None,
        },
    ))
    .unwrap()
}

/// A credentials URI on loopback answering `credentials` with `expiration` to every request,
/// counting them. Its thread ends with the test process.
fn credentials_uri(credentials: &Credentials, expiration: &str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/creds", listener.local_addr().unwrap());
    let body = serde_json::json!({
        "Code": "Success",
        "AccessKeyId": credentials.access_key_id,
        "AccessKeySecret": credentials.access_key_secret.expose(),
        "SecurityToken": credentials.security_token.as_ref().unwrap().expose(),
        "Expiration": expiration,
    })
    .to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            let mut head = Vec::new();
            let mut b = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&b[..n]),
                }
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, count)
}

// --- Item: an External helper that leaves a process holding its output -----------------------

#[test]
fn an_external_helper_whose_background_child_holds_its_output_does_not_hang_the_run() {
    let emu = emulator();
    let s = Scratch::new();
    let script = s.path("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 1000 &\necho '{{\"mode\": \"AK\", \"access_key_id\": \"{DEFAULT_ACCESS_KEY_ID}\", \"access_key_secret\": \"{DEFAULT_ACCESS_KEY_SECRET}\"}}'\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(s.path(".aliyun")).unwrap();
    std::fs::write(
        s.path(".aliyun/config.json"),
        serde_json::json!({"current": "ext", "profiles": [
            {"name": "ext", "mode": "External", "process_command": script.to_str().unwrap()}]})
        .to_string(),
    )
    .unwrap();
    let o = s.export(&emu).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(emu.calls("DescribeLivePullToPushList"), 1);
}

// --- Item: a credentials URI answering expired credentials, and the cache --------------------

#[test]
fn a_credentials_uri_answering_expired_credentials_is_refused_before_anything_is_sent() {
    let emu = emulator();
    let t = assume_role(&emu);
    let (url, fetches) = credentials_uri(&t.credentials, "2020-01-01T00:00:00Z");
    let s = Scratch::new();
    let o = s
        .export(&emu)
        .env("ALIBABA_CLOUD_CREDENTIALS_URI", &url)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(77), "{e}");
    assert!(
        e.contains("credentials URI") && e.contains("expired at 2020-01-01T00:00:00Z"),
        "{e}"
    );
    assert!(!e.contains(t.credentials.access_key_secret.expose()), "{e}");
    assert_eq!(emu.calls("DescribeLivePullToPushList"), 0);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[test]
fn credentials_from_a_uri_are_fetched_once_for_many_calls_while_valid() {
    let emu = emulator();
    let t = assume_role(&emu);
    let (url, fetches) = credentials_uri(
        &t.credentials,
        &t.expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    let cfg = config(&emu);
    let (provider, _) = resolve(&Spec::Uri { url }, &cfg).unwrap();
    let client = Client::builder(cfg).provider(provider).build().unwrap();
    for _ in 0..20 {
        emu.block_on(client.describe_list_all(&ListQuery::new(Region::CnShanghai)))
            .unwrap();
    }
    assert_eq!(emu.calls("DescribeLivePullToPushList"), 20);
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "one fetch for 20 calls");
}

// --- Item: credential files that are FIFOs -----------------------------------------------------

#[test]
fn an_oidc_token_file_that_is_a_fifo_is_refused_at_once() {
    let emu = emulator();
    let s = Scratch::new();
    let fifo = s.fifo("token");
    let o = s
        .export(&emu)
        .env("ALIBABA_CLOUD_ROLE_ARN", ROLE)
        .env(
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "acs:ram::5555000011112222:oidc-provider/github",
        )
        .env("ALIBABA_CLOUD_OIDC_TOKEN_FILE", &fifo)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(77), "{e}");
    assert!(
        e.contains(fifo.to_str().unwrap()) && e.contains("FIFO") && e.contains("regular file"),
        "{e}"
    );
    assert_eq!(emu.calls("DescribeLivePullToPushList"), 0);
}

#[test]
fn a_profile_file_that_is_a_fifo_is_refused_at_once() {
    let emu = emulator();
    let s = Scratch::new();
    let fifo = s.fifo("config.json");
    let o = s
        .export(&emu)
        .env("ALIBABA_CLOUD_CONFIG_FILE", &fifo)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(77), "{e}");
    assert!(e.contains("FIFO") && e.contains("regular file"), "{e}");
}
