//! YAML (and JSON) manifests → located raw records.
//!
//! The document is read into a small located tree first (every node with its line and column, via
//! `serde_saphyr::Spanned`), then walked. Numbers and booleans are taken as the text the user wrote
//! (sliced from the source by the node's span), so that `1e3` or `0x10` are judged by the same
//! strict rules as a CSV cell instead of being silently converted by the YAML schema.
//!
//! serde-saphyr's budgets bound alias expansion, nesting and event counts; a breach is a located
//! error like any other.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::{Key, MAX_LINE_BYTES, RawField, RawRecord, RawValue, classify_key};
use crate::diagnostic::{Diagnostic, Location, code};
use crate::model::{Field, Kind};

/// A YAML node with its children located. Scalars that YAML would type (numbers, booleans) are
/// `Plain`: their text is recovered from the source span.
#[derive(Debug)]
enum Node {
    Null,
    Str(String),
    Plain(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Plain(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Plain(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Plain(v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Plain(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Plain(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Plain(v.to_string()))
    }
    fn visit_char<E>(self, v: char) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Err(E::custom("binary values are not supported in a manifest"))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, _: A) -> Result<Node, A::Error> {
        Err(serde::de::Error::custom(
            "tagged values are not supported in a manifest; remove the !tag",
        ))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element::<Spanned<Node>>()? {
            v.push(x);
        }
        Ok(Node::Seq(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some(k) = a.next_key::<Spanned<String>>()? {
            let val = a.next_value::<Spanned<Node>>()?;
            v.push((k, val));
        }
        Ok(Node::Map(v))
    }
}

struct Ctx<'a> {
    file: &'a Arc<str>,
    text: &'a str,
    diags: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn loc<T>(&self, s: &Spanned<T>) -> Location {
        Location::at(
            self.file,
            s.referenced.line().try_into().unwrap_or(u32::MAX),
            s.referenced.column().try_into().unwrap_or(u32::MAX),
        )
    }

    fn error<T>(&mut self, at: &Spanned<T>, code: &'static str, msg: impl Into<String>) {
        let d = Diagnostic::error(self.loc(at), code, msg);
        self.diags.push(d);
    }

    /// The text of a scalar as written, for scalars YAML typed as numbers or booleans.
    fn source_text(&self, n: &Spanned<Node>, fallback: &str) -> String {
        let span = n.referenced.span();
        match (span.byte_offset(), span.byte_len()) {
            (Some(off), Some(len)) => {
                let (off, len) = (off as usize, len as usize);
                self.text
                    .get(off..off.saturating_add(len))
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| fallback.to_string())
            }
            _ => fallback.to_string(),
        }
    }

    /// A scalar's text, or `None` (with a diagnostic) for a list or mapping.
    fn scalar(&mut self, n: &Spanned<Node>, what: &str) -> Option<Option<String>> {
        match &n.value {
            Node::Null => Some(None),
            Node::Str(s) => Some(Some(s.clone())),
            Node::Plain(p) => Some(Some(self.source_text(n, p))),
            Node::Seq(_) | Node::Map(_) => {
                self.error(
                    n,
                    code::SHAPE,
                    format!("{what} must be a single value, not a list or mapping"),
                );
                None
            }
        }
    }

    fn value(&mut self, field: Field, n: &Spanned<Node>) -> RawValue {
        // A list is a value only of a list field (the table's `Kind::Urls`: `SourceUrls`).
        if field.kind() == Kind::Urls
            && let Node::Seq(items) = &n.value
        {
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                match &it.value {
                    Node::Str(s) => out.push(s.clone()),
                    Node::Plain(p) => out.push(self.source_text(it, p)),
                    _ => {
                        self.error(
                            it,
                            code::SHAPE,
                            format!(
                                "each {field} entry must be a string such as rtmp://host/app/stream"
                            ),
                        );
                        return RawValue::Invalid;
                    }
                }
            }
            return RawValue::List(out);
        }
        match self.scalar(n, field.name()) {
            Some(None) => RawValue::Null,
            Some(Some(s)) => RawValue::Text(s),
            None => RawValue::Invalid,
        }
    }

    /// Reads one mapping of fields (an update, or the defaults block).
    fn fields(
        &mut self,
        entries: &[(Spanned<String>, Spanned<Node>)],
        in_defaults: bool,
    ) -> RawRecord {
        let mut rec = RawRecord {
            location: Location::file(self.file),
            fields: Vec::with_capacity(entries.len()),
            annotations: Vec::new(),
            invalid: false,
        };
        let mut seen: HashSet<&str> = HashSet::with_capacity(entries.len().min(64));
        let mut annotations_capped = false;
        for (k, v) in entries {
            let name = k.value.as_str();
            if !seen.insert(name) {
                self.error(
                    k,
                    code::DUPLICATE_FIELD,
                    format!("{name} is given twice in the same mapping; keep one"),
                );
                rec.invalid = true;
                continue;
            }
            match classify_key(name) {
                Key::Field(f) => {
                    if in_defaults && f == Field::TaskId {
                        self.error(
                            k,
                            code::SHAPE,
                            "TaskId cannot have a default; each update names its own task",
                        );
                        rec.invalid = true;
                        continue;
                    }
                    let value = self.value(f, v);
                    if value == RawValue::Invalid {
                        rec.invalid = true;
                    }
                    rec.fields.push(RawField {
                        field: f,
                        value,
                        location: self.loc(v),
                        from_defaults: false,
                    });
                }
                Key::Annotation if rec.annotations.len() >= super::MAX_ANNOTATIONS => {
                    if !annotations_capped {
                        annotations_capped = true;
                        let what = if in_defaults {
                            "`defaults:`"
                        } else {
                            "this update"
                        };
                        self.error(k, code::SHAPE, super::too_many_annotations(what));
                    }
                    rec.invalid = true;
                }
                Key::Annotation => match self.scalar(v, name) {
                    Some(Some(s)) => rec.annotations.push((name.to_string(), s)),
                    Some(None) => {}
                    None => rec.invalid = true,
                },
                Key::Unknown(suggestion) => {
                    let d = Diagnostic::error(
                        self.loc(k),
                        code::UNKNOWN_FIELD,
                        super::unknown_field_message(name, suggestion),
                    );
                    self.diags.push(d);
                    rec.invalid = true;
                }
            }
        }
        rec
    }
}

/// Parses one YAML/JSON document. Returns the source text (for snippets) when it was valid UTF-8.
pub fn read(
    file: &Arc<str>,
    bytes: &[u8],
    sink: &mut dyn FnMut(RawRecord),
    diags: &mut Vec<Diagnostic>,
) -> Option<Arc<str>> {
    if let Some(line) = long_line(bytes) {
        diags.push(Diagnostic::error(
            Location::line(file, line),
            code::LINE_TOO_LONG,
            format!(
                "line {line} is longer than {} bytes; no manifest field needs that much (is this the right file?)",
                super::MAX_LINE_BYTES
            ),
        ));
        return None;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let (line, col) = line_col(bytes, e.valid_up_to());
            diags.push(Diagnostic::error(
                Location::at(file, line, col),
                code::ENCODING,
                "the file is not valid UTF-8 here; save it as UTF-8",
            ));
            return None;
        }
    };
    let text: Arc<str> = Arc::from(text);
    if text.trim().is_empty() {
        diags.push(Diagnostic::error(
            Location::file(file),
            code::EMPTY,
            "the file is empty; a manifest has an `updates:` list (see the README)",
        ));
        return Some(text);
    }
    let root: Spanned<Node> = match serde_saphyr::from_str(&text) {
        Ok(n) => n,
        Err(e) => {
            diags.push(saphyr_diag(file, &e));
            return Some(text);
        }
    };
    let mut cx = Ctx {
        file,
        text: &text,
        diags,
    };
    walk(&mut cx, &root, sink);
    Some(text)
}

fn walk(cx: &mut Ctx<'_>, root: &Spanned<Node>, sink: &mut dyn FnMut(RawRecord)) {
    const SHAPE_HELP: &str =
        "a manifest is a mapping with `updates:` (a list of updates) and optional `defaults:`";
    let top = match &root.value {
        Node::Map(m) => m,
        Node::Null => {
            cx.diags.push(Diagnostic::error(
                Location::file(cx.file),
                code::EMPTY,
                format!("the file has no content; {SHAPE_HELP}"),
            ));
            return;
        }
        _ => {
            cx.error(
                root,
                code::SHAPE,
                format!("expected a mapping; {SHAPE_HELP}"),
            );
            return;
        }
    };
    let mut defaults: Option<RawRecord> = None;
    let mut updates: Option<&Spanned<Node>> = None;
    for (k, v) in top {
        match k.value.as_str() {
            "defaults" => match &v.value {
                Node::Map(m) => {
                    let mut d = cx.fields(m, true);
                    d.location = cx.loc(k);
                    defaults = Some(d);
                }
                Node::Null => {}
                _ => cx.error(v, code::SHAPE, "`defaults:` must be a mapping of fields"),
            },
            "updates" => updates = Some(v),
            other => {
                let hint = match crate::text::closest(other, ["defaults", "updates"].into_iter()) {
                    Some(s) => format!("did you mean `{s}:`?"),
                    None if Field::from_name(other).is_some() => {
                        "fields belong inside an entry of the `updates:` list".to_string()
                    }
                    None => SHAPE_HELP.to_string(),
                };
                cx.error(
                    k,
                    code::SHAPE,
                    format!("unknown top-level key {other:?}; {hint}"),
                );
            }
        }
    }
    let Some(updates) = updates else {
        cx.diags.push(Diagnostic::error(
            Location::file(cx.file),
            code::SHAPE,
            format!("no `updates:` list; {SHAPE_HELP}"),
        ));
        return;
    };
    let items = match &updates.value {
        Node::Seq(items) => items.as_slice(),
        Node::Null => &[],
        _ => {
            cx.error(
                updates,
                code::SHAPE,
                "`updates:` must be a list of mappings",
            );
            return;
        }
    };
    if items.is_empty() {
        let d = Diagnostic::warning(cx.loc(updates), code::NO_UPDATES, "`updates:` is empty");
        cx.diags.push(d);
    }
    for item in items {
        let Node::Map(m) = &item.value else {
            cx.error(
                item,
                code::SHAPE,
                "each entry of `updates:` must be a mapping of fields such as `TaskId: …`",
            );
            continue;
        };
        let mut rec = cx.fields(m, false);
        rec.location = cx.loc(item);
        if let Some(d) = &defaults {
            apply_defaults(&mut rec, d);
        }
        sink(rec);
    }
}

/// Copies every default the record does not set itself (a record's explicit null counts as set).
fn apply_defaults(rec: &mut RawRecord, defaults: &RawRecord) {
    for df in &defaults.fields {
        if !rec.fields.iter().any(|f| f.field == df.field) {
            let mut f = df.clone();
            f.from_defaults = true;
            if f.value == RawValue::Invalid {
                rec.invalid = true;
            }
            rec.fields.push(f);
        }
    }
    if rec.annotations.is_empty() {
        rec.annotations.clone_from(&defaults.annotations);
    } else if !defaults.annotations.is_empty() {
        // A set, not a scan per default: both lists may hold up to MAX_ANNOTATIONS.
        let own: HashSet<String> = rec.annotations.iter().map(|(k, _)| k.clone()).collect();
        for (k, v) in &defaults.annotations {
            if !own.contains(k) {
                rec.annotations.push((k.clone(), v.clone()));
            }
        }
    }
    if defaults.invalid {
        rec.invalid = true;
    }
}

fn saphyr_diag(file: &Arc<str>, e: &serde_saphyr::Error) -> Diagnostic {
    let inner = e.without_snippet().to_string();
    let loc = e.location().filter(|l| l.line() > 0);
    // The crate appends " at line L, column C"; the location is shown by ours already.
    let mut msg = match inner.find(" at line ") {
        Some(i) if loc.is_some() => inner[..i].to_string(),
        _ => inner,
    };
    if let Some(i) = msg.find(", set DuplicateKeyPolicy") {
        msg.truncate(i);
        msg.push_str("; keep one");
    }
    if msg.starts_with("budget breached") || msg.contains("recursion limit") {
        msg = format!(
            "{msg}: the document is nested too deeply or its aliases expand too far for the parser's safety limits; a manifest needs neither"
        );
    }
    let location = match loc {
        Some(l) => Location::at(
            file,
            l.line().try_into().unwrap_or(u32::MAX),
            l.column().try_into().unwrap_or(u32::MAX),
        ),
        None => Location::file(file),
    };
    Diagnostic::error(location, code::SYNTAX, format!("invalid YAML: {msg}"))
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(bytes: &[u8], offset: usize) -> (u32, u32) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

/// The first line longer than [`MAX_LINE_BYTES`], if any.
fn long_line(bytes: &[u8]) -> Option<u32> {
    bytes
        .split(|&b| b == b'\n')
        .position(|l| l.len() > MAX_LINE_BYTES)
        .map(|i| u32::try_from(i + 1).unwrap_or(u32::MAX))
}
