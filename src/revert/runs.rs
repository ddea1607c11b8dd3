//! The first read of a journal: what runs it holds, and which of them to revert.
//!
//! A journal line is a JSON object whose first key is its `type` (serde writes the tag first), so
//! every line of a real journal starts with `{"type":"`, whole or torn. A line that does not,
//! before any record was read, is a file passed by mistake (a manifest, a saved plan, a report),
//! refused at once and named for what it looks like; later lines that do not parse (a record torn
//! by a crash, the fragment of one) are counted, and the rest is read on.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use super::RevertError;
use crate::apply::journal::{ItemRecord, Record};
use crate::apply::journal_lines::{BoundedLines, Line};
use crate::outcome::{ItemResult, ItemStatus};
use crate::text::escape;

/// What every journal line starts with.
const RECORD_START: &[u8] = b"{\"type\":\"";

/// One run of a journal, as its records tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub run_id: String,
    /// From its header (`None`: the header is unreadable, the run known only by its records).
    pub started_at: Option<String>,
    /// The manifests it was given, in order (from its header).
    pub manifests: Vec<String>,
    /// The rollout (`apply --waves`) it belongs to.
    pub rollout_id: Option<String>,
    /// Item records.
    pub items: u64,
    /// Items it applied ([`applied`]).
    pub applied: u64,
    /// Of those, the ones that recorded no change, so no before-image (`--no-refresh`).
    pub applied_blind: u64,
    /// Rollback items that restored a task (a failed wave's).
    pub rolled_back: u64,
    /// How it ended (`None`: no end record, a crash or a run still going).
    pub outcome: Option<String>,
}

impl RunSummary {
    fn new(run_id: &str) -> RunSummary {
        RunSummary {
            run_id: run_id.to_string(),
            ..RunSummary::default()
        }
    }

    /// Recorded with `--no-refresh`: it applied items and none of them recorded what it changed.
    pub fn is_blind(&self) -> bool {
        self.applied > 0 && self.applied_blind == self.applied
    }
}

/// Whether an item record says its change is in effect: sent and accepted, or (a saved plan's
/// item) found already in its planned end state — after a crash between a call and its record,
/// that record is the only one of the change. A rollback item restores, it applies nothing.
pub fn applied(item: &ItemResult) -> bool {
    !item.rollback
        && matches!(
            item.status,
            ItemStatus::Succeeded | ItemStatus::AlreadyApplied
        )
}

/// A rollback item that put its task's before-image back.
pub fn restored(item: &ItemResult) -> bool {
    item.rollback && item.status == ItemStatus::Succeeded
}

/// A journal's runs, in the order they first appear, and how much of it could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalIndex {
    pub runs: Vec<RunSummary>,
    /// Lines read (blank ones included).
    pub lines: usize,
    /// Lines that did not parse, or were longer than any record ([`MAX_LINE`]).
    pub unreadable: usize,
    /// The first of them (line numbers), up to [`SHOWN_UNREADABLE`].
    pub unreadable_at: Vec<usize>,
    /// The last line was one of them: a record torn by a crash as it was written.
    pub torn_tail: bool,
}

/// How many unreadable line numbers are kept to be named.
pub const SHOWN_UNREADABLE: usize = 5;

impl JournalIndex {
    fn run(&mut self, by_id: &mut HashMap<String, usize>, run_id: &str) -> &mut RunSummary {
        let i = *by_id.entry(run_id.to_string()).or_insert_with(|| {
            self.runs.push(RunSummary::new(run_id));
            self.runs.len() - 1
        });
        &mut self.runs[i]
    }

    fn record(&mut self, by_id: &mut HashMap<String, usize>, record: Record) {
        match record {
            Record::Run(h) => {
                let r = self.run(by_id, &h.run_id);
                r.started_at = Some(h.started_at);
                r.manifests = h.manifests;
            }
            Record::Item(ItemRecord { run_id, item, .. }) => {
                let r = self.run(by_id, &run_id);
                r.items += 1;
                if applied(&item) {
                    r.applied += 1;
                    r.applied_blind += u64::from(item.changes.is_empty());
                } else if restored(&item) {
                    r.rolled_back += 1;
                }
            }
            Record::Rollout(ro) => {
                self.run(by_id, &ro.run_id).rollout_id = Some(ro.rollout_id);
            }
            Record::End(e) => self.run(by_id, &e.run_id).outcome = Some(e.outcome),
            Record::Step(_) | Record::Wave(_) => {}
        }
    }

    fn unreadable_line(&mut self, n: usize) {
        self.unreadable += 1;
        if self.unreadable_at.len() < SHOWN_UNREADABLE {
            self.unreadable_at.push(n);
        }
    }

    /// Every run, one a line, oldest first: what an operator picks `--run` from.
    pub fn listing(&self) -> String {
        const SHOWN: usize = 20;
        let mut out = String::from("runs in the journal, oldest first:");
        let skip = self.runs.len().saturating_sub(SHOWN);
        if skip > 0 {
            out.push_str(&format!("\n  … {skip} earlier run(s)"));
        }
        for r in &self.runs[skip..] {
            out.push_str("\n  ");
            out.push_str(&describe(r));
        }
        out
    }

    /// Where the unreadable lines are, for a note: "line 57 (the last: a record torn by a crash)".
    pub fn unreadable_text(&self) -> String {
        let mut at: Vec<String> = self.unreadable_at.iter().map(|n| n.to_string()).collect();
        if self.unreadable > at.len() {
            at.push("…".into());
        }
        let lines = if self.unreadable == 1 {
            "line"
        } else {
            "lines"
        };
        let tail = if self.torn_tail {
            " (the last one torn, as a crash leaves it)"
        } else {
            ""
        };
        format!("{} {lines} {}{tail}", self.unreadable, at.join(", "))
    }
}

/// One run, on one line: its id, start, counts, rollout and how it ended.
pub fn describe(r: &RunSummary) -> String {
    let mut s = format!(
        "{}  started {}  {} item(s), {} applied",
        escape(&r.run_id),
        r.started_at
            .as_deref()
            .map_or_else(|| "(header unreadable)".into(), escape),
        r.items,
        r.applied
    );
    if r.rolled_back > 0 {
        s.push_str(&format!(", {} rolled back", r.rolled_back));
    }
    if r.is_blind() {
        s.push_str(", --no-refresh (no before-images)");
    }
    if let Some(ro) = &r.rollout_id {
        if *ro == r.run_id {
            s.push_str(", rollout in waves");
        } else {
            s.push_str(&format!(", resumes rollout {}", escape(ro)));
        }
    }
    match &r.outcome {
        Some(o) => s.push_str(&format!(", {}", escape(o))),
        None => s.push_str(", no end recorded"),
    }
    s
}

/// Reads every line of a journal into its [`JournalIndex`]. `path` names it in errors; `head`
/// gives the file's first bytes when its first line is not a record, to say what it is instead.
pub fn index<R: BufRead>(
    lines: &mut BoundedLines<R>,
    path: &Path,
    head: impl FnOnce() -> Vec<u8>,
) -> Result<JournalIndex, RevertError> {
    let mut ix = JournalIndex::default();
    let mut by_id = HashMap::new();
    let mut seen_content = false;
    let mut parsed_any = false;
    let io = |source| RevertError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    };
    while let Some((n, line)) = lines.next_line().map_err(io)? {
        ix.lines = n;
        let line = match line {
            Line::Whole(l) if l.iter().all(u8::is_ascii_whitespace) => continue,
            Line::Whole(l) => l,
            Line::TooLong(len) => {
                if !parsed_any {
                    return Err(not_a_journal(
                        path,
                        &head(),
                        format!("its line {n} is {len} bytes long, longer than any record"),
                    ));
                }
                seen_content = true;
                ix.unreadable_line(n);
                ix.torn_tail = true;
                continue;
            }
        };
        seen_content = true;
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => {
                ix.record(&mut by_id, r);
                parsed_any = true;
                ix.torn_tail = false;
            }
            // Before any record: a file passed by mistake. (A pretty-printed JSON file's first
            // line, `{`, is shaped like a torn record; its second is not.)
            Err(_) if !parsed_any && !record_shaped(line) => {
                return Err(not_a_journal(
                    path,
                    &head(),
                    format!("its line {n} is not a journal record"),
                ));
            }
            Err(_) => {
                ix.unreadable_line(n);
                ix.torn_tail = true;
            }
        }
    }
    if !seen_content {
        return Err(RevertError::Empty {
            path: path.to_path_buf(),
        });
    }
    if ix.runs.is_empty() {
        return Err(RevertError::NoRun {
            path: path.to_path_buf(),
            unreadable: ix.unreadable,
        });
    }
    Ok(ix)
}

/// A record, whole or torn: starts as every record does, or is a fragment of that start.
fn record_shaped(line: &[u8]) -> bool {
    line.starts_with(RECORD_START) || RECORD_START.starts_with(line)
}

/// The error for a file that is not a journal, saying what it looks like (from its first bytes)
/// and, when `path` is a manifest whose default journal exists, naming that journal.
fn not_a_journal(path: &Path, head: &[u8], fallback: String) -> RevertError {
    let looks_like = looks_like(head).map_or(fallback, |what| format!("it looks like {what}"));
    let journal = crate::apply::journal::default_path(path);
    let hint = if journal.is_file() {
        format!("; did you mean {}?", journal.display())
    } else {
        String::new()
    };
    RevertError::NotAJournal {
        path: path.to_path_buf(),
        looks_like,
        hint,
    }
}

/// What a file that is not a journal is, from its first bytes, when it is one of livebatch's own.
pub fn looks_like(head: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(head);
    let has = |s: &str| text.contains(s);
    Some(if has(crate::plan::file::PLAN_SCHEMA) {
        "a saved plan (`livebatch plan --out`)"
    } else if has("livebatch.report/") {
        "a JSON run report (`apply --report`)"
    } else if has("<testsuites") {
        "a JUnit run report (`apply --report`)"
    } else if has("livebatch-emulator-state") {
        "an emulator state file (`livebatch emulator --state`)"
    } else if has("TaskId") || has("updates:") || has("\"updates\"") || has("defaults:") {
        "a manifest"
    } else {
        return None;
    })
}

/// Which run(s) to revert: their positions in [`JournalIndex::runs`], oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub runs: Vec<usize>,
    /// The rollout they are (all the runs of), when the run chosen belongs to one.
    pub rollout: Option<String>,
    /// How they were chosen, for the terminal: "the journal's last run that applied something".
    pub why: String,
    /// Earlier runs, not chosen, that also applied something (a `--run` away).
    pub others_applied: usize,
}

/// Chooses the run(s) to revert: `wanted` by its id (that run alone), else the journal's last run
/// that applied something, with every run of its rollout when it belongs to one. A chosen run
/// made with `--no-refresh` (it applied items and recorded no before-image) is refused.
pub fn choose(ix: &JournalIndex, path: &Path, wanted: Option<&str>) -> Result<Choice, RevertError> {
    let (runs, rollout, why) = match wanted {
        Some(id) => {
            let Some(i) = ix.runs.iter().position(|r| r.run_id == id) else {
                return Err(RevertError::UnknownRun {
                    path: path.to_path_buf(),
                    run: escape(id).into_owned(),
                    runs: ix.listing(),
                });
            };
            let r = &ix.runs[i];
            if r.applied == 0 {
                return Err(RevertError::NothingApplied {
                    what: format!("run {} applied nothing ({})", escape(id), describe(r)),
                    runs: ix.listing(),
                });
            }
            (vec![i], None, "--run".to_string())
        }
        None => {
            let Some(last) = ix.runs.iter().rposition(|r| r.applied > 0) else {
                return Err(RevertError::NothingApplied {
                    what: format!("no run in journal {} applied anything", path.display()),
                    runs: ix.listing(),
                });
            };
            match &ix.runs[last].rollout_id {
                Some(ro) => {
                    let runs: Vec<usize> = (0..ix.runs.len())
                        .filter(|&i| ix.runs[i].rollout_id.as_deref() == Some(ro))
                        .collect();
                    let why = format!(
                        "the journal's last run that applied something, with every run of its \
                         rollout {} ({} run(s))",
                        escape(ro),
                        runs.len()
                    );
                    (runs, Some(ro.clone()), why)
                }
                None => (
                    vec![last],
                    None,
                    "the journal's last run that applied something".to_string(),
                ),
            }
        }
    };
    if let Some(blind) = runs.iter().map(|&i| &ix.runs[i]).find(|r| r.is_blind()) {
        return Err(RevertError::NoRefresh {
            run: escape(&blind.run_id).into_owned(),
        });
    }
    let others_applied = (0..ix.runs.len())
        .filter(|i| !runs.contains(i) && ix.runs[*i].applied > 0)
        .count();
    Ok(Choice {
        runs,
        rollout,
        why,
        others_applied,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::apply::journal::{RolloutRecord, RunEnd, RunHeader};
    use crate::apply::journal_lines::MAX_LINE;
    use crate::outcome::Change;

    pub(crate) fn header(run: &str) -> Record {
        Record::Run(RunHeader {
            run_id: run.into(),
            tool: "livebatch".into(),
            version: "0".into(),
            started_at: format!("start-of-{run}"),
            manifests: vec!["m.yaml".into()],
        })
    }

    pub(crate) fn item(
        run: &str,
        task: &str,
        status: ItemStatus,
        changes: &[(&str, &str, &str)],
    ) -> Record {
        let mut item = ItemResult::pending(task.into(), "m.yaml:1".into(), "h".into());
        item.status = status;
        item.region = Some("cn-shanghai".into());
        item.changes = changes
            .iter()
            .map(|(f, o, n)| Change {
                field: f.to_string(),
                old: o.to_string(),
                new: n.to_string(),
            })
            .collect();
        Record::Item(ItemRecord {
            run_id: run.into(),
            item,
            at: "t".into(),
        })
    }

    pub(crate) fn rollout(run: &str, rollout_id: &str) -> Record {
        Record::Rollout(RolloutRecord {
            run_id: run.into(),
            rollout_id: rollout_id.into(),
            spec: "1,100%".into(),
            ends: vec![1, 2],
            sizes: vec![1, 1],
            items: 2,
            tasks_digest: "d".into(),
            bake_ms: 0,
            max_unhealthy: "0".into(),
            on_unhealthy: "rollback".into(),
        })
    }

    pub(crate) fn text(records: &[Record]) -> String {
        records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect()
    }

    fn ix(text: &str) -> Result<JournalIndex, RevertError> {
        let mut lines = BoundedLines::new(text.as_bytes(), MAX_LINE);
        index(&mut lines, Path::new("j.jsonl"), || {
            text.as_bytes().to_vec()
        })
    }

    const CB: (&str, &str, &str) = ("CallbackUrl", "https://a/old", "https://a/new");

    #[test]
    fn the_default_is_the_last_run_that_applied_something() {
        use ItemStatus::*;
        let j = text(&[
            header("r1"),
            item("r1", "t1", Succeeded, &[CB]),
            header("r2"),
            item("r2", "t2", Succeeded, &[CB]),
            item("r2", "t3", Failed, &[CB]),
            header("r3"),
            item("r3", "t2", Skipped, &[]),
            Record::End(RunEnd {
                run_id: "r3".into(),
                outcome: "completed".into(),
                finished_at: "x".into(),
            }),
        ]);
        let ix = ix(&j).unwrap();
        assert_eq!(ix.runs.len(), 3);
        let c = choose(&ix, Path::new("j.jsonl"), None).unwrap();
        assert_eq!(c.runs, [1]);
        assert_eq!(c.others_applied, 1, "r1 also applied something");
        assert!(c.why.contains("last run that applied"), "{}", c.why);
        let c = choose(&ix, Path::new("j.jsonl"), Some("r1")).unwrap();
        assert_eq!(c.runs, [0]);
        let e = choose(&ix, Path::new("j.jsonl"), Some("r3")).unwrap_err();
        assert!(e.to_string().contains("run r3 applied nothing"), "{e}");
        let e = choose(&ix, Path::new("j.jsonl"), Some("nope")).unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::USAGE);
        let msg = e.to_string();
        assert!(msg.contains("has no run nope"), "{msg}");
        for r in [
            "r1  started start-of-r1  1 item(s), 1 applied, no end recorded",
            "r3  started start-of-r3  1 item(s), 0 applied, completed",
        ] {
            assert!(msg.contains(r), "{msg}");
        }
    }

    #[test]
    fn a_run_of_a_rollout_brings_every_run_of_it() {
        use ItemStatus::*;
        let j = text(&[
            header("r1"),
            item("r1", "t0", Succeeded, &[CB]),
            header("r2"),
            rollout("r2", "r2"),
            item("r2", "t1", Succeeded, &[CB]),
            header("r3"),
            item("r3", "t9", Succeeded, &[CB]),
            header("r4"),
            rollout("r4", "r2"),
            item("r4", "t2", Succeeded, &[CB]),
        ]);
        let ix = ix(&j).unwrap();
        let c = choose(&ix, Path::new("j.jsonl"), None).unwrap();
        assert_eq!(c.runs, [1, 3]);
        assert_eq!(c.rollout.as_deref(), Some("r2"));
        assert_eq!(c.others_applied, 2);
        // --run picks one run, rollout or not.
        assert_eq!(
            choose(&ix, Path::new("j.jsonl"), Some("r4")).unwrap().runs,
            [3]
        );
        assert!(
            ix.listing()
                .contains("r4  started start-of-r4  1 item(s), 1 applied, resumes rollout r2")
        );
    }

    #[test]
    fn a_no_refresh_run_is_refused_and_nothing_applied_is_said() {
        use ItemStatus::*;
        let j = text(&[header("r1"), item("r1", "t1", Succeeded, &[])]);
        let e = choose(&ix(&j).unwrap(), Path::new("j.jsonl"), None).unwrap_err();
        assert_eq!(
            e.to_string().lines().next().unwrap(),
            "run r1 was made with --no-refresh: it recorded no before-images (the live values it \
             replaced were never read); nothing to revert. Restore the old values with a manifest \
             of your own, or from an export taken before the run"
        );
        assert_eq!(e.exit_code(), crate::exit::FAILURE);
        let j = text(&[header("r1"), item("r1", "t1", Failed, &[CB])]);
        let e = choose(&ix(&j).unwrap(), Path::new("j.jsonl"), None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("no run in journal j.jsonl applied anything; nothing to revert"),
            "{e}"
        );
    }

    #[test]
    fn torn_lines_are_counted_and_what_is_intact_is_read() {
        use ItemStatus::*;
        let mut j = text(&[header("r1"), item("r1", "t1", Succeeded, &[CB])]);
        let torn = text(&[item("r1", "t2", Succeeded, &[CB])]);
        j.push_str(&torn[..torn.len() / 2]);
        let ix = ix(&j).unwrap();
        assert_eq!((ix.unreadable, ix.torn_tail), (1, true));
        assert_eq!(ix.runs[0].applied, 1);
        assert_eq!(
            ix.unreadable_text(),
            "1 line 3 (the last one torn, as a crash leaves it)"
        );
        // Only a torn header: no run.
        let h = text(&[header("r1")]);
        let e = self::ix(&h[..20]).unwrap_err();
        assert!(matches!(e, RevertError::NoRun { unreadable: 1, .. }), "{e}");
        // Even a torn header shorter than the record's start.
        assert!(matches!(
            self::ix("{\"ty").unwrap_err(),
            RevertError::NoRun { .. }
        ));
        assert!(matches!(
            self::ix("\n\n").unwrap_err(),
            RevertError::Empty { .. }
        ));
        assert!(matches!(
            self::ix("").unwrap_err(),
            RevertError::Empty { .. }
        ));
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_named_for_what_it_is() {
        let cases = [
            ("updates:\n  - TaskId: t1\n", "it looks like a manifest"),
            (
                "TaskId,Region\nt1,cn-shanghai\n",
                "it looks like a manifest",
            ),
            (
                "{\n  \"schema\": \"livebatch.plan/v1\",\n",
                "it looks like a saved plan",
            ),
            (
                "{\n  \"schema\": \"livebatch.report/v1\"\n}",
                "it looks like a JSON run report",
            ),
            ("hello\n", "its line 1 is not a journal record"),
        ];
        for (text, says) in cases {
            let e = ix(text).unwrap_err();
            assert_eq!(e.exit_code(), crate::exit::INVALID_MANIFEST);
            let m = e.to_string();
            assert!(
                m.starts_with(&format!("j.jsonl is not a livebatch journal: {says}")),
                "{m}"
            );
            assert!(m.contains("<manifest>.journal.jsonl"), "{m}");
        }
        // Blank lines first do not hide it.
        assert!(matches!(
            ix("\n\nupdates:\n").unwrap_err(),
            RevertError::NotAJournal { .. }
        ));
    }

    #[test]
    fn a_huge_first_line_is_refused_unread() {
        let text = "x".repeat(100);
        let mut lines = BoundedLines::new(text.as_bytes(), 10);
        let e = index(&mut lines, Path::new("big"), Vec::new).unwrap_err();
        assert!(
            e.to_string().contains("its line 1 is 100 bytes long"),
            "{e}"
        );
    }
}
