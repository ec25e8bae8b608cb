//! SQL functions that change the registry; they need the server's registry,
//! so they live here rather than in `quarry-udfs`.

pub mod deploy;
pub mod rollback;
pub mod snapshot;
pub mod train;
pub mod training_info;

use std::sync::Arc;

use datafusion::logical_expr::{ColumnarValue, Documentation, ScalarUDF};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::Registry;
use crate::error::SqlStateError;

/// Registers the registry functions into `ctx`.
pub fn register(ctx: &SessionContext, registry: &Arc<Registry>) {
    ctx.register_udf(ScalarUDF::from(deploy::DeployUdf::new(registry.clone())));
    ctx.register_udf(ScalarUDF::from(rollback::RollbackUdf::new(
        registry.clone(),
    )));
    ctx.register_udtf(
        train::NAME,
        Arc::new(train::TrainUdtf::new(registry.clone())),
    );
    ctx.register_udtf(
        snapshot::NAME,
        Arc::new(snapshot::SnapshotUdtf::new(registry.clone())),
    );
    ctx.register_udtf(
        snapshot::READ,
        Arc::new(snapshot::SnapshotReadUdtf::new(registry.clone())),
    );
    ctx.register_udtf(
        training_info::NAME,
        Arc::new(training_info::TrainingInfoUdtf::new(registry.clone())),
    );
}

/// Table functions here whose relation arguments are SQL text (the training
/// query is recorded), with the positions of those arguments.
pub fn textual_relations() -> Vec<(&'static str, Vec<usize>)> {
    vec![(train::NAME, vec![1]), (snapshot::NAME, vec![1])]
}

/// Documentation of the table functions registered here.
pub fn table_function_docs() -> Vec<(&'static str, Documentation)> {
    vec![
        (train::NAME, train::TrainUdtf::documentation()),
        (snapshot::NAME, snapshot::SnapshotUdtf::documentation()),
        (snapshot::READ, snapshot::SnapshotReadUdtf::documentation()),
        (
            training_info::NAME,
            training_info::TrainingInfoUdtf::documentation(),
        ),
    ]
}

/// A literal argument of a registry function: these act once per call, so
/// per-row arguments are refused.
pub fn literal<'a>(
    function: &str,
    args: &'a [ColumnarValue],
    i: usize,
) -> Result<&'a ScalarValue, SqlStateError> {
    match args.get(i) {
        Some(ColumnarValue::Scalar(v)) if !v.is_null() => Ok(v),
        Some(ColumnarValue::Scalar(_)) => Err(SqlStateError::bad_argument(format!(
            "{function}: argument {} must not be NULL",
            i + 1
        ))),
        Some(ColumnarValue::Array(_)) => Err(SqlStateError::bad_argument(format!(
            "{function}: arguments must be constants, not columns: it acts once per call"
        ))),
        None => Err(SqlStateError::bad_argument(format!(
            "{function}: missing argument {}",
            i + 1
        ))),
    }
}

/// Argument `i` of a table function, which must be a text literal.
pub fn text_arg(
    function: &str,
    exprs: &[datafusion::logical_expr::Expr],
    i: usize,
    what: &str,
) -> Result<String, SqlStateError> {
    exprs
        .get(i)
        .and_then(quarry_udfs::functions::relation::text_literal)
        .map(str::to_string)
        .ok_or_else(|| {
            SqlStateError::bad_argument(format!(
                "{function}: argument {} ({what}) must be a text literal",
                i + 1
            ))
        })
}

/// The query a relation argument (argument `i`, text) stands for, as SQL.
pub fn relation_query(function: &str, i: usize, relation: &str) -> Result<String, SqlStateError> {
    quarry_udfs::functions::relation::parse_relation_text(relation)
        .map(|q| q.to_string())
        .map_err(|e| {
            SqlStateError::bad_argument(format!(
                "{function}: argument {} (relation) must be a table name, a query starting with SELECT or WITH, \
                 or a parenthesized subquery; '{relation}' does not parse: {e}",
                i + 1
            ))
        })
}

/// The session a table function is planned in (queries run in it later).
pub fn session_state(
    args: &datafusion::catalog::TableFunctionArgs,
) -> datafusion::error::Result<datafusion::execution::context::SessionState> {
    Ok(args
        .session()
        .as_any()
        .downcast_ref::<datafusion::execution::context::SessionState>()
        .ok_or_else(|| {
            SqlStateError::new(
                crate::error::sqlstate::INTERNAL_ERROR,
                "internal error: not a SessionState",
            )
            .into_df()
        })?
        .clone())
}

pub fn text(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s.clone()),
        _ => None,
    }
}
