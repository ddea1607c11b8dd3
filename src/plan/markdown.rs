//! A plan as a pull-request comment (`plan --format markdown`), also fit for
//! `$GITHUB_STEP_SUMMARY`.
//!
//! CI posts one comment per pull request and updates it in place, so the first line is a hidden
//! marker it can find the comment by. A comment holds at most 65,536 characters and a plan can
//! hold a million items, so the output is built against a budget (`max_chars`): the header always,
//! then the items of each class while they fit, cut between items with "… and N more". The
//! budget is kept by construction (room for every section's closing lines is reserved before any
//! item is placed), never by trimming the text afterwards, so no table row is ever cut in half.
//!
//! Everything shown comes from the plan's own types ([`PlanItem`], [`Decision`],
//! [`FieldChange`]); text that came from a manifest or the server is escaped so it can neither
//! break a table nor turn into markup, links or @mentions.

use std::fmt::Write;
use std::time::Duration;

use crate::api::operation::Operation;
use crate::model::{Field, TaskStatus};
use crate::plan::diff::{Decision, FieldChange, Step};
use crate::plan::file::{ManifestRef, PlanItem, format_duration};
use crate::plan::render::Summary;

/// The default budget: under GitHub's 65,536-character comment limit with room to spare for
/// whatever CI adds around the plan.
pub const DEFAULT_MAX_CHARS: usize = 60_000;

/// What the Markdown plan shows besides the items.
#[derive(Debug, Clone)]
pub struct MarkdownOptions<'a> {
    /// The marker's key: `<!-- livebatch plan: KEY -->`. One comment per key, so several plans
    /// on one pull request (one per environment) each keep their own.
    pub marker: &'a str,
    /// The most characters the whole output may hold.
    pub max_chars: usize,
    /// The account's quota per operation, in calls/s (shown).
    pub quota: f64,
    /// The pace a run would keep per operation, in calls/s (the estimate's divisor).
    pub pace: f64,
    /// The manifests planned, with their SHA-256.
    pub manifests: &'a [ManifestRef],
    /// The saved plan (`plan --out`): its path and the SHA-256 of its bytes.
    pub saved: Option<(&'a str, &'a str)>,
    /// The exact command that applies what is shown.
    pub apply_command: &'a str,
}

/// Why a Markdown plan could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkdownError {
    #[error(
        "--max-chars {max_chars} is too small: the plan's header alone needs {needed} characters \
         (give at least {needed}; the default is {DEFAULT_MAX_CHARS})"
    )]
    TooSmall { max_chars: usize, needed: usize },
    #[error(
        "the comment marker {marker:?} may hold only letters, digits, '.', '_' and '-' (it goes \
         inside an HTML comment)"
    )]
    BadMarker { marker: String },
}

/// Whether `key` can go inside the marker comment unchanged.
pub fn valid_marker(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The marker line CI finds its comment by.
pub fn marker_line(key: &str) -> String {
    format!("<!-- livebatch plan: {key} -->")
}

/// The plan as Markdown, at most `opts.max_chars` characters.
pub fn markdown(items: &[PlanItem], opts: &MarkdownOptions<'_>) -> Result<String, MarkdownError> {
    if !valid_marker(opts.marker) {
        return Err(MarkdownError::BadMarker {
            marker: opts.marker.to_string(),
        });
    }
    let summary = Summary::of(items);
    let mut out = if summary.differs() {
        header(items, &summary, opts)
    } else {
        // Nothing to review: one line, still marked, so CI replaces an earlier plan's comment.
        format!(
            "{} livebatch plan: nothing to change, all {} task(s) already match the manifests.\n",
            marker_line(opts.marker),
            summary.no_op
        )
    };
    let sections: Vec<Section> = if summary.differs() {
        SECTIONS
            .iter()
            .map(|kind| Section::new(*kind, items))
            .filter(|s| !s.items.is_empty())
            .collect()
    } else {
        Vec::new()
    };
    let reserved: usize = sections.iter().map(Section::minimal_len).sum();
    let needed = chars(&out) + reserved;
    if needed > opts.max_chars {
        return Err(MarkdownError::TooSmall {
            max_chars: opts.max_chars,
            needed,
        });
    }
    // Room left for table heads and rows once every section's frame and its "… and N more"
    // line are paid for. A row goes in only if it fits whole. When every row fits without the
    // "more" lines, none is needed: their reserve is room for rows too.
    let more_lines: usize = sections.iter().map(Section::more_len).sum();
    let mut room = opts.max_chars - needed;
    if fits_whole(&sections, room + more_lines) {
        room = usize::MAX;
    }
    for s in &sections {
        s.render(&mut out, &mut room);
    }
    Ok(out)
}

/// Whether every section's table fits in `room` characters; stops counting as soon as it
/// does not, so a plan of a million items costs only as many rows as the budget holds.
fn fits_whole(sections: &[Section<'_>], room: usize) -> bool {
    let mut used = 0usize;
    for s in sections {
        used += chars(s.kind.table_head()) + 1;
        for item in &s.items {
            if used > room {
                return false;
            }
            used += chars(&row(item));
        }
    }
    used <= room
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The part always shown: what the plan does, what it was made from, how to apply it.
fn header(items: &[PlanItem], s: &Summary, opts: &MarkdownOptions<'_>) -> String {
    let mut h = String::new();
    let _ = writeln!(h, "{}", marker_line(opts.marker));
    let _ = writeln!(
        h,
        "### livebatch plan: {} to change · {} blocked · {} missing · {} up to date\n",
        s.change, s.blocked, s.missing, s.no_op
    );
    let calls = Calls::of(items);
    let restarted = items.iter().filter(|i| stops_a_running_stream(i)).count();
    if restarted > 0 {
        let _ = writeln!(
            h,
            "⚠️ **{restarted} running stream(s) will be stopped and restarted** \
             (stop → update → restart): each is off air between its stop and its restart.\n"
        );
    } else {
        let _ = writeln!(h, "No running stream is stopped.\n");
    }
    let _ = writeln!(
        h,
        "**Estimated duration:** {} at {} calls/s per operation ({}).\n",
        calls.duration_text(opts.pace),
        trim_float(opts.quota),
        calls.text()
    );
    let _ = writeln!(h, "| manifest | SHA-256 |\n|---|---|");
    for m in opts.manifests {
        let _ = writeln!(h, "| {} | <code>{}</code> |", code(&m.path), m.sha256);
    }
    if let Some((path, sha)) = opts.saved {
        let _ = writeln!(h, "| saved plan {} | <code>{sha}</code> |", code(path));
    }
    let _ = writeln!(
        h,
        "\nApply {}:\n\n```sh\n{}\n```\n",
        if opts.saved.is_some() {
            "exactly this plan"
        } else {
            "(plans again against live state first)"
        },
        opts.apply_command
    );
    h
}

/// A change that stops a task the plan saw running (abnormally running counts: it may be on
/// air).
fn stops_a_running_stream(item: &PlanItem) -> bool {
    let running = matches!(
        item.live
            .as_ref()
            .and_then(|l| TaskStatus::from_code(l.task_status)),
        Some(TaskStatus::Running | TaskStatus::RunningAbnormal)
    );
    running
        && matches!(&item.decision, Decision::Change { steps, .. } if steps.contains(&Step::Stop))
}

/// The calls a run of the plan makes per operation (each paced on its own): a saved-plan item
/// re-reads its task before it sends, then stops, updates and restarts as planned.
#[derive(Debug, Default)]
struct Calls {
    per_op: Vec<(Operation, usize)>,
}

impl Calls {
    fn of(items: &[PlanItem]) -> Calls {
        let mut n = [0usize; Operation::ALL.len()];
        for i in items {
            if let Decision::Change { steps, .. } = &i.decision {
                n[Operation::Describe.index()] += 1;
                for s in steps {
                    let op = match s {
                        Step::Stop => Operation::Stop,
                        Step::Update => Operation::Update,
                        Step::Restart => Operation::Restart,
                    };
                    n[op.index()] += 1;
                }
            }
        }
        Calls {
            per_op: Operation::ALL
                .into_iter()
                .map(|op| (op, n[op.index()]))
                .filter(|(_, c)| *c > 0)
                .collect(),
        }
    }

    fn busiest(&self) -> usize {
        self.per_op.iter().map(|(_, c)| *c).max().unwrap_or(0)
    }

    /// The operations run side by side, each at its own pace, so the busiest one sets the time.
    fn duration_text(&self, pace: f64) -> String {
        let secs = if pace > 0.0 {
            (self.busiest() as f64 / pace).ceil() as u64
        } else {
            0
        };
        format!("about {}", format_duration(Duration::from_secs(secs)))
    }

    fn text(&self) -> String {
        if self.per_op.is_empty() {
            return "no calls".to_string();
        }
        self.per_op
            .iter()
            .map(|(op, c)| format!("{c} {op}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Change,
    Blocked,
    Missing,
    NoOp,
}

const SECTIONS: [Kind; 4] = [Kind::Change, Kind::Blocked, Kind::Missing, Kind::NoOp];

impl Kind {
    fn of(d: &Decision) -> Kind {
        match d {
            Decision::Change { .. } => Kind::Change,
            Decision::Blocked { .. } => Kind::Blocked,
            Decision::Missing => Kind::Missing,
            Decision::NoOp => Kind::NoOp,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Change => "To change",
            Kind::Blocked => "Blocked: cannot change now",
            Kind::Missing => "Missing: no such task",
            Kind::NoOp => "Already up to date",
        }
    }

    fn table_head(self) -> &'static str {
        match self {
            Kind::Change => {
                "| task | region | status | calls | field: old → new | manifest |\n|---|---|---|---|---|---|\n"
            }
            Kind::Blocked => {
                "| task | region | status | field: old → new | why | manifest |\n|---|---|---|---|---|---|\n"
            }
            Kind::Missing => "| task | region | manifest |\n|---|---|---|\n",
            Kind::NoOp => "| task | region | status | manifest |\n|---|---|---|---|\n",
        }
    }
}

/// One `<details>` block: its class's items in plan order.
struct Section<'a> {
    kind: Kind,
    items: Vec<&'a PlanItem>,
}

impl<'a> Section<'a> {
    fn new(kind: Kind, items: &'a [PlanItem]) -> Section<'a> {
        Section {
            kind,
            items: items
                .iter()
                .filter(|i| Kind::of(&i.decision) == kind)
                .collect(),
        }
    }

    fn open(&self) -> String {
        // Changes and blocked items are what a reviewer must read: open by default.
        let open = matches!(self.kind, Kind::Change | Kind::Blocked);
        format!(
            "<details{}><summary><b>{}</b> ({})</summary>\n\n",
            if open { " open" } else { "" },
            self.kind.title(),
            self.items.len()
        )
    }

    const CLOSE: &'static str = "</details>\n\n";

    fn more_line(n: usize) -> String {
        format!("… and {n} more (not shown: over --max-chars)\n\n")
    }

    /// The section with no row at all: what is reserved for it before any row is placed. The
    /// "more" line of `n` hidden items is never longer than that of all of them.
    fn minimal_len(&self) -> usize {
        chars(&self.open()) + self.more_len() + chars(Self::CLOSE)
    }

    fn more_len(&self) -> usize {
        chars(&Self::more_line(self.items.len()))
    }

    fn render(&self, out: &mut String, room: &mut usize) {
        out.push_str(&self.open());
        let head = self.kind.table_head();
        let mut shown = 0;
        for item in &self.items {
            let row = row(item);
            let cost = chars(&row) + if shown == 0 { chars(head) + 1 } else { 0 };
            if cost > *room {
                break;
            }
            *room -= cost;
            if shown == 0 {
                out.push_str(head);
            }
            out.push_str(&row);
            shown += 1;
        }
        if shown > 0 {
            // The blank line that ends the table.
            out.push('\n');
        }
        if shown < self.items.len() {
            out.push_str(&Self::more_line(self.items.len() - shown));
        }
        out.push_str(Self::CLOSE);
    }
}

/// One item as one table row (one line: a row never spans lines, so it is whole or absent).
fn row(item: &PlanItem) -> String {
    let status = item
        .live
        .as_ref()
        .and_then(|l| TaskStatus::from_code(l.task_status))
        .map(|s| s.to_string())
        .unwrap_or_else(|| "–".to_string());
    let id = code(&item.task_id);
    let region = item.region.to_string();
    let origin = code(&item.origin);
    match &item.decision {
        Decision::Change {
            changes,
            steps,
            held,
        } => {
            let calls = steps
                .iter()
                .map(|s| match s {
                    Step::Stop => "stop",
                    Step::Update => "update",
                    Step::Restart => "restart",
                })
                .collect::<Vec<_>>()
                .join(" → ");
            // `--partial`: what stays blocked, in the same cell, after what is sent.
            let held = held
                .as_ref()
                .map(|h| {
                    let why: Vec<String> = h
                        .reasons
                        .iter()
                        .map(|r| format!("<b>{}</b>: {}", r.field, text(&r.message)))
                        .collect();
                    format!(
                        "<br><i>blocked, not sent (--partial)</i>: {}<br>{}",
                        field_changes(&h.changes),
                        why.join("<br>")
                    )
                })
                .unwrap_or_default();
            format!(
                "| {id} | {region} | {status} | {calls} | {}{held} | {origin} |\n",
                field_changes(changes)
            )
        }
        Decision::Blocked {
            changes,
            reasons,
            hint,
        } => {
            let mut why: Vec<String> = reasons
                .iter()
                .map(|r| {
                    let code_text = if r.code.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", code(&r.code))
                    };
                    format!("<b>{}</b>: {}{code_text}", r.field, text(&r.message))
                })
                .collect();
            if let Some(h) = hint {
                why.push(format!("<i>hint</i>: {}", text(h)));
            }
            format!(
                "| {id} | {region} | {status} | {} | {} | {origin} |\n",
                field_changes(changes),
                why.join("<br>")
            )
        }
        Decision::Missing => format!("| {id} | {region} | {origin} |\n"),
        Decision::NoOp => format!("| {id} | {region} | {status} | {origin} |\n"),
    }
}

/// Field changes as `Field: old → new`, one per line of the cell; URL lists as numbered lists.
fn field_changes(changes: &[FieldChange]) -> String {
    if changes.is_empty() {
        return "–".to_string();
    }
    changes
        .iter()
        .map(|c| {
            let (old, new) = if c.field == Field::SourceUrls {
                (url_list(&c.old), url_list(&c.new))
            } else {
                (value(&c.old), value(&c.new))
            };
            format!("<b>{}</b>: {old} → {new}", c.field)
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn value(v: &str) -> String {
    if v.is_empty() {
        "<i>empty</i>".to_string()
    } else {
        code(v)
    }
}

/// `SourceUrls` (a JSON array on the wire) as an ordered list: the order is the sources' order.
fn url_list(v: &str) -> String {
    match serde_json::from_str::<Vec<String>>(v) {
        Ok(urls) if urls.is_empty() => "<i>none</i>".to_string(),
        Ok(urls) => {
            let mut s = String::from("<ol>");
            for u in &urls {
                let _ = write!(s, "<li>{}</li>", code(u));
            }
            s.push_str("</ol>");
            s
        }
        Err(_) => value(v),
    }
}

/// Text from a manifest or the server inside `<code>`, escaped.
fn code(s: &str) -> String {
    format!("<code>{}</code>", text(s))
}

/// Text from a manifest or the server, made inert in a Markdown table: control and invisible
/// characters shown as escapes ([`crate::text::escape`], which also keeps a row on one line),
/// then every character Markdown, HTML or GitHub could act on — a cell's `|`, tags, emphasis,
/// code spans, `@mentions`, `#123` references — as a numeric character reference, which renders
/// as the character itself.
fn text(s: &str) -> String {
    let shown = crate::text::escape(s);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        match c {
            '&' | '<' | '>' | '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '@'
            | '!' | '~' | '$' | '"' | '\'' | '{' | '}' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::{TaskInfo, TaskState};
    use crate::model::{Region, Update};
    use crate::plan::diff::Reason;

    fn item(id: &str, status: i32, decision: Decision) -> PlanItem {
        PlanItem {
            task_id: id.into(),
            region: Region::CnShanghai,
            origin: format!("m.yaml:{}", id.len() + 1),
            decision,
            update: Update::new(id, Region::CnShanghai),
            live: Some(TaskState {
                task_status: status,
                task_info: TaskInfo::default(),
                ..TaskState::default()
            }),
            fingerprint: None,
            live_region: None,
        }
    }

    fn change(field: Field, old: &str, new: &str, steps: &[Step]) -> Decision {
        Decision::Change {
            changes: vec![FieldChange {
                field,
                old: old.into(),
                new: new.into(),
            }],
            steps: steps.to_vec(),
            held: None,
        }
    }

    fn manifests() -> Vec<ManifestRef> {
        vec![ManifestRef {
            path: "manifests/migration.yaml".into(),
            sha256: "0f".repeat(32),
        }]
    }

    fn opts<'a>(m: &'a [ManifestRef], max_chars: usize) -> MarkdownOptions<'a> {
        MarkdownOptions {
            marker: "production",
            max_chars,
            quota: 10.0,
            pace: 9.7,
            manifests: m,
            saved: Some((
                "plan.json",
                "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12",
            )),
            apply_command: "livebatch apply --plan plan.json",
        }
    }

    fn small_plan() -> Vec<PlanItem> {
        vec![
            item(
                "news-1",
                1,
                change(
                    Field::SourceUrls,
                    r#"["rtmp://old.example/a","rtmp://old.example/b"]"#,
                    r#"["rtmp://new.example/a"]"#,
                    &[Step::Stop, Step::Update, Step::Restart],
                ),
            ),
            item(
                "news-2",
                0,
                Decision::Change {
                    changes: vec![
                        FieldChange {
                            field: Field::CallbackUrl,
                            old: "".into(),
                            new: "https://hooks.example/cb?a=1|b=*2*".into(),
                        },
                        FieldChange {
                            field: Field::RepeatNumber,
                            old: "0".into(),
                            new: "3".into(),
                        },
                    ],
                    steps: vec![Step::Update],
                    held: None,
                },
            ),
            item(
                "sport-<1>",
                1,
                Decision::Blocked {
                    changes: vec![FieldChange {
                        field: Field::StartTime,
                        old: "2027-01-01T00:00:00Z".into(),
                        new: "2027-02-01T00:00:00Z".into(),
                    }],
                    reasons: vec![Reason {
                        field: Field::StartTime,
                        code: "CodeTaskHasStarted".into(),
                        message: "StartTime cannot change once the task has started".into(),
                    }],
                    hint: Some("leave StartTime out of the manifest".into()),
                },
            ),
            item("gone-@team", 0, Decision::Missing),
            item("same", 1, Decision::NoOp),
        ]
    }

    #[test]
    fn a_small_plan_reads_as_a_pull_request_comment() {
        let m = manifests();
        let md = markdown(&small_plan(), &opts(&m, DEFAULT_MAX_CHARS)).unwrap();
        insta::assert_snapshot!(md);
    }

    #[test]
    fn the_marker_comes_first_and_nothing_to_change_is_one_line() {
        let m = manifests();
        let items = vec![
            item("same", 1, Decision::NoOp),
            item("x", 0, Decision::NoOp),
        ];
        let md = markdown(&items, &opts(&m, DEFAULT_MAX_CHARS)).unwrap();
        assert_eq!(
            md,
            "<!-- livebatch plan: production --> livebatch plan: nothing to change, all 2 \
             task(s) already match the manifests.\n"
        );
        let md = markdown(&small_plan(), &opts(&m, DEFAULT_MAX_CHARS)).unwrap();
        assert!(
            md.starts_with("<!-- livebatch plan: production -->\n"),
            "{md}"
        );
    }

    #[test]
    fn the_header_counts_restarts_and_the_calls_of_the_busiest_operation() {
        let m = manifests();
        let md = markdown(&small_plan(), &opts(&m, DEFAULT_MAX_CHARS)).unwrap();
        assert!(
            md.contains("2 to change · 1 blocked · 1 missing · 1 up to date"),
            "{md}"
        );
        // news-1 runs (status 1) and is stopped; news-2 is idle and only updated.
        assert!(
            md.contains("**1 running stream(s) will be stopped and restarted**"),
            "{md}"
        );
        assert!(md.contains("2 DescribeLivePullToPush"), "{md}");
        assert!(md.contains("2 UpdateLivePullToPush"), "{md}");
        assert!(
            md.contains("1 StopLivePullToPush, 1 RestartLivePullToPush"),
            "{md}"
        );
        assert!(md.contains("about 1s at 10 calls/s per operation"), "{md}");
        assert!(md.contains(&"0f".repeat(32)), "{md}");
        assert!(md.contains("ab12ab12"), "{md}");
        assert!(
            md.contains("```sh\nlivebatch apply --plan plan.json\n```"),
            "{md}"
        );
        // 10,000 updates at 9.7/s: 1031 s.
        let many: Vec<PlanItem> = (0..10_000)
            .map(|i| {
                item(
                    &format!("t{i}"),
                    0,
                    change(Field::RepeatNumber, "0", "1", &[Step::Update]),
                )
            })
            .collect();
        let md = markdown(&many, &opts(&m, DEFAULT_MAX_CHARS)).unwrap();
        assert!(md.contains("about 17m11s at 10 calls/s"), "{}", &md[..800]);
        assert!(
            md.contains("No running stream is stopped."),
            "{}",
            &md[..800]
        );
    }

    #[test]
    fn text_from_files_cannot_break_the_table_or_become_markup() {
        assert_eq!(text("a|b"), "a&#124;b");
        assert_eq!(text("<script>"), "&#60;script&#62;");
        assert_eq!(
            text("@team #12 *x* `y`"),
            "&#64;team &#35;12 &#42;x&#42; &#96;y&#96;"
        );
        assert_eq!(text("line\nbreak"), "line&#92;nbreak");
        let m = manifests();
        let md = markdown(&small_plan(), &opts(&m, DEFAULT_MAX_CHARS)).unwrap();
        for line in md.lines().filter(|l| l.starts_with("| ")) {
            let cells = line.matches('|').count();
            assert!(
                cells == 3 || cells == 4 || cells == 5 || cells == 7,
                "{line}"
            );
            assert!(!line.contains("<script"), "{line}");
        }
        assert!(!md.contains("@team"));
    }

    #[test]
    fn a_marker_that_could_end_the_comment_is_refused() {
        let m = manifests();
        let mut o = opts(&m, DEFAULT_MAX_CHARS);
        o.marker = "x --> <b>";
        assert!(matches!(
            markdown(&small_plan(), &o),
            Err(MarkdownError::BadMarker { .. })
        ));
    }

    #[test]
    fn too_small_a_budget_for_the_header_is_refused_with_what_it_needs() {
        let m = manifests();
        let err = markdown(&small_plan(), &opts(&m, 300)).unwrap_err();
        let MarkdownError::TooSmall { needed, .. } = err else {
            panic!("{err:?}")
        };
        assert!(needed > 300);
        // Exactly what it needs is enough: every section then shows its count only.
        let md = markdown(&small_plan(), &opts(&m, needed)).unwrap();
        assert_eq!(md.chars().count(), needed);
        assert!(md.contains("… and 2 more"), "{md}");
        assert!(!md.contains("| <code>news-1"), "{md}");
    }

    fn table_rows_are_whole(md: &str) {
        let mut in_table = false;
        for line in md.split_inclusive('\n') {
            if line.starts_with('|') {
                assert!(line.ends_with("|\n"), "cut row: {line:?}");
                in_table = true;
            } else if in_table {
                assert_eq!(line, "\n", "a table must end with a blank line");
                in_table = false;
            }
        }
        assert!(!in_table, "output ends inside a table");
    }

    #[test]
    fn any_batch_stays_within_the_budget_and_cuts_only_between_rows() {
        let m = manifests();
        let base = small_plan();
        for n in [0usize, 1, 2, 3, 7, 40, 333, 2_000] {
            let items: Vec<PlanItem> = (0..n)
                .map(|i| {
                    let mut it = base[i % base.len()].clone();
                    it.task_id = format!("{}-{i}", it.task_id);
                    it
                })
                .collect();
            let full = markdown(&items, &opts(&m, usize::MAX)).unwrap();
            let floor = match markdown(&items, &opts(&m, 0)) {
                Err(MarkdownError::TooSmall { needed, .. }) => needed,
                Ok(md) => panic!("a budget of 0 fits nothing: {md}"),
                Err(e) => panic!("{e}"),
            };
            let full_len = full.chars().count();
            for max in [
                floor,
                floor + 1,
                floor + 97,
                floor + 1_000,
                5_000,
                60_000,
                full_len,
                full_len + 5,
            ] {
                if max < floor {
                    continue;
                }
                let md = markdown(&items, &opts(&m, max)).unwrap();
                let len = md.chars().count();
                assert!(len <= max, "n={n} max={max}: {len} characters");
                table_rows_are_whole(&md);
                let items_part = md.split_once("<details").map_or("", |(_, rest)| rest);
                let shown = items_part
                    .lines()
                    .filter(|l| l.starts_with("| <code>"))
                    .count();
                let hidden: usize = md
                    .lines()
                    .filter_map(|l| l.strip_prefix("… and "))
                    .map(|l| l.split(' ').next().unwrap().parse::<usize>().unwrap())
                    .sum();
                assert_eq!(
                    shown + hidden,
                    n,
                    "n={n} max={max}: every item shown or counted"
                );
                if max >= full_len {
                    assert_eq!(md, full, "a budget that fits everything cuts nothing");
                }
            }
        }
    }
}
