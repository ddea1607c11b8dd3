//! Hostile and careless input, driven through the real binary (issue 10): a CSV quote that never
//! closes, hidden characters in URLs, a password in `--endpoint`, proxy variables around a
//! loopback endpoint.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::support::binary::lb;
use assert_cmd::Command;

const NOW: &str = "2027-03-01T00:00:00Z";

/// A command with an empty environment but for a scratch `HOME` (no credentials, no proxies).
fn clean(home: &Path) -> Command {
    let mut std = std::process::Command::new(assert_cmd::cargo::cargo_bin("livebatch"));
    std.env_clear().env("HOME", home);
    Command::from_std(std)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn output(a: &assert_cmd::assert::Assert) -> String {
    let o = a.get_output();
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

// ---- item 1: a CSV quote that never closes ------------------------------------------------------

const UNCLOSED: &[u8] = b"TaskId,Region,CallbackUrl,x-note\nt1,cn-shanghai,https://a.example.com/x,\"oops\nt2,cn-shanghai,https://a.example.com/x,fine\n";

#[test]
fn an_unclosed_csv_quote_is_an_error_at_its_line_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "u.csv", UNCLOSED);
    let a = lb()
        .args(["validate", "--now", NOW])
        .arg(&m)
        .assert()
        .code(65);
    let out = output(&a);
    assert!(out.contains("u.csv:2: error"), "{out}");
    assert!(out.contains("never closed"), "{out}");

    let a = clean(dir.path())
        .args(["apply", "--sandbox", "--yes", "--now", NOW])
        .arg(&m)
        .assert()
        .code(65);
    let out = output(&a);
    assert!(out.contains("u.csv:2"), "{out}");
    assert!(
        !out.contains("sandbox: emulator at"),
        "nothing may start: {out}"
    );
}

#[test]
fn a_multi_line_cell_counts_against_the_row_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = b"TaskId,Region,x-note\nt1,cn-shanghai,\"".to_vec();
    let line = [b"x".repeat(1023), b"\n".to_vec()].concat();
    for _ in 0..1100 {
        data.extend_from_slice(&line);
    }
    data.extend_from_slice(b"\"\n");
    let m = write(dir.path(), "big.csv", &data);
    let a = lb()
        .args(["validate", "--now", NOW])
        .arg(&m)
        .assert()
        .code(65);
    let out = output(&a);
    assert!(out.contains("big.csv:2: error"), "{out}");
    assert!(out.contains("longer than 1048576 bytes"), "{out}");
}

// ---- item 3: hidden characters --------------------------------------------------------------------

#[test]
fn a_carriage_return_in_a_callback_url_is_refused_and_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "updates:\n  - TaskId: t1\n    Region: cn-shanghai\n    CallbackUrl: \"https://evil.example.com/x\\rhttps://good.example.com/hook\"\n";
    let m = write(dir.path(), "cr.yaml", yaml.as_bytes());
    let a = lb()
        .args(["validate", "--now", NOW])
        .arg(&m)
        .assert()
        .code(65);
    let out = output(&a);
    assert!(out.contains("cr.yaml:4:18: error[CallbackUrl]"), "{out}");
    assert!(out.contains(r"x\rhttps://good"), "{out}");
    assert!(
        !out.contains('\r'),
        "a raw CR reached the terminal: {out:?}"
    );

    let csv = "TaskId,Region,CallbackUrl,RegionId\nt1,cn-shanghai,https://h/a\u{202E}b,cn-shanghai\nt2,cn-shanghai,https://h/x,cn-shanghai\u{1b}[2K\n";
    let m = write(dir.path(), "bidi.csv", csv.as_bytes());
    let a = lb()
        .args(["validate", "--now", NOW])
        .arg(&m)
        .assert()
        .code(65);
    let out = output(&a);
    assert!(out.contains("bidi.csv:2 (column CallbackUrl)"), "{out}");
    assert!(out.contains("bidi.csv:3 (column RegionId)"), "{out}");
    assert!(
        !out.contains('\u{202E}') && !out.contains('\u{1b}'),
        "{out:?}"
    );
}

#[test]
fn hidden_characters_in_a_header_are_escaped_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "h.csv",
        b"TaskId,Region,Bad\x1b]0;pwned\x07Col\nt1,cn-shanghai,x\n",
    );
    let a = lb()
        .args(["validate", "--now", NOW])
        .arg(&m)
        .assert()
        .code(65);
    let out = output(&a);
    assert!(out.contains(r"Bad\u{1b}]0;pwned\u{7}Col"), "{out}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
}

// ---- item 5: a password in --endpoint ---------------------------------------------------------------

#[test]
fn a_password_in_an_unparsable_endpoint_is_not_printed() {
    let home = tempfile::tempdir().unwrap();
    for endpoint in [
        "https://u:SECRET@127.0.0.1:99999",
        "https://u:SECRET@",
        "u:SECRET@127.0.0.1",
        "https://u:SE/CRET@127.0.0.1:1",
    ] {
        let a = clean(home.path())
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "id")
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-the-one")
            .args(["export", "--region", "cn-shanghai", "--endpoint", endpoint])
            .assert()
            .failure();
        let out = output(&a);
        assert!(out.contains("endpoint"), "{endpoint}: {out}");
        assert!(
            !out.contains("SECRET") && !out.contains("CRET"),
            "{endpoint}: {out}"
        );
    }
}

#[test]
fn help_never_shows_the_endpoint_variable_s_value() {
    for cmd in ["plan", "apply", "diff", "export"] {
        let a = lb()
            .env("LIVEBATCH_ENDPOINT", "https://u:SECRET@127.0.0.1:1")
            .args([cmd, "--help"])
            .assert()
            .code(0);
        let out = output(&a);
        assert!(out.contains("LIVEBATCH_ENDPOINT"), "{cmd}: {out}");
        assert!(!out.contains("SECRET"), "{cmd}: {out}");
    }
}

// ---- item 6: proxies -------------------------------------------------------------------------------

/// A stand-in HTTP proxy on 127.0.0.1:0 that records the first line of every connection (e.g.
/// `CONNECT host:443 HTTP/1.1`) and closes it.
struct RecordingProxy {
    url: String,
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RecordingProxy {
    fn start() -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let mut first = String::new();
                let _ = BufReader::new(&conn).read_line(&mut first);
                s.lock().unwrap().push(first.trim_end().to_string());
                let _ = (&conn).write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
            }
        });
        RecordingProxy {
            url: format!("http://{addr}"),
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Every proxy variable, upper and lower case, pointing here.
    fn env(&self, cmd: &mut Command) {
        for v in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env(v, &self.url);
        }
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_loopback_endpoint_never_goes_through_a_proxy() {
    let proxy = RecordingProxy::start();
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "m.yaml",
        b"updates:\n  - {TaskId: p1, Region: cn-shanghai, CallbackUrl: https://h.example.com/x}\n  - {TaskId: p2, Region: cn-beijing, RepeatNumber: 2}\n",
    );
    let mut cmd = clean(dir.path());
    proxy.env(&mut cmd);
    cmd.args(["apply", "--sandbox", "--yes", "--now", NOW])
        .arg(&m)
        .assert()
        .code(0);
    assert_eq!(proxy.seen(), Vec::<String>::new());
}

#[test]
fn a_real_endpoint_honours_the_proxy_variables_and_no_proxy() {
    let proxy = RecordingProxy::start();
    let home = tempfile::tempdir().unwrap();
    let export = |no_proxy: Option<&str>| {
        let mut cmd = clean(home.path());
        proxy.env(&mut cmd);
        if let Some(n) = no_proxy {
            cmd.env("NO_PROXY", n);
        }
        // 192.0.2.1 is TEST-NET-1: never routed, so without the proxy the connect just times out.
        cmd.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "id")
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret")
            .args([
                "export",
                "--region",
                "cn-shanghai",
                "--endpoint",
                "https://192.0.2.1:443",
                "--connect-timeout",
                "1",
            ])
            .assert()
            .failure();
    };
    export(None);
    let seen = proxy.seen();
    assert!(
        seen.iter().any(|l| l.starts_with("CONNECT 192.0.2.1:443")),
        "{seen:?}"
    );
    let before = seen.len();
    export(Some("192.0.2.1"));
    assert_eq!(proxy.seen().len(), before, "NO_PROXY was not honoured");
}

// ---- item 3: reports ---------------------------------------------------------------------------------

#[test]
fn csv_report_cells_a_spreadsheet_would_run_are_neutralised() {
    let dir = tempfile::tempdir().unwrap();
    // A task ID may start with '-', and the source cell starts with the manifest's name.
    write(
        dir.path(),
        "=calc.yaml",
        b"updates:\n  - TaskId: -2-3\n    Region: cn-shanghai\n    RepeatNumber: 2\n",
    );
    clean(dir.path())
        .current_dir(dir.path())
        .args([
            "apply",
            "--sandbox",
            "--yes",
            "--now",
            NOW,
            "=calc.yaml",
            "--report",
            "r.csv",
        ])
        .assert()
        .code(0);
    let csv = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    let row = csv.lines().nth(1).unwrap();
    assert!(row.starts_with("'-2-3,succeeded,"), "{csv}");
    assert!(row.contains(",'=calc.yaml:2,"), "{csv}");
}

// ---- item 4: linear time ---------------------------------------------------------------------------

/// Validates `text` as `name`; returns the output and the wall time.
fn timed_validate(dir: &Path, name: &str, text: &str, code: i32) -> (String, std::time::Duration) {
    let m = write(dir, name, text.as_bytes());
    let t0 = std::time::Instant::now();
    let a = lb()
        .args(["validate", "--now", NOW])
        .arg(&m)
        .assert()
        .code(code);
    (output(&a), t0.elapsed())
}

/// The issue's three inputs took 88 s, 9 s and 7 s (release build; 263 s, 21 s and 23 s measured
/// here on a busy machine, see BENCHMARKS.md); now each is refused at the annotation limit in
/// well under a second. The bound below is ten times a debug build's time on that busy machine:
/// it only catches a return of the quadratic work, never a slow machine.
const GENEROUS: std::time::Duration = std::time::Duration::from_secs(60);

#[test]
fn thousands_of_annotations_are_refused_early_and_fast() {
    let dir = tempfile::tempdir().unwrap();
    let mut y = String::from("defaults:\n  Region: cn-shanghai\n");
    for i in 0..5000 {
        y.push_str(&format!("  x-k{i}: v\n"));
    }
    y.push_str("updates:\n");
    for i in 0..5000 {
        y.push_str(&format!("  - {{TaskId: t{i}, RepeatNumber: 2}}\n"));
    }
    let (out, took) = timed_validate(dir.path(), "defaults.yaml", &y, 65);
    assert!(out.contains("defaults.yaml:103:3: error"), "{out}");
    assert!(out.contains("more than 100 x- annotations"), "{out}");
    assert_eq!(out.matches(": error").count(), 1, "reported once: {out}");
    assert!(took < GENEROUS, "{took:?}");

    let mut y =
        String::from("updates:\n  - TaskId: t1\n    Region: cn-shanghai\n    RepeatNumber: 2\n");
    for i in 0..100_000 {
        y.push_str(&format!("    x-k{i}: v\n"));
    }
    let (out, took) = timed_validate(dir.path(), "keys.yaml", &y, 65);
    assert!(out.contains("keys.yaml:105:5: error"), "{out}");
    assert!(took < GENEROUS, "{took:?}");

    let mut c = String::from("TaskId,Region,RepeatNumber");
    for i in 0..110_000 {
        c.push_str(&format!(",x-c{i}"));
    }
    c.push_str("\nt1,cn-shanghai,2");
    c.push_str(&",".repeat(110_000));
    c.push('\n');
    let (out, took) = timed_validate(dir.path(), "cols.csv", &c, 65);
    assert!(out.contains("cols.csv:1: error"), "{out}");
    assert!(out.contains("(110000 found)"), "{out}");
    assert!(took < GENEROUS, "{took:?}");
}

#[test]
fn the_annotation_limit_is_inclusive_and_defaults_merge_with_an_updates_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut y = String::from("defaults:\n  Region: cn-shanghai\n");
    for i in 0..100 {
        y.push_str(&format!("  x-k{i}: d\n"));
    }
    y.push_str("updates:\n");
    for i in 0..2000 {
        y.push_str(&format!(
            "  - {{TaskId: t{i}, RepeatNumber: 2, x-k0: own, x-mine: m}}\n"
        ));
    }
    let (out, _) = timed_validate(dir.path(), "ok.yaml", &y, 0);
    assert!(out.contains("valid: 2000 updates"), "{out}");
    let m = write(dir.path(), "ok.yaml", y.as_bytes());
    let a = lb()
        .args(["plan", "--offline", "--format", "json", "--now", NOW])
        .arg(&m)
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let first = &v["items"][0]["annotations"];
    assert_eq!(first["x-k0"], "own", "{first}");
    assert_eq!(first["x-k99"], "d");
    assert_eq!(first["x-mine"], "m");
    assert_eq!(first.as_object().unwrap().len(), 101);

    // A duplicate column far from the first is still found.
    let mut c = String::from("TaskId,Region");
    for i in 0..50 {
        c.push_str(&format!(",x-c{i}"));
    }
    c.push_str(",x-c3\nt1,cn-shanghai");
    c.push_str(&",".repeat(51));
    c.push('\n');
    let (out, _) = timed_validate(dir.path(), "dup.csv", &c, 65);
    assert!(out.contains("\"x-c3\" appears twice"), "{out}");
}

// ---- item 12: dates, help, suggestions --------------------------------------------------------------

/// The sandbox rehearses on `--now`: a manifest dated years ago still rehearses as of its own
/// window (the emulator's clock is shifted there too), and is refused on the real clock.
#[test]
fn the_sandbox_rehearses_on_the_now_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "old.yaml",
        b"updates:\n  - TaskId: o1\n    Region: cn-shanghai\n    EndTime: 2020-01-02T00:00:00Z\n  - TaskId: o2\n    Region: cn-beijing\n    StartTime: 2020-01-03T00:00:00Z\n    EndTime: 2020-01-04T00:00:00Z\n",
    );
    let a = clean(dir.path())
        .args([
            "apply",
            "--sandbox",
            "--yes",
            "--now",
            "2020-01-01T00:00:00Z",
        ])
        .arg(&m)
        .assert()
        .code(0);
    let out = output(&a);
    assert!(out.contains("(clock 2020-01-01T00:00:0"), "{out}");
    assert!(out.contains("2 succeeded"), "{out}");
    clean(dir.path())
        .args(["apply", "--sandbox", "--yes"])
        .arg(&m)
        .assert()
        .code(65);
}

/// The bundled dated example, rehearsed as its comment says, works whatever today's date.
#[test]
fn the_reschedule_example_rehearses_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let a = clean(dir.path())
        .args([
            "apply",
            "--sandbox",
            "--yes",
            "--now",
            "2027-12-01T00:00:00Z",
        ])
        .arg(format!("{root}/examples/reschedule.yaml"))
        .arg("--journal")
        .arg(dir.path().join("j.jsonl"))
        .assert()
        .code(0);
    assert!(output(&a).contains("6 succeeded"), "{}", output(&a));
}

#[test]
fn a_region_typo_gets_a_suggestion_and_a_missing_task_id_no_noise() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "t.yaml",
        b"updates:\n  - TaskId: a\n    Region: cn-shanghia\n  - Region: cn-beijing\n  - TaskId: \"\"\n    Region: cn-beijing\n",
    );
    let a = lb()
        .args(["validate", "--now", NOW])
        .arg(&m)
        .assert()
        .code(65);
    let out = output(&a);
    assert!(
        out.contains("\"cn-shanghia\" is not a Region; did you mean cn-shanghai?"),
        "{out}"
    );
    assert!(out.contains("TaskId is missing"), "{out}");
    assert!(out.contains("TaskId is empty"), "{out}");
    assert!(!out.contains("changes nothing"), "{out}");
}

#[test]
fn every_subcommand_help_lists_its_exit_codes() {
    for cmd in ["validate", "plan", "apply", "diff", "export", "emulator"] {
        let a = lb().args([cmd, "--help"]).assert().code(0);
        let out = output(&a);
        assert!(out.contains("Exit codes: 0 "), "{cmd} --help: {out}");
    }
}

/// A manifest's name reaches every report (each item's source); a right-to-left override in it
/// must show as an escape, never reorder what a reader sees.
#[test]
fn invisible_characters_from_a_file_name_are_escaped_in_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let name = "gnp.\u{202E}yaml";
    write(
        dir.path(),
        name,
        b"updates:\n  - TaskId: b1\n    Region: cn-shanghai\n    RepeatNumber: 2\n",
    );
    clean(dir.path())
        .current_dir(dir.path())
        .args(["apply", "--sandbox", "--yes", "--now", NOW, name])
        .args(["--report", "r.md", "--report", "r.xml", "--report", "r.csv"])
        .args(["--report", "r.json"])
        .assert()
        .code(0);
    for r in ["r.md", "r.xml", "r.csv"] {
        let text = std::fs::read_to_string(dir.path().join(r)).unwrap();
        assert!(!text.contains('\u{202E}'), "{r}: {text}");
        // (The Markdown report lists failed items only; this run has none.)
        assert!(r == "r.md" || text.contains("\\u{202e}"), "{r}: {text}");
    }
    // JSON is data for tools: the name is kept exactly (a JSON reader decodes it as written).
    let json = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["items"][0]["source"].as_str().unwrap().starts_with(name));
}
