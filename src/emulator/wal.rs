//! Durable state: every change the emulator acknowledges is on disk before its answer is sent, so
//! `kill -9` of the emulator loses no acknowledged write.
//!
//! Two files: the state file (a snapshot, [`StateFile`], written atomically) and a write-ahead
//! log beside it (`<state>.wal`, JSON lines). A change is applied in memory under the store lock,
//! numbered there (`seq`, so the log's order is the store's order), and its task's new state —
//! or a deletion — handed to one committer thread, which writes whatever has queued up as one
//! append and one `fdatasync` (group commit), then releases every waiting answer. When the log
//! grows past [`COMPACT_BYTES`] the committer writes a new snapshot (with the `seq` it includes)
//! and empties the log; a crash between the two leaves log records the snapshot already holds,
//! which replay skips by their `seq`. On start (and after a clean stop) the log is replayed into
//! a fresh snapshot. A torn last line — a crash in the middle of an append that was never
//! acknowledged — is ignored.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::state_file::StateFile;
use super::store::Store;
use super::task::SeedTask;

/// Log size that triggers a new snapshot. An update's record is ~600 bytes, so this is ~14,000
/// changes between snapshots; writing a 10,000-task snapshot takes tens of milliseconds.
pub const COMPACT_BYTES: u64 = 8 << 20;

/// The log beside a state file.
pub fn log_path(state: &Path) -> PathBuf {
    let mut s = state.as_os_str().to_owned();
    s.push(".wal");
    PathBuf::from(s)
}

/// One log line: a task's whole new state, or its deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub put: Option<SeedTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub del: Option<String>,
}

impl Record {
    /// The record of task `id` as the store now holds it (a deletion when it is gone).
    pub fn of(seq: u64, store: &Store, id: &str) -> Record {
        match store.get(id) {
            Some(t) => Record {
                seq,
                put: Some(t.clone()),
                del: None,
            },
            None => Record {
                seq,
                put: None,
                del: Some(id.to_string()),
            },
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    fn apply(self, store: &mut Store) {
        if let Some(t) = self.put {
            store.put(t);
        } else if let Some(id) = self.del {
            store.forget(&id);
        }
    }
}

/// What recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Log records applied on top of the snapshot.
    pub replayed: usize,
    /// A torn last line was ignored.
    pub torn_tail: bool,
}

/// Loads the snapshot at `path` and replays its log into `store`; `store.seq()` is then the last
/// change's number. The error says which file and line is wrong.
pub fn recover(path: &Path, store: &mut Store) -> Result<Recovered, String> {
    let snap = StateFile::load(path)?;
    let base = snap.seq;
    store.seed(snap.tasks).map_err(|e| e.to_string())?;
    store.set_seq(base);
    let log = log_path(path);
    let mut out = Recovered::default();
    let f = match File::open(&log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(format!("cannot read {}: {e}", log.display())),
    };
    let lines: Vec<String> = BufReader::new(f)
        .split(b'\n')
        .map(|l| l.map(|b| String::from_utf8_lossy(&b).into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read {}: {e}", log.display()))?;
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: Record = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(_) if i == last => {
                out.torn_tail = true;
                break;
            }
            Err(e) => {
                return Err(format!(
                    "{} line {}: not a log record ({e}); the log is damaged",
                    log.display(),
                    i + 1
                ));
            }
        };
        if rec.seq <= store.seq() {
            continue;
        }
        store.set_seq(rec.seq);
        rec.apply(store);
        out.replayed += 1;
    }
    Ok(out)
}

/// Writes a snapshot of `store` and then empties the log (in that order: see the module docs).
pub fn checkpoint(path: &Path, store: &Store) -> std::io::Result<()> {
    write_checkpoint(path, &snapshot_of(store))
}

fn snapshot_of(store: &Store) -> StateFile {
    let mut snap = StateFile::new(store.tasks().to_vec());
    snap.seq = store.seq();
    snap
}

fn write_checkpoint(path: &Path, snap: &StateFile) -> std::io::Result<()> {
    snap.save_atomic(path)?;
    let log = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(log_path(path))?;
    log.sync_all()
}

struct Pending {
    line: Vec<u8>,
    done: oneshot::Sender<Result<(), String>>,
}

/// The committer: one thread that appends and fsyncs queued records in groups.
pub struct Committer {
    tx: Mutex<Option<mpsc::UnboundedSender<Pending>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Committer {
    /// Opens the log of `path` for appending and starts the thread. `store` is read (under its
    /// lock) only to write a snapshot when the log has grown past [`COMPACT_BYTES`].
    pub fn start(path: &Path, store: Arc<Mutex<Store>>) -> std::io::Result<Committer> {
        Committer::start_compacting_at(path, store, COMPACT_BYTES)
    }

    /// [`Committer::start`] with another log size for a new snapshot (tests use a small one).
    pub fn start_compacting_at(
        path: &Path,
        store: Arc<Mutex<Store>>,
        compact_bytes: u64,
    ) -> std::io::Result<Committer> {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(path))?;
        let mut size = log.metadata()?.len();
        let path = path.to_path_buf();
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
        let thread = std::thread::Builder::new()
            .name("emulator-wal".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut group = vec![first];
                    while let Ok(p) = rx.try_recv() {
                        group.push(p);
                    }
                    let mut buf = Vec::with_capacity(group.iter().map(|p| p.line.len()).sum());
                    for p in &group {
                        buf.extend_from_slice(&p.line);
                    }
                    let res = log
                        .write_all(&buf)
                        .and_then(|()| log.sync_data())
                        .map_err(|e| format!("cannot write {}: {e}", log_path(&path).display()));
                    size += buf.len() as u64;
                    for p in group {
                        let _ = p.done.send(res.clone());
                    }
                    if size > compact_bytes {
                        // Copy under the lock, write outside it: requests wait for the copy only.
                        let snap = {
                            let s = store.lock().unwrap_or_else(|e| e.into_inner());
                            snapshot_of(&s)
                        };
                        if write_checkpoint(&path, &snap).is_ok() {
                            size = 0;
                        }
                    }
                }
            })?;
        Ok(Committer {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues one record; await the receiver for it to be on disk. Called under the store lock,
    /// so records queue in the store's order. `None` once the committer is stopping.
    pub fn submit(&self, line: Vec<u8>) -> Option<oneshot::Receiver<Result<(), String>>> {
        let (done, rx) = oneshot::channel();
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        tx.as_ref()?.send(Pending { line, done }).ok()?;
        Some(rx)
    }

    /// Writes what is queued and stops the thread.
    pub fn stop(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::seed::synthetic;
    use crate::model::ApiTime;

    fn now() -> ApiTime {
        ApiTime::parse("2026-11-25T12:00:00Z").unwrap()
    }

    #[test]
    fn replay_applies_records_after_the_snapshot_and_skips_those_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emu.json");
        let tasks = synthetic(3, Some(1), now());
        let mut store = Store::new();
        store.seed(tasks.clone()).unwrap();
        checkpoint(&path, &store).unwrap();

        let mut changed = tasks[0].clone();
        changed.callback_url = "https://hooks.example.com/new".into();
        store.put(changed.clone());
        let s1 = store.next_seq();
        let r1 = Record::of(s1, &store, &changed.task_id);
        store.forget(&tasks[1].task_id);
        let s2 = store.next_seq();
        let r2 = Record::of(s2, &store, &tasks[1].task_id);
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(log_path(&path))
            .unwrap();
        log.write_all(&r1.encode()).unwrap();
        log.write_all(&r2.encode()).unwrap();
        log.write_all(b"{\"seq\":3,\"put\":{\"Tas").unwrap(); // torn
        drop(log);

        let mut back = Store::new();
        let rec = recover(&path, &mut back).unwrap();
        assert_eq!(
            rec,
            Recovered {
                replayed: 2,
                torn_tail: true
            }
        );
        assert_eq!(back.tasks(), store.tasks());
        assert_eq!(back.seq(), 2);

        // A snapshot written after the first record: replay must not apply it twice or undo.
        let mut snap = StateFile::new(store.tasks().to_vec());
        snap.seq = 2;
        snap.save_atomic(&path).unwrap();
        let mut again = Store::new();
        let rec = recover(&path, &mut again).unwrap();
        assert_eq!(rec.replayed, 0);
        assert_eq!(again.tasks(), store.tasks());
    }

    #[test]
    fn a_damaged_line_that_is_not_the_last_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emu.json");
        checkpoint(&path, &Store::new()).unwrap();
        std::fs::write(log_path(&path), "garbage\n{\"seq\":1,\"del\":\"x\"}\n").unwrap();
        let e = recover(&path, &mut Store::new()).unwrap_err();
        assert!(e.contains("emu.json.wal line 1"), "{e}");
    }

    #[test]
    fn the_committer_makes_records_durable_before_answering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emu.json");
        let store = Arc::new(Mutex::new(Store::new()));
        checkpoint(&path, &store.lock().unwrap()).unwrap();
        let c = Committer::start(&path, store.clone()).unwrap();
        let tasks = synthetic(20, Some(2), now());
        let mut waits = Vec::new();
        for t in &tasks {
            let mut s = store.lock().unwrap();
            s.put(t.clone());
            let seq = s.next_seq();
            waits.push(c.submit(Record::of(seq, &s, &t.task_id).encode()).unwrap());
        }
        for w in waits {
            w.blocking_recv().unwrap().unwrap();
        }
        // Read back while the committer still runs: everything answered is in the files.
        let mut back = Store::new();
        recover(&path, &mut back).unwrap();
        assert_eq!(back.tasks(), &tasks[..]);
        c.stop();
        assert!(c.submit(b"x\n".to_vec()).is_none());
    }

    #[test]
    fn snapshots_taken_while_running_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emu.json");
        let store = Arc::new(Mutex::new(Store::new()));
        let tasks = synthetic(5, Some(3), now());
        store.lock().unwrap().seed(tasks.clone()).unwrap();
        checkpoint(&path, &store.lock().unwrap()).unwrap();
        // A snapshot after every ~2 records.
        let c = Committer::start_compacting_at(&path, store.clone(), 1500).unwrap();
        let mut waits = Vec::new();
        for k in 0..200 {
            let mut s = store.lock().unwrap();
            let mut t = tasks[k % 5].clone();
            t.callback_url = format!("https://hooks.example.com/{k}");
            s.put(t.clone());
            let seq = s.next_seq();
            waits.push(c.submit(Record::of(seq, &s, &t.task_id).encode()).unwrap());
        }
        for w in waits {
            w.blocking_recv().unwrap().unwrap();
        }
        // Recovery runs at start-up, never beside a committer: stop it first, or the read could
        // fall between a snapshot's rename and the log's truncation (seen once in a full run).
        c.stop();
        let snap = StateFile::load(&path).unwrap();
        assert!(snap.seq > 0, "snapshots were written while running");
        let mut back = Store::new();
        recover(&path, &mut back).unwrap();
        assert_eq!(back.tasks(), store.lock().unwrap().tasks());
        assert_eq!(back.seq(), 200);
    }
}
