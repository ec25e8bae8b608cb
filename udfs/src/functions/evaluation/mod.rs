//! Evaluation: the table functions that score labelled rows with a model
//! and measure the result (`ml_evaluate`, `ml_compare`, the curves,
//! `ml_fairness`, `ml_residuals`), and what they share: how a model's
//! outputs and the relation's labels become (y, prediction, score) columns
//! ([`outputs`]), the options of the bootstrap, and segments.
//!
//! | task                   | y                     | prediction              | score |
//! |------------------------|-----------------------|-------------------------|-------|
//! | binary classification  | label = positive class | ml_predict = positive  | ml_predict_proba |
//! | multi-class            | ml_predict = label (1 right, 0 wrong) | same    | same  |
//! | regression             | label                 | ml_predict              | same  |
//!
//! Rows with a NULL label are left out (`labelled`).

pub mod bootstrap;
pub mod compare;
pub mod curve;
pub mod evaluate;
pub mod fairness;
pub mod lift_curve;
pub mod pr_curve;
pub mod residuals;
pub mod roc_curve;

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, cast, lit};

use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::Definition;
use crate::functions::params::text_literal;
use crate::functions::params::{Args, Param};
use crate::functions::relation::find_column;
use crate::functions::scoring::predict::PredictUdf;
use crate::functions::scoring::predict_proba::PredictProbaUdf;
use crate::functions::scoring::{feature_columns, pinned_model, scoring_args, udf};
use crate::kernels::bootstrap::Kind;
use crate::model::schema::ClassValue;
use crate::model::{LoadedModel, ModelRef, ModelStore, Task};
use curve::CurveUdtf;

/// The evaluation functions.
pub fn functions() -> Vec<Definition<Services>> {
    vec![
        Definition::table(evaluate::EvaluateUdtf::new),
        Definition::table(compare::CompareUdtf::new),
        Definition::table(CurveUdtf::<roc_curve::RocCurveUdtf>::new),
        Definition::table(CurveUdtf::<pr_curve::PrCurveUdtf>::new),
        Definition::table(CurveUdtf::<lift_curve::LiftCurveUdtf>::new),
        Definition::table(fairness::FairnessUdtf::new),
        Definition::table(residuals::ResidualsUdtf::new),
    ]
}

/// The relation parameter of the evaluation functions.
pub const LABELLED: Param = Param::relation(
    "relation",
    "Labelled rows: a table name, a parenthesized subquery, or text holding a name or a query.",
);

/// Options shared by the evaluation table functions.
#[derive(Debug, Clone)]
pub struct Options {
    pub ci: f64,
    pub bootstrap: usize,
    pub seed: u64,
    pub by: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ci: 0.95,
            bootstrap: 1000,
            seed: 42,
            by: None,
        }
    }
}

impl Options {
    /// Sets one option from a named argument or a JSON key.
    pub fn set(
        &mut self,
        function: &str,
        key: &str,
        value: &ScalarValue,
    ) -> Result<(), SqlStateError> {
        let bad = |expected: &str| {
            SqlStateError::arg(function, key, format!("must be {expected}"), value)
        };
        let number = || match value.cast_to(&DataType::Float64) {
            Ok(ScalarValue::Float64(Some(v))) => Some(v),
            _ => None,
        };
        match key {
            "ci" => {
                self.ci = number()
                    .filter(|v| *v > 0.0 && *v < 1.0)
                    .ok_or_else(|| bad("a confidence level between 0 and 1, e.g. 0.95"))?;
            }
            "bootstrap" => {
                self.bootstrap = number()
                    .filter(|v| v.fract() == 0.0 && (0.0..=100_000.0).contains(v))
                    .ok_or_else(|| bad("a whole number of resamples from 0 to 100000"))?
                    as usize;
            }
            "seed" => {
                self.seed = number()
                    .filter(|v| v.fract() == 0.0 && *v >= 0.0)
                    .ok_or_else(|| bad("a non-negative integer"))?
                    as u64;
            }
            "by" => match value {
                ScalarValue::Utf8(Some(s))
                | ScalarValue::Utf8View(Some(s))
                | ScalarValue::LargeUtf8(Some(s)) => self.by = Some(s.clone()),
                _ => return Err(bad("a column name as text")),
            },
            other => {
                return Err(SqlStateError::bad_argument(format!(
                    "{function}: unknown option {other}; options are ci, bootstrap, seed, by"
                )));
            }
        }
        Ok(())
    }

    /// Reads a JSON options object such as `{"ci":0.9,"by":"region"}`.
    pub fn set_json(&mut self, function: &str, text: &str) -> Result<(), SqlStateError> {
        let parsed: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            SqlStateError::bad_argument(format!("{function}: options must be a JSON object: {e}"))
        })?;
        let object = parsed.as_object().ok_or_else(|| {
            SqlStateError::bad_argument(format!(
                "{function}: options must be a JSON object such as {{\"ci\":0.95,\"bootstrap\":1000,\"by\":\"region\"}}"
            ))
        })?;
        for (key, v) in object {
            let value = match v {
                serde_json::Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
                serde_json::Value::Number(n) => ScalarValue::Float64(n.as_f64()),
                other => ScalarValue::Utf8(Some(other.to_string())),
            };
            self.set(function, key, &value)?;
        }
        Ok(())
    }
}

/// Named arguments and an optional JSON options argument.
pub fn read_options(
    function: &str,
    named: &[(String, Expr)],
    json: Option<&Expr>,
) -> Result<Options, SqlStateError> {
    let mut options = Options::default();
    if let Some(expr) = json {
        match text_literal(expr) {
            Some(s) => options.set_json(function, s)?,
            None => {
                return Err(SqlStateError::bad_argument(format!(
                    "{function}: options must be a JSON object in text, got {expr}"
                )));
            }
        }
    }
    for (name, value) in named {
        match value {
            Expr::Literal(v, _) => options.set(function, &name.to_ascii_lowercase(), v)?,
            other => {
                return Err(SqlStateError::arg(
                    function,
                    name,
                    "must be a constant",
                    other,
                ));
            }
        }
    }
    Ok(options)
}

/// The grouping of an aggregate by a segment column, when one is given.
pub fn segment_group(
    function: &str,
    input: &LogicalPlan,
    by: Option<&str>,
) -> Result<Vec<Expr>, SqlStateError> {
    match by {
        None => Ok(Vec::new()),
        Some(name) => find_column(input, name)
            .map(|c| vec![c.alias(name)])
            .ok_or_else(|| {
                SqlStateError::bad_argument(format!(
                    "{function}: by: the relation has no column {name}"
                ))
            }),
    }
}

/// The (model, relation, column) arguments of `ml_fairness` and
/// `ml_residuals`: the column whose values are the segments must be text.
pub fn model_relation_column(
    function: &str,
    column: &str,
    args: &mut Args,
) -> Result<(String, LogicalPlan, String)> {
    args.refuse_named()?;
    if args.len() != 3 {
        return Err(args.usage_error());
    }
    let segment = args
        .value(2)
        .as_ref()
        .and_then(text_literal)
        .map(str::to_string)
        .ok_or_else(|| {
            SqlStateError::bad_argument(format!(
                "{function}: {column} must be a column name as text, e.g. 'region'"
            ))
        })?;
    Ok((args.model(0)?, args.relation(1)?, segment))
}

/// The evaluation columns of one model over a relation.
pub struct Outputs {
    pub kind: Kind,
    pub y: Expr,
    pub prediction: Expr,
    pub score: Expr,
    /// `label IS NOT NULL`.
    pub labelled: Expr,
    pub pinned: ModelRef,
    pub label: String,
}

fn class_literal(c: &ClassValue) -> Expr {
    match c {
        ClassValue::Int(v) => lit(*v),
        ClassValue::Bool(v) => lit(*v),
        ClassValue::Text(v) => lit(v.clone()),
    }
}

/// Pins `reference` and builds the expressions that evaluate it over `input`.
pub fn outputs(
    function: &str,
    store: &Arc<dyn ModelStore>,
    reference: &str,
    input: &LogicalPlan,
) -> Result<(Outputs, Arc<LoadedModel>)> {
    let (pinned, model) = pinned_model(store.as_ref(), reference)?;
    let label = model.envelope.label.clone().ok_or_else(|| {
        SqlStateError::unsupported(format!(
            "{function}: model {pinned} has no label ({} models are not evaluated against one)",
            model.task().name()
        ))
    })?;
    let label_column = find_column(input, &label.name).ok_or_else(|| {
        SqlStateError::bad_argument(format!(
            "{function}: the relation has no column {} (the label of model {pinned})",
            label.name
        ))
    })?;
    let args = scoring_args(&pinned, &feature_columns(function, &pinned, &model, input)?);
    let predict = udf::<PredictUdf>(store).call(args.clone());
    let as_double = |e: Expr| cast(e, DataType::Float64);
    let labelled = label_column.clone().is_not_null();
    let (kind, y, prediction, score) = match (model.task(), label.classes.len()) {
        (Task::Classification, 2) => {
            let positive = class_literal(&label.classes[1]);
            (
                Kind::Binary,
                as_double(label_column.eq(positive.clone())),
                as_double(predict.eq(positive)),
                udf::<PredictProbaUdf>(store).call(args),
            )
        }
        (Task::Classification, _) => {
            let right = as_double(predict.eq(label_column));
            (Kind::Multiclass, right.clone(), right.clone(), right)
        }
        (Task::Regression, _) => (
            Kind::Regression,
            as_double(label_column),
            as_double(predict.clone()),
            as_double(predict),
        ),
        (task, _) => {
            return Err(SqlStateError::unsupported(format!(
                "{function}: {} models have no evaluation metrics here",
                task.name()
            ))
            .into_df());
        }
    };
    let outputs = Outputs {
        kind,
        y,
        prediction,
        score,
        labelled,
        pinned,
        label: label.name.clone(),
    };
    Ok((outputs, model))
}

pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Binary => "binary",
        Kind::Regression => "regression",
        Kind::Multiclass => "multiclass",
    }
}
