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
}

impl Snapshot {
    /// Time left at the current rate (one call per remaining item; retries not foreseen).
    pub fn eta(&self) -> Option<Duration> {
        let left = self.total.saturating_sub(self.done);
        if self.rate <= 0.0 || !self.rate.is_finite() {
            return None;
        }
        Some(Duration::from_secs_f64(left as f64 / self.rate))
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

/// The counters part shared by the bar and the plain line.
pub fn counters(s: &Snapshot) -> String {
    let eta = s
        .eta()
        .map(human_duration)
        .unwrap_or_else(|| "?".to_string());
    format!(
        "ok {} · failed {} · retrying {} · {:.1} calls/s · ETA {}",
        s.succeeded, s.failed, s.retrying, s.rate, eta
    )
}

/// The plain progress line (logs, CI).
pub fn plain_line(s: &Snapshot) -> String {
    format!(
        "livebatch: {}/{} done · {} · elapsed {}",
        s.done,
        s.total,
        counters(s),
        human_duration(s.elapsed)
    )
}

/// Receives the executor's snapshots.
pub trait Progress: Send + Sync {
    fn start(&self, s: &Snapshot);
    fn update(&self, s: &Snapshot);
    fn finish(&self, s: &Snapshot);
}

/// Shows nothing (`--quiet`, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &Snapshot) {}
    fn update(&self, _: &Snapshot) {}
    fn finish(&self, _: &Snapshot) {}
}

/// The live bar on stderr.
#[derive(Debug)]
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Bar { bar }
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
        self.bar.set_message(counters(s));
    }
    fn finish(&self, s: &Snapshot) {
        self.update(s);
        self.bar.finish();
    }
}

/// A plain line every `every` (and at start and end), for logs and CI.
pub struct Lines {
    every: Duration,
    last: Mutex<Option<Duration>>,
    out: Mutex<Box<dyn Write + Send>>,
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
        }
    }

    pub fn stderr(every: Duration) -> Lines {
        Lines::new(every, Box::new(std::io::stderr()))
    }

    fn write(&self, s: &Snapshot) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{}", plain_line(s));
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
        }
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
        insta::assert_snapshot!(plain_line(&snap(100, 10)));
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
