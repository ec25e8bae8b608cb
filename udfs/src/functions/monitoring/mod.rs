//! Shared planning of the time-series table functions (`ml_control_chart`,
//! `ml_stationarity`): a relation's numeric column collected in time order
//! into one list, handed to a hidden scalar function that returns the result
//! rows as a list of structs, then unnested.

pub mod control_chart;
pub mod stationarity;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::array_agg;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprFunctionExt, ExprSchemable, LogicalPlan, cast,
};

use crate::error::{SqlStateError, sqlstate};
use crate::functions::relation::find_column;

/// A column of `input` by name, checked to be numeric (22023 / 42804).
pub fn numeric_column(
    function: &str,
    input: &LogicalPlan,
    name: &str,
) -> Result<Expr, SqlStateError> {
    let column = find_column(input, name).ok_or_else(|| unknown_column(function, name))?;
    let data_type = column
        .get_type(input.schema().as_ref())
        .map_err(|e| SqlStateError::new(sqlstate::INTERNAL_ERROR, e.to_string()))?;
    if !data_type.is_numeric() {
        return Err(SqlStateError::new(
            sqlstate::DATATYPE_MISMATCH,
            format!("{function}: column {name} must be numeric, got {data_type}"),
        ));
    }
    Ok(column)
}

/// 42703 for a column the relation does not have.
pub fn unknown_column(function: &str, name: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::UNDEFINED_COLUMN,
        format!("{function}: the relation has no column {name}"),
    )
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
pub fn series_rows(
    function: &str,
    arg: &ColumnarValue,
    rows: usize,
) -> Result<Vec<Option<Vec<f64>>>> {
    let array = arg.to_array(rows)?;
    let lists = array.as_list_opt::<i32>().ok_or_else(|| {
        SqlStateError::new(
            sqlstate::INTERNAL_ERROR,
            format!("{function}: argument is {}", array.data_type()),
        )
        .into_df()
    })?;
    (0..lists.len())
        .map(|i| {
            if !lists.is_valid(i) {
                return Ok(None);
            }
            // The planner passes Float64 lists; a direct call may pass others.
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
pub fn struct_lists(fields: &Fields, rows: Vec<(usize, Vec<ArrayRef>)>) -> Result<ColumnarValue> {
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
            _ => Err(SqlStateError::bad_argument(format!(
                "{function}: {name} must be a whole number of at least {least}, got {v}"
            ))),
        },
        other => Err(SqlStateError::bad_argument(format!(
            "{function}: {name} must be a constant, got {other}"
        ))),
    }
}
