//! What an operator reads when something is off: a missing input is said as such (exit 66, with
//! the nearest name), a refused key names where it came from, every `--help` fits 80 columns.
//! The real binary, with a controlled environment (no real credentials or home are read).

use crate::support::binary::Scratch;
use std::path::Path;

const NOW: &str = "2027-03-01T00:00:00Z";

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// A scratch directory holding `migration.yaml` (valid), for typos to be near.
fn manifest_dir() -> Scratch {
    let s = Scratch::new();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/migration.yaml"),
        s.path("migration.yaml"),
    )
    .unwrap();
    s
}

#[test]
fn a_missing_manifest_is_no_input_with_the_nearest_name_for_every_command() {
    let dir = manifest_dir();
    // `diff` and `plan` would need credentials and an endpoint after reading the manifests: the
    // missing file must be found first, so none is given here.
    for cmd in [
        &["validate"][..],
        &["plan", "--offline"],
        &["plan"],
        &["diff"],
    ] {
        let a = dir
            .unconfigured()
            .args(cmd)
            .args(["--now", NOW, "migraton.yaml"])
            .assert()
            .code(66);
        let err = stderr(&a);
        assert_eq!(
            err, "error: no such file: migraton.yaml; did you mean migration.yaml?\n",
            "{cmd:?}"
        );
    }
}

#[test]
fn every_unusable_input_is_named_once_and_nothing_else_is_reported() {
    let dir = manifest_dir();
    std::fs::create_dir(dir.path("manifests")).unwrap();
    let a = dir
        .unconfigured()
        .args(["validate", "--now", NOW, "migration.yaml", "Migration.yml"])
        .args(["elsewhere/a.csv", "manifests"])
        .assert()
        .code(66);
    assert_eq!(
        stderr(&a),
        "error: no such file: Migration.yml; did you mean migration.yaml?\n\
         error: no such file: elsewhere/a.csv (there is no directory elsewhere)\n\
         error: manifests is a directory, not a manifest file\n"
    );
    // A valid file next to missing ones is not validated alone: no "valid:" line on stdout.
    assert!(a.get_output().stdout.is_empty());
}

#[test]
fn standard_input_named_twice_is_still_a_usage_error_for_plan_and_diff() {
    let dir = manifest_dir();
    for cmd in ["validate", "plan", "diff"] {
        let a = dir.unconfigured().args([cmd, "-", "-"]).assert().code(64);
        assert!(stderr(&a).contains("only once"), "{cmd}: {}", stderr(&a));
    }
}

#[test]
fn apply_says_a_missing_manifest_or_plan_is_no_input() {
    let dir = manifest_dir();
    let a = dir
        .unconfigured()
        .args(["apply", "--sandbox", "--yes", "--now", NOW, "migraton.yaml"])
        .assert()
        .code(66);
    assert_eq!(
        stderr(&a),
        "error: no such file: migraton.yaml; did you mean migration.yaml?\n"
    );
    std::fs::write(dir.path("rollout.plan.json"), "{}").unwrap();
    let a = dir
        .unconfigured()
        .args(["apply", "--yes", "--plan", "rollout.plan.jsn"])
        .assert()
        .code(66);
    assert_eq!(
        stderr(&a),
        "error: no such file: rollout.plan.jsn; did you mean rollout.plan.json?\n"
    );
}

/// Every command's path from the top (`[]`, `["plan"]`, `["quota", "status"]`, …).
fn command_paths() -> Vec<(Vec<String>, clap::Command)> {
    use clap::CommandFactory;
    fn walk(path: Vec<String>, c: &clap::Command, out: &mut Vec<(Vec<String>, clap::Command)>) {
        out.push((path.clone(), c.clone()));
        for sub in c.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(p, sub, out);
        }
    }
    let mut out = Vec::new();
    walk(Vec::new(), &livebatch::cli::Cli::command(), &mut out);
    out
}

/// On an 80-column terminal every `--help` and `-h` fits, and the examples and exit codes are
/// written to fit as they are: clap re-wraps a longer line at the edge, which breaks an example
/// command in two and glues its comment to the next line.
///
/// Every command's help also ends with its exit codes.
#[test]
fn every_help_fits_80_columns_and_lists_exit_codes() {
    // `apply`'s help is in `cli/apply.rs`, being restructured elsewhere: its long lines are
    // listed in the ops21 report. Once they fit, this fails until `apply` is taken off the list.
    const NOT_YET: &[&str] = &[];
    let dir = Scratch::new();
    let mut over = Vec::new();
    let paths = command_paths();
    assert!(
        paths.len() >= 9,
        "{:?}",
        paths.iter().map(|p| &p.0).collect::<Vec<_>>()
    );
    for (path, cmd) in paths {
        let over_before = over.len();
        let pending = path.len() == 1 && NOT_YET.contains(&path[0].as_str());
        let written = [cmd.get_after_help(), cmd.get_after_long_help()];
        for text in written.into_iter().flatten() {
            for line in text.to_string().lines() {
                if line.chars().count() > 80 {
                    over.push(format!("{path:?} as written: {line}"));
                }
            }
        }
        for flag in ["--help", "-h"] {
            let out = dir
                .unconfigured()
                .env("COLUMNS", "80")
                .args(&path)
                .arg(flag)
                .assert()
                .code(0);
            let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
            assert!(text.contains("Usage:"), "{path:?} {flag}: {text}");
            assert!(text.contains("\nExit codes: 0 "), "{path:?} {flag}: {text}");
            for line in text.lines().filter(|l| l.chars().count() > 80) {
                over.push(format!("{path:?} {flag}: {line}"));
            }
        }
        if pending {
            assert!(
                over.len() > over_before,
                "{path:?} fits now: take it off NOT_YET"
            );
            over.truncate(over_before);
        }
    }
    assert!(
        over.is_empty(),
        "lines over 80 columns:\n{}",
        over.join("\n")
    );
}

/// Declining the prompt is neither a failure nor a usage error. The prompt needs a terminal, so
/// the run gets one from util-linux `script`.
#[cfg(target_os = "linux")]
#[test]
fn declining_the_prompt_says_cancelled_and_exits_6() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = manifest_dir();
    let bin = assert_cmd::cargo::cargo_bin("livebatch");
    let line = format!(
        "{} apply --sandbox --now {NOW} migration.yaml",
        bin.display()
    );
    let mut child = dir
        .bare("script")
        .args(["-qec", &line, "/dev/null"])
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("util-linux `script` gives the run a terminal");
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(6), "{text}");
    assert!(
        text.contains("Apply? [y/N] cancelled; nothing sent"),
        "{text}"
    );
    // Nothing was sent: the sandbox journal holds no outcome.
    let journal = dir.path("migration.yaml.sandbox.journal.jsonl");
    let kept = std::fs::read_to_string(&journal).unwrap_or_default();
    assert!(!kept.contains("\"status\""), "{kept}");
}

/// A key the service refuses is named — where it came from and its AccessKey ID as the aliyun
/// CLI shows it (`***` and the last 3) — with what to check; the secret never appears.
#[test]
fn a_refused_key_names_its_source_and_id_and_what_to_check() {
    use livebatch::emulator::DEFAULT_ACCESS_KEY_ID;
    let emu = crate::support::emulator::Emu::seeded(0, None, Vec::new());
    let dir = manifest_dir();
    let secret = "wrong-secret-7f3a";
    // The environment's key, a wrong secret: plan (live reads).
    let a = dir
        .unconfigured()
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret)
        .args([
            "plan",
            "--now",
            NOW,
            "--endpoint",
            &emu.url(),
            "migration.yaml",
        ])
        .assert()
        .code(77);
    let err = stderr(&a);
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    assert!(
        err.contains(
            "\nhelp: the service could not match the signature of AccessKey ID ***tor, from \
             environment variables (ALIBABA_CLOUD_ACCESS_KEY_ID): check that \
             ALIBABA_CLOUD_ACCESS_KEY_SECRET is the secret of that AccessKey"
        ),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");

    // An unknown key from the aliyun CLI's file: export.
    let cfg = dir.path("config.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"current":"prod","profiles":[{{"name":"prod","mode":"AK",
               "access_key_id":"LTAI5tNoSuchKey9Q","access_key_secret":"{secret}"}}]}}"#
        ),
    )
    .unwrap();
    let a = dir
        .unconfigured()
        .env("ALIBABA_CLOUD_CONFIG_FILE", &cfg)
        .args([
            "export",
            "--region",
            "cn-shanghai",
            "--endpoint",
            &emu.url(),
        ])
        .assert()
        .code(77);
    let err = stderr(&a);
    let shown = cfg.display();
    assert!(err.contains("InvalidAccessKeyId"), "{err}");
    assert!(
        err.contains(&format!(
            "\nhelp: the service knows no AccessKey ID ***y9Q, from aliyun CLI config {shown} \
             (profile \"prod\"): check that access_key_id of profile \"prod\" in {shown} is an \
             AccessKey of this account"
        )),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");
}
