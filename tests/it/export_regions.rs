//! `export --region all` and repeated `--region`: one manifest of every region asked for, read
//! from the emulator; a region that cannot be read fails the export by name, writing nothing.

use crate::support::binary::Scratch;
use crate::support::emulator::{Emu, seed_task};
use crate::support::server::{Reply, TestServer, list_handler, task};
use assert_cmd::Command;
use livebatch::emulator::{DEFAULT_ACCESS_KEY_ID, SeedTask};
use livebatch::export::read_export;
use livebatch::model::{Region, SourceType, TaskStatus};

/// `livebatch` in `s`, signed with the emulator's default key.
fn livebatch(s: &Scratch) -> Command {
    Command::from_std(s.livebatch())
}

/// `n` stopped tasks in `region`, named after it.
fn tasks_in(region: Region, n: usize) -> Vec<SeedTask> {
    (0..n)
        .map(|i| {
            let id = format!("{region}-{i}");
            let mut t = seed_task(
                &id,
                SourceType::Url,
                &["https://m.example.com/a.mp4"],
                TaskStatus::Stopped,
                -3600,
                86_400,
            );
            t.region = region;
            t
        })
        .collect()
}

/// (region, TaskId) of every update in the exported file `name`.
fn exported(s: &Scratch, name: &str) -> Vec<(Region, String)> {
    let text = std::fs::read_to_string(s.path(name)).unwrap();
    let doc = read_export(&text).unwrap();
    doc.updates
        .into_iter()
        .map(|u| (u.region, u.task_id))
        .collect()
}

#[test]
fn region_all_exports_every_documented_region_into_one_manifest() {
    // 105 in one region: its listing takes two pages.
    let counts = [3, 0, 105, 2];
    let seed: Vec<SeedTask> = Region::ALL
        .into_iter()
        .zip(counts)
        .flat_map(|(r, n)| tasks_in(r, n))
        .collect();
    let emu = Emu::seeded(0, None, seed);
    let s = Scratch::new();
    let a = livebatch(&s)
        .args(["export", "--region", "all", "-o", "all.yaml", "--endpoint"])
        .arg(emu.url())
        .assert()
        .code(0);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains(
            "exported 110 task(s) from regions ap-southeast-1 (3 listed), ap-southeast-5 \
             (0 listed), cn-beijing (105 listed), cn-shanghai (2 listed) to all.yaml (0 skipped)"
        ),
        "{err}"
    );
    let got = exported(&s, "all.yaml");
    assert_eq!(got.len(), 110);
    for (r, n) in Region::ALL.into_iter().zip(counts) {
        let mine: Vec<_> = got.iter().filter(|(gr, _)| *gr == r).collect();
        assert_eq!(mine.len(), n, "{r}");
        assert!(mine.iter().all(|(_, id)| id.starts_with(r.as_str())), "{r}");
    }
    // 2 pages for cn-beijing, 1 for each other region.
    assert_eq!(emu.calls("DescribeLivePullToPushList"), 5);
    // The promise of an export holds across regions: validate accepts it unchanged.
    livebatch(&s)
        .args(["validate", "all.yaml"])
        .assert()
        .code(0);

    // Repeated --region: those regions only, each once whatever the flags' order.
    livebatch(&s)
        .args([
            "export",
            "--region",
            "cn-shanghai",
            "--region",
            "ap-southeast-1",
        ])
        .args(["--region", "cn-shanghai", "-o", "two.yaml", "--endpoint"])
        .arg(emu.url())
        .assert()
        .code(0);
    let regions: Vec<Region> = exported(&s, "two.yaml")
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let mut expected = vec![Region::ApSoutheast1; 3];
    expected.extend([Region::CnShanghai; 2]);
    assert_eq!(regions, expected);
    let text = std::fs::read_to_string(s.path("two.yaml")).unwrap();
    assert!(
        text.starts_with(
            "# Exported by livebatch from regions ap-southeast-1 (3 listed), cn-shanghai \
             (2 listed) at "
        ),
        "{text}"
    );
}

#[test]
fn a_region_that_cannot_be_read_fails_the_export_by_name_and_writes_nothing() {
    const SECRET: &str = "export-regions-secret";
    let listed = list_handler((0..3).map(|i| task(i, 0)).collect());
    let server = TestServer::start(SECRET, move |r| {
        if r.param("Region") == Some("ap-southeast-5") {
            Reply::error(400, "InvalidRegion.Unsupported", "not open in this region")
        } else {
            listed(r)
        }
    });
    let s = Scratch::new();
    let a = s
        .unconfigured()
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .args(["export", "--region", "all", "-o", "all.yaml", "--endpoint"])
        .arg(server.url())
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("error: listing the tasks in ap-southeast-5 at ")
            && err.contains("InvalidRegion.Unsupported")
            && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!s.path("all.yaml").exists());
    // The regions before it were read; none after it.
    let regions: Vec<String> = server
        .recorded()
        .iter()
        .filter_map(|r| r.param("Region").map(str::to_string))
        .collect();
    assert_eq!(regions, ["ap-southeast-1", "ap-southeast-5"]);
}

#[test]
fn an_unknown_region_lists_the_documented_ones_and_all() {
    let s = Scratch::new();
    let a = livebatch(&s)
        .args(["export", "--region", "cn-hangzhou"])
        .assert()
        .code(64);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains(
            "expected one of ap-southeast-1, ap-southeast-5, cn-beijing, cn-shanghai, or all"
        ),
        "{err}"
    );
}
