//! `SELECT * FROM ml_lifecycle(model)`: a model's versions through their
//! life: when each was trained and by what (a policy rule, or by hand),
//! when it went to production and for how long, when it was archived, and
//! how its live metric moved from its first labelled day in production to
//! its latest: the decay per 30 days. Gaps between `trained_at` are the
//! retraining frequency.
//!
//! Deployments come from `ml_deployments`, triggers from `ml_jobs`, the
//! live metric from `ml_monitor` (per day), run in a session of the caller,
//! so the log is read with the caller's privileges.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder};
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Param, Params};

use super::jobs::Jobs;
use super::{Lifecycle, number, quote, registry_time, rows, text};
use crate::error::{Result, SqlStateError};
use crate::registry::Registry;
use crate::registry::functions::{at_execution, model_call};

pub const NAME: &str = "ml_lifecycle";

/// The columns of `ml_lifecycle`.
pub fn schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let real = |name: &str| Field::new(name, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        Field::new("version", DataType::Int64, false),
        text("status", false),
        text("trained_at", false),
        text("trigger", false),
        real("days_since_previous"),
        text("deployed_at", true),
        text("archived_at", true),
        real("days_in_production"),
        text("metric", true),
        real("metric_at_deploy"),
        real("metric_now"),
        real("decay_per_30_days"),
    ]))
}

/// The change of a metric per 30 days between its first and last day,
/// `None` on a single day. Positive is a rising value (for an error
/// metric, worse).
pub fn decay(first: (i64, f64), last: (i64, f64)) -> Option<f64> {
    let days = (last.0 - first.0) as f64 / 86_400_000_000.0;
    (days >= 1.0).then(|| (last.1 - first.1) / days * 30.0)
}

fn days_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 86_400_000.0
}

/// One row per version.
#[derive(Debug, Default, Clone)]
struct Row {
    version: i64,
    status: String,
    trained_at: String,
    trigger: String,
    days_since_previous: Option<f64>,
    deployed_at: Option<String>,
    archived_at: Option<String>,
    days_in_production: Option<f64>,
    metric: Option<String>,
    metric_at_deploy: Option<f64>,
    metric_now: Option<f64>,
    decay: Option<f64>,
}

impl Lifecycle {
    /// `ml_lifecycle(model)` for `user`.
    pub async fn view(&self, model: &str, user: &str) -> Result<RecordBatch> {
        let model = crate::registry::normalize(model);
        let versions = self.registry.versions(Some(&model))?;
        let deployments: Vec<_> = self
            .registry
            .deployments()?
            .into_iter()
            .filter(|d| d.model == model)
            .collect();
        let triggers: BTreeMap<i64, String> = Jobs::of(self.registry.store().clone())
            .all()?
            .into_iter()
            .filter(|j| j.model == model && j.status == "succeeded")
            .filter_map(|j| Some((j.candidate_version?, j.trigger?)))
            .collect();
        let now = Utc::now();
        let mut out: Vec<Row> = Vec::new();
        let mut previous: Option<DateTime<Utc>> = None;
        for v in &versions {
            let trained = registry_time(&v.created_at);
            let version = i64::from(v.version);
            // Production's moves in order: each holds until the next.
            let moves: Vec<_> = deployments
                .iter()
                .filter(|d| d.alias == "production")
                .collect();
            let mut held = 0.0;
            let mut deployed_at = None;
            for (i, d) in moves.iter().enumerate() {
                if d.version != version {
                    continue;
                }
                deployed_at.get_or_insert_with(|| d.at.clone());
                let until = moves
                    .get(i + 1)
                    .and_then(|n| registry_time(&n.at))
                    .unwrap_or(now);
                if let Some(from) = registry_time(&d.at) {
                    held += days_between(from, until).max(0.0);
                }
            }
            let archived_at = deployments
                .iter()
                .rfind(|d| {
                    d.version == version && (d.action == "archive" || d.action == "unarchive")
                })
                .filter(|d| d.action == "archive")
                .map(|d| d.at.clone());
            out.push(Row {
                version,
                status: v.status.clone(),
                trained_at: v.created_at.clone(),
                trigger: triggers
                    .get(&version)
                    .cloned()
                    .unwrap_or_else(|| "manual".into()),
                days_since_previous: previous.zip(trained).map(|(p, t)| days_between(p, t)),
                days_in_production: deployed_at.is_some().then_some(held),
                deployed_at,
                archived_at,
                ..Row::default()
            });
            previous = trained.or(previous);
        }

        // Live metric per version and day, from the caller's session.
        let session = self.session(user);
        let sql = format!(
            "SELECT period, version, metric, value FROM ml_monitor({}, window => '3650 days', grain => 'day', bootstrap => 0) WHERE labelled > 0 AND value IS NOT NULL ORDER BY period",
            quote(&model)
        );
        let batches = self.query(&session, &sql).await?;
        let mut series: BTreeMap<(i64, String), Vec<(i64, f64)>> = BTreeMap::new();
        for (b, i) in rows(&batches) {
            let (Some(version), Some(metric), Some(value)) = (
                number(b, "version", i),
                text(b, "metric", i),
                number(b, "value", i),
            ) else {
                continue;
            };
            let day = text(b, "period", i)
                .and_then(|p| chrono::DateTime::parse_from_rfc3339(&p.replace(' ', "T")).ok())
                .map(|t| t.timestamp_micros())
                .unwrap_or_default();
            series
                .entry((version as i64, metric))
                .or_default()
                .push((day, value));
        }
        // The model's headline metric: ROC AUC, else accuracy, else RMSE.
        let metric = ["roc_auc", "accuracy", "rmse"]
            .into_iter()
            .find(|m| series.keys().any(|(_, k)| k == m));
        if let Some(metric) = metric {
            for row in &mut out {
                if let Some(points) = series.get(&(row.version, metric.to_string()))
                    && let (Some(&first), Some(&last)) = (points.first(), points.last())
                {
                    row.metric = Some(metric.to_string());
                    row.metric_at_deploy = Some(first.1);
                    row.metric_now = Some(last.1);
                    row.decay = decay(first, last);
                }
            }
        }
        batch(&out)
    }
}

fn batch(rows: &[Row]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&Row) -> Option<&str>| -> ArrayRef {
        Arc::new(StringArray::from_iter(rows.iter().map(f)))
    };
    let real = |f: &dyn Fn(&Row) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(rows.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.version))),
        text(&|r| Some(&r.status)),
        text(&|r| Some(&r.trained_at)),
        text(&|r| Some(&r.trigger)),
        real(&|r| r.days_since_previous),
        text(&|r| r.deployed_at.as_deref()),
        text(&|r| r.archived_at.as_deref()),
        real(&|r| r.days_in_production),
        text(&|r| r.metric.as_deref()),
        real(&|r| r.metric_at_deploy),
        real(&|r| r.metric_now),
        real(&|r| r.decay),
    ];
    RecordBatch::try_new(schema(), columns).map_err(SqlStateError::internal)
}

/// The `ml_lifecycle` table function.
#[derive(Debug)]
pub struct LifecycleUdtf {
    registry: Arc<Registry>,
}

impl LifecycleUdtf {
    pub fn new(registry: Arc<Registry>) -> Self {
        LifecycleUdtf { registry }
    }
}

impl TableFunctionSpec for LifecycleUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[Param::value("model", "The model.")]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Lifecycle automation", description: None },
            "A model's versions through their life, one row each: version, status, trained_at, trigger (from ml_jobs: the policy rule whose job trained it, or create model or ml_train for a training a user ran; manual when no job recorded it), days_since_previous (since the previous version was trained: the retraining frequency), deployed_at (first made production), archived_at, days_in_production (summed over every time it was production, to now for the current one), metric (the headline live metric: roc_auc, else accuracy, else rmse), metric_at_deploy and metric_now (on its first and latest day with feedback, from ml_monitor by day) and decay_per_30_days (their difference per 30 days; NULL within one day). Needs PREDICT on the model (the prediction log is read as ml_monitor reads it). Errors: 42704 unknown model; 42501 without PREDICT.",
            "SELECT * FROM ml_lifecycle(model)",
        )
        .with_sql_example(
r#"```sql
> SELECT version, status, trigger, deployed_at IS NOT NULL AS deployed FROM ml_lifecycle('churn');
+---------+------------+--------------+----------+
| version | status     | trigger      | deployed |
+---------+------------+--------------+----------+
| 1       | production | create model | t        |
+---------+------------+--------------+----------+
```"#,
        )
    }
}

impl TableFunctionImpl for LifecycleUdtf {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let (model, user) = model_call(
            NAME,
            &self.registry,
            &args,
            &[crate::access::Privilege::Predict],
        )?;
        let registry = self.registry.clone();
        at_execution(
            schema(),
            Arc::new(move || {
                let (registry, model, user) = (registry.clone(), model.clone(), user.clone());
                Box::pin(async move { registry.lifecycle_view(&model, &user).await })
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_is_per_30_days_over_at_least_a_day() {
        const DAY: i64 = 86_400_000_000;
        assert_eq!(
            decay((0, 0.8), (10 * DAY, 0.7)).map(|d| (d * 1e9).round() / 1e9),
            Some(-0.3)
        );
        assert_eq!(decay((0, 0.8), (DAY / 2, 0.7)), None);
        assert_eq!(decay((5 * DAY, 0.5), (5 * DAY, 0.5)), None);
        assert_eq!(decay((0, 2.0), (60 * DAY, 3.0)), Some(0.5));
    }
}
