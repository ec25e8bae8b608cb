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

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::nullif;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, Expr, LogicalPlan, LogicalPlanBuilder, cast,
    lit,
};

use super::{LABELLED, model_relation_column, outputs, segment_group};
use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, Param, Params};
use crate::functions::relation::{RelationFunction, column};
use crate::kernels::bootstrap::Kind;
use crate::model::ModelStore;

pub const NAME: &str = "ml_fairness";

#[derive(Debug)]
pub struct FairnessUdtf {
    store: Arc<dyn ModelStore>,
}

impl FairnessUdtf {
    pub fn new(services: &Services) -> Self {
        FairnessUdtf {
            store: services.models.clone(),
        }
    }
}

impl TableFunctionSpec for FairnessUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        Param::model(
            "model",
            "A binary classifier: 'name', 'name@3' or 'name@alias'.",
        ),
        LABELLED,
        Param::value(
            "group_col",
            "The column whose values are the groups, as text: 'region'.",
        ),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Evaluation", description: None },
            "Group fairness of a binary classifier on labelled rows. Per value of group_col: n, positive_rate (share predicted positive), tpr, fpr, precision; compared with the best group (highest positive rate, TPR, precision; lowest FPR): positive_rate_ratio (disparate impact), positive_rate_diff (statistical parity difference), tpr_ratio and tpr_diff (equal opportunity), fpr_diff, precision_ratio, and four_fifths_violation (positive_rate_ratio below 0.8, the 4/5 rule). A rate with no rows to divide by (no positives for TPR) is NULL. Errors: 42704 unknown model; 22023 for a model that is not a binary classifier, a relation without the label, a feature or group_col.",
            "SELECT * FROM ml_fairness(model, relation, group_col)",
        )
        .with_sql_example(
r#"```sql
> SELECT region, n, round(positive_rate, 3) AS rate, round(positive_rate_ratio, 2) AS ratio, four_fifths_violation
  FROM ml_fairness('churn', customers_recent, 'region') ORDER BY region LIMIT 2;
+---------+------+-------+-------+-----------------------+
| region  | n    | rate  | ratio | four_fifths_violation |
+---------+------+-------+-------+-----------------------+
| central | 3490 | 0.1   | 0.98  | f                     |
| east    | 1973 | 0.092 | 0.9   | f                     |
+---------+------+-------+-------+-----------------------+
```"#,
        )
    }
}

/// `a / b`, NULL when b is 0.
fn share(a: Expr, b: Expr) -> Expr {
    a / nullif(b, lit(0.0))
}

impl RelationFunction for FairnessUdtf {
    fn plan(&self, mut args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let (reference, input, group) = model_relation_column(NAME, "group_col", &mut args)?;
        let (out, _) = outputs(NAME, &self.store, &reference, &input)?;
        if out.kind != Kind::Binary {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: model {} is not a binary classifier; fairness compares positive predictions",
                out.pinned
            ))
            .into_df());
        }
        let grouping = segment_group(NAME, &input, Some(&group))?;
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
                share(column("__predicted"), cast(column("n"), DataType::Float64))
                    .alias("positive_rate"),
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
