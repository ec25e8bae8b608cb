//! Shared machinery of `ml_evaluate` and `ml_compare`: how a model's outputs
//! and the relation's labels become (y, prediction, score) columns, and the
//! hidden aggregate (`__quarry_bootstrap`) that bootstraps their metrics.
//!
//! | task                   | y                     | prediction              | score |
//! |------------------------|-----------------------|-------------------------|-------|
//! | binary classification  | label = positive class | ml_predict = positive  | ml_predict_proba |
//! | multi-class            | ml_predict = label (1 right, 0 wrong) | same    | same  |
//! | regression             | label                 | ml_predict              | same  |
//!
//! Rows with a NULL label or output are left out. The aggregate keeps every
//! row (y, and prediction and score per model), so it is exact, mergeable
//! across partitions and works per GROUP BY segment (`by`).

pub mod compare;
pub mod curve;
pub mod evaluate;
pub mod fairness;
pub mod lift_curve;
pub mod pr_curve;
pub mod residuals;
pub mod roc_curve;

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, ListArray, StringArray, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, LogicalPlan, Signature, Volatility, cast,
    lit,
};
use datafusion::physical_expr::expressions::Literal;

use crate::error::{SqlStateError, sqlstate};
use crate::functions::relation::find_column;
use crate::kernels::bootstrap::{self, Kind, Prepared};
use crate::model::schema::ClassValue;
use crate::model::{LoadedModel, ModelRef, ModelStore, Task};

pub const BOOTSTRAP_FUNCTION: &str = "__quarry_bootstrap";

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
            SqlStateError::bad_argument(format!(
                "{function}: {key} must be {expected}, got {value}"
            ))
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
    store: &dyn ModelStore,
    ctx: &mut dyn RelationPlannerContext,
    reference: &str,
    input: &LogicalPlan,
) -> Result<(Outputs, Arc<LoadedModel>)> {
    let bad = |msg: String| SqlStateError::bad_argument(msg).into_df();
    let pinned = store.resolve(reference).map_err(SqlStateError::into_df)?;
    let model = store.load(&pinned).map_err(SqlStateError::into_df)?;
    let label = model.envelope.label.clone().ok_or_else(|| {
        SqlStateError::unsupported(format!(
            "{function}: model {pinned} has no label ({} models are not evaluated against one)",
            model.task().name()
        ))
        .into_df()
    })?;
    let label_column = find_column(input, &label.name).ok_or_else(|| {
        bad(format!(
            "{function}: the relation has no column {} (the label of model {pinned})",
            label.name
        ))
    })?;
    let mut features = Vec::with_capacity(model.features().len());
    let mut missing = Vec::new();
    for feature in model.features() {
        match find_column(input, &feature.name) {
            Some(column) => features.push(column.alias(feature.name.clone())),
            None => missing.push(feature.name.as_str()),
        }
    }
    if !missing.is_empty() {
        return Err(bad(format!(
            "{function}: the relation lacks features of model {pinned}: {}",
            missing.join(", ")
        )));
    }
    let args: Vec<Expr> = std::iter::once(lit(pinned.to_string()))
        .chain(features)
        .collect();
    let function_named = |name: &str| {
        ctx.context_provider()
            .get_function_meta(name)
            .ok_or_else(|| {
                SqlStateError::new(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!("function {name} is not registered"),
                )
                .into_df()
            })
    };
    let predict = function_named(crate::functions::scoring::predict::NAME)?.call(args.clone());
    let as_double = |e: Expr| cast(e, DataType::Float64);
    let outputs = match (model.task(), label.classes.len()) {
        (Task::Classification, 2) => {
            let positive = class_literal(&label.classes[1]);
            Outputs {
                kind: Kind::Binary,
                y: as_double(label_column.clone().eq(positive.clone())),
                prediction: as_double(predict.eq(positive)),
                score: function_named(crate::functions::scoring::predict_proba::NAME)?.call(args),
                labelled: label_column.is_not_null(),
                pinned,
                label: label.name.clone(),
            }
        }
        (Task::Classification, _) => {
            let right = as_double(predict.eq(label_column.clone()));
            Outputs {
                kind: Kind::Multiclass,
                y: right.clone(),
                prediction: right.clone(),
                score: right,
                labelled: label_column.is_not_null(),
                pinned,
                label: label.name.clone(),
            }
        }
        (Task::Regression, _) => Outputs {
            kind: Kind::Regression,
            y: as_double(label_column.clone()),
            prediction: as_double(predict.clone()),
            score: as_double(predict),
            labelled: label_column.is_not_null(),
            pinned,
            label: label.name.clone(),
        },
        (task, _) => {
            return Err(SqlStateError::unsupported(format!(
                "{function}: {} models have no evaluation metrics here",
                task.name()
            ))
            .into_df());
        }
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

fn kind_of(name: &str) -> Option<Kind> {
    match name {
        "binary" => Some(Kind::Binary),
        "regression" => Some(Kind::Regression),
        "multiclass" => Some(Kind::Multiclass),
        _ => None,
    }
}

/// Struct fields of one `ml_evaluate` row.
pub fn evaluate_fields() -> Fields {
    Fields::from(vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("ci_lower", DataType::Float64, true),
        Field::new("ci_upper", DataType::Float64, true),
    ])
}

/// Struct fields of one `ml_compare` row.
pub fn compare_fields() -> Fields {
    Fields::from(vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Float64, true),
        Field::new("diff", DataType::Float64, true),
        Field::new(
            "ci",
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
            true,
        ),
        Field::new("p_value", DataType::Float64, true),
    ])
}

/// `__quarry_bootstrap(kind, ci, resamples, seed, threads, y, prediction, score [, prediction_b, score_b])`:
/// one model's metrics with CIs, or two models' paired comparison, as a list of structs.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BootstrapUdaf {
    signature: Signature,
}

impl Default for BootstrapUdaf {
    fn default() -> Self {
        BootstrapUdaf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

const CONSTANTS: usize = 5;

impl AggregateUDFImpl for BootstrapUdaf {
    fn name(&self) -> &str {
        BOOTSTRAP_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match i {
                0 => DataType::Utf8,
                _ if i < CONSTANTS => t.clone(),
                _ => DataType::Float64,
            })
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let fields = if arg_types.len() > CONSTANTS + 3 {
            compare_fields()
        } else {
            evaluate_fields()
        };
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Struct(fields),
            true,
        ))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let columns = args.input_fields.len().saturating_sub(CONSTANTS);
        Ok((0..columns)
            .map(|i| {
                Arc::new(Field::new(
                    format!("{}[{i}]", args.name),
                    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
                    true,
                )) as FieldRef
            })
            .collect())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let constant = |i: usize| -> Result<ScalarValue> {
            args.exprs
                .get(i)
                .and_then(|e| e.downcast_ref::<Literal>())
                .map(|l| l.value().clone())
                .ok_or_else(|| {
                    SqlStateError::new(
                        sqlstate::INTERNAL_ERROR,
                        format!("{BOOTSTRAP_FUNCTION}: argument {i} must be a literal"),
                    )
                    .into_df()
                })
        };
        let text = constant(0)?.to_string();
        let kind = kind_of(&text).ok_or_else(|| {
            SqlStateError::new(sqlstate::INTERNAL_ERROR, format!("unknown kind {text}")).into_df()
        })?;
        let number = |i: usize| -> Result<f64> {
            match constant(i)?.cast_to(&DataType::Float64)? {
                ScalarValue::Float64(Some(v)) => Ok(v),
                _ => Ok(0.0),
            }
        };
        let columns = args.exprs.len().saturating_sub(CONSTANTS);
        Ok(Box::new(BootstrapAccumulator {
            kind,
            ci: number(1)?,
            resamples: number(2)? as usize,
            seed: number(3)? as u64,
            threads: (number(4)? as usize).max(1),
            columns: vec![Vec::new(); columns],
        }))
    }
}

#[derive(Debug)]
struct BootstrapAccumulator {
    kind: Kind,
    ci: f64,
    resamples: usize,
    seed: u64,
    threads: usize,
    /// y, then (prediction, score) per model.
    columns: Vec<Vec<f64>>,
}

impl Accumulator for BootstrapAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let arrays: Vec<&Float64Array> = values[CONSTANTS..]
            .iter()
            .map(|a| {
                a.as_primitive_opt::<Float64Type>().ok_or_else(|| {
                    SqlStateError::new(sqlstate::INTERNAL_ERROR, "evaluation input is not DOUBLE")
                        .into_df()
                })
            })
            .collect::<Result<_>>()?;
        let n = arrays.first().map_or(0, |a| a.len());
        for i in 0..n {
            if arrays.iter().all(|a| a.is_valid(i) && !a.value(i).is_nan()) {
                for (column, a) in self.columns.iter_mut().zip(&arrays) {
                    column.push(a.value(i));
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let y = &self.columns[0];
        let models: Vec<Prepared> = self.columns[1..]
            .chunks(2)
            .map(|pair| Prepared::new(self.kind, y.clone(), pair[0].clone(), pair[1].clone()))
            .collect();
        let refs: Vec<&Prepared> = models.iter().collect();
        let points: Vec<Vec<f64>> = models.iter().map(|m| m.metrics(None)).collect();
        let runs = if y.is_empty() {
            Vec::new()
        } else {
            bootstrap::resampled(&refs, self.resamples, self.seed, self.threads)
        };
        let names = self.kind.metrics();
        let finite = |v: f64| v.is_finite().then_some(v);
        let metric_names: ArrayRef = Arc::new(StringArray::from(names.to_vec()));
        let (fields, columns): (Fields, Vec<ArrayRef>) = if models.len() == 1 {
            let (mut value, mut lower, mut upper) = (Vec::new(), Vec::new(), Vec::new());
            for m in 0..names.len() {
                let values: Vec<f64> = runs.iter().map(|r| r[0][m]).collect();
                let (lo, hi) = if values.is_empty() {
                    (f64::NAN, f64::NAN)
                } else {
                    bootstrap::interval(&values, self.ci)
                };
                value.push(finite(points[0][m]));
                lower.push(finite(lo));
                upper.push(finite(hi));
            }
            (
                evaluate_fields(),
                vec![
                    metric_names,
                    Arc::new(Float64Array::from(value)),
                    Arc::new(Float64Array::from(lower)),
                    Arc::new(Float64Array::from(upper)),
                ],
            )
        } else {
            let delong = (self.kind == Kind::Binary)
                .then(|| bootstrap::delong(y, &self.columns[2], &self.columns[4]))
                .flatten();
            let (mut a, mut b, mut diff, mut ci, mut p_value) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (m, name) in names.iter().enumerate() {
                let differences: Vec<f64> = runs.iter().map(|r| r[1][m] - r[0][m]).collect();
                let (lo, hi) = if differences.is_empty() {
                    (f64::NAN, f64::NAN)
                } else {
                    bootstrap::interval(&differences, self.ci)
                };
                let p = if *name == "roc_auc" {
                    delong.map_or(f64::NAN, |d| d.2)
                } else {
                    bootstrap::sign_test(&differences)
                };
                a.push(finite(points[0][m]));
                b.push(finite(points[1][m]));
                diff.push(finite(points[1][m] - points[0][m]));
                ci.push((lo.is_finite() && hi.is_finite()).then(|| vec![Some(lo), Some(hi)]));
                p_value.push(finite(p));
            }
            (
                compare_fields(),
                vec![
                    metric_names,
                    Arc::new(Float64Array::from(a)),
                    Arc::new(Float64Array::from(b)),
                    Arc::new(Float64Array::from(diff)),
                    Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(ci)),
                    Arc::new(Float64Array::from(p_value)),
                ],
            )
        };
        let rows = StructArray::try_new(fields.clone(), columns, None)?;
        Ok(ScalarValue::List(Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(DataType::Struct(fields), true)),
            OffsetBuffer::from_lengths([names.len()]),
            Arc::new(rows),
            None,
        ))))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.columns.iter().map(|c| c.capacity() * 8).sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self
            .columns
            .iter_mut()
            .map(|c| {
                let values = std::mem::take(c);
                let n = values.len();
                ScalarValue::List(Arc::new(ListArray::new(
                    Arc::new(Field::new_list_field(DataType::Float64, true)),
                    OffsetBuffer::from_lengths([n]),
                    Arc::new(Float64Array::from(values)),
                    None,
                )))
            })
            .collect())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (column, state) in self.columns.iter_mut().zip(states) {
            let list = state.as_list_opt::<i32>().ok_or_else(|| {
                SqlStateError::new(sqlstate::INTERNAL_ERROR, "bootstrap state is not a list")
                    .into_df()
            })?;
            for row in 0..list.len() {
                if list.is_valid(row) {
                    let values = list.value(row);
                    if let Some(v) = values.as_primitive_opt::<Float64Type>() {
                        column.extend_from_slice(v.values());
                    }
                }
            }
        }
        Ok(())
    }
}

/// The hidden aggregate, for registration.
pub fn bootstrap_function() -> AggregateUDF {
    AggregateUDF::from(BootstrapUdaf::default())
}

/// A call of the hidden aggregate over the given (y, prediction, score, ...) columns.
pub fn bootstrap_call(
    ctx: &mut dyn RelationPlannerContext,
    kind: Kind,
    options: &Options,
    columns: Vec<Expr>,
) -> Result<Expr> {
    let udaf = ctx
        .context_provider()
        .get_aggregate_meta(BOOTSTRAP_FUNCTION)
        .ok_or_else(|| {
            SqlStateError::new(
                sqlstate::UNDEFINED_FUNCTION,
                "bootstrap aggregate is not registered",
            )
            .into_df()
        })?;
    let threads = ctx
        .context_provider()
        .options()
        .execution
        .target_partitions
        .max(1);
    let args: Vec<Expr> = [
        lit(kind_name(kind)),
        lit(options.ci),
        lit(options.bootstrap as i64),
        lit(options.seed as i64),
        lit(threads as i64),
    ]
    .into_iter()
    .chain(columns)
    .collect();
    Ok(udaf.call(args))
}
