//! `__quarry_bootstrap(kind, ci, resamples, seed, threads, y, prediction,
//! score [, prediction_b, score_b])`, the hidden aggregate behind
//! `ml_evaluate` and `ml_compare`: one model's metrics with percentile
//! bootstrap intervals, or two models' paired comparison, as a list of
//! structs. It keeps every row (y, and prediction and score per model), so
//! it is exact, mergeable across partitions and works per GROUP BY segment.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, ListArray, StringArray, StructArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility, lit,
};
use datafusion::physical_expr::expressions::Literal;

use super::{Options, kind_name};
use crate::control::Control;
use crate::error::SqlStateError;
use crate::functions::list_value;
use crate::kernels::bootstrap::{self, Kind, Prepared};

pub const NAME: &str = "__quarry_bootstrap";

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
#[derive(Debug)]
pub struct BootstrapUdaf {
    signature: Signature,
    /// The planning session's compute pool and running statement: the
    /// resamples run in the pool and stop with the statement.
    control: Control,
}

impl BootstrapUdaf {
    pub fn new(control: Control) -> Self {
        BootstrapUdaf {
            signature: Signature::user_defined(Volatility::Immutable),
            control,
        }
    }
}

impl PartialEq for BootstrapUdaf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.control.statement, &other.control.statement)
    }
}

impl Eq for BootstrapUdaf {}

impl std::hash::Hash for BootstrapUdaf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        NAME.hash(state);
    }
}

const CONSTANTS: usize = 5;

impl AggregateUDFImpl for BootstrapUdaf {
    fn name(&self) -> &str {
        NAME
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
                    SqlStateError::internal(format!("{NAME}: argument {i} must be a literal"))
                        .into_df()
                })
        };
        let text = constant(0)?.to_string();
        let kind = kind_of(&text)
            .ok_or_else(|| SqlStateError::internal(format!("unknown kind {text}")).into_df())?;
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
            control: self.control.clone(),
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
    control: Control,
}

impl Accumulator for BootstrapAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let arrays: Vec<&Float64Array> = values[CONSTANTS..]
            .iter()
            .map(|a| {
                a.as_primitive_opt::<Float64Type>().ok_or_else(|| {
                    SqlStateError::internal("evaluation input is not DOUBLE").into_df()
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
            let (resamples, seed, threads) = (self.resamples, self.seed, self.threads);
            self.control.run(|stop| {
                bootstrap::resampled(&refs, resamples, seed, threads, stop)
                    .map_err(SqlStateError::into_df)
            })?
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
        let rows = StructArray::try_new(fields, columns, None)?;
        Ok(list_value(Arc::new(rows)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.columns.iter().map(|c| c.capacity() * 8).sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self
            .columns
            .iter_mut()
            .map(|c| list_value(Arc::new(Float64Array::from(std::mem::take(c)))))
            .collect())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (column, state) in self.columns.iter_mut().zip(states) {
            let list = state.as_list_opt::<i32>().ok_or_else(|| {
                SqlStateError::internal("bootstrap state is not a list").into_df()
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

/// A call of the hidden aggregate over the given (y, prediction, score, ...)
/// columns; the plan holds the aggregate itself.
pub fn bootstrap_call(
    ctx: &mut dyn RelationPlannerContext,
    kind: Kind,
    options: &Options,
    columns: Vec<Expr>,
) -> Result<Expr> {
    let config = ctx.context_provider().options();
    let udaf = AggregateUDF::new_from_impl(BootstrapUdaf::new(Control::of(config)));
    let threads = config.execution.target_partitions.max(1);
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
