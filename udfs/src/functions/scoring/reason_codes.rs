//! `SELECT * FROM ml_reason_codes(model, relation, n)`: the top n reasons
//! per row that pushed a model's output towards the adverse outcome, in
//! plain words: the form an adverse-action (credit decline) letter needs.
//!
//! A reason is a feature whose contribution (`ml_explain`'s: TreeSHAP or
//! the exact linear one, or LIME with `method => 'lime'`) moves the output
//! towards the adverse outcome: for a binary classifier the `adverse`
//! class (default: the positive class, the event the model predicts:
//! default, churn, fraud), for a regressor or anomaly model a `'high'`
//! (default) or `'low'` output. Reasons are ranked by the size of that
//! contribution; features that helped are not reasons. Each reason names
//! the feature, its value, how it compares with training (a number above or
//! below the training mean; a category as it is; a missing value), its
//! contribution and a sentence. One output row per reason: a row without
//! an adverse factor has none.
//!
//! Planned as `ml_explain` is: a hidden row function returns each row's
//! reasons as a list, unnested into rows.

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Float64Builder, Int32Builder, ListBuilder, StringBuilder, StructBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, DocumentationBuilder, Expr, LogicalPlan,
    LogicalPlanBuilder, col, lit,
};
use datafusion::scalar::ScalarValue;

use super::explain::{Explaining, ValueTexts, explanations, parse_settings};
use super::predict::PredictUdf;
use super::{Batch, ModelOutput, SCORED, feature_columns, pinned_model, scoring_args, udf};
use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, MODEL, Param, Params, text_literal};
use crate::functions::relation::{RelationFunction, passthrough};
use crate::model::{FeatureKind, LoadedModel, ModelStore, Task};

pub const NAME: &str = "ml_reason_codes";
/// The hidden row function.
pub const ROW_FUNCTION: &str = "__quarry_reason_codes";
const LIST_COLUMN: &str = "__quarry_reasons";

/// The fields of one reason.
fn reason_fields() -> Fields {
    Fields::from(vec![
        Field::new("rank", DataType::Int32, false),
        Field::new("feature", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        Field::new("direction", DataType::Utf8, false),
        Field::new("contribution", DataType::Float64, false),
        Field::new("reason", DataType::Utf8, false),
    ])
}

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(reason_fields()),
        true,
    )))
}

/// `__quarry_reason_codes(model, n, adverse, settings, feature, ...)`.
#[derive(Debug, Default)]
pub struct ReasonCodesUdf;

/// What the adverse outcome is, as the plan resolved it.
#[derive(Debug, Clone, PartialEq)]
struct Adverse {
    /// +1 when a positive contribution is adverse, −1 when a negative one is.
    sign: f64,
    /// "the likelihood of approved = false", "the predicted price".
    outcome: String,
    /// "raises" or "lowers" the outcome named.
    verb: &'static str,
}

impl Adverse {
    fn of(model: &LoadedModel, given: Option<&str>) -> std::result::Result<Adverse, SqlStateError> {
        let label = model
            .envelope
            .label
            .as_ref()
            .map_or("the score".to_string(), |l| l.name.clone());
        match model.task() {
            Task::Classification => {
                let classes: Vec<String> = model
                    .envelope
                    .label
                    .iter()
                    .flat_map(|l| l.classes.iter().map(ToString::to_string))
                    .collect();
                if classes.len() != 2 {
                    return Err(SqlStateError::unsupported(format!(
                        "{NAME}: reasons are for binary classifiers, regressors and anomaly models; this one has {} classes",
                        classes.len()
                    )));
                }
                let adverse = given.unwrap_or(&classes[1]);
                let position = classes.iter().position(|c| c == adverse).ok_or_else(|| {
                    SqlStateError::arg(
                        NAME,
                        "adverse",
                        format!("must be a class of {label}: {}", classes.join(" or ")),
                        adverse,
                    )
                })?;
                Ok(Adverse {
                    sign: if position == 1 { 1.0 } else { -1.0 },
                    outcome: format!("the likelihood of {label} = {adverse}"),
                    verb: "raises",
                })
            }
            Task::Regression | Task::Anomaly => {
                let outcome = if model.task() == Task::Anomaly {
                    "the anomaly score".to_string()
                } else {
                    format!("the predicted {label}")
                };
                match given.map(str::to_ascii_lowercase).as_deref() {
                    None | Some("high") => Ok(Adverse {
                        sign: 1.0,
                        outcome,
                        verb: "raises",
                    }),
                    Some("low") => Ok(Adverse {
                        sign: -1.0,
                        outcome,
                        verb: "lowers",
                    }),
                    Some(other) => Err(SqlStateError::arg(
                        NAME,
                        "adverse",
                        "must be 'high' or 'low' for a regressor or anomaly model",
                        other,
                    )),
                }
            }
            _ => Err(SqlStateError::unsupported(format!(
                "{NAME}: reasons are for binary classifiers, regressors and anomaly models, not {} models",
                model.task().name()
            ))),
        }
    }

    fn to_json(&self) -> String {
        serde_json::json!({"sign": self.sign, "outcome": self.outcome, "verb": self.verb})
            .to_string()
    }

    fn from_constant(value: Option<&ColumnarValue>) -> Result<Adverse> {
        let Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text)))) = value else {
            return Err(SqlStateError::internal("reason codes: the adverse outcome").into_df());
        };
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| SqlStateError::internal(format!("reason codes: {e}")).into_df())?;
        Ok(Adverse {
            sign: v["sign"].as_f64().unwrap_or(1.0),
            outcome: v["outcome"].as_str().unwrap_or("the score").to_string(),
            verb: if v["verb"] == "lowers" {
                "lowers"
            } else {
                "raises"
            },
        })
    }
}

/// How a value compares with training, and the sentence's words for it.
fn direction(
    kind: FeatureKind,
    value: Option<f64>,
    is_null: bool,
    mean: Option<f64>,
) -> &'static str {
    if is_null {
        return "missing";
    }
    match (kind, value, mean) {
        (FeatureKind::Numeric | FeatureKind::Temporal, Some(v), Some(m)) if v > m => "high",
        (FeatureKind::Numeric | FeatureKind::Temporal, Some(v), Some(m)) if v < m => "low",
        (FeatureKind::Numeric | FeatureKind::Temporal, _, _) => "average",
        _ => "is",
    }
}

/// A number for a sentence: at most 4 decimals, no trailing zeros.
fn short(v: f64) -> String {
    let text = format!("{:.4}", v);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

impl ModelOutput for ReasonCodesUdf {
    const NAME: &'static str = ROW_FUNCTION;
    const FUNCTION: &'static str = NAME;
    /// n, the adverse outcome (JSON), the explanation settings (JSON).
    const CONSTANTS: usize = 3;
    const HEAVY: bool = true;

    fn output_type(&self, _model: &LoadedModel) -> std::result::Result<DataType, SqlStateError> {
        Ok(list_type())
    }

    fn evaluate(&self, model: &LoadedModel, batch: Batch) -> Result<ArrayRef> {
        let n = match batch.constants.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(k)))) if *k > 0 => *k as usize,
            _ => return Err(SqlStateError::internal("reason codes: n").into_df()),
        };
        let adverse = Adverse::from_constant(batch.constants.get(1))?;
        let (sampler, profile) = parse_settings(model, batch.constants.get(2))?;
        let (inputs, rows) = (batch.features, batch.rows);
        let explained = explanations(model, sampler.as_ref(), &inputs, batch.threads, batch.stop)?;
        let values = ValueTexts::new(model, &inputs)?;
        let features = model.features();
        let means: Vec<Option<f64>> = features
            .iter()
            .map(|f| {
                profile["features"]
                    .as_array()
                    .and_then(|all| all.iter().find(|e| e["name"].as_str() == Some(&f.name)))
                    .and_then(|e| e["mean"].as_f64())
            })
            .collect();
        let numbers: Vec<Option<ArrayRef>> = inputs
            .iter()
            .zip(features)
            .map(|(a, f)| match f.kind {
                FeatureKind::Numeric | FeatureKind::Boolean => {
                    datafusion::arrow::compute::cast(a, &DataType::Float64).ok()
                }
                _ => None,
            })
            .collect();
        let mut list =
            ListBuilder::new(StructBuilder::from_fields(reason_fields(), rows)).with_field(
                Arc::new(Field::new("item", DataType::Struct(reason_fields()), true)),
            );
        let mut order: Vec<usize> = Vec::with_capacity(features.len());
        let mut value_text = String::new();
        let mut sentence = String::new();
        for i in 0..rows {
            let row = explained.row(i);
            order.clear();
            order.extend((0..row.len()).filter(|&f| row[f] * adverse.sign > 0.0));
            order.sort_by(|&a, &b| {
                (row[b] * adverse.sign)
                    .total_cmp(&(row[a] * adverse.sign))
                    .then(a.cmp(&b))
            });
            let reasons = list.values();
            for (rank, &f) in order.iter().take(n).enumerate() {
                let feature = &features[f];
                let is_null = inputs[f].is_null(i);
                let number = numbers[f].as_ref().and_then(|a| {
                    let a = a
                        .as_any()
                        .downcast_ref::<datafusion::arrow::array::Float64Array>()?;
                    a.is_valid(i).then(|| a.value(i))
                });
                let dir = direction(feature.kind, number, is_null, means[f]);
                value_text.clear();
                values.write(f, i, &mut value_text);
                let shown = match number {
                    Some(v) if feature.kind == FeatureKind::Numeric => short(v),
                    _ => value_text.trim_matches('"').to_string(),
                };
                sentence.clear();
                match (dir, means[f]) {
                    ("missing", _) => {
                        let _ = write!(sentence, "{} is missing", feature.name);
                    }
                    ("high" | "low", Some(m)) => {
                        let _ = write!(
                            sentence,
                            "{} is {shown}, {} than the training average of {}",
                            feature.name,
                            if dir == "high" { "higher" } else { "lower" },
                            short(m)
                        );
                    }
                    _ => {
                        let _ = write!(sentence, "{} is {shown}", feature.name);
                    }
                }
                let _ = write!(sentence, "; this {} {}", adverse.verb, adverse.outcome);
                reasons
                    .field_builder::<Int32Builder>(0)
                    .expect("rank")
                    .append_value(rank as i32 + 1);
                reasons
                    .field_builder::<StringBuilder>(1)
                    .expect("feature")
                    .append_value(&feature.name);
                let value = reasons.field_builder::<StringBuilder>(2).expect("value");
                if is_null {
                    value.append_null();
                } else {
                    value.append_value(&shown);
                }
                reasons
                    .field_builder::<StringBuilder>(3)
                    .expect("direction")
                    .append_value(dir);
                reasons
                    .field_builder::<Float64Builder>(4)
                    .expect("contribution")
                    .append_value(row[f]);
                reasons
                    .field_builder::<StringBuilder>(5)
                    .expect("reason")
                    .append_value(&sentence);
                reasons.append(true);
            }
            list.append(true);
        }
        Ok(Arc::new(list.finish()))
    }
}

/// The table form.
#[derive(Debug)]
pub struct ReasonCodesUdtf {
    store: Arc<dyn ModelStore>,
}

impl ReasonCodesUdtf {
    pub fn new(services: &Services) -> Self {
        ReasonCodesUdtf {
            store: services.models.clone(),
        }
    }
}

impl TableFunctionSpec for ReasonCodesUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        MODEL,
        SCORED,
        Param::value("n", "How many reasons per row at most (1 to 100)."),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Explanation", description: None },
            "The top n reasons per row that moved the model's output towards the adverse outcome, in plain words, for adverse-action notices: one output row per reason with the row's columns, prediction, rank (1 = strongest), feature, value, direction (high or low against the training mean for numbers, is for categories and booleans, missing for NULL), contribution (ml_explain's) and reason (a sentence). The adverse outcome is adverse => 'class' for a binary classifier (default: the positive class, the event it predicts) or adverse => 'high' (default) or 'low' for a regressor or anomaly model. Contributions are ml_explain's (exact: TreeSHAP or linear), or LIME's with method => 'lime' (samples, seed as ml_explain), for models without exact ones. Features that moved the output away from the adverse outcome are not reasons; a row without an adverse factor has no rows. Errors: 42704 unknown model; 0A000 for multi-class, clustering, and models without exact explanations unless method => 'lime'; 22023 for n outside 1 to 100, an adverse value that is not a class (or high/low), or a relation without a feature.",
            "SELECT * FROM ml_reason_codes(model, relation, n [, adverse => 'class'] [, method => 'lime'])",
        )
        .with_sql_example(
r#"```sql
> SELECT customer_id, rank, feature, direction, reason
  FROM ml_reason_codes('churn', (SELECT * FROM customers_recent WHERE customer_id = 100017), 2)
  ORDER BY rank;
+-------------+------+---------------+-----------+-----------------------------------------------------------------------------------------------------------------+
| customer_id | rank | feature       | direction | reason                                                                                                          |
+-------------+------+---------------+-----------+-----------------------------------------------------------------------------------------------------------------+
| 100017      | 1    | tenure_months | low       | tenure_months is 1, lower than the training average of 29.2635; this raises the likelihood of churned = true    |
| 100017      | 2    | monthly_fee   | high      | monthly_fee is 63.85, higher than the training average of 46.0281; this raises the likelihood of churned = true |
+-------------+------+---------------+-----------+-----------------------------------------------------------------------------------------------------------------+
```"#,
        )
    }
}

impl RelationFunction for ReasonCodesUdtf {
    fn plan(&self, mut args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let mut explaining = Explaining::default();
        let mut adverse_given: Option<String> = None;
        for (name, value) in &args.named {
            match name.to_ascii_lowercase().as_str() {
                "adverse" => {
                    adverse_given = Some(match value {
                        Expr::Literal(v, _) if !v.is_null() => text_literal(value)
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                        other => {
                            return Err(SqlStateError::arg(
                                NAME,
                                "adverse",
                                "must be a constant",
                                other,
                            )
                            .into_df());
                        }
                    });
                }
                other if explaining.named(NAME, other, value)? => {}
                other => {
                    return Err(SqlStateError::bad_argument(format!(
                        "{NAME}: unknown named argument {other}; it takes (model, relation, n) and adverse, method, samples, seed by name"
                    ))
                    .into_df());
                }
            }
        }
        if args.len() < 3 {
            return Err(args.usage_error());
        }
        let reference = args.model(0)?;
        let input = args.relation(1)?;
        let n = match args.value(2) {
            Some(Expr::Literal(v, _)) => match v.cast_to(&DataType::Int64) {
                Ok(ScalarValue::Int64(Some(k))) if (1..=100).contains(&k) => k,
                _ => {
                    return Err(SqlStateError::arg(
                        NAME,
                        "n",
                        "must be a whole number from 1 to 100",
                        v,
                    )
                    .into_df());
                }
            },
            other => {
                return Err(SqlStateError::arg(
                    NAME,
                    "n",
                    "must be a whole number from 1 to 100",
                    other.map_or("nothing".to_string(), |e| e.to_string()),
                )
                .into_df());
            }
        };
        args.at_most(3)?;
        let (pinned, model) = pinned_model(self.store.as_ref(), &reference)?;
        let adverse = Adverse::of(&model, adverse_given.as_deref())?;
        let settings = explaining
            .settings(NAME, self.store.as_ref(), ctx, &pinned, &model, true)?
            .map(|s| s.to_string());
        let columns = feature_columns(NAME, &pinned, &model, &input)?;
        let predict_args = scoring_args(&pinned, &columns);
        let reason_args: Vec<Expr> = [
            lit(pinned.to_string()),
            lit(n),
            lit(adverse.to_json()),
            lit(ScalarValue::Utf8(settings)),
        ]
        .into_iter()
        .chain(predict_args.iter().skip(1).cloned())
        .collect();
        let passthrough = passthrough(&input);
        let mut inner = passthrough.clone();
        inner.push(
            udf::<PredictUdf>(&self.store)
                .call(predict_args)
                .alias("prediction"),
        );
        inner.push(
            udf::<ReasonCodesUdf>(&self.store)
                .call(reason_args)
                .alias(LIST_COLUMN),
        );
        let mut outer = passthrough;
        outer.push(col("prediction"));
        for field in reason_fields().iter() {
            outer.push(get_field(col(LIST_COLUMN), field.name().as_str()).alias(field.name()));
        }
        LogicalPlanBuilder::from(input)
            .project(inner)?
            .unnest_column(LIST_COLUMN)?
            .project(outer)?
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_compare_with_the_training_mean() {
        assert_eq!(
            direction(FeatureKind::Numeric, Some(3.0), false, Some(2.0)),
            "high"
        );
        assert_eq!(
            direction(FeatureKind::Numeric, Some(1.0), false, Some(2.0)),
            "low"
        );
        assert_eq!(
            direction(FeatureKind::Numeric, Some(2.0), false, Some(2.0)),
            "average"
        );
        assert_eq!(direction(FeatureKind::Categorical, None, false, None), "is");
        assert_eq!(
            direction(FeatureKind::Numeric, None, true, Some(2.0)),
            "missing"
        );
        assert_eq!(short(63.850000), "63.85");
        assert_eq!(short(2.0), "2");
    }
}
