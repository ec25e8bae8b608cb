//! `ml_model_metrics`: per model, version, alias and minute, the scoring
//! calls of the last day: predictions (rows), calls, errors, latency
//! percentiles of the calls, and NULL feature values seen. In memory,
//! from the server's start ([`super::metrics::Monitor`]).

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session;
use datafusion::error::Result;

use super::Serving;
use crate::catalog::live::LiveRows;

pub const MODEL_METRICS: &str = "ml_model_metrics";

#[derive(Debug)]
pub struct ModelMetrics {
    serving: Weak<Serving>,
    schema: SchemaRef,
}

impl ModelMetrics {
    pub fn new(serving: &Arc<Serving>) -> Self {
        ModelMetrics {
            serving: Arc::downgrade(serving),
            schema: Arc::new(Schema::new(vec![
                Field::new("model", DataType::Utf8, false),
                Field::new("version", DataType::Int32, false),
                Field::new("alias", DataType::Utf8, true),
                Field::new(
                    "minute",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                    false,
                ),
                Field::new("predictions", DataType::Int64, false),
                Field::new("calls", DataType::Int64, false),
                Field::new("errors", DataType::Int64, false),
                Field::new("p50_latency_us", DataType::Float64, true),
                Field::new("p95_latency_us", DataType::Float64, true),
                Field::new("p99_latency_us", DataType::Float64, true),
                Field::new("feature_nulls", DataType::Int64, false),
            ])),
        }
    }
}

#[async_trait]
impl LiveRows for ModelMetrics {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, _state: &dyn Session) -> Result<RecordBatch> {
        let rows = self
            .serving
            .upgrade()
            .map(|s| s.monitor.minutes())
            .unwrap_or_default();
        let q = |p: f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter(
                rows.iter().map(|r| r.minute.latency.quantile_us(p)),
            ))
        };
        let int = |f: fn(&super::metrics::MinuteRow) -> u64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| f(r) as i64),
            ))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.model.as_str()),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| r.version as i32),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.alias.as_deref()),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    rows.iter().map(|r| r.minute.start * 1_000_000),
                )
                .with_timezone("+00:00"),
            ),
            int(|r| r.minute.predictions),
            int(|r| r.minute.calls),
            int(|r| r.minute.errors),
            q(0.5),
            q(0.95),
            q(0.99),
            int(|r| r.minute.feature_nulls),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}
