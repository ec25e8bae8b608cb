//! `ml_audit_log`, the log as a read-only system table, and the rows of
//! `ml_audit_verify()`. Both are readable by superusers and members of
//! `auditor` only (checked with every plan, `access::analyzer`).
//!
//! A scan first waits (briefly) for what is queued to be written, so a
//! session reading the log finds its statements before the read.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session;
use datafusion::error::Result;

use super::AuditLog;
use super::chain::Record;
use crate::catalog::live::{LiveRows, LiveTable};
use crate::error::SqlStateError;

pub const TABLE: &str = "ml_audit_log";

/// How long a read waits for queued records.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Whether a scanned provider is the audit log or its verification (they
/// need the `auditor` role).
pub fn is_audit(provider: &dyn std::any::Any) -> bool {
    provider.is::<LiveTable<AuditRows>>() || provider.is::<LiveTable<VerifyRows>>()
}

/// The rows of `ml_audit_log`.
#[derive(Debug)]
pub struct AuditRows {
    log: Arc<AuditLog>,
}

impl AuditRows {
    pub fn new(log: Arc<AuditLog>) -> Self {
        AuditRows { log }
    }
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

#[async_trait]
impl LiveRows for AuditRows {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("seq", DataType::Int64, false),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                false,
            ),
            text("user_name", false),
            text("role_name", true),
            text("client_addr", true),
            Field::new("session_id", DataType::Int64, true),
            text("kind", false),
            text("statement", false),
            text("objects", false),
            Field::new("rows", DataType::Int64, true),
            Field::new("duration_ms", DataType::Float64, false),
            text("sqlstate", false),
            text("prev_hash", false),
            text("hash", false),
        ]))
    }

    async fn batch(&self, _state: &dyn Session) -> Result<RecordBatch> {
        self.log.flushed(FLUSH_WAIT).await;
        let log = self.log.clone();
        let schema = self.schema();
        tokio::task::spawn_blocking(move || -> std::result::Result<_, SqlStateError> {
            let conn = log.reader()?;
            let mut rows: Vec<(Record, String, String)> = Vec::new();
            super::store::each(&conn, 0, |r, prev, hash| {
                rows.push((r, prev, hash));
                true
            })?;
            let s = |f: &dyn Fn(&Record) -> &str| -> ArrayRef {
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| f(&r.0))))
            };
            let o = |f: &dyn Fn(&Record) -> Option<&str>| -> ArrayRef {
                Arc::new(StringArray::from_iter(rows.iter().map(|r| f(&r.0))))
            };
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0.seq))),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.0.at_us))
                        .with_timezone("+00:00"),
                ),
                s(&|r| &r.user),
                o(&|r| r.role.as_deref()),
                o(&|r| r.client.as_deref()),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.0.session))),
                s(&|r| &r.kind),
                s(&|r| &r.statement),
                s(&|r| &r.objects),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.0.rows))),
                Arc::new(Float64Array::from_iter_values(
                    rows.iter().map(|r| r.0.duration_us as f64 / 1000.0),
                )),
                s(&|r| &r.sqlstate),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.1))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.2))),
            ];
            RecordBatch::try_new(schema, columns).map_err(SqlStateError::internal)
        })
        .await
        .map_err(|e| SqlStateError::internal(e).into_df())?
        .map_err(SqlStateError::into_df)
    }
}

/// The one row of `ml_audit_verify()`.
#[derive(Debug)]
pub struct VerifyRows {
    log: Arc<AuditLog>,
}

impl VerifyRows {
    pub fn new(log: Arc<AuditLog>) -> Self {
        VerifyRows { log }
    }
}

#[async_trait]
impl LiveRows for VerifyRows {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("valid", DataType::Boolean, false),
            Field::new("records", DataType::Int64, false),
            Field::new("broken_at", DataType::Int64, true),
            text("reason", true),
            Field::new("head_seq", DataType::Int64, true),
            text("head_hash", true),
        ]))
    }

    async fn batch(&self, _state: &dyn Session) -> Result<RecordBatch> {
        self.log.flushed(FLUSH_WAIT).await;
        let log = self.log.clone();
        let verdict = tokio::task::spawn_blocking(move || log.verify())
            .await
            .map_err(|e| SqlStateError::internal(e).into_df())?
            .map_err(SqlStateError::into_df)?;
        let (broken_at, reason) = match verdict.broken {
            Some((seq, why)) => (Some(seq), Some(why)),
            None => (None, None),
        };
        let (head_seq, head_hash) = match verdict.head {
            Some((seq, hash)) => (Some(seq), Some(hash)),
            None => (None, None),
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(BooleanArray::from(vec![broken_at.is_none()])),
            Arc::new(Int64Array::from(vec![verdict.checked as i64])),
            Arc::new(Int64Array::from(vec![broken_at])),
            Arc::new(StringArray::from(vec![reason])),
            Arc::new(Int64Array::from(vec![head_seq])),
            Arc::new(StringArray::from(vec![head_hash])),
        ];
        RecordBatch::try_new(self.schema(), columns)
            .map_err(|e| SqlStateError::internal(e).into_df())
    }
}
