//! A bound on what the quota store may answer, applied to the bytes as they arrive, before the
//! `redis` crate's parser buffers them: that parser reads a bulk string of whatever length its
//! header announces, so a store (or anything listening at its address) answering `$200000000`
//! would have a run hold 200 MB. The quota script's answers are a handful of small integers and
//! runner names; `SCRIPT LOAD` answers a 40-character hash. [`Bounded`] follows the RESP framing
//! (RESP2 and RESP3 types) of the stream it wraps and fails the read, and so the connection, as
//! soon as one reply would exceed [`MAX_REPLY`] bytes or nest deeper than [`MAX_DEPTH`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest reply read (all its parts): far above the quota script's largest answer
/// (`status` of a key shared by a thousand runners is about 60 KB).
pub const MAX_REPLY: u64 = 1 << 20;
/// The deepest nesting of aggregates read (the script's answers are flat arrays).
pub const MAX_DEPTH: usize = 16;

/// Where the scanner is in the reply stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// The type byte of the next value.
    Type,
    /// The header line of a value of type `kind`; `number` is its integer so far (for lengths
    /// and counts), `negative` its sign, `cr` whether the last byte was `\r`.
    Line {
        kind: u8,
        number: u64,
        negative: bool,
        cr: bool,
    },
    /// Inside a bulk payload: `left` bytes more, its `\r\n` included.
    Payload { left: u64 },
}

/// The RESP framing of a reply stream, followed byte by byte with constant memory.
#[derive(Debug)]
pub struct Scanner {
    at: At,
    /// Elements still expected by each open aggregate, innermost last.
    open: Vec<u64>,
    /// Bytes of the reply under way.
    reply: u64,
}

impl Default for Scanner {
    fn default() -> Scanner {
        Scanner {
            at: At::Type,
            open: Vec::new(),
            reply: 0,
        }
    }
}

fn refused(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the quota store's answer is not one livebatch reads ({what}); the quota script's answers \
             are a few small integers, so this is not the Redis that --quota-store should name"
        ),
    )
}

impl Scanner {
    /// One value ended: count it in the aggregates it belongs to, closing those it completes;
    /// a reply that ends starts the count of bytes again.
    fn value_done(&mut self) {
        while let Some(left) = self.open.last_mut() {
            *left -= 1;
            if *left > 0 {
                return;
            }
            self.open.pop();
        }
        self.reply = 0;
    }

    /// The header line of `kind` ended with `number` (negative: none, as in `$-1`).
    fn header_done(&mut self, kind: u8, number: u64, negative: bool) -> io::Result<()> {
        match kind {
            b'$' | b'!' | b'=' if !negative => {
                if number > MAX_REPLY {
                    return Err(refused(format!(
                        "a string of {number} bytes; at most {MAX_REPLY} are read"
                    )));
                }
                self.at = At::Payload { left: number + 2 };
                return Ok(());
            }
            b'*' | b'~' | b'>' | b'%' | b'|' if !negative && number > 0 => {
                if self.open.len() >= MAX_DEPTH {
                    return Err(refused(format!(
                        "aggregates nested more than {MAX_DEPTH} deep"
                    )));
                }
                let elements = if matches!(kind, b'%' | b'|') {
                    number.saturating_mul(2)
                } else {
                    number
                };
                // Each element takes at least 3 bytes (`:0\r\n` is 4), so a count the reply
                // bound cannot hold is refused now, before anything sized by it is made.
                if elements > MAX_REPLY / 3 {
                    return Err(refused(format!(
                        "an aggregate of {number} elements; a reply is at most {MAX_REPLY} bytes"
                    )));
                }
                self.open.push(elements);
                self.at = At::Type;
                return Ok(());
            }
            _ => {}
        }
        self.at = At::Type;
        self.value_done();
        Ok(())
    }

    /// Follows `bytes`, the next bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut i = 0;
        while i < bytes.len() {
            match self.at {
                At::Payload { left } => {
                    let take = left.min((bytes.len() - i) as u64);
                    self.reply += take;
                    i += take as usize;
                    if take == left {
                        self.at = At::Type;
                        self.value_done();
                    } else {
                        self.at = At::Payload { left: left - take };
                    }
                    continue;
                }
                At::Type => {
                    let kind = bytes[i];
                    if !b"+-:,#_($!=*~>%|".contains(&kind) {
                        return Err(refused(format!("a value of unknown type byte {kind:#04x}")));
                    }
                    self.at = At::Line {
                        kind,
                        number: 0,
                        negative: false,
                        cr: false,
                    };
                }
                At::Line {
                    kind,
                    number,
                    negative,
                    cr,
                } => {
                    let b = bytes[i];
                    if cr && b == b'\n' {
                        self.reply += 1;
                        i += 1;
                        self.header_done(kind, number, negative)?;
                        if self.reply > MAX_REPLY {
                            return Err(refused(format!("a reply over {MAX_REPLY} bytes")));
                        }
                        continue;
                    }
                    let counted =
                        matches!(kind, b'$' | b'!' | b'=' | b'*' | b'~' | b'>' | b'%' | b'|');
                    let (number, negative) = match b {
                        b'0'..=b'9' if counted => (
                            number
                                .saturating_mul(10)
                                .saturating_add(u64::from(b - b'0')),
                            negative,
                        ),
                        b'-' if counted => (number, true),
                        _ => (number, negative),
                    };
                    self.at = At::Line {
                        kind,
                        number,
                        negative,
                        cr: b == b'\r',
                    };
                }
            }
            self.reply += 1;
            i += 1;
            if self.reply > MAX_REPLY {
                return Err(refused(format!("a reply over {MAX_REPLY} bytes")));
            }
        }
        Ok(())
    }
}

/// A stream whose reads are checked by a [`Scanner`]; writes pass through.
pub struct Bounded<S> {
    inner: S,
    scanner: Scanner,
}

impl<S> Bounded<S> {
    pub fn new(inner: S) -> Bounded<S> {
        Bounded {
            inner,
            scanner: Scanner::default(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut me.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                if let Err(e) = me.scanner.feed(fresh) {
                    // Nothing of the refused reply reaches the parser.
                    buf.set_filled(before);
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> io::Result<Scanner> {
        let mut s = Scanner::default();
        for c in chunks {
            s.feed(c)?;
        }
        Ok(s)
    }

    #[test]
    fn the_script_answers_pass_in_any_split() {
        let answer: &[u8] = b"*5\r\n:1\r\n:-2\r\n:3\r\n$2\r\nr1\r\n*2\r\n$-1\r\n+OK\r\n-NOSCRIPT x\r\n$40\r\n0123456789012345678901234567890123456789\r\n";
        for split in 0..answer.len() {
            let s = scan(&[&answer[..split], &answer[split..]]).unwrap();
            assert_eq!(s.at, At::Type);
            assert!(s.open.is_empty() && s.reply == 0, "{s:?}");
        }
        // Byte by byte too.
        let chunks: Vec<&[u8]> = answer.chunks(1).collect();
        assert!(scan(&chunks).is_ok());
    }

    #[test]
    fn a_huge_string_or_aggregate_is_refused_from_its_header() {
        let e = scan(&[b"$200000000\r\n"]).unwrap_err();
        assert!(e.to_string().contains("200000000 bytes"), "{e}");
        let e = scan(&[b"*1\r\n*1000000000\r\n"]).unwrap_err();
        assert!(e.to_string().contains("1000000000 elements"), "{e}");
        let e = scan(&[&b"*1\r\n".repeat(MAX_DEPTH + 1)]).unwrap_err();
        assert!(e.to_string().contains("nested"), "{e}");
        assert!(scan(&[b"?x\r\n"]).is_err());
    }

    #[test]
    fn many_small_parts_are_bounded_as_one_reply_and_lines_too() {
        let n = MAX_REPLY / 4 + 10;
        let mut big = format!("*{n}\r\n").into_bytes();
        for _ in 0..n {
            big.extend_from_slice(b":1\r\n");
        }
        assert!(scan(&[&big]).is_err());
        let mut line = b"+".to_vec();
        line.extend(std::iter::repeat_n(b'a', MAX_REPLY as usize + 1));
        assert!(scan(&[&line]).is_err());
        // The bound is per reply: many replies in a row are fine.
        let ok = b":1\r\n".repeat((MAX_REPLY / 2) as usize);
        assert!(scan(&[&ok]).is_ok());
    }
}
