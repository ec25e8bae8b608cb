//! `SELECT * FROM ml_training_info(model)`: what training measured, one row
//! per (version, fold, candidate, metric).
//!
//! A bare name lists every version; `name@3` or `name@alias` one. Hold-out
//! (or training) metrics have NULL fold and candidate; when a version was
//! trained with cross-validation or a hyperparameter search its params hold
//! a `cv` array of `{candidate, fold, metrics}` objects, listed here too.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder, Expr};
use quarry_udfs::ModelStore;
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Param, Params};
use quarry_udfs::model::ModelRef;

use crate::error::SqlStateError;
use crate::registry::Registry;

pub const NAME: &str = "ml_training_info";

#[derive(Debug)]
pub struct TrainingInfoUdtf {
    registry: Arc<Registry>,
}

impl TrainingInfoUdtf {
    pub fn new(registry: Arc<Registry>) -> Self {
        TrainingInfoUdtf { registry }
    }
}

impl TableFunctionSpec for TrainingInfoUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[Param::value(
        "model",
        "A model name (every version), or 'name@3' / 'name@alias' (one version).",
    )]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Model registry", description: None },
            "What training measured: one row per version, fold, candidate and metric, with columns version, evaluated_on (holdout, train, oob or cv), fold (NULL outside cross-validation), candidate (the hyperparameters of a search candidate as JSON, NULL otherwise), metric, value. A bare model name lists every version; 'name@3' or 'name@alias' one version. Errors: 42704 unknown model or version; 22023 when the argument is not a text literal.",
            "SELECT * FROM ml_training_info(model)",
        )
        .with_sql_example(
r#"```sql
> SELECT version, metric, round(value, 4) AS value FROM ml_training_info('churn') WHERE metric = 'roc_auc';
+---------+---------+--------+
| version | metric  | value  |
+---------+---------+--------+
| 1       | roc_auc | 0.7308 |
| 2       | roc_auc | 0.7624 |
+---------+---------+--------+
```"#,
        )
    }
}

/// One output row.
struct Row {
    version: i64,
    evaluated_on: String,
    fold: Option<i64>,
    candidate: Option<String>,
    metric: String,
    value: f64,
}

fn metric_rows(
    version: i64,
    evaluated_on: &str,
    fold: Option<i64>,
    candidate: Option<String>,
    metrics: &serde_json::Map<String, serde_json::Value>,
    out: &mut Vec<Row>,
) {
    for (metric, value) in metrics {
        if let Some(value) = value.as_f64() {
            let on = if metric.starts_with("oob_") {
                "oob"
            } else {
                evaluated_on
            };
            out.push(Row {
                version,
                evaluated_on: on.to_string(),
                fold,
                candidate: candidate.clone(),
                metric: metric.clone(),
                value,
            });
        }
    }
}

impl TableFunctionImpl for TrainingInfoUdtf {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let reference = match args.exprs() {
            [Expr::Literal(v, _)] => super::text(v),
            _ => None,
        }
        .ok_or_else(|| {
            SqlStateError::bad_argument(format!(
                "{NAME}: expected (model), the model as a text literal such as 'churn' or 'churn@2'"
            ))
            .into_df()
        })?;
        // A bare name is every version; a pinned or aliased one is one.
        let single: Option<ModelRef> = if reference.contains('@') {
            Some(
                self.registry
                    .resolve(&reference)
                    .map_err(SqlStateError::into_df)?,
            )
        } else {
            self.registry
                .resolve(&reference)
                .map_err(SqlStateError::into_df)?;
            None
        };
        let name = single.as_ref().map_or_else(
            || crate::registry::normalize(&reference),
            |m| m.name.clone(),
        );
        let versions = self
            .registry
            .versions(Some(&name))
            .map_err(SqlStateError::into_df)?;
        let mut rows = Vec::new();
        for v in versions {
            if single.as_ref().is_some_and(|m| m.version != v.version) {
                continue;
            }
            let version = i64::from(v.version);
            let metrics: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&v.metrics).unwrap_or_default();
            metric_rows(version, &v.evaluated_on, None, None, &metrics, &mut rows);
            let params: serde_json::Value = serde_json::from_str(&v.params).unwrap_or_default();
            for entry in params["cv"].as_array().into_iter().flatten() {
                let fold = entry["fold"].as_i64();
                let candidate = entry.get("candidate").map(|c| c.to_string());
                if let Some(m) = entry["metrics"].as_object() {
                    metric_rows(version, "cv", fold, candidate, m, &mut rows);
                }
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("version", DataType::Int64, false),
            Field::new("evaluated_on", DataType::Utf8, false),
            Field::new("fold", DataType::Int64, true),
            Field::new("candidate", DataType::Utf8, true),
            Field::new("metric", DataType::Utf8, false),
            Field::new("value", DataType::Float64, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.version))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.evaluated_on.as_str()),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.fold).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.candidate.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.metric.as_str()),
            )),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.value))),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
