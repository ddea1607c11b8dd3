//! Where a run writes (reports, journal, plan), checked before anything is sent.
//!
//! Why: a report path equal to a manifest or to the journal silently overwrote it at the end of a
//! run, and a report in a missing directory failed after every update was sent, so the run's
//! outcome line was never printed. Both are caught here, before the first call.

use std::path::{Path, PathBuf};

/// An output path that must not be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "{role} {path} is also an input ({input}): writing it would overwrite the input; name another file"
    )]
    IsInput {
        role: &'static str,
        path: PathBuf,
        input: PathBuf,
    },
    #[error(
        "{role} {path} is also the {other_role} ({other}): each output needs a file of its own"
    )]
    Clash {
        role: &'static str,
        path: PathBuf,
        other_role: &'static str,
        other: PathBuf,
    },
    #[error("{role} {path} cannot be written: {why}")]
    NotWritable {
        role: &'static str,
        path: PathBuf,
        why: String,
    },
}

/// One file a run will write, and what it is (`--report`, `journal`, `--out`), for messages.
#[derive(Debug, Clone)]
pub struct Output {
    pub role: &'static str,
    pub path: PathBuf,
}

impl Output {
    pub fn new(role: &'static str, path: impl Into<PathBuf>) -> Output {
        Output {
            role,
            path: path.into(),
        }
    }
}

/// The path a file is known by, whatever it was called: symlinks and `..` resolved through its
/// directory (and through the file itself when it exists). A path whose directory does not exist
/// stays as given (it fails the writability check anyway).
pub fn identity(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// A file as the system knows it: its resolved path, and (when it exists) its device and inode.
/// Two names of one file — a hard link (`ln m.yaml j.jsonl`) — differ in path but not in inode,
/// so comparing paths alone let a journal be appended into the manifest it was linked to.
#[derive(Debug, Clone)]
struct FileKey {
    path: PathBuf,
    inode: Option<(u64, u64)>,
}

impl FileKey {
    fn of(path: &Path) -> FileKey {
        FileKey {
            path: identity(path),
            inode: inode(path),
        }
    }

    fn same(&self, other: &FileKey) -> bool {
        self.path == other.path || (self.inode.is_some() && self.inode == other.inode)
    }
}

#[cfg(unix)]
fn inode(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn inode(_: &Path) -> Option<(u64, u64)> {
    None
}

/// Refuses an output that is an input or another output (the same file by any name, hard links
/// included), then checks each can be written: a regular file or a new one in a directory that
/// accepts a new file; or, for reports and plans, a device, FIFO or `-` (standard output), which
/// are written in place. The journal must be a regular file: it is appended to, read back on
/// resume and locked, none of which a FIFO or device can do (a FIFO blocked the run forever).
/// `-` as an input (standard input) is never a file.
pub fn check(outputs: &[Output], inputs: &[PathBuf]) -> Result<(), OutputError> {
    let inputs: Vec<(FileKey, &PathBuf)> = inputs
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .map(|p| (FileKey::of(p), p))
        .collect();
    let mut seen: Vec<(FileKey, &Output)> = Vec::new();
    for out in outputs {
        let key = FileKey::of(&out.path);
        if let Some((_, input)) = inputs.iter().find(|(i, _)| i.same(&key)) {
            return Err(OutputError::IsInput {
                role: out.role,
                path: out.path.clone(),
                input: (*input).clone(),
            });
        }
        if let Some((_, other)) = seen.iter().find(|(o, _)| o.same(&key)) {
            return Err(OutputError::Clash {
                role: out.role,
                path: out.path.clone(),
                other_role: other.role,
                other: other.path.clone(),
            });
        }
        writable(&out.path, out.role == JOURNAL).map_err(|why| OutputError::NotWritable {
            role: out.role,
            path: out.path.clone(),
            why,
        })?;
        seen.push((key, out));
    }
    Ok(())
}

/// The role name of the run's journal among the outputs.
pub const JOURNAL: &str = "journal";

/// Whether `path` can be written the way it will be ([`crate::fsutil::destination`]): a regular
/// file replaced by a temporary file renamed over it (or a journal appended to), a device or FIFO
/// written in place. Tried without changing anything that exists.
fn writable(path: &Path, regular_only: bool) -> Result<(), String> {
    use crate::fsutil::Destination;
    let dest = crate::fsutil::destination(path).map_err(|e| e.to_string())?;
    let path = match dest {
        Destination::Replace(p) => p,
        Destination::Stdout | Destination::InPlace(_) if regular_only => {
            return Err(
                "it is not a regular file (a device, FIFO or standard output); the journal must be a regular file".into(),
            );
        }
        Destination::Stdout => return Ok(()),
        Destination::InPlace(p) => return writable_in_place(&p),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", dir.display())),
        Err(e) => return Err(format!("directory {}: {e}", dir.display())),
    }
    if std::fs::metadata(&path).is_ok() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| e.to_string())?;
    }
    let probe = dir.join(format!(".livebatch-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// A device or FIFO: opening a FIFO for writing waits for a reader (which may come only when the
/// run writes its reports), so a FIFO is checked by its permission bits; a device is opened for
/// writing, which changes nothing.
fn writable_in_place(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let m = std::fs::metadata(path).map_err(|e| e.to_string())?;
        if m.file_type().is_fifo() {
            return Ok(());
        }
        if m.file_type().is_socket() {
            return Err("it is a socket; name a file, a device or a FIFO".into());
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_equal_to_an_input_or_another_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("m.yaml");
        std::fs::write(&m, "updates: []\n").unwrap();
        // The same file by another spelling is still the same file.
        let other_spelling = dir.path().join("sub/../m.yaml");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let e = check(
            &[Output::new("--report", &other_spelling)],
            std::slice::from_ref(&m),
        )
        .unwrap_err();
        assert!(matches!(e, OutputError::IsInput { .. }), "{e}");
        let j = dir.path().join("j.jsonl");
        let e = check(
            &[Output::new("journal", &j), Output::new("--report", &j)],
            std::slice::from_ref(&m),
        )
        .unwrap_err();
        assert!(e.to_string().contains("also the journal"), "{e}");
        check(
            &[
                Output::new("journal", &j),
                Output::new("--report", dir.path().join("r.md")),
            ],
            &[m, PathBuf::from("-")],
        )
        .unwrap();
    }

    #[test]
    fn an_output_in_a_missing_directory_or_on_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = check(
            &[Output::new("--report", dir.path().join("nope/r.json"))],
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("nope") && e.contains("--report"), "{e}");
        let e = check(&[Output::new("--report", dir.path())], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory"), "{e}");
        // Nothing was left behind by the probe.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn a_hard_link_to_an_input_is_the_input() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("m.yaml");
        std::fs::write(&m, "updates: []\n").unwrap();
        let j = dir.path().join("j.jsonl");
        std::fs::hard_link(&m, &j).unwrap();
        let e = check(&[Output::new(JOURNAL, &j)], std::slice::from_ref(&m)).unwrap_err();
        assert!(matches!(e, OutputError::IsInput { .. }), "{e}");
        // And two outputs that are one file by two names clash.
        let r = dir.path().join("r.json");
        std::fs::write(&r, "{}").unwrap();
        let r2 = dir.path().join("r2.json");
        std::fs::hard_link(&r, &r2).unwrap();
        let e = check(
            &[Output::new("--report", &r), Output::new("--report", &r2)],
            &[],
        )
        .unwrap_err();
        assert!(matches!(e, OutputError::Clash { .. }), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_a_report_destination_but_never_a_journal() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        check(&[Output::new("--report", &fifo)], &[]).unwrap();
        check(&[Output::new("--report", "-")], &[]).unwrap();
        let e = check(&[Output::new(JOURNAL, &fifo)], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be a regular file"), "{e}");
        let e = check(&[Output::new(JOURNAL, "-")], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be a regular file"), "{e}");
    }
}
