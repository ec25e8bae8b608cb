//! PostgreSQL identity functions that clients parse: `version()`, the current
//! user and schema. datafusion-pg-catalog ships fixed answers ("postgres",
//! "public"); these replace them with the session's real values.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// What `server_version` reports; drivers parse the leading numbers.
pub const SERVER_VERSION: &str = "16.0";
pub const SERVER_VERSION_NUM: &str = "160000";

/// `version()`: PostgreSQL-style, so SQLAlchemy, Superset and JDBC can parse it.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (Quarry {}) on {}-{}, compiled by rustc, 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// Registers the server-wide functions into the base context.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(ConstantText::new(
        "version",
        version_string(),
    )));
    ctx.register_udf(ScalarUDF::from(CurrentSchema::new()));
    ctx.register_udf(ScalarUDF::from(CurrentSchemas::new()));
    // psql's \df filters pg_proc with these; pg_proc lists only PostgreSQL's
    // own functions, which psql hides, so there is nothing to describe.
    ctx.register_udf(ScalarUDF::from(OidFunction::new(
        "pg_function_is_visible",
        DataType::Boolean,
    )));
    ctx.register_udf(ScalarUDF::from(OidFunction::new(
        "pg_get_function_result",
        DataType::Utf8,
    )));
    ctx.register_udf(ScalarUDF::from(OidFunction::new(
        "pg_get_function_arguments",
        DataType::Utf8,
    )));
    ctx.register_udf(ScalarUDF::from(OidFunction::new(
        "pg_get_function_identity_arguments",
        DataType::Utf8,
    )));
}

/// Registers the functions that depend on who is connected.
pub fn register_session(ctx: &SessionContext, user: &str) {
    for name in ["current_user", "session_user", "user", "current_role"] {
        ctx.register_udf(ScalarUDF::from(ConstantText::new(name, user.to_string())));
    }
}

/// True when DataFusion can use `tz` as a session time zone.
pub fn valid_time_zone(tz: &str) -> bool {
    tz.eq_ignore_ascii_case("utc") || tz.parse::<datafusion::arrow::array::timezone::Tz>().is_ok()
}

/// A zero-argument function returning fixed text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ConstantText {
    name: &'static str,
    value: String,
    signature: Signature,
}

impl ConstantText {
    fn new(name: &'static str, value: String) -> Self {
        ConstantText {
            name,
            value,
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for ConstantText {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            self.value.clone(),
        ))))
    }
}

/// A catalog function of one oid: `true` for visibility checks, NULL text for
/// descriptions of functions pg_proc does not carry.
#[derive(Debug, PartialEq, Eq, Hash)]
struct OidFunction {
    name: &'static str,
    returns: DataType,
    signature: Signature,
}

impl OidFunction {
    fn new(name: &'static str, returns: DataType) -> Self {
        OidFunction {
            name,
            returns,
            signature: Signature::any(1, Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for OidFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value = match self.returns {
            DataType::Boolean => ScalarValue::Boolean(Some(true)),
            _ => ScalarValue::Utf8(None),
        };
        Ok(ColumnarValue::Scalar(value))
    }
}

/// `current_schema()`: the session's default schema (set by `search_path`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentSchema {
    signature: Signature,
}

impl CurrentSchema {
    fn new() -> Self {
        CurrentSchema {
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for CurrentSchema {
    fn name(&self) -> &str {
        "current_schema"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let schema = args.config_options.catalog.default_schema.clone();
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(schema))))
    }
}

/// `current_schemas(include_implicit)`: the search path as an array.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentSchemas {
    signature: Signature,
}

impl CurrentSchemas {
    fn new() -> Self {
        CurrentSchemas {
            signature: Signature::exact(vec![DataType::Boolean], Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for CurrentSchemas {
    fn name(&self) -> &str {
        "current_schemas"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let schema = args.config_options.catalog.default_schema.clone();
        let implicit = match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(b))) => *b,
            _ => false,
        };
        let mut builder = ListBuilder::new(StringBuilder::new());
        if implicit {
            builder.values().append_value("pg_catalog");
        }
        builder.values().append_value(schema);
        builder.append(true);
        let array: ArrayRef = Arc::new(builder.finish());
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &array, 0,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_parsable_as_postgres() {
        let v = version_string();
        assert!(v.starts_with("PostgreSQL 16.0 (Quarry "));
    }

    #[test]
    fn knows_time_zones() {
        assert!(valid_time_zone("UTC"));
        assert!(valid_time_zone("Europe/Paris"));
        assert!(valid_time_zone("+02:00"));
        assert!(!valid_time_zone("Mars/Olympus"));
    }
}
