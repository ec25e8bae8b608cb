//! `ml_generalize(value, width)`: a number coarsened to the start of its
//! band, the generalization k-anonymity asks of quasi-identifiers.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::error::{SqlStateError, sqlstate};

pub const NAME: &str = "ml_generalize";

#[user_doc(
    doc_section(label = "Privacy"),
    description = "A number replaced by the start of its band of the given width: floor(value / width) * width, so ages 30 to 39 all become 30 with width 10, and incomes fall into bands of 5000. Integers give integers (bigint), other numbers double precision. Use it on quasi-identifiers before ml_k_anonymity-style checks or training. NULL gives NULL. Errors: 22023 when width is not positive; 42804 when value or width is not a number.",
    syntax_example = "ml_generalize(value, width)",
    sql_example = r#"```sql
> SELECT ml_generalize(37, 10), ml_generalize(-3, 10), ml_generalize(52340.5, 5000);
+---------------+---------------+---------------+
| ml_generalize | ml_generalize | ml_generalize |
+---------------+---------------+---------------+
| 30            | -10           | 50000         |
+---------------+---------------+---------------+
```"#,
    argument(name = "value", description = "A number."),
    argument(name = "width", description = "The band's width, a positive number.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GeneralizeUdf {
    signature: Signature,
}

impl GeneralizeUdf {
    pub fn new() -> Self {
        GeneralizeUdf {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl Default for GeneralizeUdf {
    fn default() -> Self {
        Self::new()
    }
}

/// The start of `value`'s band of `width` (a positive integer).
pub fn band_int(value: i64, width: i64) -> i64 {
    value.div_euclid(width).saturating_mul(width)
}

/// The start of `value`'s band of `width` (positive).
pub fn band(value: f64, width: f64) -> f64 {
    (value / width).floor() * width
}

fn numeric(t: &DataType) -> bool {
    t.is_numeric() || t.is_null()
}

fn integral(t: &DataType) -> bool {
    t.is_integer() || t.is_null()
}

fn bad_width(width: impl std::fmt::Display) -> datafusion::error::DataFusionError {
    SqlStateError::arg(NAME, "width", "must be a positive number", width).into_df()
}

impl ScalarUDFImpl for GeneralizeUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        for (t, what) in arg_types.iter().zip(["value", "width"]) {
            if !numeric(t) {
                return Err(SqlStateError::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!("{NAME}: {what} must be a number, got {t}"),
                )
                .into_df());
            }
        }
        Ok(if integral(&arg_types[0]) && integral(&arg_types[1]) {
            DataType::Int64
        } else {
            DataType::Float64
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let array: Arc<dyn Array> = if args.return_field.data_type() == &DataType::Int64 {
            let values = args.args[0].cast_to(&DataType::Int64, None)?.to_array(n)?;
            let widths = args.args[1].cast_to(&DataType::Int64, None)?.to_array(n)?;
            let (values, widths) = (
                values.as_primitive::<Int64Type>(),
                widths.as_primitive::<Int64Type>(),
            );
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(match (values.is_valid(i), widths.is_valid(i)) {
                    (true, true) => {
                        let w = widths.value(i);
                        if w <= 0 {
                            return Err(bad_width(w));
                        }
                        Some(band_int(values.value(i), w))
                    }
                    _ => None,
                });
            }
            Arc::new(Int64Array::from(out))
        } else {
            let values = args.args[0]
                .cast_to(&DataType::Float64, None)?
                .to_array(n)?;
            let widths = args.args[1]
                .cast_to(&DataType::Float64, None)?
                .to_array(n)?;
            let (values, widths) = (
                values.as_primitive::<Float64Type>(),
                widths.as_primitive::<Float64Type>(),
            );
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(match (values.is_valid(i), widths.is_valid(i)) {
                    (true, true) => {
                        let w = widths.value(i);
                        if !(w.is_finite() && w > 0.0) {
                            return Err(bad_width(w));
                        }
                        Some(band(values.value(i), w))
                    }
                    _ => None,
                });
            }
            Arc::new(Float64Array::from(out))
        };
        Ok(match (&args.args[0], &args.args[1]) {
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
            }
            _ => ColumnarValue::Array(array),
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_to_the_start_of_their_band() {
        assert_eq!(band_int(37, 10), 30);
        assert_eq!(band_int(30, 10), 30);
        assert_eq!(band_int(39, 10), 30);
        // Floor, not truncation: -3 is in [-10, 0).
        assert_eq!(band_int(-3, 10), -10);
        assert_eq!(
            band_int(i64::MIN, 7),
            i64::MIN.div_euclid(7).saturating_mul(7)
        );
        assert_eq!(band(52340.5, 5000.0), 50000.0);
        assert_eq!(band(0.26, 0.25), 0.25);
        assert_eq!(band(-0.1, 0.25), -0.25);
    }
}
