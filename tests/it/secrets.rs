//! A known secret and STS token, supplied through every credential source, must never appear in
//! anything any command prints or writes, at any verbosity, on success or failure.
//!
//! To cover a new command, add it to `commands()`: each entry is the argument list (`{server}`
//! is replaced by the test server's URL, `{dir}` by a scratch directory whose files are also
//! checked afterwards).

use std::path::Path;

use crate::support::server::{Reply, TestServer, task};
use assert_cmd::Command;

const ENV_SECRET: &str = "SeCrEt-from-env-4f1a9c";
const ENV_TOKEN: &str = "ToKeN-from-env-77d2b0";
const CLI_SECRET: &str = "SeCrEt-from-cli-config-0b3e";
const CLI_TOKEN: &str = "ToKeN-from-cli-config-9a8c";
const INI_SECRET: &str = "SeCrEt-from-ini-file-c55d";
/// What STS hands out for an OIDC token, and the token itself.
const STS_SECRET: &str = "SeCrEt-issued-by-sts-61e0";
const STS_TOKEN: &str = "ToKeN-issued-by-sts-2c7f";
const OIDC_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJPaWRjVG9rZW4tNWU5MSJ9.OiDcSiGnAtUrE-5e91";
/// What an `External` credential process prints.
const EXTERNAL_SECRET: &str = "SeCrEt-from-process-8d4a";
const EXTERNAL_TOKEN: &str = "ToKeN-from-process-3b19";
const ALL_SECRETS: [&str; 10] = [
    ENV_SECRET,
    ENV_TOKEN,
    CLI_SECRET,
    CLI_TOKEN,
    INI_SECRET,
    STS_SECRET,
    STS_TOKEN,
    OIDC_TOKEN,
    EXTERNAL_SECRET,
    EXTERNAL_TOKEN,
];

/// Every command line to try. Add new commands here.
fn commands() -> Vec<Vec<&'static str>> {
    vec![
        vec![
            "export",
            "--region",
            "cn-shanghai",
            "--endpoint",
            "{server}",
        ],
        vec![
            "export",
            "--region",
            "cn-shanghai",
            "--endpoint",
            "{server}",
            "--format",
            "json",
            "-o",
            "{dir}/out.json",
        ],
        vec![
            "export",
            "--region",
            "cn-shanghai",
            "--endpoint",
            "{server}",
            "--format",
            "csv",
        ],
        vec![
            "export",
            "--region",
            "cn-shanghai",
            "--endpoint",
            "{server}",
            "--profile",
            "nope",
        ],
        // Failing paths: refused connection, a plain-http remote endpoint, a bad timeout.
        vec![
            "export",
            "--region",
            "cn-shanghai",
            "--endpoint",
            "http://127.0.0.1:9",
            "--connect-timeout",
            "2",
        ],
        vec![
            "export",
            "--region",
            "cn-shanghai",
            "--endpoint",
            "http://example.com",
        ],
        vec![
            "export",
            "--region",
            "cn-shanghai",
            "--endpoint",
            "{server}",
            "--read-timeout",
            "-1",
        ],
        vec!["validate", "{dir}/out.json"],
        vec!["plan", "--offline", "{dir}/out.json"],
        vec!["apply", "{dir}/out.json"],
        // The exported manifest applied for real against the test server (which answers only
        // Describe-list calls, so every update fails), and rehearsed in the sandbox.
        vec![
            "apply",
            "{dir}/out.json",
            "--yes",
            "--endpoint",
            "{server}",
            "--journal",
            "{dir}/apply.journal.jsonl",
            "--report",
            "{dir}/apply.json",
            "--report",
            "{dir}/apply.md",
            "--max-failures",
            "2",
        ],
        vec![
            "apply",
            "{dir}/out.json",
            "--yes",
            "--sandbox",
            "--qps",
            "200",
            "--quota-raised",
            "--journal",
            "{dir}/sandbox.journal.jsonl",
            "--report",
            "{dir}/sandbox.json",
            "--report",
            "{dir}/sandbox.xml",
        ],
        vec!["diff", "{dir}/out.json", "--endpoint", "{server}"],
        vec![
            "plan",
            "{dir}/out.json",
            "--endpoint",
            "{server}",
            "--out",
            "{dir}/plan.json",
        ],
        vec![
            "apply",
            "--plan",
            "{dir}/plan.json",
            "--yes",
            "--endpoint",
            "{server}",
        ],
        vec!["emulator", "--help"],
        // A malformed --key must be refused without echoing it (it holds a secret).
        vec![
            "emulator",
            "--key",
            "ak:SeCrEt-from-env-4f1a9c:not an account",
        ],
        vec!["--help"],
    ]
}

/// How the credentials reach the binary: extra environment and files in the home directory.
enum Source {
    Env,
    CliConfig,
    Ini,
    /// OIDC from the environment: the token file, exchanged at the test server's STS.
    Oidc,
    /// A CLI profile in mode External: a script printing STS credentials.
    External,
}

impl Source {
    fn secret(&self) -> &'static str {
        match self {
            Source::Env => ENV_SECRET,
            Source::CliConfig => CLI_SECRET,
            Source::Ini => INI_SECRET,
            Source::Oidc => STS_SECRET,
            Source::External => EXTERNAL_SECRET,
        }
    }

    fn prepare(&self, home: &Path, cmd: &mut Command) {
        match self {
            Source::Env => {
                cmd.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv")
                    .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ENV_SECRET)
                    .env("ALIBABA_CLOUD_SECURITY_TOKEN", ENV_TOKEN);
            }
            Source::CliConfig => {
                std::fs::create_dir_all(home.join(".aliyun")).unwrap();
                let cfg = serde_json::json!({
                    "current": "sts",
                    "profiles": [{"name": "sts", "mode": "StsToken", "access_key_id": "STS.cli",
                                  "access_key_secret": CLI_SECRET, "sts_token": CLI_TOKEN}]
                });
                std::fs::write(home.join(".aliyun/config.json"), cfg.to_string()).unwrap();
            }
            Source::Ini => {
                std::fs::create_dir_all(home.join(".alibabacloud")).unwrap();
                std::fs::write(
                    home.join(".alibabacloud/credentials"),
                    format!("[default]\ntype = access_key\naccess_key_id = LTAIini\naccess_key_secret = {INI_SECRET}\n"),
                )
                .unwrap();
            }
            Source::Oidc => {
                let token = home.join("oidc-token");
                std::fs::write(&token, OIDC_TOKEN).unwrap();
                cmd.env(
                    "ALIBABA_CLOUD_ROLE_ARN",
                    "acs:ram::1234567890123456:role/ci",
                )
                .env(
                    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                    "acs:ram::1234567890123456:oidc-provider/github",
                )
                .env("ALIBABA_CLOUD_OIDC_TOKEN_FILE", &token);
            }
            Source::External => {
                let script = home.join("creds.sh");
                std::fs::write(
                    &script,
                    format!(
                        "#!/bin/sh\necho '{{\"mode\": \"StsToken\", \"access_key_id\": \"STS.ext\", \
                         \"access_key_secret\": \"{EXTERNAL_SECRET}\", \"sts_token\": \"{EXTERNAL_TOKEN}\"}}'\n"
                    ),
                )
                .unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
                std::fs::create_dir_all(home.join(".aliyun")).unwrap();
                let cfg = serde_json::json!({
                    "current": "ext",
                    "profiles": [{"name": "ext", "mode": "External",
                                  "process_command": script.to_str().unwrap()}]
                });
                std::fs::write(home.join(".aliyun/config.json"), cfg.to_string()).unwrap();
            }
        }
    }
}

fn assert_clean(what: &str, text: &str) {
    for s in ALL_SECRETS {
        assert!(!text.contains(s), "{what} contains a secret ({s}):\n{text}");
    }
}

fn run_all(source: Source, server: &TestServer) -> usize {
    let home = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut succeeded = 0;
    for args in commands() {
        for verbosity in [None, Some("-v"), Some("-vv")] {
            let mut cmd = Command::cargo_bin("livebatch").unwrap();
            cmd.env_clear().env("HOME", home.path());
            source.prepare(home.path(), &mut cmd);
            let args: Vec<String> = args
                .iter()
                .map(|a| {
                    a.replace("{server}", &server.url())
                        .replace("{dir}", scratch.path().to_str().unwrap())
                })
                .collect();
            cmd.args(&args);
            if let Some(v) = verbosity {
                cmd.arg(v);
            }
            let out = cmd.output().unwrap();
            let shown = format!("{args:?} {verbosity:?}");
            assert_clean(
                &format!("stdout of {shown}"),
                &String::from_utf8_lossy(&out.stdout),
            );
            assert_clean(
                &format!("stderr of {shown}"),
                &String::from_utf8_lossy(&out.stderr),
            );
            if out.status.success() && args[0] == "export" {
                succeeded += 1;
            }
        }
    }
    for entry in std::fs::read_dir(scratch.path()).unwrap().flatten() {
        let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).to_string();
        assert_clean(&format!("file {}", entry.path().display()), &text);
    }
    succeeded
}

fn server_for(secret: &'static str) -> TestServer {
    let tasks: Vec<_> = (0..120).map(|i| task(i, 1)).collect();
    let list = crate::support::server::list_handler(tasks);
    TestServer::start(secret, move |r: &crate::support::server::Recorded| {
        // STS for the OIDC source: unsigned, answers known temporary credentials.
        if r.action() == "AssumeRoleWithOIDC" {
            let expires = (chrono::Utc::now() + chrono::Duration::hours(1))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            return Reply::json(
                200,
                serde_json::json!({"RequestId": "sts-1",
                    "AssumedRoleUser": {"AssumedRoleId": "1:s", "Arn": "acs:ram::1:role/ci/s"},
                    "Credentials": {"AccessKeyId": "STS.oidc", "AccessKeySecret": STS_SECRET,
                                    "SecurityToken": STS_TOKEN, "Expiration": expires}}),
            );
        }
        // Refuse anything not signed with the expected secret, like the real service would.
        if r.signature.is_err() {
            return Reply::error(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            );
        }
        list(r)
    })
}

#[test]
fn secrets_from_the_environment_never_appear() {
    let server = server_for(Source::Env.secret());
    // The three successful export lines at three verbosities (the --profile one is ignored with
    // a note, since environment variables come first).
    assert_eq!(run_all(Source::Env, &server), 12);
    server.assert_all_signed();
}

#[test]
fn secrets_from_the_cli_config_never_appear() {
    let server = server_for(Source::CliConfig.secret());
    assert_eq!(run_all(Source::CliConfig, &server), 9);
    server.assert_all_signed();
}

#[test]
fn secrets_from_the_ini_file_never_appear() {
    let server = server_for(Source::Ini.secret());
    assert_eq!(run_all(Source::Ini, &server), 9);
    server.assert_all_signed();
}

#[test]
fn a_signature_failure_path_prints_no_secret_either() {
    // The server expects another secret: every call fails with SignatureDoesNotMatch (exit 77).
    let server = server_for("not-the-right-secret");
    assert_eq!(run_all(Source::Env, &server), 0);
}

#[test]
fn oidc_tokens_and_the_credentials_they_buy_never_appear() {
    let server = server_for(Source::Oidc.secret());
    // OIDC comes before any profile, so the --profile line succeeds too (with a note).
    assert_eq!(run_all(Source::Oidc, &server), 12);
}

#[test]
fn what_an_external_process_prints_never_appears() {
    let server = server_for(Source::External.secret());
    assert_eq!(run_all(Source::External, &server), 9);
    server.assert_all_signed();
}
