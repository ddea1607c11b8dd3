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

/// Refuses an output that is an input or another output, then checks each can be written: its
/// directory exists and accepts a new file, and the file itself, when it exists, is a regular
/// file opened for writing without changing it. `-` (standard input) is never a file.
pub fn check(outputs: &[Output], inputs: &[PathBuf]) -> Result<(), OutputError> {
    let inputs: Vec<(PathBuf, &PathBuf)> = inputs
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .map(|p| (identity(p), p))
        .collect();
    let mut seen: Vec<(PathBuf, &Output)> = Vec::new();
    for out in outputs {
        let id = identity(&out.path);
        if let Some((_, input)) = inputs.iter().find(|(i, _)| *i == id) {
            return Err(OutputError::IsInput {
                role: out.role,
                path: out.path.clone(),
                input: (*input).clone(),
            });
        }
        if let Some((_, other)) = seen.iter().find(|(o, _)| *o == id) {
            return Err(OutputError::Clash {
                role: out.role,
                path: out.path.clone(),
                other_role: other.role,
                other: other.path.clone(),
            });
        }
        writable(&out.path).map_err(|why| OutputError::NotWritable {
            role: out.role,
            path: out.path.clone(),
            why,
        })?;
        seen.push((id, out));
    }
    Ok(())
}

/// Whether `path` can be written the way reports and journals are (a temporary file in its
/// directory renamed over it, or appended to), trying it without changing anything that exists.
fn writable(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", dir.display())),
        Err(e) => return Err(format!("directory {}: {e}", dir.display())),
    }
    if let Ok(m) = std::fs::metadata(path) {
        if m.is_dir() {
            return Err("it is a directory".into());
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
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
}
