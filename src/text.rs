//! Text that came from a file or from the server, made safe to show.
//!
//! A manifest cell, a CSV header or a server's error message can hold control characters (an ESC
//! that rewrites the terminal, a CR that hides the start of a line) or invisible format characters
//! (a right-to-left override, a zero-width space) that make what a reviewer reads differ from what
//! the bytes say. Everything shown on the terminal or written to a report passes through
//! [`escape`]; CSV report cells also pass through [`csv_cell`], which stops a spreadsheet from
//! running a cell as a formula. Both return the input unchanged (borrowed) in the common case.

use std::borrow::Cow;
use std::fmt::Write as _;

/// True for characters that must never be shown raw: control characters (C0, DEL, C1) and the
/// invisible format characters that reorder or hide text (bidi embeddings, overrides and
/// isolates, zero-width characters, the word joiner family, a BOM inside text).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}')
}

/// `s` with every [`is_hidden`] character written as a visible escape (`\n`, `\r`, `\t`,
/// `\u{1b}`), so the text reads the same on any terminal or page. A backslash is left alone: the
/// escapes are for a person to read, not to be decoded.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A CSV report cell: [`escape`]d, and prefixed with `'` when a spreadsheet would run it as a
/// formula (it starts with `=`, `+`, `-` or `@`), as OWASP recommends for CSV exports. The `'`
/// shows in the cell; the text after it is the original.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    let e = escape(s);
    if e.starts_with(['=', '+', '-', '@']) {
        Cow::Owned(format!("'{e}"))
    } else {
        e
    }
}

/// The candidate a user most plausibly meant, for "did you mean" hints (manifest fields, regions,
/// source types, top-level YAML keys): the candidate nearest to `name` by edit distance (case-insensitive; Levenshtein from `strsim`),
/// if it is near enough to be a plausible typo: at most a third of the name's length, and at least
/// 2 edits allowed.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lname = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .map(|c| (strsim::levenshtein(&lname, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape("https://h/x?a=1 b"), Cow::Borrowed(_)));
        assert!(matches!(csv_cell("fine"), Cow::Borrowed(_)));
    }

    #[test]
    fn hidden_characters_become_visible() {
        assert_eq!(escape("a\rb\x1b[2Kc\td\n"), "a\\rb\\u{1b}[2Kc\\td\\n");
        assert_eq!(
            escape("x\u{202E}y\u{200B}z\u{85}"),
            "x\\u{202e}y\\u{200b}z\\u{85}"
        );
        assert_eq!(escape("ünïcödé 名前"), "ünïcödé 名前");
    }

    #[test]
    fn formulas_are_neutralised() {
        for f in ["=1+1", "+1", "-2+3", "@SUM(A1)", "=HYPERLINK(\"x\")"] {
            assert_eq!(csv_cell(f), format!("'{f}"));
        }
        assert_eq!(csv_cell("a=1"), "a=1");
        assert_eq!(csv_cell("\x1b=1"), "\\u{1b}=1");
    }
}
