//! `pg_get_expr(expr_text, relation [, pretty])`: the text of a stored
//! expression, NULL for NULL.
//!
//! PostgreSQL's decompiles a node tree (an index predicate, a column
//! default, a partition bound) and, being strict, answers NULL for NULL.
//! datafusion-pg-catalog's answered the empty string for every row, so
//! `pg_get_expr(i.indpred, i.indrelid) IS NULL`, the test every client
//! makes for "not a partial index" (Metabase's index sync, pgJDBC's
//! `getIndexInfo` filter), was false for every index. Quarry's catalogs
//! keep expressions as SQL text already, so the text is the answer.
//!
//! ```sql
//! SELECT pg_get_expr(NULL, 0) IS NULL;  -- true
//! SELECT pg_get_expr('a > 0', 0);       -- a > 0
//! ```

use datafusion::arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgGetExpr {
    signature: Signature,
}

impl PgGetExpr {
    pub fn new() -> Self {
        PgGetExpr {
            signature: Signature::one_of(
                vec![TypeSignature::Any(2), TypeSignature::Any(3)],
                Volatility::Stable,
            ),
        }
    }
}

impl Default for PgGetExpr {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for PgGetExpr {
    fn name(&self) -> &str {
        "pg_get_expr"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(expr) = args.args.first() else {
            return exec_err!("pg_get_expr(expr, relation): expected an expression's text");
        };
        expr.cast_to(&DataType::Utf8, None).or_else(|e| {
            exec_err!("pg_get_expr(expr, relation): expected an expression's text: {e}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, StringArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::ScalarValue;
    use datafusion::config::ConfigOptions;
    use std::sync::Arc;

    #[test]
    fn text_is_kept_and_null_stays_null() {
        let out = PgGetExpr::new()
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![
                    ColumnarValue::Array(Arc::new(StringArray::from(vec![Some("a > 0"), None]))),
                    ColumnarValue::Scalar(ScalarValue::Int32(Some(0))),
                ],
                arg_fields: vec![],
                number_rows: 2,
                return_field: Arc::new(Field::new("pg_get_expr", DataType::Utf8, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .expect("invoked")
            .into_array(2)
            .expect("array");
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "a > 0");
        assert!(out.is_null(1));
    }
}
