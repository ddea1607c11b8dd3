//! `livebatch revert`: a run's journal → an ordinary manifest that puts back what the run changed.
//!
//! Why a manifest and not a command that sends: undoing hundreds of live streams deserves the
//! same review as doing it. The manifest goes through `plan` and `apply` like any other
//! (`--restart-running`, `--waves`), so what is sent is what a person reviewed, paced and
//! journaled as usual.
//!
//! In the order the CLI runs them:
//! 1. [`runs`]: the journal read once, streaming, each line bounded ([`lines`]), into a summary of
//!    its runs; the run(s) to revert chosen ([`runs::choose`]): by default the last run that
//!    applied something, with every run of its rollout (`apply --waves` and its resumes).
//! 2. [`image`]: the journal read again for the chosen runs only: per task, the before-image of
//!    what they applied (each field's earliest `old`, its latest `new`), less what a failed
//!    wave's rollback already restored.
//! 3. [`live`]: the live state of those tasks, through the same reads as `plan`.
//! 4. [`decide`] (pure): a task whose live value is no longer what the run set has *moved* since
//!    and is left out (unless `--include-moved`); each kept task becomes an update restoring its
//!    old values, less those that cannot be restored (empty before the run: the API cannot clear
//!    a field) or that `validate` would refuse.
//! 5. [`manifest`]: the YAML `validate`, `plan` and `apply` read, with a header saying what it
//!    reverts.

pub mod decide;
pub mod image;
pub mod live;
pub mod manifest;
pub mod runs;

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::apply::journal_lines::{BoundedLines, MAX_LINE};
use crate::exit;
use image::{Gather, Images};
use runs::{Choice, JournalIndex};

/// Why a journal cannot be reverted. Nothing is written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum RevertError {
    #[error("journal {path}: cannot {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a livebatch journal: {looks_like}.\n\
         A run's journal is the JSON-lines file `apply` writes: `<manifest>.journal.jsonl` next to \
         the first manifest by default (`<manifest>.sandbox.journal.jsonl` with --sandbox), or the \
         file given to `apply --journal`{hint}"
    )]
    NotAJournal {
        path: PathBuf,
        /// What the file looks like instead (a manifest, a saved plan, …), and where.
        looks_like: String,
        /// `; did you mean …?` when the default journal of this file exists.
        hint: String,
    },
    #[error(
        "journal {path} is not a regular file ({what}); revert reads it twice, name the journal \
         file itself"
    )]
    NotRegular { path: PathBuf, what: &'static str },
    #[error(
        "journal {path} is in use by a running livebatch apply (it holds the file's lock): a run \
         still in progress cannot be reverted; wait for it to end"
    )]
    InUse { path: PathBuf },
    #[error("journal {path} is empty: no run was recorded in it; nothing to revert")]
    Empty { path: PathBuf },
    #[error(
        "journal {path} holds no readable run: {unreadable} line(s) could not be read (a run \
         header torn by a crash as it was written?); nothing to revert"
    )]
    NoRun { path: PathBuf, unreadable: usize },
    #[error("journal {path} has no run {run}; {runs}")]
    UnknownRun {
        path: PathBuf,
        run: String,
        /// The runs it has, one a line ([`runs::JournalIndex::listing`]).
        runs: String,
    },
    #[error("{what}; nothing to revert\n{runs}")]
    NothingApplied {
        /// "no run in j.jsonl applied anything", or "run X applied nothing (…)".
        what: String,
        runs: String,
    },
    #[error(
        "run {run} was made with --no-refresh: it recorded no before-images (the live values it \
         replaced were never read); nothing to revert. Restore the old values with a manifest \
         of your own, or from an export taken before the run"
    )]
    NoRefresh { run: String },
    #[error("cannot render the manifest: {0}")]
    Render(String),
}

impl RevertError {
    /// The exit code (`src/exit.rs`) `livebatch revert` ends with for this error: 64 for a `--run`
    /// the journal does not have, 65 for a file that is not a journal, 66 for one that cannot be
    /// read, 1 for a journal with nothing to revert.
    pub fn exit_code(&self) -> u8 {
        match self {
            RevertError::UnknownRun { .. } => exit::USAGE,
            RevertError::NotAJournal { .. } => exit::INVALID_MANIFEST,
            RevertError::NotRegular { .. } => exit::NO_INPUT,
            RevertError::Io { .. }
            | RevertError::InUse { .. }
            | RevertError::Empty { .. }
            | RevertError::NoRun { .. }
            | RevertError::NothingApplied { .. }
            | RevertError::NoRefresh { .. }
            | RevertError::Render(_) => exit::FAILURE,
        }
    }
}

/// A journal opened to be reverted: a regular file (it is read twice), held under a shared lock
/// while it is read, so that a run still writing it (which holds the exclusive lock) is not
/// reverted half-way. The lock goes when this is dropped.
#[derive(Debug)]
pub struct JournalFile {
    path: PathBuf,
    file: File,
}

impl JournalFile {
    /// Opens `path` and takes its shared lock without waiting.
    pub fn open(path: &Path) -> Result<JournalFile, RevertError> {
        let io = |action| {
            move |source| RevertError::Io {
                path: path.to_path_buf(),
                action,
                source,
            }
        };
        let file = File::open(path).map_err(io("open"))?;
        let meta = file.metadata().map_err(io("inspect"))?;
        if !meta.is_file() {
            let what = if meta.is_dir() {
                "a directory"
            } else {
                "a device, FIFO or pipe"
            };
            return Err(RevertError::NotRegular {
                path: path.to_path_buf(),
                what,
            });
        }
        match file.try_lock_shared() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(RevertError::InUse {
                    path: path.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock")(e)),
        }
        Ok(JournalFile {
            path: path.to_path_buf(),
            file,
        })
    }

    fn lines(&mut self) -> Result<BoundedLines<BufReader<&File>>, RevertError> {
        (&self.file)
            .seek(SeekFrom::Start(0))
            .map_err(|source| RevertError::Io {
                path: self.path.clone(),
                action: "read",
                source,
            })?;
        Ok(BoundedLines::new(
            BufReader::with_capacity(256 * 1024, &self.file),
            MAX_LINE,
        ))
    }

    /// The first read: its runs ([`runs::index`]).
    pub fn index(&mut self) -> Result<JournalIndex, RevertError> {
        let path = self.path.clone();
        let mut lines = self.lines()?;
        runs::index(&mut lines, &path, || head(&path))
    }

    /// The second read: the before-images of the runs `choice` names ([`image::gather`]), in
    /// their manifests' order. Rollback items count from the chosen runs and every run of their
    /// rollouts.
    pub fn gather(&mut self, ix: &JournalIndex, choice: &Choice) -> Result<Images, RevertError> {
        let chosen: HashSet<String> = choice
            .runs
            .iter()
            .map(|&i| ix.runs[i].run_id.clone())
            .collect();
        let rollouts: HashSet<&str> = choice
            .runs
            .iter()
            .filter_map(|&i| ix.runs[i].rollout_id.as_deref())
            .collect();
        let mut scope = chosen.clone();
        scope.extend(
            ix.runs
                .iter()
                .filter(|r| {
                    r.rollout_id
                        .as_deref()
                        .is_some_and(|ro| rollouts.contains(ro))
                })
                .map(|r| r.run_id.clone()),
        );
        let path = self.path.clone();
        let mut lines = self.lines()?;
        let mut images = image::gather(&mut lines, &path, Gather::new(chosen, scope))?;
        let mut manifests: Vec<String> = Vec::new();
        for &i in &choice.runs {
            for m in &ix.runs[i].manifests {
                if !manifests.contains(m) {
                    manifests.push(m.clone());
                }
            }
        }
        image::in_manifest_order(&mut images.tasks, &manifests);
        Ok(images)
    }
}

/// The first 4 KiB of a file, to say what it is when it is not a journal (empty if unreadable).
fn head(path: &Path) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = f.take(4096).read_to_end(&mut buf);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_a_run_is_writing_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let held = crate::apply::journal::LockedJournal::lock(&path).unwrap();
        let e = JournalFile::open(&path).unwrap_err();
        assert!(matches!(e, RevertError::InUse { .. }), "{e}");
        assert_eq!(e.exit_code(), exit::FAILURE);
        drop(held);
        // Once the run ended: read, and (empty) said so.
        let mut j = JournalFile::open(&path).unwrap();
        assert!(matches!(j.index().unwrap_err(), RevertError::Empty { .. }));
        // A directory is not a journal file.
        let e = JournalFile::open(dir.path()).unwrap_err();
        assert!(matches!(e, RevertError::NotRegular { .. }), "{e}");
    }

    /// A rollout killed during a wave's rollback and resumed: the resume finished the rollback.
    /// Reverting the rollout — or only its first run — leaves the rolled-back task out, and puts
    /// the rest in the manifest's order.
    #[test]
    fn a_rollout_is_reverted_whole_less_what_its_rollback_restored() {
        use crate::apply::journal::Record;
        use crate::outcome::ItemStatus::*;
        use runs::tests::{header, item, rollout, text};
        fn cb(n: &str) -> (&str, &str, &str) {
            ("CallbackUrl", "https://h/old", n)
        }
        let mut records = vec![
            header("r1"),
            rollout("r1", "r1"),
            item("r1", "t2", Succeeded, &[cb("https://h/2")]),
            item("r1", "t1", Succeeded, &[cb("https://h/1")]),
            item("r1", "t3", Succeeded, &[cb("https://h/3")]),
            header("r2"),
            rollout("r2", "r1"),
        ];
        let mut back = item(
            "r2",
            "t3",
            Succeeded,
            &[("CallbackUrl", "https://h/3", "https://h/old")],
        );
        if let Record::Item(it) = &mut back {
            it.item.rollback = true;
        }
        records.push(back);
        // Each task's update is on the line of its number in m.yaml.
        let mut text = text(&records);
        for t in ["t1", "t2", "t3"] {
            text = text.replacen(
                &format!("\"task_id\":\"{t}\",\"source\":\"m.yaml:1\""),
                &format!("\"task_id\":\"{t}\",\"source\":\"m.yaml:{}\"", &t[1..]),
                2,
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        std::fs::write(&path, text).unwrap();
        let mut j = JournalFile::open(&path).unwrap();
        let ix = j.index().unwrap();
        for wanted in [None, Some("r1")] {
            let choice = runs::choose(&ix, &path, wanted).unwrap();
            let images = j.gather(&ix, &choice).unwrap();
            let ids: Vec<&str> = images.tasks.iter().map(|t| t.task_id.as_str()).collect();
            assert_eq!(ids, ["t1", "t2"], "{wanted:?}");
            assert_eq!(images.rolled_back, ["t3"], "{wanted:?}");
        }
        let choice = runs::choose(&ix, &path, None).unwrap();
        assert_eq!(
            (choice.runs.as_slice(), choice.rollout.as_deref()),
            (&[0, 1][..], Some("r1"))
        );
    }
}
