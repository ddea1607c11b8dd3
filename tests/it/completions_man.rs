//! `livebatch completions SHELL` and `livebatch man` as a user installs them: bash loads the
//! script and completes a subcommand; `man -l` renders the page without a troff warning. Both
//! need the real tools (`.ci/run` installs them): a missing `bash` or `man` fails, never skips.

use std::process::Command as Process;

use assert_cmd::Command;

fn livebatch() -> Command {
    Command::cargo_bin("livebatch").unwrap()
}

fn require(tool: &str) {
    let found = Process::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is needed by this test (.ci/run installs it)");
}

/// What bash offers after `words` with the cursor at the end of the last one.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        r#"source "$1" || exit 90
spec=$(complete -p livebatch) || exit 91
func=$(printf '%s\n' "$spec" | sed -n 's/.*-F \([^ ]*\).*/\1/p')
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
"$func" livebatch "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
    );
    let out = Process::new("bash")
        .args(["--norc", "--noprofile", "-c", &program, "complete-test"])
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_loads_the_completion_script_and_completes_subcommands_and_flags() {
    require("bash");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("livebatch.bash");
    let out = livebatch().args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(&script, &out.stdout).unwrap();

    assert_eq!(bash_completes(&script, &["livebatch", "ap"]), ["apply"]);
    let plan_flags = bash_completes(&script, &["livebatch", "plan", "--for"]);
    assert_eq!(plan_flags, ["--format"], "{plan_flags:?}");
    let formats = bash_completes(&script, &["livebatch", "plan", "--format", ""]);
    for f in ["text", "json", "markdown"] {
        assert!(formats.iter().any(|x| x == f), "{f} not in {formats:?}");
    }
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_lists_the_supported() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = livebatch().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains("apply") && s.contains("max-chars"),
            "{shell}: {s}"
        );
    }
    let out = livebatch().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
    assert!(
        err.contains("[possible values: bash, elvish, fish, powershell, zsh]"),
        "{err}"
    );
}

#[test]
fn the_manual_page_renders_with_man() {
    require("man");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("livebatch.1");
    let out = livebatch().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(&page, &out.stdout).unwrap();
    let rendered = Process::new("man")
        .args(["--warnings", "-l", "-P", "cat"])
        .arg(&page)
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&rendered.stdout);
    let warnings = String::from_utf8_lossy(&rendered.stderr);
    assert!(rendered.status.success(), "{warnings}");
    assert!(warnings.trim().is_empty(), "troff warnings: {warnings}");
    for part in [
        "NAME",
        "SYNOPSIS",
        "SUBCOMMANDS",
        "livebatch-apply(1)",
        "livebatch-completions(1)",
    ] {
        assert!(text.contains(part), "{part} missing from:\n{text}");
    }

    // One page per subcommand for an archive's share/man/man1.
    let man1 = dir.path().join("man1");
    livebatch()
        .args(["man", "--out-dir"])
        .arg(&man1)
        .assert()
        .code(0);
    for page in ["livebatch.1", "livebatch-plan.1", "livebatch-apply.1"] {
        assert!(man1.join(page).is_file(), "{page}");
    }
    let plan = Process::new("man")
        .args(["-l", "-P", "cat"])
        .arg(man1.join("livebatch-plan.1"))
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&plan.stdout).contains("--max-chars"));
}
