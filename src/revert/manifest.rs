//! The revert as a manifest: the YAML `validate`, `plan` and `apply` read (`updates:`, one mapping
//! per task with manifest field names), written by `export`'s writer, under a comment saying what
//! it reverts and how to review and apply it.

use serde::Serialize;
use serde::ser::SerializeMap;

use super::RevertError;
use crate::model::{ApiTime, Field, Role, Update, Value};
use crate::text::escape;

/// One update as a manifest record: every field it sets, in the field table's order (`TaskId`,
/// `Region`, then the changes), `SourceUrls` as a list. Driven by the table, so a new field needs
/// nothing here.
struct Row<'a>(&'a Update);

impl Serialize for Row<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields: Vec<(Field, Value<'_>)> = Field::ALL
            .into_iter()
            .filter(|f| f.role() != Role::Routing)
            .filter_map(|f| self.0.get(f).map(|v| (f, v)))
            .collect();
        let mut m = s.serialize_map(Some(fields.len()))?;
        for (f, v) in fields {
            match v {
                Value::Urls(urls) => m.serialize_entry(f.name(), urls.as_ref())?,
                Value::Int(n) => m.serialize_entry(f.name(), &n)?,
                v => m.serialize_entry(f.name(), &v.wire())?,
            }
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Doc<'a> {
    updates: Vec<Row<'a>>,
}

/// One run reverted, for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    pub run_id: String,
    pub started_at: Option<String>,
}

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The journal, as named on the command line.
    pub journal: String,
    pub runs: Vec<RunRef>,
    /// The rollout the runs are, when they are one.
    pub rollout: Option<String>,
    pub written_at: ApiTime,
    pub tasks: usize,
    pub moved_left_out: usize,
    pub moved_included: usize,
    pub unrestorable: usize,
    pub rolled_back: usize,
    /// The manifest's own path for the commands shown (`None`: standard output, shown as FILE).
    pub file: Option<String>,
    /// Some update needs a running task stopped, updated and restarted.
    pub restart_running: bool,
}

impl Header {
    /// The comment block, one line each, text from the journal escaped (a run ID or a path with a
    /// newline cannot end the comment and become YAML).
    pub fn text(&self) -> String {
        let run = |r: &RunRef| {
            format!(
                "{} (started {})",
                escape(&r.run_id),
                r.started_at
                    .as_deref()
                    .map_or_else(|| "at an unknown time".into(), escape)
            )
        };
        let what = match (&self.rollout, self.runs.as_slice()) {
            (None, [one]) => format!("run {}", run(one)),
            (rollout, runs) => format!(
                "{} {}",
                rollout.as_deref().map_or_else(
                    || "runs".to_string(),
                    |r| format!("rollout {}: runs", escape(r))
                ),
                runs.iter().map(run).collect::<Vec<_>>().join(", ")
            ),
        };
        let mut counts = vec![format!("{} task(s)", self.tasks)];
        if self.moved_left_out > 0 {
            counts.push(format!(
                "{} moved since the run and left out",
                self.moved_left_out
            ));
        }
        if self.moved_included > 0 {
            counts.push(format!(
                "{} moved since the run and restored anyway (--include-moved)",
                self.moved_included
            ));
        }
        if self.unrestorable > 0 {
            counts.push(format!("{} value(s) not restorable", self.unrestorable));
        }
        if self.rolled_back > 0 {
            counts.push(format!(
                "{} already rolled back by their wave",
                self.rolled_back
            ));
        }
        let file = self.file.as_deref().map_or_else(|| "FILE".into(), escape);
        let restart = if self.restart_running {
            "--restart-running "
        } else {
            ""
        };
        format!(
            "Reverts {what} of journal {journal}.\n\
             Each task gets back the values the run changed, as they were before it (TaskId, \
             Region and those fields only).\n\
             Written by livebatch {version} at {at}: {counts}.\n\
             Review:  livebatch plan {restart}{file}\n\
             Apply:   livebatch apply {restart}{file}   (--waves 10,50%,100% stages it: a \
             canary first)",
            journal = escape(&self.journal),
            version = env!("CARGO_PKG_VERSION"),
            at = self.written_at,
            counts = counts.join("; "),
        )
    }
}

/// The manifest: the header as a comment, then `updates:`.
pub fn render(updates: &[Update], header: &Header) -> Result<String, RevertError> {
    let doc = Doc {
        updates: updates.iter().map(Row).collect(),
    };
    crate::export::to_yaml(&doc, Some(&header.text()))
        .map_err(|e| RevertError::Render(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Region;

    fn header() -> Header {
        Header {
            journal: "m.yaml.journal.jsonl".into(),
            runs: vec![RunRef {
                run_id: "r1\nupdates: []".into(),
                started_at: Some("2030-01-01T00:00:00.000Z".into()),
            }],
            rollout: None,
            written_at: ApiTime::parse("2030-01-02T00:00:00Z").unwrap(),
            tasks: 1,
            moved_left_out: 2,
            moved_included: 0,
            unrestorable: 1,
            rolled_back: 0,
            file: Some("undo.yaml".into()),
            restart_running: true,
        }
    }

    #[test]
    fn the_manifest_reads_back_as_the_updates_it_was_made_from() {
        let mut u = Update::new("t1", Region::CnBeijing);
        u.callback_url = Some("https://h/old?a=1&b=#x".into());
        u.source_urls = Some(vec![
            "https://m/a.mp4".into(),
            "https://m/b.mp4?at=1:2".into(),
        ]);
        u.repeat_number = Some(-1);
        u.end_time = Some(ApiTime::parse("2030-01-05T00:00:00Z").unwrap());
        let text = render(std::slice::from_ref(&u), &header()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("undo.yaml");
        std::fs::write(&path, &text).unwrap();
        let now = ApiTime::parse("2030-01-02T00:00:00Z").unwrap();
        let batch = crate::validate::load_batch(&[crate::manifest::Input::path(&path)], now);
        assert!(!batch.has_errors(), "{:?}\n{text}", batch.diagnostics);
        let read: Vec<&Update> = batch.entries.iter().map(|e| &e.update).collect();
        assert_eq!(read, [&u], "{text}");
        // The run ID's newline stays inside the comment.
        assert!(
            text.contains("# Reverts run r1\\nupdates: [] (started"),
            "{text}"
        );
        assert!(
            text.contains("# Apply:   livebatch apply --restart-running undo.yaml"),
            "{text}"
        );
    }
}
