//! Sessions: one DataFusion `SessionContext` per connection over shared catalogs.
//!
//! The base [`SessionState`] (functions, catalogs, runtime and its memory pool)
//! is built once; each connection clones it, so `SET` changes only that
//! connection's configuration while tables and memory accounting are shared.
//!
//! A session holds no wire-protocol state: the PostgreSQL front end keeps its
//! own per connection (prepared statements and their cache, portals, how
//! values are written), so another front end (the HTTP API) can run
//! statements in a session too. `session` depends on nothing in `server`.
//!
//! - [`context`]: the base state, a session's context, the state one
//!   statement plans with;
//! - [`settings`]: the parameters of `SET` and `SHOW`;
//! - [`control`]: cancelling and timing out statements;
//! - [`admin`]: `pg_stat_activity`, `pg_cancel_backend`, `pg_terminate_backend`;
//! - [`checked`]: integer arithmetic that raises on overflow;
//! - [`unknown`]: quoted literals read as the type they are compared with;
//! - `aggregate_filters`: filters kept above aggregates that answer a row
//!   for no input.

pub mod admin;
mod aggregate_filters;
pub mod checked;
pub mod context;
pub mod control;
pub mod cursors;
mod exprs;
pub mod intervals;
mod relation_oids;
pub mod scoring_keys;
pub mod settings;
mod table_function_scans;
pub mod unknown;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::execution::context::SessionState;
use datafusion::prelude::SessionContext;
use tokio_util::sync::CancellationToken;

pub use context::{PlanState, RoleProvider, base_state};
pub use control::{Activity, Interrupt, QueryControl, SessionRegistry, Stop};
pub use settings::parse_duration_ms;

use crate::sync::lock;
use context::Cached;

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

/// One connection's session: its DataFusion context, settings and
/// transaction block.
pub struct Session {
    pub ctx: SessionContext,
    pub user: String,
    cache: Mutex<Option<Cached>>,
    generation: AtomicU64,
    vars: Mutex<BTreeMap<String, String>>,
    statement_timeout: Mutex<Option<Duration>>,
    /// The running statement's token and stop, for whoever stops it.
    current_query: Mutex<Option<(CancellationToken, Arc<Stop>)>>,
    /// The compute pool and the running statement as functions see them.
    control: quarry_udfs::control::Control,
    shutdown: CancellationToken,
    /// Cancelled to close the connection (`pg_terminate_backend`).
    close: CancellationToken,
    activity: Arc<Mutex<Activity>>,
    /// The client's address, for `pg_stat_activity`.
    pub peer: Option<std::net::SocketAddr>,
    /// The open transaction block's staged writes (`catalog::staging`).
    pub block: Arc<crate::catalog::staging::Block>,
    /// Its temporary tables and views (`catalog::local`).
    pub local: Arc<crate::catalog::local::LocalRelations>,
    /// What `local` held at `BEGIN` (no name) and at each `SAVEPOINT`
    /// since, oldest first: a rollback puts it back.
    local_points: Mutex<Vec<(Option<String>, crate::catalog::local::LocalPoint)>>,
    /// Its open cursors (`DECLARE`).
    pub cursors: Arc<cursors::Cursors>,
    /// The server's access rules (`access`).
    pub access: Arc<crate::access::Access>,
    /// The role `SET ROLE` or `SET SESSION AUTHORIZATION` made current
    /// (`None`: the user who logged in).
    role: Mutex<Option<String>>,
    pub tx: Mutex<TxBlock>,
    /// SQL-level `PREPARE` statements by name, planned again at each
    /// `EXECUTE` as PostgreSQL revalidates its plan cache: a relation
    /// dropped, rolled back or replaced since is not read as it was.
    prepared: Mutex<BTreeMap<String, Arc<datafusion::sql::parser::Statement>>>,
    /// Its `pg_class` OIDs, for row descriptions (`server::origins`).
    relation_oids: Mutex<relation_oids::RelationOids>,
    /// Where its statements are audited, once the connection is open.
    audit: std::sync::OnceLock<AuditHook>,
}

/// The audit log a session's statements go to, and its `pg_backend_pid`.
#[derive(Debug)]
pub struct AuditHook {
    pub log: Arc<crate::audit::AuditLog>,
    pub pid: i32,
    /// The client's address as recorded, formatted once per session.
    pub client: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("user", &self.user).finish()
    }
}

impl Session {
    /// A session of `user` connected from `peer`; `close` is cancelled to
    /// close its connection.
    pub fn new(
        base: &SessionState,
        user: &str,
        shutdown: CancellationToken,
        peer: Option<std::net::SocketAddr>,
        close: CancellationToken,
        access: Arc<crate::access::Access>,
    ) -> Arc<Self> {
        let local = Arc::new(crate::catalog::local::LocalRelations::default());
        let block = Arc::new(crate::catalog::staging::Block::of_user(user));
        let ctx = context::session_context(base, user, local.clone(), block.clone());
        let control = quarry_udfs::control::Control::of(ctx.state_ref().read().config_options());
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .extensions
            .insert(crate::catalog::staging::BlockExtension(block.clone()));
        let cursors = Arc::new(cursors::Cursors::default());
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .extensions
            .insert(cursors::CursorsExtension(cursors.clone()));
        let vars = settings::defaults(user);
        let now = std::time::SystemTime::now();
        Arc::new_cyclic(|me: &std::sync::Weak<Session>| {
            let reader = me.clone();
            ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
                crate::compat::current_setting::CurrentSetting::new(Arc::new(move |name| {
                    reader
                        .upgrade()
                        .and_then(|s| s.show(name).ok())
                        .map(|(_, v)| v)
                })),
            ));
            let writer = me.clone();
            ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
                crate::compat::set_config::SetConfig::new(Arc::new(move |name, value| {
                    let session = writer.upgrade().ok_or_else(|| {
                        crate::error::SqlStateError::internal("the session has ended")
                    })?;
                    session.set(name, Some(value))?;
                    Ok(session.show(name).map(|(_, v)| v).unwrap_or_default())
                })),
            ));
            Session {
                ctx,
                user: user.to_string(),
                cache: Mutex::new(None),
                generation: AtomicU64::new(0),
                vars: Mutex::new(vars),
                statement_timeout: Mutex::new(None),
                current_query: Mutex::new(None),
                control,
                shutdown,
                close,
                activity: Arc::new(Mutex::new(Activity {
                    backend_start: now,
                    query: Arc::from(""),
                    query_start: None,
                    state_change: now,
                    active: false,
                })),
                peer,
                block,
                local,
                local_points: Mutex::default(),
                cursors,
                access,
                role: Mutex::new(None),
                tx: Mutex::new(TxBlock::None),
                prepared: Mutex::new(BTreeMap::new()),
                relation_oids: Mutex::default(),
                audit: std::sync::OnceLock::new(),
            }
        })
    }

    /// Marks a write inside an open transaction block: a `ROLLBACK` warns
    /// that it cannot undo it.
    pub fn wrote(&self) {
        if let TxBlock::Open { writes } = &mut *lock(&self.tx) {
            *writes += 1;
        }
    }

    /// `BEGIN` (`savepoint` `None`) or `SAVEPOINT name`: keeps what the
    /// temporary relations hold now.
    pub async fn keep_local_point(&self, savepoint: Option<&str>) {
        let point = self.local.point().await;
        let mut points = lock(&self.local_points);
        if savepoint.is_none() {
            points.clear();
        }
        points.push((savepoint.map(str::to_string), point));
    }

    /// `ROLLBACK` (`to` `None`) or `ROLLBACK TO SAVEPOINT to`: the
    /// temporary relations hold again what they held then. The savepoint
    /// stays; later ones go; a `ROLLBACK` forgets them all.
    pub async fn roll_back_local(&self, to: Option<&str>) {
        let point = {
            let mut points = lock(&self.local_points);
            match to {
                None => std::mem::take(&mut *points).into_iter().next(),
                Some(name) => match points.iter().rposition(|(n, _)| n.as_deref() == Some(name)) {
                    Some(at) => {
                        points.truncate(at + 1);
                        points.pop()
                    }
                    None => None,
                },
            }
        };
        if let Some((name, point)) = point {
            self.local.restore(&point).await;
            if name.is_some() {
                lock(&self.local_points).push((name, point));
            }
            self.relations_changed();
        }
    }

    /// `RELEASE SAVEPOINT name` (it and later ones are forgotten), or the
    /// block committed (`None`: all are).
    pub fn release_local(&self, name: Option<&str>) {
        let mut points = lock(&self.local_points);
        match name {
            None => points.clear(),
            Some(name) => {
                if let Some(at) = points.iter().rposition(|(n, _)| n.as_deref() == Some(name)) {
                    points.truncate(at);
                }
            }
        }
    }

    /// The checks of its statements, for its current user.
    pub fn checks(&self) -> crate::access::Checks<'_> {
        crate::access::Checks {
            access: &self.access,
            user: self.current_user(),
        }
    }

    /// Audits its statements from now on.
    pub fn audit_to(&self, log: Arc<crate::audit::AuditLog>, pid: i32) {
        let client = self.peer.map(|p| p.to_string());
        let _ = self.audit.set(AuditHook { log, pid, client });
    }

    /// The role `SET ROLE` made current, if any.
    pub fn role_if_set(&self) -> Option<String> {
        lock(&self.role).clone()
    }

    /// The user its statements run as: the one who logged in, or the role
    /// `SET ROLE` made current.
    pub fn current_user(&self) -> String {
        lock(&self.role)
            .clone()
            .unwrap_or_else(|| self.user.clone())
    }

    /// `SET ROLE name` (`Some`) or `RESET ROLE` (`None`): PostgreSQL's
    /// rule, the logged-in user must be a superuser or a member of the
    /// role. `42704` for a role that does not exist, `42501` for one the
    /// user may not become.
    pub fn set_role(&self, role: Option<&str>, authorization: bool) -> crate::error::Result<()> {
        use crate::error::{SqlStateError, sqlstate};
        let acl = self.access.acl()?;
        if let Some(role) = role {
            if acl.role(role).is_none() {
                return Err(SqlStateError::new(
                    sqlstate::UNDEFINED_OBJECT,
                    format!("role \"{role}\" does not exist"),
                ));
            }
            let may =
                acl.is_superuser(&self.user) || (!authorization && acl.is_member(&self.user, role));
            if !may {
                return Err(SqlStateError::new(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    format!(
                        "permission denied to set {} \"{role}\"",
                        if authorization {
                            "session authorization"
                        } else {
                            "role"
                        }
                    ),
                ));
            }
        }
        *lock(&self.role) = role.map(str::to_string);
        let current = self.current_user();
        self.block.set_user(&current);
        {
            let state = self.ctx.state_ref();
            let mut state = state.write();
            let options = state.config_mut().options_mut();
            let mut info = options
                .extensions
                .get::<quarry_udfs::session_info::SessionInfo>()
                .cloned()
                .unwrap_or_default();
            info.user = current.clone();
            options.extensions.insert(info);
        }
        crate::compat::register_current_user(&self.ctx, &current);
        self.changed();
        Ok(())
    }

    /// Changes whenever the session's configuration does.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// `PREPARE name`: keeps the statement; statements that EXECUTE it are
    /// planned again.
    pub fn prepared(&self, name: &str, statement: Arc<datafusion::sql::parser::Statement>) {
        lock(&self.prepared).insert(name.to_string(), statement);
        self.changed();
    }

    /// `DEALLOCATE name` (or every name).
    pub fn deallocated(&self, name: Option<&str>) {
        match name {
            Some(n) => {
                lock(&self.prepared).remove(n);
            }
            None => lock(&self.prepared).clear(),
        }
        self.changed();
    }

    /// The statement `PREPARE name` kept.
    pub fn prepared_statement(
        &self,
        name: &str,
    ) -> Option<Arc<datafusion::sql::parser::Statement>> {
        lock(&self.prepared).get(name).cloned()
    }

    /// Its temporary relations changed: plans made before resolved names
    /// (and hold relations) that may now be others.
    pub fn relations_changed(&self) {
        self.changed();
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
}
