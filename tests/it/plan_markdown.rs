//! `plan --format markdown` from the binary against the emulator: the comment CI posts on a pull
//! request — its marker, header, hashes and apply command — and its flags' bad input.

use crate::support::emulator::{Emu, at, seed_task as task};
use assert_cmd::Command;
use livebatch::emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET};
use livebatch::model::{SourceType, TaskStatus};
use sha2::{Digest, Sha256};

const MP4: &[&str] = &["https://media.example.com/a.mp4"];

struct Env {
    emu: Emu,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let seed = vec![
            task(
                "t-running",
                SourceType::Url,
                MP4,
                TaskStatus::Running,
                -3_600,
                86_400,
            ),
            task(
                "t-stopped",
                SourceType::Url,
                MP4,
                TaskStatus::Stopped,
                -3_600,
                86_400,
            ),
            task(
                "t-ended",
                SourceType::Url,
                MP4,
                TaskStatus::Exited,
                -7_200,
                -3_600,
            ),
            task(
                "t-same",
                SourceType::Url,
                MP4,
                TaskStatus::Stopped,
                -3_600,
                86_400,
            ),
        ];
        Env {
            emu: Emu::seeded(1000, None, seed),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("livebatch").unwrap();
        c.env_clear()
            .env("HOME", self.dir.path())
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
            .env("LIVEBATCH_ENDPOINT", self.emu.url());
        c
    }

    fn manifest(&self, body: &str) -> std::path::PathBuf {
        let p = self.dir.path().join("m.yaml");
        std::fs::write(&p, body).unwrap();
        p
    }
}

fn sha256_hex(path: &std::path::Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_markdown_plan_is_the_comment_a_reviewer_reads() {
    let env = Env::new();
    let m = env.manifest(&format!(
        "defaults:\n  Region: cn-shanghai\nupdates:\n\
         - TaskId: t-running\n  SourceUrls: [https://media.example.com/new.mp4]\n\
         - TaskId: t-stopped\n  CallbackUrl: https://hooks.new.example.com/cb\n\
         - TaskId: t-ended\n  EndTime: {}\n\
         - TaskId: t-same\n  CallbackUrl: https://hooks.old.example.com/cb\n\
         - TaskId: t-nowhere\n  CallbackUrl: https://hooks.new.example.com/cb\n",
        at(172_800)
    ));
    let plan = env.dir.path().join("plan.json");
    let out = env
        .cmd()
        .args([
            "plan",
            "--format",
            "md",
            "--restart-running",
            "--detailed-exitcode",
            "--marker",
            "production",
            "--out",
        ])
        .arg(&plan)
        .arg(&m)
        .output()
        .unwrap();
    let md = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{md}\n{}", text(&out.stderr));
    assert!(
        md.starts_with("<!-- livebatch plan: production -->\n"),
        "{md}"
    );
    assert!(
        md.contains("### livebatch plan: 2 to change · 1 blocked · 1 missing · 1 up to date"),
        "{md}"
    );
    assert!(
        md.contains("**1 running stream(s) will be stopped and restarted**"),
        "{md}"
    );
    assert!(
        md.contains("**Estimated duration:** about 1s at 10 calls/s"),
        "{md}"
    );
    // The manifest's and the saved plan's SHA-256, as they are on disk.
    assert!(md.contains(&sha256_hex(&m)), "{md}");
    assert!(md.contains(&sha256_hex(&plan)), "{md}");
    assert!(
        md.contains(&format!(
            "```sh\nlivebatch apply --plan {}\n```",
            plan.display()
        )),
        "{md}"
    );
    assert!(
        md.contains(
            "<b>SourceUrls</b>: <ol><li><code>https://media.example.com/a.mp4</code></li></ol> → \
             <ol><li><code>https://media.example.com/new.mp4</code></li></ol>"
        ),
        "{md}"
    );
    for class in [
        "To change</b> (2)",
        "Blocked: cannot change now</b> (1)",
        "Missing: no such task</b> (1)",
        "Already up to date</b> (1)",
    ] {
        assert!(md.contains(class), "{class}: {md}");
    }
    assert!(md.chars().count() <= 60_000);

    // The same plan in a smaller budget: cut between rows, every item still counted.
    let out = env
        .cmd()
        .args(["plan", "--format", "markdown", "--max-chars", "1800"])
        .arg(&m)
        .output()
        .unwrap();
    let small = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{small}\n{}", text(&out.stderr));
    assert!(small.chars().count() <= 1800, "{}", small.chars().count());
    assert!(small.contains("… and "), "{small}");
    // Without --out the command plans again, with the manifest's path.
    assert!(
        small.contains(&format!("livebatch apply {}", m.display())),
        "{small}"
    );
}

#[test]
fn nothing_to_change_is_one_marked_line() {
    let env = Env::new();
    let m = env.manifest(
        "updates:\n- TaskId: t-same\n  Region: cn-shanghai\n  CallbackUrl: https://hooks.old.example.com/cb\n",
    );
    let out = env
        .cmd()
        .args(["plan", "--format", "markdown", "--detailed-exitcode"])
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "<!-- livebatch plan: default --> livebatch plan: nothing to change, all 1 task(s) \
         already match the manifests.\n"
    );
}

#[test]
fn markdown_flags_refuse_bad_input_as_usage_errors() {
    let env = Env::new();
    let m = env.manifest(
        "updates:\n- TaskId: t-stopped\n  Region: cn-shanghai\n  CallbackUrl: https://hooks.new.example.com/cb\n",
    );
    let out = env
        .cmd()
        .args(["plan", "--format", "markdown", "--max-chars", "200"])
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = text(&out.stderr);
    assert!(err.contains("--max-chars 200 is too small"), "{err}");
    assert!(err.contains("the plan's header alone needs"), "{err}");

    let out = env
        .cmd()
        .args(["plan", "--max-chars", "5000"])
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        text(&out.stderr).contains("add --format markdown"),
        "{}",
        text(&out.stderr)
    );

    let out = env
        .cmd()
        .args(["plan", "--offline", "--format", "md"])
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("--offline prints text or json"));

    let out = env
        .cmd()
        .args(["plan", "--format", "md", "--marker", "a-->b"])
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        text(&out.stderr).contains("--marker"),
        "{}",
        text(&out.stderr)
    );
    // Nothing of it was sent.
    assert_eq!(env.emu.stats().count("UpdateLivePullToPush", "ok"), 0);
}
