//! `--waves`, `--max-unhealthy` and `--on-unhealthy` as data: parsed before anything is read,
//! resolved against the plan's change items once they are counted. Pure.
//!
//! A wave spec is a comma list of *cumulative* sizes, each a count of change items or a percentage
//! of them (`20,10%,50%,100%`); a final 100 % is implied. Percentages round up, so a wave is never
//! empty because the plan is small (`1%` of 30 items is 1 item, not 0).

use std::fmt;

/// One entry of `--waves`: cumulative, a count or a percentage of the change items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Size {
    Count(usize),
    /// Hundredths of a percent (`12.5%` is 1250), so that comparing entries is exact.
    Percent(u32),
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Count(n) => write!(f, "{n}"),
            Size::Percent(p) if p % 100 == 0 => write!(f, "{}%", p / 100),
            Size::Percent(p) => write!(f, "{}%", f64::from(*p) / 100.0),
        }
    }
}

/// A parsed `--waves`, its entries in order, as given (`text`, for the journal and messages).
#[derive(Debug, Clone, PartialEq)]
pub struct WaveSpec {
    pub text: String,
    pub sizes: Vec<Size>,
}

/// What is wrong with a `--waves`, `--max-unhealthy` or `--pause-after` (a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("--waves is empty: give cumulative wave sizes, e.g. --waves 10,25%,100%")]
    Empty,
    #[error(
        "--waves entry {index} `{entry}` is not a count or a percentage: write e.g. 20 (items) or 10% (of the change items)"
    )]
    Garbage { index: usize, entry: String },
    #[error("--waves entry {index} `{entry}` is zero: every wave must hold at least one item")]
    Zero { index: usize, entry: String },
    #[error("--waves entry {index} `{entry}` is over 100%: the last wave holds every item")]
    OverHundred { index: usize, entry: String },
    #[error(
        "--waves entry {index} `{entry}` is not larger than the entry before it (`{previous}`): sizes are cumulative, each wave's total must grow"
    )]
    NotIncreasing {
        index: usize,
        entry: String,
        previous: String,
    },
    #[error(
        "--waves entry {index} `{entry}` is {resolved} of the {total} change item(s), not more than the {previous} before it: sizes are cumulative, each must grow"
    )]
    ResolvedNotIncreasing {
        index: usize,
        entry: String,
        resolved: usize,
        previous: usize,
        total: usize,
    },
    #[error("--max-unhealthy `{0}` is not a count or a percentage (e.g. 0, 3 or 10%)")]
    Threshold(String),
    #[error("--pause-after {pause} is beyond the last wave: this plan has {waves} wave(s)")]
    PauseBeyond { pause: u32, waves: usize },
    #[error("--pause-after 0: waves count from 1 (pause after the first wave: --pause-after 1)")]
    PauseZero,
}

fn parse_percent(body: &str) -> Option<u32> {
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) || body.ends_with('.') {
        return None;
    }
    let whole: u32 = int.parse().ok()?;
    let hundredths: u32 = format!("{frac:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(hundredths)
}

fn parse_size(entry: &str) -> Option<Size> {
    let e = entry.trim();
    if let Some(body) = e.strip_suffix('%') {
        return parse_percent(body.trim_end()).map(Size::Percent);
    }
    if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    e.parse().ok().map(Size::Count)
}

impl WaveSpec {
    /// Parses `--waves`: every entry a count or a percentage, none zero, none over 100 %, and
    /// entries of the same kind strictly increasing (counts against percentages are compared once
    /// the plan is counted, in [`WaveSpec::resolve`]).
    pub fn parse(text: &str) -> Result<WaveSpec, SpecError> {
        if text.trim().is_empty() {
            return Err(SpecError::Empty);
        }
        let mut sizes = Vec::new();
        let mut last_count: Option<(usize, &str)> = None;
        let mut last_pct: Option<(u32, &str)> = None;
        for (i, entry) in text.split(',').enumerate() {
            let index = i + 1;
            let e = entry.trim();
            let size = parse_size(e).ok_or_else(|| SpecError::Garbage {
                index,
                entry: e.to_string(),
            })?;
            let owned = || e.to_string();
            match size {
                Size::Count(0) | Size::Percent(0) => {
                    return Err(SpecError::Zero {
                        index,
                        entry: owned(),
                    });
                }
                Size::Percent(p) if p > 10_000 => {
                    return Err(SpecError::OverHundred {
                        index,
                        entry: owned(),
                    });
                }
                Size::Count(n) => {
                    if let Some((_, text)) = last_count.filter(|(prev, _)| n <= *prev) {
                        return Err(SpecError::NotIncreasing {
                            index,
                            entry: owned(),
                            previous: text.to_string(),
                        });
                    }
                    last_count = Some((n, e));
                }
                Size::Percent(p) => {
                    if let Some((_, text)) = last_pct.filter(|(prev, _)| p <= *prev) {
                        return Err(SpecError::NotIncreasing {
                            index,
                            entry: owned(),
                            previous: text.to_string(),
                        });
                    }
                    last_pct = Some((p, e));
                }
            }
            sizes.push(size);
        }
        Ok(WaveSpec {
            text: text.trim().to_string(),
            sizes,
        })
    }

    /// The cumulative size of each wave for `total` change items, the last always `total` (a
    /// final 100 % is implied). A count beyond `total` is `total`: the waves after it would be
    /// empty and are dropped. An entry that comes to no more than the one before it is refused,
    /// naming both.
    pub fn resolve(&self, total: usize) -> Result<Vec<usize>, SpecError> {
        let mut out: Vec<usize> = Vec::new();
        if total == 0 {
            return Ok(out);
        }
        for (i, size) in self.sizes.iter().enumerate() {
            let n = match *size {
                Size::Count(n) => n.min(total),
                // Rounded up: a small plan's first percent is one item, never none.
                Size::Percent(p) => (total as u128 * u128::from(p)).div_ceil(10_000) as usize,
            };
            let previous = out.last().copied().unwrap_or(0);
            if previous == total {
                // Everything is in the waves already (a count at or past the total).
                break;
            }
            if n <= previous {
                return Err(SpecError::ResolvedNotIncreasing {
                    index: i + 1,
                    entry: size.to_string(),
                    resolved: n,
                    previous,
                    total,
                });
            }
            out.push(n);
        }
        if out.last() != Some(&total) {
            out.push(total);
        }
        Ok(out)
    }
}

/// `--max-unhealthy`: how many tasks of a wave may be unhealthy and the wave still pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    Count(usize),
    /// Hundredths of a percent of the tasks the gate counts.
    Percent(u32),
}

impl Threshold {
    pub fn parse(text: &str) -> Result<Threshold, SpecError> {
        let bad = || SpecError::Threshold(text.to_string());
        match parse_size(text).ok_or_else(bad)? {
            Size::Count(n) => Ok(Threshold::Count(n)),
            Size::Percent(p) if p <= 10_000 => Ok(Threshold::Percent(p)),
            Size::Percent(_) => Err(bad()),
        }
    }

    /// The most unhealthy tasks allowed among `counted`: a percentage rounds down, so `10%` of
    /// 9 tasks allows none (a threshold errs on the side of stopping).
    pub fn allowed(self, counted: usize) -> usize {
        match self {
            Threshold::Count(n) => n,
            Threshold::Percent(p) => (counted as u128 * u128::from(p) / 10_000) as usize,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Count(n) => write!(f, "{n}"),
            Threshold::Percent(p) => Size::Percent(*p).fmt(f),
        }
    }
}

/// What a failed gate does to its wave (`--on-unhealthy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnUnhealthy {
    /// Restore every item of the failed wave to its before-image, then stop (exit 5).
    #[default]
    Rollback,
    /// Stop (exit 5) and leave the wave as it is, for a person to look at.
    Halt,
}

impl OnUnhealthy {
    pub fn name(self) -> &'static str {
        match self {
            OnUnhealthy::Rollback => "rollback",
            OnUnhealthy::Halt => "halt",
        }
    }
}

/// Checks `--pause-after` against the number of waves the plan came to.
pub fn check_pause(pause: Option<u32>, waves: usize) -> Result<(), SpecError> {
    match pause {
        Some(0) => Err(SpecError::PauseZero),
        Some(p) if p as usize > waves => Err(SpecError::PauseBeyond { pause: p, waves }),
        // Pausing after the last wave is finishing: allowed, and the same as not pausing.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_counts_and_percentages() {
        let s = WaveSpec::parse("20, 10%,50%,100%").unwrap();
        assert_eq!(
            s.sizes,
            vec![
                Size::Count(20),
                Size::Percent(1000),
                Size::Percent(5000),
                Size::Percent(10_000)
            ]
        );
        assert_eq!(
            WaveSpec::parse("12.5%").unwrap().sizes,
            vec![Size::Percent(1250)]
        );
    }

    #[test]
    fn refuses_bad_entries_naming_them() {
        let e = WaveSpec::parse("10,abc").unwrap_err();
        assert_eq!(
            e,
            SpecError::Garbage {
                index: 2,
                entry: "abc".into()
            }
        );
        assert!(e.to_string().contains("entry 2 `abc`"), "{e}");
        assert!(matches!(
            WaveSpec::parse("0,10").unwrap_err(),
            SpecError::Zero { index: 1, .. }
        ));
        assert!(matches!(
            WaveSpec::parse("10,0%").unwrap_err(),
            SpecError::Zero { index: 2, .. }
        ));
        assert!(matches!(
            WaveSpec::parse("10%,150%").unwrap_err(),
            SpecError::OverHundred { index: 2, .. }
        ));
        let e = WaveSpec::parse("50,20").unwrap_err();
        assert!(
            e.to_string()
                .contains("entry 2 `20` is not larger than the entry before it (`50`)"),
            "{e}"
        );
        assert!(matches!(
            WaveSpec::parse("50%,50%").unwrap_err(),
            SpecError::NotIncreasing { index: 2, .. }
        ));
        for bad in [
            "", " ", "1,,2", "-5", "5.5", "%", "1e3", "10%%", "0x10", "1.%", "1.234%",
        ] {
            assert!(WaveSpec::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn resolves_cumulative_sizes_with_an_implied_hundred_percent() {
        let s = WaveSpec::parse("30,100,100%").unwrap();
        assert_eq!(s.resolve(300).unwrap(), vec![30, 100, 300]);
        let s = WaveSpec::parse("10,50").unwrap();
        assert_eq!(s.resolve(100).unwrap(), vec![10, 50, 100]);
        // Percentages round up; a count past the total ends the waves there.
        let s = WaveSpec::parse("1%,500,900").unwrap();
        assert_eq!(s.resolve(30).unwrap(), vec![1, 30]);
        assert_eq!(s.resolve(0).unwrap(), Vec::<usize>::new());
        // 20 then 10% of 95 (10): resolved not increasing, named.
        let e = WaveSpec::parse("20,10%").unwrap().resolve(95).unwrap_err();
        assert!(
            e.to_string()
                .contains("entry 2 `10%` is 10 of the 95 change item(s), not more than the 20"),
            "{e}"
        );
    }

    #[test]
    fn thresholds() {
        assert_eq!(Threshold::parse("0").unwrap().allowed(70), 0);
        assert_eq!(Threshold::parse("3").unwrap().allowed(1), 3);
        assert_eq!(Threshold::parse("10%").unwrap().allowed(70), 7);
        assert_eq!(Threshold::parse("10%").unwrap().allowed(9), 0);
        assert_eq!(Threshold::parse("100%").unwrap().allowed(9), 9);
        assert!(Threshold::parse("101%").is_err());
        assert!(Threshold::parse("x").is_err());
        assert_eq!(Threshold::parse("12.5%").unwrap().to_string(), "12.5%");
    }

    /// The journal records `name()`; a resume reads it back as the flag's value.
    #[test]
    fn on_unhealthy_names_read_back_as_the_flag() {
        for v in [OnUnhealthy::Rollback, OnUnhealthy::Halt] {
            assert_eq!(
                <OnUnhealthy as clap::ValueEnum>::from_str(v.name(), false),
                Ok(v)
            );
        }
    }

    #[test]
    fn pause_after_must_name_a_wave() {
        assert!(check_pause(None, 3).is_ok());
        assert!(check_pause(Some(3), 3).is_ok());
        assert_eq!(
            check_pause(Some(4), 3).unwrap_err().to_string(),
            "--pause-after 4 is beyond the last wave: this plan has 3 wave(s)"
        );
        assert_eq!(check_pause(Some(0), 3).unwrap_err(), SpecError::PauseZero);
    }

    proptest! {
        /// Whatever the spec, resolved waves are strictly increasing, non-empty, and end at the
        /// total; and no spec text makes the parser panic.
        #[test]
        fn resolved_waves_partition_the_items(
            entries in proptest::collection::vec((1usize..500, any::<bool>()), 1..6),
            total in 0usize..2000,
        ) {
            let text: Vec<String> = entries
                .iter()
                .map(|(n, pct)| if *pct { format!("{}%", n % 100 + 1) } else { n.to_string() })
                .collect();
            if let Ok(spec) = WaveSpec::parse(&text.join(","))
                && let Ok(ends) = spec.resolve(total)
            {
                prop_assert_eq!(ends.last().copied().unwrap_or(0), total);
                prop_assert!(ends.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(ends.first().is_none_or(|&e| e > 0));
                prop_assert!(ends.len() <= spec.sizes.len() + 1);
            }
        }

        #[test]
        fn parser_never_panics(text in ".{0,40}") {
            let _ = WaveSpec::parse(&text);
            let _ = Threshold::parse(&text);
        }
    }
}
