//! PostgreSQL identity functions that clients parse: `version()`, the current
//! user and schema. datafusion-pg-catalog ships fixed answers ("postgres",
//! "public"); these replace them with the session's real values.

pub mod colnames;
pub mod column_type;
pub mod current_setting;
pub mod expand_array;
pub mod format;
pub mod int2vector;
pub mod oid_array;
pub mod pg_get_expr;
pub mod pg_size_pretty;
pub mod pg_sleep;
pub mod pg_typeof;
pub mod quote_literal;
pub mod set_config;
pub mod to_char;

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

/// A function's answer `out` in the shape of its arguments: one value when
/// they were all scalars (`scalar`), else the array.
pub fn shaped(out: datafusion::arrow::array::ArrayRef, scalar: bool) -> Result<ColumnarValue> {
    if scalar {
        return ScalarValue::try_from_array(&out, 0).map(ColumnarValue::Scalar);
    }
    Ok(ColumnarValue::Array(out))
}

/// Registers the server-wide functions into the base context.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(ConstantText::new(
        "version",
        version_string(),
    )));
    ctx.register_udf(ScalarUDF::from(CurrentSchema::new()));
    ctx.register_udf(ScalarUDF::from(CurrentSchemas::new()));
    // psql's \df filters pg_proc with these. Quarry's own functions are
    // described by the rewrite of these calls (`server::rewrite`, from
    // `quarry_functions`); PostgreSQL's own, which psql hides, are not.
    ctx.register_udf(ScalarUDF::from(OidFunction::new(
        "pg_function_is_visible",
        DataType::Boolean,
    )));
    // psql's \dT, \dD, \do, \dc, \dC, \dFp and others: everything
    // Quarry's catalogs list is on the search path.
    for name in [
        "pg_type_is_visible",
        "pg_operator_is_visible",
        "pg_conversion_is_visible",
        "pg_collation_is_visible",
        "pg_opclass_is_visible",
        "pg_opfamily_is_visible",
        "pg_statistics_obj_is_visible",
        "pg_ts_config_is_visible",
        "pg_ts_dict_is_visible",
        "pg_ts_parser_is_visible",
        "pg_ts_template_is_visible",
    ] {
        ctx.register_udf(ScalarUDF::from(OidFunction::new(name, DataType::Boolean)));
    }
    // The server's encoding, and no comments on shared objects (psql's
    // \dO, \l+).
    ctx.register_udf(ScalarUDF::from(ConstantText::new(
        "getdatabaseencoding",
        "UTF8".to_string(),
    )));
    ctx.register_udf(ScalarUDF::from(OidFunction::with_arity(
        "shobj_description",
        DataType::Utf8,
        2,
    )));
    // No tablespace has a location of its own (psql's \db).
    ctx.register_udf(ScalarUDF::from(OidFunction::new(
        "pg_tablespace_location",
        DataType::Utf8,
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
    // No function has an SQL body here (psql's `\df+` reads it first).
    ctx.register_udf(ScalarUDF::from(OidFunction::new(
        "pg_get_function_sqlbody",
        DataType::Utf8,
    )));
    ctx.register_udf(ScalarUDF::from(ToRegtype::new()));
    // Descriptions are looked up by the rewrite of these calls in a select
    // list or WHERE (`server::rewrite`); where a query puts them elsewhere
    // (a join's ON, GROUP BY) they answer NULL.
    ctx.register_udf(ScalarUDF::from(OidFunction::with_arities(
        "obj_description",
        DataType::Utf8,
        &[1, 2],
    )));
    ctx.register_udf(ScalarUDF::from(OidFunction::with_arity(
        "col_description",
        DataType::Utf8,
        2,
    )));
    ctx.register_udf(ScalarUDF::from(OidFunction::new(
        "pg_collation_is_visible",
        DataType::Boolean,
    )));
    // Answered by the rewrite of these calls in a select list or WHERE
    // (`server::rewrite`: the index behind each primary key); elsewhere
    // NULL.
    ctx.register_udf(ScalarUDF::from(OidFunction::with_arities(
        "pg_get_indexdef",
        DataType::Utf8,
        &[1, 3],
    )));
    ctx.register_udf(ScalarUDF::from(JsonBuildObject::new()));
    ctx.register_udf(ScalarUDF::from(format::Format::new()));
    ctx.register_udf(ScalarUDF::from(pg_typeof::PgTypeof::new()));
    ctx.register_udf(ScalarUDF::from(pg_sleep::PgSleep::default()));
    ctx.register_udf(ScalarUDF::from(column_type::ColumnType::new()));
    ctx.register_udf(ScalarUDF::from(pg_size_pretty::PgSizePretty::new()));
    ctx.register_udf(ScalarUDF::from(quote_literal::QuoteLiteral::literal()));
    ctx.register_udf(ScalarUDF::from(quote_literal::QuoteLiteral::nullable()));
    ctx.register_udf(ScalarUDF::from(oid_array::QuarryOids::new()));
    ctx.register_udf(ScalarUDF::from(expand_array::ExpandArray::new()));
    ctx.register_udf(ScalarUDF::from(int2vector::QuarryInt2Vector::new()));
    // Over datafusion-pg-catalog's, which answers '' even for NULL.
    ctx.register_udf(ScalarUDF::from(pg_get_expr::PgGetExpr::new()));
    // Sizes are looked up by the rewrite of these calls in a select list or
    // WHERE (`server::rewrite`, from `quarry_relation_sizes`); elsewhere
    // they answer NULL.
    for name in ["pg_table_size", "pg_total_relation_size", "pg_indexes_size"] {
        ctx.register_udf(ScalarUDF::from(OidFunction::new(name, DataType::Int64)));
    }
    ctx.register_udf(ScalarUDF::from(OidFunction::with_arities(
        "pg_get_viewdef",
        DataType::Utf8,
        &[1, 2],
    )));
    // A session sees its own temporary relations only: no schema is
    // another session's.
    ctx.register_udf(ScalarUDF::from(OidFunction::answering(
        "pg_is_other_temp_schema",
        ScalarValue::Boolean(Some(false)),
    )));
    ctx.register_udf(ScalarUDF::from(OidFunction::with_arities(
        "pg_relation_size",
        DataType::Int64,
        &[1, 2],
    )));
    to_char::register(ctx);
    // Quarry has no sequences: no column owns one.
    ctx.register_udf(ScalarUDF::from(OidFunction::with_arity(
        "pg_get_serial_sequence",
        DataType::Utf8,
        2,
    )));
}

/// Built-in PostgreSQL type names (and their common aliases) with their fixed oids.
const TYPE_OIDS: &[(&str, i32)] = &[
    ("bool", 16),
    ("boolean", 16),
    ("bytea", 17),
    ("char", 18),
    ("name", 19),
    ("int8", 20),
    ("bigint", 20),
    ("int2", 21),
    ("smallint", 21),
    ("int4", 23),
    ("integer", 23),
    ("int", 23),
    ("regproc", 24),
    ("text", 25),
    ("oid", 26),
    ("json", 114),
    ("xml", 142),
    ("float4", 700),
    ("real", 700),
    ("float8", 701),
    ("double precision", 701),
    ("money", 790),
    ("bpchar", 1042),
    ("character", 1042),
    ("varchar", 1043),
    ("character varying", 1043),
    ("date", 1082),
    ("time", 1083),
    ("time without time zone", 1083),
    ("timestamp", 1114),
    ("timestamp without time zone", 1114),
    ("timestamptz", 1184),
    ("timestamp with time zone", 1184),
    ("interval", 1186),
    ("timetz", 1266),
    ("time with time zone", 1266),
    ("bit", 1560),
    ("varbit", 1562),
    ("numeric", 1700),
    ("decimal", 1700),
    ("regclass", 2205),
    ("regtype", 2206),
    ("uuid", 2950),
    ("jsonb", 3802),
    ("record", 2249),
    ("void", 2278),
    ("unknown", 705),
    ("_bool", 1000),
    ("_int2", 1005),
    ("_int4", 1007),
    ("_text", 1009),
    ("_int8", 1016),
    ("_float4", 1021),
    ("_float8", 1022),
    ("_varchar", 1015),
    ("_date", 1182),
    ("_timestamp", 1115),
    ("_timestamptz", 1185),
    ("_numeric", 1231),
    ("_uuid", 2951),
    ("_jsonb", 3807),
    ("_json", 199),
    ("_bytea", 1001),
];

/// The oid of a built-in type name, as `to_regtype` resolves it.
pub fn type_oid(name: &str) -> Option<i32> {
    let n = name
        .trim()
        .trim_start_matches("pg_catalog.")
        .trim_matches('"')
        .to_ascii_lowercase();
    if let Some(element) = n.strip_suffix("[]") {
        let base = type_oid(element)?;
        let base_name = TYPE_OIDS
            .iter()
            .find(|(_, o)| *o == base)
            .map(|(t, _)| *t)?;
        let canonical = TYPE_OIDS
            .iter()
            .find(|(t, o)| {
                *o == base
                    && !t.contains(' ')
                    && TYPE_OIDS
                        .iter()
                        .any(|(a, _)| a.strip_prefix('_') == Some(t))
            })
            .map_or(base_name, |(t, _)| *t);
        return TYPE_OIDS
            .iter()
            .find(|(t, _)| t.strip_prefix('_') == Some(canonical))
            .map(|(_, o)| *o);
    }
    TYPE_OIDS.iter().find(|(t, _)| *t == n).map(|(_, o)| *o)
}

/// `to_regtype(name)`: the type's oid, or NULL when there is no such type
/// (psycopg asks for `hstore` this way, expecting NULL rather than an error).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToRegtype {
    signature: Signature,
}

impl ToRegtype {
    fn new() -> Self {
        ToRegtype {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for ToRegtype {
    fn name(&self) -> &str {
        "to_regtype"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::{Array, Int32Array, StringArray};
        match &args.args[0] {
            ColumnarValue::Scalar(v) => {
                let name = match v {
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::LargeUtf8(Some(s))
                    | ScalarValue::Utf8View(Some(s)) => Some(s.as_str()),
                    _ => None,
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Int32(
                    name.and_then(type_oid),
                )))
            }
            ColumnarValue::Array(array) => {
                let names = array
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| {
                        datafusion::error::DataFusionError::Internal(
                            "to_regtype expects text".into(),
                        )
                    })?;
                let oids: Int32Array = names.iter().map(|n| n.and_then(type_oid)).collect();
                Ok(ColumnarValue::Array(Arc::new(oids)))
            }
        }
    }
}

/// Registers the functions that depend on who is connected.
pub fn register_session(ctx: &SessionContext, user: &str) {
    for name in ["current_user", "session_user", "user", "current_role"] {
        ctx.register_udf(ScalarUDF::from(ConstantText::new(name, user.to_string())));
    }
}

/// `SET ROLE`: `current_user` (and `user`, `current_role`) answer `user`;
/// `session_user` stays who logged in.
pub fn register_current_user(ctx: &SessionContext, user: &str) {
    for name in ["current_user", "user", "current_role"] {
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
    /// What it answers, when not the default for its type.
    answer: Option<ScalarValue>,
}

impl OidFunction {
    /// One of one oid that answers `answer`.
    fn answering(name: &'static str, answer: ScalarValue) -> Self {
        OidFunction {
            answer: Some(answer.clone()),
            ..Self::new(name, answer.data_type())
        }
    }

    fn new(name: &'static str, returns: DataType) -> Self {
        Self::with_arity(name, returns, 1)
    }

    fn with_arity(name: &'static str, returns: DataType, arity: usize) -> Self {
        OidFunction {
            name,
            returns,
            signature: Signature::any(arity, Volatility::Stable),
            answer: None,
        }
    }

    /// One taking any of `arities` arguments.
    fn with_arities(name: &'static str, returns: DataType, arities: &[usize]) -> Self {
        OidFunction {
            name,
            returns,
            signature: Signature::one_of(
                arities
                    .iter()
                    .map(|&n| datafusion::logical_expr::TypeSignature::Any(n))
                    .collect(),
                Volatility::Stable,
            ),
            answer: None,
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
        if let Some(answer) = &self.answer {
            return Ok(ColumnarValue::Scalar(answer.clone()));
        }
        let value = match &self.returns {
            DataType::Boolean => ScalarValue::Boolean(Some(true)),
            other => ScalarValue::try_from(other)?,
        };
        Ok(ColumnarValue::Scalar(value))
    }
}

/// `json_build_object(key, value, ...)`: a JSON object as text, per row.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl JsonBuildObject {
    fn new() -> Self {
        JsonBuildObject {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

fn json_value(v: &ScalarValue) -> serde_json::Value {
    use serde_json::Value;
    if v.is_null() {
        return Value::Null;
    }
    match v {
        ScalarValue::Boolean(Some(b)) => Value::Bool(*b),
        ScalarValue::Int8(Some(x)) => Value::from(*x),
        ScalarValue::Int16(Some(x)) => Value::from(*x),
        ScalarValue::Int32(Some(x)) => Value::from(*x),
        ScalarValue::Int64(Some(x)) => Value::from(*x),
        ScalarValue::UInt8(Some(x)) => Value::from(*x),
        ScalarValue::UInt16(Some(x)) => Value::from(*x),
        ScalarValue::UInt32(Some(x)) => Value::from(*x),
        ScalarValue::UInt64(Some(x)) => Value::from(*x),
        ScalarValue::Float32(Some(x)) => Value::from(*x),
        ScalarValue::Float64(Some(x)) => Value::from(*x),
        ScalarValue::Utf8(Some(x))
        | ScalarValue::LargeUtf8(Some(x))
        | ScalarValue::Utf8View(Some(x)) => Value::String(x.clone()),
        other => Value::String(other.to_string()),
    }
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return Err(datafusion::error::DataFusionError::Plan(
                "json_build_object: argument list must have even number of elements".into(),
            ));
        }
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = StringBuilder::new();
        for row in 0..args.number_rows {
            let mut object = serde_json::Map::new();
            for pair in arrays.chunks(2) {
                let key = ScalarValue::try_from_array(&pair[0], row)?;
                let value = ScalarValue::try_from_array(&pair[1], row)?;
                object.insert(key.to_string(), json_value(&value));
            }
            out.append_value(serde_json::Value::Object(object).to_string());
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
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
    fn resolves_type_names_like_to_regtype() {
        assert_eq!(type_oid("integer"), Some(23));
        assert_eq!(type_oid("pg_catalog.int8"), Some(20));
        assert_eq!(type_oid("text[]"), Some(1009));
        assert_eq!(type_oid("integer[]"), Some(1007));
        assert_eq!(type_oid("double precision"), Some(701));
        assert_eq!(type_oid("hstore"), None);
    }

    #[test]
    fn knows_time_zones() {
        assert!(valid_time_zone("UTC"));
        assert!(valid_time_zone("Europe/Paris"));
        assert!(valid_time_zone("+02:00"));
        assert!(!valid_time_zone("Mars/Olympus"));
    }
}
