//! `SELECT * FROM ml_residuals(model, relation, segment_col)`: where a
//! model is biased. Per segment: n, mean_residual (mean of y − prediction;
//! for a binary classifier y − probability), rmse, and flag: the mean
//! residual is more than two standard errors from zero (about 95%).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::coalesce;
use datafusion::functions::math::expr_fn::{abs, sqrt};
use datafusion::functions_aggregate::expr_fn::{avg, count, stddev};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, LogicalPlan, LogicalPlanBuilder, cast, lit,
};

use super::{LABELLED, model_relation_column, outputs, segment_group};
use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, Param, Params};
use crate::functions::relation::{RelationFunction, column};
use crate::kernels::bootstrap::Kind;
use crate::model::ModelStore;

pub const NAME: &str = "ml_residuals";

#[derive(Debug)]
pub struct ResidualsUdtf {
    store: Arc<dyn ModelStore>,
}

impl ResidualsUdtf {
    pub fn new(services: &Services) -> Self {
        ResidualsUdtf {
            store: services.models.clone(),
        }
    }
}

impl TableFunctionSpec for ResidualsUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        Param::model(
            "model",
            "A regressor or binary classifier: 'name', 'name@3' or 'name@alias'.",
        ),
        LABELLED,
        Param::value(
            "segment_col",
            "The column whose values are the segments, as text.",
        ),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Evaluation", description: None },
            "Residual analysis per segment: n, mean_residual (mean of label − prediction; for a binary classifier label (0/1) − probability, so a positive value means the model under-predicts), rmse, and flag = |mean_residual| > 2 · stddev / sqrt(n) (the segment's bias is more than two standard errors from zero). Errors: 42704 unknown model; 22023 for a multi-class or unlabelled model, or a relation without the label, a feature or segment_col.",
            "SELECT * FROM ml_residuals(model, relation, segment_col)",
        )
        .with_sql_example(
r#"```sql
> SELECT neighborhood, n, round(mean_residual) AS bias, round(rmse) AS rmse, flag
  FROM ml_residuals('price', house_prices, 'neighborhood') WHERE flag ORDER BY neighborhood LIMIT 1;
+--------------+------+-------+-------+------+
| neighborhood | n    | bias  | rmse  | flag |
+--------------+------+-------+-------+------+
| hood_00      | 1058 | 59197 | 73038 | t    |
+--------------+------+-------+-------+------+
```"#,
        )
    }
}

impl RelationFunction for ResidualsUdtf {
    fn plan(&self, mut args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let (reference, input, segment) = model_relation_column(NAME, "segment_col", &mut args)?;
        let (out, _) = outputs(NAME, &self.store, &reference, &input)?;
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
        let grouping = segment_group(NAME, &input, Some(&segment))?;
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
                coalesce(vec![
                    abs(column("mean_residual"))
                        .gt(lit(2.0) * column("__sd") / sqrt(cast(column("n"), DataType::Float64))),
                    lit(false),
                ])
                .alias("flag"),
            ])?
            .build()
    }
}
