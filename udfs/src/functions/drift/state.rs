//! The mergeable state behind the drift aggregates: every value, split by
//! side. Numbers are kept (sorted per partition, run-merged at the end, as
//! the ranking metrics do); categories are counted per side.
//!
//! State columns, the same for both kinds so the aggregate's state schema does
//! not depend on its input: reference and current numbers (lists), category
//! names and their reference and current counts (lists).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;

use crate::error::{SqlStateError, sqlstate};
use crate::functions::list_value;
use crate::functions::metrics::Call;
use crate::functions::metrics::state::{MetricState, binary, coerce_binary};

/// More distinct categories than this is a data error: the categorical tests
/// compare categories, not continuous values.
pub const MAX_CATEGORIES: usize = 100_000;

/// Which value types a drift aggregate accepts.
pub trait Accepts: std::fmt::Debug + Send + Sync + 'static {
    /// The type a value argument of type `t` is cast to, or a 42804 error.
    fn coerce(call: Call, t: &DataType) -> Result<DataType, SqlStateError>;

    /// Whether partial states are sorted before they travel, so the final
    /// sort only merges runs (the statistics that need sorted samples);
    /// binned statistics only need quantiles and skip it.
    const PRESORT: bool = true;
}

fn mismatch(call: Call, expected: &str, got: &DataType) -> SqlStateError {
    SqlStateError::new(
        sqlstate::DATATYPE_MISMATCH,
        format!(
            "{}: {} must be {expected}, got {got}",
            call.function,
            call.arg(0)
        ),
    )
}

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

/// Numbers only (KS, Wasserstein).
#[derive(Debug)]
pub struct Numbers;

impl Accepts for Numbers {
    fn coerce(call: Call, t: &DataType) -> Result<DataType, SqlStateError> {
        match t {
            t if t.is_numeric() || t.is_null() => Ok(DataType::Float64),
            t => Err(mismatch(call, "a number", t)
                .with_hint("compare categories with ml_chi2_pvalue or ml_psi")),
        }
    }
}

/// Numbers (binned) or categories: text and booleans (PSI, JS divergence).
#[derive(Debug)]
pub struct Either;

impl Accepts for Either {
    const PRESORT: bool = false;

    fn coerce(call: Call, t: &DataType) -> Result<DataType, SqlStateError> {
        match t {
            t if t.is_numeric() || t.is_null() => Ok(DataType::Float64),
            DataType::Boolean => Ok(DataType::Utf8),
            t if is_text(t) => Ok(DataType::Utf8),
            t => Err(mismatch(call, "a number, text or boolean", t)),
        }
    }
}

/// Categories of any scalar type, compared as their text (χ²).
#[derive(Debug)]
pub struct Categories;

impl Accepts for Categories {
    fn coerce(call: Call, t: &DataType) -> Result<DataType, SqlStateError> {
        match t {
            t if t.is_numeric() || t.is_null() || is_text(t) => Ok(DataType::Utf8),
            DataType::Boolean | DataType::Date32 | DataType::Date64 => Ok(DataType::Utf8),
            t => Err(mismatch(
                call,
                "a category (text, boolean, integer or date)",
                t,
            )),
        }
    }
}

/// Every value of both sides.
#[derive(Debug)]
pub struct Sides<A: Accepts> {
    pub numeric: bool,
    /// The function errors are reported for.
    call: Call,
    /// Table functions (profiles, ml_drift) read whole tables: any number
    /// of categories, NaN read as NULL. The aggregates are strict.
    lenient: bool,
    /// NaNs skipped in lenient mode (counted with the NULLs by profiles).
    pub nan: u64,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
    index: HashMap<String, usize>,
    /// Category names, in order of first appearance, and (reference, current) counts.
    pub names: Vec<String>,
    pub counts: Vec<[u64; 2]>,
    sorted: bool,
    _accepts: PhantomData<A>,
}

impl<A: Accepts> Sides<A> {
    /// A strict state for an aggregate.
    pub fn new_of(call: Call, numeric: bool) -> Self {
        Sides {
            numeric,
            call,
            lenient: false,
            nan: 0,
            reference: Vec::new(),
            current: Vec::new(),
            index: HashMap::new(),
            names: Vec::new(),
            counts: Vec::new(),
            sorted: true,
            _accepts: PhantomData,
        }
    }

    /// A lenient state for a table function: no category limit, NaN as NULL.
    pub fn lenient(call: Call, numeric: bool) -> Self {
        Sides {
            lenient: true,
            ..Self::new_of(call, numeric)
        }
    }

    /// Both samples in no particular order; the reference may be reordered.
    pub fn unsorted(&mut self) -> (&mut [f64], &[f64]) {
        self.sorted = false;
        (&mut self.reference, &self.current)
    }

    /// Both samples, ascending.
    pub fn sorted(&mut self) -> (&[f64], &[f64]) {
        if !self.sorted {
            // Stable sort: a run merge of the sorted partial states.
            self.reference.sort_by(f64::total_cmp);
            self.current.sort_by(f64::total_cmp);
            self.sorted = true;
        }
        (&self.reference, &self.current)
    }

    /// Both samples, ascending, when neither is empty: a two-sample
    /// statistic is NULL otherwise.
    pub fn both_sorted(&mut self) -> Option<(&[f64], &[f64])> {
        let (reference, current) = self.sorted();
        (!reference.is_empty() && !current.is_empty()).then_some((reference, current))
    }

    pub fn add_category(
        &mut self,
        name: &str,
        side: usize,
        count: u64,
    ) -> Result<(), SqlStateError> {
        let call = self.call;
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                if !self.lenient && self.names.len() >= MAX_CATEGORIES {
                    return Err(SqlStateError::bad_data(format!(
                        "{}: more than {MAX_CATEGORIES} distinct categories in {}; bucketize continuous values first",
                        call.function,
                        call.arg(0)
                    )));
                }
                self.index.insert(name.to_string(), self.names.len());
                self.names.push(name.to_string());
                self.counts.push([0, 0]);
                self.names.len() - 1
            }
        };
        self.counts[i][side] += count;
        Ok(())
    }

    /// Appends every non-NULL value of `values` to one side.
    pub fn push_side(&mut self, values: &ArrayRef, current: bool) -> Result<(), SqlStateError> {
        self.push(values, std::iter::repeat(Some(current)))
    }

    /// Appends the rows of `values` where `side` (true = current) is valid.
    pub fn push(
        &mut self,
        values: &ArrayRef,
        current: impl IntoIterator<Item = Option<bool>>,
    ) -> Result<(), SqlStateError> {
        let call = self.call;
        if self.numeric {
            let values = values
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| internal_type(values))?;
            for (v, side) in values.iter().zip(current) {
                let (Some(v), Some(side)) = (v, side) else {
                    continue;
                };
                if v.is_nan() {
                    if self.lenient {
                        self.nan += 1;
                        continue;
                    }
                    return Err(SqlStateError::bad_data(format!(
                        "{}: {} is NaN",
                        call.function,
                        call.arg(0)
                    ))
                    .with_hint("filter NaN out or turn it into NULL with nullif(value, 'NaN')"));
                }
                // -0.0 and 0.0 are one value, as in numpy.
                let v = v + 0.0;
                if side {
                    self.current.push(v)
                } else {
                    self.reference.push(v)
                }
            }
            self.sorted = false;
        } else {
            let values = values
                .as_string_opt::<i32>()
                .ok_or_else(|| internal_type(values))?;
            for (v, side) in values.iter().zip(current) {
                if let (Some(v), Some(side)) = (v, side) {
                    self.add_category(v, usize::from(side), 1)?;
                }
            }
        }
        Ok(())
    }
}

fn internal_type(values: &ArrayRef) -> SqlStateError {
    SqlStateError::internal(format!("drift value argument is {}", values.data_type()))
}

fn internal(message: String) -> datafusion::error::DataFusionError {
    SqlStateError::internal(message).into_df()
}

fn field(name: &str, part: &str, t: DataType) -> FieldRef {
    Arc::new(Field::new(
        format!("{name}[{part}]"),
        DataType::List(Arc::new(Field::new_list_field(t, true))),
        true,
    ))
}

/// The values of each valid list row of a state column.
fn list_rows(array: &ArrayRef) -> Result<impl Iterator<Item = ArrayRef> + '_> {
    let list = array
        .as_list_opt::<i32>()
        .ok_or_else(|| internal(format!("drift state is {}", array.data_type())))?;
    Ok((0..list.len())
        .filter(|&r| list.is_valid(r))
        .map(|r| list.value(r)))
}

impl<A: Accepts> MetricState for Sides<A> {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        Ok(vec![
            A::coerce(call, &types[0])?,
            coerce_binary(call, 1, &types[1])?,
        ])
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        vec![
            field(name, "reference", DataType::Float64),
            field(name, "current", DataType::Float64),
            field(name, "categories", DataType::Utf8),
            field(name, "reference_counts", DataType::UInt64),
            field(name, "current_counts", DataType::UInt64),
        ]
    }

    fn new(call: Call, inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        let numeric = inputs
            .first()
            .is_some_and(|f| f.data_type() == &DataType::Float64);
        Ok(Self::new_of(call, numeric))
    }

    fn update(
        &mut self,
        call: Call,
        values: &ArrayRef,
        flags: &ArrayRef,
    ) -> Result<(), SqlStateError> {
        let current = binary(call, 1, flags)?;
        self.push(values, current.iter())
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        let mut reference = std::mem::take(&mut self.reference);
        let mut current = std::mem::take(&mut self.current);
        if A::PRESORT {
            reference.sort_unstable_by(f64::total_cmp);
            current.sort_unstable_by(f64::total_cmp);
        }
        let names = std::mem::take(&mut self.names);
        let counts = std::mem::take(&mut self.counts);
        self.index.clear();
        Ok(vec![
            list_value(Arc::new(Float64Array::from(reference))),
            list_value(Arc::new(Float64Array::from(current))),
            list_value(Arc::new(StringArray::from(names))),
            list_value(Arc::new(UInt64Array::from_iter_values(
                counts.iter().map(|c| c[0]),
            ))),
            list_value(Arc::new(UInt64Array::from_iter_values(
                counts.iter().map(|c| c[1]),
            ))),
        ])
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (target, state) in [&mut self.reference, &mut self.current]
            .into_iter()
            .zip(states)
        {
            for values in list_rows(state)? {
                let values = values
                    .as_primitive_opt::<Float64Type>()
                    .ok_or_else(|| internal("drift state values are not Float64".into()))?;
                target.extend_from_slice(values.values());
            }
        }
        self.sorted = false;
        let names: Vec<ArrayRef> = list_rows(&states[2])?.collect();
        let reference: Vec<ArrayRef> = list_rows(&states[3])?.collect();
        let current: Vec<ArrayRef> = list_rows(&states[4])?.collect();
        for ((names, reference), current) in names.iter().zip(&reference).zip(&current) {
            let (Some(names), Some(reference), Some(current)) = (
                names.as_string_opt::<i32>(),
                reference.as_primitive_opt::<UInt64Type>(),
                current.as_primitive_opt::<UInt64Type>(),
            ) else {
                return Err(internal("drift category state has the wrong types".into()));
            };
            for i in 0..names.len() {
                for (side, counts) in [reference, current].into_iter().enumerate() {
                    if counts.value(i) > 0 {
                        self.add_category(names.value(i), side, counts.value(i))
                            .map_err(SqlStateError::into_df)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn heap_size(&self) -> usize {
        (self.reference.capacity() + self.current.capacity()) * 8
            + self
                .names
                .iter()
                .map(|n| 2 * n.capacity() + 64)
                .sum::<usize>()
    }
}
