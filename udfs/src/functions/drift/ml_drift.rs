//! `SELECT * FROM ml_drift(model, relation)` and
//! `SELECT * FROM ml_drift(reference_relation, current_relation)`: drift of
//! every feature (and of a model's predictions) in one table.
//!
//! Output: feature, metric, value, p_value, threshold, drifted. Numbers get
//! `psi` (drifted above the PSI threshold) and `ks` (value D, drifted when its
//! p-value is below the p threshold); categories get `chi2` (value = the
//! statistic) and `psi` over categories.
//!
//! Against a model, the reference is the training profile stored with the
//! version, so the training data is not needed: exact value counts for
//! features with at most 1000 distinct values, else 1001 quantiles whose
//! interpolated CDF stands in for the training sample (KS is then accurate to
//! about 0.001 in D). Categories compare the reference's 100 most frequent
//! levels plus `other` (everything else, including levels never seen in
//! training): with thousands of rare levels, per-level PSI measures noise.
//! Two relations are compared the same way, with the reference computed from
//! the first relation, exactly.
//!
//! Plan: project every feature to a number (epoch seconds for times) or text,
//! flag the side, union when two relations are given, one hidden aggregate
//! per feature (`__quarry_drift`, a list of result rows each), concatenate the
//! lists and unnest them.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Column, ScalarValue};
use datafusion::error::Result;
use datafusion::functions_nested::expr_fn::array_concat;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    AggregateUDF, DocSection, Documentation, DocumentationBuilder, Expr, ExprSchemable,
    LogicalPlan, LogicalPlanBuilder, cast, lit,
};
use serde_json::Value as Json;

use super::MAX_BINS;
use super::findings::{Config, DriftUdaf, Thresholds};
use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::Arg;
use crate::functions::params::{Args, Param, Params, model_text};
use crate::functions::relation::{LIST_COLUMN, RelationFunction, column, find_column, list_rows};
use crate::functions::scoring::predict::PredictUdf;
use crate::functions::scoring::predict_proba::PredictProbaUdf;
use crate::functions::scoring::{feature_columns, scoring_args, udf};
use crate::model::ModelStore;
use crate::model::schema::{FeatureKind, Task};

pub const NAME: &str = "ml_drift";
const SIDE: &str = "__quarry_side";

/// The thresholds and bins of a call, from its named arguments.
fn thresholds(named: &[(String, Expr)]) -> Result<Thresholds, SqlStateError> {
    let mut t = Thresholds::default();
    for (name, value) in named {
        let number = match value {
            Expr::Literal(v, _) => v.cast_to(&DataType::Float64).ok().and_then(|v| match v {
                ScalarValue::Float64(Some(x)) if x.is_finite() => Some(x),
                _ => None,
            }),
            _ => None,
        };
        let bad =
            |expected: &str| SqlStateError::arg(NAME, name, format!("must be {expected}"), value);
        match name.to_ascii_lowercase().as_str() {
            "psi_threshold" => {
                t.psi = number
                    .filter(|x| *x > 0.0)
                    .ok_or_else(|| bad("a positive number"))?
            }
            "p_threshold" => {
                t.p = number
                    .filter(|x| *x > 0.0 && *x < 1.0)
                    .ok_or_else(|| bad("a number between 0 and 1"))?
            }
            "bins" => {
                t.bins = number
                    .filter(|x| x.fract() == 0.0 && (2.0..=MAX_BINS as f64).contains(x))
                    .ok_or_else(|| bad(&format!("a whole number from 2 to {MAX_BINS}")))?
                    as usize
            }
            other => {
                return Err(SqlStateError::bad_argument(format!(
                    "{NAME}: unknown option {other}; valid options are psi_threshold, p_threshold, bins"
                )));
            }
        }
    }
    Ok(t)
}

#[derive(Debug)]
pub struct DriftUdtf {
    store: Arc<dyn ModelStore>,
}

impl DriftUdtf {
    pub fn new(services: &Services) -> Self {
        DriftUdtf {
            store: services.models.clone(),
        }
    }
}

impl TableFunctionSpec for DriftUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        Param::model_or_relation(
            "model",
            "A model reference in quotes ('churn', 'churn@3'): compare with its training profile. Or a relation (bare table name, parenthesized subquery, or a query in quotes): the reference data.",
        ),
        Param::relation(
            "current_relation",
            "The rows to check: a table name, a parenthesized subquery, or text holding a name or a query.",
        ),
        Param::named("psi_threshold", "Optional: PSI above this is drift (default 0.2)."),
        Param::named("p_threshold", "Optional: a test p-value below this is drift (default 0.01)."),
        Param::named("bins", "Optional: quantile bins for numeric PSI (default 10)."),
    ])
    .with_usage(
        "(model, relation) or (reference_relation, current_relation), options as name => value",
    );

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Drift and monitoring", description: None },
            "Drift of every feature, one row per feature and test: against a model, the current rows of the relation are compared with the training profile stored with the model version (no training data needed), and the model's predictions on them with its predictions at training (feature 'prediction'); given two relations, every column of the first that the second also has is compared. Numbers (and times, as epoch seconds) get psi (drifted when above psi_threshold) and ks (value = D, p_value from the two-sample KS test, drifted when p_value < p_threshold); text and booleans get chi2 (value = the statistic) and psi over the reference's 100 most frequent categories plus 'other'. Against a profile, numbers with more than 1000 distinct training values are compared with a 1001-quantile summary, so KS is accurate to about 0.001 in D. NULL and NaN values are ignored. A first argument in quotes is a model reference; pass a bare table name or a query to compare two relations. Errors: 42704 unknown model; 22023 for a relation without a feature of the model, no common columns, or a bad option.",
            "SELECT * FROM ml_drift(model | reference_relation, current_relation [, psi_threshold => 0.2, p_threshold => 0.01, bins => 10])",
        )
        .with_sql_example(
r#"```sql
> SELECT feature, metric, round(value, 3) AS value, drifted
  FROM ml_drift('churn', customers_recent) WHERE drifted ORDER BY feature, metric;
+---------------+--------+----------+---------+
| feature       | metric | value    | drifted |
+---------------+--------+----------+---------+
| age           | ks     | 0.2      | t       |
| age           | psi    | 0.255    | t       |
| monthly_fee   | ks     | 0.148    | t       |
| prediction    | ks     | 0.207    | t       |
| prediction    | psi    | 0.256    | t       |
| region        | chi2   | 2582.536 | t       |
| region        | psi    | 0.321    | t       |
| support_calls | ks     | 0.31     | t       |
| support_calls | psi    | 0.637    | t       |
+---------------+--------+----------+---------+
```"#,
        )
    }
}

/// A feature as the aggregate sees it: a number or text.
fn comparable(expr: Expr, kind: FeatureKind, data_type: &DataType) -> Expr {
    match kind {
        FeatureKind::Numeric => cast(expr, DataType::Float64),
        FeatureKind::Boolean | FeatureKind::Categorical => cast(expr, DataType::Utf8),
        FeatureKind::Temporal => {
            let tz = match data_type {
                DataType::Timestamp(_, tz) => tz.clone(),
                _ => None,
            };
            cast(
                cast(
                    cast(expr, DataType::Timestamp(TimeUnit::Second, tz)),
                    DataType::Int64,
                ),
                DataType::Float64,
            )
        }
    }
}

/// A call of the hidden aggregate on one compared column.
fn drift_call(value: Expr, config: String) -> Expr {
    AggregateUDF::new_from_impl(DriftUdaf::new(NAME)).call(vec![value, column(SIDE), lit(config)])
}

impl DriftUdtf {
    /// Features of a model against its training profile.
    fn against_model(
        &self,
        config: &datafusion::config::ConfigOptions,
        reference: &str,
        input: LogicalPlan,
        t: &Thresholds,
    ) -> Result<(LogicalPlanBuilder, Vec<Expr>)> {
        let pinned = self.store.resolve(reference).map_err(|e| {
            // Quoted text names a model here; say how to pass a table.
            e.with_hint(format!(
                "to compare two relations, give the first as a bare name or a query: \
                     ml_drift({reference}, ...) or ml_drift('SELECT * FROM {reference}', ...)"
            ))
        })?;
        self.store.authorize_read(config, &pinned)?;
        let model = self.store.load(&pinned)?;
        let profile = self.store.profile(&pinned)?;
        let profiles = profile
            .get("features")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let columns = feature_columns(NAME, &pinned, &model, &input)?;
        let schema = input.schema().clone();
        let mut aggregates = Vec::new();
        let mut projection: Vec<Expr> = Vec::new();
        for (i, (feature, expr)) in columns.iter().enumerate() {
            let feature_profile = profiles
                .iter()
                .find(|p| p.get("name").and_then(Json::as_str) == Some(feature.name.as_str()));
            let Some(feature_profile) = feature_profile else {
                continue;
            };
            // Compared in the form the profile kept: booleans as 0/1.
            let kind = match feature.kind {
                FeatureKind::Boolean => FeatureKind::Numeric,
                kind => kind,
            };
            let data_type = expr.get_type(&schema)?;
            let alias = format!("__quarry_f{i}");
            projection.push(comparable(expr.clone(), kind, &data_type).alias(&alias));
            aggregates.push(drift_call(
                column(&alias),
                Config::json(&feature.name, t, Some(feature_profile)),
            ));
        }
        // The predictions, in the form the profile kept: the positive-class
        // probability of a binary classifier, else the prediction.
        if let Some(prediction_profile) = profile
            .get("prediction")
            .filter(|p| p.get("kind").is_some())
        {
            let binary = model.task() == Task::Classification
                && model
                    .envelope
                    .label
                    .as_ref()
                    .is_some_and(|l| l.classes.len() == 2);
            let scorer = if binary {
                udf::<PredictProbaUdf>(&self.store)
            } else {
                udf::<PredictUdf>(&self.store)
            };
            let prediction = scorer.call(scoring_args(&pinned, &columns));
            let prediction = match prediction_profile.get("kind").and_then(Json::as_str) {
                Some("numeric") => cast(prediction, DataType::Float64),
                _ => cast(prediction, DataType::Utf8),
            };
            projection.push(prediction.alias("__quarry_prediction"));
            aggregates.push(drift_call(
                column("__quarry_prediction"),
                Config::json("prediction", t, Some(prediction_profile)),
            ));
        }
        projection.push(lit(true).alias(SIDE));
        Ok((
            LogicalPlanBuilder::from(input).project(projection)?,
            aggregates,
        ))
    }

    /// Columns of two relations.
    fn two_relations(
        &self,
        reference: LogicalPlan,
        current: LogicalPlan,
        t: &Thresholds,
    ) -> Result<(LogicalPlanBuilder, Vec<Expr>)> {
        let (ref_schema, cur_schema) = (reference.schema().clone(), current.schema().clone());
        let mut left = Vec::new();
        let mut right = Vec::new();
        let mut aggregates = Vec::new();
        for (i, field) in ref_schema.fields().iter().enumerate() {
            let name = field.name();
            if field.name().starts_with("__quarry") {
                continue;
            }
            let Some(other) = find_column(&current, name) else {
                continue;
            };
            let other_type = other.get_type(&cur_schema)?;
            let (Some(a), Some(b)) = (
                FeatureKind::of(field.data_type()),
                FeatureKind::of(&other_type),
            ) else {
                continue;
            };
            // Both sides must be compared in one form.
            let kind = if a == b { a } else { FeatureKind::Categorical };
            let alias = format!("__quarry_f{i}");
            let (qualifier, _) = ref_schema.qualified_field(i);
            left.push(
                comparable(
                    Expr::Column(Column::new(qualifier.cloned(), name)),
                    kind,
                    field.data_type(),
                )
                .alias(&alias),
            );
            right.push(comparable(other, kind, &other_type).alias(&alias));
            aggregates.push(drift_call(column(&alias), Config::json(name, t, None)));
        }
        if aggregates.is_empty() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: the two relations have no column in common that can be compared (numbers, text, booleans, times)"
            ))
            .into_df());
        }
        left.push(lit(false).alias(SIDE));
        right.push(lit(true).alias(SIDE));
        let right = LogicalPlanBuilder::from(current).project(right)?.build()?;
        let plan = LogicalPlanBuilder::from(reference)
            .project(left)?
            .union(right)?;
        Ok((plan, aggregates))
    }
}

impl RelationFunction for DriftUdtf {
    fn plan(&self, mut args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let t = thresholds(&args.named)?;
        if args.len() != 2 {
            return Err(args.usage_error());
        }
        let current = args.relation(1)?;
        let (plan, aggregates) = match args.take(0) {
            Some(Arg::Value(model)) => self.against_model(
                ctx.context_provider().options(),
                &model_text(NAME, 1, &model)?,
                current,
                &t,
            )?,
            Some(Arg::Relation(reference)) => self.two_relations(reference, current, &t)?,
            None => return Err(args.usage_error()),
        };
        let names: Vec<String> = (0..aggregates.len())
            .map(|i| format!("__quarry_d{i}"))
            .collect();
        let aggregates: Vec<Expr> = aggregates
            .into_iter()
            .zip(&names)
            .map(|(a, n)| a.alias(n))
            .collect();
        let lists: Vec<Expr> = names.iter().map(|n| column(n)).collect();
        let plan = plan
            .aggregate(Vec::<Expr>::new(), aggregates)?
            .project(vec![array_concat(lists).alias(LIST_COLUMN)])?;
        list_rows(
            plan,
            None,
            &[
                "feature",
                "metric",
                "value",
                "p_value",
                "threshold",
                "drifted",
            ],
        )
    }
}
