//! CSV manifests → located raw records, streamed one row at a time.
//!
//! Memory stays flat whatever the file size: one row buffer is reused, and each physical line is
//! capped at [`MAX_LINE_BYTES`] by [`LineLimit`] so a corrupt file cannot make a row grow without
//! bound. Cells are checked for UTF-8 one by one so the error names the row and column.

use std::io::{self, Read};
use std::sync::Arc;

use super::{
    ANNOTATION_PREFIX, Key, Location, MAX_LINE_BYTES, RawField, RawRecord, RawValue, classify_key,
    unknown_field_message,
};
use crate::diagnostic::{Diagnostic, code};
use crate::model::Field;

/// What a header column means.
#[derive(Debug, Clone)]
enum Col {
    Field(Field),
    Annotation(Arc<str>),
    /// Unknown or duplicate: already reported; its cells are ignored.
    Ignored,
}

/// Reads a CSV manifest, calling `sink` once per data row.
pub fn read(
    file: &Arc<str>,
    reader: impl Read,
    sink: &mut dyn FnMut(RawRecord),
    diags: &mut Vec<Diagnostic>,
) {
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(256 << 10)
        .from_reader(LineLimit::new(reader));
    let mut row = ::csv::ByteRecord::new();

    // Header.
    match rdr.read_byte_record(&mut row) {
        Ok(true) => {}
        Ok(false) => {
            diags.push(Diagnostic::error(
                Location::file(file),
                code::EMPTY,
                "the file is empty; a CSV manifest starts with a header row such as TaskId,Region,EndTime",
            ));
            return;
        }
        Err(e) => {
            diags.push(csv_error(file, &e, rdr.position().line()));
            return;
        }
    }
    let header_line = line_of(&row);
    let mut names: Vec<Arc<str>> = Vec::with_capacity(row.len());
    let mut cols: Vec<Col> = Vec::with_capacity(row.len());
    let mut header_ok = true;
    for (i, cell) in row.iter().enumerate() {
        let name: Arc<str> = match std::str::from_utf8(cell) {
            Ok(s) => Arc::from(s),
            Err(_) => {
                diags.push(Diagnostic::error(
                    Location::line(file, header_line),
                    code::ENCODING,
                    format!(
                        "header cell {} is not valid UTF-8; save the file as UTF-8",
                        i + 1
                    ),
                ));
                names.push(Arc::from(format!("#{}", i + 1)));
                cols.push(Col::Ignored);
                header_ok = false;
                continue;
            }
        };
        let at = Location::cell(file, header_line, &name);
        let col = if names.contains(&name) {
            diags.push(Diagnostic::error(
                at,
                code::DUPLICATE_FIELD,
                format!("column {name:?} appears twice in the header; keep one"),
            ));
            header_ok = false;
            Col::Ignored
        } else {
            match classify_key(&name) {
                Key::Field(f) => Col::Field(f),
                Key::Annotation => Col::Annotation(name.clone()),
                Key::Unknown(s) => {
                    let msg = if name.is_empty() {
                        format!(
                            "header cell {} is empty; name the column or remove it",
                            i + 1
                        )
                    } else {
                        unknown_field_message(&name, s)
                    };
                    diags.push(Diagnostic::error(at, code::UNKNOWN_FIELD, msg));
                    header_ok = false;
                    Col::Ignored
                }
            }
        };
        names.push(name);
        cols.push(col);
    }
    debug_assert!(ANNOTATION_PREFIX == "x-");
    let mut missing = false;
    for req in [Field::TaskId, Field::Region] {
        if !cols.iter().any(|c| matches!(c, Col::Field(f) if *f == req)) {
            diags.push(
                Diagnostic::error(
                    Location::line(file, header_line),
                    code::MISSING_FIELD,
                    format!("the header has no {req} column; every update needs {req}"),
                )
                .with_field(req),
            );
            missing = true;
        }
    }
    if missing {
        return;
    }

    // Rows.
    let mut rows = 0usize;
    loop {
        match rdr.read_byte_record(&mut row) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                diags.push(csv_error(file, &e, rdr.position().line()));
                return;
            }
        }
        rows += 1;
        let line = line_of(&row);
        if row.len() != cols.len() {
            diags.push(Diagnostic::error(
                Location::line(file, line),
                code::RAGGED_ROW,
                format!(
                    "this row has {} cells but the header has {}; every row needs one cell per column (leave a cell empty to keep a value unchanged)",
                    row.len(),
                    cols.len()
                ),
            ));
            continue;
        }
        let mut rec = RawRecord {
            location: Location::line(file, line),
            fields: Vec::with_capacity(cols.len()),
            annotations: Vec::new(),
            invalid: !header_ok,
        };
        for ((cell, col), name) in row.iter().zip(&cols).zip(&names) {
            if cell.is_empty() || matches!(col, Col::Ignored) {
                continue;
            }
            let text = match std::str::from_utf8(cell) {
                Ok(s) => s,
                Err(_) => {
                    let mut d = Diagnostic::error(
                        Location::cell(file, line, name),
                        code::ENCODING,
                        "this cell is not valid UTF-8; save the file as UTF-8",
                    );
                    if let Col::Field(f) = col {
                        d = d.with_field(*f);
                    }
                    diags.push(d);
                    rec.invalid = true;
                    if let Col::Field(f) = col {
                        rec.fields.push(RawField {
                            field: *f,
                            value: RawValue::Invalid,
                            location: Location::cell(file, line, name),
                            from_defaults: false,
                        });
                    }
                    continue;
                }
            };
            match col {
                Col::Field(f) => rec.fields.push(RawField {
                    field: *f,
                    value: RawValue::Text(text.to_string()),
                    location: Location::cell(file, line, name),
                    from_defaults: false,
                }),
                Col::Annotation(n) => rec.annotations.push((n.to_string(), text.to_string())),
                Col::Ignored => {}
            }
        }
        sink(rec);
    }
    if rows == 0 {
        diags.push(Diagnostic::warning(
            Location::line(file, header_line),
            code::NO_UPDATES,
            "the file has a header but no rows",
        ));
    }
}

fn line_of(row: &::csv::ByteRecord) -> u32 {
    row.position()
        .map_or(0, |p| u32::try_from(p.line()).unwrap_or(u32::MAX))
}

fn csv_error(file: &Arc<str>, e: &::csv::Error, line: u64) -> Diagnostic {
    let line = u32::try_from(line).unwrap_or(u32::MAX).max(1);
    match e.kind() {
        ::csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::InvalidData => Diagnostic::error(
            Location::line(file, line),
            code::LINE_TOO_LONG,
            format!(
                "a line at or after line {line} is longer than {MAX_LINE_BYTES} bytes; no manifest field needs that much (is this the right file?)"
            ),
        ),
        _ => Diagnostic::error(
            Location::line(file, line),
            code::IO,
            format!("cannot read the CSV: {e}"),
        ),
    }
}

/// Fails a read once a physical line exceeds [`MAX_LINE_BYTES`], so memory stays bounded; and turns
/// CRLF line ends into LF, because the CSV reader numbers lines of CRLF files one short.
pub struct LineLimit<R> {
    inner: R,
    current: usize,
    pending_cr: bool,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
}

impl<R> LineLimit<R> {
    pub fn new(inner: R) -> LineLimit<R> {
        LineLimit {
            inner,
            current: 0,
            pending_cr: false,
            buf: vec![0; 128 << 10].into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }

    fn account(&mut self, upto: usize) -> io::Result<()> {
        let chunk = &self.buf[..upto];
        let too_long = || io::Error::new(io::ErrorKind::InvalidData, "line too long");
        match chunk.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                let first = chunk.iter().position(|&b| b == b'\n').unwrap_or(last);
                if self.current + first > MAX_LINE_BYTES {
                    return Err(too_long());
                }
                self.current = chunk.len() - last - 1;
            }
            None => self.current += chunk.len(),
        }
        if self.current > MAX_LINE_BYTES {
            return Err(too_long());
        }
        Ok(())
    }
}

impl<R: Read> LineLimit<R> {
    /// Refills the internal buffer; returns false at the end of the input.
    fn refill(&mut self) -> io::Result<bool> {
        loop {
            let start = usize::from(self.pending_cr);
            if self.pending_cr {
                self.buf[0] = b'\r';
                self.pending_cr = false;
            }
            let n = self.inner.read(&mut self.buf[start..])?;
            let total = start + n;
            if n == 0 {
                self.pos = 0;
                self.end = total;
                return Ok(total > 0);
            }
            let mut w = total;
            if self.buf[..total].contains(&b'\r') {
                w = 0;
                for i in 0..total {
                    if self.buf[i] == b'\r' && i + 1 < total && self.buf[i + 1] == b'\n' {
                        continue;
                    }
                    self.buf[w] = self.buf[i];
                    w += 1;
                }
                if self.buf[w - 1] == b'\r' {
                    // A CR at the end of the chunk may be the first half of a CRLF.
                    self.pending_cr = true;
                    w -= 1;
                    if w == 0 {
                        continue;
                    }
                }
            }
            self.account(w)?;
            self.pos = 0;
            self.end = w;
            return Ok(true);
        }
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.end && !self.refill()? {
            return Ok(0);
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(data: &[u8], chunk: usize) -> Vec<u8> {
        struct Chunky<'a>(&'a [u8], usize);
        impl Read for Chunky<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        LineLimit::new(Chunky(data, chunk))
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn crlf_becomes_lf_across_chunk_edges() {
        let data = b"a,b\r\nc,d\r\ne\rf\r";
        for chunk in 1..data.len() + 1 {
            assert_eq!(through(data, chunk), b"a,b\nc,d\ne\rf\r", "chunk {chunk}");
        }
    }

    #[test]
    fn long_lines_fail() {
        let mut data = vec![b'a'; MAX_LINE_BYTES + 10];
        data.push(b'\n');
        let mut out = Vec::new();
        let err = LineLimit::new(&data[..]).read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
