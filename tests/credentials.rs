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
