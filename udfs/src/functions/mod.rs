//! Quarry's SQL functions, one per file, in families; each family's
//! `mod.rs` lists its functions ([`definition::Definition`]) and [`all`]
//! joins the lists.
//!
//! Adding a table function is its file (one `<Op>Udtf` struct implementing
//! [`definition::TableFunctionSpec`], with its parameters and docs, and
//! [`relation::RelationFunction`]) plus, in its family's `mod.rs`, its
//! `pub mod` line and its `Definition::table` line; then an slt file that
//! calls it. Registration, the relation planner, the statement rewrite and
//! `docs/functions.md` follow from the list, and the `docs::` trials check
//! its docs, its example and its slt coverage. A helper aggregate or scalar
//! it needs stays in its file, held by its plan.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::Field;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::physical_expr::expressions::Literal;
use datafusion::scalar::ScalarValue;
use std::sync::LazyLock;

use crate::Services;
use crate::error::SqlStateError;
use definition::Definition;

/// `values` as one list value: the one-row result or state of an aggregate.
pub(crate) fn list_value(values: ArrayRef) -> ScalarValue {
    let n = values.len();
    ScalarValue::List(Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(values.data_type().clone(), true)),
        OffsetBuffer::from_lengths([n]),
        values,
        None,
    )))
}

/// The text of argument `i` of a hidden aggregate, which its planner always
/// passes as a string literal (a configuration, a name).
pub(crate) fn literal_text(
    function: &str,
    args: &AccumulatorArgs,
    i: usize,
) -> datafusion::error::Result<String> {
    args.exprs
        .get(i)
        .and_then(|e| e.downcast_ref::<Literal>())
        .and_then(|l| match l.value() {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)) => Some(s.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            SqlStateError::internal(format!("{function}: argument {i} is not a text literal"))
                .into_df()
        })
}

pub mod definition;
pub mod drift;
pub mod evaluation;
pub mod features;
pub mod metrics;
pub mod monitoring;
pub mod params;
pub mod privacy;
pub mod quality;
pub mod relation;
pub mod scoring;

/// Every function of this crate: the families' lists.
pub fn all() -> Vec<Definition<Services>> {
    [
        scoring::functions(),
        evaluation::functions(),
        metrics::functions(),
        drift::functions(),
        features::functions(),
        quality::functions(),
        monitoring::functions(),
        privacy::functions(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Table functions of this crate with relation arguments, and their positions.
pub fn relation_functions() -> Vec<(&'static str, Vec<usize>)> {
    definition::relation_positions(&all())
}

/// Table functions of this crate where quoted text names a model rather than
/// a relation, and the position.
fn model_positions() -> Vec<(&'static str, usize)> {
    definition::model_positions(&all())
}

/// Scalar functions whose only dependence beyond their arguments is the model
/// registry: they resolve a model reference when the query is planned (and so
/// are `Stable`). A server that keeps plans between executions may keep these
/// as long as it drops kept plans whenever the registry changes. Read off the
/// definitions ([`Definition::ModelScalar`]).
pub static REGISTRY_BOUND: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| definition::registry_bound(&all()));
