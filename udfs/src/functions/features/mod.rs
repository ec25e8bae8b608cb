//! Pure feature helpers as scalar functions: stable hashing, bucketing and a
//! deterministic train/test split. Each is a function of its arguments only,
//! so it gives the same answer on any machine, release and partitioning.

pub mod asof_join;
pub mod bucketize;
pub mod feature_hash;
pub mod split;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

use crate::error::{SqlStateError, sqlstate};

/// Registers the feature helpers.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(split::Split::new()));
    ctx.register_udf(ScalarUDF::from(feature_hash::FeatureHash::new()));
    ctx.register_udf(ScalarUDF::from(bucketize::Bucketize::new()));
}

/// Values as a Utf8 array (numbers print as SQL prints them: 42, 2.5, true).
pub fn as_text(
    function: &str,
    argument: &str,
    values: &ArrayRef,
) -> Result<ArrayRef, SqlStateError> {
    let text = cast(values, &DataType::Utf8).map_err(|e| {
        SqlStateError::new(
            sqlstate::DATATYPE_MISMATCH,
            format!(
                "{function}: {argument} must be a value that has a text form, got {}: {e}",
                values.data_type()
            ),
        )
    })?;
    Ok(text)
}
