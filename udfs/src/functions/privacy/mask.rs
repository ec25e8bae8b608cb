//! `ml_mask(value, keep_last)`: all but the last characters hidden.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::error::{SqlStateError, sqlstate};
use crate::functions::features::as_text;

pub const NAME: &str = "ml_mask";

#[user_doc(
    doc_section(label = "Privacy"),
    description = "A value's text with every character but the last keep_last replaced by *, keeping its length (a card number 4111111111111111 with keep_last 4 gives ************1111). A value no longer than keep_last is hidden whole, so a mask never shows a value entire. Numbers are masked as their text. NULL gives NULL. Errors: 22023 when keep_last is negative.",
    syntax_example = "ml_mask(value, keep_last)",
    sql_example = r#"```sql
> SELECT ml_mask('4111111111111111', 4), ml_mask('DE89370400440532013000', 2), ml_mask('abc', 4);
+------------------+------------------------+---------+
| ml_mask          | ml_mask                | ml_mask |
+------------------+------------------------+---------+
| ************1111 | ********************00 | ***     |
+------------------+------------------------+---------+
```"#,
    argument(
        name = "value",
        description = "Any value with a text form (text, number)."
    ),
    argument(
        name = "keep_last",
        description = "How many trailing characters stay readable, 0 or more."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MaskUdf {
    signature: Signature,
}

impl MaskUdf {
    pub fn new() -> Self {
        MaskUdf {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl Default for MaskUdf {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes `value` with all but its last `keep_last` characters as `*`.
pub fn mask(value: &str, keep_last: usize, out: &mut String) {
    let chars = value.chars().count();
    if chars <= keep_last {
        out.extend(std::iter::repeat_n('*', chars));
        return;
    }
    let hidden = chars - keep_last;
    out.extend(std::iter::repeat_n('*', hidden));
    out.extend(value.chars().skip(hidden));
}

impl ScalarUDFImpl for MaskUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !(arg_types[1].is_integer() || arg_types[1].is_null()) {
            return Err(SqlStateError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!("{NAME}: keep_last must be an integer, got {}", arg_types[1]),
            )
            .into_df());
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let values = args.args[0].to_array(n)?;
        let text = as_text(NAME, "value", &values).map_err(SqlStateError::into_df)?;
        let text = text.as_string::<i32>();
        let keep = args.args[1].cast_to(&DataType::Int64, None)?.to_array(n)?;
        let keep = keep.as_primitive::<Int64Type>();
        let mut out = StringBuilder::with_capacity(n, text.value_data().len());
        let mut buf = String::new();
        for i in 0..n {
            if text.is_null(i) || keep.is_null(i) {
                out.append_null();
                continue;
            }
            let k = keep.value(i);
            let k = usize::try_from(k).map_err(|_| {
                SqlStateError::arg(NAME, "keep_last", "must be 0 or more", k).into_df()
            })?;
            buf.clear();
            mask(text.value(i), k, &mut buf);
            out.append_value(&buf);
        }
        let array = out.finish();
        Ok(match (&args.args[0], &args.args[1]) {
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)) => {
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

    fn masked(value: &str, keep: usize) -> String {
        let mut out = String::new();
        mask(value, keep, &mut out);
        out
    }

    #[test]
    fn keeps_the_last_characters_and_the_length() {
        assert_eq!(masked("4111111111111111", 4), "************1111");
        assert_eq!(masked("+44 20 7946 0958", 3), "*************958");
        assert_eq!(masked("Zoë", 1), "**ë");
        assert_eq!(masked("secret", 0), "******");
    }

    #[test]
    fn never_shows_a_whole_value() {
        assert_eq!(masked("abc", 3), "***");
        assert_eq!(masked("abc", 10), "***");
        assert_eq!(masked("", 2), "");
    }
}
