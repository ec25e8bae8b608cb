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
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, LogicalPlan, LogicalPlanBuilder,
};

use super::bootstrap::bootstrap_call;
use super::{kind_name, outputs, read_options, segment_group};
use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, Param, Params};
use crate::functions::relation::{LIST_COLUMN, RelationFunction, list_rows};
use crate::model::ModelStore;

pub const NAME: &str = "ml_compare";

#[derive(Debug)]
pub struct CompareUdtf {
    store: Arc<dyn ModelStore>,
}

impl CompareUdtf {
    pub fn new(services: &Services) -> Self {
        CompareUdtf {
            store: services.models.clone(),
        }
    }
}

impl TableFunctionSpec for CompareUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        Param::model(
            "model_a",
            "The reference model (often a sql_rule heuristic or the production version).",
        ),
        Param::model("model_b", "The challenger, with the same label as model_a."),
        Param::relation(
            "relation",
            "Labelled rows holding both models' features and the label.",
        ),
        Param::value(
            "options",
            "Optional JSON object or named arguments: ci, bootstrap, seed, by.",
        )
        .optional(),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Evaluation", description: None },
            "Two models with the same label on the same rows: per metric (as ml_evaluate) the value of each, diff = b − a, ci = the paired bootstrap interval of the difference [lower, upper], and a two-sided p-value for \"no difference\": DeLong's test for roc_auc, the paired bootstrap (twice the smaller share of resampled differences on one side of 0) for the others. Identical models give diff 0 and p 1. Options as ml_evaluate (ci, bootstrap, seed, by). Errors: 42704 unknown model; 22023 when the models have different labels or tasks, or the relation lacks the label or a feature of either; 0A000 for models without a label.",
            "SELECT * FROM ml_compare(model_a, model_b, relation [, options])",
        )
        .with_sql_example(
r#"```sql
> SELECT metric, round(a, 3) AS rule, round(b, 3) AS gbdt, round(diff, 3) AS diff, p_value
  FROM ml_compare('calls_rule', 'churn', customers_recent) WHERE metric = 'roc_auc';
+---------+-------+-------+-------+-----------------------+
| metric  | rule  | gbdt  | diff  | p_value               |
+---------+-------+-------+-------+-----------------------+
| roc_auc | 0.692 | 0.756 | 0.064 | 5.103775833309251e-28 |
+---------+-------+-------+-------+-----------------------+
```"#,
        )
    }
}

impl RelationFunction for CompareUdtf {
    fn plan(&self, mut args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        if args.len() < 3 {
            return Err(args.usage_error());
        }
        let (a, b) = (args.model(0)?, args.model(1)?);
        let input = args.relation(2)?;
        args.at_most(4)?;
        let json = args.value(3);
        let options = read_options(NAME, &args.named, json.as_ref())?;
        let (out_a, _) = outputs(NAME, &self.store, &a, &input)?;
        let (out_b, _) = outputs(NAME, &self.store, &b, &input)?;
        if out_a.kind != out_b.kind || !out_a.label.eq_ignore_ascii_case(&out_b.label) {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: models {} ({} of {}) and {} ({} of {}) do not predict the same thing",
                out_a.pinned,
                kind_name(out_a.kind),
                out_a.label,
                out_b.pinned,
                kind_name(out_b.kind),
                out_b.label
            ))
            .into_df());
        }
        let group = segment_group(NAME, &input, options.by.as_deref())?;
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
        .alias(LIST_COLUMN);
        let plan = LogicalPlanBuilder::from(input)
            .filter(out_a.labelled)?
            .aggregate(group, vec![aggregate])?;
        list_rows(
            plan,
            options.by.as_deref(),
            &["metric", "a", "b", "diff", "ci", "p_value"],
        )
    }
}
