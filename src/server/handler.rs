//! The query front end: parses statements, runs the ones DataFusion does not
//! (SET/SHOW, transactions, COPY, DDL against the persistent catalog) and
//! streams everything else from DataFusion, for the simple and the extended
//! protocol alike.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};

use crate::dialect::QuarryDialect;
use async_trait::async_trait;
use datafusion::arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ParamValues, TableReference};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    AlterTableOperation, CopySource, CopyTarget, Expr as SqlExpr, ObjectName, ObjectType,
    RenameTableNameKind, Set, Statement, Value,
};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::{Sink, SinkExt, StreamExt, stream};
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::PortalExecutionState;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler, send_execution_response};
use pgwire::api::results::{CopyResponse, FieldInfo, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::Entry;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::extendedquery::{Bind, Close, Describe, Execute, Parse};
use pgwire::messages::response::{EmptyQueryResponse, NoticeResponse, TransactionStatus};
use pgwire::messages::startup::ParameterStatus;
use pgwire::types::format::FormatOptions;
use tracing::debug;

use super::ServerState;
use super::copy::{CopyIn, CopySpec};
use super::replies;
use super::reuse::{self, Reuse, Validity};
use super::stream::{FieldsCache, query_response, text_rows};
use crate::catalog::{CATALOG_NAME, RelName};
use crate::error::{
    IntoSqlError, Result, SqlStateError, classify, error_info, from_pgwire, sqlstate, to_pgwire,
};
use crate::session::{QueryControl, Session, TxBlock, lock};
use crate::statements::ModelStatement;

/// A parsed statement, with its plan when DataFusion plans it. Stored by the
/// extended protocol between Parse and Execute.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub stmt: Arc<Stmt>,
    pub plan: Option<LogicalPlan>,
    /// What is kept of the plan between executions, when it may be.
    pub reuse: Option<Arc<Reuse>>,
    /// What every execution would otherwise work out again.
    pub derived: Arc<Derived>,
    /// When `plan` was made: see [`Names`].
    planned: Names,
}

/// What names meant when a plan was made: the session's settings generation
/// (`search_path`) and the catalog's count of creates, drops and renames. A
/// logical plan holds the relations it read; after either changes it is made
/// again, as PostgreSQL re-plans a prepared statement after DDL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Names {
    session: u64,
    definitions: u64,
}

impl Names {
    fn now(session: &Session, catalog: &crate::catalog::Catalog) -> Names {
        Names {
            session: session.generation(),
            definitions: catalog.definitions(),
        }
    }
}

impl Prepared {
    fn new(
        stmt: Stmt,
        plan: Option<LogicalPlan>,
        reuse: Option<Arc<Reuse>>,
        planned: Names,
    ) -> Self {
        Prepared {
            stmt: Arc::new(stmt),
            plan,
            reuse,
            derived: Arc::default(),
            planned,
        }
    }
}

/// A statement's plan as it stands: the one made at Parse, or the one made
/// again after names changed, shared by the executions that follow.
enum CurrentPlan<'p> {
    Made(&'p LogicalPlan),
    Remade(Arc<LogicalPlan>),
}

impl CurrentPlan<'_> {
    fn get(&self) -> &LogicalPlan {
        match self {
            CurrentPlan::Made(plan) => plan,
            CurrentPlan::Remade(plan) => plan,
        }
    }

    fn cloned(&self) -> LogicalPlan {
        self.get().clone()
    }
}

/// What is worked out from a prepared statement once, for all its executions.
#[derive(Debug, Default)]
pub struct Derived {
    /// The inferred type of each parameter, in `$1, $2, ...` order.
    params: OnceLock<Vec<(usize, Option<DataType>)>>,
    /// How its bound values are decoded.
    decoding: std::sync::Mutex<Option<Arc<super::params::Decoding>>>,
    /// Its row descriptions.
    pub fields: FieldsCache,
    /// Its plan made again after names changed (see [`Names`]).
    replanned: std::sync::Mutex<Option<(Names, Arc<LogicalPlan>)>>,
}

impl Derived {
    /// The parameter types of `plan`, the statement's plan.
    pub fn params(
        &self,
        plan: &LogicalPlan,
    ) -> datafusion::error::Result<&[(usize, Option<DataType>)]> {
        if let Some(known) = self.params.get() {
            return Ok(known);
        }
        let inferred = super::params::inferred(plan)?;
        Ok(self.params.get_or_init(|| inferred))
    }

    /// How to decode the values bound to `plan`, the statement's plan, by a
    /// client that declared `declared` at Parse.
    pub fn decoding(
        &self,
        plan: &LogicalPlan,
        declared: &[Option<Type>],
    ) -> datafusion::error::Result<Arc<super::params::Decoding>> {
        if let Some(known) = lock(&self.decoding).as_ref()
            && known.fits(declared)
        {
            return Ok(known.clone());
        }
        let decoding = Arc::new(super::params::Decoding::new(self.params(plan)?, declared));
        *lock(&self.decoding) = Some(decoding.clone());
        Ok(decoding)
    }
}

/// A parsed statement: DataFusion's, or one of Quarry's model statements.
#[derive(Clone, Debug)]
pub enum Stmt {
    Df(DfStatement),
    Model(ModelStatement),
}

/// The in-progress COPY of a connection.
#[derive(Default)]
struct CopySlot(std::sync::Mutex<Option<CopyIn>>);

/// Simple, extended and COPY handling for every connection.
pub struct QueryHandler {
    pub(crate) state: Arc<ServerState>,
    pub(crate) parser: Arc<Parser>,
}

impl QueryHandler {
    pub fn new(state: Arc<ServerState>) -> Self {
        QueryHandler {
            parser: Arc::new(Parser {
                compat: PostgresCompatibilityParser::new(),
                state: state.clone(),
            }),
            state,
        }
    }
}

/// Parses SQL: PostgreSQL syntax first (with the rewrites that catalog queries
/// of psql, JDBC and BI tools need), then DataFusion's own extensions such as
/// `CREATE EXTERNAL TABLE` and `COPY ... TO ... STORED AS`.
pub struct Parser {
    compat: PostgresCompatibilityParser,
    state: Arc<ServerState>,
}

impl Parser {
    /// Parses Quarry's model statements, then everything else.
    pub fn parse_all(&self, sql: &str) -> Result<Vec<Stmt>> {
        if let Some(model) = crate::statements::parse(sql)? {
            return Ok(vec![Stmt::Model(model)]);
        }
        Ok(self.parse(sql)?.into_iter().map(Stmt::Df).collect())
    }

    /// One statement, ready to bind: the connection's cached one when the
    /// same text (with the same declared parameter types) was prepared at the
    /// current validity, else parsed and planned (and cached when its plan
    /// may be kept). `None` for an empty statement.
    pub async fn prepare(
        &self,
        connection: &Connection,
        sql: &str,
        types: &[Option<Type>],
    ) -> Result<Option<Prepared>> {
        let validity = Validity::now(&connection.session, self.state.catalog.store());
        if let Some(prepared) = connection.statements.get(sql, types, validity) {
            return Ok(Some(prepared));
        }
        let mut statements = self.parse_all(sql)?;
        if statements.len() > 1 {
            return Err(SqlStateError::new(
                sqlstate::SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        match statements.pop() {
            None => Ok(None),
            Some(stmt) => self
                .prepare_parsed(connection, sql, types, validity, stmt)
                .await
                .map(Some),
        }
    }

    /// Plans a parsed statement, caching it in the connection when its plan
    /// may be kept.
    async fn prepare_parsed(
        &self,
        connection: &Connection,
        sql: &str,
        types: &[Option<Type>],
        validity: Validity,
        stmt: Stmt,
    ) -> Result<Prepared> {
        let session = &connection.session;
        // Taken before planning: a change made meanwhile plans it again.
        let names = Names::now(session, &self.state.catalog);
        let stmt = match stmt {
            Stmt::Model(model) => {
                return Ok(Prepared::new(Stmt::Model(model), None, None, names));
            }
            Stmt::Df(stmt) => stmt,
        };
        let plan = match kind(&stmt) {
            Kind::Command => {
                if let DfStatement::Statement(s) = &stmt
                    && let Statement::Copy {
                        to: false,
                        target: CopyTarget::Stdin,
                        ..
                    } = s.as_ref()
                {
                    copy_in(&self.state, session, s)?;
                }
                None
            }
            Kind::Planned => {
                let planner = session.plan_state();
                Some(
                    planner
                        .statement_to_plan(stmt.clone())
                        .await
                        .map_err(|e| classify(&e))?,
                )
            }
        };
        let reuse = plan.as_ref().and_then(reuse::assess).map(Reuse::new);
        let prepared = Prepared::new(Stmt::Df(stmt), plan, reuse, names);
        if prepared.reuse.is_some() {
            connection
                .statements
                .put(sql, types, validity, prepared.clone());
        }
        Ok(prepared)
    }

    pub fn parse(&self, sql: &str) -> Result<Vec<DfStatement>> {
        // sqlparser reads `CREATE EXTERNAL TABLE ... STORED AS ... LOCATION`
        // as a Hive table that DataFusion's planner refuses; DataFusion's own
        // parser turns it into its CreateExternalTable statement.
        let parsed = self.compat.parse(sql).and_then(|statements| {
            if statements
                .iter()
                .any(|s| matches!(s, Statement::CreateTable(t) if t.external))
            {
                Err(
                    datafusion::sql::sqlparser::parser::ParserError::ParserError(
                        "external table".into(),
                    ),
                )
            } else {
                Ok(statements)
            }
        });
        match parsed {
            Ok(statements) => Ok(statements
                .into_iter()
                .map(|mut s| {
                    super::rewrite::rewrite(&mut s);
                    DfStatement::Statement(Box::new(s))
                })
                .collect()),
            Err(pg_err) => {
                let dialect = QuarryDialect::default();
                let parsed = DFParserBuilder::new(sql)
                    .with_dialect(&dialect)
                    .build()
                    .and_then(|mut p| p.parse_statements());
                match parsed {
                    Ok(statements) => Ok(statements
                        .into_iter()
                        .map(|mut s| {
                            if let DfStatement::Statement(inner) = &mut s {
                                super::rewrite::rewrite(inner);
                            }
                            s
                        })
                        .collect()),
                    Err(_) => Err(SqlStateError::new(
                        sqlstate::SYNTAX_ERROR,
                        format!(
                            "syntax error: {}",
                            pg_err.to_string().trim_start_matches("sql parser error: ")
                        ),
                    )),
                }
            }
        }
    }
}

/// The client a statement's replies go to: pgwire's connection, under the
/// bound pgwire's handler traits give it, named once. Every type that bound
/// admits is a `Client`. The impls of pgwire's own traits state pgwire's
/// bound, as their signatures must, and pass the client on.
///
/// pgwire's bound includes `PgWireError: From<C::Error>`, a bound on
/// `PgWireError` that a trait cannot carry; its counterpart here is
/// `C::Error: Into<PgWireError>`, and [`write_error`] makes the conversion
/// `?` would.
pub trait Client:
    ClientInfo + Sink<PgWireBackendMessage, Error: Debug + Into<PgWireError>> + Unpin + Send + Sync
{
}

impl<C> Client for C where
    C: ClientInfo
        + Sink<PgWireBackendMessage, Error: Debug + Into<PgWireError>>
        + Unpin
        + Send
        + Sync
{
}

/// A failed write to a [`Client`], as pgwire's error.
pub fn write_error<E: Into<PgWireError>>(e: E) -> PgWireError {
    e.into()
}

/// What a connection keeps for its statements, beside pgwire's own state
/// (portals, statements by name): its session, and the statements prepared
/// on it by text. Kept in pgwire's session extensions, so the session itself
/// holds no wire-protocol state.
pub struct Connection {
    pub session: Arc<Session>,
    /// Statements prepared on this connection, by text (see `reuse`).
    pub statements: StatementCache,
}

impl Connection {
    /// Gives an authenticated client its state.
    pub fn open<C: ClientInfo>(client: &C, session: Arc<Session>) {
        client.session_extensions().insert(Connection {
            session,
            statements: StatementCache::default(),
        });
    }

    /// Whether `client` has its state yet.
    pub fn is_open<C: ClientInfo>(client: &C) -> bool {
        client.session_extensions().get::<Connection>().is_some()
    }
}

/// The state of `client`'s connection; an error before authentication.
fn connection<C: ClientInfo>(client: &C) -> PgWireResult<Arc<Connection>> {
    client
        .session_extensions()
        .get::<Connection>()
        .ok_or_else(|| {
            to_pgwire(SqlStateError::new(
                sqlstate::PROTOCOL_VIOLATION,
                "no session: the connection is not authenticated",
            ))
        })
}

/// A connection's parsed statements by text, each valid for one [`Validity`].
#[derive(Default)]
pub struct StatementCache {
    entries: Mutex<HashMap<String, Vec<Cached>>>,
}

struct Cached {
    types: Vec<Option<Type>>,
    validity: Validity,
    prepared: Prepared,
}

/// Statement texts a connection keeps; past this, stale entries go, then all.
const STATEMENTS: usize = 256;

impl StatementCache {
    pub fn get(&self, sql: &str, types: &[Option<Type>], validity: Validity) -> Option<Prepared> {
        lock(&self.entries)
            .get(sql)?
            .iter()
            .find(|c| c.types == types && c.validity == validity)
            .map(|c| c.prepared.clone())
    }

    pub fn put(&self, sql: &str, types: &[Option<Type>], validity: Validity, prepared: Prepared) {
        let mut entries = lock(&self.entries);
        if entries.len() >= STATEMENTS {
            entries.retain(|_, list| {
                list.retain(|c| c.validity == validity);
                !list.is_empty()
            });
            if entries.len() >= STATEMENTS {
                entries.clear();
            }
        }
        let list = entries.entry(sql.to_string()).or_default();
        list.retain(|c| c.types != types);
        list.push(Cached {
            types: types.to_vec(),
            validity,
            prepared,
        });
    }
}

/// How values are written for this connection (DateStyle and friends), kept
/// in the connection's extensions and built again when `SET` changes them.
fn format_options<C: ClientInfo>(client: &C) -> Arc<FormatOptions> {
    client
        .session_extensions()
        .get_or_insert_with(|| options_of(client.metadata()))
}

/// pgwire's options from the connection metadata, and the session's
/// TimeZone, in which `timestamptz` values are written.
fn options_of(metadata: &std::collections::HashMap<String, String>) -> FormatOptions {
    let mut options = FormatOptions::from_client_metadata(metadata);
    if let Some(zone) = metadata.get("timezone") {
        options.time_zone = zone.clone();
    }
    options
}

/// What a statement asks the front end to do.
enum Kind {
    /// DataFusion plans and runs it.
    Planned,
    /// Handled by the front end without a plan.
    Command,
}

fn kind(stmt: &DfStatement) -> Kind {
    match stmt {
        DfStatement::Statement(s) => match s.as_ref() {
            Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Copy { .. }
            | Statement::AlterTable(_)
            | Statement::Discard { .. }
            | Statement::Deallocate { .. }
            | Statement::Truncate(_)
            | Statement::Drop { .. }
            | Statement::CreateSchema { .. }
            | Statement::CreateIndex(_)
            | Statement::Reset(_)
            | Statement::Comment { .. }
            | Statement::Analyze(_)
            | Statement::Vacuum(_) => Kind::Command,
            _ => Kind::Planned,
        },
        DfStatement::Reset(_) => Kind::Command,
        _ => Kind::Planned,
    }
}

/// Commands that change tables, schemas or the catalog.
fn alters_data(stmt: &DfStatement) -> bool {
    matches!(stmt, DfStatement::Statement(s) if matches!(
        s.as_ref(),
        Statement::Copy { .. }
            | Statement::AlterTable(_)
            | Statement::Truncate(_)
            | Statement::Drop { .. }
            | Statement::CreateSchema { .. }
            | Statement::CreateIndex(_)
            | Statement::Comment { .. }
    ))
}

fn is_tx_end(stmt: &DfStatement) -> bool {
    matches!(stmt, DfStatement::Statement(s) if matches!(s.as_ref(), Statement::Commit { .. } | Statement::Rollback { .. }))
}

/// Resolves a name against the session's current schema.
fn rel_name(session: &Session, name: &TableReference) -> Result<RelName> {
    let default_schema = session.default_schema();
    let resolved = name.clone().resolve(CATALOG_NAME, &default_schema);
    Ok(RelName::new(
        resolved.schema.to_string(),
        resolved.table.to_string(),
    ))
}

fn object_name(session: &Session, name: &ObjectName) -> Result<RelName> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_lowercase()
            }
        })
        .collect();
    let reference = match parts.as_slice() {
        [t] => TableReference::bare(t.as_str()),
        [s, t] => TableReference::partial(s.as_str(), t.as_str()),
        [_, s, t] => TableReference::partial(s.as_str(), t.as_str()),
        _ => {
            return Err(SqlStateError::new(
                sqlstate::SYNTAX_ERROR,
                format!("improper relation name (too many dotted names): {name}"),
            ));
        }
    };
    rel_name(session, &reference)
}

fn set_value_text(values: &[SqlExpr]) -> Option<String> {
    let parts: Vec<String> = values
        .iter()
        .map(|v| match v {
            SqlExpr::Value(v) => match &v.value {
                Value::SingleQuotedString(s)
                | Value::DoubleQuotedString(s)
                | Value::EscapedStringLiteral(s) => s.clone(),
                Value::Number(n, _) => n.to_string(),
                Value::Boolean(b) => {
                    if *b {
                        "on".into()
                    } else {
                        "off".into()
                    }
                }
                other => other.to_string(),
            },
            SqlExpr::Identifier(i) => i.value.clone(),
            SqlExpr::UnaryOp { op, expr } => format!("{op}{expr}"),
            other => other.to_string(),
        })
        .collect();
    let text = parts.join(", ");
    if text.eq_ignore_ascii_case("default") {
        None
    } else {
        Some(text)
    }
}

/// A NoticeResponse: a WARNING or NOTICE the client shows beside the result.
pub(super) fn notice(
    severity: &str,
    code: &str,
    message: impl Into<String>,
) -> PgWireBackendMessage {
    PgWireBackendMessage::NoticeResponse(NoticeResponse::from(ErrorInfo::new(
        severity.to_owned(),
        code.to_owned(),
        message.into(),
    )))
}

impl QueryHandler {
    /// Runs one statement. Messages other than the response (ParameterStatus,
    /// notices) are fed to `client` directly.
    ///
    /// Every path but a query with a kept plan awaits a boxed future: an
    /// async fn's state is as large as the largest future it awaits, and
    /// `do_query`'s box is filled with a copy of that whole state on every
    /// statement. Inline, the DDL and planning futures made that copy
    /// ~40% of a `SELECT 1`'s instructions.
    async fn execute<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        prepared: &Prepared,
        params: Option<&ParamValues>,
        format: &Format,
        control: &QueryControl,
    ) -> Result<Response> {
        let stmt = match prepared.stmt.as_ref() {
            Stmt::Df(stmt) => stmt,
            Stmt::Model(model) => {
                if client.transaction_status() == TransactionStatus::Error {
                    return Err(SqlStateError::new(
                        sqlstate::IN_FAILED_TRANSACTION,
                        "current transaction is aborted, commands ignored until end of transaction block",
                    ));
                }
                return Box::pin(self.model_statement(client, session, model, format, control))
                    .await;
            }
        };
        if client.transaction_status() == TransactionStatus::Error && !is_tx_end(stmt) {
            return Err(SqlStateError::new(
                sqlstate::IN_FAILED_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        match kind(stmt) {
            Kind::Command => {
                let response = Box::pin(self.command(client, session, stmt, control)).await;
                if alters_data(stmt) {
                    self.state.catalog.store().advance();
                }
                response
            }
            Kind::Planned => {
                let current = self.current_plan(session, prepared, stmt, control).await?;
                if let (Some(reuse), Some(plan)) = (&prepared.reuse, &current) {
                    let validity = Validity::now(session, self.state.catalog.store());
                    match reuse.checkout(plan.get(), params, validity).sql_err()? {
                        reuse::Plan::Row(batch) => {
                            let fields = Some(&prepared.derived.fields);
                            return respond_batch(client, batch, format, control, fields);
                        }
                        reuse::Plan::Kept(physical, checkout) => {
                            let task = session.task();
                            return stream(
                                client,
                                task,
                                physical,
                                checkout,
                                format,
                                control,
                                &prepared.derived.fields,
                            );
                        }
                        reuse::Plan::Build(generic, mut checkout) => {
                            let planner = session.plan_state();
                            let physical = Box::pin(control.run(async {
                                planner.create_physical_plan(&generic).await.sql_err()
                            }))
                            .await?;
                            checkout.keep(&physical);
                            let task = planner.task.clone();
                            return stream(
                                client,
                                task,
                                physical,
                                checkout,
                                format,
                                control,
                                &prepared.derived.fields,
                            );
                        }
                        reuse::Plan::Fresh => {}
                    }
                }
                let plan =
                    match current {
                        Some(plan) => plan.cloned(),
                        None => {
                            let planner = session.plan_state();
                            Box::pin(control.run(async {
                                planner.statement_to_plan(stmt.clone()).await.sql_err()
                            }))
                            .await?
                        }
                    };
                let plan = match params {
                    Some(p) => plan.with_param_values(p.clone()).sql_err()?,
                    None => plan,
                };
                let writes = matches!(
                    plan,
                    LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_)
                );
                let response =
                    Box::pin(self.run_plan(client, session, stmt, plan, format, control)).await;
                if writes {
                    // The store advanced when the write committed; advance
                    // again now that the catalog's memory shows it too, so no
                    // plan made in between outlives this statement.
                    self.state.catalog.store().advance();
                }
                response
            }
        }
    }

    async fn command<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        stmt: &DfStatement,
        control: &QueryControl,
    ) -> Result<Response> {
        let stmt = match stmt {
            DfStatement::Statement(s) => s.as_ref(),
            DfStatement::Reset(r) => {
                let name = match r {
                    datafusion::sql::parser::ResetStatement::Variable(name) => name.to_string(),
                };
                self.set_var(client, session, &name, None).await?;
                return Ok(Response::Execution(Tag::new("RESET")));
            }
            _ => {
                return Err(SqlStateError::new(
                    sqlstate::INTERNAL_ERROR,
                    "not a command",
                ));
            }
        };
        match stmt {
            Statement::Set(set) => self.set(client, session, set).await,
            Statement::Reset(reset) => {
                match &reset.reset {
                    datafusion::sql::sqlparser::ast::Reset::ALL => session.reset_all()?,
                    datafusion::sql::sqlparser::ast::Reset::ConfigurationParameter(name) => {
                        self.set_var(client, session, &name.to_string(), None)
                            .await?;
                    }
                }
                Ok(Response::Execution(Tag::new("RESET")))
            }
            Statement::ShowVariable { variable } => {
                let lower = show_name(variable);
                if lower == "all" {
                    let rows = session
                        .all_vars()
                        .into_iter()
                        .map(|(k, v)| vec![Some(k), Some(v)])
                        .collect();
                    return Ok(Response::Query(
                        text_rows(&["name", "setting"], rows).map_err(from_pgwire)?,
                    ));
                }
                let (column, value) = session.show(&lower)?;
                Ok(Response::Query(
                    text_rows(&[&column], vec![vec![Some(value)]]).map_err(from_pgwire)?,
                ))
            }
            Statement::StartTransaction { .. } => {
                let already_open = {
                    let mut tx = lock(&session.tx);
                    let open = matches!(*tx, TxBlock::Open { .. });
                    if !open {
                        *tx = TxBlock::Open { writes: 0 };
                    }
                    open
                };
                if already_open {
                    client
                        .feed(notice(
                            "WARNING",
                            "25001",
                            "there is already a transaction in progress",
                        ))
                        .await
                        .map_err(|e| from_pgwire(e.into()))?;
                }
                Ok(Response::TransactionStart(Tag::new("BEGIN")))
            }
            Statement::Commit { .. }
            | Statement::Rollback {
                savepoint: None, ..
            } => {
                let rollback = matches!(stmt, Statement::Rollback { .. });
                let failed = client.transaction_status() == TransactionStatus::Error;
                let previous = std::mem::take(&mut *lock(&session.tx));
                match previous {
                    TxBlock::None if client.transaction_status() == TransactionStatus::Idle => {
                        client
                            .feed(notice(
                                "WARNING",
                                "25P01",
                                "there is no transaction in progress",
                            ))
                            .await
                            .map_err(|e| from_pgwire(e.into()))?;
                    }
                    TxBlock::Open { writes } if rollback && writes > 0 => {
                        client
                            .feed(notice(
                                "WARNING",
                                "25000",
                                format!(
                                    "{writes} statement(s) in this transaction block were already committed; \
                                     Quarry commits each statement when it completes"
                                ),
                            ))
                            .await
                            .map_err(|e| from_pgwire(e.into()))?;
                    }
                    _ => {}
                }
                let tag = if rollback || failed {
                    "ROLLBACK"
                } else {
                    "COMMIT"
                };
                Ok(Response::TransactionEnd(Tag::new(tag)))
            }
            Statement::Rollback {
                savepoint: Some(_), ..
            } => Ok(Response::Execution(Tag::new("ROLLBACK"))),
            Statement::Savepoint { .. } => Ok(Response::Execution(Tag::new("SAVEPOINT"))),
            Statement::ReleaseSavepoint { .. } => Ok(Response::Execution(Tag::new("RELEASE"))),
            Statement::Discard { .. } => {
                session.reset_all()?;
                Ok(Response::Execution(Tag::new("DISCARD ALL")))
            }
            Statement::Deallocate { .. } => Ok(Response::Execution(Tag::new("DEALLOCATE"))),
            Statement::Comment { .. } => Ok(Response::Execution(Tag::new("COMMENT"))),
            Statement::Analyze(_) => Ok(Response::Execution(Tag::new("ANALYZE"))),
            Statement::Vacuum(_) => Ok(Response::Execution(Tag::new("VACUUM"))),
            Statement::CreateIndex(_) => {
                client
                    .feed(notice(
                        "NOTICE",
                        "00000",
                        "Quarry stores tables in a columnar format and needs no indexes; CREATE INDEX does nothing",
                    ))
                    .await
                    .map_err(|e| from_pgwire(e.into()))?;
                Ok(Response::Execution(Tag::new("CREATE INDEX")))
            }
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => {
                let name = match schema_name {
                    datafusion::sql::sqlparser::ast::SchemaName::Simple(n)
                    | datafusion::sql::sqlparser::ast::SchemaName::NamedAuthorization(n, _) => {
                        object_name_last(n)
                    }
                    datafusion::sql::sqlparser::ast::SchemaName::UnnamedAuthorization(i) => {
                        i.value.to_lowercase()
                    }
                };
                self.state
                    .catalog
                    .create_schema(&name, *if_not_exists)
                    .await?;
                session.wrote();
                Ok(Response::Execution(Tag::new("CREATE SCHEMA")))
            }
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => {
                let tag = match object_type {
                    ObjectType::Table | ObjectType::View => {
                        let view = *object_type == ObjectType::View;
                        for name in names {
                            let rel = object_name(session, name)?;
                            self.state
                                .catalog
                                .drop_relation(&rel, view, *if_exists)
                                .await?;
                        }
                        if view { "DROP VIEW" } else { "DROP TABLE" }
                    }
                    ObjectType::Schema => {
                        for name in names {
                            self.state
                                .catalog
                                .drop_schema(&object_name_last(name), *if_exists, *cascade)
                                .await?;
                        }
                        "DROP SCHEMA"
                    }
                    ObjectType::Index => {
                        if !*if_exists {
                            return Err(SqlStateError::new(
                                sqlstate::UNDEFINED_OBJECT,
                                "index does not exist: Quarry keeps no indexes",
                            ));
                        }
                        "DROP INDEX"
                    }
                    other => {
                        return Err(SqlStateError::unsupported(format!(
                            "DROP {other} is not supported"
                        )));
                    }
                };
                session.wrote();
                Ok(Response::Execution(Tag::new(tag)))
            }
            Statement::AlterTable(alter) => {
                let [AlterTableOperation::RenameTable { table_name }] = alter.operations.as_slice()
                else {
                    return Err(SqlStateError::unsupported(
                        "ALTER TABLE supports only RENAME TO; recreate the table with CREATE TABLE AS to change columns",
                    ));
                };
                let from = object_name(session, &alter.name)?;
                let target = match table_name {
                    RenameTableNameKind::As(n) | RenameTableNameKind::To(n) => n,
                };
                // PostgreSQL renames within the schema; a qualified target must match it.
                let mut to = object_name(session, target)?;
                if target.0.len() == 1 {
                    to.schema = from.schema.clone();
                }
                self.state
                    .catalog
                    .rename(&from, &to, alter.if_exists)
                    .await?;
                session.wrote();
                Ok(Response::Execution(Tag::new("ALTER TABLE")))
            }
            Statement::Truncate(t) => {
                for target in &t.table_names {
                    let rel = object_name(session, &target.name)?;
                    self.state.catalog.truncate(&rel).await?;
                }
                session.wrote();
                Ok(Response::Execution(Tag::new("TRUNCATE TABLE")))
            }
            Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                ..
            } => match (to, target) {
                (false, CopyTarget::Stdin) => {
                    let copy = copy_in(&self.state, session, stmt)?;
                    let ncols = copy.columns();
                    let slot = client
                        .session_extensions()
                        .get_or_insert_with(CopySlot::default);
                    *lock(&slot.0) = Some(copy);
                    session.wrote();
                    Ok(Response::CopyIn(CopyResponse::new(
                        0,
                        ncols,
                        stream::empty(),
                    )))
                }
                (false, _) => Err(SqlStateError::unsupported(
                    "COPY FROM a file or program is not supported; use COPY ... FROM STDIN (psql \\copy)",
                )),
                (true, CopyTarget::File { filename }) => {
                    let source_sql = match source {
                        CopySource::Table { table_name, .. } => table_name.to_string(),
                        CopySource::Query(q) => format!("({q})"),
                    };
                    let format = options
                        .iter()
                        .find_map(|o| match o {
                            datafusion::sql::sqlparser::ast::CopyOption::Format(f) => {
                                Some(f.value.to_uppercase())
                            }
                            _ => None,
                        })
                        .unwrap_or_else(|| {
                            if filename.ends_with(".parquet") {
                                "PARQUET".into()
                            } else if filename.ends_with(".json") {
                                "JSON".into()
                            } else {
                                "CSV".into()
                            }
                        });
                    let header = options.iter().any(|o| {
                        matches!(o, datafusion::sql::sqlparser::ast::CopyOption::Header(true))
                    });
                    let mut sql = format!(
                        "COPY {source_sql} TO '{}' STORED AS {format}",
                        filename.replace('\'', "''")
                    );
                    if format == "CSV" {
                        sql.push_str(&format!(" OPTIONS ('format.has_header' '{header}')"));
                    }
                    let statements = self.parser.parse(&sql)?;
                    let Some(copy) = statements.into_iter().next() else {
                        return Err(SqlStateError::new(sqlstate::INTERNAL_ERROR, "empty COPY"));
                    };
                    let state = session.ctx.state();
                    let plan = state.statement_to_plan(copy.clone()).await.sql_err()?;
                    self.run_plan(client, session, &copy, plan, &Format::UnifiedText, control)
                        .await
                }
                (true, CopyTarget::Stdout) => {
                    let spec = CopySpec::from_options(options, legacy_options)?;
                    let query = match source {
                        CopySource::Table {
                            table_name,
                            columns,
                        } if columns.is_empty() => {
                            format!("SELECT * FROM {table_name}")
                        }
                        CopySource::Table {
                            table_name,
                            columns,
                        } => format!(
                            "SELECT {} FROM {table_name}",
                            columns
                                .iter()
                                .map(|c| c.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        CopySource::Query(q) => q.to_string(),
                    };
                    let Some(select) = self.parser.parse(&query)?.into_iter().next() else {
                        return Err(SqlStateError::new(
                            sqlstate::INTERNAL_ERROR,
                            "empty COPY query",
                        ));
                    };
                    let stream = control
                        .run(async {
                            let plan = session
                                .plan_state()
                                .statement_to_plan(select)
                                .await
                                .sql_err()?;
                            execute_stream(session, plan).await
                        })
                        .await?;
                    let response = super::copy_out::copy_out(
                        stream,
                        spec,
                        format_options(client),
                        control.clone(),
                    )
                    .map_err(from_pgwire)?;
                    Ok(Response::CopyOut(response))
                }
                (true, _) => Err(SqlStateError::unsupported(
                    "COPY TO PROGRAM is not supported; use COPY ... TO STDOUT or TO 'file'",
                )),
            },
            other => Err(SqlStateError::unsupported(format!(
                "statement not supported: {other}"
            ))),
        }
    }

    async fn set<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        set: &Set,
    ) -> Result<Response> {
        match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = variable.to_string();
                self.set_var(client, session, &name, set_value_text(values).as_deref())
                    .await?;
            }
            Set::MultipleAssignments { assignments } => {
                for a in assignments {
                    let name = a.name.to_string();
                    let value = set_value_text(std::slice::from_ref(&a.value));
                    self.set_var(client, session, &name, value.as_deref())
                        .await?;
                }
            }
            Set::SetTimeZone { value, .. } => {
                let value = set_value_text(std::slice::from_ref(value));
                self.set_var(client, session, "TimeZone", value.as_deref())
                    .await?;
            }
            Set::SetNames { charset_name, .. } => {
                self.set_var(
                    client,
                    session,
                    "client_encoding",
                    Some(&charset_name.value),
                )
                .await?;
            }
            Set::SetNamesDefault {} => {
                self.set_var(client, session, "client_encoding", None)
                    .await?;
            }
            Set::SetTransaction { .. } => {}
            Set::SetSessionAuthorization(_) | Set::SetRole { .. } => {
                return Err(SqlStateError::unsupported(
                    "changing the session user is not supported; reconnect as the other user",
                ));
            }
            other => {
                return Err(SqlStateError::unsupported(format!(
                    "{other} is not supported"
                )));
            }
        }
        Ok(Response::Execution(Tag::new("SET")))
    }

    async fn set_var<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        name: &str,
        value: Option<&str>,
    ) -> Result<()> {
        let name = name.trim_matches('"');
        let report = session.set(name, value)?;
        // Settings the row encoder reads from the connection metadata.
        let lower = match name.to_ascii_lowercase().as_str() {
            "time zone" => "timezone".to_string(),
            other => other.to_string(),
        };
        if matches!(
            lower.as_str(),
            "datestyle" | "intervalstyle" | "bytea_output" | "extra_float_digits" | "timezone"
        ) && let Some(v) = session.var(&lower)
        {
            client.metadata_mut().insert(lower.clone(), v);
            let options = options_of(client.metadata());
            client.session_extensions().insert(options);
        }
        if let Some((k, v)) = report {
            client
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    k, v,
                )))
                .await
                .map_err(|e| from_pgwire(e.into()))?;
        }
        Ok(())
    }

    /// The statement's plan, made again when names changed since it was
    /// made (see [`Names`]). A plan whose result columns changed is refused,
    /// as PostgreSQL does: the client was told the old ones.
    async fn current_plan<'p>(
        &self,
        session: &Arc<Session>,
        prepared: &'p Prepared,
        stmt: &DfStatement,
        control: &QueryControl,
    ) -> Result<Option<CurrentPlan<'p>>> {
        let Some(plan) = &prepared.plan else {
            return Ok(None);
        };
        let now = Names::now(session, &self.state.catalog);
        if prepared.planned == now {
            return Ok(Some(CurrentPlan::Made(plan)));
        }
        let replanned = &prepared.derived.replanned;
        if let Some((names, plan)) = lock(replanned).as_ref()
            && *names == now
        {
            return Ok(Some(CurrentPlan::Remade(plan.clone())));
        }
        let planner = session.plan_state();
        let fresh = Box::pin(
            control.run(async { planner.statement_to_plan(stmt.clone()).await.sql_err() }),
        )
        .await?;
        if returns_rows(plan) && !same_columns(plan, &fresh) {
            return Err(SqlStateError::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "cached plan must not change result type",
            )
            .with_hint("a table it reads was replaced; prepare the statement again"));
        }
        let fresh = Arc::new(fresh);
        *lock(replanned) = Some((now, fresh.clone()));
        Ok(Some(CurrentPlan::Remade(fresh)))
    }

    /// Runs a planned statement: DDL against the catalog, everything else in
    /// DataFusion with the result streamed under `control`.
    pub(crate) async fn run_plan<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        stmt: &DfStatement,
        plan: LogicalPlan,
        format: &Format,
        control: &QueryControl,
    ) -> Result<Response> {
        let catalog = &self.state.catalog;
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(cmd)) => {
                if cmd.temporary {
                    return Err(SqlStateError::unsupported(
                        "temporary tables are not supported; create a regular table and drop it afterwards",
                    ));
                }
                let name = rel_name(session, &cmd.name)?;
                let is_ctas = matches!(stmt, DfStatement::Statement(s) if matches!(s.as_ref(), Statement::CreateTable(c) if c.query.is_some()));
                let schema = Arc::new(cmd.input.schema().as_arrow().clone());
                let constraints = (!cmd.constraints.is_empty()).then(|| cmd.constraints.clone());
                let input = cmd.input.as_ref().clone();
                let rows = control
                    .run(async {
                        let df = session.ctx.execute_logical_plan(input).await.sql_err()?;
                        let stream = df.execute_stream().await.sql_err()?;
                        catalog
                            .create_table(
                                &name,
                                schema,
                                constraints,
                                Some(stream),
                                cmd.if_not_exists,
                                cmd.or_replace,
                            )
                            .await
                    })
                    .await?;
                session.wrote();
                Ok(Response::Execution(if is_ctas {
                    Tag::new("SELECT").with_rows(rows as usize)
                } else {
                    Tag::new("CREATE TABLE")
                }))
            }
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(cmd)) => {
                let name = rel_name(session, &cmd.name)?;
                let state = session.ctx.state();
                control
                    .run(catalog.create_external(&state, &name, &cmd))
                    .await?;
                session.wrote();
                Ok(Response::Execution(Tag::new("CREATE TABLE")))
            }
            LogicalPlan::Ddl(DdlStatement::CreateView(view)) => {
                if view.temporary {
                    return Err(SqlStateError::unsupported(
                        "temporary views are not supported",
                    ));
                }
                let name = rel_name(session, &view.name)?;
                let definition = view.definition.clone().unwrap_or_else(|| stmt.to_string());
                catalog
                    .create_view(
                        &name,
                        view.input.as_ref().clone(),
                        definition,
                        view.or_replace,
                    )
                    .await?;
                session.wrote();
                Ok(Response::Execution(Tag::new("CREATE VIEW")))
            }
            LogicalPlan::Ddl(DdlStatement::CreateCatalogSchema(s)) => {
                catalog
                    .create_schema(&s.schema_name, s.if_not_exists)
                    .await?;
                session.wrote();
                Ok(Response::Execution(Tag::new("CREATE SCHEMA")))
            }
            LogicalPlan::Ddl(DdlStatement::DropTable(d)) => {
                catalog
                    .drop_relation(&rel_name(session, &d.name)?, false, d.if_exists)
                    .await?;
                session.wrote();
                Ok(Response::Execution(Tag::new("DROP TABLE")))
            }
            LogicalPlan::Ddl(DdlStatement::DropView(d)) => {
                catalog
                    .drop_relation(&rel_name(session, &d.name)?, true, d.if_exists)
                    .await?;
                session.wrote();
                Ok(Response::Execution(Tag::new("DROP VIEW")))
            }
            LogicalPlan::Ddl(DdlStatement::CreateCatalog(_)) => Err(SqlStateError::unsupported(
                "CREATE DATABASE is not supported: Quarry serves one database; use CREATE SCHEMA",
            )),
            LogicalPlan::Ddl(other) => Err(SqlStateError::unsupported(format!(
                "{} is not supported",
                other.name()
            ))),
            LogicalPlan::Dml(dml) => {
                let op = dml.op.clone();
                let df = session
                    .ctx
                    .execute_logical_plan(LogicalPlan::Dml(dml))
                    .await
                    .sql_err()?;
                let batches = control.run(async { df.collect().await.sql_err() }).await?;
                let rows: u64 = batches
                    .iter()
                    .filter_map(|b| {
                        b.column(0)
                            .as_any()
                            .downcast_ref::<UInt64Array>()
                            .map(|a| (0..a.len()).map(|i| a.value(i)).sum::<u64>())
                    })
                    .sum();
                session.wrote();
                let tag = match op {
                    datafusion::logical_expr::WriteOp::Insert(_) => Tag::new("INSERT").with_oid(0),
                    datafusion::logical_expr::WriteOp::Delete => Tag::new("DELETE"),
                    datafusion::logical_expr::WriteOp::Update => Tag::new("UPDATE"),
                    datafusion::logical_expr::WriteOp::Ctas => Tag::new("SELECT"),
                    _ => Tag::new("MERGE"),
                };
                Ok(Response::Execution(tag.with_rows(rows as usize)))
            }
            LogicalPlan::Copy(copy) => {
                let df = session
                    .ctx
                    .execute_logical_plan(LogicalPlan::Copy(copy))
                    .await
                    .sql_err()?;
                let batches = control.run(async { df.collect().await.sql_err() }).await?;
                let rows: u64 = batches
                    .iter()
                    .filter_map(|b| {
                        b.column(0)
                            .as_any()
                            .downcast_ref::<UInt64Array>()
                            .map(|a| a.values().iter().sum::<u64>())
                    })
                    .sum();
                Ok(Response::Execution(
                    Tag::new("COPY").with_rows(rows as usize),
                ))
            }
            LogicalPlan::Statement(datafusion::logical_expr::Statement::Prepare(p)) => {
                session
                    .ctx
                    .execute_logical_plan(LogicalPlan::Statement(
                        datafusion::logical_expr::Statement::Prepare(p),
                    ))
                    .await
                    .sql_err()?;
                Ok(Response::Execution(Tag::new("PREPARE")))
            }
            LogicalPlan::Statement(datafusion::logical_expr::Statement::Deallocate(d)) => {
                session
                    .ctx
                    .execute_logical_plan(LogicalPlan::Statement(
                        datafusion::logical_expr::Statement::Deallocate(d),
                    ))
                    .await
                    .sql_err()?;
                Ok(Response::Execution(Tag::new("DEALLOCATE")))
            }
            LogicalPlan::Statement(datafusion::logical_expr::Statement::SetVariable(_))
            | LogicalPlan::Statement(datafusion::logical_expr::Statement::ResetVariable(_))
            | LogicalPlan::Statement(datafusion::logical_expr::Statement::TransactionStart(_))
            | LogicalPlan::Statement(datafusion::logical_expr::Statement::TransactionEnd(_)) => {
                Err(SqlStateError::new(
                    sqlstate::INTERNAL_ERROR,
                    "internal error: session statement reached the planner",
                ))
            }
            // PREPARE/EXECUTE in SQL keep their plans in the context's state.
            plan @ LogicalPlan::Statement(_) => {
                let stream = control
                    .run(async {
                        let df = session.ctx.execute_logical_plan(plan).await.sql_err()?;
                        df.execute_stream().await.sql_err()
                    })
                    .await?;
                respond(client, stream, format, control, None)
            }
            plan => {
                let stream = control.run(execute_stream(session, plan)).await?;
                respond(client, stream, format, control, None)
            }
        }
    }
}

/// Streams a physical plan's rows under `control`, holding `checkout`
/// until the stream ends.
fn stream<C>(
    client: &C,
    task: Arc<TaskContext>,
    physical: Arc<dyn ExecutionPlan>,
    checkout: reuse::Checkout,
    format: &Format,
    control: &QueryControl,
    fields: &FieldsCache,
) -> Result<Response>
where
    C: ClientInfo,
{
    let stream = datafusion::physical_plan::execute_stream(physical, task).sql_err()?;
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        stream.schema(),
        stream.map(move |batch| {
            let _held = &checkout;
            batch
        }),
    ));
    respond(client, stream, format, control, Some(fields))
}

/// Answers with `batches`, streamed under `control` in `format` and the
/// connection's DateStyle; `fields`, when given, holds the statement's row
/// descriptions.
pub(super) fn respond<C: ClientInfo>(
    client: &C,
    batches: SendableRecordBatchStream,
    format: &Format,
    control: &QueryControl,
    fields: Option<&FieldsCache>,
) -> Result<Response> {
    let response = query_response(
        batches,
        format,
        Some(format_options(client)),
        control.clone(),
        fields,
    )
    .map_err(from_pgwire)?;
    Ok(Response::Query(response))
}

/// Answers with the rows of one batch.
pub(super) fn respond_batch<C: ClientInfo>(
    client: &C,
    batch: RecordBatch,
    format: &Format,
    control: &QueryControl,
    fields: Option<&FieldsCache>,
) -> Result<Response> {
    let schema = batch.schema();
    let batches = MemoryStream::try_new(vec![batch], schema, None).sql_err()?;
    respond(client, Box::pin(batches), format, control, fields)
}

/// Sets up a `COPY ... FROM STDIN`: the table, its columns and the options.
/// Called at Parse time too, so a bad COPY fails before the client starts
/// sending data, as in PostgreSQL.
fn copy_in(state: &ServerState, session: &Session, stmt: &Statement) -> Result<CopyIn> {
    let Statement::Copy {
        source,
        options,
        legacy_options,
        ..
    } = stmt
    else {
        return Err(SqlStateError::new(sqlstate::INTERNAL_ERROR, "not a COPY"));
    };
    let CopySource::Table {
        table_name,
        columns,
    } = source
    else {
        return Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            "COPY (query) FROM STDIN is not valid: copy into a table",
        ));
    };
    let rel = object_name(session, table_name)?;
    let data = state.catalog.managed(&rel)?;
    let spec = CopySpec::from_options(options, legacy_options)?;
    CopyIn::new(rel.to_string(), data, spec, columns)
}

/// The parameter a `SHOW` names: multi-word forms map to their parameter,
/// dotted names (`datafusion.execution.batch_size`) are joined back.
fn show_name(variable: &[datafusion::sql::sqlparser::ast::Ident]) -> String {
    let words: Vec<String> = variable
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    match words.join(" ").as_str() {
        "transaction isolation level" => "transaction_isolation".into(),
        "time zone" => "timezone".into(),
        "session authorization" => "session_authorization".into(),
        _ => words.join("."),
    }
}

/// Plans `plan` physically and starts it, with the session's reusable state.
async fn execute_stream(
    session: &Arc<Session>,
    plan: LogicalPlan,
) -> Result<datafusion::execution::SendableRecordBatchStream> {
    let planner = session.plan_state();
    let physical = planner.create_physical_plan(&plan).await.sql_err()?;
    datafusion::physical_plan::execute_stream(physical, planner.task.clone()).sql_err()
}

fn object_name_last(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_lowercase()
            }
        })
        .unwrap_or_default()
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        debug!(query, "simple query");
        let connection = connection(client)?;
        let control = connection.session.start_query();
        // A single statement outside a failed transaction is planned (or
        // found in the connection's statement cache) before it runs; a list is
        // planned statement by statement, since one may create what the next
        // reads.
        let healthy = client.transaction_status() != TransactionStatus::Error;
        let validity = Validity::now(&connection.session, self.state.catalog.store());
        let cached = healthy
            .then(|| connection.statements.get(query, &[], validity))
            .flatten();
        let prepared: Vec<Prepared> = match cached {
            Some(p) => vec![p],
            None => {
                let mut statements = match self.parser.parse_all(query) {
                    Ok(s) => s,
                    Err(e) => return Ok(vec![Response::Error(Box::new(error_info(e)))]),
                };
                if statements.len() == 1 && healthy {
                    let stmt = statements.remove(0);
                    let planned = control.run(self.parser.prepare_parsed(
                        &connection,
                        query,
                        &[],
                        validity,
                        stmt,
                    ));
                    match planned.await {
                        Ok(p) => vec![p],
                        Err(e) => return Ok(vec![Response::Error(Box::new(error_info(e)))]),
                    }
                } else {
                    statements
                        .into_iter()
                        .map(|stmt| {
                            Prepared::new(
                                stmt,
                                None,
                                None,
                                Names::now(&connection.session, &self.state.catalog),
                            )
                        })
                        .collect()
                }
            }
        };
        if prepared.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(prepared.len());
        for prepared in prepared {
            match self
                .execute(
                    client,
                    &connection.session,
                    &prepared,
                    None,
                    &Format::UnifiedText,
                    &control,
                )
                .await
            {
                Ok(r) => {
                    let copy = matches!(r, Response::CopyIn(_));
                    responses.push(r);
                    if copy {
                        break;
                    }
                }
                Err(e) => {
                    // PostgreSQL stops a multi-statement query at the first error.
                    responses.push(Response::Error(Box::new(error_info(e))));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let connection = connection(client)?;
        self.prepare(&connection, sql, types)
            .await
            .map_err(to_pgwire)
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        let Some(plan) = &stmt.plan else {
            return Ok(vec![]);
        };
        let types = stmt
            .derived
            .params(plan)
            .map_err(|e| to_pgwire(classify(&e)))?;
        Ok(super::params::wire_types(types))
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let fields = self.result_fields(stmt, column_format.unwrap_or(&Format::UnifiedText))?;
        Ok(fields.as_ref().clone())
    }
}

impl Parser {
    /// The columns `stmt` returns, described for results in `format`; empty
    /// when it returns no rows. Shared, not copied: a portal's Describe
    /// answers from it at every execution.
    pub(super) fn result_fields(
        &self,
        stmt: &Prepared,
        format: &Format,
    ) -> PgWireResult<Arc<Vec<FieldInfo>>> {
        if let Stmt::Model(model) = stmt.stmt.as_ref() {
            let schema = super::models::result_schema(model);
            return super::stream::fields(&schema, format, None);
        }
        if let Stmt::Df(DfStatement::Statement(s)) = stmt.stmt.as_ref()
            && let Statement::ShowVariable { variable } = s.as_ref()
        {
            let name = show_name(variable);
            let columns: Vec<String> = if name == "all" {
                vec!["name".into(), "setting".into()]
            } else {
                vec![name]
            };
            return Ok(Arc::new(
                columns
                    .into_iter()
                    .map(|c| {
                        FieldInfo::new(
                            c,
                            None,
                            None,
                            Type::TEXT,
                            pgwire::api::results::FieldFormat::Text,
                        )
                    })
                    .collect(),
            ));
        }
        match &stmt.plan {
            Some(plan) if returns_rows(plan) => {
                let schema = plan.schema().inner();
                stmt.derived.fields.fields(schema, format, None)
            }
            _ => Ok(Arc::new(Vec::new())),
        }
    }
}

/// Whether two plans of one statement return the same columns (names and
/// types) — what a client was told at Describe.
fn same_columns(a: &LogicalPlan, b: &LogicalPlan) -> bool {
    let (a, b) = (a.schema().fields(), b.schema().fields());
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type())
}

fn returns_rows(plan: &LogicalPlan) -> bool {
    !matches!(
        plan,
        LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Statement(_)
    )
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        replies::parse(self, client, message).await
    }

    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        replies::bind(client, message).await
    }

    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        replies::describe(self, client, message).await
    }

    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        replies::close(client, message).await
    }

    /// Streams the rows of an `Execute` without a row limit straight to the
    /// client. pgwire's default collects every row of the portal in memory
    /// before sending the first, which would hold a whole large result (and
    /// ignore cancels until it is complete). Row-limited executes (cursors,
    /// JDBC fetch size) keep the default, which buffers at most `max_rows`.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) if message.max_rows <= 0 => portal,
            _ => return self._on_execute(client, message).await,
        };
        if !matches!(*portal.state().lock().await, PortalExecutionState::Initial) {
            return self._on_execute(client, message).await;
        }
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let mut status = client.transaction_status();
        client.set_state(PgWireConnectionState::QueryInProgress);
        match ExtendedQueryHandler::do_query(self, client, portal.as_ref(), 0).await? {
            Response::Query(results) => {
                *portal.state().lock().await = PortalExecutionState::Finished;
                replies::rows(client, results).await?;
            }
            Response::EmptyQuery => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
            }
            Response::Execution(tag) => send_execution_response(client, tag).await?,
            Response::TransactionStart(tag) => {
                send_execution_response(client, tag).await?;
                status = status.to_in_transaction_state();
            }
            Response::TransactionEnd(tag) => {
                send_execution_response(client, tag).await?;
                status = status.to_idle_state();
                client.portal_store().rm_portal(DEFAULT_NAME);
            }
            Response::Error(err) => {
                client
                    .feed(PgWireBackendMessage::ErrorResponse((*err).into()))
                    .await?;
                status = status.to_error_state();
            }
            Response::CopyIn(result) => {
                client.set_state(PgWireConnectionState::CopyInProgress(true));
                pgwire::api::copy::send_copy_in_response(client, result).await?;
            }
            Response::CopyOut(result) => {
                pgwire::api::copy::send_copy_out_response(client, result).await?;
            }
            Response::CopyBoth(result) => {
                client.set_state(PgWireConnectionState::CopyInProgress(true));
                pgwire::api::copy::send_copy_both_response(client, result).await?;
            }
        }
        if !matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            client.set_state(PgWireConnectionState::ReadyForQuery);
            client.set_transaction_status(status);
        }
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let connection = connection(client)?;
        let session = &connection.session;
        let prepared = &portal.statement.statement;
        let params = match &prepared.plan {
            Some(plan) => Some(super::params::decode(portal, plan)?),
            None => None,
        };
        let control = session.start_query();
        self.execute(
            client,
            &session,
            prepared,
            params.as_ref(),
            &portal.result_column_format,
            &control,
        )
        .await
        .map_err(to_pgwire)
    }
}

#[async_trait]
impl CopyHandler for QueryHandler {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(slot) = client.session_extensions().get::<CopySlot>()
            && let Some(copy) = lock(&slot.0).as_mut()
        {
            copy.feed(&copy_data.data);
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let copy = client
            .session_extensions()
            .get::<CopySlot>()
            .and_then(|slot| lock(&slot.0).take());
        let Some(copy) = copy else {
            return Err(to_pgwire(SqlStateError::new(
                sqlstate::PROTOCOL_VIOLATION,
                "CopyDone without a COPY in progress",
            )));
        };
        let rows = copy.finish().await;
        // Whether or not it committed, plans made while it ran may be stale.
        self.state.catalog.store().advance();
        let rows = rows.map_err(to_pgwire)?;
        client
            .send(PgWireBackendMessage::CommandComplete(
                Tag::new("COPY").with_rows(rows as usize).into(),
            ))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(slot) = client.session_extensions().get::<CopySlot>() {
            // Dropping the copy removes the files it wrote.
            lock(&slot.0).take();
        }
        to_pgwire(SqlStateError::new(
            sqlstate::QUERY_CANCELED,
            format!("COPY from stdin failed: {}", fail.message),
        ))
    }
}
