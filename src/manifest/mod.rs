//! Manifest parsing: a YAML or CSV file → *located raw records*, nothing more.
//!
//! A raw record is the text of each field with the place it came from; turning that text into a
//! typed [`crate::model::Update`] and checking the rules is [`crate::validate`]'s job. Keeping the
//! two apart means both formats share one validator, and a format problem (a ragged CSV row, a YAML
//! syntax error) is reported in the same located shape as a broken rule.
//!
//! Decisions on awkward input, documented in the README:
//! - A UTF-8 byte-order mark at the start of a file is skipped silently (spreadsheets write one);
//!   a UTF-16 or UTF-32 mark is an error that says to save the file as UTF-8.
//! - CRLF and LF line ends are both accepted.
//! - A line longer than [`MAX_LINE_BYTES`] is an error: no field needs that much, and refusing it
//!   keeps memory bounded on a corrupt or wrong file.
//! - YAML files are read whole (at most [`MAX_YAML_BYTES`]); CSV files are streamed row by row.
//! - At most [`MAX_ANNOTATIONS`] `x-` annotations per mapping or CSV header, so that work stays
//!   linear in the file's size (defaults are copied into every update).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Location, code};
use crate::model::Field;

pub mod csv;
pub mod yaml;

/// Longest physical line accepted in any manifest (1 MiB).
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Largest YAML manifest read (YAML is parsed whole; use CSV for bigger batches).
pub const MAX_YAML_BYTES: u64 = 256 << 20;
/// Prefix of annotation keys/columns: kept as text on the record, never validated, never sent.
pub const ANNOTATION_PREFIX: &str = "x-";
/// Most `x-` annotations in one mapping (an update, or `defaults:`) or one CSV header. An export
/// writes about ten; every update carries its own copy of the defaults' annotations, so without a
/// bound 5,000 default annotations over 5,000 updates make 25 million strings.
pub const MAX_ANNOTATIONS: usize = 100;

/// The message for a mapping or header with more than [`MAX_ANNOTATIONS`] annotations.
pub fn too_many_annotations(what: &str) -> String {
    format!(
        "{what} has more than {MAX_ANNOTATIONS} x- annotations; at most {MAX_ANNOTATIONS} are allowed (they are notes, never sent; keep bulk data elsewhere)"
    )
}

/// One manifest to read: a file, or standard input (`-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// `None` reads standard input.
    pub path: Option<PathBuf>,
    /// How diagnostics name this input: the path as given, or `<stdin>`.
    pub name: Arc<str>,
}

impl Input {
    /// Reads a command-line argument: `-` is standard input, anything else a path.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::stdin()
        } else {
            Input::path(arg)
        }
    }

    pub fn path(p: impl Into<PathBuf>) -> Input {
        let path = p.into();
        Input {
            name: Arc::from(path.display().to_string()),
            path: Some(path),
        }
    }

    pub fn stdin() -> Input {
        Input {
            path: None,
            name: Arc::from("<stdin>"),
        }
    }
}

/// Why an input cannot be read at all. Checked for every input before any is read, so a mistyped
/// path is said as such (and exits 66, `EX_NOINPUT`) instead of as an empty, invalid batch.
#[derive(Debug, thiserror::Error)]
pub enum NoInput {
    /// Nothing at that path. `suggestion` is the nearest name in the same directory, as the path
    /// would be typed; `dir_missing` is set when the directory itself does not exist.
    #[error("no such file: {}{}", escape_path(path), no_such_hint(suggestion.as_deref(), dir_missing.as_deref()))]
    Missing {
        path: PathBuf,
        suggestion: Option<PathBuf>,
        dir_missing: Option<PathBuf>,
    },
    #[error("{} is a directory, not a manifest file", escape_path(path))]
    Directory { path: PathBuf },
    #[error("cannot read {}: {source}", escape_path(path))]
    Unreadable { path: PathBuf, source: io::Error },
}

fn escape_path(p: &Path) -> String {
    crate::text::escape(&p.display().to_string()).into_owned()
}

fn no_such_hint(suggestion: Option<&Path>, dir_missing: Option<&Path>) -> String {
    match (suggestion, dir_missing) {
        (Some(s), _) => format!("; did you mean {}?", escape_path(s)),
        (None, Some(d)) => format!(" (there is no directory {})", escape_path(d)),
        (None, None) => String::new(),
    }
}

/// How many entries of a directory are compared for a "did you mean"; a huge directory is not
/// read whole to decorate an error.
const SUGGESTION_SCAN_LIMIT: usize = 10_000;

/// Checks that `path` names a file that can be opened for reading. Nothing is read from it.
pub fn check_readable(path: &Path) -> Result<(), NoInput> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(NoInput::Directory {
                path: path.to_path_buf(),
            });
        }
        // A FIFO, a pipe (`<(…)`) or a device: opening one to probe it can wait for a writer
        // forever (a FIFO with none) or take what the real read needs; reading it says the rest.
        Ok(m) if !m.is_file() => return Ok(()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing(path)),
        Err(source) => {
            return Err(NoInput::Unreadable {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    // Metadata can be read without the right to read the file; opening says whether it can be.
    File::open(path)
        .map(drop)
        .map_err(|source| NoInput::Unreadable {
            path: path.to_path_buf(),
            source,
        })
}

/// The `Missing` error for `path`, with the nearest file name in its directory, if any is near.
fn missing(path: &Path) -> NoInput {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = parent.unwrap_or(Path::new("."));
    let wanted = path.file_name().and_then(|n| n.to_str());
    let (suggestion, dir_missing) = match (std::fs::read_dir(dir), wanted) {
        (Ok(entries), Some(wanted)) => {
            let names: Vec<String> = entries
                .take(SUGGESTION_SCAN_LIMIT)
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            let near = crate::text::closest(wanted, names.iter().map(String::as_str));
            let shown = near.map(|n| parent.map_or_else(|| PathBuf::from(n), |p| p.join(n)));
            (shown, None)
        }
        (Err(e), _) if e.kind() == io::ErrorKind::NotFound => (None, parent.map(Path::to_path_buf)),
        _ => (None, None),
    };
    NoInput::Missing {
        path: path.to_path_buf(),
        suggestion,
        dir_missing,
    }
}

/// A field's value as written. `Null` (YAML `~` or an empty value) means "leave unchanged" and
/// overrides a default; `Invalid` means the parser already reported the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawValue {
    Null,
    Text(String),
    List(Vec<String>),
    Invalid,
}

/// One field of one record, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawField {
    pub field: Field,
    pub value: RawValue,
    pub location: Location,
    /// The value came from the YAML `defaults:` block (its location points there).
    pub from_defaults: bool,
}

/// One update as written: its fields and annotations, not yet typed or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The start of the record (the YAML mapping, or the CSV row).
    pub location: Location,
    pub fields: Vec<RawField>,
    pub annotations: Vec<(String, String)>,
    /// The parser found a problem in this record and reported it; the record must not be used.
    pub invalid: bool,
}

/// The two manifest formats. JSON is read as YAML (it is a subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Csv,
}

/// What a key or header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Field(Field),
    Annotation,
    /// Not a field; carries the closest valid field name, if one is close.
    Unknown(Option<&'static str>),
}

pub fn classify_key(name: &str) -> Key {
    if let Some(f) = Field::from_name(name) {
        Key::Field(f)
    } else if name.starts_with(ANNOTATION_PREFIX) {
        Key::Annotation
    } else {
        Key::Unknown(crate::text::closest(
            name,
            Field::ALL.iter().map(|f| f.name()),
        ))
    }
}

/// The message for an unknown field: the closest valid name, or the list of valid names.
pub fn unknown_field_message(name: &str, suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("unknown field {name:?}; did you mean {s}?"),
        None => {
            let all: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
            format!(
                "unknown field {name:?}; valid fields are {}, or an annotation starting with x-",
                all.join(", ")
            )
        }
    }
}

/// What reading one input produced besides its records.
#[derive(Debug, Default)]
pub struct FileOutcome {
    /// The whole text of an in-memory (YAML) input, kept so diagnostics can quote source lines.
    pub text: Option<Arc<str>>,
}

/// Reads one input, handing each record to `sink` as soon as it is parsed and pushing every
/// problem found to `diags`. Never panics on bad input; a file that cannot be read is one
/// diagnostic.
pub fn read(
    input: &Input,
    sink: &mut dyn FnMut(RawRecord),
    diags: &mut Vec<Diagnostic>,
) -> FileOutcome {
    let (format, reader) = match open(input) {
        Ok(x) => x,
        Err(d) => {
            diags.push(*d);
            return FileOutcome::default();
        }
    };
    match format {
        Format::Csv => {
            csv::read(&input.name, reader, sink, diags);
            FileOutcome::default()
        }
        Format::Yaml => {
            let mut bytes = Vec::new();
            let mut limited = reader.take(MAX_YAML_BYTES + 1);
            if let Err(e) = limited.read_to_end(&mut bytes) {
                diags.push(io_diag(&input.name, &e));
                return FileOutcome::default();
            }
            if bytes.len() as u64 > MAX_YAML_BYTES {
                diags.push(Diagnostic::error(
                    Location::file(&input.name),
                    code::IO,
                    format!(
                        "YAML manifest is larger than {} MiB; split it, or use CSV, which is streamed",
                        MAX_YAML_BYTES >> 20
                    ),
                ));
                return FileOutcome::default();
            }
            let text = yaml::read(&input.name, &bytes, sink, diags);
            FileOutcome { text }
        }
    }
}

fn io_diag(name: &Arc<str>, e: &io::Error) -> Diagnostic {
    Diagnostic::error(
        Location::file(name),
        code::IO,
        format!("cannot read {name}: {e}"),
    )
}

/// Opens an input, skips a UTF-8 byte-order mark, refuses UTF-16/32, and decides the format: by
/// extension (`.csv`; `.yaml`, `.yml`, `.json`), else by the first line (a CSV header has no `:`).
pub fn open(input: &Input) -> Result<(Format, Box<dyn BufRead>), Box<Diagnostic>> {
    let raw: Box<dyn Read> = match &input.path {
        None => Box::new(io::stdin()),
        Some(p) => match File::open(p) {
            Ok(f) => Box::new(f),
            Err(e) => return Err(Box::new(io_diag(&input.name, &e))),
        },
    };
    let mut reader = BufReader::with_capacity(256 << 10, raw);
    let head = reader
        .fill_buf()
        .map_err(|e| Box::new(io_diag(&input.name, &e)))?
        .to_vec();
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err(Box::new(Diagnostic::error(
            Location::line(&input.name, 1),
            code::ENCODING,
            "the file is UTF-16 (or UTF-32) encoded; save it as UTF-8",
        )));
    }
    let by_ext = input.path.as_ref().and_then(|p| {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "yaml" | "yml" | "json" => Some(Format::Yaml),
            _ => None,
        }
    });
    let format = by_ext.unwrap_or_else(|| sniff(&head));
    Ok((format, Box::new(reader)))
}

/// Guesses the format from the start of the data: the first line that is not blank or a `#`
/// comment is a CSV header when it has no `:` and does not open a JSON/YAML collection.
pub fn sniff(head: &[u8]) -> Format {
    let head = head.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(head);
    let first = head
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty() && !l.starts_with(b"#") && *l != b"---");
    match first {
        Some(l) if !l.contains(&b':') && !matches!(l[0], b'{' | b'[' | b'-') => Format::Csv,
        _ => Format::Yaml,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(classify_key("TaskId"), Key::Field(Field::TaskId));
        assert_eq!(classify_key("x-note"), Key::Annotation);
        assert_eq!(
            classify_key("Callbackurl"),
            Key::Unknown(Some("CallbackUrl"))
        );
        assert_eq!(classify_key("EndTme"), Key::Unknown(Some("EndTime")));
        assert_eq!(classify_key("SourceUrl"), Key::Unknown(Some("SourceUrls")));
        assert_eq!(classify_key("Banana"), Key::Unknown(None));
    }

    #[test]
    fn a_missing_input_names_the_nearest_file_in_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("migration.yaml"), "updates: []\n").unwrap();
        std::fs::create_dir(dir.path().join("migration.yml")).unwrap();
        let typo = dir.path().join("migraton.yaml");
        let e = check_readable(&typo).unwrap_err();
        let shown = |p: &Path| p.display().to_string();
        assert_eq!(
            e.to_string(),
            format!(
                "no such file: {}; did you mean {}?",
                shown(&typo),
                shown(&dir.path().join("migration.yaml"))
            )
        );
        // Nothing near: the path alone. A directory of the same name is never suggested.
        let far = dir.path().join("completely-else.csv");
        assert_eq!(
            check_readable(&far).unwrap_err().to_string(),
            format!("no such file: {}", shown(&far))
        );
        let no_dir = dir.path().join("nowhere").join("a.yaml");
        assert_eq!(
            check_readable(&no_dir).unwrap_err().to_string(),
            format!(
                "no such file: {} (there is no directory {})",
                shown(&no_dir),
                shown(&dir.path().join("nowhere"))
            )
        );
        let e = check_readable(&dir.path().join("migration.yml")).unwrap_err();
        assert!(matches!(e, NoInput::Directory { .. }), "{e}");
        assert!(check_readable(&dir.path().join("migration.yaml")).is_ok());
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"TaskId,Region\n"), Format::Csv);
        assert_eq!(sniff(b"\xEF\xBB\xBFTaskId,Region\n"), Format::Csv);
        assert_eq!(sniff(b"# c\nupdates:\n"), Format::Yaml);
        assert_eq!(sniff(b"{\"updates\": []}"), Format::Yaml);
        assert_eq!(sniff(b""), Format::Yaml);
    }
}
