//! `quarry_int2vector(text)`: a space-separated list of column numbers,
//! described to clients as PostgreSQL's `int2vector`.
//!
//! `pg_index.indkey` is an `int2vector` in PostgreSQL; datafusion-pg-catalog
//! keeps it as text (`'1 2'`), which the wire described as `text`. psqlODBC
//! reads the column by its type: as an `int2vector` it parses the numbers
//! (`SQLStatistics`), as text it copied the characters into its array of
//! key numbers and listed dozens of bogus index columns. The catalog
//! rewrite (`server::rewrite`) wraps `pg_index.indkey` in this function; the
//! value is unchanged, only its description (in text results; a binary
//! result stays `text`, whose bytes are the same).
//!
//! ```sql
//! SELECT quarry_int2vector('1 2');  -- 1 2, described as int2vector
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The field metadata key naming the PostgreSQL type a text column is
/// described as.
pub const PG_TYPE_KEY: &str = "quarry.pg_type";

/// Its value for an `int2vector`.
pub const INT2VECTOR: &str = "int2vector";

/// Whether `field` is text tagged as an `int2vector`.
pub fn is_int2vector(field: &Field) -> bool {
    matches!(
        field.data_type(),
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
    ) && field
        .metadata()
        .get(PG_TYPE_KEY)
        .is_some_and(|t| t == INT2VECTOR)
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct QuarryInt2Vector {
    signature: Signature,
}

impl QuarryInt2Vector {
    pub fn new() -> Self {
        QuarryInt2Vector {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl Default for QuarryInt2Vector {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for QuarryInt2Vector {
    fn name(&self) -> &str {
        "quarry_int2vector"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Utf8))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let input = args.arg_fields[0].data_type();
        if !matches!(
            input,
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
        ) {
            return plan_err!(
                "quarry_int2vector(numbers): expected text of space-separated numbers, got {input}"
            );
        }
        let data_type = match input {
            DataType::Null => DataType::Utf8,
            other => other.clone(),
        };
        Ok(Arc::new(
            Field::new(self.name(), data_type, true).with_metadata(HashMap::from([(
                PG_TYPE_KEY.to_string(),
                INT2VECTOR.to_string(),
            )])),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match &args.args[0] {
            ColumnarValue::Array(a) if a.data_type() == &DataType::Null => {
                Ok(ColumnarValue::Array(
                    datafusion::arrow::array::new_null_array(&DataType::Utf8, a.len()),
                ))
            }
            other => Ok(other.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, StringArray};
    use datafusion::config::ConfigOptions;

    #[test]
    fn numbers_keep_their_text_and_are_tagged() {
        let udf = QuarryInt2Vector::new();
        let field = udf
            .return_field_from_args(ReturnFieldArgs {
                arg_fields: &[Arc::new(Field::new("indkey", DataType::Utf8, true))],
                scalar_arguments: &[None],
            })
            .expect("typed");
        assert!(is_int2vector(&field));
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(Arc::new(StringArray::from(vec![
                    Some("1 2"),
                    None,
                ])))],
                arg_fields: vec![],
                number_rows: 2,
                return_field: field,
                config_options: Arc::new(ConfigOptions::default()),
            })
            .expect("invoked")
            .into_array(2)
            .expect("array");
        let out = out.as_any().downcast_ref::<StringArray>().expect("text");
        assert_eq!(out.value(0), "1 2");
        assert!(out.is_null(1));
        assert!(!is_int2vector(&Field::new("indkey", DataType::Utf8, true)));
    }

    #[test]
    fn other_arguments_are_refused() {
        let err = QuarryInt2Vector::new()
            .return_field_from_args(ReturnFieldArgs {
                arg_fields: &[Arc::new(Field::new("a", DataType::Int32, true))],
                scalar_arguments: &[None],
            })
            .expect_err("refused");
        assert!(err.to_string().contains("expected text"));
    }
}
