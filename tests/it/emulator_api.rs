//! The seven operations over real signed HTTP, with a manual clock driving the lifecycle.

use crate::support::emulator::{How, Signer, t};
use livebatch::emulator::{Clock, Emulator, EmulatorConfig, EmulatorHandle, SeedTask};
use livebatch::model::{Region, SourceType, TaskStatus};

const NOW: &str = "2026-03-01T00:00:00Z";

async fn start() -> (EmulatorHandle, Signer) {
    let clock = Clock::manual(t(NOW));
    let emu = Emulator::start(EmulatorConfig {
        clock: clock.clone(),
        qps: 0,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let s = Signer::new(&emu.url(), clock);
    (emu, s)
}

fn create_params<'a>(name: &'a str, start: &'a str, end: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Region", "cn-shanghai"),
        ("SourceType", "url"),
        (
            "SourceUrls",
            r#"["https://cdn.example.com/a.mp4","https://cdn.example.com/b.mp4"]"#,
        ),
        ("DstUrl", "rtmp://push.example.com/app/stream-1"),
        ("StartTime", start),
        ("EndTime", end),
        ("TaskName", name),
        ("CallbackUrl", "https://hooks.example.com/live"),
    ]
}

async fn create(s: &Signer, name: &str, start: &str, end: &str) -> String {
    let r = s
        .call("CreateLivePullToPush", &create_params(name, start, end))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["RetCode"], 0);
    r.body["TaskId"].as_str().unwrap().to_string()
}

async fn status(s: &Signer, id: &str) -> i64 {
    status_in(s, id, "cn-shanghai").await
}

async fn status_in(s: &Signer, id: &str, region: &str) -> i64 {
    let r = s
        .call(
            "DescribeLivePullToPush",
            &[("TaskId", id), ("Region", region)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["TaskStatus"].as_i64().unwrap()
}

#[tokio::test]
async fn every_operation_and_the_lifecycle() {
    let (emu, s) = start().await;
    let id = create(&s, "first", "2026-03-01T01:00:00Z", "2026-03-02T00:00:00Z").await;
    assert_eq!(id.len(), 36);

    let d = s
        .call(
            "DescribeLivePullToPush",
            &[("TaskId", &id), ("Region", "cn-shanghai")],
        )
        .await;
    assert_eq!(d.body["TaskStatus"], 0);
    assert_eq!(
        d.body["TaskInfo"]["CallbackURL"],
        "https://hooks.example.com/live"
    );
    assert_eq!(
        d.body["TaskInfo"]["SourceUrls"][1],
        "https://cdn.example.com/b.mp4"
    );
    assert_eq!(d.body["TaskInfo"]["RetryInterval"], 60);
    assert!(d.body.get("CallbackUrl").is_none());

    // Before the start: Region and StartTime may change.
    let u = s
        .call(
            "UpdateLivePullToPush",
            &[
                ("TaskId", &id),
                ("Region", "cn-beijing"),
                ("StartTime", "2026-03-01T02:00:00Z"),
            ],
        )
        .await;
    assert_eq!(
        (u.status, u.body["RetCode"].as_i64()),
        (200, Some(0)),
        "{}",
        u.body
    );

    // Describe answers for the task's region only: it moved to cn-beijing.
    let gone = s
        .call(
            "DescribeLivePullToPush",
            &[("TaskId", &id), ("Region", "cn-shanghai")],
        )
        .await;
    assert_eq!(gone.code(), "CodeTaskNotExist", "{}", gone.body);

    emu.clock().set(t("2026-03-01T02:00:00Z"));
    assert_eq!(
        status_in(&s, &id, "cn-beijing").await,
        1,
        "running at StartTime"
    );

    let stop = s
        .call(
            "StopLivePullToPush",
            &[("TaskId", &id), ("Region", "cn-beijing")],
        )
        .await;
    assert_eq!(
        (stop.status, stop.body["TaskId"].as_str()),
        (200, Some(id.as_str()))
    );
    assert_eq!(status_in(&s, &id, "cn-beijing").await, 3);

    let restart = s
        .call(
            "RestartLivePullToPush",
            &[("TaskId", &id), ("Region", "cn-beijing")],
        )
        .await;
    assert_eq!(restart.status, 200);
    assert_eq!(status_in(&s, &id, "cn-beijing").await, 1);

    emu.clock().set(t("2026-03-02T00:00:00Z"));
    let d = s
        .call(
            "DescribeLivePullToPush",
            &[("TaskId", &id), ("Region", "cn-beijing")],
        )
        .await;
    assert_eq!(d.body["TaskStatus"], -1);
    assert_eq!(d.body["TaskExitReason"], "OverEndTime");

    let del = s
        .call(
            "DeleteLivePullToPush",
            &[("TaskId", &id), ("Region", "cn-beijing")],
        )
        .await;
    assert_eq!((del.status, del.body["RetCode"].as_i64()), (200, Some(0)));
    let gone = s
        .call(
            "DescribeLivePullToPush",
            &[("TaskId", &id), ("Region", "cn-beijing")],
        )
        .await;
    assert_eq!((gone.status, gone.code()), (400, "CodeTaskNotExist"));
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn restart_before_start_has_no_effect_and_post_forms_work() {
    let (emu, s) = start().await;
    let p = create_params("f", "2026-03-01T01:00:00Z", "2026-03-01T05:00:00Z");
    let r = s.call_how(How::PostForm, "CreateLivePullToPush", &p).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["TaskId"].as_str().unwrap().to_string();
    let r = s
        .call_how(
            How::PostForm,
            "RestartLivePullToPush",
            &[("TaskId", &id), ("Region", "cn-shanghai")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(status(&s, &id).await, 0);
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn per_state_update_rules_answer_the_documented_codes() {
    let (emu, s) = start().await;
    let id = create(&s, "rules", "2026-03-01T01:00:00Z", "2026-03-03T00:00:00Z").await;
    let upd = |extra: Vec<(&'static str, &'static str)>| {
        let id = id.clone();
        let s = &s;
        async move {
            let mut p = vec![("TaskId", id.as_str()), ("Region", "cn-shanghai")];
            p.extend(extra);
            s.call("UpdateLivePullToPush", &p).await
        }
    };
    // Format and range errors, whatever the state.
    let r = upd(vec![("RepeatNumber", "1e3")]).await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter"));
    let r = upd(vec![("EndTime", "2026-03-09T01:00:01Z")]).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidParam.CodeIllegalDuration")
    );
    let r = upd(vec![("StartTime", "2026-3-1T01:00:00Z")]).await;
    assert_eq!(r.code(), "InvalidParameter");
    let r = s
        .call(
            "UpdateLivePullToPush",
            &[
                ("TaskId", "no-such-task"),
                ("Region", "cn-shanghai"),
                ("FileIndex", "1"),
            ],
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "CodeTaskNotExist"));
    let r = s
        .call("UpdateLivePullToPush", &[("Region", "cn-shanghai")])
        .await;
    assert_eq!((r.status, r.code()), (400, "MissingParameter"));

    // Running: only CallbackUrl and RepeatNumber.
    emu.clock().set(t("2026-03-01T01:00:00Z"));
    assert_eq!(
        upd(vec![
            ("RepeatNumber", "-1"),
            ("CallbackUrl", "https://h.example.com/x")
        ])
        .await
        .status,
        200
    );
    let r = upd(vec![("SourceUrls", r#"["https://cdn.example.com/c.mp4"]"#)]).await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter"));
    let r = upd(vec![("StartTime", "2026-03-01T03:00:00Z")]).await;
    assert_eq!(r.code(), "CodeTaskHasStarted");
    let r = s
        .call(
            "UpdateLivePullToPush",
            &[("TaskId", &id), ("Region", "cn-beijing")],
        )
        .await;
    assert_eq!(r.code(), "CodeTaskHasStarted");

    // Stopped: everything but Region (and StartTime, which is past).
    s.call(
        "StopLivePullToPush",
        &[("TaskId", &id), ("Region", "cn-shanghai")],
    )
    .await;
    let r = upd(vec![
        (
            "SourceUrls",
            r#"["https://cdn.example.com/c.mp4","https://cdn.example.com/d.flv"]"#,
        ),
        ("FileIndex", "1"),
        ("Offset", "30"),
        ("EndTime", "2026-03-04T00:00:00Z"),
    ])
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = upd(vec![("FileIndex", "2")]).await;
    assert_eq!(r.code(), "InvalidParameter", "FileIndex beyond the sources");
    let r = upd(vec![("SourceUrls", r#"["rtmp://live.example.com/app/s"]"#)]).await;
    assert_eq!(
        r.code(),
        "InvalidParameter",
        "a url task takes MP4/FLV URLs"
    );

    let d = s
        .call(
            "DescribeLivePullToPush",
            &[("TaskId", &id), ("Region", "cn-shanghai")],
        )
        .await;
    let info = &d.body["TaskInfo"];
    assert_eq!(info["RepeatNumber"], -1);
    assert_eq!(info["FileIndex"], 1);
    assert_eq!(info["Offset"], 30);
    assert_eq!(info["EndTime"], "2026-03-04T00:00:00Z");
    assert_eq!(info["CallbackURL"], "https://h.example.com/x");

    // Exited: nothing changes.
    emu.clock().set(t("2026-03-04T00:00:00Z"));
    let r = upd(vec![("CallbackUrl", "https://h.example.com/y")]).await;
    assert_eq!(r.code(), "InvalidParameter");
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn create_rules_and_unknown_actions() {
    let (emu, s) = start().await;
    let mut p = create_params("x", "2026-03-01T01:00:00Z", "2026-03-09T01:00:00Z");
    let r = s.call("CreateLivePullToPush", &p).await;
    assert_eq!(r.code(), "InvalidParam.CodeIllegalDuration");
    p[4].1 = "2026-03-01T01:00:00Z";
    p[5].1 = "2026-03-01T02:00:00Z";
    p[1].1 = "live";
    p[2].1 = r#"["rtmp://pull.example.com/app/s"]"#;
    let r = s.call("CreateLivePullToPush", &p).await;
    assert_eq!(r.code(), "MissingParameter", "live needs SourceProtocol");
    let r = s
        .call("ListLivePullToPush", &[("Region", "cn-shanghai")])
        .await;
    assert_eq!((r.status, r.code()), (404, "InvalidAction.NotFound"));
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn list_pages_and_fuzzy_filters() {
    let (emu, s) = start().await;
    let seeds: Vec<SeedTask> = (0..25)
        .map(|i| SeedTask {
            task_id: format!("task-{i:02}"),
            region: if i == 24 {
                Region::CnBeijing
            } else {
                Region::CnShanghai
            },
            task_name: if i % 2 == 0 {
                format!("even-{i}")
            } else {
                format!("odd-{i}")
            },
            source_type: SourceType::Live,
            source_protocol: "rtmp".into(),
            source_urls: vec!["rtmp://pull.example.com/app/s".into()],
            dst_url: format!("rtmp://push.example.com/app/dst-{i}"),
            start_time: t("2026-03-01T01:00:00Z"),
            end_time: t("2026-03-02T00:00:00Z"),
            callback_url: String::new(),
            repeat_number: 0,
            offset: 0,
            file_index: 0,
            retry_count: 3,
            retry_interval: 60,
            task_status: TaskStatus::NotStarted,
            task_exit_reason: None,
            task_exit_time: None,
            restarted_at: None,
        })
        .collect();
    emu.seed(seeds).await.unwrap();
    let list = |extra: Vec<(&'static str, &'static str)>| {
        let s = &s;
        async move {
            let mut p = vec![("Region", "cn-shanghai")];
            p.extend(extra);
            s.call("DescribeLivePullToPushList", &p).await
        }
    };
    let r = list(vec![]).await;
    assert_eq!(
        (r.body["Total"].as_u64(), r.body["PageSize"].as_u64()),
        (Some(24), Some(10))
    );
    assert_eq!(r.body["TaskList"][0]["TaskId"], "task-00");
    let r = list(vec![("PageNumber", "3"), ("PageSize", "10")]).await;
    let ids: Vec<_> = r.body["TaskList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["TaskId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["task-20", "task-21", "task-22", "task-23"]);
    let r = list(vec![("TaskName", "even"), ("PageSize", "100")]).await;
    assert_eq!(r.body["Total"], 12);
    let r = list(vec![("TaskId", "-1"), ("DstUrl", "dst-1")]).await;
    assert_eq!(r.body["Total"], 10, "task-10..task-19");
    let r = list(vec![("PageSize", "101")]).await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter"));
    let r = list(vec![("PageNumber", "0")]).await;
    assert_eq!(r.code(), "InvalidParameter");
    // Pages follow the tasks as they are removed (the region's order is rebuilt).
    let del = s
        .call(
            "DeleteLivePullToPush",
            &[("TaskId", "task-21"), ("Region", "cn-shanghai")],
        )
        .await;
    assert_eq!(del.status, 200);
    let r = list(vec![("PageNumber", "3"), ("PageSize", "10")]).await;
    assert_eq!(r.body["Total"], 23);
    let ids: Vec<_> = r.body["TaskList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["TaskId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["task-20", "task-22", "task-23"]);
    emu.shutdown().await.unwrap();
}
