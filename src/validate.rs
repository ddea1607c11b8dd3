//! Raw records → typed updates and diagnostics, for a whole batch of manifests at once.
//!
//! Every rule comes from [`crate::rules`]; this module only connects each violation to the place
//! in the manifest it is about, and adds the batch-level checks (the same `TaskId` twice, across
//! files too). All problems in all files are collected in one run.
//!
//! Two entry points: [`visit_batch`] streams entries to a callback and keeps only the set of task
//! IDs (what `validate` and `apply` need for a million-row CSV), and [`load_batch`] collects
//! them (what `plan` needs).

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::diagnostic::{self, Counts, Diagnostic, Location, Snippet, code};
use crate::manifest::{self, Input, RawField, RawRecord, RawValue};
use crate::model::{ApiTime, Field, Region, Update, Value};
use crate::rules::{self, Severity, Violation};

/// One valid update, with where it was written and its annotations (`x-…`, never sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub update: Update,
    pub origin: Location,
    pub annotations: BTreeMap<String, String>,
}

/// Every valid update of a batch and every problem found, in file and line order.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub entries: Vec<Entry>,
    pub diagnostics: Vec<Diagnostic>,
    /// The inputs' display names, in the order given.
    pub files: Vec<Arc<str>>,
}

impl Batch {
    /// True when anything must stop the batch; warnings do not.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn counts(&self) -> Counts {
        Counts::of(&self.diagnostics)
    }
}

/// What streaming a batch found, without the entries themselves.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub diagnostics: Vec<Diagnostic>,
    pub files: Vec<Arc<str>>,
    /// Records read (valid or not).
    pub records: usize,
    /// Entries handed to the callback.
    pub valid: usize,
}

impl Summary {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn counts(&self) -> Counts {
        Counts::of(&self.diagnostics)
    }
}

/// Reads and validates every input, collecting valid entries. The plan, apply and emulator
/// (`--seed`) paths call this; they must not act on `entries` when `has_errors()`.
pub fn load_batch(inputs: &[Input], now: ApiTime) -> Batch {
    let mut entries = Vec::new();
    let s = visit_batch(inputs, now, &mut |e| entries.push(e));
    Batch {
        entries,
        diagnostics: s.diagnostics,
        files: s.files,
    }
}

/// Reads and validates every input, handing each valid entry to `on_entry` as soon as it is read.
/// Memory grows with the set of task IDs and the diagnostics, not with the files. An entry handed
/// over early may still be part of a batch that turns out invalid (a later duplicate): decide on
/// the returned summary.
pub fn visit_batch(inputs: &[Input], now: ApiTime, on_entry: &mut dyn FnMut(Entry)) -> Summary {
    let mut v = Validator::new(now);
    let mut texts: HashMap<Arc<str>, Arc<str>> = HashMap::new();
    let mut files = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        files.push(input.name.clone());
        v.files.push(input.name.clone());
        v.file_idx = u32::try_from(i).unwrap_or(u32::MAX);
        let mut diags = Vec::new();
        let outcome = manifest::read(
            input,
            &mut |rec| {
                if let Some(e) = v.check(rec) {
                    on_entry(e);
                }
            },
            &mut diags,
        );
        v.diags.append(&mut diags);
        if let Some(t) = outcome.text {
            texts.insert(input.name.clone(), t);
        }
    }
    let mut diagnostics = std::mem::take(&mut v.diags);
    // Each file's line starts, found once: a scan per diagnostic was quadratic when a file has
    // tens of thousands of problems.
    let mut lines: HashMap<Arc<str>, LineIndex> = HashMap::new();
    for d in &mut diagnostics {
        if d.location.line == 0 {
            continue;
        }
        let Some(t) = texts.get(&d.location.file) else {
            continue;
        };
        let index = lines
            .entry(d.location.file.clone())
            .or_insert_with(|| LineIndex::new(t.clone()));
        if let Some(line) = index.line(d.location.line) {
            d.snippet = Some(Snippet {
                text: line.to_string(),
            });
        }
    }
    diagnostic::sort(&mut diagnostics, &files);
    Summary {
        diagnostics,
        files,
        records: v.records,
        valid: v.valid,
    }
}

/// The start of every line of a text, for snippets by line number.
struct LineIndex {
    text: Arc<str>,
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: Arc<str>) -> LineIndex {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// Line `n` (1-based) without its line end, as [`str::lines`] would give it.
    fn line(&self, n: u32) -> Option<&str> {
        let i = (n as usize).checked_sub(1)?;
        let start = *self.starts.get(i)?;
        let end = self.starts.get(i + 1).map_or(self.text.len(), |e| e - 1);
        if start >= self.text.len() {
            return None;
        }
        let l = &self.text[start..end];
        Some(l.strip_suffix('\r').unwrap_or(l))
    }
}

/// Where a task ID was first seen, packed small: a million of these must fit comfortably.
#[derive(Debug, Clone, Copy)]
struct Seen {
    file: u32,
    line: u32,
    /// 0 for CSV (the column is named `TaskId`).
    column: u32,
    /// Fingerprint of the whole update; 0 when the first entry was invalid.
    fingerprint: u64,
}

/// One record's fields parsed into an update, and what went wrong on the way.
struct Parsed {
    update: Update,
    /// Each field's index in the record's fields, by `Field as usize`.
    at: [Option<usize>; Field::ALL.len()],
    /// Which fields parsed: a required one that did not is missing (or already reported).
    parsed: [bool; Field::ALL.len()],
    /// Something is wrong: the record is not an entry.
    failed: bool,
    /// The record's text itself is wrong (not only a rule): its warnings are left out as noise.
    parse_failed: bool,
}

impl Parsed {
    /// Field `f` as the record gives it, if it does.
    fn field<'r>(&self, rec: &'r RawRecord, f: Field) -> Option<&'r RawField> {
        self.at[f as usize].map(|i| &rec.fields[i])
    }
}

/// A task ID seen for the first time, or again.
enum Repeat {
    First,
    /// Listed again with the very same update: one is sent.
    Identical,
    /// Listed again with a different update (or an invalid one).
    Different,
}

struct Validator {
    now: ApiTime,
    file_idx: u32,
    files: Vec<Arc<str>>,
    /// Every TaskId seen so far. `FxHashMap`: the keys come from the user's own files (no
    /// adversary to defend against), and SipHash was the largest single cost of validating a
    /// million rows.
    seen: FxHashMap<Box<str>, Seen>,
    /// Defaults already reported as unparsable, so a bad default is reported once, not per update.
    reported_defaults: HashSet<Location>,
    diags: Vec<Diagnostic>,
    records: usize,
    valid: usize,
    task_id_col: Arc<str>,
    checker: rules::OfflineChecker,
}

impl Validator {
    fn new(now: ApiTime) -> Validator {
        Validator {
            now,
            file_idx: 0,
            files: Vec::new(),
            seen: HashMap::default(),
            checker: rules::OfflineChecker::default(),
            reported_defaults: HashSet::new(),
            diags: Vec::new(),
            records: 0,
            valid: 0,
            task_id_col: Arc::from("TaskId"),
        }
    }

    fn report(&mut self, rec: &RawRecord, raw: Option<&RawField>, v: Violation) {
        let code = if v.code.is_empty() {
            code::NO_CHANGE
        } else {
            v.code
        };
        let (location, message) = match raw {
            Some(f) if !f.from_defaults => (f.location.clone(), v.message),
            Some(f) => (
                rec.location.clone(),
                format!(
                    "{} (the value comes from `defaults:` at {})",
                    v.message, f.location
                ),
            ),
            None => (rec.location.clone(), v.message),
        };
        let mut d = Diagnostic::error(location, code, message).with_field(v.field);
        d.severity = v.severity;
        self.diags.push(d);
    }

    fn check(&mut self, rec: RawRecord) -> Option<Entry> {
        self.records += 1;
        let mut p = self.parse_fields(&rec);
        self.check_required(&rec, &mut p);
        if !p.parsed[Field::Region as usize] {
            p.failed = true;
        }
        self.check_rules(&rec, &mut p);
        if p.parsed[Field::TaskId as usize] {
            match self.check_repeat(&rec, &p) {
                Repeat::First => {}
                Repeat::Identical => return None,
                Repeat::Different => p.failed = true,
            }
        }
        if p.failed {
            return None;
        }
        self.valid += 1;
        Some(Entry {
            update: p.update,
            origin: rec.location,
            annotations: rec.annotations.into_iter().collect(),
        })
    }

    /// Parses each field's text into the update, reporting what does not parse (a bad default
    /// once, not per update).
    fn parse_fields(&mut self, rec: &RawRecord) -> Parsed {
        let mut p = Parsed {
            update: Update::new(String::new(), Region::CnShanghai),
            at: [None; Field::ALL.len()],
            parsed: [false; Field::ALL.len()],
            failed: rec.invalid,
            parse_failed: rec.invalid,
        };
        for (i, f) in rec.fields.iter().enumerate() {
            p.at[f.field as usize] = Some(i);
            let res = match &f.value {
                RawValue::Null | RawValue::Invalid => {
                    if f.value == RawValue::Invalid {
                        p.parse_failed = true;
                    }
                    Ok(())
                }
                RawValue::List(list) => {
                    // Only a list field is ever a list (the parser reports lists elsewhere).
                    p.update.set(f.field, Value::Urls(Cow::Borrowed(list)));
                    Ok(())
                }
                RawValue::Text(s) => rules::parse_text(f.field, s).map(|v| {
                    p.update.set(f.field, v);
                    p.parsed[f.field as usize] = true;
                }),
            };
            if let Err(v) = res {
                p.failed = true;
                p.parse_failed = true;
                if f.from_defaults {
                    if self.reported_defaults.insert(f.location.clone()) {
                        let mut d = Diagnostic::error(f.location.clone(), v.code, v.message)
                            .with_field(v.field);
                        d.message.push_str(" (in `defaults:`)");
                        self.diags.push(d);
                    }
                } else {
                    self.report(rec, Some(f), v);
                }
            }
        }
        p
    }

    /// Reports each required field that is missing or empty.
    fn check_required(&mut self, rec: &RawRecord, p: &mut Parsed) {
        for req in rules::required_fields() {
            let given = p.field(rec, req);
            let missing = match given {
                None => true,
                Some(f) => f.value == RawValue::Null,
            };
            if missing {
                p.failed = true;
                p.parse_failed = true;
                let what = if given.is_some() {
                    "is empty"
                } else {
                    "is missing"
                };
                let loc = given.map_or_else(|| rec.location.clone(), |f| f.location.clone());
                self.diags.push(
                    Diagnostic::error(
                        loc,
                        rules::code::MISSING_PARAMETER,
                        format!(
                            "{req} {what}; every update needs {req} ({})",
                            rules::field_rule(req).allowed
                        ),
                    )
                    .with_field(req),
                );
            }
        }
    }

    /// Runs the offline rules on the parsed update and reports their violations, each at its
    /// field.
    fn check_rules(&mut self, rec: &RawRecord, p: &mut Parsed) {
        let has_task_id = p.parsed[Field::TaskId as usize];
        let violations = self.checker.check(&p.update, self.now);
        // A warning on a record that is already wrong is noise ("the update of  changes nothing"
        // under "TaskId is empty"): the errors say what to fix first.
        let has_error = p.parse_failed
            || p.failed
            || violations.iter().any(|v| {
                v.severity == Severity::Error && (has_task_id || v.field != Field::TaskId)
            });
        for v in violations {
            if v.field == Field::TaskId && !has_task_id {
                continue;
            }
            if v.severity == Severity::Warning && has_error {
                continue;
            }
            if v.severity == Severity::Error {
                p.failed = true;
            }
            self.report(rec, p.field(rec, v.field), v);
        }
    }

    /// Remembers where the update's task was first seen, or reports it seen again: a warning
    /// for an identical update (one update sent), an error for a different one.
    fn check_repeat(&mut self, rec: &RawRecord, p: &Parsed) -> Repeat {
        let u = &p.update;
        let fp = if p.failed { 0 } else { fingerprint(u) };
        let loc = p
            .field(rec, Field::TaskId)
            .map_or(&rec.location, |f| &f.location);
        let Some(first) = self.seen.get(u.task_id.as_str()).copied() else {
            let here = Seen {
                file: self.file_idx,
                line: loc.line,
                column: loc.column.unwrap_or(0),
                fingerprint: fp,
            };
            self.seen.insert(Box::from(u.task_id.as_str()), here);
            return Repeat::First;
        };
        let first_loc = self.seen_location(first);
        if fp != 0 && first.fingerprint == fp {
            self.diags.push(
                Diagnostic::warning(
                    loc.clone(),
                    code::DUPLICATE_TASK,
                    format!(
                        "task {} is listed again, identically; it will be updated once",
                        u.task_id
                    ),
                )
                .with_field(Field::TaskId)
                .with_related(first_loc),
            );
            return Repeat::Identical;
        }
        self.diags.push(
            Diagnostic::error(
                loc.clone(),
                code::DUPLICATE_TASK,
                format!(
                    "task {} is listed twice with different changes; merge them into one update",
                    u.task_id
                ),
            )
            .with_field(Field::TaskId)
            .with_related(first_loc),
        );
        Repeat::Different
    }

    fn seen_location(&self, s: Seen) -> Location {
        let file = self
            .files
            .get(s.file as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from("?"));
        if s.column == 0 {
            Location::cell(&file, s.line, &self.task_id_col)
        } else {
            Location::at(&file, s.line, s.column)
        }
    }
}

/// A 64-bit fingerprint of every field of an update (never 0, which marks "invalid").
fn fingerprint(u: &Update) -> u64 {
    let mut h = DefaultHasher::new();
    u.hash(&mut h);
    h.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::LineIndex;
    use std::sync::Arc;

    #[test]
    fn line_index_agrees_with_lines() {
        for text in ["", "a", "a\n", "a\nb", "a\r\nb\r\n\nc", "\n\n", "x\ny\n"] {
            let idx = LineIndex::new(Arc::from(text));
            let want: Vec<&str> = text.lines().collect();
            for n in 1..=want.len() + 2 {
                assert_eq!(
                    idx.line(n as u32),
                    want.get(n - 1).copied(),
                    "{text:?} line {n}"
                );
            }
            assert_eq!(idx.line(0), None);
        }
    }
}
