//! `GET /metrics`: the server's numbers in the Prometheus text format
//! (version 0.0.4), checked by `promtool check metrics` in the tests.
//!
//! | metric | type | labels |
//! |--------|------|--------|
//! | `quarry_queries_total` | counter | `status` (ok, error), `sqlstate_class` (00 for ok) |
//! | `quarry_query_duration_seconds` | histogram | |
//! | `quarry_sessions` | gauge | |
//! | `quarry_memory_pool_reserved_bytes` | gauge | |
//! | `quarry_predictions_total` | counter | `model`, `version` |
//! | `quarry_prediction_errors_total` | counter | `model`, `version` |
//! | `quarry_prediction_duration_seconds` | histogram | `model`, `version` (one observation per scoring call) |
//! | `quarry_prediction_log_rows_written_total`, `_dropped_total`, `_failed_total` | counter | |
//! | `quarry_prediction_log_queue_rows` | gauge | |
//! | `quarry_audit_records_written_total`, `_dropped_total`, `_failed_total` | counter | |
//! | `quarry_alert_webhooks_delivered_total`, `_failed_total`, `_dropped_total`, `_retries_total` | counter | |

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::Serving;
use super::metrics::QUERIES;

/// A label value escaped as the format asks (backslash, quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Unlabelled counters: (name, help, value) each.
fn counters(out: &mut String, counters: &[(&str, &str, u64)]) {
    for (name, help, value) in counters {
        header(out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The scrape: statement counters, sessions, memory, and per model version
/// the predictions and their latency, and the log's counters.
pub fn render(
    serving: &Serving,
    audit: &crate::audit::AuditLog,
    webhooks: &crate::lifecycle::notify::Counts,
    sessions: usize,
    memory_reserved: usize,
) -> String {
    let mut out = String::with_capacity(8192);
    let (finished, errors, duration) = QUERIES.snapshot();
    let failed: u64 = errors.values().sum();
    header(
        &mut out,
        "quarry_queries_total",
        "counter",
        "Statements finished, by outcome and SQLSTATE class.",
    );
    let _ = writeln!(
        out,
        "quarry_queries_total{{status=\"ok\",sqlstate_class=\"00\"}} {}",
        finished.saturating_sub(failed)
    );
    for (class, n) in &errors {
        let _ = writeln!(
            out,
            "quarry_queries_total{{status=\"error\",sqlstate_class=\"{}\"}} {n}",
            escape(class)
        );
    }
    header(
        &mut out,
        "quarry_query_duration_seconds",
        "histogram",
        "Statement durations, rows sent included.",
    );
    duration.render(&mut out, "quarry_query_duration_seconds", "");
    header(&mut out, "quarry_sessions", "gauge", "Open sessions.");
    let _ = writeln!(out, "quarry_sessions {sessions}");
    header(
        &mut out,
        "quarry_memory_pool_reserved_bytes",
        "gauge",
        "Memory reserved in the query memory pool.",
    );
    let _ = writeln!(out, "quarry_memory_pool_reserved_bytes {memory_reserved}");

    let totals = serving.monitor.totals();
    header(
        &mut out,
        "quarry_predictions_total",
        "counter",
        "Rows scored, per model version.",
    );
    for t in &totals {
        let _ = writeln!(
            out,
            "quarry_predictions_total{{model=\"{}\",version=\"{}\"}} {}",
            escape(&t.model),
            t.version,
            t.predictions
        );
    }
    header(
        &mut out,
        "quarry_prediction_errors_total",
        "counter",
        "Scoring calls that failed on their input, per model version.",
    );
    for t in &totals {
        let _ = writeln!(
            out,
            "quarry_prediction_errors_total{{model=\"{}\",version=\"{}\"}} {}",
            escape(&t.model),
            t.version,
            t.errors
        );
    }
    header(
        &mut out,
        "quarry_prediction_duration_seconds",
        "histogram",
        "Scoring call durations (a batch of rows in SQL, a request over REST), per model version.",
    );
    for t in &totals {
        let labels = format!("model=\"{}\",version=\"{}\"", escape(&t.model), t.version);
        t.latency
            .render(&mut out, "quarry_prediction_duration_seconds", &labels);
    }
    let log = &serving.log;
    counters(
        &mut out,
        &[
            (
                "quarry_prediction_log_rows_written_total",
                "Prediction log rows committed.",
                log.written.load(Ordering::Relaxed),
            ),
            (
                "quarry_prediction_log_rows_dropped_total",
                "Prediction log rows dropped because the queue was full.",
                log.dropped.load(Ordering::Relaxed),
            ),
            (
                "quarry_prediction_log_rows_failed_total",
                "Prediction log rows lost because their write failed.",
                log.failed.load(Ordering::Relaxed),
            ),
        ],
    );
    header(
        &mut out,
        "quarry_prediction_log_queue_rows",
        "gauge",
        "Prediction log rows waiting to be written.",
    );
    let _ = writeln!(out, "quarry_prediction_log_queue_rows {}", log.queued());
    counters(
        &mut out,
        &[
            (
                "quarry_audit_records_written_total",
                "Audit log records committed.",
                audit.written.load(Ordering::Relaxed),
            ),
            (
                "quarry_audit_records_dropped_total",
                "Audit log records dropped because the queue was full (each drop is itself audited).",
                audit.dropped.load(Ordering::Relaxed),
            ),
            (
                "quarry_audit_records_failed_total",
                "Audit log records lost because their write failed.",
                audit.failed.load(Ordering::Relaxed),
            ),
            (
                "quarry_alert_webhooks_delivered_total",
                "Alerts a webhook accepted.",
                webhooks.delivered.load(Ordering::Relaxed),
            ),
            (
                "quarry_alert_webhooks_failed_total",
                "Alerts given up on after every retry failed.",
                webhooks.failed.load(Ordering::Relaxed),
            ),
            (
                "quarry_alert_webhooks_dropped_total",
                "Alerts dropped because the delivery queue was full.",
                webhooks.dropped.load(Ordering::Relaxed),
            ),
            (
                "quarry_alert_webhooks_retries_total",
                "Webhook tries that failed (each retried with backoff, or given up).",
                webhooks.retries.load(Ordering::Relaxed),
            ),
        ],
    );
    header(
        &mut out,
        "quarry_feature_psi",
        "gauge",
        "PSI of each feature's logged inputs today (UTC) against the training profile, per deployed model version.",
    );
    if let Some(drift) = log.drift.get() {
        let deployed = |m: &quarry_udfs::model::ModelRef| serving.alias(m).is_some();
        for f in drift.psi(super::log::now_us(), deployed) {
            let _ = writeln!(
                out,
                "quarry_feature_psi{{model=\"{}\",version=\"{}\",feature=\"{}\"}} {}",
                escape(&f.model),
                f.version,
                escape(&f.feature),
                f.psi
            );
        }
    }
    out
}
