//! `SELECT * FROM ml_compare(model_a, model_b, relation [, options])`: two
//! models on the same labelled rows, paired.
//!
//! Output: metric, a, b, diff (b − a), ci (bootstrap interval of the
//! difference, as [lower, upper]), p_value (two-sided: DeLong's test for
//! roc_auc, the paired bootstrap for the others). A `sql_rule` heuristic
//! against a learned model is one call.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{DocSection, Documentation, LogicalPlan, LogicalPlanBuilder};

use crate::error::SqlStateError;
use crate::functions::evaluation::evaluate::{
    METRIC_COLUMN, metric_rows, model_text, read_options, segment_group,
};
use crate::functions::evaluation::{bootstrap_call, outputs};
use crate::functions::relation::{Arg, Call, RelationFunction};
use crate::model::ModelStore;

pub const NAME: &str = "ml_compare";

#[derive(Debug)]
pub struct Compare {
    store: Arc<dyn ModelStore>,
}

impl Compare {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        Compare { store }
    }

    pub fn documentation() -> Documentation {
        Documentation::builder(
            DocSection { include: true, label: "Evaluation", description: None },
            "Two models with the same label on the same rows: per metric (as ml_evaluate) the value of each, diff = b − a, ci = the paired bootstrap interval of the difference [lower, upper], and a two-sided p-value for \"no difference\": DeLong's test for roc_auc, the paired bootstrap (twice the smaller share of resampled differences on one side of 0) for the others. Identical models give diff 0 and p 1. Options as ml_evaluate (ci, bootstrap, seed, by). Errors: 42704 unknown model; 22023 when the models have different labels or tasks, or the relation lacks the label or a feature of either; 0A000 for models without a label.",
            "SELECT * FROM ml_compare(model_a, model_b, relation [, options])",
        )
        .with_sql_example(
            "```sql\n> SELECT metric, round(a, 3) AS rule, round(b, 3) AS gbdt, round(diff, 3) AS diff, p_value\n  FROM ml_compare('calls_rule', 'churn', customers_recent) WHERE metric = 'roc_auc';\n+---------+-------+-------+-------+-----------------------+\n| metric  | rule  | gbdt  | diff  | p_value               |\n+---------+-------+-------+-------+-----------------------+\n| roc_auc | 0.612 | 0.772 | 0.16  | 1.2e-95               |\n+---------+-------+-------+-------+-----------------------+\n```",
        )
        .with_argument("model_a", "The reference model (often a sql_rule heuristic or the production version).")
        .with_argument("model_b", "The challenger, with the same label as model_a.")
        .with_argument("relation", "Labelled rows holding both models' features and the label.")
        .with_argument("options", "Optional JSON object or named arguments: ci, bootstrap, seed, by.")
        .build()
    }
}

impl RelationFunction for Compare {
    fn docs(&self) -> Documentation {
        Self::documentation()
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn is_relation(&self, position: usize) -> bool {
        position == 2
    }

    fn plan(&self, call: Call, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let usage = || {
            SqlStateError::bad_argument(format!(
                "{NAME}: expected (model_a, model_b, relation [, options])"
            ))
            .into_df()
        };
        let mut args = call.args.into_iter();
        let (a, b, input) = match (args.next(), args.next(), args.next()) {
            (Some(Arg::Value(a)), Some(Arg::Value(b)), Some(Arg::Relation(r))) => (
                model_text(NAME, 1, &a).map_err(SqlStateError::into_df)?,
                model_text(NAME, 2, &b).map_err(SqlStateError::into_df)?,
                r,
            ),
            _ => return Err(usage()),
        };
        let json = match (args.next(), args.next()) {
            (None, None) => None,
            (Some(Arg::Value(e)), None) => Some(e),
            _ => return Err(usage()),
        };
        let options =
            read_options(NAME, &call.named, json.as_ref()).map_err(SqlStateError::into_df)?;
        let (out_a, _) = outputs(NAME, self.store.as_ref(), ctx, &a, &input)?;
        let (out_b, _) = outputs(NAME, self.store.as_ref(), ctx, &b, &input)?;
        if out_a.kind != out_b.kind || !out_a.label.eq_ignore_ascii_case(&out_b.label) {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: models {} ({} of {}) and {} ({} of {}) do not predict the same thing",
                out_a.pinned,
                crate::functions::evaluation::kind_name(out_a.kind),
                out_a.label,
                out_b.pinned,
                crate::functions::evaluation::kind_name(out_b.kind),
                out_b.label
            ))
            .into_df());
        }
        let group =
            segment_group(NAME, &input, options.by.as_deref()).map_err(SqlStateError::into_df)?;
        let aggregate = bootstrap_call(
            ctx,
            out_a.kind,
            &options,
            vec![
                out_a.y,
                out_a.prediction,
                out_a.score,
                out_b.prediction,
                out_b.score,
            ],
        )?
        .alias(METRIC_COLUMN);
        let plan = LogicalPlanBuilder::from(input)
            .filter(out_a.labelled)?
            .aggregate(group, vec![aggregate])?;
        metric_rows(
            plan,
            options.by.as_deref(),
            &["metric", "a", "b", "diff", "ci", "p_value"],
        )
    }
}
