//! Monitoring: `ml_control_chart` and `ml_stationarity`, the time-series
//! table functions, and their shared planning: a relation's numeric column
//! collected in time order into one list, handed to a hidden scalar
//! function ([`SeriesUdf`], held by the plan, not registered) that returns
//! the result rows as a list of structs, then unnested.

pub mod control_chart;
pub mod stationarity;

use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::array_agg;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprFunctionExt, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility, cast, lit,
};

use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::Definition;

/// The monitoring functions.
pub fn functions() -> Vec<Definition<Services>> {
    vec![
        Definition::table(|_| control_chart::ControlChartUdtf),
        Definition::table(|_| stationarity::StationarityUdtf),
    ]
}

/// What a hidden series function computes from one series.
pub trait Series: Debug + Default + PartialEq + Eq + Hash + Send + Sync + 'static {
    const NAME: &'static str;

    /// The fields of one result row.
    fn fields() -> Fields;

    /// The result rows of one series (how many, and their columns), given
    /// the function's constant.
    fn rows(values: &[f64], constant: &ScalarValue) -> (usize, Vec<ArrayRef>);
}

/// `S::NAME(values in time order, constant)` → list of result rows.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SeriesUdf<S: Series> {
    signature: Signature,
    series: PhantomData<S>,
}

impl<S: Series> Default for SeriesUdf<S> {
    fn default() -> Self {
        SeriesUdf {
            signature: Signature::any(2, Volatility::Immutable),
            series: PhantomData,
        }
    }
}

impl<S: Series> ScalarUDFImpl for SeriesUdf<S> {
    fn name(&self) -> &str {
        S::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Struct(S::fields()),
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let constant = match &args.args[1] {
            ColumnarValue::Scalar(v) => v.clone(),
            ColumnarValue::Array(_) => ScalarValue::Null,
        };
        let rows = series_rows(S::NAME, &args.args[0], args.number_rows)?
            .into_iter()
            .map(|values| S::rows(&values.unwrap_or_default(), &constant))
            .collect();
        struct_lists(&S::fields(), rows)
    }
}

/// A call of the series function `S` over a list of values.
pub fn series_call<S: Series>(values: Expr, constant: ScalarValue) -> Expr {
    let udf = ScalarUDF::new_from_impl(SeriesUdf::<S>::default());
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(udf),
        vec![values, lit(constant)],
    ))
}

/// `array_agg(value ORDER BY time)` as Float64 (in relation order without a time).
pub fn ordered_values(value: Expr, time: Option<Expr>) -> Result<Expr> {
    let values = array_agg(cast(value, DataType::Float64));
    match time {
        Some(t) => values.order_by(vec![t.sort(true, false)]).build(),
        None => Ok(values),
    }
}

/// The list argument of a hidden series function (one list per row).
fn series_rows(function: &str, arg: &ColumnarValue, rows: usize) -> Result<Vec<Option<Vec<f64>>>> {
    let array = arg.to_array(rows)?;
    let lists = array.as_list_opt::<i32>().ok_or_else(|| {
        SqlStateError::internal(format!("{function}: argument is {}", array.data_type())).into_df()
    })?;
    (0..lists.len())
        .map(|i| {
            if !lists.is_valid(i) {
                return Ok(None);
            }
            // The planner passes Float64 lists.
            let values = datafusion::arrow::compute::cast(&lists.value(i), &DataType::Float64)?;
            Ok(Some(
                values
                    .as_primitive::<Float64Type>()
                    .iter()
                    .flatten()
                    .collect(),
            ))
        })
        .collect()
}

/// Rows of result structs as a list array, one list per input row.
fn struct_lists(fields: &Fields, rows: Vec<(usize, Vec<ArrayRef>)>) -> Result<ColumnarValue> {
    let lengths: Vec<usize> = rows.iter().map(|(n, _)| *n).collect();
    let mut columns: Vec<Vec<ArrayRef>> = vec![Vec::new(); fields.len()];
    for (_, arrays) in &rows {
        for (c, a) in arrays.iter().enumerate() {
            columns[c].push(a.clone());
        }
    }
    let columns: Vec<ArrayRef> = columns
        .iter()
        .map(|parts| {
            let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
            datafusion::arrow::compute::concat(&refs)
        })
        .collect::<std::result::Result<_, _>>()?;
    let values = datafusion::arrow::array::StructArray::try_new(fields.clone(), columns, None)?;
    let list = ListArray::new(
        Arc::new(Field::new_list_field(
            DataType::Struct(fields.clone()),
            true,
        )),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(values),
        None,
    );
    Ok(if list.len() == 1 {
        ColumnarValue::Scalar(ScalarValue::List(Arc::new(list)))
    } else {
        ColumnarValue::Array(Arc::new(list))
    })
}

/// A positive whole number option.
pub fn whole_option(
    function: &str,
    name: &str,
    value: &Expr,
    least: i64,
) -> Result<i64, SqlStateError> {
    match value {
        Expr::Literal(v, _) => match v.cast_to(&DataType::Int64) {
            Ok(ScalarValue::Int64(Some(n))) if n >= least => Ok(n),
            _ => Err(SqlStateError::arg(
                function,
                name,
                format!("must be a whole number of at least {least}"),
                v,
            )),
        },
        other => Err(SqlStateError::arg(
            function,
            name,
            "must be a constant",
            other,
        )),
    }
}
