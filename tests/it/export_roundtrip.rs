//! What `export` writes, `validate` accepts unchanged and the emulator's `--seed` rebuilds: the
//! round trip a user makes to start a migration file from what is live.

use std::path::Path;

use assert_cmd::Command;
use livebatch::emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, Emulator, EmulatorConfig, SeedTask,
};
use livebatch::model::{SourceType, TaskStatus};

fn seed_task(
    id: &str,
    st: SourceType,
    urls: &[&str],
    status: TaskStatus,
    start: i64,
    end: i64,
) -> SeedTask {
    let mut t = crate::support::emulator::seed_task(id, st, urls, status, start, end);
    t.task_name = format!("name-{id}");
    t.repeat_number = if st == SourceType::Live { 0 } else { -1 };
    t
}

fn livebatch(home: &Path) -> Command {
    let mut c = Command::cargo_bin("livebatch").unwrap();
    c.env_clear()
        .env("HOME", home)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET);
    c
}

#[test]
fn export_output_validates_unchanged_and_seeds_the_emulator() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let seed = vec![
        seed_task(
            "rt-url",
            SourceType::Url,
            &["https://m.example.com/a.mp4", "https://m.example.com/b.flv"],
            TaskStatus::Stopped,
            -3600,
            86_400,
        ),
        seed_task(
            "rt-vod",
            SourceType::Vod,
            &["3f8e1c2b9a7d4e6f8a0b1c2d3e4f5a6b"],
            TaskStatus::Stopped,
            -3600,
            86_400,
        ),
        seed_task(
            "rt-live",
            SourceType::Live,
            &["rtmp://origin.example.com/app/s"],
            TaskStatus::Running,
            -60,
            3_600,
        ),
        seed_task(
            "rt-later",
            SourceType::Url,
            &["https://m.example.com/c.mp4"],
            TaskStatus::NotStarted,
            3_600,
            7_200,
        ),
        seed_task(
            "rt-ended",
            SourceType::Url,
            &["https://m.example.com/d.mp4"],
            TaskStatus::Exited,
            -7_200,
            -3_600,
        ),
    ];
    let emu = rt
        .block_on(Emulator::start(EmulatorConfig {
            seed,
            qps: 1000,
            ..EmulatorConfig::default()
        }))
        .unwrap();
    let url = emu.url();
    let dir = tempfile::tempdir().unwrap();

    for format in ["yaml", "json", "csv"] {
        let out = dir.path().join(format!("tasks.{format}"));
        let assert = livebatch(dir.path())
            .args([
                "export",
                "--region",
                "cn-shanghai",
                "--endpoint",
                &url,
                "--format",
                format,
                "-o",
            ])
            .arg(&out)
            .assert()
            .success();
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(
            stderr.contains("rt-ended"),
            "the skipped exited task is noted: {stderr}"
        );
        let text = std::fs::read_to_string(&out).unwrap();
        for id in ["rt-url", "rt-vod", "rt-live", "rt-later"] {
            assert!(text.contains(id), "{format} export lists {id}:\n{text}");
        }
        assert!(!text.contains("rt-ended"));
        livebatch(dir.path())
            .arg("validate")
            .arg(&out)
            .assert()
            .success();
    }

    // Every format of the export seeds a fresh emulator with the same tasks and statuses.
    for format in ["yaml", "json", "csv"] {
        let path = dir.path().join(format!("tasks.{format}"));
        let tasks = livebatch::emulator::seed::from_files(&[path], emu.clock().now())
            .unwrap()
            .tasks;
        let mut ids: Vec<_> = tasks
            .iter()
            .map(|t| (t.task_id.clone(), t.task_status))
            .collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(ids.len(), 4, "{format}");
        assert_eq!(
            ids[0],
            ("rt-later".to_string(), TaskStatus::NotStarted),
            "{format}"
        );
        assert_eq!(
            ids[1],
            ("rt-live".to_string(), TaskStatus::Running),
            "{format}"
        );
        assert_eq!(
            ids[2],
            ("rt-url".to_string(), TaskStatus::Stopped),
            "{format}"
        );
        let url = tasks.iter().find(|t| t.task_id == "rt-url").unwrap();
        assert_eq!(url.source_urls.len(), 2, "{format}");
        assert_eq!(
            url.dst_url, "rtmp://push.example.com/live/rt-url",
            "{format}"
        );
    }
    rt.block_on(emu.shutdown()).unwrap();
}
