//! `examples/ci/`: the GitHub Actions and GitLab CI examples parse as YAML, do what the README
//! says they do, and every `livebatch …` command in them is one this build accepts — parsed by
//! the real clap definition, so a renamed flag or subcommand fails here, not in a user's pipeline.

use clap::Parser;
use livebatch::cli::Cli;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/examples/ci/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"))
}

/// Every shell script in the file: `run:` (GitHub) and `script:` / `before_script:` /
/// `after_script:` (GitLab, lists flattened, aliases already expanded by the parser).
fn scripts(v: &Value, out: &mut Vec<String>) {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if matches!(
                    k.as_str(),
                    "run" | "script" | "before_script" | "after_script"
                ) {
                    strings(x, out);
                } else {
                    scripts(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| scripts(x, out)),
        _ => {}
    }
}

/// The simple commands of a shell script, as word lists: split at `;`, `&&`, `||`, `|`, braces
/// and line ends (a trailing `\` continues the line), quotes respected, redirections dropped.
fn commands(script: &str) -> Vec<Vec<String>> {
    let script = script.replace("\\\n", " ");
    let mut cmds = Vec::new();
    let (mut cmd, mut word): (Vec<String>, Option<String>) = (Vec::new(), None);
    let mut skip_next = false;
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    let end_word = |cmd: &mut Vec<String>, word: &mut Option<String>, skip: &mut bool| {
        if let Some(w) = word.take() {
            if *skip {
                *skip = false;
            } else {
                cmd.push(w);
            }
        }
    };
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else {
                word.get_or_insert_with(String::new).push(c);
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            ' ' | '\t' => end_word(&mut cmd, &mut word, &mut skip_next),
            ';' | '&' | '|' | '\n' | '{' | '}' | '(' | ')' => {
                end_word(&mut cmd, &mut word, &mut skip_next);
                if !cmd.is_empty() {
                    cmds.push(std::mem::take(&mut cmd));
                }
            }
            '>' | '<' => {
                // `2>` / `>>`: the descriptor digit is not a word; the target is skipped.
                if word
                    .as_deref()
                    .is_some_and(|w| w.chars().all(|d| d.is_ascii_digit()))
                {
                    word = None;
                }
                end_word(&mut cmd, &mut word, &mut skip_next);
                while chars.peek() == Some(&'>') {
                    chars.next();
                }
                skip_next = true;
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    end_word(&mut cmd, &mut word, &mut skip_next);
    if !cmd.is_empty() {
        cmds.push(cmd);
    }
    cmds
}

/// Every `livebatch` invocation in a CI file, with shell variables given plausible values.
fn livebatch_commands(file: &str) -> Vec<Vec<String>> {
    let mut s = Vec::new();
    scripts(&load(file), &mut s);
    assert!(!s.is_empty(), "{file}: no scripts found");
    s.iter()
        .flat_map(|x| commands(x))
        .filter(|c| c.first().is_some_and(|w| w == "livebatch"))
        .map(|c| {
            c.into_iter()
                .map(|w| w.replace("$GITHUB_STEP_SUMMARY", "/runner/_temp/step_summary_x"))
                .collect()
        })
        .collect()
}

fn check(file: &str) -> Vec<Vec<String>> {
    let cmds = livebatch_commands(file);
    for c in &cmds {
        assert!(
            !c.iter().any(|w| w.contains('$')),
            "{file}: unexpanded variable in {c:?}"
        );
        let cli = Cli::try_parse_from(c).unwrap_or_else(|e| panic!("{file}: {c:?}:\n{e}"));
        if let livebatch::cli::Command::Apply(a) = &cli.command {
            livebatch::report::check_paths(&a.reports)
                .unwrap_or_else(|e| panic!("{file}: {c:?}: {e}"));
        }
    }
    cmds
}

fn has(cmds: &[Vec<String>], words: &[&str]) -> bool {
    cmds.iter()
        .any(|c| words.iter().all(|w| c.iter().any(|x| x == w)))
}

#[test]
fn the_command_splitter_reads_shell_as_a_shell_does() {
    assert_eq!(
        commands(
            "set +e\nlivebatch plan --out 'a b.json' m.yaml > plan.txt 2>&1; echo \"livebatch x\" | tee y"
        ),
        vec![
            vec!["set", "+e"],
            vec!["livebatch", "plan", "--out", "a b.json", "m.yaml"],
            vec!["echo", "livebatch x"],
            vec!["tee", "y"],
        ]
    );
    assert_eq!(
        commands("code=0; livebatch plan m \\\n  --detailed-exitcode || code=$?"),
        vec![
            vec!["code=0"],
            vec!["livebatch", "plan", "m", "--detailed-exitcode"],
            vec!["code=$?"],
        ]
    );
    // A misspelt flag is caught by the same check the examples go through.
    let bad = ["livebatch", "plan", "--detailed-exit-code", "m.yaml"];
    assert!(Cli::try_parse_from(bad).is_err());
}

#[test]
fn github_actions_example_parses_and_uses_real_commands() {
    let cmds = check("github-actions.yml");
    assert!(has(&cmds, &["validate"]), "{cmds:?}");
    assert!(has(&cmds, &["plan", "--detailed-exitcode"]), "{cmds:?}");
    assert!(has(&cmds, &["plan", "--out"]), "{cmds:?}");
    assert!(
        has(
            &cmds,
            &[
                "apply",
                "--plan",
                "--yes",
                "--journal",
                "md:/runner/_temp/step_summary_x"
            ]
        ),
        "{cmds:?}"
    );
    assert!(has(&cmds, &["apply", "livebatch-report.xml"]), "{cmds:?}");
    let wf = load("github-actions.yml");
    assert!(wf["on"]["pull_request"].is_object(), "{wf}");
    let rollout = &wf["jobs"]["rollout"];
    assert_eq!(rollout["concurrency"]["cancel-in-progress"], false);
    let text = wf.to_string();
    assert!(text.contains("actions/upload-artifact"));
    assert!(text.contains("livebatch.journal.jsonl"));
    assert!(text.contains("GITHUB_STEP_SUMMARY"));
}

#[test]
fn gitlab_ci_example_parses_and_uses_real_commands() {
    let cmds = check("gitlab-ci.yml");
    assert!(has(&cmds, &["validate"]), "{cmds:?}");
    assert!(has(&cmds, &["plan", "--detailed-exitcode"]), "{cmds:?}");
    assert!(
        has(&cmds, &["apply", "--plan", "--yes", "--journal"]),
        "{cmds:?}"
    );
    let ci = load("gitlab-ci.yml");
    assert_eq!(ci["rollout"]["resource_group"], "livebatch-rollout");
    assert_eq!(
        ci["rollout"]["artifacts"]["reports"]["junit"],
        "livebatch-report.xml"
    );
}
