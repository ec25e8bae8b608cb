//! `SELECT * FROM ml_residuals(model, relation, segment_col)`: where a
//! model is biased. Per segment: n, mean_residual (mean of y − prediction;
//! for a binary classifier y − probability), rmse, and flag: the mean
//! residual is more than two standard errors from zero (about 95%).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Column;
use datafusion::error::Result;
use datafusion::functions::math::expr_fn::{abs, sqrt};
use datafusion::functions_aggregate::expr_fn::{avg, count, stddev};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, Expr, LogicalPlan, LogicalPlanBuilder, cast, lit,
};
use datafusion::scalar::ScalarValue;

use crate::error::SqlStateError;
use crate::functions::evaluation::evaluate::{model_text, segment_group};
use crate::functions::evaluation::outputs;
use crate::functions::relation::{Arg, Call, RelationFunction};
use crate::kernels::bootstrap::Kind;
use crate::model::ModelStore;

pub const NAME: &str = "ml_residuals";

#[derive(Debug)]
pub struct Residuals {
    store: Arc<dyn ModelStore>,
}

impl Residuals {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        Residuals { store }
    }

    pub fn documentation() -> Documentation {
        Documentation::builder(
            DocSection { include: true, label: "Evaluation", description: None },
            "Residual analysis per segment: n, mean_residual (mean of label − prediction; for a binary classifier label (0/1) − probability, so a positive value means the model under-predicts), rmse, and flag = |mean_residual| > 2 · stddev / sqrt(n) (the segment's bias is more than two standard errors from zero). Errors: 42704 unknown model; 22023 for a multi-class or unlabelled model, or a relation without the label, a feature or segment_col.",
            "SELECT * FROM ml_residuals(model, relation, segment_col)",
        )
        .with_sql_example(
            "```sql\n> SELECT neighborhood, n, round(mean_residual) AS bias, round(rmse) AS rmse, flag\n  FROM ml_residuals('price', house_prices, 'neighborhood') WHERE flag LIMIT 1;\n+--------------+-----+-------+-------+------+\n| neighborhood | n   | bias  | rmse  | flag |\n+--------------+-----+-------+-------+------+\n| riverside    | 412 | 18211 | 40533 | true |\n+--------------+-----+-------+-------+------+\n```",
        )
        .with_argument("model", "A regressor or binary classifier: 'name', 'name@3' or 'name@alias'.")
        .with_argument("relation", "Labelled rows: a table name, a parenthesized subquery, or text holding a name or a query.")
        .with_argument("segment_col", "The column whose values are the segments, as text.")
        .build()
    }
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

impl RelationFunction for Residuals {
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
            SqlStateError::bad_argument(format!("{NAME}: expected (model, relation, segment_col)"))
                .into_df()
        };
        if let Some((name, _)) = call.named.first() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: unknown named argument {name}; it takes (model, relation, segment_col)"
            ))
            .into_df());
        }
        let mut args = call.args.into_iter();
        let (reference, input, segment) = match (args.next(), args.next(), args.next(), args.next())
        {
            (Some(Arg::Value(m)), Some(Arg::Relation(r)), Some(Arg::Value(s)), None) => {
                let segment = match s {
                    Expr::Literal(
                        ScalarValue::Utf8(Some(s))
                        | ScalarValue::Utf8View(Some(s))
                        | ScalarValue::LargeUtf8(Some(s)),
                        _,
                    ) => s,
                    _ => {
                        return Err(SqlStateError::bad_argument(format!(
                            "{NAME}: segment_col must be a column name as text, e.g. 'region'"
                        ))
                        .into_df());
                    }
                };
                (
                    model_text(NAME, 1, &m).map_err(SqlStateError::into_df)?,
                    r,
                    segment,
                )
            }
            _ => return Err(usage()),
        };
        let (out, _) = outputs(NAME, self.store.as_ref(), ctx, &reference, &input)?;
        let residual = match out.kind {
            Kind::Regression => out.y - out.prediction,
            Kind::Binary => out.y - out.score,
            Kind::Multiclass => {
                return Err(SqlStateError::bad_argument(format!(
                    "{NAME}: model {} is multi-class; residuals need a number or a positive-class probability",
                    out.pinned
                ))
                .into_df());
            }
        };
        let grouping =
            segment_group(NAME, &input, Some(&segment)).map_err(SqlStateError::into_df)?;
        LogicalPlanBuilder::from(input)
            .filter(out.labelled.and(residual.clone().is_not_null()))?
            .aggregate(
                grouping,
                vec![
                    count(lit(1)).alias("n"),
                    avg(residual.clone()).alias("mean_residual"),
                    avg(residual.clone() * residual.clone()).alias("__mse"),
                    stddev(residual).alias("__sd"),
                ],
            )?
            .project(vec![
                column(&segment),
                column("n"),
                column("mean_residual"),
                sqrt(column("__mse")).alias("rmse"),
                datafusion::functions::core::expr_fn::coalesce(vec![
                    abs(column("mean_residual"))
                        .gt(lit(2.0) * column("__sd") / sqrt(cast(column("n"), DataType::Float64))),
                    lit(false),
                ])
                .alias("flag"),
            ])?
            .build()
    }
}
