//! `SELECT * FROM ml_evaluate(model, relation [, options])`: a model's
//! metrics on labelled rows, each with a bootstrap confidence interval.
//!
//! Output: metric, value, ci_lower, ci_upper (and the `by` column first when
//! segments are asked for). Options, as named arguments or a JSON object:
//! `ci` (0.95), `bootstrap` (1000 resamples; 0 = no intervals), `seed` (42),
//! `by` (a column: one set of metrics per value).

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, LogicalPlan, LogicalPlanBuilder,
};

use super::bootstrap::bootstrap_call;
use super::{LABELLED, outputs, read_options, segment_group};
use crate::Services;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, MODEL, Param, Params};
use crate::functions::relation::{LIST_COLUMN, RelationFunction, list_rows};
use crate::model::ModelStore;

pub const NAME: &str = "ml_evaluate";

#[derive(Debug)]
pub struct EvaluateUdtf {
    store: Arc<dyn ModelStore>,
}

impl EvaluateUdtf {
    pub fn new(services: &Services) -> Self {
        EvaluateUdtf {
            store: services.models.clone(),
        }
    }
}

impl TableFunctionSpec for EvaluateUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        MODEL,
        LABELLED,
        Param::value(
            "options",
            "Optional JSON object, e.g. '{\"ci\":0.9,\"bootstrap\":2000,\"by\":\"region\"}'; or the named arguments ci =>, bootstrap =>, seed =>, by =>.",
        )
        .optional(),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Evaluation", description: None },
            "A model's metrics on the labelled rows of a table or query (the relation must hold the model's label column and features), each with a percentile bootstrap confidence interval: binary classifiers accuracy, precision, recall, f1, roc_auc, pr_auc, log_loss, brier (same definitions as the metric aggregates, threshold 0.5); multi-class accuracy; regressors rmse, mae, mape, r2. Rows with a NULL label are skipped. Resamples draw every row with replacement and are computed in one pass each over rows sorted once by score, on the session's threads; the same seed gives the same intervals. Options (named arguments or a JSON object as third argument): ci (default 0.95), bootstrap (default 1000; 0 for no intervals), seed (42), by (a column: metrics per segment, the column comes first in the output). Errors: 42704 unknown model; 0A000 for models without a label (kmeans, isolation_forest without label); 22023 for a relation without the label or a feature, an unknown option or a bad value.",
            "SELECT * FROM ml_evaluate(model, relation [, options])",
        )
        .with_sql_example(
r#"```sql
> SELECT metric, round(value, 3) AS value, round(ci_lower, 3) AS lo, round(ci_upper, 3) AS hi
  FROM ml_evaluate('churn', customers_recent, bootstrap => 500) WHERE metric IN ('roc_auc', 'f1');
+---------+-------+-------+-------+
| metric  | value | lo    | hi    |
+---------+-------+-------+-------+
| f1      | 0.346 | 0.321 | 0.368 |
| roc_auc | 0.756 | 0.743 | 0.766 |
+---------+-------+-------+-------+
```"#,
        )
    }
}

impl RelationFunction for EvaluateUdtf {
    fn plan(&self, mut args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        if args.len() < 2 {
            return Err(args.usage_error());
        }
        let reference = args.model(0)?;
        let input = args.relation(1)?;
        args.at_most(3)?;
        let json = args.value(2);
        let options = read_options(NAME, &args.named, json.as_ref())?;
        let (out, _model) = outputs(NAME, &self.store, &reference, &input)?;
        let group = segment_group(NAME, &input, options.by.as_deref())?;
        let aggregate = bootstrap_call(
            ctx,
            out.kind,
            &options,
            vec![out.y, out.prediction, out.score],
        )?
        .alias(LIST_COLUMN);
        let plan = LogicalPlanBuilder::from(input)
            .filter(out.labelled)?
            .aggregate(group, vec![aggregate])?;
        list_rows(
            plan,
            options.by.as_deref(),
            &["metric", "value", "ci_lower", "ci_upper"],
        )
    }
}
