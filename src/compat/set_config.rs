//! `set_config(name, value, is_local)`: `SET name = value` as a function
//! (asyncpg turns `jit` off with it before reading the catalog). Answers the
//! value now in force. `is_local` (for the transaction only) sets it for the
//! session: Quarry's settings are the session's.
//!
//! ```sql
//! SELECT set_config('application_name', 'report', false);  -- report
//! ```

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// Sets a session setting and answers the value in force, or the error of
/// `SET`.
pub type Setter = Arc<dyn Fn(&str, &str) -> crate::error::Result<String> + Send + Sync>;

pub struct SetConfig {
    set: Setter,
    signature: Signature,
}

impl SetConfig {
    pub fn new(set: Setter) -> Self {
        SetConfig {
            set,
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
                Volatility::Volatile,
            ),
        }
    }
}

impl fmt::Debug for SetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SetConfig")
    }
}

impl PartialEq for SetConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.set, &other.set)
    }
}

impl Eq for SetConfig {}

impl std::hash::Hash for SetConfig {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "set_config".hash(state);
    }
}

impl ScalarUDFImpl for SetConfig {
    fn name(&self) -> &str {
        "set_config"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args[..2])?;
        let (names, values) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
        let mut out = StringBuilder::with_capacity(names.len(), names.len() * 8);
        for i in 0..names.len() {
            if names.is_null(i) {
                // PostgreSQL: the name must not be NULL.
                return Err(crate::error::SqlStateError::new(
                    crate::error::sqlstate::NULL_VALUE_NOT_ALLOWED,
                    "SET requires parameter name",
                )
                .into_df());
            }
            let value = if values.is_null(i) {
                ""
            } else {
                values.value(i)
            };
            out.append_value((self.set)(names.value(i), value).map_err(|e| e.into_df())?);
        }
        super::shaped(Arc::new(out.finish()), scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_value_set_and_passes_errors_on() {
        let f = SetConfig::new(Arc::new(|name, value| match name {
            "jit" => Ok(value.to_string()),
            _ => Err(crate::error::SqlStateError::new(
                crate::error::sqlstate::UNDEFINED_PARAMETER,
                format!("unrecognized configuration parameter \"{name}\""),
            )),
        }));
        assert_eq!((f.set)("jit", "off").expect("set"), "off");
        assert!((f.set)("nope", "1").is_err());
    }
}
