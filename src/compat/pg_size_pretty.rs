//! `pg_size_pretty(bytes)`: a byte count as PostgreSQL writes it for
//! people, in the largest unit that keeps at least ten of it (`bytes`,
//! `kB`, `MB`, `GB`, `TB`, `PB`; units of 1024), rounded half away from
//! zero: `pg_size_pretty(10240)` is `10 kB`, `pg_size_pretty(123456789)`
//! is `118 MB`. psql's `\dt+` shows table sizes with it.
//!
//! ```sql
//! SELECT pg_size_pretty(10 * 1024 * 1024);  -- 10 MB
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// PostgreSQL's `pg_size_pretty(bigint)` (`dbsize.c`): each step up
/// divides by 1024 while the value, halved, is at least 10 * 1024 - 1/2.
pub fn pretty(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    let limit: i128 = 10 * 1024;
    let limit2 = limit * 2 - 1;
    // Wide enough that the smallest bigint has an absolute value.
    let mut size = i128::from(bytes);
    if size.abs() < limit {
        return format!("{size} bytes");
    }
    // PostgreSQL keeps one more bit to round with.
    size /= 1 << 9;
    for (i, unit) in UNITS.iter().enumerate() {
        if size.abs() < limit2 || i == UNITS.len() - 1 {
            let rounded = (size + size.signum()) / 2;
            return format!("{rounded} {unit}");
        }
        size /= 1 << 10;
    }
    unreachable!("the last unit returns")
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgSizePretty {
    signature: Signature,
}

impl PgSizePretty {
    pub fn new() -> Self {
        PgSizePretty {
            signature: Signature::coercible(
                vec![datafusion::logical_expr::Coercion::new_implicit(
                    datafusion::logical_expr::TypeSignatureClass::Native(
                        datafusion::common::types::logical_int64(),
                    ),
                    vec![datafusion::logical_expr::TypeSignatureClass::Numeric],
                    datafusion::common::types::NativeType::Int64,
                )],
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for PgSizePretty {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for PgSizePretty {
    fn name(&self) -> &str {
        "pg_size_pretty"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bytes = args.args[0].to_array(args.number_rows)?;
        let bytes = datafusion::arrow::compute::cast(&bytes, &DataType::Int64)?;
        let bytes = bytes.as_primitive::<Int64Type>();
        let mut out = StringBuilder::with_capacity(bytes.len(), bytes.len() * 8);
        for i in 0..bytes.len() {
            if bytes.is_null(i) {
                out.append_null();
            } else {
                out.append_value(pretty(bytes.value(i)));
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::pretty;

    #[test]
    fn sizes_read_as_postgresql_writes_them() {
        // Answers of PostgreSQL 15's pg_size_pretty(bigint).
        for (bytes, text) in [
            (0, "0 bytes"),
            (10239, "10239 bytes"),
            (10240, "10 kB"),
            (123456, "121 kB"),
            (123456789, "118 MB"),
            (10 * 1024 * 1024, "10 MB"),
            (1_000_000_000_000, "931 GB"),
            (-123456, "-121 kB"),
            (i64::MAX, "8192 PB"),
            (i64::MIN, "-8192 PB"),
        ] {
            assert_eq!(pretty(bytes), text, "{bytes}");
        }
    }
}
