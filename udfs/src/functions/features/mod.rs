//! Features: pure helpers as scalar functions (stable hashing, bucketing, a
//! deterministic train/test split), each a function of its arguments only,
//! so it gives the same answer on any machine, release and partitioning; and
//! the point-in-time join `ml_asof_join`.

pub mod asof_join;
pub mod bucketize;
pub mod feature_hash;
pub mod split;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;

use crate::Services;
use crate::error::{SqlStateError, sqlstate};
use crate::functions::definition::Definition;

/// The feature functions.
pub fn functions() -> Vec<Definition<Services>> {
    vec![
        Definition::scalar(|_| split::SplitUdf::new()),
        Definition::scalar(|_| feature_hash::FeatureHashUdf::new()),
        Definition::scalar(|_| bucketize::BucketizeUdf::new()),
        Definition::table(|_| asof_join::AsofJoinUdtf),
    ]
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
