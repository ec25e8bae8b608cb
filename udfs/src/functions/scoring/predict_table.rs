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

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, Expr, LogicalPlan, LogicalPlanBuilder, lit,
};

use crate::error::SqlStateError;
use crate::functions::evaluation::evaluate::model_text;
use crate::functions::relation::{Arg, Call, RelationFunction, find_column};
use crate::model::{ModelStore, Task};

pub const NAME: &str = "ml_predict";

/// The table form of `ml_predict`.
#[derive(Debug)]
pub struct PredictTable {
    store: Arc<dyn ModelStore>,
}

impl PredictTable {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        PredictTable { store }
    }

    pub fn documentation() -> Documentation {
        Documentation::builder(
            DocSection { include: true, label: "Machine learning", description: None },
            "Table form of ml_predict: every row of a table or query with the model's prediction appended (and the probability, for a classifier). The model version is fixed when the query is planned. Errors: 42704 unknown model; 22023 when the relation lacks a feature of the model (the message lists them) or the model is not a text literal; 42P01 unknown table.",
            "SELECT * FROM ml_predict(model, relation)",
        )
        .with_sql_example(
            "```sql\n> SELECT customer_id, prediction, round(probability, 3) AS p\n  FROM ml_predict('churn', (SELECT * FROM customers_recent WHERE plan = 'basic'))\n  ORDER BY p DESC LIMIT 1;\n+-------------+------------+-------+\n| customer_id | prediction | p     |\n+-------------+------------+-------+\n| 104417      | t          | 0.981 |\n+-------------+------------+-------+\n```",
        )
        .with_argument("model", "Model reference: 'name', 'name@3' or 'name@alias'.")
        .with_argument(
            "relation",
            "A table name, a parenthesized subquery, or text holding a table name or a query starting with SELECT or WITH.",
        )
        .build()
    }
}

impl RelationFunction for PredictTable {
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
        let bad = |msg: String| SqlStateError::bad_argument(msg).into_df();
        if let Some((name, _)) = call.named.first() {
            return Err(bad(format!(
                "{NAME}: unknown named argument {name}; it takes (model, relation)"
            )));
        }
        let (reference, input) = match <[Arg; 2]>::try_from(call.args) {
            Ok([Arg::Value(model), Arg::Relation(input)]) => (
                model_text(NAME, 1, &model).map_err(SqlStateError::into_df)?,
                input,
            ),
            Ok(_) => return Err(bad(format!("{NAME}: expected (model, relation)"))),
            Err(args) => {
                return Err(bad(format!(
                    "{NAME}: expected (model, relation), got {} arguments",
                    args.len()
                )));
            }
        };
        // Pin the version now: the whole query scores with one version even
        // if a deploy switches the alias while it runs.
        let pinned = self
            .store
            .resolve(&reference)
            .map_err(SqlStateError::into_df)?;
        let model = self.store.load(&pinned).map_err(SqlStateError::into_df)?;
        let mut features = Vec::with_capacity(model.features().len());
        let mut missing = Vec::new();
        for feature in model.features() {
            match find_column(&input, &feature.name) {
                Some(column) => features.push(column.alias(feature.name.clone())),
                None => missing.push(feature.name.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(bad(format!(
                "{NAME}: the relation lacks features of model {pinned}: {}; the model takes ({})",
                missing.join(", "),
                model
                    .features()
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let call_args: Vec<Expr> = std::iter::once(lit(pinned.to_string()))
            .chain(features)
            .collect();
        let function = |name: &str| {
            ctx.context_provider()
                .get_function_meta(name)
                .ok_or_else(|| {
                    SqlStateError::new(
                        crate::error::sqlstate::UNDEFINED_FUNCTION,
                        format!("function {name} is not registered"),
                    )
                    .into_df()
                })
        };
        let mut outputs: Vec<Expr> = input
            .schema()
            .iter()
            .map(|(qualifier, field)| {
                Expr::Column(datafusion::common::Column::new(
                    qualifier.cloned(),
                    field.name(),
                ))
            })
            .collect();
        outputs.push(
            function(crate::functions::scoring::predict::NAME)?
                .call(call_args.clone())
                .alias("prediction"),
        );
        if model.task() == Task::Classification {
            outputs.push(
                function(crate::functions::scoring::predict_proba::NAME)?
                    .call(call_args)
                    .alias("probability"),
            );
        }
        LogicalPlanBuilder::from(input).project(outputs)?.build()
    }
}
