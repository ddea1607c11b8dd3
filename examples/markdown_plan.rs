//! Benchmark of `plan --format markdown`'s renderer: a plan of N changes (every third a
//! stop → update → restart of a running task with new `SourceUrls`, the rest a callback change),
//! rendered within the default 60,000-character budget and within 1,000,000 (a job summary).
//! Prints each output's size in characters and the best of five render times.
//!
//! `cargo run --release --example markdown_plan -- [N]` (default 10,000). Pure: no network.

use std::time::{Duration, Instant};

use livebatch::api::models::{TaskInfo, TaskState};
use livebatch::model::{Field, Region, Update};
use livebatch::plan::diff::{Decision, FieldChange, Step};
use livebatch::plan::file::{ManifestRef, PlanItem};
use livebatch::plan::markdown::{DEFAULT_MAX_CHARS, MarkdownOptions, markdown};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N: a number of changes"))
        .unwrap_or(10_000);
    let items: Vec<PlanItem> = (0..n).map(item).collect();
    let manifests = vec![ManifestRef {
        path: "manifests/rollout.yaml".into(),
        sha256: "0".repeat(64),
    }];
    for max_chars in [DEFAULT_MAX_CHARS, 1_000_000, usize::MAX] {
        let opts = MarkdownOptions {
            marker: "default",
            max_chars,
            quota: 10.0,
            pace: 9.7,
            manifests: &manifests,
            saved: Some(("plan.json", &"f".repeat(64))),
            apply_command: "livebatch apply --plan plan.json",
        };
        let mut best = Duration::MAX;
        let mut out = String::new();
        for _ in 0..5 {
            let t = Instant::now();
            out = markdown(&items, &opts).expect("the header fits");
            best = best.min(t.elapsed());
        }
        let shown = out.lines().filter(|l| l.starts_with("| <code>t-")).count();
        let budget = if max_chars == usize::MAX {
            "unlimited".to_string()
        } else {
            max_chars.to_string()
        };
        println!(
            "{n} changes, --max-chars {budget}: {} characters, {shown} rows shown, rendered in {:.1} ms (best of 5)",
            out.chars().count(),
            best.as_secs_f64() * 1000.0
        );
    }
}

fn item(i: usize) -> PlanItem {
    let id = format!("t-{i:06}");
    let (changes, steps, status) = if i.is_multiple_of(3) {
        (
            vec![FieldChange {
                field: Field::SourceUrls,
                old: format!(r#"["rtmp://origin-a.example.com/live/{id}"]"#),
                new: format!(
                    r#"["rtmp://origin-b.example.com/live/{id}","rtmp://origin-c.example.com/live/{id}"]"#
                ),
            }],
            vec![Step::Stop, Step::Update, Step::Restart],
            1,
        )
    } else {
        (
            vec![FieldChange {
                field: Field::CallbackUrl,
                old: "https://hooks.old.example.com/cb".into(),
                new: "https://hooks.new.example.com/cb".into(),
            }],
            vec![Step::Update],
            3,
        )
    };
    PlanItem {
        task_id: id.clone(),
        region: Region::CnShanghai,
        origin: format!("manifests/rollout.yaml:{}", 3 + i * 3),
        decision: Decision::Change {
            changes,
            steps,
            held: None,
        },
        update: Update::new(&id, Region::CnShanghai),
        live: Some(TaskState {
            task_status: status,
            task_info: TaskInfo::default(),
            ..TaskState::default()
        }),
        fingerprint: None,
        live_region: None,
    }
}
