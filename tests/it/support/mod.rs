//! What the integration tests share, one module per kind of helper:
//! - `batch` — batches of callback updates and the manifest that carries them;
//! - `binary` — the real binary: `lb()`, `Scratch` (a run's directory and empty HOME, `apply`
//!   against an `Emu` with its journal and reports), `wait_for`, and `EmulatorProcess`
//!   (`livebatch emulator` as a child process);
//! - `emulator` — an in-process emulator on loopback port 0 (`Emu`, stopped on drop), signed
//!   requests to it, its answers, seed tasks and times;
//! - `executor` — a whole run through the library's executor in memory (`run`), summarized;
//! - `server` — a scripted HTTP server standing in for the service (records requests, replies as told);
//! - `quota` — a real `redis-server` for the quota tests (free loopback port, own temp directory, stopped on drop).

pub mod batch;
pub mod binary;
pub mod emulator;
pub mod executor;
pub mod quota;
pub mod server;
