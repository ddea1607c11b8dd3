//! What the reports derive from a run's record: latency percentiles, the rates (over the time the
//! calls took), and the calls per second of the run for the chart. The run only records its calls
//! ([`RunRecord::timeline`]); these figures exist for the reports, so they are computed here.

use std::collections::BTreeMap;

use crate::api::operation::Operation;
use crate::outcome::{Latency, OperationCalls, RecordedCall, RunRecord, SecondStats, Summary};

/// The [`Summary`] every report shows, from what the run recorded.
pub fn summarize(r: &RunRecord) -> Summary {
    let (t, c) = (&r.tally, &r.calls);
    let calls = c.calls();
    let mut lat: Vec<f64> = r.timeline.iter().map(RecordedCall::latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    // Over the gaps the calls took (see `rate_seconds`), at least the one second the quota counts
    // in: 7 calls in 0.6 s are 7 calls in that second, not 11.7 calls/s.
    let rate_secs = rate_seconds(r.timeline.iter().map(CallPoint::from), r.elapsed);
    let per_sec = |n: u64| n as f64 / rate_secs;
    let by_operation: BTreeMap<String, OperationCalls> = Operation::ALL
        .into_iter()
        .filter(|op| c.by_op[op.index()].calls > 0)
        .map(|op| (op.action().to_string(), c.by_op[op.index()].clone()))
        .collect();
    Summary {
        outcome: r.outcome.clone(),
        total: r.total,
        succeeded: t.succeeded,
        failed: t.failed,
        skipped: t.skipped,
        stale: t.stale,
        not_attempted: t.not_attempted,
        noop: t.noop,
        blocked: t.blocked,
        missing: t.missing,
        already_applied: t.already_applied,
        calls,
        retries: c.retries,
        throttled: c.throttled(),
        calls_per_second: round3(per_sec(calls)),
        updates_per_second: round3(per_sec(t.succeeded)),
        elapsed_seconds: round3(r.elapsed.as_secs_f64()),
        latency_ms: Latency {
            p50: percentile(&lat, 50.0),
            p95: percentile(&lat, 95.0),
            p99: percentile(&lat, 99.0),
        },
        rate_samples: r.rate_samples.clone(),
        by_operation,
        per_second: per_second(r.timeline.iter().map(CallPoint::from), r.started),
    }
}

impl From<&RecordedCall> for CallPoint {
    fn from(c: &RecordedCall) -> CallPoint {
        CallPoint {
            at: c.at(),
            latency_ms: c.latency_ms(),
            throttled: c.throttled,
        }
    }
}

/// To 0.001 (rates and durations in reports).
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// One call as the engine saw it: when it was sent (since the engine started), how long it took,
/// whether it was throttled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallPoint {
    pub at: std::time::Duration,
    pub latency_ms: f64,
    pub throttled: bool,
}

/// The wall time a rate is counted over: the run's, but at least one second, the window the
/// quota counts in — 7 calls in 0.6 s were 7 calls in that second, not 11.7 calls/s.
pub fn wall_seconds(elapsed: std::time::Duration) -> f64 {
    elapsed.as_secs_f64().max(1.0)
}

/// The time a run's calls occupied at the pace they were sent: n calls from the first send to
/// the last span n − 1 gaps but take n of them (17 calls 103 ms apart span 1.65 s: counted over
/// the span they read 10.3 calls/s, an alarming figure under a 10/s quota; over the 17 gaps they
/// take, 9.7, the pace they left at). With fewer than two sends, the run's wall time. Never less
/// than one second, as [`wall_seconds`].
pub fn rate_seconds<P: std::borrow::Borrow<CallPoint>>(
    points: impl IntoIterator<Item = P>,
    elapsed: std::time::Duration,
) -> f64 {
    let mut span: Option<(std::time::Duration, std::time::Duration)> = None;
    let mut n = 0u64;
    for p in points {
        let at = p.borrow().at;
        n += 1;
        span = Some(span.map_or((at, at), |(a, b)| (a.min(at), b.max(at))));
    }
    match span {
        Some((first, last)) if n >= 2 && last > first => {
            let n = n as f64;
            ((last - first).as_secs_f64() * n / (n - 1.0)).max(1.0)
        }
        _ => wall_seconds(elapsed),
    }
}

/// Buckets calls by the second of the run they were sent in (seconds without calls included, so
/// a chart's axis is time), counting from `start`; calls before `start` are not this run's.
pub fn per_second<P: std::borrow::Borrow<CallPoint>>(
    points: impl IntoIterator<Item = P>,
    start: std::time::Duration,
) -> Vec<SecondStats> {
    let mut buckets: Vec<(u64, u64, Vec<f64>)> = Vec::new();
    for p in points {
        let p = p.borrow();
        let Some(since) = p.at.checked_sub(start) else {
            continue;
        };
        let i = since.as_secs() as usize;
        if buckets.len() <= i {
            buckets.resize_with(i + 1, || (0, 0, Vec::new()));
        }
        let b = &mut buckets[i];
        b.0 += 1;
        b.1 += u64::from(p.throttled);
        b.2.push(p.latency_ms);
    }
    buckets
        .into_iter()
        .enumerate()
        .map(|(i, (calls, throttled, mut lat))| {
            lat.sort_by(f64::total_cmp);
            SecondStats {
                second: i as u64,
                calls,
                throttled,
                p95_ms: percentile(&lat, 95.0),
            }
        })
        .collect()
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64, latency_ms: f64, throttled: bool) -> CallPoint {
        CallPoint {
            at: Duration::from_millis(ms),
            latency_ms,
            throttled,
        }
    }

    #[test]
    fn calls_are_bucketed_by_the_second_they_were_sent_in() {
        let start = Duration::from_millis(500);
        let points = [
            at(100, 1.0, false), // before the run: planning
            at(500, 10.0, false),
            at(1400, 30.0, true),
            at(1499, 20.0, false),
            at(3600, 40.0, false),
        ];
        let s = per_second(points, start);
        let rows: Vec<_> = s
            .iter()
            .map(|b| (b.second, b.calls, b.throttled, b.p95_ms))
            .collect();
        assert_eq!(
            rows,
            vec![
                (0, 3, 1, Some(30.0)),
                (1, 0, 0, None),
                (2, 0, 0, None),
                (3, 1, 0, Some(40.0)),
            ]
        );
    }

    #[test]
    fn rates_count_the_gaps_calls_take_not_the_span_between_them() {
        let at = |ms: u64| CallPoint {
            at: Duration::from_millis(ms),
            latency_ms: 50.0,
            throttled: false,
        };
        // 17 calls on a 103 ms grid: 9.71 calls/s, not 17 / 1.648 s = 10.3.
        let grid: Vec<CallPoint> = (0..17).map(|i| at(5 + i * 103)).collect();
        let secs = rate_seconds(&grid, Duration::from_millis(1900));
        assert!((17.0 / secs - 9.709).abs() < 0.01, "{}", 17.0 / secs);
        // 600 calls at 9.7/s: the same figure as over the wall time, to within a call.
        let long: Vec<CallPoint> = (0..600).map(|i| at(i * 103)).collect();
        assert!((600.0 / rate_seconds(&long, Duration::from_secs(62)) - 9.709).abs() < 0.01);
        // A burst in one instant, or a single call: over the wall time, at least one second.
        assert_eq!(
            rate_seconds([at(10), at(10)], Duration::from_millis(300)),
            1.0
        );
        assert_eq!(rate_seconds([at(10)], Duration::from_millis(2500)), 2.5);
        assert_eq!(rate_seconds(&[] as &[CallPoint], Duration::ZERO), 1.0);
        // Seven calls within 0.6 s were seven calls in one second.
        let seven: Vec<CallPoint> = (0..7).map(|i| at(i * 100)).collect();
        assert_eq!(rate_seconds(&seven, Duration::from_millis(650)), 1.0);
    }

    #[test]
    fn rates_count_at_least_one_second() {
        assert_eq!(wall_seconds(Duration::from_millis(20)), 1.0);
        assert_eq!(wall_seconds(Duration::from_millis(600)), 1.0);
        assert_eq!(wall_seconds(Duration::from_millis(4120)), 4.12);
        assert_eq!(wall_seconds(Duration::ZERO), 1.0);
    }
    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
