//! `SELECT * FROM ml_explain(model, relation [, top_k])`: every row with its
//! prediction, the model's base value and each feature's contribution.
//!
//! `method => 'lime'` explains any model but k-means by a local linear
//! surrogate instead (`model::lime`), drawn from the version's training
//! profile, which the plan passes to the row function as JSON.
//!
//! The explanation is a JSON array `[{"feature", "value", "contribution"}]`,
//! largest |contribution| first (the first `top_k` only, when given). The
//! base value plus all contributions is the explained raw output: log-odds
//! for logistic and gbdt classifiers, the class frequency for forests, the
//! value for regressors (see `model::explain`).
//!
//! The work happens in a hidden scalar function ([`ExplainUdf`],
//! `__quarry_explain`) that the table function's plan holds (it is not
//! registered, so SQL cannot call it) and calls once per row; its struct
//! result is split into the two columns.

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, StringBuilder, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::Result;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, DocumentationBuilder, Expr, LogicalPlan,
    LogicalPlanBuilder, col, lit,
};
use datafusion::scalar::ScalarValue;

use super::predict::PredictUdf;
use super::{Batch, ModelOutput, SCORED, feature_columns, pinned_model, scoring_args, udf};
use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Args, MODEL, Param, Params};
use crate::functions::relation::{RelationFunction, passthrough};
use crate::model::{FeatureKind, LoadedModel, ModelStore};

pub const NAME: &str = "ml_explain";
/// The hidden scalar that computes explanations for the table function.
pub const ROW_FUNCTION: &str = "__quarry_explain";
const STRUCT_COLUMN: &str = "__quarry_explanation";
/// Rows explained between two checks of the statement's stop: a forest's
/// row takes about a millisecond (release build), so a cancel lands within
/// tens of milliseconds.
const EXPLAIN_BLOCK: usize = 32;

fn struct_fields() -> Fields {
    Fields::from(vec![
        Field::new("base_value", DataType::Float64, true),
        Field::new("explanation", DataType::Utf8, true),
    ])
}

/// `__quarry_explain(model, top_k, feature, ...)` → struct(base_value, explanation).
#[derive(Debug, Default)]
pub struct ExplainUdf;

impl ModelOutput for ExplainUdf {
    const NAME: &'static str = ROW_FUNCTION;
    const FUNCTION: &'static str = NAME;
    /// `top_k`, then the LIME sampler's settings as JSON (NULL: TreeSHAP
    /// or the exact linear explanation).
    const CONSTANTS: usize = 2;
    const HEAVY: bool = true;

    fn output_type(&self, _model: &LoadedModel) -> Result<DataType, SqlStateError> {
        Ok(DataType::Struct(struct_fields()))
    }

    fn evaluate(&self, model: &LoadedModel, batch: Batch) -> Result<ArrayRef> {
        let top_k = match batch.constants.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(k)))) if *k > 0 => *k as usize,
            _ => usize::MAX,
        };
        let (sampler, _) = parse_settings(model, batch.constants.get(1))?;
        let (inputs, rows) = (batch.features, batch.rows);
        let explained = explanations(model, sampler.as_ref(), &inputs, batch.threads, batch.stop)?;
        let values = ValueTexts::new(model, &inputs)?;
        let mut base = Float64Builder::with_capacity(rows);
        let mut json = StringBuilder::with_capacity(rows, rows * 64);
        let names: Vec<String> = model.features().iter().map(|f| quote(&f.name)).collect();
        let mut order: Vec<usize> = Vec::with_capacity(names.len());
        let mut text = String::new();
        for i in 0..rows {
            base.append_value(explained.base[i]);
            let row = explained.row(i);
            order.clear();
            order.extend(0..row.len());
            order.sort_by(|&a, &b| row[b].abs().total_cmp(&row[a].abs()));
            text.clear();
            text.push('[');
            for (n, &f) in order.iter().take(top_k).enumerate() {
                if n > 0 {
                    text.push(',');
                }
                let _ = write!(text, "{{\"feature\":{},\"value\":", names[f]);
                values.write(f, i, &mut text);
                text.push_str(",\"contribution\":");
                number(row[f], &mut text);
                text.push('}');
            }
            text.push(']');
            json.append_value(&text);
        }
        let out = StructArray::try_new(
            struct_fields(),
            vec![Arc::new(base.finish()), Arc::new(json.finish())],
            None,
        )?;
        Ok(Arc::new(out))
    }
}

/// The LIME sampler a plan's settings describe: `{"samples", "seed",
/// "profile"}` (the version's training profile, its features only).
/// The settings constant a plan passed: the LIME sampler when the method
/// is LIME, and the profile's features (`Null` without settings).
pub(super) fn parse_settings(
    model: &LoadedModel,
    constant: Option<&ColumnarValue>,
) -> Result<(Option<crate::model::lime::Sampler>, serde_json::Value)> {
    let Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text)))) = constant else {
        return Ok((None, serde_json::Value::Null));
    };
    let settings: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| SqlStateError::internal(format!("explanation settings: {e}")).into_df())?;
    let sampler = match settings["method"].as_str() {
        Some("lime") => Some(crate::model::lime::Sampler::from_profile(
            model,
            &settings["profile"],
            settings["samples"].as_u64().unwrap_or(5000) as usize,
            settings["seed"].as_u64().unwrap_or(42),
        )?),
        _ => None,
    };
    Ok((sampler, settings["profile"].clone()))
}

/// Explanations of a batch's rows, exact or by LIME, spread in blocks over
/// the session's threads (scoped threads, no pool to spin), the
/// statement's stop checked before each block: TreeSHAP costs
/// O(trees × leaves × depth²) per row, LIME thousands of scored samples.
pub(super) fn explanations(
    model: &LoadedModel,
    sampler: Option<&crate::model::lime::Sampler>,
    inputs: &[ArrayRef],
    threads: usize,
    stop: &crate::control::Stop,
) -> Result<crate::model::explain::Explained> {
    let rows = inputs.first().map_or(0, |a| a.len());
    let blocks: Vec<(usize, usize)> = (0..rows)
        .step_by(EXPLAIN_BLOCK)
        .map(|start| (start, EXPLAIN_BLOCK.min(rows - start)))
        .collect();
    let parts = crate::kernels::parallel::par_map(&blocks, threads, |&(start, len)| {
        stop.check()?;
        let slice: Vec<_> = inputs.iter().map(|a| a.slice(start, len)).collect();
        match sampler {
            Some(sampler) => crate::model::lime::explain(model, sampler, &slice),
            None => model.explain(&slice),
        }
    });
    let mut explained = crate::model::explain::Explained {
        base: Vec::with_capacity(rows),
        contributions: Vec::with_capacity(rows * model.features().len()),
        features: model.features().len(),
    };
    for part in parts {
        let part = part?;
        explained.base.extend(part.base);
        explained.contributions.extend(part.contributions);
    }
    Ok(explained)
}

/// How a plan asked for explanations: `method`, `samples`, `seed`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Explaining {
    pub method: Method,
    pub samples: i64,
    pub seed: i64,
}

impl Default for Explaining {
    fn default() -> Self {
        Explaining {
            method: Method::Exact,
            samples: crate::model::lime::SAMPLES as i64,
            seed: 42,
        }
    }
}

impl Explaining {
    /// Takes a named argument it knows (`true`), or leaves it (`false`).
    pub fn named(
        &mut self,
        function: &str,
        name: &str,
        value: &Expr,
    ) -> std::result::Result<bool, SqlStateError> {
        match name {
            "method" => self.method = method_value(function, value)?,
            "samples" => self.samples = whole(function, value, "samples", 10, 1_000_000)?,
            "seed" => self.seed = whole(function, value, "seed", 0, i64::MAX)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The settings the row function gets: `None` for exact explanations
    /// when the training profile is not wanted (`with_profile`); checked
    /// now, so a model the method cannot explain fails at plan time.
    pub fn settings(
        &self,
        function: &str,
        store: &dyn ModelStore,
        ctx: &mut dyn RelationPlannerContext,
        pinned: &crate::model::ModelRef,
        model: &LoadedModel,
        with_profile: bool,
    ) -> std::result::Result<Option<serde_json::Value>, SqlStateError> {
        match self.method {
            Method::Exact => model.explainable().map_err(|mut e| {
                e.message = e.message.replace("ml_explain", function);
                e.with_hint("method => 'lime' explains any model but kmeans by a local surrogate")
            })?,
            Method::Lime => crate::model::lime::check(model)?,
        }
        if self.method == Method::Exact && !with_profile {
            return Ok(None);
        }
        // The profile is read as the model is: PREDICT is enough.
        store.authorize_read(ctx.context_provider().options(), pinned)?;
        let profile = store.profile(pinned)?;
        let features: Vec<serde_json::Value> = profile["features"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                serde_json::json!({
                    "name": f["name"], "kind": f["kind"], "mean": f["mean"],
                    "sd": f["sd"], "top": f["top"], "other": f["other"],
                })
            })
            .collect();
        let settings = serde_json::json!({
            "method": if self.method == Method::Lime { "lime" } else { "exact" },
            "samples": self.samples,
            "seed": self.seed,
            "profile": {"features": features},
        });
        if self.method == Method::Lime {
            crate::model::lime::Sampler::from_profile(
                model,
                &settings["profile"],
                self.samples as usize,
                self.seed as u64,
            )?;
        }
        Ok(Some(settings))
    }
}

fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// A float as JSON: shortest round-trip digits, null when not finite.
fn number(v: f64, out: &mut String) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str("null");
    }
}

/// The input values of a batch as JSON text, per feature.
pub(super) struct ValueTexts {
    columns: Vec<(ArrayRef, bool)>,
}

impl ValueTexts {
    pub fn new(model: &LoadedModel, inputs: &[ArrayRef]) -> Result<Self> {
        let columns = model
            .features()
            .iter()
            .zip(inputs)
            .map(|(f, a)| {
                let quoted = matches!(f.kind, FeatureKind::Categorical | FeatureKind::Temporal)
                    || matches!(
                        a.data_type(),
                        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                    );
                Ok((cast(a, &DataType::Utf8)?, quoted))
            })
            .collect::<Result<_>>()?;
        Ok(ValueTexts { columns })
    }

    pub fn write(&self, feature: usize, row: usize, out: &mut String) {
        let (array, quoted) = &self.columns[feature];
        if array.is_null(row) {
            out.push_str("null");
            return;
        }
        let text = array.as_string::<i32>().value(row);
        // NaN and infinity are not JSON numbers.
        if *quoted || text.parse::<f64>().is_ok_and(|v| !v.is_finite()) {
            out.push_str(&quote(text));
        } else {
            out.push_str(text);
        }
    }
}

/// How `ml_explain` explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    /// TreeSHAP for trees, coef × (x − mean) for linear models.
    Exact,
    /// A local linear surrogate (`model::lime`), for any model kind.
    Lime,
}

fn method_value(function: &str, expr: &Expr) -> std::result::Result<Method, SqlStateError> {
    match crate::functions::params::text_literal(expr).map(str::to_ascii_lowercase) {
        Some(m) if m == "shap" || m == "exact" => Ok(Method::Exact),
        Some(m) if m == "lime" => Ok(Method::Lime),
        _ => Err(SqlStateError::arg(
            function,
            "method",
            "must be 'shap' (exact: TreeSHAP or the linear one) or 'lime'",
            match crate::functions::params::text_literal(expr) {
                Some(text) => format!("'{text}'"),
                None => expr.to_string(),
            },
        )),
    }
}

/// A whole-number constant argument within `min..=max`.
fn whole(
    function: &str,
    expr: &Expr,
    what: &str,
    min: i64,
    max: i64,
) -> std::result::Result<i64, SqlStateError> {
    match expr {
        Expr::Literal(v, _) => match v.cast_to(&DataType::Int64) {
            Ok(ScalarValue::Int64(Some(k))) if (min..=max).contains(&k) => Ok(k),
            _ => Err(SqlStateError::arg(
                function,
                what,
                format!("must be a whole number from {min} to {max}"),
                v,
            )),
        },
        other => Err(SqlStateError::arg(
            function,
            what,
            format!("must be a whole number from {min} to {max}"),
            other,
        )),
    }
}

/// The table form, planned as a projection over the relation.
#[derive(Debug)]
pub struct ExplainUdtf {
    store: Arc<dyn ModelStore>,
}

impl ExplainUdtf {
    pub fn new(services: &Services) -> Self {
        ExplainUdtf {
            store: services.models.clone(),
        }
    }
}

impl TableFunctionSpec for ExplainUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        MODEL,
        SCORED,
        Param::value(
            "top_k",
            "Keep only the k largest contributions per row (default: every feature; 0 means every feature).",
        )
        .optional(),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Explanation", description: None },
            "Every row of a table or query with the model's prediction, its base value and a JSON explanation [{\"feature\", \"value\", \"contribution\"}, ...], largest |contribution| first. Exact TreeSHAP for decision_tree, random_forest and gbdt; coef × (x − training mean) for linear, ridge, lasso and logistic. base_value + Σ contributions is the explained raw output: log-odds (logistic, gbdt classifiers; the predicted class's score for multi-class), the positive-class or predicted-class frequency (forests), or the predicted value (regressors). One-hot and hashed columns are summed into their input feature. With method => 'lime', any model but kmeans is explained by LIME, a local linear surrogate (the lime package's tabular explainer without discretization): samples => N rows (default 5000) are drawn from the version's training profile (numbers from a normal with the training mean and sd, booleans and categories from their training shares), weighted by lime's kernel √exp(−d²/(0.75√features)²) on the distance to the row (numbers scaled by the training sd, booleans and categories as 1 when equal to the row's), scored by the model (positive-class probability, the predicted class's probability, or the value), and fitted by weighted ridge regression (α = 1); base_value is its intercept and a contribution its coefficient times the row's scaled value, so base_value + Σ contributions is the surrogate at the row, in probability units for classifiers. Seeded by seed => S (default 42) and the row's values: the same row gets the same explanation in any query. Errors: 42704 unknown model; 0A000 for models without exact explanations (kmeans, isolation_forest, baseline, sql_rule: use method => 'lime'; kmeans has none); 22023 when the relation lacks a feature, top_k is not a non-negative integer constant, method is not 'shap' or 'lime', or samples is not 10 to 1000000.",
            "SELECT * FROM ml_explain(model, relation [, top_k] [, method => 'lime'] [, samples => N] [, seed => S])",
        )
        .with_sql_example(
r#"```sql
> SELECT customer_id, round(base_value, 3) AS base, explanation
  FROM ml_explain('churn', (SELECT * FROM customers_recent WHERE customer_id = 100017), 2);
+-------------+--------+----------------------------------------------------------------------------------------------------------------------------------------------------+
| customer_id | base   | explanation                                                                                                                                        |
+-------------+--------+----------------------------------------------------------------------------------------------------------------------------------------------------+
| 100017      | -1.672 | [{"feature":"tenure_months","value":1,"contribution":0.7074149246379825},{"feature":"monthly_fee","value":63.85,"contribution":0.296399482023538}] |
+-------------+--------+----------------------------------------------------------------------------------------------------------------------------------------------------+
```"#,
        )
    }
}

fn top_k_value(expr: &Expr) -> std::result::Result<i64, SqlStateError> {
    let shown = match expr {
        Expr::Literal(v, _) => v.to_string(),
        other => other.to_string(),
    };
    let bad = || {
        SqlStateError::arg(
            NAME,
            "top_k",
            "must be a non-negative integer constant",
            &shown,
        )
    };
    match expr {
        Expr::Literal(v, _) if v.is_null() => Ok(0),
        Expr::Literal(v, _) => match v.cast_to(&DataType::Int64) {
            Ok(ScalarValue::Int64(Some(k)))
                if k >= 0 && !matches!(v, ScalarValue::Float64(Some(f)) if f.fract() != 0.0) =>
            {
                Ok(k)
            }
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

impl RelationFunction for ExplainUdtf {
    fn plan(&self, mut args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let mut top_k = 0;
        let mut explaining = Explaining::default();
        for (name, value) in &args.named {
            match name.to_ascii_lowercase().as_str() {
                "top_k" => top_k = top_k_value(value)?,
                other if explaining.named(NAME, other, value)? => {}
                other => {
                    return Err(SqlStateError::bad_argument(format!(
                        "{NAME}: unknown named argument {other}; it takes (model, relation [, top_k]) and method, samples, seed by name"
                    ))
                    .into_df());
                }
            }
        }
        let Explaining {
            method,
            samples,
            seed,
        } = explaining;
        if args.len() < 2 {
            return Err(args.usage_error());
        }
        let reference = args.model(0)?;
        let input = args.relation(1)?;
        args.at_most(3)?;
        if let Some(k) = args.value(2) {
            top_k = top_k_value(&k)?;
        }
        let (pinned, model) = pinned_model(self.store.as_ref(), &reference)?;
        let options = Explaining {
            method,
            samples,
            seed,
        };
        let settings =
            match options.settings(NAME, self.store.as_ref(), ctx, &pinned, &model, false)? {
                Some(json) => ScalarValue::Utf8(Some(json.to_string())),
                None => ScalarValue::Utf8(None),
            };
        let columns = feature_columns(NAME, &pinned, &model, &input)?;
        let predict_args = scoring_args(&pinned, &columns);
        let explain_args: Vec<Expr> = [lit(pinned.to_string()), lit(top_k), lit(settings)]
            .into_iter()
            .chain(predict_args.into_iter().skip(1))
            .collect();
        let passthrough = passthrough(&input);
        let mut inner = passthrough.clone();
        inner.push(
            udf::<PredictUdf>(&self.store)
                .call(scoring_args(&pinned, &columns))
                .alias("prediction"),
        );
        inner.push(
            udf::<ExplainUdf>(&self.store)
                .call(explain_args)
                .alias(STRUCT_COLUMN),
        );
        let field = super::field_of::udf();
        let mut outer = passthrough;
        outer.push(col("prediction"));
        for name in ["base_value", "explanation"] {
            outer.push(field.call(vec![col(STRUCT_COLUMN), lit(name)]).alias(name));
        }
        LogicalPlanBuilder::from(input)
            .project(inner)?
            .project(outer)?
            .build()
    }
}
