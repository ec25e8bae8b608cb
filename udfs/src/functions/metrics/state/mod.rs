//! The mergeable states behind the metric aggregates.
//!
//! | state          | keeps                                   | metrics |
//! |----------------|-----------------------------------------|---------|
//! | [`Agreement`]  | rows, rows where y = prediction         | accuracy |
//! | [`Counts`]     | tp, fp, tn, fn                          | precision, recall, f1, fbeta |
//! | [`Ranked`]     | every score, split by label             | roc_auc, pr_auc, best_threshold |
//! | [`LossSum`]    | rows, compensated sum of a per-row loss | log_loss, brier |
//! | [`Residuals`]  | rows, Σ(y−p)², Σ\|y−p\|, Σ\|y−p\|/\|y\|, mean and M2 of y | rmse, mae, mape, r2 |
//! | [`LabelPairs`] | count per (actual, predicted) label     | confusion_matrix |
//!
//! Partial states travel between partitions as plain Arrow columns (counts,
//! sums, lists), so merging is exact up to float addition.

mod agreement;
mod counts;
mod label_pairs;
mod loss;
mod ranked;
mod residuals;

pub use agreement::Agreement;
pub use counts::Counts;
pub use label_pairs::{LabelKind, LabelPairs};
pub use loss::{Loss, LossSum};
pub use ranked::Ranked;
pub use residuals::Residuals;

use std::collections::HashMap;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray, StringArray, UInt64Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;

use super::Call;
use crate::error::{SqlStateError, sqlstate};
use crate::functions::list_value;

/// A metric's partial state.
pub trait MetricState: Debug + Send + Sync + Sized + 'static {
    /// Types the two data arguments are cast to, or a 42804 error.
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError>;
    fn fields(name: &str) -> Vec<FieldRef>;
    fn new(call: Call, inputs: &[FieldRef]) -> Result<Self, SqlStateError>;
    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError>;
    /// The partial state as one value per field; may consume the state.
    fn take(&mut self) -> Result<Vec<ScalarValue>>;
    fn merge(&mut self, states: &[ArrayRef]) -> Result<()>;
    fn heap_size(&self) -> usize;
}

fn field(name: &str, part: &str, t: DataType) -> FieldRef {
    Arc::new(Field::new(format!("{name}[{part}]"), t, true))
}

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t, true)))
}

fn mismatch(call: Call, i: usize, expected: &str, got: &DataType) -> SqlStateError {
    SqlStateError::new(
        sqlstate::DATATYPE_MISMATCH,
        format!(
            "{}: {} must be {expected}, got {got}",
            call.function,
            call.arg(i)
        ),
    )
}

/// Binary labels: booleans stay, numbers become Float64 (checked to be 0/1).
pub fn coerce_binary(call: Call, i: usize, t: &DataType) -> Result<DataType, SqlStateError> {
    match t {
        DataType::Boolean | DataType::Null => Ok(DataType::Boolean),
        t if t.is_numeric() => Ok(DataType::Float64),
        t => Err(
            mismatch(call, i, "boolean or a number 0/1", t).with_hint(format!(
                "compare text labels with the positive one, e.g. {}(label = 'yes', ...)",
                call.function
            )),
        ),
    }
}

/// The usual two arguments: a binary label, then a score or probability.
pub fn coerce_label_score(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
    Ok(vec![
        coerce_binary(call, 0, &types[0])?,
        coerce_number(call, 1, &types[1])?,
    ])
}

/// Scores and probabilities: numbers (and booleans) become Float64.
pub fn coerce_number(call: Call, i: usize, t: &DataType) -> Result<DataType, SqlStateError> {
    match t {
        DataType::Boolean | DataType::Null => Ok(DataType::Float64),
        t if t.is_numeric() => Ok(DataType::Float64),
        t => Err(mismatch(call, i, "a number", t)),
    }
}

/// A binary label column as booleans, checking numbers are 0 or 1.
pub fn binary(call: Call, i: usize, array: &ArrayRef) -> Result<BooleanArray, SqlStateError> {
    match array.data_type() {
        DataType::Boolean => Ok(array.as_boolean().clone()),
        DataType::Float64 => {
            let values = array.as_primitive::<Float64Type>();
            let mut bad = None;
            let bits: BooleanArray = values
                .iter()
                .map(|v| {
                    v.map(|v| {
                        if v != 0.0 && v != 1.0 && bad.is_none() {
                            bad = Some(v);
                        }
                        v == 1.0
                    })
                })
                .collect();
            match bad {
                Some(v) => Err(SqlStateError::bad_data(format!(
                    "{}: {} must be 0 or 1 (or boolean), found {v}",
                    call.function,
                    call.arg(i)
                ))
                .with_hint("binary metrics take the positive class as 1 or true; for other labels pass e.g. label = 'yes'")),
                None => Ok(bits),
            }
        }
        t => Err(mismatch(call, i, "boolean or a number 0/1", t)),
    }
}

fn floats(array: &ArrayRef) -> Result<&Float64Array, SqlStateError> {
    array.as_primitive_opt::<Float64Type>().ok_or_else(|| {
        SqlStateError::internal(format!(
            "metric argument is {}, not Float64",
            array.data_type()
        ))
    })
}

fn internal(message: String) -> DataFusionError {
    SqlStateError::internal(message).into_df()
}

fn u64s(array: &ArrayRef) -> Result<&UInt64Array> {
    array
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| internal(format!("metric state is {}", array.data_type())))
}

fn f64s(array: &ArrayRef) -> Result<&Float64Array> {
    array
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| internal(format!("metric state is {}", array.data_type())))
}

fn lists(array: &ArrayRef) -> Result<&ListArray> {
    array
        .as_list_opt::<i32>()
        .ok_or_else(|| internal(format!("metric state is {}", array.data_type())))
}

fn sum_u64(array: &ArrayRef) -> Result<u64> {
    Ok(u64s(array)?.iter().flatten().sum())
}

/// Calls `row(label, value)` for each row, in order, where a binary label
/// and a number are both non-NULL.
fn labelled_numbers(
    call: Call,
    y: &ArrayRef,
    p: &ArrayRef,
    mut row: impl FnMut(bool, f64) -> Result<(), SqlStateError>,
) -> Result<(), SqlStateError> {
    let y = binary(call, 0, y)?;
    let numbers = floats(p)?;
    let valid = valid_rows(&y, numbers);
    let (labels, values) = (y.values(), numbers.values());
    match &valid {
        Some(v) => v
            .valid_indices()
            .try_for_each(|i| row(labels.value(i), values[i])),
        None => (0..values.len()).try_for_each(|i| row(labels.value(i), values[i])),
    }
}

/// The rows where every argument is non-NULL.
fn valid_rows(a: &dyn Array, b: &dyn Array) -> Option<NullBuffer> {
    NullBuffer::union(a.logical_nulls().as_ref(), b.logical_nulls().as_ref())
}

/// Neumaier's compensated sum: float sums of millions of terms stay exact to
/// about one rounding, as numpy's pairwise sums are.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sum {
    sum: f64,
    compensation: f64,
}

impl Sum {
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    pub fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// Rows of `y`/`p` where both are valid, as (label, predicted) booleans;
/// used by tests of the count metrics.
#[cfg(test)]
pub fn counts_of(y: &[bool], p: &[bool]) -> Counts {
    let mut c = Counts::default();
    let call = Call {
        function: "test",
        args: &["y", "p"],
    };
    let y: ArrayRef = Arc::new(BooleanArray::from(y.to_vec()));
    let p: ArrayRef = Arc::new(BooleanArray::from(p.to_vec()));
    c.update(call, &y, &p).expect("counts");
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_skip_null_rows_and_split_the_confusion() {
        let call = Call {
            function: "t",
            args: &["y", "p"],
        };
        let y: ArrayRef = Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(true),
            Some(false),
            Some(false),
            None,
            Some(true),
        ]));
        let p: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            Some(0.0),
            Some(1.0),
            Some(0.0),
            Some(1.0),
            None,
        ]));
        let p = Arc::new(
            binary(call, 1, &p)
                .map(|b| Arc::new(b) as ArrayRef)
                .expect("0/1"),
        );
        let mut c = Counts::default();
        c.update(call, &y, &p).expect("update");
        assert_eq!(
            c,
            Counts {
                tp: 1,
                fp: 1,
                tn: 1,
                fn_: 1
            }
        );
    }

    #[test]
    fn numbers_other_than_zero_and_one_are_not_binary_labels() {
        let call = Call {
            function: "ml_recall",
            args: &["y", "prediction"],
        };
        let y: ArrayRef = Arc::new(Float64Array::from(vec![0.0, 2.0]));
        let err = binary(call, 0, &y).expect_err("2 is not a label");
        assert_eq!(err.code, sqlstate::DATA_EXCEPTION);
        assert!(err.message.contains("y must be 0 or 1"), "{}", err.message);
    }

    #[test]
    fn moments_merge_exactly_far_from_zero() {
        let call = Call {
            function: "ml_r2",
            args: &["y", "prediction"],
        };
        // Σ(y − ȳ)² = 10 exactly; partition means differ by less than the
        // rounding error of a mean near 1e9.
        let y: Vec<f64> = (1..=5).map(|i| 1e9 + 0.1 * i as f64).collect();
        let expected: f64 = {
            let mean = y.iter().map(|v| v - 1e9).sum::<f64>() / 5.0;
            y.iter().map(|v| (v - 1e9 - mean).powi(2)).sum()
        };
        let mut merged = Residuals::default();
        for part in [&y[..2], &y[2..3], &y[3..]] {
            let a: ArrayRef = Arc::new(Float64Array::from(part.to_vec()));
            let mut partial = Residuals::default();
            partial.update(call, &a, &a).expect("update");
            let states: Vec<ArrayRef> = partial
                .take()
                .expect("state")
                .iter()
                .map(|v| v.to_array().expect("array"))
                .collect();
            merged.merge(&states).expect("merge");
        }
        assert_eq!(merged.rows, 5);
        let relative = (merged.total_squares() - expected).abs() / expected;
        assert!(relative < 1e-12, "{} vs {expected}", merged.total_squares());
    }

    #[test]
    fn compensated_sum_keeps_small_terms() {
        let mut s = Sum::default();
        s.add(1e16);
        for _ in 0..1000 {
            s.add(1.0);
        }
        s.add(-1e16);
        assert_eq!(s.value(), 1000.0);
    }
}
