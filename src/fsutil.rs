//! File writes that survive a crash — whole or not at all — and never replace what is not a
//! plain file.
//!
//! Why the second half: a rename puts a new inode at the path whatever was there. Run as root
//! (as CI jobs often are), `--report json:/dev/full` replaced the device node with a plain file,
//! and a report path that was a symlink to `/proc/self/fd/1` became a file. So what is at the
//! path decides how it is written ([`Destination`]): a regular file (or nothing yet) is replaced
//! atomically; a symlink to a regular file is followed and its target replaced, the link kept; a
//! device, FIFO or socket (or a symlink to one, `/dev/stdout`) is written in place, streaming;
//! `-` is standard output.

use std::io::Write;
use std::path::{Path, PathBuf};

/// How a path will be written, decided from what is at it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A regular file or no file yet: a temporary file beside it, renamed over it. For a symlink
    /// to a regular file this is the link's (canonical) target, so the link itself stays.
    Replace(PathBuf),
    /// A device, FIFO or socket, or a symlink to one: opened for writing and written in place.
    InPlace(PathBuf),
    /// `-`: standard output.
    Stdout,
}

/// Decides how `path` is written. Fails for a directory and for a symlink whose target is
/// missing (writing through it would create a file somewhere the user did not name; renaming
/// over it would destroy the link).
pub fn destination(path: &Path) -> std::io::Result<Destination> {
    use std::io::{Error, ErrorKind};
    if path.as_os_str() == "-" {
        return Ok(Destination::Stdout);
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(Destination::Replace(path.to_path_buf()));
        }
        Err(e) => return Err(e),
    };
    let target = if meta.file_type().is_symlink() {
        match std::fs::metadata(path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let to = std::fs::read_link(path)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "it is a symbolic link to a missing file ({to}); name the file to write, not the link"
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
    } else {
        meta.clone()
    };
    if target.is_dir() {
        return Err(Error::new(ErrorKind::IsADirectory, "it is a directory"));
    }
    if !target.is_file() {
        return Ok(Destination::InPlace(path.to_path_buf()));
    }
    if meta.file_type().is_symlink() {
        Ok(Destination::Replace(std::fs::canonicalize(path)?))
    } else {
        Ok(Destination::Replace(path.to_path_buf()))
    }
}

/// Writes `data` to `path` as [`write_atomic_with`] does.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(data))
}

/// Writes what `write` writes to `path`, streamed (buffered), never held whole: a report of a
/// million items. Where `path` is a regular file or new, atomically: a temporary file in the
/// same directory (so the rename cannot cross file systems), fsync'd, renamed over the target
/// (`tempfile`'s `persist`), then the directory fsync'd so the rename itself is durable; nothing
/// replaces `path` if `write` fails, and the temporary file is removed. Where `path` is not a
/// regular file ([`Destination::InPlace`], [`Destination::Stdout`]) it is written in place.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match destination(path)? {
        Destination::Replace(p) => replace(&p, write),
        Destination::InPlace(p) => {
            // No create, no truncate: the thing at the path is the user's (a device, a pipe).
            let mut f = std::fs::OpenOptions::new().write(true).open(&p)?;
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, &mut f);
            write(&mut w)?;
            w.flush()
        }
        Destination::Stdout => {
            let out = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, out.lock());
            write(&mut w)?;
            w.flush()
        }
    }
}

fn replace(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // tempfile creates owner-only (0600) files; a written plan, export or report gets the
    // permissions a plain create would give it (0666 less the umask), as before.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir)?;
    {
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(&dir.path().join("no/such/dir/x"), b"x").is_err());
        // A directory at the path is refused before any temporary file is made.
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(write_atomic(&dir.path().join("sub"), b"x").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic(&p, b"old").unwrap();
        let e = write_atomic_with(&p, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("boom"))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "boom");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_written_file_is_not_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.json");
        write_atomic(&p, b"{}").unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"{}").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), mode(&plain));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_a_regular_file_is_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // Exactly the two names: no temporary file left beside either.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(dir.path().join("gone"), &link).unwrap();
        let e = write_atomic(&link, b"x").unwrap_err().to_string();
        assert!(e.contains("symbolic link to a missing file"), "{e}");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(!dir.path().join("gone").exists());
    }

    /// A FIFO (made in a temp dir) is written in place: a reader on the other end gets the
    /// bytes, and the FIFO is still a FIFO afterwards.
    #[cfg(unix)]
    #[test]
    fn a_fifo_is_written_in_place() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(st.success());
        assert_eq!(
            destination(&fifo).unwrap(),
            Destination::InPlace(fifo.clone())
        );
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(&fifo).unwrap())
        };
        write_atomic(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
        // A symlink to the FIFO is written in place too, the link kept.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        assert_eq!(destination(&link).unwrap(), Destination::InPlace(link));
    }

    #[test]
    fn dash_is_standard_output() {
        assert_eq!(destination(Path::new("-")).unwrap(), Destination::Stdout);
    }
}
