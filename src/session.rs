//! Sessions: one DataFusion `SessionContext` per connection over shared catalogs.
//!
//! The base [`SessionState`] (functions, catalogs, runtime and its memory pool)
//! is built once; each connection clones it, so `SET` changes only that
//! connection's configuration while tables and memory accounting are shared.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use datafusion::catalog::{CatalogProviderList, MemoryCatalogProviderList};
use datafusion::error::Result as DfResult;
use datafusion::execution::TaskContext;
use datafusion::execution::context::SessionState;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_pg_catalog::pg_catalog::context::{PgCatalogContextProvider, Role};
use tokio_util::sync::CancellationToken;

use crate::catalog::store::Store;
use crate::catalog::{CATALOG_NAME, Catalog, DEFAULT_SCHEMA};
use crate::compat;
use crate::config::Config;
use crate::error::{Result, SqlStateError, sqlstate};

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
) -> Result<SessionState> {
    let mut session_config = SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_SCHEMA)
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(true)
        .with_target_partitions(config.threads);
    let options = session_config.options_mut();
    options.sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
    // Parquet text columns are read as string views: a dictionary-encoded
    // page then becomes 16-byte views into its dictionary instead of a copy of
    // every string (a third of the time of scoring a Parquet file). Clients
    // see `text` either way; managed tables keep their declared types.
    options.execution.parquet.schema_force_view_types = true;
    options.sql_parser.map_string_types_to_utf8view = false;

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
        .build();
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
    let services = quarry_udfs::Services {
        models: registry.clone(),
    };
    quarry_udfs::register_all(
        &ctx,
        &services,
        &crate::registry::functions::textual_relations(),
    )
    .map_err(|e| crate::error::classify(&e))?;
    crate::registry::functions::register(&ctx, registry);
    use crate::registry::system_tables::{Kind, MODELS, SNAPSHOTS, SystemTable, VERSIONS};
    catalog.register_system_table(
        MODELS,
        Arc::new(SystemTable::new(Kind::Models, registry.clone())),
    )?;
    catalog.register_system_table(
        VERSIONS,
        Arc::new(SystemTable::new(Kind::Versions, registry.clone())),
    )?;
    catalog.register_system_table(
        SNAPSHOTS,
        Arc::new(SystemTable::new(Kind::Snapshots, registry.clone())),
    )?;
    Ok(ctx.state())
}

/// PostgreSQL run-time parameters a session can read with `SHOW` and change
/// with `SET`. `report` marks those sent to the client as ParameterStatus.
struct Param {
    name: &'static str,
    default: &'static str,
    settable: bool,
    report: bool,
}

const PARAMS: &[Param] = &[
    Param {
        name: "application_name",
        default: "",
        settable: true,
        report: true,
    },
    Param {
        name: "bytea_output",
        default: "hex",
        settable: true,
        report: false,
    },
    Param {
        name: "client_encoding",
        default: "UTF8",
        settable: true,
        report: true,
    },
    Param {
        name: "client_min_messages",
        default: "notice",
        settable: true,
        report: false,
    },
    Param {
        name: "DateStyle",
        default: "ISO, MDY",
        settable: true,
        report: true,
    },
    Param {
        name: "default_transaction_isolation",
        default: "read committed",
        settable: true,
        report: false,
    },
    Param {
        name: "default_transaction_read_only",
        default: "off",
        settable: true,
        report: true,
    },
    Param {
        name: "extra_float_digits",
        default: "1",
        settable: true,
        report: false,
    },
    Param {
        name: "idle_in_transaction_session_timeout",
        default: "0",
        settable: true,
        report: false,
    },
    Param {
        name: "in_hot_standby",
        default: "off",
        settable: false,
        report: true,
    },
    Param {
        name: "integer_datetimes",
        default: "on",
        settable: false,
        report: true,
    },
    Param {
        name: "IntervalStyle",
        default: "postgres",
        settable: true,
        report: true,
    },
    Param {
        name: "is_superuser",
        default: "on",
        settable: false,
        report: true,
    },
    Param {
        name: "jit",
        default: "off",
        settable: true,
        report: false,
    },
    Param {
        name: "lock_timeout",
        default: "0",
        settable: true,
        report: false,
    },
    Param {
        name: "max_identifier_length",
        default: "63",
        settable: false,
        report: false,
    },
    Param {
        name: "row_security",
        default: "on",
        settable: true,
        report: false,
    },
    Param {
        name: "search_path",
        default: "\"$user\", public",
        settable: true,
        report: true,
    },
    Param {
        name: "server_encoding",
        default: "UTF8",
        settable: false,
        report: true,
    },
    Param {
        name: "server_version",
        default: compat::SERVER_VERSION,
        settable: false,
        report: true,
    },
    Param {
        name: "server_version_num",
        default: compat::SERVER_VERSION_NUM,
        settable: false,
        report: false,
    },
    Param {
        name: "session_authorization",
        default: "",
        settable: false,
        report: true,
    },
    Param {
        name: "standard_conforming_strings",
        default: "on",
        settable: true,
        report: true,
    },
    Param {
        name: "statement_timeout",
        default: "0",
        settable: true,
        report: false,
    },
    Param {
        name: "synchronous_commit",
        default: "on",
        settable: true,
        report: false,
    },
    Param {
        name: "TimeZone",
        default: "UTC",
        settable: true,
        report: true,
    },
    Param {
        name: "transaction_isolation",
        default: "read committed",
        settable: true,
        report: false,
    },
    Param {
        name: "transaction_read_only",
        default: "off",
        settable: true,
        report: false,
    },
    Param {
        name: "work_mem",
        default: "4MB",
        settable: true,
        report: false,
    },
];

fn find_param(name: &str) -> Option<&'static Param> {
    let name = match name.to_ascii_lowercase().as_str() {
        "timezone" | "time zone" => "timezone".to_string(),
        other => other.to_string(),
    };
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(&name))
}

/// The state of the current transaction block (statements auto-commit; a block
/// is accepted for client compatibility).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TxBlock {
    #[default]
    None,
    Open {
        /// Writes committed inside the block (they cannot be rolled back).
        writes: u32,
    },
}

/// A planning state kept between statements, so the hot path does not clone
/// DataFusion's `SessionState` (hundreds of function-map entries) per statement.
struct Cached {
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

/// One connection's state.
pub struct Session {
    pub ctx: SessionContext,
    pub user: String,
    cache: Mutex<Option<Cached>>,
    generation: AtomicU64,
    vars: Mutex<BTreeMap<String, String>>,
    statement_timeout: Mutex<Option<Duration>>,
    current_query: Mutex<Option<CancellationToken>>,
    shutdown: CancellationToken,
    pub tx: Mutex<TxBlock>,
    /// Statements prepared in this session, by text (see `server::reuse`).
    pub statements: crate::server::reuse::StatementCache,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("user", &self.user).finish()
    }
}

/// Locks `m`, also after a panic elsewhere poisoned it: the guarded state is
/// plain data that stays consistent, and one failed query must not stop others.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How a query ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    Cancel,
    Timeout,
    Shutdown,
}

impl Interrupt {
    pub fn error(self) -> SqlStateError {
        match self {
            Interrupt::Cancel => SqlStateError::new(
                sqlstate::QUERY_CANCELED,
                "canceling statement due to user request",
            ),
            Interrupt::Timeout => SqlStateError::new(
                sqlstate::QUERY_CANCELED,
                "canceling statement due to statement timeout",
            ),
            Interrupt::Shutdown => SqlStateError::new(
                sqlstate::ADMIN_SHUTDOWN,
                "terminating statement: the server is shutting down",
            ),
        }
    }
}

/// Cancellation and deadline of one running statement.
#[derive(Clone, Debug)]
pub struct QueryControl {
    pub token: CancellationToken,
    pub deadline: Option<tokio::time::Instant>,
    shutdown: CancellationToken,
}

impl QueryControl {
    /// Why the statement must stop, if it must.
    pub fn interrupted(&self) -> Option<Interrupt> {
        if self.shutdown.is_cancelled() {
            Some(Interrupt::Shutdown)
        } else if self.token.is_cancelled() {
            Some(Interrupt::Cancel)
        } else if self
            .deadline
            .is_some_and(|d| tokio::time::Instant::now() >= d)
        {
            Some(Interrupt::Timeout)
        } else {
            None
        }
    }

    /// Resolves when the statement must stop.
    pub async fn wait(&self) -> Interrupt {
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => Interrupt::Shutdown,
            _ = self.token.cancelled() => Interrupt::Cancel,
            _ = deadline => Interrupt::Timeout,
        }
    }

    /// Runs `fut` unless the statement is cancelled or times out first.
    pub async fn run<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            biased;
            why = self.wait() => Err(why.error()),
            out = fut => out,
        }
    }
}

impl Session {
    pub fn new(base: &SessionState, user: &str, shutdown: CancellationToken) -> Arc<Self> {
        let mut state = base.clone();
        let mut info = quarry_udfs::session_info::SessionInfo::default();
        info.user = user.to_string();
        state.config_mut().options_mut().extensions.insert(info);
        let ctx = SessionContext::new_with_state(state);
        compat::register_session(&ctx, user);
        let mut vars = BTreeMap::new();
        for p in PARAMS {
            vars.insert(p.name.to_ascii_lowercase(), p.default.to_string());
        }
        vars.insert("session_authorization".into(), user.to_string());
        Arc::new(Session {
            ctx,
            user: user.to_string(),
            cache: Mutex::new(None),
            generation: AtomicU64::new(0),
            vars: Mutex::new(vars),
            statement_timeout: Mutex::new(None),
            current_query: Mutex::new(None),
            shutdown,
            tx: Mutex::new(TxBlock::None),
            statements: Default::default(),
        })
    }

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

    /// Changes whenever the session's configuration does.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Forgets the cached planning state after the session's configuration changed.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        lock(&self.cache).take();
    }

    /// The schema unqualified names resolve to.
    pub fn default_schema(&self) -> String {
        self.ctx
            .state_ref()
            .read()
            .config_options()
            .catalog
            .default_schema
            .clone()
    }

    /// Starts a statement: a fresh cancel token and the session's deadline.
    /// (Not the session's token reused: a cancel would then also stop a
    /// portal of an earlier statement that is still being fetched.)
    pub fn start_query(&self) -> QueryControl {
        // A token of its own rather than a child of the server's shutdown
        // token (which `wait` watches beside it): a child token is linked
        // into its parent under the parent's lock, one lock every session
        // would take twice per statement.
        let token = CancellationToken::new();
        *lock(&self.current_query) = Some(token.clone());
        let deadline = lock(&self.statement_timeout).map(|d| tokio::time::Instant::now() + d);
        QueryControl {
            token,
            deadline,
            shutdown: self.shutdown.clone(),
        }
    }

    /// A cancel request from another connection.
    pub fn cancel(&self) {
        if let Some(token) = lock(&self.current_query).as_ref() {
            token.cancel();
        }
    }

    pub fn var(&self, name: &str) -> Option<String> {
        let key = find_param(name).map_or_else(
            || name.to_ascii_lowercase(),
            |p| p.name.to_ascii_lowercase(),
        );
        lock(&self.vars).get(&key).cloned()
    }

    /// `SHOW ALL`: (name, value) pairs.
    pub fn all_vars(&self) -> Vec<(String, String)> {
        let vars = lock(&self.vars);
        let mut out: Vec<(String, String)> = PARAMS
            .iter()
            .map(|p| {
                let v = vars
                    .get(&p.name.to_ascii_lowercase())
                    .cloned()
                    .unwrap_or_default();
                (p.name.to_string(), v)
            })
            .collect();
        for (k, v) in vars.iter() {
            if k.contains('.') {
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }

    /// `SHOW name`: the displayed name and the value.
    pub fn show(&self, name: &str) -> Result<(String, String)> {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("datafusion.") {
            let state = self.ctx.state();
            let entry = state
                .config_options()
                .entries()
                .into_iter()
                .find(|e| e.key == lower)
                .ok_or_else(|| unknown_param(name))?;
            return Ok((lower, entry.value.unwrap_or_else(|| "NULL".into())));
        }
        if let Some(p) = find_param(&lower) {
            let value = lock(&self.vars)
                .get(&p.name.to_ascii_lowercase())
                .cloned()
                .unwrap_or_default();
            return Ok((p.name.to_ascii_lowercase(), value));
        }
        if lower.contains('.')
            && let Some(v) = lock(&self.vars).get(&lower)
        {
            return Ok((lower, v.clone()));
        }
        Err(unknown_param(name))
    }

    /// `SET name = value` (value already unquoted; `None` means DEFAULT).
    /// Returns the ParameterStatus to send, if the parameter is reported.
    pub fn set(&self, name: &str, value: Option<&str>) -> Result<Option<(String, String)>> {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("datafusion.") {
            return self.set_datafusion(&lower, value);
        }
        let Some(param) = find_param(&lower) else {
            if lower.contains('.') {
                // Custom placeholder variables (myapp.setting), as PostgreSQL allows.
                lock(&self.vars).insert(lower, value.unwrap_or("").to_string());
                return Ok(None);
            }
            return Err(unknown_param(name));
        };
        if !param.settable {
            return Err(SqlStateError::new(
                sqlstate::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{}\" cannot be changed", param.name),
            ));
        }
        let value = value.unwrap_or(param.default).to_string();
        let value = self.apply(param, value)?;
        lock(&self.vars).insert(param.name.to_ascii_lowercase(), value.clone());
        Ok(param.report.then(|| (param.name.to_string(), value)))
    }

    /// Validates a value and applies its side effects; returns the value to store.
    fn apply(&self, param: &Param, value: String) -> Result<String> {
        match param.name {
            "search_path" => {
                let existing = self
                    .ctx
                    .catalog(CATALOG_NAME)
                    .map(|c| c.schema_names())
                    .unwrap_or_default();
                let schema = first_schema(&value, &self.user, |s| existing.iter().any(|e| e == s))
                    .unwrap_or_else(|| DEFAULT_SCHEMA.to_string());
                let mut state = self.ctx.state_ref().write().clone();
                state.config_mut().options_mut().catalog.default_schema = schema;
                *self.ctx.state_ref().write() = state;
                self.changed();
                Ok(value)
            }
            "TimeZone" => {
                let tz = if value.eq_ignore_ascii_case("local")
                    || value.eq_ignore_ascii_case("default")
                {
                    "UTC".to_string()
                } else {
                    value
                };
                if !compat::valid_time_zone(&tz) {
                    return Err(SqlStateError::bad_argument(format!(
                        "invalid value for parameter \"TimeZone\": \"{tz}\""
                    ))
                    .with_hint("use an IANA name such as 'Europe/Paris', 'UTC', or an offset such as '+02:00'"));
                }
                let df_tz = if tz.eq_ignore_ascii_case("utc") {
                    "+00:00".to_string()
                } else {
                    tz.clone()
                };
                let mut state = self.ctx.state_ref().write().clone();
                state.config_mut().options_mut().execution.time_zone = Some(df_tz);
                *self.ctx.state_ref().write() = state;
                self.changed();
                Ok(tz)
            }
            "client_encoding" => {
                let norm = value.to_ascii_uppercase().replace(['-', '_'], "");
                if norm == "UTF8" || norm == "UNICODE" {
                    Ok("UTF8".into())
                } else {
                    Err(SqlStateError::unsupported(format!(
                        "client_encoding {value:?} is not supported; Quarry speaks UTF8 only"
                    )))
                }
            }
            "standard_conforming_strings" => match value.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => Ok("on".into()),
                _ => Err(SqlStateError::unsupported(
                    "standard_conforming_strings must stay on",
                )),
            },
            "statement_timeout" => {
                let timeout = parse_duration_ms(&value).ok_or_else(|| {
                    SqlStateError::bad_argument(format!(
                        "invalid value for parameter \"statement_timeout\": \"{value}\""
                    ))
                    .with_hint("give milliseconds (5000) or a unit ('5s', '2min')")
                })?;
                *lock(&self.statement_timeout) =
                    (timeout > 0).then(|| Duration::from_millis(timeout));
                Ok(if timeout == 0 {
                    "0".into()
                } else {
                    format_ms(timeout)
                })
            }
            "transaction_isolation" | "default_transaction_isolation" => {
                let v = value.to_ascii_lowercase();
                match v.as_str() {
                    "read committed" | "read uncommitted" | "repeatable read" | "serializable" => {
                        Ok(v)
                    }
                    _ => Err(SqlStateError::bad_argument(format!(
                        "invalid value for parameter \"{}\": \"{value}\"",
                        param.name
                    ))),
                }
            }
            "extra_float_digits" => {
                let n: i32 = value.trim().parse().map_err(|_| {
                    SqlStateError::bad_argument(format!(
                        "invalid value for parameter \"extra_float_digits\": \"{value}\""
                    ))
                })?;
                if !(-15..=3).contains(&n) {
                    return Err(SqlStateError::bad_argument(format!(
                        "{n} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"
                    )));
                }
                Ok(n.to_string())
            }
            _ => Ok(value),
        }
    }

    fn set_datafusion(&self, key: &str, value: Option<&str>) -> Result<Option<(String, String)>> {
        if key.starts_with("datafusion.runtime.") {
            return Err(SqlStateError::new(
                sqlstate::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{key}\" is server-wide; set it with the --memory-limit flag"),
            ));
        }
        let mut state = self.ctx.state_ref().write().clone();
        let result: DfResult<()> = match value {
            Some(v) => state.config_mut().options_mut().set(key, v),
            None => {
                let defaults = datafusion::config::ConfigOptions::new();
                match defaults.entries().into_iter().find(|e| e.key == key) {
                    Some(e) => state
                        .config_mut()
                        .options_mut()
                        .set(key, e.value.as_deref().unwrap_or("")),
                    None => Err(datafusion::error::DataFusionError::Configuration(format!(
                        "unknown parameter {key}"
                    ))),
                }
            }
        };
        result.map_err(|e| {
            let mut err = crate::error::classify(&e);
            if err.message.contains("not found") || err.message.contains("unknown") {
                err = unknown_param(key);
            }
            err
        })?;
        *self.ctx.state_ref().write() = state;
        self.changed();
        Ok(None)
    }

    /// `DISCARD ALL` / `RESET ALL`: back to the defaults.
    pub fn reset_all(&self) -> Result<()> {
        for p in PARAMS.iter().filter(|p| p.settable) {
            self.set(p.name, None)?;
        }
        lock(&self.vars).retain(|k, _| !k.contains('.'));
        self.changed();
        Ok(())
    }
}

fn unknown_param(name: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::UNDEFINED_PARAMETER,
        format!("unrecognized configuration parameter \"{name}\""),
    )
    .with_hint("SHOW ALL lists the parameters")
}

/// The first existing schema named in a search_path value (`"$user"` is the
/// session's user name; missing schemas are skipped, as in PostgreSQL).
fn first_schema(path: &str, user: &str, exists: impl Fn(&str) -> bool) -> Option<String> {
    path.split(',')
        .map(|s| s.trim().trim_matches('"').trim_matches('\'').to_string())
        .filter(|s| !s.is_empty())
        .map(|s| if s == "$user" { user.to_string() } else { s })
        .find(|s| s != "pg_catalog" && exists(s))
}

/// Parses PostgreSQL time values: `5000`, `'5s'`, `'100ms'`, `'2min'`, `'1h'`.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let t = text.trim().trim_matches('\'').trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().ok()?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000.0,
        "min" | "mins" | "minute" | "minutes" => 60_000.0,
        "h" | "hour" | "hours" => 3_600_000.0,
        "d" | "day" | "days" => 86_400_000.0,
        _ => return None,
    };
    let ms = num * scale;
    (ms.is_finite() && ms >= 0.0).then_some(ms.round() as u64)
}

fn format_ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A backend key: process id and secret, as sent in BackendKeyData.
type BackendKey = (i32, Vec<u8>);

/// Sessions by backend key, for cancel requests from other connections.
#[derive(Default)]
pub struct SessionRegistry {
    sessions: Mutex<std::collections::HashMap<BackendKey, std::sync::Weak<Session>>>,
}

impl SessionRegistry {
    pub fn insert(&self, pid: i32, key: Vec<u8>, session: &Arc<Session>) {
        let mut map = lock(&self.sessions);
        map.retain(|_, s| s.strong_count() > 0);
        map.insert((pid, key), Arc::downgrade(session));
    }

    pub fn cancel(&self, pid: i32, key: &[u8]) -> bool {
        let session = lock(&self.sessions)
            .get(&(pid, key.to_vec()))
            .and_then(|w| w.upgrade());
        match session {
            Some(s) => {
                s.cancel();
                true
            }
            None => false,
        }
    }

    pub fn active(&self) -> usize {
        lock(&self.sessions)
            .values()
            .filter(|s| s.strong_count() > 0)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_postgres_durations() {
        assert_eq!(parse_duration_ms("5000"), Some(5000));
        assert_eq!(parse_duration_ms("'5s'"), Some(5000));
        assert_eq!(parse_duration_ms("100ms"), Some(100));
        assert_eq!(parse_duration_ms("2min"), Some(120_000));
        assert_eq!(parse_duration_ms("soon"), None);
    }

    #[test]
    fn search_path_picks_first_real_schema() {
        let exists = |s: &str| s == "public" || s == "analytics";
        assert_eq!(
            first_schema("\"$user\", public", "quarry", exists).as_deref(),
            Some("public")
        );
        assert_eq!(
            first_schema("analytics, public", "quarry", exists).as_deref(),
            Some("analytics")
        );
        assert_eq!(
            first_schema("nope, public", "quarry", exists).as_deref(),
            Some("public")
        );
    }
}
