//! The listener: start-up (the store loaded or seeded, the state file's log opened, the port
//! bound), the accept loop, keep-alive connections closed once idle, and shutdown (stop
//! accepting, let open requests finish, write the state file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Shared, admission};
use crate::emulator::stats::StatsSnapshot;
use crate::emulator::store::Store;
use crate::emulator::task::{Abnormal, SeedTask, Unreachable};
use crate::emulator::wal::{self, Committer, Record};
use crate::emulator::{Clock, EmulatorConfig, EmulatorError};

/// How long open connections get to finish when the server stops or closes an idle connection.
const GRACE: Duration = Duration::from_secs(5);

/// Starts emulators.
pub struct Emulator;

/// A running emulator. Dropping it without [`EmulatorHandle::shutdown`] stops accepting when the
/// runtime ends; call `shutdown` to stop cleanly and flush the state file.
pub struct EmulatorHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    state_file: Option<PathBuf>,
}

impl Emulator {
    /// Binds, loads the state file (or the seed), and serves until [`EmulatorHandle::shutdown`].
    pub async fn start(cfg: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        check_rates(&cfg)?;
        let store = Arc::new(Mutex::new(initial_store(&cfg)?));
        let committer = match &cfg.state_file {
            Some(p) => Some(
                Committer::start(p, store.clone())
                    .map_err(|e| state_err(p, format!("cannot open its log: {e}")))?,
            ),
            None => None,
        };
        let bind_err = |source| EmulatorError::Bind {
            addr: cfg.listen,
            source,
        };
        let listener = TcpListener::bind(cfg.listen).await.map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let shared = Arc::new(Shared::new(&cfg, store, committer));
        let (stop, stop_rx) = watch::channel(false);
        let server = tokio::spawn(accept_loop(listener, shared.clone(), stop_rx));
        Ok(EmulatorHandle {
            addr,
            shared,
            stop,
            server,
            state_file: cfg.state_file.clone(),
        })
    }
}

fn check_rates(cfg: &EmulatorConfig) -> Result<(), EmulatorError> {
    for r in [
        cfg.faults.fail_rate,
        cfg.faults.reset_rate,
        cfg.faults.drop_after_apply_rate,
        cfg.faults.abnormal_rate,
    ] {
        if !(0.0..=1.0).contains(&r) {
            return Err(EmulatorError::Config(format!(
                "a fault rate of {r} is outside 0 to 1"
            )));
        }
    }
    Ok(())
}

/// The tasks to start with: the state file's when it exists, else the seed; then written as the
/// state file's snapshot, so the log starts empty.
fn initial_store(cfg: &EmulatorConfig) -> Result<Store, EmulatorError> {
    let mut store = Store::new();
    store.set_abnormal(Some(Abnormal {
        rate: cfg.faults.abnormal_rate,
        seed: cfg.faults.rng_seed.unwrap_or_else(rand::random),
    }));
    store.set_unreachable(Unreachable::new(cfg.faults.unreachable_sources.clone()));
    match &cfg.state_file {
        Some(p) if p.exists() => {
            wal::recover(p, &mut store).map_err(|m| state_err(p, m))?;
        }
        _ => store.seed(cfg.seed.clone())?,
    }
    if let Some(p) = &cfg.state_file {
        wal::checkpoint(p, &store).map_err(|e| state_err(p, format!("cannot write: {e}")))?;
    }
    Ok(store)
}

fn state_err(p: &Path, message: String) -> EmulatorError {
    EmulatorError::State {
        path: p.to_path_buf(),
        message,
    }
}

impl EmulatorHandle {
    /// The address actually bound (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, the endpoint to point a client at.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The clock the emulator reads; advance a manual clock to move task lifecycles.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// How many temporary credentials `AssumeRole` and `AssumeRoleWithOIDC` issued so far.
    pub fn sts_issued(&self) -> (u64, u64) {
        let s = self.shared.sts();
        (s.assume_role_count, s.oidc_count)
    }

    /// Adds tasks while running; an ID already present is an error and nothing is added. With a
    /// state file it returns once they are in its log on disk, and a log that cannot be written
    /// is an error ([`EmulatorError::SeedNotDurable`]).
    pub async fn seed(&self, tasks: Vec<SeedTask>) -> Result<(), EmulatorError> {
        seed_durably(&self.shared, tasks, self.state_file.as_deref()).await
    }

    /// How many tasks are in each status now (abnormal ones included), for the start-up line.
    pub fn status_counts(&self) -> Vec<(crate::model::TaskStatus, usize)> {
        let now = self.shared.clock.now();
        self.shared.store().status_counts(now)
    }

    /// Every task as it is now, in creation order (with its recorded status).
    pub fn tasks(&self) -> Vec<SeedTask> {
        self.shared.store().tasks().to_vec()
    }

    /// Stops accepting, lets open connections finish their request, and writes the state file
    /// (a snapshot with the log folded in).
    pub async fn shutdown(self) -> Result<(), EmulatorError> {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        let Some(path) = self.state_file else {
            return Ok(());
        };
        let shared = self.shared.clone();
        let p = path.clone();
        let r = tokio::task::spawn_blocking(move || {
            if let Some(w) = &shared.wal {
                w.stop();
            }
            wal::checkpoint(&p, &shared.store())
        })
        .await;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(state_err(&path, format!("cannot write: {e}"))),
            Err(e) => Err(state_err(
                &path,
                format!("the final write did not finish: {e}"),
            )),
        }
    }
}

/// Adds `tasks` to the store and, with a state file (`wal` set), waits until each one's log record
/// is on disk. Records are queued under the store lock, so they keep the store's order.
async fn seed_durably(
    shared: &Shared,
    tasks: Vec<SeedTask>,
    state_file: Option<&Path>,
) -> Result<(), EmulatorError> {
    let count = tasks.len();
    let ids: Vec<String> = tasks.iter().map(|t| t.task_id.clone()).collect();
    let waits: Vec<_> = {
        let mut store = shared.store();
        store.seed(tasks)?;
        let Some(w) = &shared.wal else {
            return Ok(());
        };
        ids.iter()
            .map(|id| {
                let seq = store.next_seq();
                w.submit(Record::of(seq, &store, id).encode())
            })
            .collect()
    };
    for wait in waits {
        let written = match wait {
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| Err("the log writer stopped".into())),
            None => Err("the emulator is stopping".into()),
        };
        if let Err(reason) = written {
            return Err(EmulatorError::SeedNotDurable {
                path: state_file.map(Path::to_path_buf).unwrap_or_default(),
                count,
                reason,
            });
        }
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(_) => {
                // Out of descriptors or similar: back off briefly rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        conns.spawn(serve_connection(stream, peer, shared.clone(), stop.clone()));
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(GRACE, async { while conns.join_next().await.is_some() {} }).await;
    conns.abort_all();
}

/// One keep-alive connection, until the client closes it, the server stops, or it has been idle
/// for the idle timeout (then closed gracefully: a request half-sent gets [`GRACE`] more).
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let idle = shared.idle_timeout;
    let activity = Arc::new(Activity::new());
    let act = activity.clone();
    let svc = service_fn(move |req| {
        let busy = idle.map(|_| act.begin());
        let fut = admission::handle(shared.clone(), peer, req);
        async move {
            let r = fut.await;
            drop(busy);
            r
        }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    loop {
        let wait = idle.map(|d| activity.idle_left(d));
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = stop.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(GRACE, conn.as_mut()).await;
                break;
            }
            _ = tokio::time::sleep(wait.flatten().unwrap_or(Duration::ZERO)), if wait.is_some() => {
                if wait.flatten().is_none() {
                    // Idle too long: close it.
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(GRACE, conn.as_mut()).await;
                    break;
                }
            }
        }
    }
}

/// When a connection last finished a request, and whether one is in progress: what the idle
/// timeout reads.
struct Activity {
    inflight: AtomicUsize,
    /// Milliseconds from `born` to the end of the last request.
    last_ms: AtomicU64,
    born: Instant,
}

/// Marks a request in progress until dropped (also when the request's future is dropped).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let ms = self.0.born.elapsed().as_millis() as u64;
        self.0.last_ms.store(ms, Ordering::SeqCst);
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Activity {
    fn new() -> Activity {
        Activity {
            inflight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// Time left before the connection counts as idle for `limit`: `limit` while a request is in
    /// progress, `None` when it is idle already.
    fn idle_left(&self, limit: Duration) -> Option<Duration> {
        if self.inflight.load(Ordering::SeqCst) > 0 {
            return Some(limit);
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::SeqCst));
        let since = self.born.elapsed().saturating_sub(last);
        limit.checked_sub(since).filter(|d| !d.is_zero())
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

    /// A server's state keeping the state file `path`, its log open.
    fn with_log(path: &Path) -> Shared {
        let store = Arc::new(Mutex::new(Store::new()));
        let committer = Committer::start(path, store.clone()).unwrap();
        Shared::new(&EmulatorConfig::default(), store, Some(committer))
    }

    fn not_durable(e: EmulatorError) -> (PathBuf, usize, String) {
        match e {
            EmulatorError::SeedNotDurable {
                path,
                count,
                reason,
            } => (path, count, reason),
            other => panic!("not SeedNotDurable: {other}"),
        }
    }

    #[tokio::test]
    async fn seeding_returns_once_the_tasks_are_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emu.json");
        wal::checkpoint(&path, &Store::new()).unwrap();
        let shared = with_log(&path);
        let tasks = synthetic(3, Some(1), now());
        seed_durably(&shared, tasks.clone(), Some(&path))
            .await
            .unwrap();
        let log = std::fs::read_to_string(wal::log_path(&path)).unwrap();
        assert_eq!(log.lines().count(), 3, "{log}");
        shared.wal.as_ref().unwrap().stop();
        let mut back = Store::new();
        wal::recover(&path, &mut back).unwrap();
        assert_eq!(back.tasks(), &tasks[..]);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_log_that_cannot_be_written_fails_seeding_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emu.json");
        // Every write to this log fails, as on a full disk: a "full" device node (1, 7) made in
        // the temp dir (root, as CI runs); without the right to make one, a link to the
        // system's /dev/full, which is only opened for writing, never replaced or created.
        let log = wal::log_path(&path);
        let made = std::process::Command::new("mknod")
            .arg(&log)
            .args(["c", "1", "7"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            std::os::unix::fs::symlink("/dev/full", &log).unwrap();
        }
        let shared = with_log(&path);
        let e = seed_durably(&shared, synthetic(2, Some(1), now()), Some(&path))
            .await
            .unwrap_err();
        let shown = e.to_string();
        let (p, count, reason) = not_durable(e);
        assert_eq!((p.as_path(), count), (path.as_path(), 2));
        assert!(reason.contains("No space left on device"), "{reason}");
        assert!(
            shown.starts_with(&format!(
                "state file {}: 2 seeded task(s) were added but could not be logged",
                path.display()
            )),
            "{shown}"
        );
        shared.wal.as_ref().unwrap().stop();
    }

    #[tokio::test]
    async fn seeding_after_the_log_writer_stopped_fails_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emu.json");
        let shared = with_log(&path);
        shared.wal.as_ref().unwrap().stop();
        let e = seed_durably(&shared, synthetic(1, Some(1), now()), Some(&path))
            .await
            .unwrap_err();
        let (_, count, reason) = not_durable(e);
        assert_eq!((count, reason.as_str()), (1, "the emulator is stopping"));
    }
}
