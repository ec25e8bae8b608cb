//! SQL functions that change the registry; they need the server's registry,
//! so they live here rather than in `quarry-udfs`.

pub mod annotate;
pub mod approve;
pub mod archive;
pub mod deploy;
pub mod dpia;
pub mod model_card;
pub mod reject;
pub mod review;
pub mod reviews_due;
pub mod rollback;
pub mod set_policy;
pub mod snapshot;
pub mod snapshot_read;
pub mod train;
pub mod training_info;
pub mod unarchive;

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use quarry_udfs::functions::definition::{self, Definition};

use super::Registry;
use crate::error::SqlStateError;

/// The registry functions, one line each; registration, the relation
/// positions and the docs below are read off this list.
pub fn functions() -> Vec<Definition<Arc<Registry>>> {
    vec![
        Definition::scalar(ActionUdf::<deploy::DeployUdf>::new),
        Definition::scalar(ActionUdf::<rollback::RollbackUdf>::new),
        Definition::scalar(ActionUdf::<archive::ArchiveUdf>::new),
        Definition::scalar(ActionUdf::<unarchive::UnarchiveUdf>::new),
        Definition::scalar(ActionUdf::<set_policy::SetPolicyUdf>::new),
        Definition::scalar(ActionUdf::<approve::ApproveUdf>::new),
        Definition::scalar(ActionUdf::<reject::RejectUdf>::new),
        Definition::scalar(ActionUdf::<annotate::AnnotateUdf>::new),
        Definition::scalar(ActionUdf::<review::ReviewUdf>::new),
        Definition::scalar(ActionUdf::<model_card::ModelCardUdf>::new),
        Definition::scalar(ActionUdf::<crate::lifecycle::ack_alert::AckAlertUdf>::new),
        Definition::text_table(|r: &Arc<Registry>| reviews_due::ReviewsDueUdtf::new(r.clone())),
        Definition::text_table(|r: &Arc<Registry>| dpia::DpiaUdtf::new(r.clone())),
        Definition::text_table(|r: &Arc<Registry>| train::TrainUdtf::new(r.clone())),
        Definition::text_table(|r: &Arc<Registry>| {
            crate::lifecycle::run_policy::RunPolicyUdtf::new(r.clone())
        }),
        Definition::text_table(|r: &Arc<Registry>| {
            crate::lifecycle::view::LifecycleUdtf::new(r.clone())
        }),
        Definition::text_table(|r: &Arc<Registry>| snapshot::SnapshotUdtf::new(r.clone())),
        Definition::text_table(|r: &Arc<Registry>| snapshot_read::SnapshotReadUdtf::new(r.clone())),
        Definition::text_table(|r: &Arc<Registry>| training_info::TrainingInfoUdtf::new(r.clone())),
        Definition::table(|r: &Arc<Registry>| crate::serving::monitor::MonitorUdtf::new(r.clone())),
        Definition::table(|r: &Arc<Registry>| {
            crate::serving::ab_report::AbReportUdtf::new(r.clone())
        }),
    ]
}

/// What a registry scalar does once per call, answering with a message;
/// [`ActionUdf`] does the rest.
pub trait Action: std::fmt::Debug + Default + Send + Sync + 'static {
    const NAME: &'static str;

    fn signature() -> Signature;

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError>;

    fn documentation(&self) -> Option<&Documentation>;
}

/// The scalar UDF of an [`Action`] over the registry.
#[derive(Debug)]
pub struct ActionUdf<A: Action> {
    registry: Arc<Registry>,
    signature: Signature,
    action: A,
}

impl<A: Action> ActionUdf<A> {
    pub fn new(registry: &Arc<Registry>) -> Self {
        ActionUdf {
            registry: registry.clone(),
            signature: A::signature(),
            action: A::default(),
        }
    }
}

impl<A: Action> PartialEq for ActionUdf<A> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.registry, &other.registry)
    }
}

impl<A: Action> Eq for ActionUdf<A> {}

impl<A: Action> std::hash::Hash for ActionUdf<A> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        A::NAME.hash(state);
    }
}

impl<A: Action> ScalarUDFImpl for ActionUdf<A> {
    fn name(&self) -> &str {
        A::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let message = self.action.run(&self.registry, &args)?;
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(message))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.action.documentation()
    }
}

/// Registers the registry functions into `ctx`.
pub fn register(ctx: &SessionContext, registry: &Arc<Registry>) {
    definition::register(ctx, registry, &functions(), &[]).expect(
        "only a relation planner can fail to register, and these table functions need none: \
         their relation arguments reach the session's planner through textual_relations",
    );
}

/// Table functions here whose relation arguments are SQL text (the training
/// query is recorded), with the positions of those arguments.
pub fn textual_relations() -> Vec<(&'static str, Vec<usize>)> {
    definition::textual_positions(&functions())
}

/// Documentation of the table functions registered here.
pub fn table_function_docs() -> Vec<(&'static str, Documentation)> {
    definition::table_docs(&functions())
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
        .and_then(quarry_udfs::functions::params::text_literal)
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
        .ok_or_else(|| SqlStateError::internal("not a SessionState").into_df())?
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

/// What an [`at_execution`] table runs.
type Run = Arc<
    dyn Fn() -> futures::future::BoxFuture<
            'static,
            Result<datafusion::arrow::array::RecordBatch, SqlStateError>,
        > + Send
        + Sync,
>;

/// A table of one batch that `run` makes when the scan executes, never at
/// planning: `EXPLAIN` of a call that trains, runs a job or reads the log
/// does none of it.
pub fn at_execution(
    schema: datafusion::arrow::datatypes::SchemaRef,
    run: Run,
) -> datafusion::error::Result<Arc<dyn datafusion::catalog::TableProvider>> {
    Ok(Arc::new(
        datafusion::catalog::streaming::StreamingTable::try_new(
            schema.clone(),
            vec![Arc::new(AtExecution { schema, run })],
        )?,
    ))
}

struct AtExecution {
    schema: datafusion::arrow::datatypes::SchemaRef,
    run: Run,
}

impl std::fmt::Debug for AtExecution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtExecution").finish_non_exhaustive()
    }
}

impl datafusion::physical_plan::streaming::PartitionStream for AtExecution {
    fn schema(&self) -> &datafusion::arrow::datatypes::SchemaRef {
        &self.schema
    }

    fn execute(
        &self,
        _ctx: Arc<datafusion::execution::TaskContext>,
    ) -> datafusion::physical_plan::SendableRecordBatchStream {
        let run = (self.run)();
        Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::once(async move { run.await.map_err(SqlStateError::into_df) }),
            ),
        )
    }
}

/// A table function's `(model)` call, checked at planning: the model
/// exists and the caller holds every one of `privileges` on it. The
/// model's name and the caller.
pub fn model_call(
    function: &str,
    registry: &Registry,
    args: &datafusion::catalog::TableFunctionArgs,
    privileges: &[crate::access::Privilege],
) -> datafusion::error::Result<(String, String)> {
    let exprs = args.exprs();
    if exprs.len() != 1 {
        return Err(SqlStateError::bad_argument(format!(
            "{function}: expected (model), got {} arguments",
            exprs.len()
        ))
        .into_df());
    }
    let model = text_arg(function, exprs, 0, "model").map_err(SqlStateError::into_df)?;
    registry
        .require_exists(&model)
        .map_err(SqlStateError::into_df)?;
    let state = session_state(args)?;
    let config = state.config_options();
    for privilege in privileges {
        crate::access::require_model(config, &model, *privilege).map_err(SqlStateError::into_df)?;
    }
    Ok((model, quarry_udfs::session_info::user(config)))
}
