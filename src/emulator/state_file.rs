//! The state file: the snapshot form of every task — what `--state` writes and reads, what
//! `--seed` accepts directly, and what the write-ahead log ([`super::wal`]) folds into.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::task::SeedTask;

/// The state file: what `--state` writes and reads, and what `--seed` accepts directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// Always `livebatch-emulator-state`, so that a wrong file is recognised as such.
    pub format: String,
    pub version: u32,
    /// The last write-ahead-log sequence number this snapshot includes; log records up to it
    /// are already here and are skipped when the log is replayed.
    #[serde(default)]
    pub seq: u64,
    pub tasks: Vec<SeedTask>,
}

pub const STATE_FORMAT: &str = "livebatch-emulator-state";

impl StateFile {
    pub fn new(tasks: Vec<SeedTask>) -> StateFile {
        StateFile {
            format: STATE_FORMAT.into(),
            version: 1,
            seq: 0,
            tasks,
        }
    }

    /// Reads a state file; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<StateFile, String> {
        let f: StateFile = serde_json::from_str(text).map_err(|e| {
            format!("not a livebatch emulator state file (JSON with format, version, tasks): {e}")
        })?;
        if f.format != STATE_FORMAT || f.version != 1 {
            return Err(format!(
                "format {:?} version {} is not {STATE_FORMAT:?} version 1",
                f.format, f.version
            ));
        }
        Ok(f)
    }

    pub fn load(path: &Path) -> Result<StateFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        StateFile::parse(&text)
    }

    /// Writes atomically: a temporary file in the same directory, fsync, rename, so a crash leaves
    /// either the old file or the new one, never a torn one.
    pub fn save_atomic(&self, path: &Path) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        crate::fsutil::write_atomic(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::task::tests::{entry, t};

    #[test]
    fn state_file_round_trips_and_rejects_strangers() {
        let (u, ann) = entry();
        let f = StateFile::new(vec![
            super::super::seed::from_entry(&u, &ann, t("2026-02-01T00:00:00Z")).unwrap(),
        ]);
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(StateFile::parse(&text).unwrap(), f);
        assert!(StateFile::parse(r#"{"format":"other","version":1,"tasks":[]}"#).is_err());
        assert!(StateFile::parse("updates: []").is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        f.save_atomic(&p).unwrap();
        assert_eq!(StateFile::load(&p).unwrap(), f);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
