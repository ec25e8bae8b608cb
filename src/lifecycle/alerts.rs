//! `ml_alerts`: what the checks found wrong with a live model, opened when
//! first found, updated while it holds, resolved when a check no longer
//! finds it, acknowledged by `ml_ack_alert`. The checks run in each policy
//! job (`Lifecycle::check_alerts`) for models whose policy has `alert_to`;
//! this module keeps the table and routes what opens and what escalates.
//!
//! | policy key | value | |
//! |------------|-------|-|
//! | `alert_to` | routes: `"table"`, `"log"`, `"webhook:http://host:port/path"` | where a new alert goes (it is always in `ml_alerts`) |
//! | `escalate_after`, `escalate_to` | interval, routes | an alert still open and unacknowledged that long goes to these routes too, once |
//! | `alert_psi` | PSI (default 0.2) | feature and prediction drift over `monitor_window` |
//! | `alert_metric` | `"roc_auc < 0.7"` | the live metric over `monitor_window` |
//! | `alert_error_rate` | share (default 0.05) | failed scoring calls over the last hour |
//! | `alert_latency_ms` | milliseconds | the worst minute's p99 scoring latency over the last hour |
//! | `alert_spc` | boolean (default true) | Western Electric rules on the daily mean prediction and each numeric feature's daily mean |

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use rusqlite::{OptionalExtension, params};
use serde_json::{Value as Json, json};

use super::notify::Notifier;
use super::rules::Condition;
use crate::catalog::live::LiveRows;
use crate::catalog::store::Store;
use crate::error::{Result, SqlStateError, sqlstate};

pub const NAME: &str = "ml_alerts";

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ml_alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    model           TEXT NOT NULL,
    version         INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    subject         TEXT NOT NULL,
    severity        TEXT NOT NULL,
    value           REAL NOT NULL,
    threshold       REAL NOT NULL,
    detail          TEXT NOT NULL,
    status          TEXT NOT NULL,
    first_seen      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_seen       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    resolved_at     TEXT,
    acknowledged_by TEXT,
    acknowledged_at TEXT,
    ack_note        TEXT,
    escalated_at    TEXT
);
CREATE INDEX IF NOT EXISTS ml_alerts_open ON ml_alerts (model, status);
"#;

/// Alert kinds.
pub const FEATURE_DRIFT: &str = "feature drift";
pub const PREDICTION_DRIFT: &str = "prediction drift";
pub const SPC_RULE: &str = "SPC rule";
pub const METRIC_DROP: &str = "metric drop";
pub const ERROR_RATE: &str = "error rate";
pub const LATENCY: &str = "latency";

/// Where an alert goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Table,
    Log,
    Webhook(String),
}

impl Route {
    pub fn parse(text: &str) -> Option<Route> {
        match text {
            "table" => Some(Route::Table),
            "log" => Some(Route::Log),
            _ => {
                let url = text.strip_prefix("webhook:")?;
                super::notify::parse_url(url).map(|_| Route::Webhook(url.to_string()))
            }
        }
    }

    /// Routes of a policy value: an array of route texts.
    pub fn list(value: &Json) -> Option<Vec<Route>> {
        let items = value.as_array()?;
        (!items.is_empty())
            .then(|| {
                items
                    .iter()
                    .map(|i| i.as_str().and_then(Route::parse))
                    .collect()
            })
            .flatten()
    }
}

/// What a policy says about alerts; `None` without `alert_to`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRules {
    pub routes: Vec<Route>,
    pub escalate_after: Option<String>,
    pub escalate_to: Vec<Route>,
    pub psi: f64,
    pub metric: Option<Condition>,
    pub error_rate: f64,
    pub latency_ms: Option<f64>,
    pub spc: bool,
}

impl AlertRules {
    pub fn of(policy: &Json) -> Option<AlertRules> {
        let routes = policy.get("alert_to").and_then(Route::list)?;
        Some(AlertRules {
            routes,
            escalate_after: policy
                .get("escalate_after")
                .and_then(Json::as_str)
                .map(str::to_string),
            escalate_to: policy
                .get("escalate_to")
                .and_then(Route::list)
                .unwrap_or_default(),
            psi: policy
                .get("alert_psi")
                .and_then(Json::as_f64)
                .unwrap_or(0.2),
            metric: policy
                .get("alert_metric")
                .and_then(Json::as_str)
                .and_then(Condition::parse),
            error_rate: policy
                .get("alert_error_rate")
                .and_then(Json::as_f64)
                .unwrap_or(0.05),
            latency_ms: policy.get("alert_latency_ms").and_then(Json::as_f64),
            spc: policy
                .get("alert_spc")
                .and_then(Json::as_bool)
                .unwrap_or(true),
        })
    }
}

/// Something a check found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub version: u32,
    pub kind: &'static str,
    /// What within the kind (a feature, a metric); "" when one per kind.
    pub subject: String,
    pub severity: &'static str,
    pub value: f64,
    pub threshold: f64,
    pub detail: String,
}

/// One row of `ml_alerts`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: i64,
    pub model: String,
    pub version: i64,
    pub kind: String,
    pub subject: String,
    pub severity: String,
    pub value: f64,
    pub threshold: f64,
    pub detail: String,
    pub status: String,
    pub first_seen: String,
    pub last_seen: String,
    pub resolved_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
    pub ack_note: Option<String>,
    pub escalated_at: Option<String>,
}

impl AlertRow {
    /// The JSON a webhook receives.
    pub fn json(&self, escalated: bool) -> Json {
        json!({
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "kind": self.kind,
            "subject": self.subject,
            "severity": self.severity,
            "value": self.value,
            "threshold": self.threshold,
            "detail": self.detail,
            "status": self.status,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "escalated": escalated,
        })
    }
}

const SELECT: &str = "SELECT id, model, version, kind, subject, severity, value, threshold, detail,
    status, first_seen, last_seen, resolved_at, acknowledged_by, acknowledged_at, ack_note,
    escalated_at FROM ml_alerts";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        model: r.get(1)?,
        version: r.get(2)?,
        kind: r.get(3)?,
        subject: r.get(4)?,
        severity: r.get(5)?,
        value: r.get(6)?,
        threshold: r.get(7)?,
        detail: r.get(8)?,
        status: r.get(9)?,
        first_seen: r.get(10)?,
        last_seen: r.get(11)?,
        resolved_at: r.get(12)?,
        acknowledged_by: r.get(13)?,
        acknowledged_at: r.get(14)?,
        ack_note: r.get(15)?,
        escalated_at: r.get(16)?,
    })
}

/// What one round of checks changed.
#[derive(Debug, Default)]
pub struct Recorded {
    pub opened: Vec<AlertRow>,
    pub still_open: usize,
    pub resolved: usize,
}

/// The alerts table in the catalog's store.
#[derive(Debug, Clone)]
pub struct Alerts {
    store: Arc<Store>,
}

impl Alerts {
    pub fn of(store: Arc<Store>) -> Alerts {
        Alerts { store }
    }

    /// Records one round of checks of `model` in one transaction: a finding
    /// with no unresolved alert of its kind and subject opens one; one with
    /// an alert updates it; an unresolved alert of a `checked` kind that
    /// nothing found again is resolved.
    pub fn record(&self, model: &str, checked: &[&str], findings: &[Finding]) -> Result<Recorded> {
        self.store.with_tx(|tx| {
            let mut recorded = Recorded::default();
            let mut kept: Vec<i64> = Vec::new();
            for f in findings {
                let existing: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM ml_alerts WHERE model = ?1 AND kind = ?2 AND subject = ?3
                         AND status <> 'resolved' ORDER BY id DESC LIMIT 1",
                        params![model, f.kind, f.subject],
                        |r| r.get(0),
                    )
                    .optional()?;
                match existing {
                    Some(id) => {
                        tx.execute(
                            "UPDATE ml_alerts SET version = ?2, severity = ?3, value = ?4, threshold = ?5,
                                 detail = ?6, last_seen = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                             WHERE id = ?1",
                            params![id, f.version, f.severity, f.value, f.threshold, f.detail],
                        )?;
                        recorded.still_open += 1;
                        kept.push(id);
                    }
                    None => {
                        tx.execute(
                            "INSERT INTO ml_alerts (model, version, kind, subject, severity, value,
                                 threshold, detail, status)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open')",
                            params![
                                model, f.version, f.kind, f.subject, f.severity, f.value,
                                f.threshold, f.detail
                            ],
                        )?;
                        let id = tx.last_insert_rowid();
                        kept.push(id);
                        recorded
                            .opened
                            .push(tx.query_row(&format!("{SELECT} WHERE id = ?1"), [id], row)?);
                    }
                }
            }
            let mut stmt = tx.prepare(
                "SELECT id, kind FROM ml_alerts WHERE model = ?1 AND status <> 'resolved'",
            )?;
            let unresolved: Vec<(i64, String)> = stmt
                .query_map([model], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (id, kind) in unresolved {
                if checked.contains(&kind.as_str()) && !kept.contains(&id) {
                    tx.execute(
                        "UPDATE ml_alerts SET status = 'resolved',
                             resolved_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                         WHERE id = ?1",
                        [id],
                    )?;
                    recorded.resolved += 1;
                }
            }
            Ok(recorded)
        })
    }

    /// Open, unacknowledged alerts of `model` first seen at or before
    /// `before` (a registry timestamp), not escalated yet and not among
    /// `except`, marked escalated now.
    pub fn escalate(&self, model: &str, before: &str, except: &[i64]) -> Result<Vec<AlertRow>> {
        self.store.with_tx(|tx| {
            let mut stmt = tx.prepare(&format!(
                "{SELECT} WHERE model = ?1 AND status = 'open' AND escalated_at IS NULL AND first_seen <= ?2"
            ))?;
            let due: Vec<AlertRow> = stmt
                .query_map(params![model, before], row)?
                .filter(|a| a.as_ref().map_or(true, |a| !except.contains(&a.id)))
                .collect::<rusqlite::Result<_>>()?;
            for a in &due {
                tx.execute(
                    "UPDATE ml_alerts SET escalated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
                    [a.id],
                )?;
            }
            Ok(due)
        })
    }

    /// `ml_ack_alert`: the alert, acknowledged by `user` unless resolved.
    pub fn acknowledge(&self, id: i64, user: &str, note: &str) -> Result<AlertRow> {
        self.store.with_tx(|tx| {
            tx.execute(
                "UPDATE ml_alerts SET status = 'acknowledged', acknowledged_by = ?2,
                     acknowledged_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ack_note = ?3
                 WHERE id = ?1 AND status = 'open'",
                params![id, user, note],
            )?;
            tx.query_row(&format!("{SELECT} WHERE id = ?1"), [id], row)
        })
    }

    pub fn get(&self, id: i64) -> Result<Option<AlertRow>> {
        self.store.with_conn(|c| {
            c.query_row(&format!("{SELECT} WHERE id = ?1"), [id], row)
                .optional()
        })
    }

    pub fn all(&self) -> Result<Vec<AlertRow>> {
        self.store.with_conn(|c| {
            let mut stmt = c.prepare(&format!("{SELECT} ORDER BY id"))?;
            let rows = stmt.query_map([], row)?;
            rows.collect()
        })
    }
}

/// Sends `alert` where `routes` say: the table has it already; `log`
/// writes a warning; a webhook gets it queued (never waited on).
pub fn route(alert: &AlertRow, routes: &[Route], escalated: bool, notifier: &Notifier) {
    for r in routes {
        match r {
            Route::Table => {}
            Route::Log => tracing::warn!(
                target: "quarry::alerts",
                id = alert.id,
                model = alert.model,
                version = alert.version,
                kind = alert.kind,
                severity = alert.severity,
                value = alert.value,
                threshold = alert.threshold,
                escalated,
                "{}",
                alert.detail
            ),
            Route::Webhook(url) => {
                notifier.offer(url, alert.json(escalated).to_string());
            }
        }
    }
}

/// The columns of `ml_alerts`.
pub fn schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        text("model", false),
        Field::new("version", DataType::Int64, false),
        text("kind", false),
        text("subject", false),
        text("severity", false),
        Field::new("value", DataType::Float64, false),
        Field::new("threshold", DataType::Float64, false),
        text("detail", false),
        text("status", false),
        text("first_seen", false),
        text("last_seen", false),
        text("resolved_at", true),
        text("acknowledged_by", true),
        text("acknowledged_at", true),
        text("ack_note", true),
        text("escalated_at", true),
    ]))
}

fn batch(rows: &[AlertRow]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&AlertRow) -> Option<&str>| -> ArrayRef {
        Arc::new(StringArray::from_iter(rows.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))),
        text(&|r| Some(&r.model)),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.version))),
        text(&|r| Some(&r.kind)),
        text(&|r| Some(&r.subject)),
        text(&|r| Some(&r.severity)),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.value))),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.threshold),
        )),
        text(&|r| Some(&r.detail)),
        text(&|r| Some(&r.status)),
        text(&|r| Some(&r.first_seen)),
        text(&|r| Some(&r.last_seen)),
        text(&|r| r.resolved_at.as_deref()),
        text(&|r| r.acknowledged_by.as_deref()),
        text(&|r| r.acknowledged_at.as_deref()),
        text(&|r| r.ack_note.as_deref()),
        text(&|r| r.escalated_at.as_deref()),
    ];
    RecordBatch::try_new(schema(), columns).map_err(SqlStateError::internal)
}

/// `ml_alerts` as a system table, read fresh at every scan.
#[derive(Debug)]
pub struct AlertsTable(pub Alerts);

#[async_trait::async_trait]
impl LiveRows for AlertsTable {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    async fn batch(&self, _state: &dyn Session) -> datafusion::error::Result<RecordBatch> {
        self.0
            .all()
            .and_then(|rows| batch(&rows))
            .map_err(SqlStateError::into_df)
    }
}

/// `42704` for an alert id that does not exist.
pub fn unknown(id: i64) -> SqlStateError {
    SqlStateError::new(
        sqlstate::UNDEFINED_OBJECT,
        format!("alert {id} does not exist"),
    )
    .with_hint("SELECT * FROM ml_alerts lists them")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: &'static str, subject: &str, value: f64) -> Finding {
        Finding {
            version: 1,
            kind,
            subject: subject.into(),
            severity: "warning",
            value,
            threshold: 0.2,
            detail: format!("{kind} {value}"),
        }
    }

    #[test]
    fn alerts_open_update_resolve_and_escalate() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(Store::open(&dir.path().join("c.db")).expect("store"));
        store.execute_batch(SCHEMA).expect("schema");
        let alerts = Alerts::of(store);
        let checked = [FEATURE_DRIFT, PREDICTION_DRIFT];
        let r = alerts
            .record("m", &checked, &[finding(PREDICTION_DRIFT, "", 0.5)])
            .expect("record");
        assert_eq!(r.opened.len(), 1);
        let id = r.opened[0].id;
        // Found again: updated, not opened twice.
        let r = alerts
            .record("m", &checked, &[finding(PREDICTION_DRIFT, "", 0.7)])
            .expect("record");
        assert!(r.opened.is_empty());
        assert_eq!(r.still_open, 1);
        assert_eq!(alerts.get(id).expect("get").expect("row").value, 0.7);
        // Escalated once.
        assert!(
            alerts
                .escalate("m", "9999", &[id])
                .expect("escalate")
                .is_empty()
        );
        let due = alerts.escalate("m", "9999", &[]).expect("escalate");
        assert_eq!(due.len(), 1);
        assert!(
            alerts
                .escalate("m", "9999", &[])
                .expect("escalate")
                .is_empty()
        );
        // Acknowledged, then resolved when no longer found; a kind not
        // checked this round stays.
        let acked = alerts.acknowledge(id, "ops", "looking").expect("ack");
        assert_eq!(acked.status, "acknowledged");
        assert_eq!(acked.acknowledged_by.as_deref(), Some("ops"));
        alerts
            .record("m", &[LATENCY], &[finding(LATENCY, "", 900.0)])
            .expect("record");
        let r = alerts.record("m", &checked, &[]).expect("record");
        assert_eq!(r.resolved, 1);
        let rows = alerts.all().expect("all");
        assert_eq!(rows[0].status, "resolved");
        assert!(rows[0].resolved_at.is_some());
        assert_eq!(rows[1].status, "open");
        assert_eq!(batch(&rows).expect("batch").num_rows(), 2);
        // A resolved alert stays resolved when acknowledged late.
        assert_eq!(
            alerts.acknowledge(id, "ops", "late").expect("ack").status,
            "resolved"
        );
        // Found again after resolving: a new alert.
        let r = alerts
            .record("m", &checked, &[finding(PREDICTION_DRIFT, "", 0.9)])
            .expect("record");
        assert_ne!(r.opened[0].id, id);
    }

    #[test]
    fn routes_parse() {
        assert_eq!(
            Route::list(&json!(["table", "log", "webhook:http://127.0.0.1:9/x"])),
            Some(vec![
                Route::Table,
                Route::Log,
                Route::Webhook("http://127.0.0.1:9/x".into())
            ])
        );
        assert_eq!(Route::list(&json!(["email:x@y"])), None);
        assert_eq!(Route::list(&json!(["webhook:https://x/y"])), None);
        assert_eq!(Route::list(&json!([])), None);
        assert_eq!(Route::list(&json!("table")), None);
        let rules = AlertRules::of(&json!({"alert_to": ["table"]})).expect("rules");
        assert_eq!(rules.psi, 0.2);
        assert!(rules.spc);
        assert_eq!(AlertRules::of(&json!({"alert_psi": 0.1})), None);
    }
}
