//! `livebatch export` end to end: the real binary against an in-test server on loopback, with a
//! controlled environment (no real credentials or home directory are ever read).

use crate::support::server::{Reply, TestServer, task};
use assert_cmd::Command;
use livebatch::export::{ExportDoc, read_export};

const SECRET: &str = "export-test-secret";

fn cmd(home: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("livebatch").unwrap();
    c.env_clear()
        .env("HOME", home)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIexport")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET);
    c
}

fn tasks() -> Vec<livebatch::api::models::TaskState> {
    let mut v: Vec<_> = (0..130).map(|i| task(i, i as i32 % 4)).collect();
    v[3].task_status = -1; // exited: skipped
    v[5].task_info.end_time = "2020-01-01T00:00:00Z".into(); // ended: skipped
    v[7].task_info.callback_url = "https://hooks.example.com/notify?x=1:y*ü&q='a'#f".into();
    v[8].task_info.source_type = "live".into();
    v[8].task_info.source_urls = vec!["rtmp://src.example.com/app/s".into()];
    v[8].task_info.source_protocol = "rtmp".into();
    // Live values the offline rules refuse: each is left out, not exported broken.
    v[9].task_info.callback_url = "ftp://not-a-webhook".into();
    v[10].task_info.offset = 0;
    v[11].task_info.file_index = 4;
    v[12].task_info.source_urls = vec!["https://media.example.com/v/has space.mp4".into()];
    v[13].task_info.start_time = "2029-12-01T00:00:00Z".into();
    v
}

#[test]
fn exports_yaml_that_parses_back_with_every_task_and_annotation() {
    let server = TestServer::start(SECRET, crate::support::server::list_handler(tasks()));
    let home = tempfile::tempdir().unwrap();
    let out = cmd(home.path())
        .args([
            "export",
            "--region",
            "cn-shanghai",
            "--now",
            "2029-06-01T00:00:00Z",
            "--endpoint",
        ])
        .arg(server.url())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    server.assert_all_signed();
    assert_eq!(server.recorded().len(), 2, "130 tasks = 2 pages of 100");
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.starts_with("# Exported by livebatch from region cn-shanghai at 2029-06-01T00:00:00Z: 128 task(s), 2 skipped."));
    let doc: ExportDoc = read_export(&yaml).unwrap();
    assert_eq!(doc.updates.len(), 128);
    assert!(
        stderr.contains("note: skipped task-0003: exited"),
        "{stderr}"
    );
    assert!(
        stderr.contains("note: skipped task-0005: EndTime 2020-01-01T00:00:00Z"),
        "{stderr}"
    );
    let t7 = doc
        .updates
        .iter()
        .find(|u| u.task_id == "task-0007")
        .unwrap();
    assert_eq!(
        t7.callback_url.as_deref(),
        Some("https://hooks.example.com/notify?x=1:y*ü&q='a'#f")
    );
    let t8 = doc
        .updates
        .iter()
        .find(|u| u.task_id == "task-0008")
        .unwrap();
    assert_eq!(t8.source_protocol, "rtmp");
    assert_eq!(t8.repeat_number, None);
    let get = |id: &str| doc.updates.iter().find(|u| u.task_id == id).unwrap();
    assert_eq!(get("task-0009").callback_url, None);
    assert_eq!(get("task-0010").offset, None);
    assert_eq!(get("task-0011").file_index, None);
    assert_eq!(get("task-0012").source_urls, None);
    assert_eq!(get("task-0013").start_time, None);
    for id in ["task-0009", "task-0011", "task-0012", "task-0013"] {
        assert!(stderr.contains(&format!("note: {id}: ")), "{id}: {stderr}");
    }
    // Generic parse: the manifest shape every reader expects, with the annotation names.
    let generic: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    let first = &generic["updates"][0];
    for key in [
        "TaskId",
        "Region",
        "SourceType",
        "SourceUrls",
        "StartTime",
        "EndTime",
        "x-TaskStatus",
        "x-TaskName",
        "x-DstUrl",
    ] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    assert!(first["x-TaskStatus"].is_i64());
    assert!(first["SourceUrls"].is_array());
    assert!(first.get("CallbackURL").is_none());
    // The promise: validate's offline rules accept every exported update as it is.
    let now = livebatch::model::ApiTime::parse("2029-06-01T00:00:00Z").unwrap();
    for u in &doc.updates {
        let errors: Vec<_> = livebatch::rules::check_offline(&u.to_update(), now)
            .into_iter()
            .filter(|v| v.severity == livebatch::rules::Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", u.task_id);
    }
}

#[test]
fn json_and_csv_formats_and_atomic_file_output() {
    let server = TestServer::start(SECRET, crate::support::server::list_handler(tasks()));
    let home = tempfile::tempdir().unwrap();
    let json_path = home.path().join("tasks.json");
    cmd(home.path())
        .args([
            "export",
            "--region",
            "cn-shanghai",
            "--format",
            "json",
            "--now",
            "2029-06-01T00:00:00Z",
            "-q",
        ])
        .args(["--task-id", "task-01", "-o"])
        .arg(&json_path)
        .env("LIVEBATCH_ENDPOINT", server.url())
        .assert()
        .success()
        .stderr("");
    let text = std::fs::read_to_string(&json_path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["updates"].as_array().unwrap().len(),
        30,
        "task-0100..task-0129"
    );
    assert_eq!(
        read_export(&text).unwrap().updates.len(),
        30,
        "JSON is YAML too"
    );
    assert_eq!(server.recorded()[0].param("TaskId"), Some("task-01"));
    let leftovers: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

    let out = cmd(home.path())
        .args([
            "export",
            "--region",
            "cn-shanghai",
            "--format",
            "csv",
            "--now",
            "2029-06-01T00:00:00Z",
        ])
        .env("LIVEBATCH_ENDPOINT", server.url())
        .output()
        .unwrap();
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        livebatch::export::CSV_COLUMNS
    );
    assert_eq!(r.records().count(), 128);
}

#[test]
fn no_credentials_exits_77_and_says_what_was_tried() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("livebatch")
        .unwrap()
        .env_clear()
        .env("HOME", home.path())
        .args([
            "export",
            "--region",
            "cn-shanghai",
            "--endpoint",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no Alibaba Cloud credentials found"),
        "{stderr}"
    );
    assert!(stderr.contains(".aliyun/config.json"), "{stderr}");
    assert!(stderr.contains(".alibabacloud/credentials"), "{stderr}");
}

#[test]
fn systemic_api_errors_exit_77_and_others_exit_1() {
    for (code, status, exit) in [
        ("InvalidAccessKeyId.NotFound", 404, 77),
        ("InternalError", 500, 1),
    ] {
        let server = TestServer::start(SECRET, move |_r: &crate::support::server::Recorded| {
            Reply::error(status, code, "nope")
        });
        let home = tempfile::tempdir().unwrap();
        let out = cmd(home.path())
            .args(["export", "--region", "cn-beijing", "--endpoint"])
            .arg(server.url())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(exit), "{code}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(code) && stderr.contains("req-err-1"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn plain_http_to_a_remote_host_is_refused_as_usage() {
    let home = tempfile::tempdir().unwrap();
    let out = cmd(home.path())
        .args([
            "export",
            "--region",
            "cn-beijing",
            "--endpoint",
            "http://live.aliyuncs.com",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not loopback"));
}

#[test]
fn bad_region_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let out = cmd(home.path())
        .args(["export", "--region", "mars-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cn-shanghai"));
}

#[test]
fn unwritable_output_is_a_runtime_failure() {
    let server = TestServer::start(SECRET, crate::support::server::list_handler(tasks()));
    let home = tempfile::tempdir().unwrap();
    let out = cmd(home.path())
        .args(["export", "--region", "cn-shanghai", "-o"])
        .arg(home.path().join("no-such-dir/out.yaml"))
        .arg("--endpoint")
        .arg(server.url())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-dir/out.yaml"));
}
