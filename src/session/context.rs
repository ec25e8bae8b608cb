//! Building DataFusion's state: the base [`SessionState`] every session
//! starts from (catalogs, functions, runtime and its memory pool), a
//! session's own [`SessionContext`], and the [`PlanState`] one statement
//! plans and runs with.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion::catalog::{CatalogProviderList, MemoryCatalogProviderList};
use datafusion::execution::TaskContext;
use datafusion::execution::context::SessionState;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_pg_catalog::pg_catalog::context::{PgCatalogContextProvider, Role};

use super::Session;
use crate::catalog::store::Store;
use crate::catalog::{CATALOG_NAME, Catalog, DEFAULT_SCHEMA};
use crate::compat;
use crate::config::Config;
use crate::error::Result;
use crate::sync::lock;

/// Lists Quarry's users as PostgreSQL roles (`pg_roles`, psql `\du`).
///
/// Passed by value: datafusion-pg-catalog's `impl for Arc<T>` recurses forever.
#[derive(Debug, Clone)]
pub struct RoleProvider {
    store: Arc<Store>,
}

#[async_trait::async_trait]
impl PgCatalogContextProvider for RoleProvider {
    async fn roles(&self) -> Vec<String> {
        self.store
            .user_names()
            .map(|users| users.into_iter().map(|(name, _)| name).collect())
            .unwrap_or_default()
    }

    async fn role(&self, name: &str) -> Option<Role> {
        let user = self.store.user(name).ok().flatten()?;
        Some(Role {
            name: user.name,
            is_superuser: user.superuser,
            can_login: true,
            can_create_db: user.superuser,
            can_create_role: user.superuser,
            can_create_user: user.superuser,
            can_replication: false,
            grants: vec![],
            inherited_roles: vec![],
        })
    }
}

/// Builds the state every session starts from.
pub fn base_state(
    config: &Config,
    catalog: &Arc<Catalog>,
    registry: &Arc<crate::registry::Registry>,
    serving: &Arc<crate::serving::Serving>,
    sessions: &Arc<super::SessionRegistry>,
    access: &Arc<crate::access::Access>,
    audit: &Arc<crate::audit::AuditLog>,
) -> Result<SessionState> {
    let mut session_config = SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_SCHEMA)
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(true)
        .with_target_partitions(config.threads);
    let options = session_config.options_mut();
    options.sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
    // Planning errors then carry where in the statement they are, which
    // clients show (psql's caret under the statement).
    options.sql_parser.collect_spans = true;
    // Parquet text columns are read as string views: a dictionary-encoded
    // page then becomes 16-byte views into its dictionary instead of a copy of
    // every string (a third of the time of scoring a Parquet file). Clients
    // see `text` either way; managed tables keep their declared types.
    options.execution.parquet.schema_force_view_types = true;
    options.sql_parser.map_string_types_to_utf8view = false;
    // The session's TimeZone (UTC until SET): `now()` and `timestamptz`
    // values carry it, as PostgreSQL's do.
    options.execution.time_zone = Some("+00:00".to_string());
    // The access rules, for the functions that check a model privilege.
    options
        .extensions
        .insert(crate::access::AccessExtension(access.clone()));
    // CPU-bound kernels: one at a time per thread the server was given.
    options
        .extensions
        .insert(quarry_udfs::control::Control::new(Arc::new(
            quarry_udfs::control::ComputePool::new(config.threads),
        )));

    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = config.memory_limit {
        runtime = runtime.with_memory_limit(limit, 1.0);
    }
    let runtime = runtime
        .build_arc()
        .map_err(|e| crate::error::classify(&e))?;

    let catalogs = Arc::new(MemoryCatalogProviderList::new());
    catalogs.register_catalog(CATALOG_NAME.to_string(), catalog.provider());

    let state = SessionStateBuilder::new()
        .with_config(session_config)
        .with_runtime_env(runtime)
        .with_catalog_list(catalogs as Arc<dyn CatalogProviderList>)
        .with_default_features()
        .with_analyzer_rules(analyzer_rules(registry, access, catalog))
        .with_optimizer_rules(super::aggregate_filters::optimizer_rules())
        .with_physical_optimizer_rules(physical_rules())
        .with_query_planner(Arc::new(QueryPlanner))
        .build();
    let mut state = state;
    datafusion::execution::FunctionRegistry::register_expr_planner(
        &mut state,
        Arc::new(super::intervals::IntervalArithmetic),
    )
    .map_err(|e| crate::error::classify(&e))?;
    let ctx = SessionContext::new_with_state(state);
    datafusion_pg_catalog::setup_pg_catalog(
        &ctx,
        CATALOG_NAME,
        RoleProvider {
            store: catalog.store().clone(),
        },
    )
    .map_err(|e| crate::error::classify(&e))?;
    compat::register(&ctx);
    // The privilege questions, answered from the real rules (after
    // datafusion-pg-catalog's, which answer true).
    for asked in [
        crate::access::catalogs::Asked::Table,
        crate::access::catalogs::Asked::AnyColumn,
        crate::access::catalogs::Asked::Schema,
    ] {
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
            crate::access::catalogs::HasPrivilege::new(asked, access.clone(), catalog),
        ));
    }
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
        crate::access::pseudonymize::PseudonymizeUdf::new(catalog.store().clone()),
    ));
    catalog.register_system_table(
        crate::access::catalogs::ROLES,
        crate::catalog::live::LiveTable::provider(crate::access::catalogs::Roles::new(
            access.clone(),
        )),
    )?;
    catalog.register_system_table(
        crate::access::catalogs::AUTH_MEMBERS,
        crate::catalog::live::LiveTable::provider(crate::access::catalogs::AuthMembers::new(
            access.clone(),
        )),
    )?;
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
        crate::catalog::sequence::NextVal::new(catalog.store().clone()),
    ));
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
        crate::catalog::sequence::SetVal::new(catalog.store().clone()),
    ));
    let activity = super::admin::register(&ctx, sessions, catalog.store());
    catalog.register_system_table(super::admin::STAT_ACTIVITY, activity)?;
    let services = quarry_udfs::Services {
        models: registry.clone(),
        sink: serving.clone(),
    };
    quarry_udfs::register_all(
        &ctx,
        &services,
        &crate::registry::functions::textual_relations(),
    )
    .map_err(|e| crate::error::classify(&e))?;
    crate::registry::functions::register(&ctx, registry);
    let governance = Arc::new(crate::governance::Governance {
        registry: registry.clone(),
        catalog: Arc::downgrade(catalog),
        access: access.clone(),
        audit: audit.clone(),
    });
    crate::governance::register(&ctx, &governance);
    catalog.register_system_table(
        crate::governance::ml_tag::TABLE,
        crate::catalog::live::LiveTable::provider(crate::governance::ml_tag::ColumnTags::new(
            &governance,
        )),
    )?;
    catalog.register_system_table(
        crate::audit::table::TABLE,
        crate::catalog::live::LiveTable::provider(crate::audit::table::AuditRows::new(
            audit.clone(),
        )),
    )?;
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
        crate::serving::feedback::FeedbackUdf::new(
            registry.clone(),
            serving.feedback_table.clone(),
        ),
    ));
    catalog.register_system_table(
        crate::serving::model_metrics::MODEL_METRICS,
        LiveTable::provider(crate::serving::model_metrics::ModelMetrics::new(serving)),
    )?;
    use crate::catalog::live::LiveTable;
    use crate::catalog::unloadable::{UNLOADABLE_RELATIONS, UnloadableRelations};
    use crate::registry::system_tables::{
        APPROVALS, DEPLOYMENTS, Kind, MODELS, SNAPSHOTS, SystemTable, VERSIONS,
    };
    for (name, kind) in [
        (MODELS, Kind::Models),
        (VERSIONS, Kind::Versions),
        (DEPLOYMENTS, Kind::Deployments),
        (SNAPSHOTS, Kind::Snapshots),
        (APPROVALS, Kind::Approvals),
    ] {
        let rows = SystemTable::new(kind, registry.clone());
        catalog.register_system_table(name, LiveTable::provider(rows))?;
    }
    catalog.register_system_table(
        crate::lifecycle::jobs::NAME,
        LiveTable::provider(crate::lifecycle::jobs::JobsTable(
            crate::lifecycle::jobs::Jobs::of(registry.store().clone()),
        )),
    )?;
    catalog.register_system_table(
        crate::lifecycle::alerts::NAME,
        LiveTable::provider(crate::lifecycle::alerts::AlertsTable(
            crate::lifecycle::alerts::Alerts::of(registry.store().clone()),
        )),
    )?;
    catalog.register_system_table(
        super::cursors::CURSORS,
        LiveTable::provider(super::cursors::CursorList::default()),
    )?;
    catalog.register_system_table(
        crate::catalog::comments::COMMENTS,
        LiveTable::provider(crate::catalog::comments::Comments::new(
            catalog.store().clone(),
        )),
    )?;
    catalog.register_system_table(
        crate::catalog::functions::FUNCTIONS,
        LiveTable::provider(crate::catalog::functions::Functions::default()),
    )?;
    catalog.register_system_table(
        crate::catalog::keys::KEYS,
        LiveTable::provider(crate::catalog::keys::Keys::new(Arc::downgrade(catalog))),
    )?;
    catalog.register_system_table(
        crate::catalog::matviews::MATVIEWS,
        LiveTable::provider(crate::catalog::matviews::MaterializedViews::new(
            Arc::downgrade(catalog),
        )),
    )?;
    catalog.register_system_table(
        crate::catalog::sizes::RELATION_SIZES,
        LiveTable::provider(crate::catalog::sizes::RelationSizes::new(Arc::downgrade(
            catalog,
        ))),
    )?;
    catalog.register_system_table(
        UNLOADABLE_RELATIONS,
        LiveTable::provider(UnloadableRelations::new(Arc::downgrade(catalog))),
    )?;
    let state = ctx.state();
    crate::usage::record(&state);
    Ok(state)
}

/// DataFusion's analyzer rules, after the privilege check (`access`), with quoted literals read as the type they
/// are compared with before type coercion (`unknown`), integer arithmetic
/// checked after it (`checked`), the prediction log's key added to
/// scoring calls (`scoring_keys`), and calls of one table function told
/// apart (`table_function_scans`).
fn analyzer_rules(
    registry: &Arc<crate::registry::Registry>,
    access: &Arc<crate::access::Access>,
    catalog: &Arc<Catalog>,
) -> Vec<Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>> {
    let mut rules = datafusion::optimizer::Analyzer::new().rules;
    rules.insert(0, Arc::new(super::unknown::UnknownLiterals));
    // First of all: checks privileges and takes out the views' markers.
    rules.insert(
        0,
        Arc::new(crate::access::analyzer::Privileges::new(
            access.clone(),
            catalog,
        )),
    );
    rules.push(Arc::new(super::checked::CheckedIntegerArithmetic));
    rules.push(Arc::new(super::scoring_keys::ScoringKeys::new(
        registry.clone(),
    )));
    rules.push(Arc::new(
        super::table_function_scans::DistinctTableFunctionScans,
    ));
    rules
}

/// DataFusion's physical rules, after one that keeps scoring above the rows
/// it scores (it must run before any rule moves projections).
fn physical_rules()
-> Vec<Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
    rules.insert(
        0,
        Arc::new(quarry_udfs::functions::scoring::fence::FenceScoring),
    );
    rules
}

/// DataFusion's physical planner, told about the plan nodes only the
/// server runs (so one that reaches it fails with a clear error).
#[derive(Debug)]
struct QueryPlanner;

#[async_trait::async_trait]
impl datafusion::execution::context::QueryPlanner for QueryPlanner {
    async fn create_physical_plan(
        &self,
        plan: &datafusion::logical_expr::LogicalPlan,
        state: &dyn datafusion::catalog::Session,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(
            crate::governance::ml_erase_subject::RunOnlyAsStatement,
        )])
        .create_physical_plan(plan, state)
        .await
    }
}

/// The context of one session of `user`: the base state, told who the user is.
pub(super) fn session_context(
    base: &SessionState,
    user: &str,
    local: Arc<crate::catalog::local::LocalRelations>,
    block: Arc<crate::catalog::staging::Block>,
) -> SessionContext {
    let mut state = base.clone();
    // Its names resolve through its own temporary relations first. (Not a
    // state rebuilt with the builder: that registers the functions again,
    // and DataFusion's `to_char` would come back under its alias's entry.)
    let catalogs =
        crate::catalog::local::FrontCatalogs::session(base.catalog_list().clone(), local, block);
    state.register_catalog_list(Arc::new(catalogs));
    let mut info = quarry_udfs::session_info::SessionInfo::default();
    info.user = user.to_string();
    let options = state.config_mut().options_mut();
    options.extensions.insert(info);
    // Its own running statement over the server's compute pool.
    let pool = quarry_udfs::control::Control::of(options).pool;
    options
        .extensions
        .insert(quarry_udfs::control::Control::new(pool));
    let ctx = SessionContext::new_with_state(state);
    compat::register_session(&ctx, user);
    ctx
}

/// A planning state kept between statements, so the hot path does not clone
/// DataFusion's `SessionState` (hundreds of function-map entries) per statement.
pub(super) struct Cached {
    state: SessionState,
    task: Arc<TaskContext>,
    generation: u64,
}

/// The state one statement plans and runs with; returned to the session when
/// dropped, unless a `SET` changed the session meanwhile.
pub struct PlanState {
    state: Option<SessionState>,
    pub task: Arc<TaskContext>,
    generation: u64,
    session: Arc<Session>,
}

impl std::ops::Deref for PlanState {
    type Target = SessionState;

    fn deref(&self) -> &SessionState {
        // Only `drop` takes the state out.
        self.state
            .as_ref()
            .expect("plan state is present until dropped")
    }
}

impl Drop for PlanState {
    fn drop(&mut self) {
        if let Some(state) = self.state.take()
            && self.generation == self.session.generation.load(Ordering::Acquire)
        {
            *lock(&self.session.cache) = Some(Cached {
                state,
                task: self.task.clone(),
                generation: self.generation,
            });
        }
    }
}

impl Session {
    /// The state to plan one statement with, its clock started now.
    pub fn plan_state(self: &Arc<Self>) -> PlanState {
        let generation = self.generation.load(Ordering::Acquire);
        let cached = lock(&self.cache)
            .take()
            .filter(|c| c.generation == generation);
        let (mut state, task) = match cached {
            Some(c) => (c.state, c.task),
            None => {
                let state = self.ctx.state();
                let task = Arc::new(TaskContext::from(&state));
                (state, task)
            }
        };
        state.mark_start_execution();
        PlanState {
            state: Some(state),
            task,
            generation,
            session: self.clone(),
        }
    }

    /// The task context kept plans run in: the cached one, without taking the
    /// planning state out of its cache and restarting its clock.
    pub fn task(self: &Arc<Self>) -> Arc<TaskContext> {
        let generation = self.generation();
        if let Some(cached) = lock(&self.cache)
            .as_ref()
            .filter(|c| c.generation == generation)
        {
            return cached.task.clone();
        }
        self.plan_state().task.clone()
    }
}
