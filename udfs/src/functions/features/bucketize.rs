//! `ml_bucketize(x, edges)`: which interval of sorted edges a number is in.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int32Array};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::error::{SqlStateError, sqlstate};

pub const NAME: &str = "ml_bucketize";

#[user_doc(
    doc_section(label = "Features"),
    description = "The number of edges at or below x: 0 below the first edge, i for edges[i-1] <= x < edges[i], len(edges) at or above the last (numpy.digitize(x, edges)). Edges must be ascending numbers. NULL or NaN x gives NULL. Errors: 22023 when the edges are not ascending or hold NULL/NaN; 42804 when x is not a number or edges not a numeric array.",
    syntax_example = "ml_bucketize(x, edges)",
    sql_example = r#"```sql
> SELECT age, ml_bucketize(age, [18, 30, 45, 65]) AS band FROM (VALUES (17), (30), (70)) t(age);
+-----+------+
| age | band |
+-----+------+
| 17  | 0    |
| 30  | 2    |
| 70  | 4    |
+-----+------+
```"#,
    argument(name = "x", description = "A number."),
    argument(
        name = "edges",
        description = "An ascending array of numbers, e.g. [0, 10, 100] or make_array(0, 10, 100)."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BucketizeUdf {
    signature: Signature,
}

impl BucketizeUdf {
    pub fn new() -> Self {
        BucketizeUdf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for BucketizeUdf {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks edges are ascending numbers.
pub fn check_edges(edges: &[f64]) -> Result<(), SqlStateError> {
    if edges.iter().any(|e| e.is_nan()) || edges.windows(2).any(|w| w[0] > w[1]) {
        return Err(SqlStateError::bad_argument(format!(
            "{NAME}: edges must be ascending numbers without NULL or NaN, got {edges:?}"
        )));
    }
    Ok(())
}

/// numpy.digitize(x, edges): edges at or below x.
pub fn bucket(x: f64, edges: &[f64]) -> i32 {
    edges.partition_point(|&e| e <= x) as i32
}

fn mismatch(message: String) -> datafusion::error::DataFusionError {
    SqlStateError::new(sqlstate::DATATYPE_MISMATCH, message).into_df()
}

impl ScalarUDFImpl for BucketizeUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)));
        match arg_types {
            [x, edges] => {
                let edges_ok = match edges {
                    DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                        f.data_type().is_numeric() || f.data_type().is_null()
                    }
                    DataType::Null => true,
                    _ => false,
                };
                if (x.is_numeric() || x.is_null()) && edges_ok {
                    Ok(vec![DataType::Float64, list])
                } else {
                    // Left as they are for return_type to reject with a plain message.
                    Ok(arg_types.to_vec())
                }
            }
            _ => Ok(arg_types.to_vec()),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [DataType::Float64, DataType::List(f)] if f.data_type() == &DataType::Float64 => {
                Ok(DataType::Int32)
            }
            [x, edges] => Err(mismatch(format!(
                "{NAME}: expected a number and an array of numbers, got {x} and {edges}"
            ))),
            _ => Err(SqlStateError::new(
                sqlstate::UNDEFINED_FUNCTION,
                format!(
                    "{NAME}: expected (x, edges), got {} arguments",
                    arg_types.len()
                ),
            )
            .into_df()),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let x = args.args[0].to_array(n)?;
        let x = x.as_primitive::<Float64Type>();
        // Constant edges are checked once.
        let constant: Option<Vec<f64>> = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::List(list)) if list.is_valid(0) => {
                let values = list.value(0);
                let values = values.as_primitive::<Float64Type>();
                if values.null_count() > 0 {
                    return Err(SqlStateError::bad_argument(format!(
                        "{NAME}: edges must not hold NULL"
                    ))
                    .into_df());
                }
                let edges = values.values().to_vec();
                check_edges(&edges).map_err(SqlStateError::into_df)?;
                Some(edges)
            }
            _ => None,
        };
        let out: Int32Array = if let Some(edges) = constant {
            x.iter()
                .map(|v| v.filter(|v| !v.is_nan()).map(|v| bucket(v, &edges)))
                .collect()
        } else {
            let lists = args.args[1].to_array(n)?;
            let lists = lists.as_list::<i32>();
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                if x.is_null(i) || x.value(i).is_nan() || lists.is_null(i) {
                    out.push(None);
                    continue;
                }
                let row = lists.value(i);
                let row = row.as_primitive::<Float64Type>();
                if row.null_count() > 0 {
                    return Err(SqlStateError::bad_argument(format!(
                        "{NAME}: edges must not hold NULL"
                    ))
                    .into_df());
                }
                check_edges(row.values()).map_err(SqlStateError::into_df)?;
                out.push(Some(bucket(x.value(i), row.values())));
            }
            Int32Array::from(out)
        };
        Ok(
            if matches!(args.args[0], ColumnarValue::Scalar(_))
                && matches!(args.args[1], ColumnarValue::Scalar(_))
            {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
            } else {
                ColumnarValue::Array(Arc::new(out))
            },
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_numpy_digitize() {
        // numpy.digitize([17, 18, 30, 64.9, 65, 70], [18, 30, 45, 65]) == [0, 1, 2, 3, 4, 4]
        let edges = [18.0, 30.0, 45.0, 65.0];
        let got: Vec<i32> = [17.0, 18.0, 30.0, 64.9, 65.0, 70.0]
            .iter()
            .map(|&x| bucket(x, &edges))
            .collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 4]);
        assert_eq!(bucket(5.0, &[]), 0);
        assert!(check_edges(&[1.0, 0.0]).is_err());
        assert!(check_edges(&[0.0, f64::NAN]).is_err());
        assert!(check_edges(&[1.0, 1.0, 2.0]).is_ok());
    }
}
