//! Per-item records kept on disk instead of in memory, read back by their position.
//!
//! Why: an `apply` of a million updates holds, per item, its validated update, its plan item and
//! its outcome; in memory that was about 2.8 KB per item (291 MiB at 100,000), so a million
//! would not fit the 300 MB the run is allowed (issue 9). A [`SpillWriter`] appends each record as
//! one JSON line to an anonymous temporary file (`tempfile`: removed by the OS when closed, even
//! after a crash) and remembers where it starts: 12 bytes per item in memory. A finished
//! [`Spill`] reads any item back by its position (`pread`, so readers share it), or all of them
//! in order.
//!
//! Records stay in memory until they pass [`SPILL_AFTER`] bytes, then move to the file: a run of
//! a few thousand items never touches the disk for them, a run of a million holds 8 MB of them.
//!
//! Records may be written in any order (planning decides items as list pages arrive; items finish
//! in the order their calls return) and are read back in input order.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Marks a position never written.
const ABSENT: u64 = u64::MAX;

/// Bytes of records kept in memory before they move to a temporary file: a few thousand items
/// (a plan item is about 700 bytes of JSON), and at most 8 MB per spill, three spills a run.
pub const SPILL_AFTER: usize = 8 << 20;

/// Where the records are while being written.
#[derive(Debug)]
enum Store {
    Memory(Vec<u8>),
    File(BufWriter<File>),
}

/// Where the records are once finished.
#[derive(Debug)]
enum Data {
    Memory(Vec<u8>),
    File(File),
}

/// Appends records to a temporary file, each under its position.
#[derive(Debug)]
pub struct SpillWriter<T> {
    store: Store,
    dir: std::path::PathBuf,
    threshold: usize,
    /// Where each position's line starts; [`ABSENT`] when not written (yet).
    offsets: Vec<u64>,
    /// Each position's line length, its newline excluded.
    lens: Vec<u32>,
    end: u64,
    buf: Vec<u8>,
    _t: PhantomData<fn(T)>,
}

impl<T: Serialize> SpillWriter<T> {
    /// A spill in a new anonymous temporary file in `dir` (the journal's directory: the run
    /// already writes there; a system temporary directory may be a small RAM disk).
    pub fn new_in(dir: &Path) -> std::io::Result<SpillWriter<T>> {
        SpillWriter::with_threshold(dir, SPILL_AFTER)
    }

    /// As [`SpillWriter::new_in`], moving to the file past `threshold` bytes.
    pub fn with_threshold(dir: &Path, threshold: usize) -> std::io::Result<SpillWriter<T>> {
        Ok(SpillWriter {
            store: Store::Memory(Vec::new()),
            dir: dir.to_path_buf(),
            threshold,
            offsets: Vec::new(),
            lens: Vec::new(),
            end: 0,
            buf: Vec::new(),
            _t: PhantomData,
        })
    }

    /// Writes `value` as position `at` (a later write of the same position replaces it).
    pub fn put(&mut self, at: usize, value: &T) -> std::io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, value).map_err(std::io::Error::other)?;
        let len = u32::try_from(self.buf.len())
            .map_err(|_| std::io::Error::other("a record longer than 4 GiB"))?;
        self.buf.push(b'\n');
        if let Store::Memory(held) = &mut self.store
            && held.len() + self.buf.len() > self.threshold
        {
            let mut out = BufWriter::with_capacity(256 * 1024, tempfile::tempfile_in(&self.dir)?);
            out.write_all(held)?;
            self.store = Store::File(out);
        }
        match &mut self.store {
            Store::Memory(held) => held.extend_from_slice(&self.buf),
            Store::File(out) => out.write_all(&self.buf)?,
        }
        if self.offsets.len() <= at {
            self.offsets.resize(at + 1, ABSENT);
            self.lens.resize(at + 1, 0);
        }
        self.offsets[at] = self.end;
        self.lens[at] = len;
        self.end += self.buf.len() as u64;
        Ok(())
    }

    /// Writes `value` as the next position.
    pub fn push(&mut self, value: &T) -> std::io::Result<()> {
        self.put(self.offsets.len(), value)
    }

    /// Positions written so far (the highest written + 1).
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Whether the records moved to a file.
    pub fn on_disk(&self) -> bool {
        matches!(self.store, Store::File(_))
    }

    /// Flushes the file and makes it readable; nothing more can be written.
    pub fn finish(self) -> std::io::Result<Spill<T>> {
        let data = match self.store {
            Store::Memory(held) => Data::Memory(held),
            Store::File(out) => {
                let mut file = out.into_inner().map_err(|e| e.into_error())?;
                file.rewind()?;
                Data::File(file)
            }
        };
        Ok(Spill {
            data,
            offsets: self.offsets,
            lens: self.lens,
            error: Mutex::new(None),
            _t: PhantomData,
        })
    }
}

/// Finished records, read back by position.
#[derive(Debug)]
pub struct Spill<T> {
    data: Data,
    offsets: Vec<u64>,
    lens: Vec<u32>,
    /// The first read error met by an infallible iteration ([`Spill::iter_lossy`]).
    error: Mutex<Option<std::io::Error>>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Spill<T> {
    /// Positions (the highest written + 1).
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The record at `at`; `Ok(None)` when that position was never written.
    pub fn get(&self, at: usize) -> std::io::Result<Option<T>> {
        let Some(&offset) = self.offsets.get(at) else {
            return Ok(None);
        };
        if offset == ABSENT {
            return Ok(None);
        }
        let len = self.lens[at] as usize;
        let mut owned;
        let line: &[u8] = match &self.data {
            Data::Memory(held) => usize::try_from(offset)
                .ok()
                .and_then(|o| held.get(o..o + len))
                .ok_or_else(|| std::io::Error::other(format!("record {at} out of bounds")))?,
            Data::File(file) => {
                owned = vec![0u8; len];
                read_exact_at(file, &mut owned, offset)?;
                &owned
            }
        };
        serde_json::from_slice(line)
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("record {at} of a spill file: {e}")))
    }

    /// Every record in position order; a position never written is an error.
    pub fn iter(&self) -> impl Iterator<Item = std::io::Result<T>> + Send + '_ {
        (0..self.len()).map(move |i| {
            self.get(i)?
                .ok_or_else(|| std::io::Error::other(format!("item {} was never recorded", i + 1)))
        })
    }

    /// Every record in position order, stopping at the first error, which is kept for
    /// [`Spill::take_error`] (renderers that cannot fail midway check it once at the end).
    pub fn iter_lossy(&self) -> impl Iterator<Item = T> + '_ {
        self.iter().map_while(move |r| match r {
            Ok(v) => Some(v),
            Err(e) => {
                let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(e);
                None
            }
        })
    }

    /// The error that ended an [`Spill::iter_lossy`], if any (taken: asked once).
    pub fn take_error(&self) -> Option<std::io::Error> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_by_position_whatever_order_they_were_written_in() {
        let dir = tempfile::tempdir().unwrap();
        let mut w: SpillWriter<(u32, String)> = SpillWriter::new_in(dir.path()).unwrap();
        w.put(2, &(2, "two\nlines".into())).unwrap();
        w.put(0, &(0, "zero".into())).unwrap();
        w.put(1, &(1, "one".into())).unwrap();
        w.put(1, &(1, "one again".into())).unwrap();
        let s = w.finish().unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.get(2).unwrap(), Some((2, "two\nlines".to_string())));
        let all: Vec<_> = s.iter().map(Result::unwrap).collect();
        assert_eq!(
            all,
            vec![
                (0, "zero".to_string()),
                (1, "one again".into()),
                (2, "two\nlines".into())
            ]
        );
        assert_eq!(s.get(9).unwrap(), None);
    }

    #[test]
    fn records_move_to_an_anonymous_file_past_the_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let mut w: SpillWriter<String> = SpillWriter::with_threshold(dir.path(), 100).unwrap();
        for i in 0..5 {
            w.put(4 - i, &format!("record {i}")).unwrap();
        }
        assert!(!w.on_disk(), "5 short records stay in memory");
        for i in 5..50 {
            w.push(&format!("record {i}")).unwrap();
        }
        assert!(w.on_disk());
        let s = w.finish().unwrap();
        assert_eq!(s.get(0).unwrap().as_deref(), Some("record 4"));
        assert_eq!(s.get(49).unwrap().as_deref(), Some("record 49"));
        assert_eq!(s.iter().count(), 50);
        // The file is anonymous: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_gap_is_an_error_in_order_and_ends_a_lossy_iteration() {
        let dir = tempfile::tempdir().unwrap();
        let mut w: SpillWriter<u32> = SpillWriter::new_in(dir.path()).unwrap();
        w.push(&7).unwrap();
        w.put(2, &9).unwrap();
        let s = w.finish().unwrap();
        assert_eq!(s.get(1).unwrap(), None);
        let e = s.iter().nth(1).unwrap().unwrap_err();
        assert!(e.to_string().contains("item 2 was never recorded"), "{e}");
        assert_eq!(s.iter_lossy().collect::<Vec<_>>(), vec![7]);
        assert!(s.take_error().is_some());
        assert!(s.take_error().is_none());
    }
}
