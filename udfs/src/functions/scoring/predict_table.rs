//! `SELECT * FROM ml_predict(model, relation)`: every row of a relation with
//! the model's prediction (and, for a classifier, its probability) appended.
//!
//! `relation` is a table name or a query starting with SELECT or WITH. The
//! relation must contain every feature of the model, by name; other columns
//! are passed through unchanged.
//!
//! | model task     | added columns                                            |
//! |----------------|----------------------------------------------------------|
//! | classification | `prediction` (label type), `probability` (positive class, or per-class array) |
//! | regression     | `prediction` DOUBLE PRECISION                            |
//! | clustering     | `prediction` INTEGER                                     |
//!
//! A bare name whose traffic is split (`ml_deploy(..., 'challenger', 0.2)`)
//! scores each row with its arm's version and adds an `arm` column.
//!
//! A classifier's rows are scored by a hidden scalar ([`ClassifiedUdf`],
//! `__quarry_predict`) that returns both columns as one struct from one pass
//! of the model, so a query reading only `probability` is scored, counted
//! and logged as one reading `prediction` is, and one reading both scores
//! once.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, Expr, LogicalPlan, LogicalPlanBuilder,
    ScalarUDF, col, lit,
};

use super::predict::PredictUdf;

use super::predict_arm::PredictArmUdf;
use super::{
    Arms, Batch, Logged, ModelOutput, SCORED, feature_columns, key_args, pinned_model,
    reporting_udf, scoring_args_for,
};
use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, MODEL, Params};
use crate::functions::relation::{RelationFunction, find_column, passthrough};
use crate::model::{Feature, LoadedModel, Task};

pub const NAME: &str = "ml_predict";
/// The hidden scalar that scores a classifier's rows for the table form.
pub const ROW_FUNCTION: &str = "__quarry_predict";
const STRUCT_COLUMN: &str = "__quarry_scored";

/// The table form of `ml_predict`.
#[derive(Debug)]
pub struct PredictUdtf {
    services: Services,
}

impl PredictUdtf {
    pub fn new(services: &Services) -> Self {
        PredictUdtf {
            services: services.clone(),
        }
    }
}

impl TableFunctionSpec for PredictUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[MODEL, SCORED]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Machine learning", description: None },
            "Table form of ml_predict: every row of a table or query with the model's prediction appended (and the probability, for a classifier). The model version is fixed when the query is planned. Errors: 42704 unknown model; 22023 when the relation lacks a feature of the model (the message lists them) or the model is not a text literal; 42P01 unknown table.",
            "SELECT * FROM ml_predict(model, relation)",
        )
        .with_sql_example(
r#"```sql
> SELECT customer_id, prediction, round(probability, 3) AS p
  FROM ml_predict('churn', (SELECT * FROM customers_recent WHERE plan = 'basic'))
  ORDER BY p DESC, customer_id LIMIT 1;
+-------------+------------+-------+
| customer_id | prediction | p     |
+-------------+------------+-------+
| 103989      | t          | 0.916 |
+-------------+------------+-------+
```"#,
        )
    }
}

impl RelationFunction for PredictUdtf {
    fn plan(&self, mut args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        args.refuse_named()?;
        if args.len() != 2 {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: expected (model, relation), got {} arguments",
                args.len()
            ))
            .into_df());
        }
        let reference = args.model(0)?;
        let input = args.relation(1)?;
        let store = &self.services.models;
        let arms = Arms::load(store.as_ref(), &reference)?;
        let (pinned, model) = match &arms.route {
            Some(route) => (route.production_ref(), arms.production.clone()),
            None => pinned_model(store.as_ref(), &reference)?,
        };
        // Every version that answers needs its features; the shadow's are
        // passed when the relation has them (it scores for the log only).
        let served = arms.models().len() - usize::from(arms.shadow.is_some());
        let mut columns: Vec<(&Feature, Expr)> = Vec::new();
        for (i, m) in arms.models().into_iter().enumerate() {
            let found = feature_columns(NAME, &pinned, m, &input).map_err(|mut e| {
                let takes: Vec<&str> = m.features().iter().map(|f| f.name.as_str()).collect();
                e.message.push_str(&format!(
                    "; {}@{} takes ({})",
                    m.name,
                    m.version,
                    takes.join(", ")
                ));
                e
            });
            let found = match found {
                Ok(found) => found,
                Err(_) if i >= served => continue,
                Err(e) => return Err(e.into()),
            };
            for (feature, column) in found {
                if !columns.iter().any(|(f, _)| f.name == feature.name) {
                    columns.push((feature, column));
                }
            }
        }
        let reference = match &arms.route {
            Some(route) => route.to_string(),
            None => pinned.to_string(),
        };
        let call_args = scoring_args_for(&reference, &columns);
        // The scoring call is reported (and logged, with the policy's key
        // column when the relation has it); it carries the key, by which a
        // split model routes each row.
        let key = self
            .services
            .sink
            .policy(&pinned)
            .and_then(|p| p.key)
            .and_then(|key| find_column(&input, &key));
        let mut keyed_args = call_args.clone();
        if let Some(key) = &key {
            keyed_args.extend(key_args(key.clone()));
        }
        let mut inner: Vec<Expr> = passthrough(&input);
        let mut outer: Vec<Expr> = passthrough(&input);
        if model.task() == Task::Classification {
            // Prediction and probability from one pass of the model, as a
            // struct split into the two columns: a query that reads either
            // scores (and logs) each row once.
            let field = super::field_of::udf();
            inner.push(
                reporting_udf::<ClassifiedUdf>(&self.services)
                    .call(keyed_args)
                    .alias(STRUCT_COLUMN),
            );
            for name in ["prediction", "probability"] {
                outer.push(field.call(vec![col(STRUCT_COLUMN), lit(name)]).alias(name));
            }
        } else {
            inner.push(
                reporting_udf::<PredictUdf>(&self.services)
                    .call(keyed_args)
                    .alias("prediction"),
            );
            outer.push(col("prediction"));
        }
        // A split model says which arm scored each row.
        if arms.route.as_ref().is_some_and(|r| r.challenger.is_some()) {
            let arm = ScalarUDF::new_from_impl(PredictArmUdf::new(&self.services));
            inner.push(
                arm.call(vec![
                    lit(reference.clone()),
                    key.unwrap_or_else(|| lit(ScalarValue::Utf8(None))),
                ])
                .alias("arm"),
            );
            outer.push(col("arm"));
        }
        LogicalPlanBuilder::from(input)
            .project(inner)?
            .project(outer)?
            .build()
    }
}

/// `__quarry_predict(model, feature, ...)` → struct(prediction,
/// probability): a classifier's two table-form columns from one pass.
#[derive(Debug, Default)]
pub struct ClassifiedUdf;

impl ModelOutput for ClassifiedUdf {
    const NAME: &'static str = ROW_FUNCTION;
    const FUNCTION: &'static str = NAME;

    fn output_type(&self, model: &LoadedModel) -> Result<DataType, SqlStateError> {
        Ok(DataType::Struct(classified_fields(model)?))
    }

    fn evaluate(&self, model: &LoadedModel, batch: Batch) -> Result<ArrayRef> {
        Ok(self.evaluate_logged(model, batch)?.result)
    }

    fn evaluate_logged(&self, model: &LoadedModel, batch: Batch) -> Result<Logged> {
        let (proba, prediction, probability) = model.predict_proba_scored(&batch.features)?;
        let fields = classified_fields(model)?;
        let result = StructArray::try_new(fields, vec![prediction.clone(), proba], None)?;
        Ok(Logged {
            result: Arc::new(result),
            prediction,
            probability,
        })
    }
}

fn classified_fields(model: &LoadedModel) -> Result<Fields, SqlStateError> {
    Ok(Fields::from(vec![
        Field::new("prediction", model.output_type(), true),
        Field::new("probability", model.proba_type()?, true),
    ]))
}
