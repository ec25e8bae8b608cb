//! `ml_feature_hash(value, buckets)`: the hashing trick, as models do it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int32Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::as_text;
use crate::error::SqlStateError;
use crate::kernels::hash::fnv1a;

pub const NAME: &str = "ml_feature_hash";

#[user_doc(
    doc_section(label = "Features"),
    description = "The bucket, from 0 to buckets - 1, of a value's text under 64-bit FNV-1a: the same bucket a model's 'col:hash:N' encoding puts the value in, stable across machines and releases. Numbers and booleans are hashed as their text (42, 2.5, true). NULL gives NULL. Errors: 22023 when buckets is not a positive integer up to 2^31 - 1.",
    syntax_example = "ml_feature_hash(value, buckets)",
    sql_example = r#"```sql
> SELECT ml_feature_hash('city_0001', 64), ml_feature_hash(42, 8);
+-----------------+-----------------+
| ml_feature_hash | ml_feature_hash |
+-----------------+-----------------+
| 4               | 3               |
+-----------------+-----------------+
```"#,
    argument(
        name = "value",
        description = "Any value with a text form (text, number, boolean, date)."
    ),
    argument(
        name = "buckets",
        description = "The number of buckets, a positive integer."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FeatureHashUdf {
    signature: Signature,
}

impl FeatureHashUdf {
    pub fn new() -> Self {
        FeatureHashUdf {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl Default for FeatureHashUdf {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket of `text` among `buckets`.
pub fn bucket(text: &str, buckets: u64) -> i32 {
    (fnv1a(text) % buckets) as i32
}

/// A positive integer argument, per row or constant.
pub fn positive_int(
    function: &str,
    argument: &str,
    value: Option<i64>,
) -> Result<Option<u64>, SqlStateError> {
    match value {
        None => Ok(None),
        Some(v) if v > 0 && v <= i64::from(i32::MAX) => Ok(Some(v as u64)),
        Some(v) => Err(SqlStateError::arg(
            function,
            argument,
            "must be a positive integer",
            v,
        )),
    }
}

impl ScalarUDFImpl for FeatureHashUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !(arg_types[1].is_integer() || arg_types[1].is_null()) {
            return Err(SqlStateError::new(
                crate::error::sqlstate::DATATYPE_MISMATCH,
                format!("{NAME}: buckets must be an integer, got {}", arg_types[1]),
            )
            .into_df());
        }
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let values = args.args[0].to_array(n)?;
        let text = as_text(NAME, "value", &values).map_err(SqlStateError::into_df)?;
        let text = text.as_string::<i32>();
        let buckets = args.args[1].cast_to(&DataType::Int64, None)?.to_array(n)?;
        let buckets = buckets.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let b = positive_int(
                NAME,
                "buckets",
                buckets.is_valid(i).then(|| buckets.value(i)),
            )
            .map_err(SqlStateError::into_df)?;
            out.push(match (text.is_valid(i), b) {
                (true, Some(b)) => Some(bucket(text.value(i), b)),
                _ => None,
            });
        }
        let array = Int32Array::from(out);
        Ok(match &args.args[0] {
            ColumnarValue::Scalar(_) if matches!(args.args[1], ColumnarValue::Scalar(_)) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
            }
            _ => ColumnarValue::Array(Arc::new(array)),
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
    fn buckets_are_fnv1a_modulo() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c.
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(bucket("a", 1000), (0xaf63_dc4c_8601_ec8c_u64 % 1000) as i32);
        assert!(positive_int(NAME, "buckets", Some(0)).is_err());
        assert_eq!(positive_int(NAME, "buckets", None), Ok(None));
    }
}
