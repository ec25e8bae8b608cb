//! `pg_typeof(any)`: the PostgreSQL name of a value's type, as PostgreSQL
//! prints a `regtype` (`integer`, `timestamp with time zone`, `text[]`).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// PostgreSQL's name for the type a column of `data_type` is sent as.
pub fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Null => "unknown".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 | DataType::Decimal32(..) | DataType::Decimal64(..) => "numeric".into(),
        DataType::Decimal128(..) | DataType::Decimal256(..) => "numeric".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea".into(),
        DataType::FixedSizeBinary(_) => "bytea".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time without time zone".into(),
        DataType::Timestamp(_, None) => "timestamp without time zone".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Interval(_) | DataType::Duration(_) => "interval".into(),
        t if super::oid_array::is_oid_list(t) => "oid[]".into(),
        // An array of any dimensions is named by its elements.
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            let element = crate::server::arrays::element_type(data_type);
            format!("{}[]", type_name(element))
        }
        DataType::Struct(_) => "record".into(),
        DataType::Dictionary(_, value) => type_name(value),
        other => other.to_string(),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgTypeof {
    signature: Signature,
}

impl PgTypeof {
    pub fn new() -> Self {
        PgTypeof {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl Default for PgTypeof {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(type_name(
            &args.args[0].data_type(),
        )))))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{Field, TimeUnit};

    use super::*;

    #[test]
    fn names_are_postgresqls() {
        assert_eq!(type_name(&DataType::Int32), "integer");
        assert_eq!(type_name(&DataType::Float64), "double precision");
        assert_eq!(
            type_name(&DataType::Timestamp(
                TimeUnit::Nanosecond,
                Some("+00:00".into())
            )),
            "timestamp with time zone"
        );
        assert_eq!(
            type_name(&DataType::Timestamp(TimeUnit::Microsecond, None)),
            "timestamp without time zone"
        );
        assert_eq!(
            type_name(&DataType::List(Arc::new(Field::new(
                "item",
                DataType::Utf8,
                true
            )))),
            "text[]"
        );
    }
}
