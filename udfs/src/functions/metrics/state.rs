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

use std::collections::HashMap;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray, StringArray, UInt64Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;

use super::Call;
use crate::error::{SqlStateError, sqlstate};

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
        SqlStateError::new(
            sqlstate::INTERNAL_ERROR,
            format!("metric argument is {}, not Float64", array.data_type()),
        )
    })
}

fn internal(message: String) -> DataFusionError {
    SqlStateError::new(sqlstate::INTERNAL_ERROR, message).into_df()
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

/// Rows and rows where the prediction equals the label (any comparable type).
#[derive(Debug, Default)]
pub struct Agreement {
    pub rows: u64,
    pub equal: u64,
}

impl MetricState for Agreement {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        let common = comparison_coercion(&types[0], &types[1]).ok_or_else(|| {
            SqlStateError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!(
                    "{}: {} ({}) and {} ({}) cannot be compared",
                    call.function,
                    call.arg(0),
                    types[0],
                    call.arg(1),
                    types[1]
                ),
            )
        })?;
        Ok(vec![common.clone(), common])
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        vec![
            field(name, "rows", DataType::UInt64),
            field(name, "equal", DataType::UInt64),
        ]
    }

    fn new(_call: Call, _inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        Ok(Self::default())
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        let same = eq(y, p).map_err(|e| {
            SqlStateError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!("{}: cannot compare the arguments: {e}", call.function),
            )
        })?;
        self.rows += (same.len() - same.null_count()) as u64;
        self.equal += same.true_count() as u64;
        Ok(())
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.rows)),
            ScalarValue::UInt64(Some(self.equal)),
        ])
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.rows += sum_u64(&states[0])?;
        self.equal += sum_u64(&states[1])?;
        Ok(())
    }

    fn heap_size(&self) -> usize {
        0
    }
}

/// The binary confusion counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
}

impl Counts {
    pub fn rows(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }

    /// tp / (tp + fp): 0 without predicted positives (scikit-learn's
    /// `zero_division` default), None without rows.
    pub fn precision(&self) -> Option<f64> {
        self.share(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn): 0 without positives, None without rows.
    pub fn recall(&self) -> Option<f64> {
        self.share(self.tp, self.tp + self.fn_)
    }

    fn share(&self, a: u64, b: u64) -> Option<f64> {
        (self.rows() > 0).then(|| if b == 0 { 0.0 } else { a as f64 / b as f64 })
    }
}

impl MetricState for Counts {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        Ok(vec![
            coerce_binary(call, 0, &types[0])?,
            coerce_binary(call, 1, &types[1])?,
        ])
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        ["tp", "fp", "tn", "fn"]
            .iter()
            .map(|part| field(name, part, DataType::UInt64))
            .collect()
    }

    fn new(_call: Call, _inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        Ok(Self::default())
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        let y = binary(call, 0, y)?;
        let p = binary(call, 1, p)?;
        // Bitwise over 64 rows at a time: masks of valid rows, actual and
        // predicted positives.
        let valid = valid_rows(&y, &p);
        let rows = valid.as_ref().map_or(y.len(), |v| y.len() - v.null_count()) as u64;
        let (actual, predicted) = match &valid {
            Some(v) => (y.values() & v.inner(), p.values() & v.inner()),
            None => (y.values().clone(), p.values().clone()),
        };
        let tp = (&actual & &predicted).count_set_bits() as u64;
        let positives = actual.count_set_bits() as u64;
        let predicted_positives = predicted.count_set_bits() as u64;
        self.tp += tp;
        self.fp += predicted_positives - tp;
        self.fn_ += positives - tp;
        self.tn += rows - positives - (predicted_positives - tp);
        Ok(())
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        Ok([self.tp, self.fp, self.tn, self.fn_]
            .into_iter()
            .map(|v| ScalarValue::UInt64(Some(v)))
            .collect())
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.tp += sum_u64(&states[0])?;
        self.fp += sum_u64(&states[1])?;
        self.tn += sum_u64(&states[2])?;
        self.fn_ += sum_u64(&states[3])?;
        Ok(())
    }

    fn heap_size(&self) -> usize {
        0
    }
}

/// Every score, split by label. Partial states are sorted (in parallel, one
/// per partition) so the final sort only merges sorted runs.
#[derive(Debug, Default)]
pub struct Ranked {
    positives: Vec<f64>,
    negatives: Vec<f64>,
}

fn sort_scores(v: &mut [f64]) {
    // Stable sort: linear on already sorted input and a run merge on the
    // concatenated sorted partial states.
    v.sort_by(f64::total_cmp);
}

fn list_scalar(values: Vec<f64>) -> ScalarValue {
    let n = values.len();
    ScalarValue::List(Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Float64, true)),
        OffsetBuffer::from_lengths([n]),
        Arc::new(Float64Array::from(values)),
        None,
    )))
}

impl Ranked {
    /// Positive and negative scores, each ascending.
    pub fn sorted(&mut self) -> (&[f64], &[f64]) {
        sort_scores(&mut self.positives);
        sort_scores(&mut self.negatives);
        (&self.positives, &self.negatives)
    }

    #[cfg(test)]
    pub fn from_scores(positives: Vec<f64>, negatives: Vec<f64>) -> Self {
        Ranked {
            positives,
            negatives,
        }
    }
}

impl MetricState for Ranked {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        Ok(vec![
            coerce_binary(call, 0, &types[0])?,
            coerce_number(call, 1, &types[1])?,
        ])
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        vec![
            field(name, "positive_scores", list_of(DataType::Float64)),
            field(name, "negative_scores", list_of(DataType::Float64)),
        ]
    }

    fn new(_call: Call, _inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        Ok(Self::default())
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        let y = binary(call, 0, y)?;
        let scores = floats(p)?;
        let valid = valid_rows(&y, scores);
        let labels = y.values();
        let values = scores.values();
        let mut push = |i: usize| -> Result<(), SqlStateError> {
            let s = values[i];
            if s.is_nan() {
                return Err(SqlStateError::bad_data(format!(
                    "{}: {} is NaN",
                    call.function,
                    call.arg(1)
                ))
                .with_hint(
                    "filter NaN scores out or turn them into NULL with nullif(score, 'NaN')",
                ));
            }
            // -0.0 and 0.0 are one score (a tie), as in numpy.
            let s = s + 0.0;
            if labels.value(i) {
                self.positives.push(s);
            } else {
                self.negatives.push(s);
            }
            Ok(())
        };
        match &valid {
            Some(v) => {
                for i in v.valid_indices() {
                    push(i)?;
                }
            }
            None => {
                for i in 0..values.len() {
                    push(i)?;
                }
            }
        }
        Ok(())
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        let mut positives = std::mem::take(&mut self.positives);
        let mut negatives = std::mem::take(&mut self.negatives);
        positives.sort_unstable_by(f64::total_cmp);
        negatives.sort_unstable_by(f64::total_cmp);
        Ok(vec![list_scalar(positives), list_scalar(negatives)])
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (target, state) in [&mut self.positives, &mut self.negatives]
            .into_iter()
            .zip(states)
        {
            let list = lists(state)?;
            let values = f64s(list.values())?;
            let offsets = list.value_offsets();
            for row in 0..list.len() {
                if list.is_valid(row) {
                    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                    target.extend_from_slice(&values.values()[start..end]);
                }
            }
        }
        Ok(())
    }

    fn heap_size(&self) -> usize {
        (self.positives.capacity() + self.negatives.capacity()) * std::mem::size_of::<f64>()
    }
}

/// A per-row loss of a binary label and a probability.
pub trait Loss: Debug + Default + Send + Sync + 'static {
    fn loss(y: bool, p: f64) -> f64;
}

/// Rows and the compensated sum of a per-row loss over probabilities in [0, 1].
#[derive(Debug, Default)]
pub struct LossSum<L: Loss> {
    pub rows: u64,
    pub total: Sum,
    _loss: PhantomData<L>,
}

impl<L: Loss> LossSum<L> {
    /// The mean loss, None without rows.
    pub fn mean(&self) -> Option<f64> {
        (self.rows > 0).then(|| self.total.value() / self.rows as f64)
    }
}

impl<L: Loss> MetricState for LossSum<L> {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        Ok(vec![
            coerce_binary(call, 0, &types[0])?,
            coerce_number(call, 1, &types[1])?,
        ])
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        vec![
            field(name, "rows", DataType::UInt64),
            field(name, "total", DataType::Float64),
        ]
    }

    fn new(_call: Call, _inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        Ok(Self::default())
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        let y = binary(call, 0, y)?;
        let probabilities = floats(p)?;
        let valid = valid_rows(&y, probabilities);
        let labels = y.values();
        let values = probabilities.values();
        let add = |i: usize| -> Result<(), SqlStateError> {
            let q = values[i];
            if !(0.0..=1.0).contains(&q) {
                return Err(SqlStateError::bad_data(format!(
                    "{}: {} must be in [0, 1], found {q}",
                    call.function,
                    call.arg(1)
                )));
            }
            self.total.add(L::loss(labels.value(i), q));
            self.rows += 1;
            Ok(())
        };
        match &valid {
            Some(v) => v.valid_indices().try_for_each(add),
            None => (0..values.len()).try_for_each(add),
        }
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.rows)),
            ScalarValue::Float64(Some(self.total.value())),
        ])
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.rows += sum_u64(&states[0])?;
        for v in f64s(&states[1])?.iter().flatten() {
            self.total.add(v);
        }
        Ok(())
    }

    fn heap_size(&self) -> usize {
        0
    }
}

/// Regression residual sums and the running mean and M2 of y (Chan et al.'s
/// parallel variance, so R² does not cancel catastrophically). The mean is
/// kept relative to a shift (the first y seen): for y near 1e9 the means of
/// two partitions differ by far less than their rounding error, and only
/// shifted values keep that difference exact.
#[derive(Debug, Default)]
pub struct Residuals {
    pub rows: u64,
    pub squared: Sum,
    pub absolute: Sum,
    pub relative: Sum,
    shift: Option<f64>,
    /// Mean of y − shift.
    mean: f64,
    m2: f64,
}

impl Residuals {
    /// Folds in a block of `n` values of y − shift with mean `mean` and M2 `m2`.
    fn combine(&mut self, n: u64, mean: f64, m2: f64) {
        if n == 0 {
            return;
        }
        let total = self.rows + n;
        let delta = mean - self.mean;
        self.mean += delta * n as f64 / total as f64;
        self.m2 += m2 + delta * delta * self.rows as f64 * n as f64 / total as f64;
        self.rows = total;
    }

    /// SS_tot = Σ(y − ȳ)².
    pub fn total_squares(&self) -> f64 {
        self.m2
    }
}

impl MetricState for Residuals {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        Ok(vec![
            coerce_number(call, 0, &types[0])?,
            coerce_number(call, 1, &types[1])?,
        ])
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        vec![
            field(name, "rows", DataType::UInt64),
            field(name, "squared", DataType::Float64),
            field(name, "absolute", DataType::Float64),
            field(name, "relative", DataType::Float64),
            field(name, "shift", DataType::Float64),
            field(name, "mean", DataType::Float64),
            field(name, "m2", DataType::Float64),
        ]
    }

    fn new(_call: Call, _inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        Ok(Self::default())
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        let y = floats(y)?;
        let p = floats(p)?;
        let valid = valid_rows(y, p);
        let (yv, pv) = (y.values(), p.values());
        let rows: Vec<usize> = match &valid {
            Some(v) => v.valid_indices().collect(),
            None => (0..yv.len()).collect(),
        };
        if let Some(&i) = rows
            .iter()
            .find(|&&i| !yv[i].is_finite() || !pv[i].is_finite())
        {
            let which = if yv[i].is_finite() { 1 } else { 0 };
            return Err(SqlStateError::bad_data(format!(
                "{}: {} is {} (NaN and infinity have no error)",
                call.function,
                call.arg(which),
                if which == 0 { yv[i] } else { pv[i] }
            )));
        }
        if rows.is_empty() {
            return Ok(());
        }
        // scikit-learn divides by max(|y|, machine epsilon) in MAPE.
        let eps = f64::EPSILON;
        let shift = *self.shift.get_or_insert(yv[rows[0]]);
        let mut mean = Sum::default();
        for &i in &rows {
            let r = yv[i] - pv[i];
            self.squared.add(r * r);
            self.absolute.add(r.abs());
            self.relative.add(r.abs() / yv[i].abs().max(eps));
            mean.add(yv[i] - shift);
        }
        // Two passes over the batch, then Chan's merge into the running moments.
        let n = rows.len() as u64;
        let batch_mean = mean.value() / n as f64;
        let mut m2 = Sum::default();
        for &i in &rows {
            let d = (yv[i] - shift) - batch_mean;
            m2.add(d * d);
        }
        self.combine(n, batch_mean, m2.value());
        Ok(())
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.rows)),
            ScalarValue::Float64(Some(self.squared.value())),
            ScalarValue::Float64(Some(self.absolute.value())),
            ScalarValue::Float64(Some(self.relative.value())),
            ScalarValue::Float64(Some(self.shift.unwrap_or(0.0))),
            ScalarValue::Float64(Some(self.mean)),
            ScalarValue::Float64(Some(self.m2)),
        ])
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = u64s(&states[0])?;
        let [squared, absolute, relative, shift, mean, m2] =
            [1, 2, 3, 4, 5, 6].map(|i| f64s(&states[i]));
        let (squared, absolute, relative, shift, mean, m2) =
            (squared?, absolute?, relative?, shift?, mean?, m2?);
        for i in 0..rows.len() {
            if rows.is_null(i) || rows.value(i) == 0 {
                continue;
            }
            self.squared.add(squared.value(i));
            self.absolute.add(absolute.value(i));
            self.relative.add(relative.value(i));
            // The partial mean relative to our shift; shifts of one data set
            // are close, so their difference is exact (Sterbenz).
            let own = *self.shift.get_or_insert(shift.value(i));
            let partial_mean = (shift.value(i) - own) + mean.value(i);
            self.combine(rows.value(i), partial_mean, m2.value(i));
        }
        Ok(())
    }

    fn heap_size(&self) -> usize {
        0
    }
}

/// How labels of a confusion matrix print and sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    Boolean,
    Number,
    Text,
}

/// Labels a confusion matrix may have: it is for classes, not regression values.
pub const MAX_LABELS: usize = 1000;

/// Count per (actual, predicted) label, labels kept as their text form.
#[derive(Debug)]
pub struct LabelPairs {
    pub kind: LabelKind,
    index: HashMap<String, u32>,
    pub names: Vec<String>,
    pub counts: HashMap<(u32, u32), u64>,
}

impl LabelPairs {
    fn label(&mut self, call: Call, text: &str) -> Result<u32, SqlStateError> {
        if let Some(&i) = self.index.get(text) {
            return Ok(i);
        }
        if self.names.len() >= MAX_LABELS {
            return Err(SqlStateError::bad_data(format!(
                "{}: more than {MAX_LABELS} distinct labels; it counts class labels, not continuous values",
                call.function
            )));
        }
        let i = self.names.len() as u32;
        self.index.insert(text.to_string(), i);
        self.names.push(text.to_string());
        Ok(i)
    }

    fn add(&mut self, call: Call, y: &str, p: &str, count: u64) -> Result<(), SqlStateError> {
        let key = (self.label(call, y)?, self.label(call, p)?);
        *self.counts.entry(key).or_default() += count;
        Ok(())
    }
}

fn texts(array: &ArrayRef) -> Result<ArrayRef, SqlStateError> {
    cast(array, &DataType::Utf8).map_err(|e| {
        SqlStateError::new(
            sqlstate::DATATYPE_MISMATCH,
            format!("labels cannot be shown as text: {e}"),
        )
    })
}

impl MetricState for LabelPairs {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        Agreement::coerce(call, types)
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        vec![
            field(name, "actual", list_of(DataType::Utf8)),
            field(name, "predicted", list_of(DataType::Utf8)),
            field(name, "count", list_of(DataType::UInt64)),
        ]
    }

    fn new(_call: Call, inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        let kind = match inputs.first().map(|f| f.data_type()) {
            Some(DataType::Boolean) => LabelKind::Boolean,
            Some(t) if t.is_numeric() => LabelKind::Number,
            _ => LabelKind::Text,
        };
        Ok(LabelPairs {
            kind,
            index: HashMap::new(),
            names: Vec::new(),
            counts: HashMap::new(),
        })
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        let (y, p) = (texts(y)?, texts(p)?);
        let (y, p) = (y.as_string::<i32>(), p.as_string::<i32>());
        for i in 0..y.len() {
            if y.is_valid(i) && p.is_valid(i) {
                self.add(call, y.value(i), p.value(i), 1)?;
            }
        }
        Ok(())
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        let mut actual = Vec::with_capacity(self.counts.len());
        let mut predicted = Vec::with_capacity(self.counts.len());
        let mut counts = Vec::with_capacity(self.counts.len());
        for (&(a, p), &c) in &self.counts {
            actual.push(self.names[a as usize].as_str());
            predicted.push(self.names[p as usize].as_str());
            counts.push(c);
        }
        let n = counts.len();
        let text_list = |values: Vec<&str>| {
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(DataType::Utf8, true)),
                OffsetBuffer::from_lengths([n]),
                Arc::new(StringArray::from(values)),
                None,
            )))
        };
        let count_list = ScalarValue::List(Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(DataType::UInt64, true)),
            OffsetBuffer::from_lengths([n]),
            Arc::new(UInt64Array::from(counts)),
            None,
        )));
        Ok(vec![text_list(actual), text_list(predicted), count_list])
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let call = Call {
            function: "ml_confusion_matrix",
            args: &[],
        };
        let (a, p, c) = (lists(&states[0])?, lists(&states[1])?, lists(&states[2])?);
        let (av, pv) = (
            a.values().as_string_opt::<i32>(),
            p.values().as_string_opt::<i32>(),
        );
        let (Some(av), Some(pv)) = (av, pv) else {
            return Err(internal("confusion matrix state is not text".into()));
        };
        let cv = u64s(c.values())?;
        for i in 0..av.len() {
            self.add(call, av.value(i), pv.value(i), cv.value(i))
                .map_err(SqlStateError::into_df)?;
        }
        Ok(())
    }

    fn heap_size(&self) -> usize {
        self.names
            .iter()
            .map(|n| 2 * n.capacity() + 48)
            .sum::<usize>()
            + self.counts.len() * 32
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
