//! A journal's lines, each read with a bound: a line longer than the bound is skipped as it is
//! read, never buffered whole. Resume (`journal::JournalState`) and `revert` read through it.
//!
//! Why: `BufRead::split` holds a whole line in memory, so a file passed by mistake (a binary, a
//! multi-gigabyte log with no newline) would be read into memory entire before being refused. A
//! journal record is one item's outcome, a few kilobytes at most (`SourceUrls` before and after
//! included); [`MAX_LINE`] leaves a wide margin.

use std::io::{self, BufRead};

/// The longest journal line read (4 MiB). A longer one is [`Line::TooLong`].
pub const MAX_LINE: usize = 4 << 20;

/// One line, without its newline.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Whole(&'a [u8]),
    /// Longer than the bound: its length in bytes, its content skipped.
    TooLong(usize),
}

/// Lines of a reader, numbered from 1, each at most `max` bytes held.
#[derive(Debug)]
pub struct BoundedLines<R> {
    r: R,
    buf: Vec<u8>,
    number: usize,
    max: usize,
}

impl<R: BufRead> BoundedLines<R> {
    pub fn new(r: R, max: usize) -> BoundedLines<R> {
        BoundedLines {
            r,
            buf: Vec::new(),
            number: 0,
            max,
        }
    }

    /// The next line and its number; `None` at the end. A last line without a newline (a record
    /// torn by a crash) is a line like any other.
    pub fn next_line(&mut self) -> io::Result<Option<(usize, Line<'_>)>> {
        self.buf.clear();
        let mut len = 0usize;
        let mut any = false;
        loop {
            let chunk = match self.r.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (take, newline) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if len + take <= self.max {
                self.buf.extend_from_slice(&chunk[..take]);
            }
            len += take;
            self.r.consume(take + usize::from(newline));
            if newline {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        Ok(Some(if len > self.max {
            (self.number, Line::TooLong(len))
        } else {
            (self.number, Line::Whole(&self.buf))
        }))
    }

    /// Gives the reader back (to read it again from the start).
    pub fn into_inner(self) -> R {
        self.r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8], max: usize, cap: usize) -> Vec<(usize, Result<String, usize>)> {
        // A small BufReader capacity makes lines span several fills.
        let r = io::BufReader::with_capacity(cap, text);
        let mut lines = BoundedLines::new(r, max);
        let mut out = Vec::new();
        while let Some((n, l)) = lines.next_line().unwrap() {
            out.push((
                n,
                match l {
                    Line::Whole(b) => Ok(String::from_utf8(b.to_vec()).unwrap()),
                    Line::TooLong(len) => Err(len),
                },
            ));
        }
        out
    }

    #[test]
    fn lines_are_numbered_and_a_torn_last_line_is_one() {
        assert_eq!(
            all(b"ab\n\ncd\nef", 10, 3),
            [
                (1, Ok("ab".into())),
                (2, Ok("".into())),
                (3, Ok("cd".into())),
                (4, Ok("ef".into()))
            ]
        );
        assert_eq!(all(b"ab\n", 10, 3), [(1, Ok("ab".into()))]);
        assert!(all(b"", 10, 3).is_empty());
    }

    #[test]
    fn a_line_over_the_bound_is_skipped_and_the_next_is_whole() {
        let long = "x".repeat(100);
        let text = format!("ok\n{long}\nafter\n{long}");
        for cap in [2, 7, 64, 1000] {
            assert_eq!(
                all(text.as_bytes(), 10, cap),
                [
                    (1, Ok("ok".into())),
                    (2, Err(100)),
                    (3, Ok("after".into())),
                    (4, Err(100))
                ],
                "capacity {cap}"
            );
        }
        // Exactly the bound is whole.
        assert_eq!(all(b"0123456789\n", 10, 4), [(1, Ok("0123456789".into()))]);
    }
}
