//! Progress on standard error: a live bar for a person at a terminal, a plain line every few
//! seconds for logs and CI, nothing with `--quiet`.
//!
//! indicatif hides its bar when stderr is not a terminal but does not detect CI, and while hidden
//! its `println` prints nothing — so the choice of display is made here ([`choose_mode`], a pure
//! function of the flags and the environment), and the plain line is written directly.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What the executor reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub total: u64,
    /// Succeeded + failed + skipped.
    pub done: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Items waiting out a backoff before their next attempt.
    pub retrying: u64,
    /// The send rate in force (calls/s).
    pub rate: f64,
    pub elapsed: Duration,
    /// Items finished that were sent (succeeded, failed, stale, already applied): the divisor of
    /// calls per item.
    pub sent_done: u64,
    /// Calls of this run so far on its busiest operation, retries and staleness reads included.
    /// Each operation is paced on its own quota, so the pace shown against the quota and the
    /// calls an item costs in time are those of one operation, not the sum over all of them.
    pub calls: u64,
    /// Retries so far.
    pub retries: u64,
    /// Throttled answers so far.
    pub throttled: u64,
    /// The quota the pace is held under (calls/s of each operation).
    pub quota: f64,
    /// With `--waves`: the wave being sent and how many there are.
    pub wave: Option<(u32, u32)>,
}

impl Snapshot {
    /// Time left at the current rate: the items left times the calls an item has taken so far
    /// (retries and staleness reads included; one before any item finished).
    pub fn eta(&self) -> Option<Duration> {
        let left = self.total.saturating_sub(self.done);
        if self.rate <= 0.0 || !self.rate.is_finite() {
            return None;
        }
        let per_item = if self.sent_done > 0 {
            (self.calls as f64 / self.sent_done as f64).max(1.0)
        } else {
            1.0
        };
        Some(Duration::from_secs_f64(left as f64 * per_item / self.rate))
    }
}

/// Formats a duration as `1h02m03s`, `2m03s` or `3s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// The pace the service sees: calls per second over the last window of at least
/// [`PACE_WINDOW`] (before the first window closes, over the run so far, counting the gaps
/// after the first call: n calls sent from t = 0 took n − 1 of them).
/// Calls are whole: over a one-second window a steady 9.7 calls/s reads 9 or 11 calls per
/// ~1.05 s sample (seen: "10.3/10 calls/s" on a run that never exceeded the quota). Over five
/// seconds one call more or less moves the figure by 0.2.
pub const PACE_WINDOW: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct PaceMeter {
    window: Mutex<(Duration, u64, f64)>,
}

impl PaceMeter {
    pub fn observe(&self, s: &Snapshot) -> f64 {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let (t0, c0, pace) = *w;
        let dt = s.elapsed.saturating_sub(t0);
        if dt >= PACE_WINDOW {
            let p = s.calls.saturating_sub(c0) as f64 / dt.as_secs_f64();
            *w = (s.elapsed, s.calls, p);
            p
        } else if t0.is_zero() {
            s.calls.saturating_sub(1) as f64 / s.elapsed.as_secs_f64().max(1.0)
        } else {
            pace
        }
    }
}

/// The totals and the pace, in display order, each with its priority (lower: dropped last when
/// the line must be shortened).
fn totals(s: &Snapshot, pace: f64) -> Vec<(u8, String)> {
    let mut v = vec![
        (1, format!("ok {}", s.succeeded)),
        (1, format!("failed {}", s.failed)),
        (4, format!("retries {}", s.retries)),
        (5, format!("throttled {}", s.throttled)),
        (2, format!("{pace:.1}/{} calls/s", fmt_rate(s.quota))),
    ];
    if s.retrying > 0 {
        v.insert(2, (6, format!("retrying {}", s.retrying)));
    }
    v
}

fn eta_text(s: &Snapshot) -> String {
    s.eta()
        .map(human_duration)
        .unwrap_or_else(|| "?".to_string())
}

/// Every part of a progress line: the count, the totals and pace, the elapsed time, the ETA.
fn parts(s: &Snapshot, pace: f64) -> Vec<(u8, String)> {
    let mut v = vec![(0, format!("{}/{}", s.done, s.total))];
    if let Some((k, n)) = s.wave {
        v.push((0, format!("wave {k}/{n}")));
    }
    v.extend(totals(s, pace));
    v.push((3, human_duration(s.elapsed)));
    v.push((1, format!("ETA {}", eta_text(s))));
    v
}

fn fmt_rate(r: f64) -> String {
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// The progress text in at most `width` characters: the least important parts are left out
/// first (retrying, throttled, retries, elapsed), never the counts.
pub fn status(s: &Snapshot, pace: f64, width: usize) -> String {
    fit(parts(s, pace), width)
}

fn fit(mut v: Vec<(u8, String)>, width: usize) -> String {
    loop {
        let line = v
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join(" · ");
        if line.chars().count() <= width || v.len() <= 1 {
            return line;
        }
        let Some(worst) = v
            .iter()
            .enumerate()
            .max_by_key(|(i, (p, _))| (*p, *i))
            .map(|(i, _)| i)
        else {
            return line;
        };
        v.remove(worst);
    }
}

/// The counters part shared by the bar and the plain line.
pub fn counters(s: &Snapshot) -> String {
    status(
        s,
        s.calls as f64 / s.elapsed.as_secs_f64().ceil().max(1.0),
        usize::MAX,
    )
}

/// The plain progress line (logs, CI): every part, with the pace measured by `pace`.
pub fn plain_line_at(s: &Snapshot, pace: f64) -> String {
    format!("livebatch: {}", status(s, pace, usize::MAX))
}

/// The plain progress line (logs, CI), the pace over the run so far.
pub fn plain_line(s: &Snapshot) -> String {
    format!("livebatch: {}", counters(s))
}

/// The terminal width the bar is drawn for: 80 columns, the width every terminal has.
pub const BAR_COLUMNS: usize = 80;
/// Width of the bar itself.
const BAR_WIDTH: usize = 30;

/// The bar's two lines of text, each fitting [`BAR_COLUMNS`] with the bar before the first:
/// progress and time (`done/total · ETA · elapsed`), then the totals and the pace.
pub fn bar_lines(s: &Snapshot, pace: f64) -> (String, String) {
    let first = format!(
        "{}/{} · ETA {} · elapsed {}",
        s.done,
        s.total,
        eta_text(s),
        human_duration(s.elapsed)
    );
    let first: String = first.chars().take(BAR_COLUMNS - BAR_WIDTH - 2).collect();
    (first, fit(totals(s, pace), BAR_COLUMNS - 1))
}

/// Receives the executor's snapshots.
pub trait Progress: Send + Sync {
    fn start(&self, s: &Snapshot);
    fn update(&self, s: &Snapshot);
    fn finish(&self, s: &Snapshot);
    /// A line for whoever watches (an interruption), shown so the display does not draw over it.
    fn notice(&self, text: &str) {
        eprintln!("{text}");
    }
    /// A step of the run worth a line of its own (a wave's bake, its gate's verdict) that `-q`
    /// leaves out: the end of the run says what went wrong either way.
    fn milestone(&self, text: &str) {
        self.notice(text);
    }
}

/// Shows nothing (`--quiet`, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &Snapshot) {}
    fn update(&self, _: &Snapshot) {}
    fn finish(&self, _: &Snapshot) {}
    fn milestone(&self, _: &str) {}
}

/// The live bar on stderr.
#[derive(Debug)]
pub struct Bar {
    bar: ProgressBar,
    pace: PaceMeter,
}

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{bar:30.cyan/blue} {prefix}\n{msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Bar {
            bar,
            pace: PaceMeter::default(),
        }
    }
}

impl Default for Bar {
    fn default() -> Bar {
        Bar::new()
    }
}

impl Progress for Bar {
    fn start(&self, s: &Snapshot) {
        self.bar.set_length(s.total);
        self.update(s);
    }
    fn update(&self, s: &Snapshot) {
        self.bar.set_position(s.done);
        let pace = self.pace.observe(s);
        let (first, second) = bar_lines(s, pace);
        self.bar.set_prefix(first);
        self.bar.set_message(second);
    }
    fn finish(&self, s: &Snapshot) {
        self.update(s);
        // Left where the run got to: `finish` would draw it full, even for an interrupted run.
        self.bar.abandon();
    }
    fn notice(&self, text: &str) {
        self.bar.suspend(|| eprintln!("\n{text}"));
    }
}

/// A plain line every `every` (and at start and end), for logs and CI.
pub struct Lines {
    every: Duration,
    last: Mutex<Option<Duration>>,
    out: Mutex<Box<dyn Write + Send>>,
    pace: PaceMeter,
}

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl Lines {
    pub fn new(every: Duration, out: Box<dyn Write + Send>) -> Lines {
        Lines {
            every,
            last: Mutex::new(None),
            out: Mutex::new(out),
            pace: PaceMeter::default(),
        }
    }

    pub fn stderr(every: Duration) -> Lines {
        Lines::new(every, Box::new(std::io::stderr()))
    }

    fn write(&self, s: &Snapshot) {
        let pace = self.pace.observe(s);
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{}", plain_line_at(s, pace));
        let _ = out.flush();
    }
}

impl Progress for Lines {
    fn start(&self, s: &Snapshot) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(s.elapsed);
        self.write(s);
    }
    fn update(&self, s: &Snapshot) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|t| s.elapsed.saturating_sub(t) >= self.every);
        if due {
            *last = Some(s.elapsed);
            drop(last);
            self.write(s);
        }
    }
    fn finish(&self, s: &Snapshot) {
        self.write(s);
    }
}

/// Which display to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Silent,
    Bar,
    Lines,
}

/// `--quiet` → nothing; a terminal outside CI → the bar; otherwise (a pipe, a file, CI) → lines.
pub fn choose_mode(quiet: bool, stderr_is_terminal: bool, ci: bool) -> Mode {
    if quiet {
        Mode::Silent
    } else if stderr_is_terminal && !ci {
        Mode::Bar
    } else {
        Mode::Lines
    }
}

/// Whether the `CI` variable says this is a CI run (set and not `false`/`0`/empty).
pub fn ci_env(value: Option<&str>) -> bool {
    matches!(value, Some(v) if !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The display for this process.
pub fn for_this_process(quiet: bool) -> Box<dyn Progress> {
    let ci = ci_env(std::env::var("CI").ok().as_deref());
    match choose_mode(quiet, std::io::stderr().is_terminal(), ci) {
        Mode::Silent => Box::new(Silent),
        Mode::Bar => Box::new(Bar::new()),
        Mode::Lines => Box::new(Lines::stderr(Duration::from_secs(5))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn snap(done: u64, elapsed: u64) -> Snapshot {
        Snapshot {
            total: 600,
            done,
            succeeded: done.saturating_sub(3),
            failed: 2,
            skipped: 1,
            retrying: 4,
            rate: 9.7,
            elapsed: Duration::from_secs(elapsed),
            sent_done: done.saturating_sub(1),
            calls: done * 5 / 4,
            retries: done / 4,
            throttled: done / 10,
            quota: 10.0,
            wave: None,
        }
    }

    #[test]
    fn the_bar_fits_80_columns_whatever_the_counts() {
        let mut big = snap(999_999, 359_999);
        big.total = 1_000_000;
        big.failed = 123_456;
        big.retries = 9_999_999;
        big.throttled = 999_999;
        big.retrying = 1000;
        let (first, second) = bar_lines(&big, 9.71);
        assert!(
            BAR_WIDTH + 1 + first.chars().count() < BAR_COLUMNS,
            "{first}"
        );
        assert!(second.chars().count() < BAR_COLUMNS, "{second}");
        assert!(first.starts_with("999999/1000000 · ETA "), "{first}");
        assert!(second.starts_with("ok 999996 · failed 123456"), "{second}");
        // A usual run has room for everything.
        let (first, second) = bar_lines(&snap(100, 10), 9.7);
        insta::assert_snapshot!(format!("{}{first}\n{second}", "=".repeat(BAR_WIDTH + 1)));
        assert!(
            second.contains("retries 25") && second.contains("throttled 10"),
            "{second}"
        );
        assert!(second.contains("9.7/10 calls/s"), "{second}");
        assert!(first.contains("elapsed 10s"), "{first}");
    }

    #[test]
    fn the_eta_counts_the_calls_an_item_takes() {
        // 100 of 600 done at 9.7 calls/s: 500 left.
        let mut s = snap(100, 10);
        s.calls = 99;
        s.sent_done = 99;
        let one = s.eta().unwrap().as_secs_f64();
        s.calls = 198;
        let two = s.eta().unwrap().as_secs_f64();
        assert!((one - 500.0 / 9.7).abs() < 0.01, "{one}");
        assert!(
            (two - 2.0 * one).abs() < 0.01,
            "retries double the time left: {two}"
        );
    }

    #[test]
    fn the_pace_is_measured_over_windows_of_five_seconds() {
        let m = PaceMeter::default();
        let mut s = snap(0, 0);
        s.elapsed = Duration::from_millis(300);
        s.calls = 4;
        assert_eq!(
            m.observe(&s),
            3.0,
            "4 calls from t = 0: 3 gaps in the first second begun"
        );
        s.elapsed = Duration::from_millis(1650);
        s.calls = 17;
        assert!(
            (m.observe(&s) - 16.0 / 1.65).abs() < 1e-9,
            "under 10, as sent"
        );
        s.elapsed = Duration::from_millis(5000);
        s.calls = 49;
        assert!(
            (m.observe(&s) - 49.0 / 5.0).abs() < 1e-9,
            "the first window closes"
        );
        s.elapsed = Duration::from_millis(7000);
        s.calls = 90;
        assert!(
            (m.observe(&s) - 9.8).abs() < 1e-9,
            "the window is not closed yet"
        );
        s.elapsed = Duration::from_millis(10_000);
        s.calls = 97;
        assert!(
            (m.observe(&s) - 48.0 / 5.0).abs() < 1e-9,
            "48 calls over 5 s"
        );
    }

    #[test]
    fn mode_choice() {
        assert_eq!(choose_mode(true, true, false), Mode::Silent);
        assert_eq!(choose_mode(false, true, false), Mode::Bar);
        assert_eq!(choose_mode(false, true, true), Mode::Lines);
        assert_eq!(choose_mode(false, false, false), Mode::Lines);
        assert!(ci_env(Some("true")));
        assert!(ci_env(Some("1")));
        assert!(!ci_env(Some("false")));
        assert!(!ci_env(Some("")));
        assert!(!ci_env(None));
    }

    #[test]
    fn plain_line_reads_well() {
        insta::assert_snapshot!(plain_line(&snap(100, 15)));
        assert_eq!(human_duration(Duration::from_secs(3723)), "1h02m03s");
        assert_eq!(human_duration(Duration::from_secs(63)), "1m03s");
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_throttled_to_one_per_period() {
        let buf = Buf::default();
        let l = Lines::new(Duration::from_secs(5), Box::new(buf.clone()));
        l.start(&snap(0, 0));
        for t in 1..=12 {
            l.update(&snap(t * 10, t));
        }
        l.finish(&snap(600, 13));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        // start, t=5, t=10, finish
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.lines().last().unwrap().contains("600/600"));
    }
}
