//! The credentials chain, over an injected environment and temporary files: every source, the
//! precedence between them, profiles, STS, and the messages when nothing (or something broken)
//! is found. Never touches the real environment or home directory.

use std::path::Path;

use livebatch::api::credentials::{
    CredentialSource, Credentials, CredentialsError, Environment, LoadedCredentials, Spec, load,
};

const CLI_CONFIG: &str = r#"{
  "current": "work",
  "profiles": [
    {"name": "default", "mode": "AK", "access_key_id": "LTAIcliDefault", "access_key_secret": "cli-default-secret", "region_id": "cn-shanghai"},
    {"name": "work", "mode": "AK", "access_key_id": "LTAIcliWork", "access_key_secret": "cli-work-secret"},
    {"name": "sts", "mode": "StsToken", "access_key_id": "STS.cli", "access_key_secret": "cli-sts-secret", "sts_token": "cli-sts-token"},
    {"name": "role", "mode": "RamRoleArn", "access_key_id": "x", "access_key_secret": "y"}
  ],
  "meta_path": ""
}"#;

const INI: &str = "\
# comment
[default]
type = access_key
access_key_id = LTAIiniDefault
access_key_secret = ini-default-secret

; another comment
[project]
type = access_key
access_key_id = \"LTAIiniProject\"
access_key_secret = ini-project-secret

[ecs]
type = ecs_ram_role
role_name = r
";

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn with_cli(self, text: &str) -> Home {
        std::fs::create_dir_all(self.path().join(".aliyun")).unwrap();
        std::fs::write(self.path().join(".aliyun/config.json"), text).unwrap();
        self
    }
    fn with_ini(self, text: &str) -> Home {
        std::fs::create_dir_all(self.path().join(".alibabacloud")).unwrap();
        std::fs::write(self.path().join(".alibabacloud/credentials"), text).unwrap();
        self
    }
    fn env(&self, vars: &[(&str, &str)]) -> Environment {
        Environment {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            home: Some(self.path().to_path_buf()),
            ecs_metadata_url: None,
        }
    }
}

/// The static keys a source gave (every source these loader tests use gives them as they are).
trait Keys {
    fn keys(&self) -> Credentials;
}

impl Keys for LoadedCredentials {
    fn keys(&self) -> Credentials {
        self.static_credentials()
            .cloned()
            .unwrap_or_else(|| panic!("expected static keys, got {}", self.spec.describe()))
    }
}

fn ok(env: &Environment, profile: Option<&str>) -> LoadedCredentials {
    match load(env, profile) {
        Ok(l) => l,
        Err(e) => panic!("expected credentials, got: {e}"),
    }
}

const ENV_KEYS: [(&str, &str); 2] = [
    ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv"),
    ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret"),
];

#[test]
fn environment_comes_first() {
    let home = Home::new().with_cli(CLI_CONFIG).with_ini(INI);
    let l = ok(&home.env(&ENV_KEYS), None);
    assert_eq!(l.source, CredentialSource::Environment);
    assert_eq!(l.keys().access_key_id, "LTAIenv");
    assert_eq!(l.keys().access_key_secret.expose(), "env-secret");
    assert!(l.keys().security_token.is_none());
    assert!(l.notes.is_empty());
}

#[test]
fn environment_with_sts_token() {
    let mut vars = ENV_KEYS.to_vec();
    vars.push(("ALIBABA_CLOUD_SECURITY_TOKEN", "env-token"));
    let l = ok(&Home::new().env(&vars), None);
    assert_eq!(l.keys().security_token.unwrap().expose(), "env-token");
}

#[test]
fn explicit_profile_is_noted_as_ignored_when_environment_wins() {
    let home = Home::new().with_cli(CLI_CONFIG);
    let l = ok(&home.env(&ENV_KEYS), Some("sts"));
    assert_eq!(l.source, CredentialSource::Environment);
    assert_eq!(l.notes.len(), 1);
    assert!(
        l.notes[0].contains("--profile \"sts\" is ignored"),
        "{:?}",
        l.notes
    );
}

#[test]
fn half_set_environment_is_an_error_not_a_silent_fallback() {
    let home = Home::new().with_cli(CLI_CONFIG);
    let e = load(&home.env(&ENV_KEYS[..1]), None).unwrap_err();
    assert!(matches!(e, CredentialsError::IncompleteEnvironment { .. }));
    assert!(
        e.to_string()
            .contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET is not"),
        "{e}"
    );
    let e = load(&home.env(&ENV_KEYS[1..]), None).unwrap_err();
    assert!(
        e.to_string().contains("ALIBABA_CLOUD_ACCESS_KEY_ID is not"),
        "{e}"
    );
    assert!(!e.to_string().contains("env-secret"));
}

#[test]
fn blank_environment_values_count_as_unset() {
    let home = Home::new().with_ini(INI);
    let l = ok(
        &home.env(&[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", " "),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
        ]),
        None,
    );
    assert_eq!(l.keys().access_key_id, "LTAIiniDefault");
}

#[test]
fn cli_config_current_profile() {
    let home = Home::new().with_cli(CLI_CONFIG).with_ini(INI);
    let l = ok(&home.env(&[]), None);
    assert_eq!(l.keys().access_key_id, "LTAIcliWork");
    assert_eq!(l.keys().access_key_secret.expose(), "cli-work-secret");
    assert_eq!(
        l.source,
        CredentialSource::CliConfig {
            path: home.path().join(".aliyun/config.json"),
            profile: "work".into()
        }
    );
}

#[test]
fn profile_flag_beats_profile_variable_beats_current() {
    let home = Home::new().with_cli(CLI_CONFIG);
    let env = home.env(&[("ALIBABA_CLOUD_PROFILE", "default")]);
    assert_eq!(ok(&env, None).keys().access_key_id, "LTAIcliDefault");
    assert_eq!(ok(&env, Some("work")).keys().access_key_id, "LTAIcliWork");
    assert_eq!(ok(&home.env(&[]), None).keys().access_key_id, "LTAIcliWork");
}

#[test]
fn cli_config_sts_token_mode() {
    let home = Home::new().with_cli(CLI_CONFIG);
    let l = ok(&home.env(&[]), Some("sts"));
    assert_eq!(l.keys().access_key_id, "STS.cli");
    assert_eq!(l.keys().security_token.unwrap().expose(), "cli-sts-token");
}

#[test]
fn cli_config_without_current_uses_default() {
    let home = Home::new().with_cli(
        r#"{"profiles": [{"name": "default", "mode": "AK", "access_key_id": "A", "access_key_secret": "B"}]}"#,
    );
    assert_eq!(ok(&home.env(&[]), None).keys().access_key_id, "A");
}

#[test]
fn unsupported_cli_mode_says_which_modes_work() {
    let home = Home::new().with_cli(
        r#"{"profiles": [{"name": "default", "mode": "CloudSSO", "access_key_id": "A", "access_key_secret": "B"}]}"#,
    );
    let e = load(&home.env(&[]), None).unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, CredentialsError::Unsupported { .. }));
    assert!(
        m.contains("CloudSSO")
            && m.contains("RamRoleArn, ChainableRamRoleArn, OIDC, External")
            && m.contains("config.json"),
        "{m}"
    );
}

#[test]
fn role_profile_without_its_role_says_which_field_is_missing() {
    let home = Home::new().with_cli(CLI_CONFIG).with_ini(INI);
    let m = load(&home.env(&[]), Some("role")).unwrap_err().to_string();
    assert!(
        m.contains("profile \"role\" (mode RamRoleArn) has no ram_role_arn"),
        "{m}"
    );
}

#[test]
fn sts_mode_without_token_is_located() {
    let home = Home::new().with_cli(
        r#"{"current": "s", "profiles": [{"name": "s", "mode": "StsToken", "access_key_id": "A", "access_key_secret": "B"}]}"#,
    );
    let m = load(&home.env(&[]), None).unwrap_err().to_string();
    assert!(m.contains("config.json") && m.contains("sts_token"), "{m}");
}

#[test]
fn config_file_variable_overrides_the_path() {
    let home = Home::new().with_cli(CLI_CONFIG);
    let other = home.path().join("elsewhere.json");
    std::fs::write(
        &other,
        r#"{"current": "x", "profiles": [{"name": "x", "mode": "AK", "access_key_id": "LTAIother", "access_key_secret": "s"}]}"#,
    )
    .unwrap();
    let l = ok(
        &home.env(&[("ALIBABA_CLOUD_CONFIG_FILE", other.to_str().unwrap())]),
        None,
    );
    assert_eq!(l.keys().access_key_id, "LTAIother");
}

#[test]
fn ini_default_section_when_no_cli_config() {
    let home = Home::new().with_ini(INI);
    let l = ok(&home.env(&[]), None);
    assert_eq!(l.keys().access_key_id, "LTAIiniDefault");
    assert_eq!(
        l.source,
        CredentialSource::IniFile {
            path: home.path().join(".alibabacloud/credentials"),
            profile: "default".into()
        }
    );
}

#[test]
fn ini_profile_and_quotes() {
    let home = Home::new().with_ini(INI);
    let l = ok(&home.env(&[("ALIBABA_CLOUD_PROFILE", "project")]), None);
    assert_eq!(l.keys().access_key_id, "LTAIiniProject");
    assert_eq!(l.keys().access_key_secret.expose(), "ini-project-secret");
}

#[test]
fn profile_missing_from_cli_config_falls_through_to_ini() {
    let home = Home::new().with_cli(CLI_CONFIG).with_ini(INI);
    let l = ok(&home.env(&[]), Some("project"));
    assert_eq!(l.keys().access_key_id, "LTAIiniProject");
}

#[test]
fn credentials_file_variable_overrides_the_path() {
    let home = Home::new().with_ini(INI);
    let other = home.path().join("creds.ini");
    std::fs::write(
        &other,
        "[default]\ntype=access_key\naccess_key_id=LTAIx\naccess_key_secret=y\n",
    )
    .unwrap();
    let l = ok(
        &home.env(&[("ALIBABA_CLOUD_CREDENTIALS_FILE", other.to_str().unwrap())]),
        None,
    );
    assert_eq!(l.keys().access_key_id, "LTAIx");
}

#[test]
fn ini_unsupported_type() {
    let home = Home::new().with_ini("[default]\ntype = bearer_token\nbearer_token = hidden\n");
    let m = load(&home.env(&[]), None).unwrap_err().to_string();
    assert!(
        m.contains("bearer_token")
            && m.contains("access_key, ram_role_arn")
            && !m.contains("hidden"),
        "{m}"
    );
}

#[test]
fn ini_ecs_ram_role_names_its_role() {
    let home = Home::new().with_ini(INI);
    let l = ok(&home.env(&[]), Some("ecs"));
    assert!(
        matches!(&l.spec, Spec::Ecs { role_name: Some(r), .. } if r == "r"),
        "{:?}",
        l.spec
    );
}

#[test]
fn malformed_ini_is_located_by_line_without_quoting_it() {
    let home = Home::new().with_ini("[default]\ntype = access_key\nthis line holds sekrit-value\n");
    let e = load(&home.env(&[]), None).unwrap_err();
    let m = e.to_string();
    assert!(
        matches!(e, CredentialsError::Malformed { line: Some(3), .. }),
        "{e:?}"
    );
    assert!(m.contains("credentials:3:"), "{m}");
    assert!(!m.contains("sekrit-value"), "{m}");
    let e = load(&Home::new().with_ini("[default\n").env(&[]), None).unwrap_err();
    assert!(
        matches!(e, CredentialsError::Malformed { line: Some(1), .. }),
        "{e:?}"
    );
    let e = load(&Home::new().with_ini("key = v\n[default]\n").env(&[]), None).unwrap_err();
    assert!(e.to_string().contains("before any [section]"), "{e}");
}

#[test]
fn ini_section_without_secret_is_located() {
    let home = Home::new().with_ini("\n\n[default]\ntype = access_key\naccess_key_id = a\n");
    let e = load(&home.env(&[]), None).unwrap_err();
    assert!(
        matches!(e, CredentialsError::Malformed { line: Some(3), .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("access_key_secret"));
}

#[test]
fn malformed_json_is_located_and_never_quotes_values() {
    let home = Home::new().with_cli(
        "{\n  \"current\": \"a\",\n  \"profiles\": [\n    {\"name\": \"a\" \"mode\": \"AK\"}\n]}",
    );
    let e = load(&home.env(&[]), None).unwrap_err();
    assert!(
        matches!(e, CredentialsError::Malformed { line: Some(4), .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("config.json:4:"), "{e}");
    // A type error would quote the value in serde_json's message; ours must not.
    let home = Home::new().with_cli(r#"{"profiles": "json-secret-value"}"#);
    let m = load(&home.env(&[]), None).unwrap_err().to_string();
    assert!(!m.contains("json-secret-value"), "{m}");
    assert!(m.contains("unexpected shape"), "{m}");
}

#[test]
fn nothing_found_lists_every_source_and_the_fix() {
    let home = Home::new();
    let e = load(&home.env(&[]), None).unwrap_err();
    let CredentialsError::NotFound { tried, profile } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(tried.len(), 6, "{tried:?}");
    assert!(profile.is_none());
    let m = e.to_string();
    assert!(
        m.contains("ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET are not set"),
        "{m}"
    );
    assert!(
        m.contains(".aliyun/config.json (default location): does not exist"),
        "{m}"
    );
    assert!(
        m.contains(".alibabacloud/credentials (default location): does not exist"),
        "{m}"
    );
    assert!(
        m.contains("aliyun configure") && m.contains("--profile"),
        "{m}"
    );
    for source in [
        "OIDC: ALIBABA_CLOUD_ROLE_ARN",
        "ECS RAM role: ALIBABA_CLOUD_ECS_METADATA is not set",
        "credentials URI: ALIBABA_CLOUD_CREDENTIALS_URI is not set",
    ] {
        assert!(m.contains(source), "{m}");
    }
}

#[test]
fn unknown_profile_is_reported_with_the_profiles_that_exist() {
    let home = Home::new().with_cli(CLI_CONFIG).with_ini(INI);
    let e = load(&home.env(&[]), Some("nope")).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("(profile \"nope\")"), "{m}");
    assert!(
        m.contains("no profile named \"nope\" (profiles: default, work, sts, role)"),
        "{m}"
    );
    assert!(m.contains("no [nope] section"), "{m}");
}

#[test]
fn no_home_directory_is_explained() {
    let env = Environment::default();
    let m = load(&env, None).unwrap_err().to_string();
    assert!(m.contains("HOME is not set"), "{m}");
}

#[test]
fn override_pointing_nowhere_is_explained() {
    let home = Home::new().with_ini(INI);
    let e = load(
        &home.env(&[("ALIBABA_CLOUD_CONFIG_FILE", "/nonexistent/cfg.json")]),
        None,
    )
    .unwrap();
    // A missing CLI file moves on to the INI file.
    assert_eq!(e.keys().access_key_id, "LTAIiniDefault");
    let m = load(
        &Home::new().env(&[("ALIBABA_CLOUD_CONFIG_FILE", "/nonexistent/cfg.json")]),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        m.contains("/nonexistent/cfg.json (from ALIBABA_CLOUD_CONFIG_FILE): does not exist"),
        "{m}"
    );
}

#[test]
fn environment_debug_hides_values() {
    let env = Home::new().env(&ENV_KEYS);
    let shown = format!("{env:?}");
    assert!(shown.contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"));
    assert!(!shown.contains("env-secret"));
    let l = ok(&env, None);
    assert!(!format!("{l:?}").contains("env-secret"));
}

// ---------------------------------------------------------------------------------------------
// Every source against the emulator (as STS and as the Live API), on loopback.

mod live {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use livebatch::api::client::{Client, ClientConfig, ListQuery};
    use livebatch::api::credentials::provider::{CredentialProvider, resolve};
    use livebatch::api::credentials::{Credentials, CredentialsError, Environment, Spec, load};
    use livebatch::api::endpoint::Endpoint;
    use livebatch::api::sts::{RoleRequest, StsClient, Temporary};
    use livebatch::emulator::{
        Clock, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, Emulator, EmulatorConfig,
        EmulatorHandle, KeyPair,
    };
    use livebatch::model::{ApiTime, Region};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const ROLE: &str = "acs:ram::5555000011112222:role/Deployer";
    const OIDC_PROVIDER: &str = "acs:ram::5555000011112222:oidc-provider/github";

    fn now() -> ApiTime {
        ApiTime::from_unix(chrono::Utc::now().timestamp()).unwrap()
    }

    async fn emulator(clock: Clock, ttl: Option<u64>, keys: Vec<KeyPair>) -> EmulatorHandle {
        Emulator::start(EmulatorConfig {
            clock,
            sts_ttl_secs: ttl,
            keys,
            qps: 0,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap()
    }

    fn config(emu: &EmulatorHandle, credentials: Credentials) -> ClientConfig {
        ClientConfig {
            endpoint: Endpoint::parse(&emu.url()).unwrap(),
            credentials,
            connect_timeout: std::time::Duration::from_secs(5),
            read_timeout: std::time::Duration::from_secs(10),
        }
    }

    fn default_key() -> Credentials {
        Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
    }

    /// The emulator's clock, as the provider's clock (so refresh times follow a manual clock).
    struct EmuClock(Clock);

    impl livebatch::api::client::Clock for EmuClock {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            self.0.now().0
        }
    }

    fn client_with(emu: &EmulatorHandle, provider: Arc<CredentialProvider>) -> Client {
        Client::builder(config(emu, default_key()))
            .provider(provider)
            .build()
            .unwrap()
    }

    async fn list(c: &Client) -> Result<usize, livebatch::api::error::ApiError> {
        c.describe_list_all(&ListQuery::new(Region::CnShanghai))
            .await
            .map(|v| v.len())
    }

    /// A JWT-shaped token whose payload expires at `exp` (the emulator checks `exp`).
    fn jwt(sub: &str, exp: i64) -> String {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.signature",
            e.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            e.encode(format!(
                r#"{{"iss":"https://token.actions.githubusercontent.com","sub":"{sub}","aud":"sts.aliyuncs.com","exp":{exp}}}"#
            ))
        )
    }

    #[tokio::test]
    async fn caller_identity_names_the_account_and_keys_of_one_account_share_its_quota() {
        let emu = Emulator::start(EmulatorConfig {
            keys: vec![
                KeyPair::with_account("ak-main", "main-secret", "1234567890123456"),
                KeyPair::with_account("ak-ram", "ram-secret", "1234567890123456"),
                KeyPair::new("ak-other", "other-secret"),
            ],
            qps: 3,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let client = |id: &str, secret: &str| {
            Client::new(config(&emu, Credentials::new(id, secret))).unwrap()
        };
        let (main, ram, other) = (
            client("ak-main", "main-secret"),
            client("ak-ram", "ram-secret"),
            client("ak-other", "other-secret"),
        );
        let m = main.caller_identity().await.unwrap();
        assert_eq!(m.account_id, "1234567890123456");
        assert_eq!(m.identity_type, "Account");
        assert_eq!(m.arn, "acs:ram::1234567890123456:root");
        let r = ram.caller_identity().await.unwrap();
        assert_eq!(r.account_id, "1234567890123456");
        assert_eq!(r.identity_type, "RAMUser");
        assert!(!r.request_id.is_empty() && !r.principal_id.is_empty());
        let o = other.caller_identity().await.unwrap();
        assert_ne!(o.account_id, m.account_id);

        // Three calls by the main key fill the account's one-second window; the RAM user's next
        // call in that window is throttled, another account's is not. A machine too slow to make
        // four calls within the second is not a failure: try again.
        let mut shown = false;
        for _ in 0..5 {
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            let start = std::time::Instant::now();
            for _ in 0..3 {
                list(&main).await.unwrap();
            }
            let ram_result = list(&ram).await;
            let other_result = list(&other).await;
            if start.elapsed() >= std::time::Duration::from_millis(900) {
                continue;
            }
            let e = ram_result.expect_err("the RAM user's call should share the full window");
            assert!(e.code().starts_with("Throttling"), "{e}");
            other_result.expect("another account has its own quota");
            shown = true;
            break;
        }
        assert!(shown, "never managed four calls within one second");
        emu.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn ram_role_chained_from_an_ak_profile_signs_live_calls_as_the_role() {
        let emu = emulator(Clock::system(), None, vec![KeyPair::default()]).await;
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".aliyun")).unwrap();
        std::fs::write(
            home.path().join(".aliyun/config.json"),
            format!(
                r#"{{"current": "deploy", "profiles": [
                {{"name": "base", "mode": "AK", "access_key_id": "{DEFAULT_ACCESS_KEY_ID}", "access_key_secret": "{DEFAULT_ACCESS_KEY_SECRET}"}},
                {{"name": "deploy", "mode": "ChainableRamRoleArn", "source_profile": "base", "ram_role_arn": "{ROLE}", "ram_session_name": "rollout", "expired_seconds": 900}}
            ]}}"#
            ),
        )
        .unwrap();
        let env = Environment {
            home: Some(home.path().to_path_buf()),
            ..Environment::default()
        };
        let loaded = load(&env, None).unwrap();
        assert!(
            matches!(&loaded.spec, Spec::RamRole { source, .. } if matches!(**source, Spec::Static { .. }))
        );
        assert!(loaded.spec.describe().contains(ROLE));
        let cfg = config(&emu, default_key());
        let spec = loaded.spec.clone();
        let (provider, first) = tokio::task::spawn_blocking(move || resolve(&spec, &cfg))
            .await
            .unwrap()
            .unwrap();
        assert!(first.credentials.access_key_id.starts_with("STS."));
        assert!(first.credentials.security_token.is_some());
        let c = client_with(&emu, provider);
        assert_eq!(list(&c).await.unwrap(), 0);
        let id = c.caller_identity().await.unwrap();
        assert_eq!(id.identity_type, "AssumedRoleUser");
        assert_eq!(id.account_id, "5555000011112222");
        assert!(id.arn.ends_with("/deployer/rollout"), "{}", id.arn);
        assert_eq!(emu.sts_issued().0, 1);
        emu.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn oidc_rereads_the_rotating_token_file_at_every_refresh() {
        let clock = Clock::manual(now());
        let emu = emulator(clock.clone(), Some(60), vec![KeyPair::default()]).await;
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        let t0 = clock.now().unix();
        std::fs::write(
            &token_file,
            jwt("repo:org/app:ref:refs/heads/main", t0 + 30),
        )
        .unwrap();
        let env = Environment {
            vars: [
                ("ALIBABA_CLOUD_ROLE_ARN", ROLE),
                ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", OIDC_PROVIDER),
                (
                    "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
                    token_file.to_str().unwrap(),
                ),
                ("ALIBABA_CLOUD_ROLE_SESSION_NAME", "gha-run"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..Environment::default()
        };
        let loaded = load(&env, None).unwrap();
        let cfg = config(&emu, default_key());
        let sts = StsClient::for_config(&cfg).unwrap();
        let provider = CredentialProvider::from_spec(
            &loaded.spec,
            Some(&sts),
            Arc::new(EmuClock(clock.clone())),
        );
        let c = client_with(&emu, provider.clone());
        assert_eq!(list(&c).await.unwrap(), 0);
        assert_eq!((emu.sts_issued().1, provider.refreshes()), (1, 0));

        // The token rotates; the first one expires with the credentials it bought.
        std::fs::write(
            &token_file,
            jwt("repo:org/app:ref:refs/heads/main", t0 + 600),
        )
        .unwrap();
        clock.advance(61);
        assert_eq!(list(&c).await.unwrap(), 0, "refreshed with the new token");
        assert_eq!((emu.sts_issued().1, provider.refreshes()), (2, 1));

        // Inside the refresh window (2/3 of 60 s) a call does not wait: it uses the current
        // credentials and one background refresh follows.
        clock.advance(45);
        for _ in 0..5 {
            assert_eq!(list(&c).await.unwrap(), 0);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while provider.refreshes() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "no background refresh"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(provider.refreshes(), 2, "five calls shared one refresh");
        emu.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_call_answered_expired_refreshes_and_is_resent() {
        // The emulator's clock runs ahead of the provider's: the provider thinks its credentials
        // are fresh, the service says they expired.
        let emu_clock = Clock::manual(now());
        let emu = emulator(emu_clock.clone(), Some(60), vec![KeyPair::default()]).await;
        let spec = Spec::RamRole {
            source: Box::new(Spec::Static {
                credentials: default_key(),
                expiration: None,
            }),
            role_arn: ROLE.into(),
            session_name: Some("resent".into()),
            duration_secs: None,
            policy: None,
            external_id: None,
        };
        let cfg = config(&emu, default_key());
        let sts = StsClient::for_config(&cfg).unwrap();
        let provider_clock = Clock::manual(now());
        let provider =
            CredentialProvider::from_spec(&spec, Some(&sts), Arc::new(EmuClock(provider_clock)));
        let c = client_with(&emu, provider.clone());
        assert_eq!(list(&c).await.unwrap(), 0);
        emu_clock.advance(120);
        let (a, b) = tokio::join!(list(&c), list(&c));
        assert_eq!((a.unwrap(), b.unwrap()), (0, 0));
        assert_eq!(
            provider.refreshes(),
            1,
            "both refused calls shared one refresh"
        );
        assert!(
            emu.stats()
                .count("DescribeLivePullToPushList", "InvalidSecurityToken.Expired")
                >= 1
        );
        emu.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn issued_keys_are_refused_once_expired_and_a_static_token_cannot_refresh() {
        let clock = Clock::manual(now());
        let emu = emulator(clock.clone(), Some(60), vec![KeyPair::default()]).await;
        let cfg = config(&emu, default_key());
        let sts = StsClient::for_config(&cfg).unwrap();
        let t: Temporary = sts
            .assume_role(
                &default_key(),
                &RoleRequest {
                    role_arn: ROLE.into(),
                    session_name: "static".into(),
                    duration_secs: 3600,
                    policy: None,
                    external_id: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (t.expiration.timestamp() - clock.now().unix()),
            60,
            "--sts-ttl wins"
        );
        let c = Client::new(config(&emu, t.credentials.clone())).unwrap();
        assert_eq!(list(&c).await.unwrap(), 0);
        let mut no_token = t.credentials.clone();
        no_token.security_token = None;
        let e = list(&Client::new(config(&emu, no_token)).unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "InvalidSecurityToken.Malformed");
        clock.advance(60);
        let e = list(&c).await.unwrap_err();
        assert_eq!(e.code(), "InvalidSecurityToken.Expired");
        assert!(livebatch::api::error::is_credential_expiry(&e.code()));
        assert_eq!(c.credential_refreshes(), 0);
        emu.shutdown().await.unwrap();
    }

    /// A loopback HTTP server answering as a credentials URI and as the ECS metadata service
    /// (IMDSv2: a session token first, required on every GET).
    struct FakeMetadata {
        url: String,
        requests: Arc<AtomicUsize>,
        untokened: Arc<AtomicUsize>,
    }

    async fn fake_metadata(credentials: Temporary) -> FakeMetadata {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let untokened = Arc::new(AtomicUsize::new(0));
        let body = serde_json::json!({
            "Code": "Success",
            "AccessKeyId": credentials.credentials.access_key_id,
            "AccessKeySecret": credentials.credentials.access_key_secret.expose(),
            "SecurityToken": credentials.credentials.security_token.as_ref().unwrap().expose(),
            "Expiration": credentials.expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "LastUpdated": "2026-01-01T00:00:00Z",
        })
        .to_string();
        let (req_count, untok) = (requests.clone(), untokened.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let (body, req_count, untok) = (body.clone(), req_count.clone(), untok.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    req_count.fetch_add(1, Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    let first = head.lines().next().unwrap_or_default().to_string();
                    let tokened = head.contains("x-aliyun-ecs-metadata-token: imds-session");
                    let (status, answer) = if first.starts_with("put /latest/api/token") {
                        if head.contains("x-aliyun-ecs-metadata-token-ttl-seconds:") {
                            ("200 OK", "imds-session".to_string())
                        } else {
                            ("400 Bad Request", String::new())
                        }
                    } else if first.starts_with("get /latest/meta-data/ram/security-credentials/ ")
                    {
                        if !tokened {
                            untok.fetch_add(1, Ordering::SeqCst);
                        }
                        ("200 OK", "EcsDeployRole".to_string())
                    } else if first.starts_with(
                        "get /latest/meta-data/ram/security-credentials/ecsdeployrole ",
                    ) {
                        if !tokened {
                            untok.fetch_add(1, Ordering::SeqCst);
                        }
                        ("200 OK", body)
                    } else if first.starts_with("get /creds") {
                        ("200 OK", body)
                    } else {
                        ("404 Not Found", String::new())
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        FakeMetadata {
            url,
            requests,
            untokened,
        }
    }

    async fn issued(emu: &EmulatorHandle) -> Temporary {
        let sts = StsClient::for_config(&config(emu, default_key())).unwrap();
        sts.assume_role(
            &default_key(),
            &RoleRequest {
                role_arn: ROLE.into(),
                session_name: "metadata".into(),
                duration_secs: 3600,
                policy: None,
                external_id: None,
            },
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn credentials_uri_on_loopback() {
        let emu = emulator(Clock::system(), None, vec![KeyPair::default()]).await;
        let fake = fake_metadata(issued(&emu).await).await;
        let env = Environment {
            vars: [(
                "ALIBABA_CLOUD_CREDENTIALS_URI".to_string(),
                format!("{}/creds?token=uri-query-secret", fake.url),
            )]
            .into(),
            ..Environment::default()
        };
        let loaded = load(&env, None).unwrap();
        let shown = loaded.spec.describe();
        assert!(
            shown.contains("/creds") && !shown.contains("uri-query-secret"),
            "{shown}"
        );
        let cfg = config(&emu, default_key());
        let (provider, _) = tokio::task::spawn_blocking(move || resolve(&loaded.spec, &cfg))
            .await
            .unwrap()
            .unwrap();
        let c = client_with(&emu, provider);
        assert_eq!(list(&c).await.unwrap(), 0);
        assert_eq!(fake.requests.load(Ordering::SeqCst), 1);
        emu.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn ecs_ram_role_asks_for_an_imds_session_token_first() {
        let emu = emulator(Clock::system(), None, vec![KeyPair::default()]).await;
        let fake = fake_metadata(issued(&emu).await).await;
        let env = Environment {
            vars: [(
                "ALIBABA_CLOUD_ECS_METADATA".to_string(),
                "EcsDeployRole".to_string(),
            )]
            .into(),
            ecs_metadata_url: Some(fake.url.clone()),
            ..Environment::default()
        };
        let loaded = load(&env, None).unwrap();
        assert!(loaded.spec.describe().contains("EcsDeployRole"));
        let cfg = config(&emu, default_key());
        let (provider, _) = tokio::task::spawn_blocking(move || resolve(&loaded.spec, &cfg))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(list(&client_with(&emu, provider)).await.unwrap(), 0);
        assert_eq!(
            fake.requests.load(Ordering::SeqCst),
            2,
            "token, then credentials"
        );
        assert_eq!(fake.untokened.load(Ordering::SeqCst), 0);

        // Without a role name, the role is read from the metadata service first.
        let spec = Spec::Ecs {
            role_name: None,
            imdsv1_disabled: true,
            metadata_url: fake.url.clone(),
        };
        let cfg = config(&emu, default_key());
        tokio::task::spawn_blocking(move || resolve(&spec, &cfg))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fake.untokened.load(Ordering::SeqCst), 0);
        emu.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_configured_source_that_fails_says_what_and_why() {
        let emu = emulator(Clock::system(), None, vec![KeyPair::default()]).await;
        let spec = Spec::Oidc {
            role_arn: ROLE.into(),
            provider_arn: OIDC_PROVIDER.into(),
            token_file: "/nonexistent/token".into(),
            session_name: None,
            duration_secs: None,
            policy: None,
        };
        let cfg = config(&emu, default_key());
        let e = tokio::task::spawn_blocking(move || resolve(&spec, &cfg))
            .await
            .unwrap()
            .unwrap_err();
        let CredentialsError::Fetch {
            message, transient, ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert!(message.contains("/nonexistent/token") && !transient, "{e}");
        emu.shutdown().await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The binary: which source was used, exit 77 when none works, and runs that outlive their
// credentials.

mod binary {
    use assert_cmd::Command;
    use livebatch::api::client::ClientConfig;
    use livebatch::api::credentials::Credentials;
    use livebatch::api::endpoint::Endpoint;
    use livebatch::api::sts::{RoleRequest, StsClient};
    use livebatch::apply::sandbox;
    use livebatch::emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, EmulatorConfig};
    use livebatch::model::{ApiTime, Region, Update};

    use crate::support::batch::write_manifest;
    use crate::support::binary::Scratch;
    use crate::support::emulator::Emu;
    use livebatch::report::Report;

    const ROLE: &str = "acs:ram::5555000011112222:role/Deployer";

    /// An emulator whose STS issues keys valid for `sts_ttl` seconds, holding the tasks
    /// `updates` update.
    fn emulator(sts_ttl: Option<u64>, updates: &[Update]) -> Emu {
        let now = ApiTime::from_unix(chrono::Utc::now().timestamp()).unwrap();
        Emu::start(EmulatorConfig {
            sts_ttl_secs: sts_ttl,
            seed: sandbox::seed_tasks(updates, now),
            ..EmulatorConfig::default()
        })
    }

    /// Temporary credentials from the emulator's STS (valid for its --sts-ttl).
    fn assume_role(emu: &Emu) -> Credentials {
        let cfg = ClientConfig {
            endpoint: Endpoint::parse(&emu.url()).unwrap(),
            credentials: Credentials::new("", ""),
            connect_timeout: std::time::Duration::from_secs(5),
            read_timeout: std::time::Duration::from_secs(10),
        };
        let sts = StsClient::for_config(&cfg).unwrap();
        emu.block_on(sts.assume_role(
            &Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET),
            &RoleRequest {
                role_arn: ROLE.into(),
                session_name: "static-token".into(),
                duration_secs: 3600,
                policy: None,
                external_id: None,
            },
        ))
        .unwrap()
        .credentials
    }

    fn updates(n: usize) -> Vec<Update> {
        (0..n)
            .map(|i| {
                let mut u = Update::new(format!("cred-{i:04}"), Region::CnShanghai);
                u.callback_url = Some(format!("https://hooks.example.com/cred/{i}"));
                u
            })
            .collect()
    }

    /// A JWT-shaped OIDC token (payload without `exp`: it does not expire in these runs).
    fn jwt() -> String {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            e.encode(r#"{"alg":"RS256"}"#),
            e.encode(
                r#"{"sub":"repo:org/app","iss":"https://token.actions.githubusercontent.com"}"#
            )
        )
    }

    /// Sets `c` up to sign in with OIDC (the token in `s`'s `oidc-token`).
    fn oidc_env(s: &Scratch, c: &mut Command) {
        let token = s.path("oidc-token");
        std::fs::write(&token, jwt()).unwrap();
        c.env("ALIBABA_CLOUD_ROLE_ARN", ROLE)
            .env(
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                "acs:ram::5555000011112222:oidc-provider/github",
            )
            .env("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token);
    }

    fn stderr(o: &std::process::Output) -> String {
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    #[test]
    fn nothing_configured_exits_77_listing_every_source_tried() {
        let s = Scratch::new();
        let o = s
            .unconfigured()
            .args([
                "export",
                "--region",
                "cn-shanghai",
                "--endpoint",
                "http://127.0.0.1:9",
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(77), "{}", stderr(&o));
        let e = stderr(&o);
        for tried in [
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "OIDC: ALIBABA_CLOUD_ROLE_ARN",
            ".aliyun/config.json",
            ".alibabacloud/credentials",
            "ALIBABA_CLOUD_ECS_METADATA",
            "ALIBABA_CLOUD_CREDENTIALS_URI",
        ] {
            assert!(e.contains(tried), "{tried} missing from:\n{e}");
        }
    }

    #[test]
    fn a_configured_source_that_cannot_produce_credentials_exits_77_naming_it() {
        let emu = emulator(None, &[]);
        let s = Scratch::new();
        let mut c = s.unconfigured();
        oidc_env(&s, &mut c);
        std::fs::remove_file(s.path("oidc-token")).unwrap();
        let o = c
            .args([
                "export",
                "--region",
                "cn-shanghai",
                "--endpoint",
                &emu.url(),
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(77), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("ALIBABA_CLOUD_OIDC_TOKEN_FILE") && e.contains("oidc-token"),
            "{e}"
        );
    }

    #[test]
    fn verbose_says_which_source_was_used_external_with_a_script() {
        let emu = emulator(None, &updates(3));
        let s = Scratch::new();
        let script = s.path("creds.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho '{{\"mode\": \"AK\", \"access_key_id\": \"{DEFAULT_ACCESS_KEY_ID}\", \"access_key_secret\": \"{DEFAULT_ACCESS_KEY_SECRET}\"}}'\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(s.home.path().join(".aliyun")).unwrap();
        std::fs::write(
            s.home.path().join(".aliyun/config.json"),
            serde_json::json!({"current": "ext", "profiles": [
                {"name": "ext", "mode": "External", "process_command": script.to_str().unwrap()}]})
            .to_string(),
        )
        .unwrap();
        let o = s
            .unconfigured()
            .args([
                "export",
                "--region",
                "cn-shanghai",
                "--endpoint",
                &emu.url(),
                "-v",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("aliyun CLI config")
                && e.contains("External: the output of")
                && e.contains("creds.sh"),
            "{e}"
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stdout)
                .matches("TaskId:")
                .count(),
            3
        );
    }

    #[test]
    fn apply_outlives_short_sts_sessions_with_oidc_and_counts_its_refreshes() {
        // 60 updates at 10/s take about 6 s; sessions of 3 s are refreshed about every 2 s.
        let us = updates(60);
        let emu = emulator(Some(3), &us);
        let s = Scratch::new();
        write_manifest(&s.path("m.yaml"), &us);
        let mut c = s.unconfigured();
        oidc_env(&s, &mut c);
        let o = c
            .args([
                "apply",
                "m.yaml",
                "--yes",
                "--endpoint",
                &emu.url(),
                "--qps",
                "10",
                "--journal",
                "j.jsonl",
                "--report",
                "r.json",
            ])
            .output()
            .unwrap();
        let e = stderr(&o);
        assert!(o.status.success(), "{e}");
        let report: Report =
            serde_json::from_str(&std::fs::read_to_string(s.path("r.json")).unwrap()).unwrap();
        assert_eq!((report.summary.succeeded, report.summary.failed), (60, 0));
        let n: u64 = e
            .lines()
            .find_map(|l| l.strip_prefix("credentials: refreshed "))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no refresh count in:\n{e}"));
        assert!(n >= 2, "{n} refreshes:\n{e}");
        assert_eq!(
            report.credential_refreshes,
            Some(n),
            "the JSON report says it too"
        );
        assert!(emu.sts_issued().1 >= 3);
    }

    #[test]
    fn a_static_sts_token_that_expires_mid_run_halts_resumably() {
        let us = updates(60);
        let emu = emulator(Some(2), &us);
        let token = assume_role(&emu);
        let s = Scratch::new();
        write_manifest(&s.path("m.yaml"), &us);
        let run = |c: &mut Command, extra: &[&str]| {
            c.args([
                "apply",
                "m.yaml",
                "--yes",
                "--endpoint",
                &emu.url(),
                "--qps",
                "10",
                "--journal",
                "j.jsonl",
                "--report",
                "r.json",
            ])
            .args(extra)
            .output()
            .unwrap()
        };
        let mut c = s.unconfigured();
        c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", &token.access_key_id)
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                token.access_key_secret.expose(),
            )
            .env(
                "ALIBABA_CLOUD_SECURITY_TOKEN",
                token.security_token.as_ref().unwrap().expose(),
            );
        let o = run(&mut c, &[]);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let report: Report =
            serde_json::from_str(&std::fs::read_to_string(s.path("r.json")).unwrap()).unwrap();
        assert!(report.summary.succeeded < 60, "the token outlived the run");
        let halted = serde_json::to_string(&report.summary.outcome.halt_reason()).unwrap();
        assert!(halted.contains("InvalidSecurityToken.Expired"), "{halted}");
        // The calls refused as expired took no effect: left for the resume, not failed.
        assert_eq!(report.summary.failed, 0, "{:?}", report.summary);
        assert_eq!(
            report.summary.not_attempted,
            60 - report.summary.succeeded,
            "{:?}",
            report.summary
        );

        // Renewed credentials: --resume sends the rest.
        let mut c = s.unconfigured();
        c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET);
        let o = run(&mut c, &["--resume"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let updated = emu
            .tasks()
            .iter()
            .filter(|t| {
                t.callback_url
                    .starts_with("https://hooks.example.com/cred/")
            })
            .count();
        assert_eq!(updated, 60);
    }
}

#[test]
fn cli_sts_token_with_a_known_expiry_is_static_and_says_when() {
    let home = Home::new().with_cli(
        r#"{"current": "s", "profiles": [{"name": "s", "mode": "StsToken", "access_key_id": "STS.x",
            "access_key_secret": "hidden-secret", "sts_token": "hidden-token", "sts_expiration": 1893456000}]}"#,
    );
    let l = ok(&home.env(&[]), None);
    let Spec::Static { expiration, .. } = &l.spec else {
        panic!("{:?}", l.spec)
    };
    assert_eq!(expiration.map(|t| t.timestamp()), Some(1893456000));
    let d = l.spec.describe();
    assert!(
        d.contains("2030-01-01T00:00:00Z") && d.contains("cannot be refreshed"),
        "{d}"
    );
    assert!(!d.contains("hidden") && !l.spec.refreshable());
}

#[test]
fn ini_ram_role_arn_and_cli_ram_role_modes_assume_roles() {
    let home = Home::new().with_ini(
        "[default]\ntype = ram_role_arn\naccess_key_id = LTAIini\naccess_key_secret = s\n\
             role_arn = acs:ram::1:role/ini\nrole_session_name = ini-session\n",
    );
    let l = ok(&home.env(&[]), None);
    assert!(
        matches!(&l.spec, Spec::RamRole { role_arn, session_name: Some(n), .. }
            if role_arn == "acs:ram::1:role/ini" && n == "ini-session"),
        "{:?}",
        l.spec
    );
    let home = Home::new().with_cli(
        r#"{"current": "r", "profiles": [
            {"name": "r", "mode": "RamRoleArn", "access_key_id": "A", "access_key_secret": "B",
             "ram_role_arn": "acs:ram::1:role/cli", "ram_session_name": "cli", "expired_seconds": 1800},
            {"name": "loop", "mode": "ChainableRamRoleArn", "source_profile": "loop", "ram_role_arn": "acs:ram::1:role/x"}]}"#,
    );
    let l = ok(&home.env(&[]), None);
    assert!(
        matches!(
            &l.spec,
            Spec::RamRole {
                duration_secs: Some(1800),
                ..
            }
        ),
        "{:?}",
        l.spec
    );
    let m = load(&home.env(&[]), Some("loop")).unwrap_err().to_string();
    assert!(m.contains("source_profile loops"), "{m}");
}
