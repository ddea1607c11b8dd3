//! The crash-safe journal: an append-only JSON-lines file with one record per item outcome.
//!
//! Why: a run of thousands of updates at 10 calls/s takes minutes to hours; a crash, a `kill -9` or
//! a lost laptop lid must not leave the operator guessing which tasks were changed. Each record is
//! written with one `write` and `fsync`ed before the outcome is counted, so after a crash at any
//! moment only the calls in flight are unknown. A record names the task and a hash of the update's
//! content, so `--resume` skips exactly the updates that already succeeded — even if the manifest
//! was reordered — and re-sends an update whose content changed since.
//!
//! Reading tolerates lines that do not parse (a crash mid-write tears the last line; the next run
//! starts on a fresh line), and counts them so the CLI can say so.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::journal_lines::{BoundedLines, Line, MAX_LINE};
use super::unfinished::{Tracker, Unfinished};
use crate::api::models::action;
use crate::model::{Region, Update};
use crate::outcome::ItemResult;

pub use crate::outcome::{ItemStatus, SkipReason};

/// First record of each run appended to a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub run_id: String,
    pub tool: String,
    pub version: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub manifests: Vec<String>,
}

impl RunHeader {
    /// A header for a run starting now.
    pub fn now(manifests: &[PathBuf]) -> RunHeader {
        let now = chrono::Utc::now();
        RunHeader {
            run_id: format!(
                "{}-{}",
                now.format("%Y%m%dT%H%M%S%.3fZ"),
                std::process::id()
            ),
            tool: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            manifests: manifests.iter().map(|p| p.display().to_string()).collect(),
        }
    }
}

/// One item's outcome, as the run's [`ItemResult`] itself plus the run and the time. Items that
/// were sent get a record (succeeded, failed, stale), and saved-plan items found already applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub run_id: String,
    #[serde(flatten)]
    pub item: ItemResult,
    /// RFC 3339, UTC.
    pub at: String,
}

/// One call of a multi-call item (stop → update → restart), written as it happens, so a crash
/// between the stop and the restart leaves a record of which task was left stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub run_id: String,
    pub task_id: String,
    /// The task's region, so recovery can find it (absent in journals from before 0.x: then
    /// recovery looks in every region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// `begin` (the intent, written before the stop is sent), `stop`, `update`, `restart`,
    /// `rollback-restart`, or recovery's `recover-restart` / `recover-checked`.
    pub step: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub at: String,
}

/// Last record of a run that ended in an orderly way (absent after a crash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEnd {
    pub run_id: String,
    /// `completed`, `halted`, `interrupted`, `gate_failed`, `paused`.
    pub outcome: String,
    pub finished_at: String,
}

pub use super::waves::record::{RolloutRecord, WaveRecord};

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Run(RunHeader),
    Item(ItemRecord),
    Step(StepRecord),
    End(RunEnd),
    Rollout(RolloutRecord),
    Wave(WaveRecord),
}

/// The content hash that keys an update in the journal: SHA-256 over the operation name and the
/// exact wire parameters ([`Update::to_params`], already sorted), as a JSON array. Manifest-only
/// fields (SourceType, annotations) are not sent, so they do not change the hash.
pub fn update_hash(u: &Update) -> String {
    let wire = u.to_params();
    let params: Vec<[&str; 2]> = wire
        .iter()
        .map(|(k, v)| [*k, v.as_str()])
        .collect::<Vec<_>>();
    // Serializing strings cannot fail; fall back to Debug so the function stays total anyway.
    let body = serde_json::to_string(&params).unwrap_or_else(|_| format!("{params:?}"));
    let mut h = Sha256::new();
    h.update(action::UPDATE.as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The default journal path: next to the first manifest, `<manifest>.journal.jsonl`.
pub fn default_path(first_manifest: &Path) -> PathBuf {
    let mut name = first_manifest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "livebatch".into());
    name.push(".journal.jsonl");
    first_manifest.with_file_name(name)
}

/// A journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: cannot {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "journal {0} does not exist: nothing to resume from (run without --resume/--retry-failed, or name the journal with --journal)"
    )]
    Missing(PathBuf),
    /// Another process holds the journal's lock: two runs on one journal would both send.
    #[error(
        "journal {0} is in use by another livebatch run (it holds the file's lock); wait for that run to end, or name another journal with --journal"
    )]
    Locked(PathBuf),
}

/// A journal file opened for appending and locked (an OS advisory lock, released when the process
/// ends however it ends), before anything is sent: a second run on the same journal is refused
/// instead of both sending and interleaving records.
#[derive(Debug)]
pub struct LockedJournal {
    path: PathBuf,
    file: File,
}

impl LockedJournal {
    /// Opens (or creates) the journal for appending, without locking it (library callers that
    /// manage their own runs, such as tests running two sessions on one journal in turn).
    fn open_unlocked(path: &Path) -> Result<LockedJournal, JournalError> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io(path, "open for appending"))?;
        Ok(LockedJournal {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Opens (or creates) the journal and takes its exclusive lock without waiting.
    pub fn lock(path: &Path) -> Result<LockedJournal, JournalError> {
        let LockedJournal { file, .. } = LockedJournal::open_unlocked(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked(path.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(path, "lock")(e)),
        }
        Ok(LockedJournal {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the journal up before a run starts (the confirmation was declined): a file that is
    /// still empty was created by the lock alone and is removed, so declining leaves nothing
    /// behind; a journal with earlier runs in it is kept as it was.
    pub fn discard_if_empty(self) {
        if self.file.metadata().is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn io<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Appends records, each one written whole and fsynced before `append` returns.
#[derive(Debug)]
pub struct JournalWriter {
    path: PathBuf,
    file: File,
    run_id: String,
    /// Tests: the write (counted from 0 after the run header) that fails, as a full disk would.
    #[cfg(test)]
    fail_write: Option<usize>,
    #[cfg(test)]
    writes: usize,
}

impl JournalWriter {
    /// Opens (or creates) the journal for appending, unlocked (the CLI locks it first with
    /// [`LockedJournal::lock`] and calls [`JournalWriter::start`]), and writes the run header. If a previous run
    /// was killed mid-write, the torn fragment is closed with a newline first so the header starts
    /// a line of its own.
    pub fn open(path: &Path, header: &RunHeader) -> Result<JournalWriter, JournalError> {
        JournalWriter::start(LockedJournal::open_unlocked(path)?, header)
    }

    /// Writes the run header to a journal locked earlier (see [`LockedJournal`]).
    pub fn start(locked: LockedJournal, header: &RunHeader) -> Result<JournalWriter, JournalError> {
        let LockedJournal { path, mut file } = locked;
        let path = path.as_path();
        let len = file.metadata().map_err(io(path, "inspect"))?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1)).map_err(io(path, "seek in"))?;
            file.read_exact(&mut last).map_err(io(path, "read"))?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(io(path, "write"))?;
            }
        }
        let mut w = JournalWriter {
            path: path.to_path_buf(),
            file,
            run_id: header.run_id.clone(),
            #[cfg(test)]
            fail_write: None,
            #[cfg(test)]
            writes: 0,
        };
        w.append(&Record::Run(header.clone()))?;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run this writer's records belong to.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Writes one record as one line and fsyncs it.
    pub fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let line = encode(&self.path, record)?;
        self.write_durably(&line)
            .map_err(|(action, source)| JournalError::Io {
                path: self.path.clone(),
                action,
                source,
            })
    }

    /// Gives the journal back, still locked, for the next run's header (after recovery wrote its
    /// records as a run of their own).
    pub fn into_locked(self) -> LockedJournal {
        LockedJournal {
            path: self.path,
            file: self.file,
        }
    }

    /// Tests: makes the `n`-th write from now (0: the next) fail with ENOSPC.
    #[cfg(test)]
    pub(crate) fn fail_write(mut self, n: usize) -> JournalWriter {
        self.fail_write = Some(n);
        self.writes = 0;
        self
    }

    /// Writes whole lines in one `write` and fsyncs them.
    fn write_durably(&mut self, lines: &[u8]) -> Result<(), (&'static str, std::io::Error)> {
        #[cfg(test)]
        {
            let n = self.writes;
            self.writes += 1;
            if self.fail_write == Some(n) {
                return Err(("write", std::io::Error::from_raw_os_error(28)));
            }
        }
        self.file.write_all(lines).map_err(|e| ("write", e))?;
        self.file.sync_data().map_err(|e| ("fsync", e))
    }
}

/// A shareable journal handle with group commit.
///
/// [`Journal::record`] hands a record to one writer thread, which writes every record waiting at
/// that moment in one `write` and makes them durable with one `fsync`, then answers each caller.
/// A caller still learns its record is durable before it goes on (so an outcome is never counted
/// before it is on disk), but a thousand concurrent outcomes cost one fsync, not a thousand
/// (measured against the emulator at `--qps 5000`: one fsync per record capped a run at about
/// 1,500 updates/s; see BENCHMARKS.md).
///
/// The writer's lock is held for each whole group, so a process exit taken while holding it
/// ([`Journal::exit_now`]) never cuts a record in half.
#[derive(Debug, Clone)]
pub struct Journal {
    inner: Arc<Mutex<JournalWriter>>,
    /// The group-commit writer; `None`: each record is written and fsynced by its caller.
    queue: Option<Arc<std::sync::mpsc::Sender<Pending>>>,
}

/// One record waiting for the writer thread, and where to say it is durable.
struct Pending {
    line: Vec<u8>,
    done: tokio::sync::oneshot::Sender<Result<(), (&'static str, std::io::Error)>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

/// Encodes one record as one line.
fn encode(path: &Path, record: &Record) -> Result<Vec<u8>, JournalError> {
    let mut line = serde_json::to_vec(record).map_err(|e| JournalError::Io {
        path: path.to_path_buf(),
        action: "encode a record for",
        source: std::io::Error::other(e),
    })?;
    line.push(b'\n');
    Ok(line)
}

/// The writer thread: takes what is waiting, writes it in one go, fsyncs once, answers everyone.
/// Ends when every [`Journal`] handle is gone.
fn group_commit(writer: Arc<Mutex<JournalWriter>>, rx: std::sync::mpsc::Receiver<Pending>) {
    let mut group: Vec<Pending> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    while let Ok(first) = rx.recv() {
        group.push(first);
        while let Ok(more) = rx.try_recv() {
            group.push(more);
        }
        buf.clear();
        for p in &group {
            buf.extend_from_slice(&p.line);
        }
        let result = {
            let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
            w.write_durably(&buf)
        };
        for p in group.drain(..) {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err((action, e)) => Err((*action, std::io::Error::new(e.kind(), e.to_string()))),
            };
            let _ = p.done.send(answer);
        }
    }
}

impl Journal {
    /// A journal whose every record is written and fsynced by the caller, one at a time. Tests
    /// under tokio's paused time use it: a writer thread would let the paused clock jump ahead
    /// while the runtime waits for it.
    pub fn new(w: JournalWriter) -> Journal {
        Journal {
            inner: Arc::new(Mutex::new(w)),
            queue: None,
        }
    }

    /// A journal with a group-commit writer thread (real runs).
    pub fn with_group_commit(w: JournalWriter) -> Journal {
        let inner = Arc::new(Mutex::new(w));
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = inner.clone();
        // If the thread cannot start, the receiver is gone and `record` answers every call with
        // an error, which halts the run like any other journal failure.
        let _ = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || group_commit(writer, rx));
        Journal {
            inner,
            queue: Some(Arc::new(tx)),
        }
    }

    /// Appends one record now, from the calling thread, and fsyncs it (run header and end).
    pub fn append(&self, record: &Record) -> Result<(), JournalError> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(record)
    }

    /// Appends one record (through the group-commit writer when there is one); returns once it
    /// is durable.
    pub async fn record(&self, record: &Record) -> Result<(), JournalError> {
        let Some(queue) = &self.queue else {
            return self.append(record);
        };
        let path = self.path();
        let line = encode(&path, record)?;
        let (done, answer) = tokio::sync::oneshot::channel();
        let gone = || JournalError::Io {
            path: path.clone(),
            action: "write",
            source: std::io::Error::other("the journal writer stopped"),
        };
        queue.send(Pending { line, done }).map_err(|_| gone())?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err((action, source))) => Err(JournalError::Io {
                path: path.clone(),
                action,
                source,
            }),
            Err(_) => Err(gone()),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .path()
            .to_path_buf()
    }

    pub fn run_id(&self) -> String {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .run_id()
            .to_string()
    }

    /// Exits the process at once (a second Ctrl-C) between two records, never during one.
    pub fn exit_now(&self, code: u8) -> ! {
        let _guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        std::process::exit(i32::from(code))
    }
}

/// Which items a run sends, given what the journal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResumeMode {
    /// Send everything.
    #[default]
    Fresh,
    /// Skip updates that already succeeded with identical content; send the rest.
    Resume,
    /// Send only updates whose identical content failed last time.
    RetryFailed,
}

/// A 64-bit digest standing for a task ID or an update hash in [`JournalState`].
///
/// Why digests, not the strings: resuming a run of a million updates reads a million records,
/// and two maps keyed by owned strings (a 36-character task ID, a 64-character hash) held about
/// 400 bytes per record — more than the whole run's 300 MB budget (measured: 16-byte digests
/// still peaked at 308 MiB resuming a million; 8-byte ones, see BENCHMARKS.md). Why 64 bits are
/// enough: an update is skipped only if its task's digest *and* its content's digest both match
/// a success. Two tasks sharing a digest (about 3 × 10⁻⁸ likely among a million) overwrite each
/// other's entry, so one of them is sent again (harmless: the same update); skipping one that
/// never succeeded would also need its content's digest to equal the other's, 2⁻⁶⁴.
type Digest64 = u64;

fn digest64(text: &str) -> Digest64 {
    let full = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&full[..8]);
    u64::from_be_bytes(first)
}

/// What a journal says, reduced to what resuming needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalState {
    /// Per task, the hash of the last update that succeeded: live state now matches it.
    last_success: FxHashMap<Digest64, Digest64>,
    /// Per (task, hash), the latest outcome.
    latest: FxHashMap<(Digest64, Digest64), ItemStatus>,
    /// Item records read.
    pub items: usize,
    /// Lines that did not parse (a torn last line after a crash, or its fragment later on).
    pub unreadable_lines: usize,
    /// Multi-call items begun and never finished (a crash between a stop and its restart): their
    /// tasks may be left stopped; every run recovers them before planning.
    pub unfinished: Vec<Unfinished>,
    /// The journal's last rollout in waves, as far as it got.
    pub rollout: super::waves::state::RolloutState,
}

impl JournalState {
    /// Reads a journal. A missing file is [`JournalError::Missing`].
    pub fn read(path: &Path) -> Result<JournalState, JournalError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(JournalError::Missing(path.to_path_buf()));
            }
            Err(e) => return Err(io(path, "open")(e)),
        };
        JournalState::from_reader(BufReader::new(file)).map_err(io(path, "read"))
    }

    /// Reads journal lines from any reader (for tests and tools), each held up to
    /// [`MAX_LINE`]: a longer one (a file passed as `--journal` by mistake) is counted unreadable
    /// without being buffered.
    pub fn from_reader(r: impl BufRead) -> std::io::Result<JournalState> {
        let mut st = JournalState::default();
        let mut open = Tracker::default();
        let mut lines = BoundedLines::new(r, MAX_LINE);
        while let Some((_, line)) = lines.next_line()? {
            let Line::Whole(line) = line else {
                st.unreadable_lines += 1;
                continue;
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Record>(line) {
                Ok(Record::Item(it)) => {
                    open.item(&it.item.task_id);
                    st.rollout.item(&it.run_id, &it.item);
                    st.apply(it)
                }
                Ok(Record::Rollout(r)) => st.rollout.rollout(&r),
                Ok(Record::Wave(w)) => st.rollout.wave(&w),
                Ok(Record::Step(s)) => open.step(&s.run_id, &s.task_id, s.region, &s.step, s.ok),
                Ok(_) => {}
                Err(_) => st.unreadable_lines += 1,
            }
        }
        st.unfinished = open.finish();
        Ok(st)
    }

    fn apply(&mut self, it: ItemRecord) {
        let it = it.item;
        self.items += 1;
        let (task, hash) = (digest64(&it.task_id), digest64(&it.hash));
        if matches!(
            it.status,
            ItemStatus::Succeeded | ItemStatus::AlreadyApplied
        ) {
            self.last_success.insert(task, hash);
        }
        self.latest.insert((task, hash), it.status);
    }

    /// Whether `mode` skips the update of `task_id` with content `hash`, and why.
    pub fn skip(&self, mode: ResumeMode, task_id: &str, hash: &str) -> Option<SkipReason> {
        if mode == ResumeMode::Fresh {
            return None;
        }
        let (task, hash) = (digest64(task_id), digest64(hash));
        let succeeded = self.last_success.get(&task) == Some(&hash);
        match mode {
            ResumeMode::Fresh => None,
            ResumeMode::Resume => succeeded.then_some(SkipReason::AlreadySucceeded),
            // The latest record of this exact update decides: a success in an older run must
            // not hide a failure of the same content in a later one.
            ResumeMode::RetryFailed => match self.latest.get(&(task, hash)) {
                Some(ItemStatus::Failed) => None,
                _ if succeeded => Some(SkipReason::AlreadySucceeded),
                _ => Some(SkipReason::NotFailed),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Region;

    fn item(task: &str, hash: &str, status: ItemStatus) -> Record {
        let mut item = ItemResult::pending(task.into(), "m.yaml:3".into(), hash.into());
        item.status = status;
        item.attempts = 1;
        item.latency_ms = Some(12.0);
        Record::Item(ItemRecord {
            run_id: "r".into(),
            item,
            at: "2026-01-01T00:00:00Z".into(),
        })
    }

    #[test]
    fn hash_follows_sent_content_only() {
        let mut a = Update::new("t1", Region::CnShanghai);
        a.repeat_number = Some(-1);
        let mut b = a.clone();
        b.source_type = Some(crate::model::SourceType::Vod);
        assert_eq!(update_hash(&a), update_hash(&b), "SourceType is never sent");
        b.repeat_number = Some(2);
        assert_ne!(update_hash(&a), update_hash(&b));
        assert!(update_hash(&a).starts_with("sha256:"));
        assert_eq!(update_hash(&a).len(), 7 + 64);
    }

    #[test]
    fn default_path_sits_next_to_the_manifest() {
        assert_eq!(
            default_path(Path::new("dir/m.yaml")),
            PathBuf::from("dir/m.yaml.journal.jsonl")
        );
    }

    #[test]
    fn resume_semantics() {
        let mut text = String::new();
        for r in [
            item("a", "h1", ItemStatus::Succeeded),
            item("b", "h2", ItemStatus::Failed),
            item("c", "h3", ItemStatus::Failed),
            item("c", "h3", ItemStatus::Succeeded),
            item("d", "h4", ItemStatus::Succeeded),
            item("d", "h5", ItemStatus::Succeeded),
        ] {
            text.push_str(&serde_json::to_string(&r).unwrap());
            text.push('\n');
        }
        let st = JournalState::from_reader(text.as_bytes()).unwrap();
        use ResumeMode::*;
        assert_eq!(st.skip(Fresh, "a", "h1"), None);
        assert_eq!(
            st.skip(Resume, "a", "h1"),
            Some(SkipReason::AlreadySucceeded)
        );
        assert_eq!(
            st.skip(Resume, "a", "hX"),
            None,
            "changed update is re-sent"
        );
        assert_eq!(st.skip(Resume, "b", "h2"), None);
        assert_eq!(
            st.skip(Resume, "c", "h3"),
            Some(SkipReason::AlreadySucceeded)
        );
        assert_eq!(st.skip(Resume, "new", "h9"), None);
        // d went h4 then h5: going back to h4 must be sent again.
        assert_eq!(st.skip(Resume, "d", "h4"), None);
        assert_eq!(st.skip(RetryFailed, "b", "h2"), None);
        assert_eq!(
            st.skip(RetryFailed, "c", "h3"),
            Some(SkipReason::AlreadySucceeded)
        );
        assert_eq!(
            st.skip(RetryFailed, "new", "h9"),
            Some(SkipReason::NotFailed)
        );
        assert_eq!(
            st.skip(RetryFailed, "b", "other"),
            Some(SkipReason::NotFailed)
        );
    }

    #[test]
    fn retry_failed_follows_the_latest_record_of_each_update() {
        let mut text = String::new();
        for r in [
            item("a", "h1", ItemStatus::Succeeded),
            item("a", "h1", ItemStatus::Failed),
            item("b", "h2", ItemStatus::Failed),
            item("b", "h2", ItemStatus::Succeeded),
        ] {
            text.push_str(&serde_json::to_string(&r).unwrap());
            text.push('\n');
        }
        let st = JournalState::from_reader(text.as_bytes()).unwrap();
        assert_eq!(st.skip(ResumeMode::RetryFailed, "a", "h1"), None);
        assert_eq!(
            st.skip(ResumeMode::RetryFailed, "b", "h2"),
            Some(SkipReason::AlreadySucceeded)
        );
    }

    #[test]
    fn a_second_writer_on_one_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let first = LockedJournal::lock(&path).unwrap();
        let err = LockedJournal::lock(&path).unwrap_err();
        assert!(matches!(err, JournalError::Locked(_)), "{err}");
        assert!(err.to_string().contains("in use by another livebatch run"));
        drop(first);
        LockedJournal::lock(&path).unwrap();
    }

    #[test]
    fn torn_last_line_loses_nothing_before_it_and_next_run_starts_clean() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let h = RunHeader::now(&[PathBuf::from("m.yaml")]);
        let mut w = JournalWriter::open(&path, &h).unwrap();
        w.append(&item("a", "h1", ItemStatus::Succeeded)).unwrap();
        w.append(&item("b", "h2", ItemStatus::Succeeded)).unwrap();
        drop(w);
        // A crash in the middle of the third record.
        let full = serde_json::to_string(&item("c", "h3", ItemStatus::Succeeded)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&full.as_bytes()[..full.len() / 2]).unwrap();
        drop(f);
        let st = JournalState::read(&path).unwrap();
        assert_eq!(st.items, 2);
        assert_eq!(st.unreadable_lines, 1);
        assert!(st.skip(ResumeMode::Resume, "b", "h2").is_some());
        assert!(st.skip(ResumeMode::Resume, "c", "h3").is_none());
        // The next run appends on a fresh line; its records are all readable.
        let mut w = JournalWriter::open(&path, &h).unwrap();
        w.append(&item("c", "h3", ItemStatus::Succeeded)).unwrap();
        drop(w);
        let st = JournalState::read(&path).unwrap();
        assert_eq!(st.items, 3);
        assert_eq!(st.unreadable_lines, 1);
        assert!(st.skip(ResumeMode::Resume, "c", "h3").is_some());
    }

    /// A line longer than any record (a file passed as the journal by mistake) is counted
    /// unreadable, and the records after it are read.
    #[test]
    fn an_overlong_line_is_unreadable_and_the_rest_is_read() {
        let good = serde_json::to_string(&item("a", "h1", ItemStatus::Succeeded)).unwrap();
        let text = format!("{}\n{good}\n", "x".repeat(MAX_LINE + 1));
        let st = JournalState::from_reader(text.as_bytes()).unwrap();
        assert_eq!((st.items, st.unreadable_lines), (1, 1));
        assert!(st.skip(ResumeMode::Resume, "a", "h1").is_some());
    }

    #[test]
    fn missing_journal_is_named() {
        let err = JournalState::read(Path::new("/nonexistent/j.jsonl")).unwrap_err();
        assert!(err.to_string().contains("nothing to resume"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn group_commit_makes_every_concurrent_record_durable_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let h = RunHeader::now(&[PathBuf::from("m.yaml")]);
        let j = Journal::with_group_commit(JournalWriter::open(&path, &h).unwrap());
        let mut set = tokio::task::JoinSet::new();
        for i in 0..500 {
            let j = j.clone();
            set.spawn(async move {
                j.record(&item(&format!("t{i}"), "h", ItemStatus::Succeeded))
                    .await
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap().unwrap();
        }
        // Every record answered durable is on disk, whole, exactly once.
        let st = JournalState::read(&path).unwrap();
        assert_eq!((st.items, st.unreadable_lines), (500, 0));
        for i in 0..500 {
            assert!(st.skip(ResumeMode::Resume, &format!("t{i}"), "h").is_some());
        }
    }
}
