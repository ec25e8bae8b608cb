//! `quote_literal(value)` and `quote_nullable(value)`: a value as an SQL
//! string literal, as PostgreSQL's `quote.c` writes one: in single quotes,
//! each quote doubled, and, when the text holds a backslash, each backslash
//! doubled and the literal written `E'...'`. A NULL is NULL for
//! `quote_literal` and the word `NULL` for `quote_nullable`. A value of any
//! type is quoted as its text (Grafana's variable queries quote the values
//! they list with it).
//!
//! ```sql
//! SELECT quote_literal('O''Reilly'), quote_nullable(NULL::text);  -- 'O''Reilly', NULL
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// PostgreSQL's `quote_literal_cstr` (the one `format('%L')` uses too).
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 3);
    super::format::quote_literal(text, &mut out);
    out
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct QuoteLiteral {
    name: &'static str,
    /// `quote_nullable`: NULL becomes the word NULL.
    nullable: bool,
    signature: Signature,
}

impl QuoteLiteral {
    pub fn literal() -> Self {
        Self::new("quote_literal", false)
    }

    pub fn nullable() -> Self {
        Self::new("quote_nullable", true)
    }

    fn new(name: &'static str, nullable: bool) -> Self {
        QuoteLiteral {
            name,
            nullable,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for QuoteLiteral {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = args.args[0].to_array(args.number_rows)?;
        let text = match values.data_type() {
            DataType::Null => {
                datafusion::arrow::array::new_null_array(&DataType::Utf8, values.len())
            }
            _ => datafusion::arrow::compute::cast(&values, &DataType::Utf8)?,
        };
        let text = text.as_string::<i32>();
        let mut out =
            StringBuilder::with_capacity(text.len(), text.value_data().len() + 3 * text.len());
        for value in text.iter() {
            match value {
                Some(value) => out.append_value(quoted(value)),
                None if self.nullable => out.append_value("NULL"),
                None => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn literals_quoted_as_postgresql_quotes_them() {
        // Answers of PostgreSQL 15's quote_literal(text).
        for (text, literal) in [
            ("", "''"),
            ("plain", "'plain'"),
            ("O'Reilly", "'O''Reilly'"),
            ("a\\b", "E'a\\\\b'"),
            ("it's a\\b", "E'it''s a\\\\b'"),
            ("ünï", "'ünï'"),
        ] {
            assert_eq!(quoted(text), literal, "{text}");
        }
    }
}
