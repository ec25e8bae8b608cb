//! Live numbers: what `ml_model_metrics` and `GET /metrics` show.
//!
//! - [`Monitor`]: per model version and minute, predictions, errors,
//!   latency and feature nulls, kept in memory for a day (minutes with no
//!   call take no room); and cumulative counters per model version for
//!   Prometheus. They start from zero when the server starts: the
//!   prediction log is the durable record.
//! - [`QUERIES`]: statements by outcome and SQLSTATE class, and their
//!   durations. Process-wide, as a Prometheus client's default registry is.
//!
//! Latency percentiles come from a histogram with 20 buckets per decade
//! (each bucket 12% wider than the one before) from 1 µs to 100 s, so a
//! reported percentile is within 6% of the true one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sync::lock;

/// How many minutes of per-minute numbers are kept.
pub const MINUTES_KEPT: usize = 24 * 60;

/// Buckets per decade of the fine latency histogram.
const PER_DECADE: f64 = 20.0;
/// Its buckets: 1 µs to 100 s.
const FINE_BUCKETS: usize = 8 * 20 + 1;

/// The Prometheus histogram's upper bounds, in seconds.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// A cumulative histogram in Prometheus's buckets.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    /// Observations at or below each bound of [`SECONDS_BUCKETS`] (not yet cumulative).
    pub buckets: [u64; 17],
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = SECONDS_BUCKETS.iter().position(|b| s <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_seconds += s;
    }

    /// `_bucket`, `_sum` and `_count` lines of `name` with `labels`
    /// (`k="v",...`, may be empty).
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        use std::fmt::Write;
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in SECONDS_BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_seconds);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// A latency histogram fine enough for percentiles.
#[derive(Debug, Clone)]
pub struct FineHistogram {
    counts: Vec<u32>,
    total: u64,
}

impl Default for FineHistogram {
    fn default() -> Self {
        FineHistogram {
            counts: vec![0; FINE_BUCKETS],
            total: 0,
        }
    }
}

impl FineHistogram {
    pub fn observe(&mut self, d: Duration) {
        let us = (d.as_secs_f64() * 1e6).max(1.0);
        let i = ((us.log10() * PER_DECADE).floor() as usize).min(FINE_BUCKETS - 1);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.total += 1;
    }

    /// The `q` quantile in microseconds: the geometric middle of its bucket.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = (q * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Some(10f64.powf((i as f64 + 0.5) / PER_DECADE));
            }
        }
        None
    }
}

/// One minute of one model version.
#[derive(Debug, Clone, Default)]
pub struct Minute {
    /// Unix seconds at the minute's start.
    pub start: i64,
    pub predictions: u64,
    pub calls: u64,
    pub errors: u64,
    pub feature_nulls: u64,
    pub latency: FineHistogram,
}

/// What is kept of one model version.
#[derive(Debug, Default)]
struct VersionStats {
    minutes: VecDeque<Minute>,
    predictions: u64,
    errors: u64,
    latency: Histogram,
    /// The aliases pointing at it when it was last called.
    alias: Option<String>,
}

/// Per model version: live numbers of its scoring calls.
#[derive(Debug, Default)]
pub struct Monitor {
    versions: Mutex<HashMap<(String, u32), VersionStats>>,
}

/// One row of `ml_model_metrics`.
#[derive(Debug, Clone)]
pub struct MinuteRow {
    pub model: String,
    pub version: u32,
    pub alias: Option<String>,
    pub minute: Minute,
}

/// Cumulative numbers of one model version, for Prometheus.
#[derive(Debug, Clone)]
pub struct VersionTotals {
    pub model: String,
    pub version: u32,
    pub predictions: u64,
    pub errors: u64,
    pub latency: Histogram,
}

fn minute_of(t: SystemTime) -> i64 {
    let s = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    s - s.rem_euclid(60)
}

impl Monitor {
    fn with_minute(
        &self,
        model: &str,
        version: u32,
        alias: Option<String>,
        f: impl FnOnce(&mut VersionStats, usize),
    ) {
        let start = minute_of(SystemTime::now());
        let mut versions = lock(&self.versions);
        let stats = versions.entry((model.to_string(), version)).or_default();
        if stats.minutes.back().is_none_or(|m| m.start != start) {
            stats.minutes.push_back(Minute {
                start,
                ..Minute::default()
            });
            while stats
                .minutes
                .front()
                .is_some_and(|m| m.start <= start - 60 * MINUTES_KEPT as i64)
            {
                stats.minutes.pop_front();
            }
        }
        if alias.is_some() {
            stats.alias = alias;
        }
        let last = stats.minutes.len() - 1;
        f(stats, last);
    }

    /// A scoring call of `rows` rows that took `elapsed`.
    pub fn scored(
        &self,
        model: &str,
        version: u32,
        alias: Option<String>,
        rows: usize,
        feature_nulls: usize,
        elapsed: Duration,
    ) {
        self.with_minute(model, version, alias, |stats, i| {
            stats.predictions += rows as u64;
            stats.latency.observe(elapsed);
            let m = &mut stats.minutes[i];
            m.predictions += rows as u64;
            m.calls += 1;
            m.feature_nulls += feature_nulls as u64;
            m.latency.observe(elapsed);
        });
    }

    /// A scoring call that failed on its input.
    pub fn failed(&self, model: &str, version: u32) {
        self.with_minute(model, version, None, |stats, i| {
            stats.errors += 1;
            stats.minutes[i].errors += 1;
        });
    }

    /// Every kept minute, by model, version and minute.
    pub fn minutes(&self) -> Vec<MinuteRow> {
        let versions = lock(&self.versions);
        let mut keys: Vec<&(String, u32)> = versions.keys().collect();
        keys.sort();
        keys.into_iter()
            .flat_map(|k| {
                let stats = &versions[k];
                stats.minutes.iter().map(move |m| MinuteRow {
                    model: k.0.clone(),
                    version: k.1,
                    alias: stats.alias.clone(),
                    minute: m.clone(),
                })
            })
            .collect()
    }

    /// Cumulative numbers of every model version called since the start.
    pub fn totals(&self) -> Vec<VersionTotals> {
        let versions = lock(&self.versions);
        let mut rows: Vec<VersionTotals> = versions
            .iter()
            .map(|((model, version), s)| VersionTotals {
                model: model.clone(),
                version: *version,
                predictions: s.predictions,
                errors: s.errors,
                latency: s.latency.clone(),
            })
            .collect();
        rows.sort_by(|a, b| (&a.model, a.version).cmp(&(&b.model, b.version)));
        rows
    }
}

/// Statements by outcome, and how long they took.
#[derive(Debug, Default)]
pub struct QueryMetrics {
    finished: AtomicU64,
    /// Errors by SQLSTATE class (its first two characters).
    errors: Mutex<BTreeMap<String, u64>>,
    duration: Mutex<Histogram>,
}

/// The server's statement counters.
pub static QUERIES: LazyLock<QueryMetrics> = LazyLock::new(QueryMetrics::default);

impl QueryMetrics {
    /// A statement (its rows sent, or its error) finished after `elapsed`.
    pub fn finished(&self, elapsed: Duration) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        lock(&self.duration).observe(elapsed);
    }

    /// A statement failed with `sqlstate`.
    pub fn failed(&self, sqlstate: &str) {
        let class: String = sqlstate.chars().take(2).collect();
        *lock(&self.errors).entry(class).or_default() += 1;
    }

    /// (finished, errors by class, duration histogram).
    pub fn snapshot(&self) -> (u64, BTreeMap<String, u64>, Histogram) {
        (
            self.finished.load(Ordering::Relaxed),
            lock(&self.errors).clone(),
            lock(&self.duration).clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_a_bucket() {
        let mut h = FineHistogram::default();
        for us in 1..=1000u64 {
            h.observe(Duration::from_micros(us));
        }
        let p50 = h.quantile_us(0.5).expect("ok");
        let p99 = h.quantile_us(0.99).expect("ok");
        assert!((p50 / 500.0 - 1.0).abs() < 0.07, "{p50}");
        assert!((p99 / 990.0 - 1.0).abs() < 0.07, "{p99}");
        assert_eq!(FineHistogram::default().quantile_us(0.5), None);
    }

    #[test]
    fn prometheus_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(Duration::from_micros(30));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "model=\"m\"");
        assert!(
            out.contains("x_seconds_bucket{model=\"m\",le=\"0.00005\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{model=\"m\",le=\"0.005\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{model=\"m\",le=\"10\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{model=\"m\",le=\"+Inf\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_count{model=\"m\"} 3\n"), "{out}");
    }

    #[test]
    fn minutes_count_calls_and_rows() {
        let m = Monitor::default();
        m.scored(
            "churn",
            1,
            Some("production".into()),
            100,
            3,
            Duration::from_millis(2),
        );
        m.scored("churn", 1, None, 1, 0, Duration::from_micros(80));
        m.failed("churn", 1);
        let rows = m.minutes();
        assert_eq!(rows.len(), 1);
        let minute = &rows[0].minute;
        assert_eq!(
            (
                minute.predictions,
                minute.calls,
                minute.errors,
                minute.feature_nulls
            ),
            (101, 2, 1, 3)
        );
        assert_eq!(rows[0].alias.as_deref(), Some("production"));
        assert_eq!(m.totals()[0].latency.count, 2);
    }
}
