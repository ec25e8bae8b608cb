//! The prediction log's key for the scalar scoring functions: a call such
//! as `SELECT ml_predict('churn', age, plan) FROM customers` does not pass
//! `customer_id`, yet the model's policy logs by it. This analyzer rule
//! appends the hidden key arguments (`quarry_udfs::functions::scoring::key_args`)
//! to a scoring call when the model's policy names a key column and the
//! call's input has a column of that name; names and types of the result
//! stay as they were.
//!
//! The key is wired when the statement is planned: a prepared statement
//! keeps the key its plan had until it is planned again (the sample rate
//! itself is read at every call).

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;
use quarry_udfs::model::ModelStore;
use quarry_udfs::model::serving::KEY_ARG;

use crate::registry::Registry;

/// The scalars that log what they score.
const LOGGING: &[&str] = &["ml_predict", "ml_predict_proba", "ml_predict_interval"];

#[derive(Debug)]
pub struct ScoringKeys {
    registry: Arc<Registry>,
}

impl ScoringKeys {
    pub fn new(registry: Arc<Registry>) -> Self {
        ScoringKeys { registry }
    }
}

impl AnalyzerRule for ScoringKeys {
    fn name(&self) -> &str {
        "quarry_scoring_keys"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            super::exprs::rewrite_node(node, candidate, |e, schema| self.keyed(e, schema))
        })
        .map(|t| t.data)
    }
}

fn is_marker(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) if s == KEY_ARG
    )
}

/// A logging scalar whose model is a text literal, not keyed yet.
fn unkeyed_call(e: &Expr) -> Option<(&ScalarFunction, &str)> {
    let Expr::ScalarFunction(call) = e else {
        return None;
    };
    if !LOGGING.contains(&call.func.name()) {
        return None;
    }
    if call.args.len() >= 3 && is_marker(&call.args[call.args.len() - 2]) {
        return None;
    }
    match call.args.first() {
        Some(Expr::Literal(
            ScalarValue::Utf8(Some(m))
            | ScalarValue::Utf8View(Some(m))
            | ScalarValue::LargeUtf8(Some(m)),
            _,
        )) => Some((call, m.as_str())),
        _ => None,
    }
}

fn candidate(e: &Expr) -> bool {
    e.exists(|e| Ok(unkeyed_call(e).is_some())).unwrap_or(false)
}

impl ScoringKeys {
    fn keyed(&self, e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        let Some((call, reference)) = unkeyed_call(&e) else {
            return Ok(Transformed::no(e));
        };
        // A model that does not resolve is the call's own error to raise.
        let Ok(model) = self.registry.resolve(reference) else {
            return Ok(Transformed::no(e));
        };
        let Some(key) = self.registry.log_policy(&model.name).and_then(|p| p.key) else {
            return Ok(Transformed::no(e));
        };
        let column = schema
            .columns()
            .into_iter()
            .find(|c| c.name == key)
            .or_else(|| {
                schema
                    .columns()
                    .into_iter()
                    .find(|c| c.name.eq_ignore_ascii_case(&key))
            });
        let Some(column) = column else {
            return Ok(Transformed::no(e));
        };
        let mut args = call.args.clone();
        args.push(datafusion::prelude::lit(KEY_ARG));
        args.push(Expr::Column(Column::new(
            column.relation.clone(),
            column.name.clone(),
        )));
        Ok(Transformed::yes(Expr::ScalarFunction(
            ScalarFunction::new_udf(call.func.clone(), args),
        )))
    }
}
