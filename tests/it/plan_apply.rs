//! Applying saved plans against the emulator: stop → update → restart with each step journaled,
//! its rollback when the update fails after the stop, and per-item refusal of stale items.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::support::executor::run;
use livebatch::api::client::{Client, ClientConfig};
use livebatch::api::credentials::Credentials;
use livebatch::api::endpoint::Endpoint;
use livebatch::apply::config::ExecConfig;
use livebatch::apply::engine::Engine;
use livebatch::apply::item::WorkItem;
use livebatch::apply::journal::{ItemStatus, Journal, JournalState, JournalWriter, RunHeader};
use livebatch::apply::planned::work_items;
use livebatch::apply::progress::Silent;
use livebatch::emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, Emulator, EmulatorConfig, EmulatorHandle,
    SeedTask,
};
use livebatch::exit;
use livebatch::model::{Region, SourceType, TaskStatus, Update};
use livebatch::outcome::Accept;
use livebatch::outcome::RunResult;
use livebatch::pace::Pacers;
use livebatch::plan::diff::{PlanOptions, Step};
use livebatch::plan::file::PlanFile;
use livebatch::plan::live::plan_updates;
use tokio_util::sync::CancellationToken;

use crate::support::emulator::at;

fn task(id: &str, status: TaskStatus) -> SeedTask {
    crate::support::emulator::seed_task(
        id,
        SourceType::Url,
        &["https://media.example.com/old.mp4"],
        status,
        -3_600,
        86_400,
    )
}

async fn setup(seed: Vec<SeedTask>) -> (EmulatorHandle, Client) {
    let emu = Emulator::start(EmulatorConfig {
        seed,
        qps: 1000,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let client = Client::new(ClientConfig {
        endpoint: Endpoint::parse(&emu.url()).unwrap(),
        credentials: Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(30),
    })
    .unwrap();
    (emu, client)
}

fn journal(dir: &tempfile::TempDir) -> (Journal, PathBuf) {
    let path = dir.path().join("j.jsonl");
    let w = JournalWriter::open(&path, &RunHeader::now(&[PathBuf::from("m.yaml")])).unwrap();
    (Journal::new(w), path)
}

/// The engine for reads and writes, every operation paced well under the emulator's raised quota.
fn engine(client: &Client) -> Arc<Engine<Client>> {
    Arc::new(Engine::new(
        Arc::new(client.clone()),
        Pacers::clock(100.0),
        &ExecConfig::new(100.0),
    ))
}

/// Runs `items` through the executor against `client`, journaling to `j`.
async fn apply(items: Vec<WorkItem>, client: &Client, j: &Journal) -> RunResult {
    run(
        items,
        engine(client),
        j,
        &JournalState::default(),
        &ExecConfig::new(100.0),
        CancellationToken::new(),
        &Silent,
    )
    .await
}

fn new_sources(id: &str) -> Update {
    let mut u = Update::new(id, Region::CnShanghai);
    u.source_urls = Some(vec!["https://media.example.com/new.mp4".into()]);
    u
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_restart_runs_in_order_and_stale_items_are_refused() {
    let (emu, client) = setup(vec![
        task("run-1", TaskStatus::Running),
        task("stop-1", TaskStatus::Stopped),
    ])
    .await;
    let reader = engine(&client);
    let mut cb = Update::new("stop-1", Region::CnShanghai);
    cb.callback_url = Some("https://hooks.new.example.com/cb".into());
    let updates = vec![
        (new_sources("run-1"), "m.yaml:2".to_string()),
        (cb, "m.yaml:5".to_string()),
    ];
    let items = plan_updates(
        reader.as_ref(),
        &updates,
        at(0),
        PlanOptions {
            restart_running: true,
            partial: false,
        },
    )
    .await
    .unwrap();
    let plan = PlanFile::new(
        PlanOptions {
            restart_running: true,
            partial: false,
        },
        at(0),
        vec![],
        items,
    );
    let work = work_items(&plan);
    assert!(work.iter().all(|w| w.unsent.is_none()));
    assert_eq!(work[0].steps, vec![Step::Stop, Step::Update, Step::Restart]);
    assert_eq!(work[1].steps, vec![Step::Update]);

    // Someone else changes stop-1 after the plan was reviewed.
    let mut other = Update::new("stop-1", Region::CnShanghai);
    other.callback_url = Some("https://hooks.someone-else.example.com/cb".into());
    client.update(&other).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (j, jpath) = journal(&dir);
    let result = apply(work, &client, &j).await;
    assert_eq!(
        result.items[0].status,
        ItemStatus::Succeeded,
        "{:?}",
        result.items[0]
    );
    assert_eq!(
        result.items[0].attempts, 4,
        "describe, stop, update, restart"
    );
    assert_eq!(result.items[1].status, ItemStatus::Stale);
    let msg = result.items[1].error_message.clone().unwrap();
    assert!(
        msg.contains("CallbackUrl") && msg.contains("hooks.someone-else"),
        "{msg}"
    );
    assert_eq!(result.summary.stale, 1);
    assert_eq!(result.exit_code(Accept::default()), exit::STALE_PLAN);

    let run1 = emu
        .tasks()
        .into_iter()
        .find(|t| t.task_id == "run-1")
        .unwrap();
    assert_eq!(
        run1.source_urls,
        vec!["https://media.example.com/new.mp4".to_string()]
    );
    assert_eq!(
        run1.task_status,
        TaskStatus::Running,
        "restarted after the update"
    );
    let stop1 = emu
        .tasks()
        .into_iter()
        .find(|t| t.task_id == "stop-1")
        .unwrap();
    assert_eq!(
        stop1.callback_url, "https://hooks.someone-else.example.com/cb",
        "the stale item was not sent"
    );

    let lines = std::fs::read_to_string(&jpath).unwrap();
    let steps: Vec<String> = lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "step")
        .map(|v| {
            format!(
                "{}:{}:{}",
                v["task_id"].as_str().unwrap(),
                v["step"].as_str().unwrap(),
                v["ok"]
            )
        })
        .collect();
    assert_eq!(
        steps,
        // The intent first, durable before the stop is sent (crash recovery reads it).
        [
            "run-1:begin:true",
            "run-1:stop:true",
            "run-1:update:true",
            "run-1:restart:true"
        ]
    );
    assert!(lines.contains("\"status\":\"stale\""));
    emu.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_update_after_stop_restarts_the_task_with_its_old_configuration() {
    let (emu, client) = setup(vec![task("run-2", TaskStatus::Running)]).await;
    // An update the service refuses (EndTime in the past), planned as stop → update → restart.
    let mut bad = new_sources("run-2");
    bad.end_time = Some(at(-7_200));
    let item = WorkItem {
        steps: vec![Step::Stop, Step::Update, Step::Restart],
        ..WorkItem::new(bad, "m.yaml:9")
    };
    let dir = tempfile::tempdir().unwrap();
    let (j, jpath) = journal(&dir);
    let result = apply(vec![item], &client, &j).await;
    let r = &result.items[0];
    assert_eq!(r.status, ItemStatus::Failed);
    assert_eq!(r.error_code.as_deref(), Some("InvalidParameter"), "{r:?}");
    assert_eq!(
        r.attempts, 3,
        "stop, update (permanent: not retried), rollback restart"
    );
    assert!(
        r.error_message
            .as_deref()
            .unwrap()
            .contains("restarted with its old configuration"),
        "{r:?}"
    );
    let t = emu
        .tasks()
        .into_iter()
        .find(|t| t.task_id == "run-2")
        .unwrap();
    assert_eq!(t.task_status, TaskStatus::Running);
    assert_eq!(
        t.source_urls,
        vec!["https://media.example.com/old.mp4".to_string()]
    );
    let lines = std::fs::read_to_string(&jpath).unwrap();
    assert!(lines.contains("\"step\":\"stop\",\"ok\":true"));
    assert!(lines.contains("\"step\":\"update\",\"ok\":false"));
    assert!(lines.contains("\"step\":\"rollback-restart\",\"ok\":true"));
    emu.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_back_what_was_sent_and_names_what_differs() {
    let (emu, client) = setup(vec![
        task("v-1", TaskStatus::Stopped),
        task("v-2", TaskStatus::Stopped),
    ])
    .await;
    let reader = engine(&client);
    let mut a = Update::new("v-1", Region::CnShanghai);
    a.callback_url = Some("https://hooks.new.example.com/cb".into());
    let mut b = a.clone();
    b.task_id = "v-2".into();
    let mut gone = a.clone();
    gone.task_id = "v-gone".into();
    client.update(&a).await.unwrap();
    client.update(&b).await.unwrap();
    let sent = [a.clone(), b.clone()];
    assert!(
        livebatch::apply::verify::verify(reader.as_ref(), || sent.iter().cloned().map(Ok))
            .await
            .unwrap()
            .mismatches
            .is_empty()
    );

    // Someone moves v-2 back; a task that never existed is reported missing.
    let mut back = b.clone();
    back.callback_url = Some("https://hooks.old.example.com/cb".into());
    client.update(&back).await.unwrap();
    let all = [a, b, gone];
    let m = livebatch::apply::verify::verify(reader.as_ref(), || all.iter().cloned().map(Ok))
        .await
        .unwrap()
        .mismatches;
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].task_id, "v-2");
    assert_eq!(m[0].differences[0].old, "https://hooks.old.example.com/cb");
    assert!(m[1].missing);
    let text = livebatch::apply::verify::render(&m);
    assert!(text.contains("verify: v-2 (cn-shanghai): CallbackUrl is \"https://hooks.old.example.com/cb\", but \"https://hooks.new.example.com/cb\" was sent"), "{text}");
    emu.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_applying_an_applied_plan_reports_already_applied_and_sends_nothing() {
    let (emu, client) = setup(vec![
        task("again-run", TaskStatus::Running),
        task("again-stop", TaskStatus::Stopped),
        task("again-moved", TaskStatus::Stopped),
    ])
    .await;
    let eng = engine(&client);
    let mut cb = Update::new("again-stop", Region::CnShanghai);
    cb.callback_url = Some("https://hooks.new.example.com/cb".into());
    let mut moved = cb.clone();
    moved.task_id = "again-moved".into();
    let updates = vec![
        (new_sources("again-run"), "m.yaml:2".to_string()),
        (cb, "m.yaml:5".to_string()),
        (moved, "m.yaml:8".to_string()),
    ];
    let opts = PlanOptions {
        restart_running: true,
        partial: false,
    };
    let items = plan_updates(eng.as_ref(), &updates, at(0), opts)
        .await
        .unwrap();
    let plan = PlanFile::new(opts, at(0), vec![], items);
    let dir = tempfile::tempdir().unwrap();
    let (j, _) = journal(&dir);
    let first = apply(work_items(&plan), &client, &j).await;
    assert_eq!(first.summary.succeeded, 3, "{:?}", first.items);

    // Someone else moves one task elsewhere after the plan went through.
    let mut other = Update::new("again-moved", Region::CnShanghai);
    other.callback_url = Some("https://hooks.someone-else.example.com/cb".into());
    client.update(&other).await.unwrap();
    let writes_before = emu.stats().requests;

    let (j2, jpath2) = journal(&dir);
    let second = apply(work_items(&plan), &client, &j2).await;
    let status: Vec<ItemStatus> = second.items.iter().map(|i| i.status).collect();
    assert_eq!(
        status,
        [
            ItemStatus::AlreadyApplied,
            ItemStatus::AlreadyApplied,
            ItemStatus::Stale
        ],
        "{:?}",
        second.items
    );
    assert_eq!(second.summary.already_applied, 2);
    assert_eq!(
        emu.stats().requests - writes_before,
        3,
        "one Describe per item and nothing else"
    );
    assert_eq!(
        second.summary.by_operation.keys().collect::<Vec<_>>(),
        ["DescribeLivePullToPush"]
    );
    // Only the task that moved elsewhere makes the run fail (stale).
    assert_eq!(second.exit_code(Accept::default()), exit::STALE_PLAN);
    let lines = std::fs::read_to_string(&jpath2).unwrap();
    assert_eq!(lines.matches("\"status\":\"already_applied\"").count(), 2);

    // A plan whose every item went through re-applies as a success.
    let done: Vec<_> = plan.items[..2].to_vec();
    let plan2 = PlanFile::new(opts, at(0), vec![], done);
    let (j3, _) = journal(&dir);
    let third = apply(work_items(&plan2), &client, &j3).await;
    assert_eq!(third.exit_code(Accept::default()), exit::SUCCESS);
    assert_eq!(third.summary.succeeded + third.summary.already_applied, 2);
    emu.shutdown().await.unwrap();
}
