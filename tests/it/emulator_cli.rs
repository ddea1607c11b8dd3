//! The binary: first line, then a clean stop.

use crate::support::binary::EmulatorProcess;

#[test]
fn prints_the_real_port_first_and_serves() {
    let emulator = EmulatorProcess::start(&["--qps", "5"]);
    let port: u16 = emulator
        .url()
        .strip_prefix("http://127.0.0.1:")
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    let stats = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(stats.is_ok());
}

#[test]
fn rejects_bad_rates() {
    assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("livebatch"))
        .args(["emulator", "--fail-rate", "2"])
        .assert()
        .code(64)
        .stderr(predicates::str::contains("fraction from 0 to 1"));
}

/// Starts the binary, returns it and the stderr line saying what it holds.
fn start(args: &[&str]) -> (EmulatorProcess, String) {
    let emulator = EmulatorProcess::start(args);
    let holding = emulator.first_stderr_line().trim().to_string();
    (emulator, holding)
}

#[test]
fn seeds_from_the_bundled_manifests_so_that_plan_finds_every_task_to_change() {
    for (file, n) in [
        ("examples/migration.yaml", 36),
        ("examples/migration.csv", 30),
    ] {
        let (mut emulator, holding) = start(&["--seed", file]);
        assert!(
            holding.starts_with(&format!("emulator: holding {n} tasks: ")),
            "{holding}"
        );
        assert!(holding.contains(&format!("from {file}")), "{holding}");
        let dir = tempfile::tempdir().unwrap();
        let out = assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("livebatch"))
            .args(["plan", "--endpoint", emulator.url(), file])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("HOME", dir.path())
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_ID",
                livebatch::emulator::DEFAULT_ACCESS_KEY_ID,
            )
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                livebatch::emulator::DEFAULT_ACCESS_KEY_SECRET,
            )
            .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        emulator.kill();
        assert!(
            text.contains(&format!("{n} to change")) && text.contains(" 0 missing"),
            "{file}: {text}"
        );
    }
}

#[test]
fn synthetic_tasks_are_counted_and_reproducible() {
    let (a, ha) = start(&["--tasks", "36", "--rng-seed", "1"]);
    let (b, hb) = start(&["--tasks", "36", "--rng-seed", "1"]);
    drop((a, b));
    assert!(ha.starts_with("emulator: holding 36 tasks: "), "{ha}");
    assert!(ha.contains("running") && ha.contains("stopped"), "{ha}");
    assert_eq!(ha, hb);
}

#[test]
fn an_invalid_seed_is_refused_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("seed.yaml");
    std::fs::write(
        &p,
        "defaults:\n  Region: cn-shanghai\nupdates:\n  - TaskId: a\n    EndTime: tomorrow\n",
    )
    .unwrap();
    assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("livebatch"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--seed"])
        .arg(&p)
        .assert()
        .code(65)
        .stderr(predicates::str::contains("seed.yaml:5:"))
        .stderr(predicates::str::contains("EndTime"));
}
