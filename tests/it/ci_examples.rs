//! `examples/ci/`, `action.yml` and the release workflow: the examples parse as YAML, do what the
//! README says they do (plan with the read-only key, one sticky comment, apply exactly the reviewed
//! plan with the apply key on that step only), every `livebatch …` command in them is one this
//! build accepts — parsed by the real clap definition, so a renamed flag or subcommand fails here,
//! not in a user's pipeline — and the release archives' names agree between the workflow that
//! makes them, the setup action and `cargo binstall`. (The linters themselves, actionlint and
//! GitLab's schema, run in `.ci/run`.)

use clap::Parser;
use livebatch::cli::Cli;
use serde_json::Value;

fn load(name: &str) -> Value {
    load_path(&format!("examples/ci/{name}"))
}

fn read(rel: &str) -> String {
    let path = format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load_path(rel: &str) -> Value {
    let path = format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"));
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
/// and line ends (a trailing `\` continues the line), quotes respected, comments and
/// redirections dropped.
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
            // A comment runs to the end of the line (its apostrophes are not quotes).
            '#' if word.is_none() => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
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
    scripts(&load_path(file), &mut s);
    assert!(!s.is_empty(), "{file}: no scripts found");
    s.iter()
        .flat_map(|x| commands(x))
        // `then NAME=value livebatch …`: a keyword, variables for that one command.
        .map(|c| {
            let is_assignment = |w: &String| {
                w.split_once('=').is_some_and(|(name, _)| {
                    !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                })
            };
            let keyword = |w: &String| matches!(w.as_str(), "then" | "else" | "do" | "!");
            c.into_iter()
                .skip_while(|w| keyword(w) || is_assignment(w))
                .collect::<Vec<_>>()
        })
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
        let cli = match Cli::try_parse_from(c) {
            Ok(cli) => cli,
            // `livebatch --version` after installing: clap answers it as an "error" kind.
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => continue,
            Err(e) => panic!("{file}: {c:?}:\n{e}"),
        };
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

/// The steps of a job, by name.
fn step<'a>(job: &'a Value, name_starts: &str) -> &'a Value {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(name_starts))
        })
        .unwrap_or_else(|| panic!("no step {name_starts:?} in {job}"))
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
    assert_eq!(
        commands("# the merge request's head\nlivebatch validate m.yaml # it's checked"),
        vec![vec!["livebatch", "validate", "m.yaml"]]
    );
    // A misspelt flag is caught by the same check the examples go through.
    let bad = ["livebatch", "plan", "--detailed-exit-code", "m.yaml"];
    assert!(Cli::try_parse_from(bad).is_err());
}

#[test]
fn github_actions_example_plans_read_only_and_applies_the_reviewed_plan() {
    let file = "examples/ci/github-actions.yml";
    let cmds = check(file);
    assert!(has(&cmds, &["validate"]), "{cmds:?}");
    assert!(
        has(
            &cmds,
            &[
                "plan",
                "--format",
                "markdown",
                "--out",
                "plan.json",
                "--detailed-exitcode"
            ]
        ),
        "{cmds:?}"
    );
    assert!(
        has(
            &cmds,
            &[
                "apply",
                "--plan",
                "reviewed/plan.json",
                "--max-age",
                "--yes",
                "--journal"
            ]
        ),
        "{cmds:?}"
    );
    // Nothing is compiled in CI: the setup action installs a pinned release.
    let text = read(file);
    assert!(!text.contains("cargo install"), "{file}");
    let wf = load("github-actions.yml");
    let (plan, rollout) = (&wf["jobs"]["plan"], &wf["jobs"]["rollout"]);
    for job in [plan, rollout] {
        let install = step(job, "Install livebatch");
        assert!(
            install["uses"].as_str().unwrap().contains("/livebatch@v"),
            "{install}"
        );
        assert!(install["with"]["version"].is_string(), "{install}");
        // The key is on the steps that call the API, never on the job or the install.
        assert!(job["env"].is_null(), "{job}");
        assert!(!install.to_string().contains("secrets."), "{install}");
        for s in job["steps"].as_array().unwrap() {
            if let Some(uses) = s["uses"].as_str() {
                assert!(
                    ![
                        "actions/checkout@v4",
                        "actions/upload-artifact@v4",
                        "actions/github-script@v7"
                    ]
                    .contains(&uses),
                    "{uses} runs on node20, which GitHub removes"
                );
            }
        }
    }
    // The pull request plans with the read-only key and posts one comment, found by its marker.
    let planned = step(plan, "Plan with the read-only key");
    assert!(
        planned
            .to_string()
            .contains("secrets.LIVEBATCH_READONLY_KEY_ID")
    );
    let comment = step(plan, "Post or update the one plan comment").to_string();
    assert!(
        comment.contains("PATCH") && comment.contains("POST") && comment.contains("startswith")
    );
    assert_eq!(plan["permissions"]["pull-requests"], "write");
    let upload = step(plan, "Keep the reviewed plan");
    assert!(
        upload["with"]["name"]
            .as_str()
            .unwrap()
            .contains("pull_request.head.sha")
    );
    // The merge applies the artifact of the merged head commit, with the apply key on that step.
    let apply = step(rollout, "Apply exactly the reviewed plan");
    assert!(apply.to_string().contains("secrets.LIVEBATCH_APPLY_KEY_ID"));
    assert_eq!(apply["if"], "steps.reviewed.outputs.found == 'true'");
    let find = step(rollout, "Find the plan reviewed").to_string();
    assert!(
        find.contains("gh run download") && find.contains("livebatch-plan-$head"),
        "{find}"
    );
    let replan = step(rollout, "No reviewed plan, or refused");
    assert!(
        replan
            .to_string()
            .contains("secrets.LIVEBATCH_READONLY_KEY_ID")
    );
    assert!(
        replan["run"]
            .as_str()
            .unwrap()
            .trim_end()
            .ends_with("exit 1")
    );
    assert_eq!(rollout["concurrency"]["cancel-in-progress"], false);
    assert_eq!(rollout["environment"], "production");
    // Only the one apply step holds the apply key.
    assert_eq!(wf.to_string().matches("LIVEBATCH_APPLY_KEY_ID").count(), 1);
}

#[test]
fn gitlab_ci_example_handles_protected_variables_and_applies_the_reviewed_plan() {
    let file = "examples/ci/gitlab-ci.yml";
    let cmds = check(file);
    assert!(has(&cmds, &["validate"]), "{cmds:?}");
    assert!(
        has(
            &cmds,
            &["plan", "--format", "markdown", "--out", "plan.json"]
        ),
        "{cmds:?}"
    );
    assert!(
        has(
            &cmds,
            &[
                "apply",
                "--plan",
                "reviewed/plan.json",
                "--max-age",
                "--yes",
                "--journal"
            ]
        ),
        "{cmds:?}"
    );
    let text = read(file);
    assert!(!text.contains("cargo install"));
    assert!(text.contains("sha256sum -c"));
    assert!(text.contains("protected variables only to"));
    let ci = load("gitlab-ci.yml");
    assert_eq!(ci["rollout"]["resource_group"], "livebatch-rollout");
    assert_eq!(
        ci["rollout"]["artifacts"]["reports"]["junit"],
        "livebatch-report.xml"
    );
    let plan = ci["plan"]["script"].to_string();
    assert!(plan.contains("LIVEBATCH_READONLY_KEY_ID") && !plan.contains("LIVEBATCH_APPLY_KEY"));
    assert!(plan.contains("merge_requests/$CI_MERGE_REQUEST_IID/notes") && plan.contains("PUT"));
    let rollout = ci["rollout"]["script"].to_string();
    assert!(rollout.contains("LIVEBATCH_APPLY_KEY_ID") && rollout.contains("exit 1"));
}

#[test]
fn ram_policies_grant_exactly_the_operations_each_key_calls() {
    use livebatch::api::operation::Operation;
    let actions = |name: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(&read(&format!("examples/ci/{name}"))).unwrap();
        assert_eq!(v["Version"], "1");
        let st = &v["Statement"][0];
        assert_eq!(st["Effect"], "Allow");
        serde_json::from_value(st["Action"].clone()).unwrap()
    };
    let covers = |granted: &[String], op: Operation| {
        granted.iter().any(|g| {
            let g = g.strip_prefix("live:").unwrap();
            match g.strip_suffix('*') {
                Some(prefix) => op.action().starts_with(prefix),
                None => op.action() == g,
            }
        })
    };
    let read_only = actions("ram-policy-plan-readonly.json");
    let apply = actions("ram-policy-apply.json");
    for op in Operation::ALL {
        assert_eq!(
            covers(&read_only, op),
            op.is_read(),
            "read-only key and {op}"
        );
        let applies =
            op.is_read() || matches!(op, Operation::Update | Operation::Stop | Operation::Restart);
        assert_eq!(covers(&apply, op), applies, "apply key and {op}");
    }
}

#[test]
fn release_archives_have_one_name_for_the_workflow_the_action_and_binstall() {
    let release = read(".github/workflows/release.yml");
    let action = read("action.yml");
    let cargo = read("Cargo.toml");
    // The workflow names archives livebatch-VERSION-TARGET.tar.gz / .zip.
    assert!(release.contains(r#"name="livebatch-$version-$target""#));
    assert!(release.contains(r#"tar -C stage -czf "dist/$name.tar.gz" "$name""#));
    assert!(release.contains(r#"zip -qr "../dist/$name.zip" "$name""#));
    assert!(release.contains(r#"sha256sum "$archive" > "$archive.sha256""#));
    // The action downloads the same names from the same tag.
    assert!(action.contains(r#"name="livebatch-$version-$target""#));
    assert!(
        action.contains(r#"base="https://github.com/$REPOSITORY/releases/download/v$VERSION""#)
    );
    // binstall: the same URL and the binary inside the archive's top directory.
    assert!(cargo.contains(
        r#"pkg-url = "{ repo }/releases/download/v{ version }/{ name }-{ version }-{ target }{ archive-suffix }""#
    ));
    assert!(cargo.contains(r#"bin-dir = "{ name }-{ version }-{ target }/{ bin }{ binary-ext }""#));
    // Every target the action maps a runner to is built.
    for target in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        assert!(release.contains(&format!("target: {target},")), "{target}");
        assert!(action.contains(&format!("target={target};")), "{target}");
    }
    // What the archives hold exists.
    for f in ["README.md", "LICENSE-MIT", "LICENSE-APACHE"] {
        assert!(release.contains(f));
        assert!(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(f)
                .is_file(),
            "{f}"
        );
    }
    // Every workflow and action uses node24 majors of GitHub's own actions.
    for text in [
        &release,
        &action,
        &read(".github/workflows/ci.yml"),
        &read("examples/ci/github-actions.yml"),
    ] {
        for old in [
            "checkout@v4",
            "checkout@v3",
            "upload-artifact@v4",
            "upload-artifact@v5",
            "download-artifact@v4",
            "cache@v4",
        ] {
            assert!(!text.contains(&format!("actions/{old}")), "actions/{old}");
        }
    }
    let docker = read("Dockerfile");
    assert!(docker.contains("FROM rust:1-alpine AS build"));
    assert!(docker.contains("FROM gcr.io/distroless/static-debian12:nonroot"));
    assert!(docker.contains("--locked"));
}
