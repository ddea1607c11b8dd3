//! The real binary, run as a user runs it: [`lb`] for a plain command, [`Scratch`] for runs that
//! need a directory and a HOME of their own (`apply` against an in-process [`Emu`], its journal
//! and reports), [`wait_for`] to catch a run mid-way without timing it, and [`EmulatorProcess`]
//! for `livebatch emulator` as a child process.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use livebatch::apply::journal::Record;
use livebatch::emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET};
use livebatch::model::Update;
use livebatch::report::Report;

use super::batch::write_manifest;
use super::emulator::Emu;

/// `livebatch`, with the test's own environment and directory.
pub fn lb() -> Command {
    Command::cargo_bin("livebatch").unwrap()
}

/// A scratch directory for one test's runs (their working directory, where manifests, journal
/// and reports go) and an empty HOME beside it, so no credentials or config of the machine leak
/// in. Both are deleted when dropped.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub home: tempfile::TempDir,
    /// The journal `apply` and `spawn` pass, in `dir`.
    journal: &'static str,
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch::new()
    }
}

impl Scratch {
    /// A scratch whose runs journal to `j.jsonl`.
    pub fn new() -> Scratch {
        Scratch::with_journal("j.jsonl")
    }

    /// A scratch whose runs journal to `journal`.
    pub fn with_journal(journal: &'static str) -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
            journal,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `us` as the YAML manifest `m.yaml`; returns its path.
    pub fn manifest(&self, us: &[Update]) -> PathBuf {
        let p = self.path("m.yaml");
        write_manifest(&p, us);
        p
    }

    /// `program` in the scratch directory with an empty environment but for HOME (the empty
    /// one) and `NO_PROXY=127.0.0.1`: nothing configured.
    pub fn bare(&self, program: impl AsRef<OsStr>) -> std::process::Command {
        let mut c = std::process::Command::new(program);
        c.env_clear()
            .env("HOME", self.home.path())
            .env("NO_PROXY", "127.0.0.1")
            .current_dir(self.dir.path());
        c
    }

    /// `livebatch` with nothing configured (see [`Scratch::bare`]).
    pub fn unconfigured(&self) -> Command {
        Command::from_std(self.bare(assert_cmd::cargo::cargo_bin("livebatch")))
    }

    /// `livebatch` signed with the emulator's default key.
    pub fn livebatch(&self) -> std::process::Command {
        self.keyed(
            assert_cmd::cargo::cargo_bin("livebatch"),
            DEFAULT_ACCESS_KEY_SECRET,
        )
    }

    /// `program` with nothing configured but the emulator's key ID and `secret`.
    fn keyed(&self, program: impl AsRef<OsStr>, secret: &str) -> std::process::Command {
        let mut c = self.bare(program);
        c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret);
        c
    }

    /// `PROGRAM [PRE…] livebatch apply --endpoint URL --journal JOURNAL ARGS…` with the emulator's
    /// key: `program` and `pre` put a wrapper in front (`/bin/sh -c …`).
    pub fn command(
        &self,
        emu: &Emu,
        program: &str,
        pre: &[&str],
        args: &[&str],
    ) -> std::process::Command {
        let mut c = self.keyed(program, DEFAULT_ACCESS_KEY_SECRET);
        c.args(pre);
        self.apply_args(&mut c, emu, args);
        c
    }

    fn apply_args(&self, c: &mut std::process::Command, emu: &Emu, args: &[&str]) {
        c.arg("apply")
            .arg("--endpoint")
            .arg(emu.url())
            .arg("--journal")
            .arg(self.path(self.journal))
            .args(args);
    }

    /// `livebatch apply --endpoint URL --journal JOURNAL ARGS…` with the emulator's key.
    pub fn apply(&self, emu: &Emu, args: &[&str]) -> Command {
        self.apply_with_secret(emu, args, DEFAULT_ACCESS_KEY_SECRET)
    }

    /// [`Scratch::apply`] signed with `secret` instead of the key's.
    pub fn apply_with_secret(&self, emu: &Emu, args: &[&str], secret: &str) -> Command {
        let mut c = self.keyed(assert_cmd::cargo::cargo_bin("livebatch"), secret);
        self.apply_args(&mut c, emu, args);
        Command::from_std(c)
    }

    /// [`Scratch::apply`] started and left running, standard error piped.
    pub fn spawn(&self, emu: &Emu, args: &[&str]) -> Child {
        let mut c = self.livebatch();
        self.apply_args(&mut c, emu, args);
        spawn(c)
    }

    /// Every complete record of the journal so far.
    pub fn journal(&self) -> Vec<Record> {
        read_journal(&self.path(self.journal))
    }

    /// Item records in the journal so far.
    pub fn journal_items(&self) -> usize {
        std::fs::read_to_string(self.path(self.journal))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"type\":\"item\""))
            .count()
    }

    /// The JSON report `name`.
    pub fn report(&self, name: &str) -> Report {
        let text = std::fs::read_to_string(self.path(name)).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

/// Starts `c` with standard input and output closed and standard error piped.
pub fn spawn(mut c: std::process::Command) -> Child {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every complete line of the journal at `p` (a torn last line after `kill -9` is skipped).
pub fn read_journal(p: &Path) -> Vec<Record> {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Polls until `cond` holds; panics after a generous deadline (a slow machine is not a failure).
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `livebatch emulator --listen 127.0.0.1:0 ARGS…` as a child process, run from the crate's root
/// (so `--seed examples/…` names the bundled manifests). Killed when dropped, so a failing test
/// leaves no emulator behind.
pub struct EmulatorProcess {
    child: Child,
    url: String,
    /// Standard error, read in the background: a closed pipe would end the emulator at its next
    /// message.
    stderr: Arc<(Mutex<Lines>, Condvar)>,
}

/// Lines read so far, and whether the stream ended.
#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    ended: bool,
}

impl EmulatorProcess {
    /// Starts it and reads its address from its first line (`listening on URL`).
    pub fn start(args: &[&str]) -> EmulatorProcess {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("livebatch"))
            .args(["emulator", "--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line {line:?}"))
            .to_string();
        let stderr: Arc<(Mutex<Lines>, Condvar)> = Arc::default();
        let (shared, pipe) = (stderr.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            let (read, more) = &*shared;
            for l in BufReader::new(pipe).lines().map_while(Result::ok) {
                read.lock().unwrap().lines.push(l);
                more.notify_all();
            }
            read.lock().unwrap().ended = true;
            more.notify_all();
        });
        EmulatorProcess { child, url, stderr }
    }

    /// Its address, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The first line on its standard error (what it holds), once written.
    pub fn first_stderr_line(&self) -> String {
        let (read, more) = &*self.stderr;
        let r = more
            .wait_while(read.lock().unwrap(), |r| r.lines.is_empty() && !r.ended)
            .unwrap();
        r.lines.first().cloned().unwrap_or_default()
    }

    /// Its standard error so far (all of it after [`EmulatorProcess::kill`]).
    pub fn stderr(&self) -> String {
        let read = self.stderr.0.lock().unwrap();
        read.lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Kills it (SIGKILL: no chance to finish anything) and waits for it to end, and for its
    /// standard error to be read to the end.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (read, more) = &*self.stderr;
        drop(more.wait_while(read.lock().unwrap(), |r| !r.ended));
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
