//! CSV manifests → located raw records, streamed one row at a time.
//!
//! Memory stays flat whatever the file size: one row buffer is reused, and each physical line is
//! capped at [`MAX_LINE_BYTES`] by [`LineLimit`] so a corrupt file cannot make a row grow without
//! bound. Cells are checked for UTF-8 one by one so the error names the row and column.

use std::collections::HashSet;
use std::io::{self, Read};
use std::sync::Arc;

use super::{
    ANNOTATION_PREFIX, Key, MAX_ANNOTATIONS, MAX_LINE_BYTES, RawField, RawRecord, RawValue,
    classify_key, unknown_field_message,
};
use crate::diagnostic::{Diagnostic, Location, code};
use crate::model::Field;

/// What a header column means.
#[derive(Debug, Clone)]
enum Col {
    Field(Field),
    Annotation(Arc<str>),
    /// Unknown or duplicate: already reported; its cells are ignored.
    Ignored,
}

/// The header row, read: each column's name (as the rows' diagnostics name it) and meaning.
struct Header {
    line: u32,
    names: Vec<Arc<str>>,
    cols: Vec<Col>,
    /// False when a column was refused: the rows are still read and checked, but none is valid.
    ok: bool,
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
    let header = Header::read(file, &row, diags);
    if !header.rows_readable(file, diags) {
        return;
    }

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
        if let Some(rec) = header.record(file, &row, diags) {
            sink(rec);
        }
    }
    if rows == 0 {
        diags.push(Diagnostic::warning(
            Location::line(file, header.line),
            code::NO_UPDATES,
            "the file has a header but no rows",
        ));
    }
}

impl Header {
    /// Reads the header row, reporting cells that are not UTF-8, named twice or unknown.
    fn read(file: &Arc<str>, row: &::csv::ByteRecord, diags: &mut Vec<Diagnostic>) -> Header {
        let mut h = Header {
            line: line_of(row),
            names: Vec::with_capacity(row.len()),
            cols: Vec::with_capacity(row.len()),
            ok: true,
        };
        // Names seen so far: a set, since a header may be long (a scan per column was quadratic).
        let mut seen: HashSet<Arc<str>> = HashSet::with_capacity(row.len().min(64));
        for (i, cell) in row.iter().enumerate() {
            let Ok(text) = std::str::from_utf8(cell) else {
                diags.push(Diagnostic::error(
                    Location::line(file, h.line),
                    code::ENCODING,
                    format!(
                        "header cell {} is not valid UTF-8; save the file as UTF-8",
                        i + 1
                    ),
                ));
                h.names.push(Arc::from(format!("#{}", i + 1)));
                h.cols.push(Col::Ignored);
                h.ok = false;
                continue;
            };
            let name: Arc<str> = Arc::from(text);
            let col = if seen.insert(name.clone()) {
                column(file, h.line, i, &name, diags)
            } else {
                diags.push(Diagnostic::error(
                    Location::cell(file, h.line, &name),
                    code::DUPLICATE_FIELD,
                    format!("column {name:?} appears twice in the header; keep one"),
                ));
                Col::Ignored
            };
            if matches!(col, Col::Ignored) {
                h.ok = false;
            }
            h.names.push(name);
            h.cols.push(col);
        }
        h
    }

    /// Whether the rows can be read under this header: not with too many annotation columns, nor
    /// without a required field's column (each reported).
    fn rows_readable(&self, file: &Arc<str>, diags: &mut Vec<Diagnostic>) -> bool {
        debug_assert!(ANNOTATION_PREFIX == "x-");
        let mut readable = true;
        let annotation_cols = self
            .cols
            .iter()
            .filter(|c| matches!(c, Col::Annotation(_)))
            .count();
        if annotation_cols > MAX_ANNOTATIONS {
            diags.push(Diagnostic::error(
                Location::line(file, self.line),
                code::SHAPE,
                format!(
                    "{} ({annotation_cols} found); the rows were not read",
                    super::too_many_annotations("the header")
                ),
            ));
            readable = false;
        }
        for req in Field::required() {
            if !self
                .cols
                .iter()
                .any(|c| matches!(c, Col::Field(f) if *f == req))
            {
                diags.push(
                    Diagnostic::error(
                        Location::line(file, self.line),
                        code::MISSING_FIELD,
                        format!("the header has no {req} column; every update needs {req}"),
                    )
                    .with_field(req),
                );
                readable = false;
            }
        }
        readable
    }

    /// One data row as a record (`None`, reported, when its cell count is not the header's).
    /// Empty cells and the cells of ignored columns are left out.
    fn record(
        &self,
        file: &Arc<str>,
        row: &::csv::ByteRecord,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<RawRecord> {
        let line = line_of(row);
        if row.len() != self.cols.len() {
            diags.push(Diagnostic::error(
                Location::line(file, line),
                code::RAGGED_ROW,
                format!(
                    "this row has {} cells but the header has {}; every row needs one cell per column (leave a cell empty to keep a value unchanged)",
                    row.len(),
                    self.cols.len()
                ),
            ));
            return None;
        }
        let mut rec = RawRecord {
            location: Location::line(file, line),
            fields: Vec::with_capacity(self.cols.len()),
            annotations: Vec::new(),
            invalid: !self.ok,
        };
        for ((cell, col), name) in row.iter().zip(&self.cols).zip(&self.names) {
            if cell.is_empty() || matches!(col, Col::Ignored) {
                continue;
            }
            let at = || Location::cell(file, line, name);
            let Ok(text) = std::str::from_utf8(cell) else {
                let mut d = Diagnostic::error(
                    at(),
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
                        location: at(),
                        from_defaults: false,
                    });
                }
                continue;
            };
            match col {
                Col::Field(f) => rec.fields.push(RawField {
                    field: *f,
                    value: RawValue::Text(text.to_string()),
                    location: at(),
                    from_defaults: false,
                }),
                Col::Annotation(n) => rec.annotations.push((n.to_string(), text.to_string())),
                Col::Ignored => {}
            }
        }
        Some(rec)
    }
}

/// What the header cell `name` (the `i`th, 0-based, seen for the first time) means; an unknown
/// or empty name is reported and its column ignored.
fn column(
    file: &Arc<str>,
    line: u32,
    i: usize,
    name: &Arc<str>,
    diags: &mut Vec<Diagnostic>,
) -> Col {
    match classify_key(name) {
        Key::Field(f) => Col::Field(f),
        Key::Annotation => Col::Annotation(name.clone()),
        Key::Unknown(s) => {
            let msg = if name.is_empty() {
                format!(
                    "header cell {} is empty; name the column or remove it",
                    i + 1
                )
            } else {
                unknown_field_message(name, s)
            };
            diags.push(Diagnostic::error(
                Location::cell(file, line, name),
                code::UNKNOWN_FIELD,
                msg,
            ));
            Col::Ignored
        }
    }
}

fn line_of(row: &::csv::ByteRecord) -> u32 {
    row.position()
        .map_or(0, |p| u32::try_from(p.line()).unwrap_or(u32::MAX))
}

fn csv_error(file: &Arc<str>, e: &::csv::Error, line: u64) -> Diagnostic {
    let at = |line: u64| Location::line(file, u32::try_from(line).unwrap_or(u32::MAX).max(1));
    let scan = match e.kind() {
        ::csv::ErrorKind::Io(io) => io.get_ref().and_then(|x| x.downcast_ref::<ScanError>()),
        _ => None,
    };
    match scan {
        Some(ScanError::RowTooLong { line }) => Diagnostic::error(
            at(*line),
            code::LINE_TOO_LONG,
            format!(
                "the row starting here is longer than {MAX_LINE_BYTES} bytes (a quoted cell counts whole, across lines); no manifest field needs that much (is this the right file?)"
            ),
        ),
        Some(ScanError::UnclosedQuote { line }) => Diagnostic::error(
            at(*line),
            code::SYNTAX,
            "this quoted cell is never closed: the file ends inside it, so every later row would be read as part of it; add the closing \" (write \"\" for a quote inside a quoted cell)",
        ),
        None => Diagnostic::error(at(line), code::IO, format!("cannot read the CSV: {e}")),
    }
}

/// Line feeds in `b`.
fn count_lf(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// Where the CSV scanner stands, as `csv_core` reads the same bytes: a `"` opens a quoted cell only
/// at the start of a cell, `""` inside one is an escaped quote, and a line end inside one is data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    CellStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted cell: the cell's end, or the first half of `""`.
    ClosingOrEscaped,
}

/// Why [`LineLimit`] stopped the read; carried inside the `io::Error` so [`csv_error`] can name
/// the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("the row starting at line {line} is longer than {MAX_LINE_BYTES} bytes")]
    RowTooLong { line: u64 },
    #[error("the quote opened at line {line} is never closed")]
    UnclosedQuote { line: u64 },
}

/// Bounds each CSV *row* to [`MAX_LINE_BYTES`] (a quoted cell spanning lines counts whole, so a
/// corrupt file cannot make one row grow without bound), fails when the input ends inside a quoted
/// cell (the CSV reader would otherwise swallow every later row into that cell), and turns CRLF
/// line ends into LF, because the CSV reader numbers lines of CRLF files one short.
pub struct LineLimit<R> {
    inner: R,
    /// Bytes of the current row so far.
    current: usize,
    quote: Quote,
    /// Physical line (1-based) of the next byte, of the current row's start, of the open quote.
    line: u64,
    row_line: u64,
    quote_line: u64,
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
            quote: Quote::CellStart,
            line: 1,
            row_line: 1,
            quote_line: 0,
            pending_cr: false,
            buf: vec![0; 128 << 10].into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }

    /// Runs the quote state machine over the next `upto` bytes of the buffer. Spans between quotes
    /// are handled with slice searches rather than byte by byte (this runs over every byte of a
    /// million-row file): outside a quoted cell only row ends and a quote at a cell's start
    /// matter, inside one only the next quote.
    fn account(&mut self, upto: usize) -> io::Result<()> {
        let too_long =
            |line: u64| io::Error::new(io::ErrorKind::InvalidData, ScanError::RowTooLong { line });
        let buf = &self.buf[..upto];
        let mut i = 0;
        while i < buf.len() {
            let rest = &buf[i..];
            match self.quote {
                Quote::Quoted => {
                    let (span, found) = match memchr::memchr(b'"', rest) {
                        Some(p) => (&rest[..p], true),
                        None => (rest, false),
                    };
                    self.line += count_lf(span);
                    self.current += span.len() + usize::from(found);
                    i += span.len() + usize::from(found);
                    if found {
                        self.quote = Quote::ClosingOrEscaped;
                    }
                }
                Quote::ClosingOrEscaped => {
                    i += 1;
                    self.current += 1;
                    self.quote = match rest[0] {
                        b'"' => Quote::Quoted,
                        b',' => Quote::CellStart,
                        b'\n' | b'\r' => {
                            self.line += u64::from(rest[0] == b'\n');
                            self.current = 0;
                            self.row_line = self.line;
                            Quote::CellStart
                        }
                        _ => Quote::Unquoted,
                    };
                }
                Quote::CellStart | Quote::Unquoted => {
                    let quote_at = memchr::memchr(b'"', rest);
                    let span = &rest[..quote_at.unwrap_or(rest.len())];
                    let is_end = |b: &u8| *b == b'\n' || *b == b'\r';
                    if let Some(first) = memchr::memchr2(b'\n', b'\r', span) {
                        if self.current + first > MAX_LINE_BYTES {
                            return Err(too_long(self.row_line));
                        }
                        // Rows wholly inside the span are shorter than the buffer, so below the
                        // limit; only the row the span ends in carries on.
                        let last = memchr::memrchr2(b'\n', b'\r', span).unwrap_or(first);
                        self.row_line = self.line + count_lf(&span[..=last]);
                        self.current = span.len() - last - 1;
                    } else {
                        self.current += span.len();
                    }
                    self.line += count_lf(span);
                    if let Some(&b) = span.last() {
                        self.quote = if b == b',' || is_end(&b) {
                            Quote::CellStart
                        } else {
                            Quote::Unquoted
                        };
                    }
                    i += span.len();
                    if quote_at.is_some() {
                        i += 1;
                        self.current += 1;
                        if self.quote == Quote::CellStart {
                            self.quote = Quote::Quoted;
                            self.quote_line = self.line;
                        } else {
                            self.quote = Quote::Unquoted;
                        }
                    }
                }
            }
            if self.current > MAX_LINE_BYTES {
                return Err(too_long(self.row_line));
            }
        }
        Ok(())
    }

    /// At the end of the input: an error if a quoted cell is still open.
    fn finish(&self) -> io::Result<()> {
        if self.quote == Quote::Quoted {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                ScanError::UnclosedQuote {
                    line: self.quote_line,
                },
            ));
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
                if total > 0 {
                    self.account(total)?;
                    return Ok(true);
                }
                self.finish()?;
                return Ok(false);
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

    /// A reader that hands out at most `.1` bytes per read, so that every chunk edge is tried.
    struct Chunky<'a>(&'a [u8], usize);

    impl Read for Chunky<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn through(data: &[u8], chunk: usize) -> Vec<u8> {
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

    fn scan_err(data: &[u8]) -> Option<ScanError> {
        let mut out = Vec::new();
        let err = LineLimit::new(data).read_to_end(&mut out).err()?;
        err.get_ref()
            .and_then(|e| e.downcast_ref::<ScanError>())
            .copied()
    }

    #[test]
    fn an_unclosed_quote_is_named_at_its_line() {
        let data = b"TaskId,x-note\nt1,\"oops\nt2,fine\nt3,fine\n";
        assert_eq!(scan_err(data), Some(ScanError::UnclosedQuote { line: 2 }));
        // Closed quotes, escaped quotes, quotes inside unquoted cells and CRLF are all fine.
        for ok in [
            &b"a,b\n\"x\ny\",\"he said \"\"hi\"\"\"\n"[..],
            b"a,b\nsay \"hi,2\n",
            b"a,b\r\n\"x\r\ny\",2\r\n",
            b"a,\"\"\n",
        ] {
            assert_eq!(scan_err(ok), None, "{}", String::from_utf8_lossy(ok));
        }
        assert_eq!(
            scan_err(b"a,b\n1,2\n3,\"x\"\"\n"),
            Some(ScanError::UnclosedQuote { line: 3 })
        );
    }

    #[test]
    fn a_quoted_cell_spanning_lines_counts_whole() {
        let mut data = b"a,b\n1,\"".to_vec();
        for _ in 0..(MAX_LINE_BYTES / 100 + 10) {
            data.extend_from_slice(&[b'x'; 99]);
            data.push(b'\n');
        }
        data.extend_from_slice(b"\"\n");
        assert_eq!(scan_err(&data), Some(ScanError::RowTooLong { line: 2 }));
        // Rows just under the limit pass, however many there are.
        let mut ok = Vec::new();
        for _ in 0..3 {
            ok.extend_from_slice(&vec![b'y'; MAX_LINE_BYTES - 1]);
            ok.push(b'\n');
        }
        assert_eq!(scan_err(&ok), None);
    }

    /// What `csv_core` does with `data`, seen from outside: the input ends inside a quoted cell
    /// exactly when a row written after it does not come back as its own record (the quoted cell
    /// swallows it).
    fn csv_reader_swallows_what_follows(data: &[u8]) -> bool {
        let mut text = data.to_vec();
        text.extend_from_slice(b"\nSENTINEL,row\n");
        let mut rdr = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&text[..]);
        let last = rdr.byte_records().map(Result::unwrap).last();
        last.is_none_or(|r| r.iter().collect::<Vec<_>>() != [&b"SENTINEL"[..], b"row"])
    }

    fn scan_err_chunked(data: &[u8], chunk: usize) -> Option<ScanError> {
        let mut out = Vec::new();
        let err = LineLimit::new(Chunky(data, chunk))
            .read_to_end(&mut out)
            .err()?;
        err.get_ref()
            .and_then(|e| e.downcast_ref::<ScanError>())
            .copied()
    }

    /// Writes rows as a plain CSV writer would: a cell holding `,`, `"` or a line end is quoted,
    /// its quotes doubled. Returns the text and, per quoted cell, where its opening quote is
    /// (byte offset and 1-based line) with its content.
    fn write_csv(rows: &[Vec<String>], eol: &str) -> (String, Vec<(usize, u32, String)>) {
        let mut text = String::new();
        let mut quoted = Vec::new();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                if cell.contains([',', '"', '\n', '\r']) {
                    let line = 1 + text.matches('\n').count() as u32;
                    quoted.push((text.len(), line, cell.clone()));
                    text.push('"');
                    text.push_str(&cell.replace('"', "\"\""));
                    text.push('"');
                } else {
                    text.push_str(cell);
                }
            }
            text.push_str(eol);
        }
        (text, quoted)
    }

    /// Runs [`read`] over `text` in chunks of `chunk` bytes.
    fn read_all(text: &str, chunk: usize) -> (Vec<RawRecord>, Vec<Diagnostic>) {
        let file: Arc<str> = Arc::from("m.csv");
        let (mut records, mut diags) = (Vec::new(), Vec::new());
        read(
            &file,
            Chunky(text.as_bytes(), chunk),
            &mut |r| records.push(r),
            &mut diags,
        );
        (records, diags)
    }

    proptest::proptest! {
        #[test]
        fn an_unclosed_quote_is_refused_exactly_when_the_csv_reader_would_swallow_the_rest(
            data in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b',', b'"', b'\n', b'\r']), 0..60),
            chunk in 1usize..9,
        ) {
            let refused = matches!(
                scan_err_chunked(&data, chunk),
                Some(ScanError::UnclosedQuote { .. })
            );
            proptest::prop_assert_eq!(refused, csv_reader_swallows_what_follows(&data));
        }

        /// Rows of awkward cells (quotes, commas, line ends inside them), written by a plain CSV
        /// writer with LF or CRLF line ends, read back cell for cell, each record at the line its
        /// row starts on; the same text cut inside a quoted cell is refused at the line the
        /// quote opened.
        #[test]
        fn written_rows_read_back_and_a_cut_quoted_cell_is_refused_where_it_opened(
            notes in 0usize..3,
            rows in proptest::collection::vec(
                proptest::collection::vec("[a\u{e9},\"\n\r ]{0,6}", 5), 0..5),
            crlf in proptest::bool::ANY,
            chunk in 1usize..9,
            which in proptest::arbitrary::any::<proptest::sample::Index>(),
            cut in proptest::sample::select(vec![0usize, 1, 2, 3, 5, 8]),
        ) {
            let mut header: Vec<String> = Field::required().map(|f| f.name().to_string()).collect();
            let fields = header.len();
            header.extend((0..notes).map(|i| format!("x-note{i}")));
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|r| r[..header.len()].to_vec())
                .collect();
            let eol = if crlf { "\r\n" } else { "\n" };
            let (body, quoted) = write_csv(&rows, eol);
            let text = format!("{}{eol}{body}", header.join(","));
            let (records, diags) = read_all(&text, chunk);

            let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
            proptest::prop_assert!(errors.is_empty(), "{:?}", errors);
            proptest::prop_assert_eq!(records.len(), rows.len());
            let mut line = 2u32;
            for (rec, row) in records.iter().zip(&rows) {
                proptest::prop_assert_eq!(rec.location.line, line);
                proptest::prop_assert!(!rec.invalid);
                // Line ends are read as LF, inside quoted cells too.
                let want = |c: &String| c.replace("\r\n", "\n");
                let want_fields: Vec<(Field, String)> = Field::required()
                    .zip(row)
                    .filter(|(_, c)| !c.is_empty())
                    .map(|(f, c)| (f, want(c)))
                    .collect();
                let got_fields: Vec<(Field, String)> = rec
                    .fields
                    .iter()
                    .map(|f| match &f.value {
                        RawValue::Text(t) => (f.field, t.clone()),
                        other => panic!("{other:?}"),
                    })
                    .collect();
                proptest::prop_assert_eq!(got_fields, want_fields);
                let want_notes: Vec<(String, String)> = header[fields..]
                    .iter()
                    .zip(&row[fields..])
                    .filter(|(_, c)| !c.is_empty())
                    .map(|(n, c)| (n.clone(), want(c)))
                    .collect();
                proptest::prop_assert_eq!(&rec.annotations, &want_notes);
                line += 1 + row.iter().map(|c| c.matches('\n').count() as u32).sum::<u32>();
            }

            if !quoted.is_empty() {
                let (at, open_line, content) = &quoted[which.index(quoted.len())];
                // Cut after `cut` characters of the cell: what is left of it keeps its quotes
                // doubled, so the cell stays open to the end of the text.
                let kept: String = content.chars().take(cut).collect();
                let head = header.join(",").len() + eol.len();
                let cut_text = format!("{}\"{}", &text[..head + at], kept.replace('"', "\"\""));
                let (_, diags) = read_all(&cut_text, chunk);
                let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
                proptest::prop_assert_eq!(errors.len(), 1, "{:?}", diags);
                proptest::prop_assert_eq!(errors[0].code, code::SYNTAX);
                proptest::prop_assert_eq!(errors[0].location.line, open_line + 1);
            }
        }
    }
}
