//! `SELECT * FROM ml_fairness(model, relation, group_col)`: a binary
//! classifier's outcomes per group and their parity with the best group.
//!
//! Per group: n, positive_rate (share predicted positive), tpr, fpr,
//! precision; against the best group (highest positive rate, TPR and
//! precision; lowest FPR): positive_rate_ratio (disparate impact),
//! positive_rate_diff (statistical parity difference), tpr_ratio, tpr_diff
//! (equal opportunity), fpr_diff, precision_ratio, and
//! four_fifths_violation = positive_rate_ratio < 0.8 (the EEOC 4/5 rule).
//! Planned as ordinary aggregates over the relation.

use std::sync::Arc;

use datafusion::common::Column;
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::nullif;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, Expr, LogicalPlan, LogicalPlanBuilder, lit,
};
use datafusion::scalar::ScalarValue;

use crate::error::SqlStateError;
use crate::functions::evaluation::evaluate::{model_text, segment_group};
use crate::functions::evaluation::outputs;
use crate::functions::relation::{Arg, Call, RelationFunction};
use crate::kernels::bootstrap::Kind;
use crate::model::ModelStore;

pub const NAME: &str = "ml_fairness";

#[derive(Debug)]
pub struct Fairness {
    store: Arc<dyn ModelStore>,
}

impl Fairness {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        Fairness { store }
    }

    pub fn documentation() -> Documentation {
        Documentation::builder(
            DocSection { include: true, label: "Evaluation", description: None },
            "Group fairness of a binary classifier on labelled rows. Per value of group_col: n, positive_rate (share predicted positive), tpr, fpr, precision; compared with the best group (highest positive rate, TPR, precision; lowest FPR): positive_rate_ratio (disparate impact), positive_rate_diff (statistical parity difference), tpr_ratio and tpr_diff (equal opportunity), fpr_diff, precision_ratio, and four_fifths_violation (positive_rate_ratio below 0.8, the 4/5 rule). A rate with no rows to divide by (no positives for TPR) is NULL. Errors: 42704 unknown model; 22023 for a model that is not a binary classifier, a relation without the label, a feature or group_col.",
            "SELECT * FROM ml_fairness(model, relation, group_col)",
        )
        .with_sql_example(
            "```sql\n> SELECT region, n, round(positive_rate, 3) AS rate, round(positive_rate_ratio, 2) AS ratio, four_fifths_violation\n  FROM ml_fairness('churn', customers_recent, 'region') ORDER BY region LIMIT 2;\n+---------+------+-------+-------+-----------------------+\n| region  | n    | rate  | ratio | four_fifths_violation |\n+---------+------+-------+-------+-----------------------+\n| central | 2003 | 0.093 | 0.81  | false                 |\n| east    | 1987 | 0.081 | 0.71  | true                  |\n+---------+------+-------+-------+-----------------------+\n```",
        )
        .with_argument("model", "A binary classifier: 'name', 'name@3' or 'name@alias'.")
        .with_argument("relation", "Labelled rows: a table name, a parenthesized subquery, or text holding a name or a query.")
        .with_argument("group_col", "The column whose values are the groups, as text: 'region'.")
        .build()
    }
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// `a / b`, NULL when b is 0.
fn share(a: Expr, b: Expr) -> Expr {
    a / nullif(b, lit(0.0))
}

impl RelationFunction for Fairness {
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
            SqlStateError::bad_argument(format!("{NAME}: expected (model, relation, group_col)"))
                .into_df()
        };
        if let Some((name, _)) = call.named.first() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: unknown named argument {name}; it takes (model, relation, group_col)"
            ))
            .into_df());
        }
        let mut args = call.args.into_iter();
        let (reference, input, group) = match (args.next(), args.next(), args.next(), args.next()) {
            (Some(Arg::Value(m)), Some(Arg::Relation(r)), Some(Arg::Value(g)), None) => {
                let group = match g {
                    Expr::Literal(
                        ScalarValue::Utf8(Some(s))
                        | ScalarValue::Utf8View(Some(s))
                        | ScalarValue::LargeUtf8(Some(s)),
                        _,
                    ) => s,
                    _ => {
                        return Err(SqlStateError::bad_argument(format!(
                            "{NAME}: group_col must be a column name as text, e.g. 'region'"
                        ))
                        .into_df());
                    }
                };
                (
                    model_text(NAME, 1, &m).map_err(SqlStateError::into_df)?,
                    r,
                    group,
                )
            }
            _ => return Err(usage()),
        };
        let (out, _) = outputs(NAME, self.store.as_ref(), ctx, &reference, &input)?;
        if out.kind != Kind::Binary {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: model {} is not a binary classifier; fairness compares positive predictions",
                out.pinned
            ))
            .into_df());
        }
        let grouping = segment_group(NAME, &input, Some(&group)).map_err(SqlStateError::into_df)?;
        let (y, p) = (out.y, out.prediction);
        let rates = LogicalPlanBuilder::from(input)
            .filter(out.labelled)?
            .aggregate(
                grouping,
                vec![
                    count(lit(1)).alias("n"),
                    sum(p.clone()).alias("__predicted"),
                    sum(y.clone()).alias("__positives"),
                    sum(p.clone() * y.clone()).alias("__tp"),
                    sum((lit(1.0) - y.clone()) * p).alias("__fp"),
                    sum(lit(1.0) - y).alias("__negatives"),
                ],
            )?
            .project(vec![
                column(&group),
                column("n"),
                share(column("__predicted"), cast_double(column("n"))).alias("positive_rate"),
                share(column("__tp"), column("__positives")).alias("tpr"),
                share(column("__fp"), column("__negatives")).alias("fpr"),
                share(column("__tp"), column("__predicted")).alias("precision"),
            ])?
            .build()?;
        let best = LogicalPlanBuilder::from(rates.clone())
            .aggregate(
                Vec::<Expr>::new(),
                vec![
                    max(column("positive_rate")).alias("__best_rate"),
                    max(column("tpr")).alias("__best_tpr"),
                    min(column("fpr")).alias("__best_fpr"),
                    max(column("precision")).alias("__best_precision"),
                ],
            )?
            .build()?;
        let ratio = share(column("positive_rate"), column("__best_rate"));
        LogicalPlanBuilder::from(rates)
            .cross_join(best)?
            .project(vec![
                column(&group),
                column("n"),
                column("positive_rate"),
                column("tpr"),
                column("fpr"),
                column("precision"),
                ratio.clone().alias("positive_rate_ratio"),
                (column("positive_rate") - column("__best_rate")).alias("positive_rate_diff"),
                share(column("tpr"), column("__best_tpr")).alias("tpr_ratio"),
                (column("tpr") - column("__best_tpr")).alias("tpr_diff"),
                (column("fpr") - column("__best_fpr")).alias("fpr_diff"),
                share(column("precision"), column("__best_precision")).alias("precision_ratio"),
                ratio.lt(lit(0.8)).alias("four_fifths_violation"),
            ])?
            .build()
    }
}

fn cast_double(e: Expr) -> Expr {
    datafusion::logical_expr::cast(e, datafusion::arrow::datatypes::DataType::Float64)
}
