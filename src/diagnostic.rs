//! Located diagnostics: one problem in one place of one manifest, rendered for people and as JSON.
//!
//! Every stage that reads manifests reports through this type, so a user sees the same
//! `file:line:col: error[Field]: message` shape whether the problem is a YAML syntax error, a CSV
//! row with too many cells or a broken rule.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde::Serialize;

use crate::model::Field;
pub use crate::rules::Severity;

/// Where something is in a manifest. YAML gives line and column; CSV gives the physical line of the
/// row and the header name of the cell. `line == 0` means the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
    pub column: Option<u32>,
    pub column_name: Option<Arc<str>>,
}

impl Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("file", &*self.file)?;
        m.serialize_entry("line", &self.line)?;
        if let Some(c) = self.column {
            m.serialize_entry("column", &c)?;
        }
        if let Some(n) = &self.column_name {
            m.serialize_entry("column_name", &**n)?;
        }
        m.end()
    }
}

impl Location {
    pub fn file(file: &Arc<str>) -> Location {
        Location {
            file: file.clone(),
            line: 0,
            column: None,
            column_name: None,
        }
    }

    pub fn line(file: &Arc<str>, line: u32) -> Location {
        Location {
            line,
            ..Location::file(file)
        }
    }

    pub fn at(file: &Arc<str>, line: u32, column: u32) -> Location {
        Location {
            column: Some(column),
            ..Location::line(file, line)
        }
    }

    /// `file:line`, as a plan item's `origin` names its update: the one spelling planning writes
    /// and `apply --plan` derives again to check a saved plan.
    pub fn file_line(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    pub fn cell(file: &Arc<str>, line: u32, column_name: &Arc<str>) -> Location {
        Location {
            column_name: Some(column_name.clone()),
            ..Location::line(file, line)
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::text::escape(&self.file))?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if let Some(name) = &self.column_name {
            write!(f, " (column {})", crate::text::escape(name))?;
        }
        Ok(())
    }
}

/// Codes for problems in the manifest's *form* (the rule violations carry the service's own codes,
/// so a user can match what `validate` says with what the service would answer).
pub mod code {
    pub const SYNTAX: &str = "manifest.syntax";
    pub const ENCODING: &str = "manifest.encoding";
    pub const EMPTY: &str = "manifest.empty";
    pub const IO: &str = "manifest.io";
    pub const SHAPE: &str = "manifest.shape";
    pub const UNKNOWN_FIELD: &str = "manifest.unknown-field";
    pub const DUPLICATE_FIELD: &str = "manifest.duplicate-field";
    pub const MISSING_FIELD: &str = "manifest.missing-field";
    pub const RAGGED_ROW: &str = "manifest.ragged-row";
    pub const LINE_TOO_LONG: &str = "manifest.line-too-long";
    pub const DUPLICATE_TASK: &str = "manifest.duplicate-task";
    pub const NO_UPDATES: &str = "manifest.no-updates";
    pub const NO_CHANGE: &str = "manifest.no-change";
}

/// The source line a diagnostic points into, kept only for diagnostics (never for valid rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snippet {
    /// The whole source line, without its line end.
    pub text: String,
}

/// One problem, located. `related` points at a second place (the first occurrence of a duplicate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    #[serde(flatten)]
    pub location: Location,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<Field>,
    /// Stable identifier: the service's error code for rule violations, `manifest.*` for form.
    pub code: &'static str,
    /// What is wrong and what would be right.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<Location>,
    #[serde(skip)]
    pub snippet: Option<Snippet>,
}

impl Diagnostic {
    pub fn error(location: Location, code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            location,
            field: None,
            code,
            message: message.into(),
            related: None,
            snippet: None,
        }
    }

    pub fn warning(
        location: Location,
        code: &'static str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(location, code, message)
        }
    }

    pub fn with_field(mut self, field: Field) -> Diagnostic {
        self.field = Some(field);
        self
    }

    pub fn with_related(mut self, related: Location) -> Diagnostic {
        self.related = Some(related);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The human form: a `file:line:col: severity[Field]: message` header, then the source line
    /// with a caret under the column when the line is known.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = write!(out, "{}: {sev}", self.location);
        if let Some(f) = self.field {
            let _ = write!(out, "[{f}]");
        }
        let _ = write!(out, ": {}", crate::text::escape(&self.message));
        if let Some(rel) = &self.related {
            let _ = write!(out, "\n  note: first seen at {rel}");
        }
        if let Some(snip) = &self.snippet {
            let line_no = self.location.line.to_string();
            let pad = " ".repeat(line_no.len());
            // Hidden characters show as one replacement character each, so the caret still lines
            // up; tabs stay tabs for the same reason.
            let chars: Vec<char> = snip
                .text
                .trim_end()
                .chars()
                .map(|c| {
                    if c != '\t' && crate::text::is_hidden(c) {
                        '\u{FFFD}'
                    } else {
                        c
                    }
                })
                .collect();
            let col = self.location.column.map(|c| (c as usize).saturating_sub(1));
            // Long lines are cut to a window around the column.
            let from = col.map_or(0, |c| c.saturating_sub(SNIPPET_BEFORE));
            let to = chars.len().min(from + SNIPPET_WIDTH);
            let mut shown: String = chars[from.min(to)..to].iter().collect();
            let lead_mark = if from > 0 { "…" } else { "" };
            if to < chars.len() {
                shown.push('…');
            }
            let _ = write!(out, "\n{pad} |\n{line_no} | {lead_mark}{shown}");
            if let Some(c) = col.filter(|c| *c < chars.len()) {
                let width = token_len(&chars[c..]).min(to.saturating_sub(c)).max(1);
                let lead: String = chars[from..c]
                    .iter()
                    .map(|&ch| if ch == '\t' { '\t' } else { ' ' })
                    .collect();
                let lead_pad = if from > 0 { " " } else { "" };
                let _ = write!(out, "\n{pad} | {lead_pad}{lead}{}", "^".repeat(width));
            }
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

const SNIPPET_BEFORE: usize = 40;
const SNIPPET_WIDTH: usize = 120;

/// How many characters the value or key starting here spans: a quoted string to its closing quote,
/// a flow collection to its closing bracket, otherwise up to `: `, ` #`, `,` or a closing bracket.
fn token_len(s: &[char]) -> usize {
    match s.first() {
        Some(&q @ ('"' | '\'')) => s[1..]
            .iter()
            .position(|&c| c == q)
            .map_or(s.len(), |p| p + 2),
        Some('[' | '{') => {
            let mut depth = 0usize;
            for (i, &c) in s.iter().enumerate() {
                match c {
                    '[' | '{' => depth += 1,
                    ']' | '}' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
            }
            s.len()
        }
        _ => {
            let mut end = s.len();
            for (i, w) in s.windows(2).enumerate() {
                if matches!(w, [':', ' '] | [' ', '#']) {
                    end = i;
                    break;
                }
            }
            if let Some(p) = s[..end].iter().position(|&c| matches!(c, ',' | ']' | '}')) {
                end = p;
            }
            if s.last() == Some(&':') && end == s.len() {
                end -= 1;
            }
            end
        }
    }
}

/// Counts of errors and warnings, for summaries and exit codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
}

impl Counts {
    pub fn of(diags: &[Diagnostic]) -> Counts {
        let errors = diags.iter().filter(|d| d.is_error()).count();
        Counts {
            errors,
            warnings: diags.len() - errors,
        }
    }
}

/// Orders diagnostics by file (in the order given), then line, so output reads top to bottom.
pub fn sort(diags: &mut [Diagnostic], file_order: &[std::sync::Arc<str>]) {
    let rank = |f: &str| {
        file_order
            .iter()
            .position(|x| &**x == f)
            .unwrap_or(usize::MAX)
    };
    diags.sort_by(|a, b| {
        (rank(&a.location.file), a.location.line, a.location.column).cmp(&(
            rank(&b.location.file),
            b.location.line,
            b.location.column,
        ))
    });
}
