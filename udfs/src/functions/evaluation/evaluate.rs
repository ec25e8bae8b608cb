//! `SELECT * FROM ml_evaluate(model, relation [, options])`: a model's
//! metrics on labelled rows, each with a bootstrap confidence interval.
//!
//! Output: metric, value, ci_lower, ci_upper (and the `by` column first when
//! segments are asked for). Options, as named arguments or a JSON object:
//! `ci` (0.95), `bootstrap` (1000 resamples; 0 = no intervals), `seed` (42),
//! `by` (a column: one set of metrics per value).

use std::sync::Arc;

use datafusion::common::Column;
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{DocSection, Documentation, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::scalar::ScalarValue;

use crate::error::SqlStateError;
use crate::functions::evaluation::{Options, bootstrap_call, outputs};
use crate::functions::relation::{Arg, Call, RelationFunction, find_column};
use crate::model::ModelStore;

pub const NAME: &str = "ml_evaluate";
const METRICS: &str = "__quarry_metrics";

#[derive(Debug)]
pub struct Evaluate {
    store: Arc<dyn ModelStore>,
}

impl Evaluate {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        Evaluate { store }
    }

    pub fn documentation() -> Documentation {
        Documentation::builder(
            DocSection { include: true, label: "Evaluation", description: None },
            "A model's metrics on the labelled rows of a table or query (the relation must hold the model's label column and features), each with a percentile bootstrap confidence interval: binary classifiers accuracy, precision, recall, f1, roc_auc, pr_auc, log_loss, brier (same definitions as the metric aggregates, threshold 0.5); multi-class accuracy; regressors rmse, mae, mape, r2. Rows with a NULL label are skipped. Resamples draw every row with replacement and are computed in one pass each over rows sorted once by score, on the session's threads; the same seed gives the same intervals. Options (named arguments or a JSON object as third argument): ci (default 0.95), bootstrap (default 1000; 0 for no intervals), seed (42), by (a column: metrics per segment, the column comes first in the output). Errors: 42704 unknown model; 0A000 for models without a label (kmeans, isolation_forest without label); 22023 for a relation without the label or a feature, an unknown option or a bad value.",
            "SELECT * FROM ml_evaluate(model, relation [, options])",
        )
        .with_sql_example(
            "```sql\n> SELECT metric, round(value, 3) AS value, round(ci_lower, 3) AS lo, round(ci_upper, 3) AS hi\n  FROM ml_evaluate('churn', customers_recent, bootstrap => 500) WHERE metric IN ('roc_auc', 'f1');\n+---------+-------+-------+-------+\n| metric  | value | lo    | hi    |\n+---------+-------+-------+-------+\n| f1      | 0.231 | 0.207 | 0.256 |\n| roc_auc | 0.772 | 0.763 | 0.781 |\n+---------+-------+-------+-------+\n```",
        )
        .with_argument("model", "Model reference: 'name', 'name@3' or 'name@alias'.")
        .with_argument("relation", "Labelled rows: a table name, a parenthesized subquery, or text holding a name or a query.")
        .with_argument("options", "Optional JSON object, e.g. '{\"ci\":0.9,\"bootstrap\":2000,\"by\":\"region\"}'; or the named arguments ci =>, bootstrap =>, seed =>, by =>.")
        .build()
    }
}

/// Named arguments and an optional JSON options argument.
pub fn read_options(
    function: &str,
    named: &[(String, Expr)],
    json: Option<&Expr>,
) -> Result<Options, SqlStateError> {
    let mut options = Options::default();
    if let Some(expr) = json {
        match expr {
            Expr::Literal(
                ScalarValue::Utf8(Some(s))
                | ScalarValue::Utf8View(Some(s))
                | ScalarValue::LargeUtf8(Some(s)),
                _,
            ) => options.set_json(function, s)?,
            other => {
                return Err(SqlStateError::bad_argument(format!(
                    "{function}: options must be a JSON object in text, got {other}"
                )));
            }
        }
    }
    for (name, value) in named {
        match value {
            Expr::Literal(v, _) => options.set(function, &name.to_ascii_lowercase(), v)?,
            other => {
                return Err(SqlStateError::bad_argument(format!(
                    "{function}: {name} must be a constant, got {other}"
                )));
            }
        }
    }
    Ok(options)
}

pub fn model_text(function: &str, position: usize, expr: &Expr) -> Result<String, SqlStateError> {
    crate::functions::relation::text_literal(expr).map(str::to_string).ok_or_else(|| {
        SqlStateError::bad_argument(format!(
            "{function}: argument {position} (model) must be a text literal such as 'churn' or 'churn@2'"
        ))
    })
}

/// Unnests the metric list column into rows with the given struct fields,
/// after the optional segment column.
pub fn metric_rows(
    plan: LogicalPlanBuilder,
    segment: Option<&str>,
    fields: &[&str],
) -> Result<LogicalPlan> {
    let mut columns: Vec<Expr> = segment
        .map(|s| Expr::Column(Column::new_unqualified(s)))
        .into_iter()
        .collect();
    for field in fields {
        columns
            .push(get_field(Expr::Column(Column::new_unqualified(METRICS)), *field).alias(*field));
    }
    plan.unnest_column(METRICS)?.project(columns)?.build()
}

/// The grouping of the aggregate: the `by` column, when given.
pub fn segment_group(
    function: &str,
    input: &LogicalPlan,
    by: Option<&str>,
) -> Result<Vec<Expr>, SqlStateError> {
    match by {
        None => Ok(Vec::new()),
        Some(name) => find_column(input, name)
            .map(|c| vec![c.alias(name)])
            .ok_or_else(|| {
                SqlStateError::bad_argument(format!(
                    "{function}: by: the relation has no column {name}"
                ))
            }),
    }
}

pub const METRIC_COLUMN: &str = METRICS;

impl RelationFunction for Evaluate {
    fn docs(&self) -> Documentation {
        Self::documentation()
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn is_relation(&self, position: usize) -> bool {
        position == 1
    }

    fn plan(&self, call: Call, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let usage = || {
            SqlStateError::bad_argument(format!("{NAME}: expected (model, relation [, options])"))
                .into_df()
        };
        let mut args = call.args.into_iter();
        let (reference, input) = match (args.next(), args.next()) {
            (Some(Arg::Value(m)), Some(Arg::Relation(r))) => {
                (model_text(NAME, 1, &m).map_err(SqlStateError::into_df)?, r)
            }
            _ => return Err(usage()),
        };
        let json = match (args.next(), args.next()) {
            (None, None) => None,
            (Some(Arg::Value(e)), None) => Some(e),
            _ => return Err(usage()),
        };
        let options =
            read_options(NAME, &call.named, json.as_ref()).map_err(SqlStateError::into_df)?;
        let (out, _model) = outputs(NAME, self.store.as_ref(), ctx, &reference, &input)?;
        let group =
            segment_group(NAME, &input, options.by.as_deref()).map_err(SqlStateError::into_df)?;
        let aggregate = bootstrap_call(
            ctx,
            out.kind,
            &options,
            vec![out.y, out.prediction, out.score],
        )?
        .alias(METRICS);
        let plan = LogicalPlanBuilder::from(input)
            .filter(out.labelled)?
            .aggregate(group, vec![aggregate])?;
        metric_rows(
            plan,
            options.by.as_deref(),
            &["metric", "value", "ci_lower", "ci_upper"],
        )
    }
}
