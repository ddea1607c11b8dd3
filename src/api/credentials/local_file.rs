//! Reading a credential input from the local disk (the OIDC token, the profile files) without
//! letting it hang or exhaust the run: only a regular file is read, and only up to a bound.
//! Opening a FIFO for reading blocks until some process opens it for writing, and reading a
//! character device such as `/dev/zero` never ends, so both are refused before any read.

use std::io::Read;
use std::path::Path;

/// Why a credential file was not read.
#[derive(Debug)]
pub enum ReadError {
    NotFound,
    /// Something other than a regular file: what it is ("a FIFO", "a directory", …).
    NotRegular(&'static str),
    /// Larger than the bound given (in bytes).
    TooLarge(u64),
    Io(std::io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotFound => write!(f, "no such file"),
            ReadError::NotRegular(what) => write!(
                f,
                "it is {what}, not a regular file; a credential input must be a regular file"
            ),
            ReadError::TooLarge(limit) => write!(f, "it is larger than {limit} bytes"),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn kind(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// Reads the regular file at `path` (symbolic links followed), at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound,
        _ => ReadError::Io(e),
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    // Opened non-blocking, in case the path was replaced by a FIFO since the check above (a
    // regular file ignores the flag); the handle itself is checked again.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge(limit));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_and_only_up_to_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "abc").unwrap();
        assert_eq!(read_bounded(&file, 3).unwrap(), b"abc");
        assert!(matches!(
            read_bounded(&file, 2),
            Err(ReadError::TooLarge(2))
        ));
        assert!(matches!(
            read_bounded(&dir.path().join("missing"), 9),
            Err(ReadError::NotFound)
        ));
        assert!(matches!(
            read_bounded(dir.path(), 9),
            Err(ReadError::NotRegular("a directory"))
        ));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) reads the NUL-terminated path only.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_bounded(&fifo, 9).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
    }
}
