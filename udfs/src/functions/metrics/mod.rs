//! Evaluation metrics as SQL aggregates, one file per function.
//!
//! Every metric is an aggregate over `(y, prediction)` rows, so it works with
//! GROUP BY (per segment), as a window function (running metrics) and over
//! any number of partitions: each keeps a mergeable state ([`state`]) and the
//! final value is computed from the merged state, so 1 or 64 partitions give
//! the same answer. Ranking metrics keep every (score, label) pair and are
//! exact, never binned.
//!
//! Shared rules, following scikit-learn for binary labels:
//! - a row is used only when all its arguments are non-NULL; an empty input
//!   gives NULL;
//! - binary labels are booleans or numbers 0/1 (positive is `true`/1); text
//!   labels are compared to the positive label by the caller (`y = 'yes'`);
//! - NaN scores and probabilities outside [0, 1] are data errors (22000);
//! - trailing constant arguments (`beta`, costs) must be literals (22023).

pub mod accuracy;
pub mod best_threshold;
pub mod brier;
pub mod confusion_matrix;
pub mod f1;
pub mod fbeta;
pub mod log_loss;
pub mod mae;
pub mod mape;
pub mod pr_auc;
pub mod precision;
pub mod r2;
pub mod recall;
pub mod rmse;
pub mod roc_auc;
pub mod state;

use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::Definition;
use state::MetricState;

/// Names a call for error messages: the function and its argument names.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub function: &'static str,
    pub args: &'static [&'static str],
}

impl Call {
    pub fn arg(&self, i: usize) -> &'static str {
        self.args.get(i).copied().unwrap_or("argument")
    }
}

/// One metric: its name, arguments, state and final formula.
pub trait Metric: Debug + Default + Send + Sync + 'static {
    const NAME: &'static str;
    /// Argument names, first the two data arguments then constants.
    const ARGS: &'static [&'static str];
    /// How many trailing constants may be left out (the metric defaults them).
    const OPTIONAL: usize = 0;
    type State: MetricState;

    fn return_type(&self) -> DataType {
        DataType::Float64
    }

    /// Checks the constant arguments (after the first two), once per query.
    fn check_constants(&self, _constants: &[f64]) -> Result<(), SqlStateError> {
        Ok(())
    }

    /// The metric from the merged state; must not consume it.
    fn evaluate(&self, state: &mut Self::State, constants: &[f64]) -> Result<ScalarValue>;

    fn documentation(&self) -> Option<&Documentation>;

    fn call() -> Call {
        Call {
            function: Self::NAME,
            args: Self::ARGS,
        }
    }
}

/// The DataFusion aggregate for a [`Metric`]: each metric file holds one
/// `<Op>Udaf` implementing [`Metric`], registered as `MetricUdaf<<Op>Udaf>`.
#[derive(Debug)]
pub struct MetricUdaf<M: Metric> {
    metric: M,
    signature: Signature,
    _marker: PhantomData<M>,
}

impl<M: Metric> MetricUdaf<M> {
    pub fn new() -> Self {
        MetricUdaf {
            metric: M::default(),
            signature: named(Signature::user_defined(Volatility::Immutable), M::ARGS),
            _marker: PhantomData,
        }
    }
}

/// Lets the arguments be passed by name (`bins => 20`).
pub fn named(signature: Signature, names: &[&str]) -> Signature {
    // A user-defined signature accepts any list of names.
    signature
        .clone()
        .with_parameter_names(names.to_vec())
        .unwrap_or(signature)
}

impl<M: Metric> Default for MetricUdaf<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Metric> PartialEq for MetricUdaf<M> {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl<M: Metric> Eq for MetricUdaf<M> {}

impl<M: Metric> Hash for MetricUdaf<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        M::NAME.hash(state);
    }
}

impl<M: Metric> AggregateUDFImpl for MetricUdaf<M> {
    fn name(&self) -> &str {
        M::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Casts acceptable arguments and passes the others through unchanged:
    /// `return_type` then rejects them with a plain 42804, where an error
    /// here would reach the client wrapped in DataFusion's coercion message.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(coerced::<M>(arg_types).unwrap_or_else(|_| arg_types.to_vec()))
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let types = coerced::<M>(arg_types).map_err(SqlStateError::into_df)?;
        if types != arg_types {
            return Err(SqlStateError::internal(format!(
                "{}: arguments were not coerced",
                M::NAME
            ))
            .into_df());
        }
        Ok(self.metric.return_type())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(M::State::fields(args.name))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let call = M::call();
        let mut constants = Vec::with_capacity(args.exprs.len().saturating_sub(2));
        for (i, expr) in args.exprs.iter().enumerate().skip(2) {
            let value = expr
                .downcast_ref::<Literal>()
                .and_then(|l| match l.value() {
                    ScalarValue::Float64(Some(v)) => Some(*v),
                    other => other
                        .cast_to(&DataType::Float64)
                        .ok()
                        .and_then(|v| match v {
                            ScalarValue::Float64(Some(v)) => Some(v),
                            _ => None,
                        }),
                })
                .ok_or_else(|| {
                    SqlStateError::bad_argument(format!(
                        "{}: {} must be a constant number, not a column or NULL",
                        M::NAME,
                        call.arg(i)
                    ))
                    .into_df()
                })?;
            constants.push(value);
        }
        self.metric
            .check_constants(&constants)
            .map_err(SqlStateError::into_df)?;
        let state = M::State::new(call, &args.expr_fields[..2]).map_err(SqlStateError::into_df)?;
        Ok(Box::new(MetricAccumulator::<M> {
            metric: M::default(),
            state,
            constants,
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.metric.documentation()
    }
}

#[derive(Debug)]
struct MetricAccumulator<M: Metric> {
    metric: M,
    state: M::State,
    constants: Vec<f64>,
}

impl<M: Metric> Accumulator for MetricAccumulator<M> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.state
            .update(M::call(), &values[0], &values[1])
            .map_err(SqlStateError::into_df)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.metric.evaluate(&mut self.state, &self.constants)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.state.heap_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.state.take()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.state.merge(states)
    }
}

/// The types the arguments of a call are cast to: 42883 for a wrong count,
/// 42804 for a type the metric cannot take.
fn coerced<M: Metric>(arg_types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
    let call = M::call();
    let most = call.args.len();
    let least = most - M::OPTIONAL;
    if arg_types.len() < least || arg_types.len() > most {
        let count = if least == most {
            most.to_string()
        } else {
            format!("{least} to {most}")
        };
        return Err(SqlStateError::new(
            crate::error::sqlstate::UNDEFINED_FUNCTION,
            format!(
                "{}: expected {count} arguments ({}), got {}",
                call.function,
                call.args.join(", "),
                arg_types.len()
            ),
        ));
    }
    let mut types = M::State::coerce(call, &arg_types[..2])?;
    for (i, t) in arg_types.iter().enumerate().skip(2) {
        if !(t.is_numeric() || t.is_null()) {
            return Err(SqlStateError::new(
                crate::error::sqlstate::DATATYPE_MISMATCH,
                format!(
                    "{}: {} must be a number, got {t}",
                    call.function,
                    call.arg(i)
                ),
            ));
        }
        types.push(DataType::Float64);
    }
    Ok(types)
}

/// A float result, NULL when the metric is undefined.
pub fn float(value: Option<f64>) -> ScalarValue {
    ScalarValue::Float64(value)
}

/// The metric aggregates.
pub fn functions() -> Vec<Definition<Services>> {
    vec![
        metric::<accuracy::AccuracyUdaf>(),
        metric::<precision::PrecisionUdaf>(),
        metric::<recall::RecallUdaf>(),
        metric::<f1::F1Udaf>(),
        metric::<fbeta::FBetaUdaf>(),
        metric::<roc_auc::RocAucUdaf>(),
        metric::<pr_auc::PrAucUdaf>(),
        metric::<log_loss::LogLossUdaf>(),
        metric::<brier::BrierUdaf>(),
        metric::<confusion_matrix::ConfusionMatrixUdaf>(),
        metric::<rmse::RmseUdaf>(),
        metric::<mae::MaeUdaf>(),
        metric::<mape::MapeUdaf>(),
        metric::<r2::R2Udaf>(),
        metric::<best_threshold::BestThresholdUdaf>(),
    ]
}

/// The definition of one metric's aggregate.
pub fn metric<M: Metric>() -> Definition<Services> {
    Definition::aggregate(|_| MetricUdaf::<M>::new())
}

#[cfg(test)]
pub(crate) mod testing {
    //! Runs a metric the way DataFusion does: in several partial accumulators
    //! whose states are merged, so tests check mergeability too.
    use super::*;
    use datafusion::arrow::array::Array;

    /// The metric over `y`, `p` fed in one accumulator and in `parts` merged ones.
    pub fn run<M: Metric>(
        y: ArrayRef,
        p: ArrayRef,
        constants: &[f64],
        parts: usize,
    ) -> Result<(ScalarValue, ScalarValue)> {
        let fields = [
            std::sync::Arc::new(datafusion::arrow::datatypes::Field::new(
                "y",
                y.data_type().clone(),
                true,
            )),
            std::sync::Arc::new(datafusion::arrow::datatypes::Field::new(
                "p",
                p.data_type().clone(),
                true,
            )),
        ];
        let new = || -> Result<MetricAccumulator<M>> {
            Ok(MetricAccumulator {
                metric: M::default(),
                state: M::State::new(M::call(), &fields).map_err(SqlStateError::into_df)?,
                constants: constants.to_vec(),
            })
        };
        let mut single = new()?;
        single.update_batch(&[y.clone(), p.clone()])?;
        let whole = single.evaluate()?;

        let n = y.len();
        let mut fin = new()?;
        let step = n.div_ceil(parts.max(1)).max(1);
        let mut start = 0;
        while start < n || start == 0 {
            let len = step.min(n - start);
            let mut part = new()?;
            part.update_batch(&[y.slice(start, len), p.slice(start, len)])?;
            let states: Vec<ArrayRef> = part
                .state()?
                .iter()
                .map(|s| s.to_array())
                .collect::<Result<_>>()?;
            fin.merge_batch(&states)?;
            start += len;
            if len == 0 {
                break;
            }
        }
        Ok((whole, fin.evaluate()?))
    }
}
