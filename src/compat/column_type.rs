//! `quarry_column_type(arrow_type, part)`: what PostgreSQL's
//! `information_schema.columns` says of a column whose type DataFusion's
//! `information_schema` spells `arrow_type` (`Int32`, `Timestamp(ns,
//! "+00:00")`, `List(Int32)`): with `part` `'data_type'` the SQL name
//! (`integer`, `timestamp with time zone`, `ARRAY`, `USER-DEFINED`), with
//! `'udt_name'` the type's own name (`int4`, `timestamptz`, `_int4`), as
//! the wire sends it. NULL for a spelling Arrow does not read.
//!
//! `server::rewrite` builds `information_schema.columns` with it, so the
//! names come from the same mapping as `pg_typeof` and the wire's types.
//!
//! ```sql
//! SELECT quarry_column_type('Int32', 'data_type'), quarry_column_type('List(Int64)', 'udt_name');
//! -- integer | _int8
//! ```

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::pg_typeof::type_name;

/// The SQL name `information_schema.columns.data_type` gives `data_type`.
pub fn sql_name(data_type: &DataType) -> String {
    match data_type {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => "ARRAY".into(),
        DataType::Struct(_) | DataType::Map(..) | DataType::Union(..) => "USER-DEFINED".into(),
        // A column of no type holds text, as PostgreSQL's unknown becomes.
        DataType::Null => "text".into(),
        other => type_name(other),
    }
}

/// The type's own name (`udt_name`), as the wire's type for it is called.
pub fn udt_name(data_type: &DataType) -> Option<String> {
    match data_type {
        DataType::Null => Some("text".into()),
        other => arrow_pg::datatypes::into_pg_type(other)
            .ok()
            .map(|t| t.name().to_string()),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ColumnType {
    signature: Signature,
}

impl ColumnType {
    pub fn new() -> Self {
        ColumnType {
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Utf8],
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for ColumnType {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for ColumnType {
    fn name(&self) -> &str {
        "quarry_column_type"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [types, part] = args.args.as_slice() else {
            return Err(DataFusionError::Plan(
                "quarry_column_type(arrow_type, part) takes two arguments".into(),
            ));
        };
        let ColumnarValue::Scalar(ScalarValue::Utf8(Some(part))) = part else {
            return Err(DataFusionError::Plan(
                "quarry_column_type: part must be 'data_type' or 'udt_name'".into(),
            ));
        };
        let name: fn(&DataType) -> Option<String> = match part.as_str() {
            "data_type" => |t| Some(sql_name(t)),
            "udt_name" => udt_name,
            other => {
                return Err(DataFusionError::Plan(format!(
                    "quarry_column_type: part must be 'data_type' or 'udt_name', not '{other}'"
                )));
            }
        };
        let types: ArrayRef = types.to_array(rows)?;
        let types = types.as_string::<i32>();
        // A catalog has few distinct types: each spelling is read once.
        let mut seen: HashMap<&str, Option<String>> = HashMap::new();
        let mut out = StringBuilder::with_capacity(types.len(), types.len() * 8);
        for i in 0..types.len() {
            if types.is_null(i) {
                out.append_null();
                continue;
            }
            let text = types.value(i);
            let answer = seen
                .entry(text)
                .or_insert_with(|| DataType::from_str(text).ok().and_then(|t| name(&t)));
            out.append_option(answer.as_deref());
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(spelled: &str) -> (String, Option<String>) {
        let t = DataType::from_str(spelled).expect("arrow reads it");
        (sql_name(&t), udt_name(&t))
    }

    #[test]
    fn arrow_spellings_become_postgresql_names() {
        let named = |s: &str, d: &str, u: &str| {
            assert_eq!(both(s), (d.to_string(), Some(u.to_string())), "{s}")
        };
        named("Int16", "smallint", "int2");
        named("Int32", "integer", "int4");
        named("Int64", "bigint", "int8");
        named("Float64", "double precision", "float8");
        named("Utf8", "text", "text");
        named("Boolean", "boolean", "bool");
        named("Date32", "date", "date");
        named("Timestamp(ns)", "timestamp without time zone", "timestamp");
        named(
            "Timestamp(ns, \"+00:00\")",
            "timestamp with time zone",
            "timestamptz",
        );
        named("Decimal128(10, 2)", "numeric", "numeric");
        named("List(Int32)", "ARRAY", "_int4");
        named("Null", "text", "text");
    }

    #[test]
    fn the_wire_and_the_catalog_agree() {
        // What DataFusion's information_schema prints is what Arrow reads.
        for t in [
            DataType::Int32,
            DataType::Utf8,
            DataType::Timestamp(
                datafusion::arrow::datatypes::TimeUnit::Microsecond,
                Some("UTC".into()),
            ),
        ] {
            assert_eq!(DataType::from_str(&t.to_string()).ok(), Some(t));
        }
    }
}
