//! A statement between Parse and Execute: what it is ([`Stmt`], read from
//! SQL text by the [`Parser`]), its plan, and what its executions share
//! ([`Derived`]): parameter types, row descriptions, and the plan made again
//! after names changed.

use std::sync::{Arc, Mutex, OnceLock};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ParamValues;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser as SqlParser, ParserError};
use pgwire::api::Type;
use pgwire::api::portal::Portal;
use pgwire::error::PgWireResult;

use crate::catalog::Catalog;
use crate::complexity;
use crate::dialect::QuarryDialect;
use crate::error::{
    IntoSqlError, Result, SqlStateError, classify, sqlstate, syntax_error, to_pgwire,
};
use crate::server::ServerState;
use crate::server::params::{self, Decoding};
use crate::server::query::pg_rules::Compat;
use crate::server::reuse::Reuse;
use crate::server::rewrite;
use crate::server::stream::FieldsCache;
use crate::session::{QueryControl, Session};
use crate::statements::QuarryStatement;
use crate::sync::lock;

/// A parsed statement, with its plan when DataFusion plans it. Stored by the
/// extended protocol between Parse and Execute.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub stmt: Arc<Stmt>,
    /// The text it was parsed from, as `pg_stat_activity` shows it.
    pub text: Arc<str>,
    pub plan: Option<LogicalPlan>,
    /// What is kept of the plan between executions, when it may be.
    pub reuse: Option<Arc<Reuse>>,
    /// What every execution would otherwise work out again.
    pub derived: Arc<Derived>,
    /// When `plan` was made: see [`Names`].
    planned: Names,
}

/// What names meant when a plan was made: the session's settings generation
/// (`search_path`), the catalog's count of creates, drops and renames, and
/// the models' count of alias moves. A logical plan holds the relations and
/// model versions it resolved; after any of them changes it is made again,
/// as PostgreSQL re-plans a prepared statement after DDL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Names {
    session: u64,
    definitions: u64,
    /// Model aliases and versions ([`crate::catalog::store::Store::models`]):
    /// a plan that resolved `'churn'` to `churn@3` is made again once
    /// `ml_deploy` or `ml_rollback` moved the alias.
    models: u64,
}

impl Names {
    pub(super) fn now(session: &Session, catalog: &Catalog) -> Names {
        Names {
            session: session.generation(),
            definitions: catalog.definitions(),
            models: catalog.store().models(),
        }
    }
}

impl Prepared {
    pub(super) fn new(
        stmt: Stmt,
        text: Arc<str>,
        plan: Option<LogicalPlan>,
        reuse: Option<Arc<Reuse>>,
        planned: Names,
    ) -> Self {
        let (names, oids) = match &stmt {
            Stmt::Df(df) => (
                crate::compat::colnames::names(df),
                params::oid_placeholders(df),
            ),
            Stmt::Model(_) => (None, Vec::new()),
        };
        Prepared {
            stmt: Arc::new(stmt),
            text,
            plan,
            reuse,
            derived: Arc::new(Derived::named(names, oids)),
            planned,
        }
    }
}

impl Prepared {
    /// The same, its row descriptions naming the table and column each
    /// result column comes from (`server::origins`). Called before the
    /// statement is shared.
    pub(super) fn with_origins(
        mut self,
        origins: Option<Arc<[Option<crate::server::origins::Origin>]>>,
    ) -> Self {
        if origins.is_some()
            && let Some(derived) = Arc::get_mut(&mut self.derived)
        {
            derived.fields = std::mem::take(&mut derived.fields).with_origins(origins);
        }
        self
    }
}

/// A statement's plan as it stands: the one made at Parse, or the one made
/// again after names changed, shared by the executions that follow.
pub(super) enum CurrentPlan<'p> {
    Made(&'p LogicalPlan),
    Remade(Arc<LogicalPlan>),
}

impl CurrentPlan<'_> {
    pub(super) fn get(&self) -> &LogicalPlan {
        match self {
            CurrentPlan::Made(plan) => plan,
            CurrentPlan::Remade(plan) => plan,
        }
    }

    pub(super) fn cloned(&self) -> LogicalPlan {
        self.get().clone()
    }
}

/// What is worked out from a prepared statement once, for all its executions.
#[derive(Debug, Default)]
pub struct Derived {
    /// The inferred type of each parameter, in `$1, $2, ...` order.
    params: OnceLock<Vec<(usize, Option<DataType>)>>,
    /// How its bound values are decoded.
    decoding: Mutex<Option<Arc<Decoding>>>,
    /// Its row descriptions.
    pub fields: FieldsCache,
    /// Its plan made again after names changed (see [`Names`]).
    replanned: Mutex<Option<(Names, Arc<LogicalPlan>)>>,
    /// The parameters it casts to `oid` or `oid[]`, described so.
    oids: Vec<(usize, Type)>,
}

impl Derived {
    /// What a statement whose columns PostgreSQL calls `names` derives.
    fn named(names: Option<Arc<[Option<String>]>>, oids: Vec<(usize, Type)>) -> Self {
        Derived {
            fields: FieldsCache::named(names),
            oids,
            ..Derived::default()
        }
    }

    /// The types its parameters are described as.
    pub fn wire_types(&self, plan: &LogicalPlan) -> datafusion::error::Result<Vec<Type>> {
        Ok(params::wire_types(self.params(plan)?, &self.oids))
    }

    /// The parameter types of `plan`, the statement's plan.
    pub fn params(
        &self,
        plan: &LogicalPlan,
    ) -> datafusion::error::Result<&[(usize, Option<DataType>)]> {
        if let Some(known) = self.params.get() {
            return Ok(known);
        }
        let inferred = params::inferred(plan)?;
        Ok(self.params.get_or_init(|| inferred))
    }

    /// How to decode the values bound to `plan`, the statement's plan, by a
    /// client that declared `declared` at Parse.
    pub fn decoding(
        &self,
        plan: &LogicalPlan,
        declared: &[Option<Type>],
    ) -> datafusion::error::Result<Arc<Decoding>> {
        if let Some(known) = lock(&self.decoding).as_ref()
            && known.fits(declared)
        {
            return Ok(known.clone());
        }
        let decoding = Arc::new(Decoding::new(self.params(plan)?, &self.oids, declared));
        *lock(&self.decoding) = Some(decoding.clone());
        Ok(decoding)
    }

    /// The values bound to `portal`, a portal of the statement whose plan is
    /// `plan`, decoded and cast to the types the plan expects.
    pub fn decode<S: Clone>(
        &self,
        portal: &Portal<S>,
        plan: &LogicalPlan,
    ) -> PgWireResult<ParamValues> {
        let declared = &portal.statement.parameter_types;
        let decoding = self
            .decoding(plan, declared)
            .map_err(|e| to_pgwire(classify(&e)))?;
        params::decode(portal, &decoding)
    }
}

/// A parsed statement: DataFusion's, or one of Quarry's model statements.
#[derive(Clone, Debug)]
pub enum Stmt {
    Df(DfStatement),
    Model(QuarryStatement),
}

/// The rewrites are built once: they parse templates of their own.
pub(super) static COMPAT: std::sync::LazyLock<Compat> = std::sync::LazyLock::new(Compat::default);

/// Parses SQL: PostgreSQL syntax first (with the rewrites that catalog queries
/// of psql, JDBC and BI tools need), then DataFusion's own extensions such as
/// `CREATE EXTERNAL TABLE` and `COPY ... TO ... STORED AS`.
pub struct Parser {
    compat: &'static Compat,
    pub(super) state: Arc<ServerState>,
}

impl Parser {
    pub fn new(state: Arc<ServerState>) -> Parser {
        Parser {
            compat: &COMPAT,
            state,
        }
    }

    /// Parses Quarry's model statements, then everything else.
    pub fn parse_all(&self, sql: &str) -> Result<Vec<Stmt>> {
        if let Some(bytes) = crate::server::frames::invalid_utf8(sql) {
            return Err(SqlStateError::new(
                sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                format!("invalid byte sequence for encoding \"UTF8\": {bytes}"),
            ));
        }
        // Several statements, of which one is Quarry's own (GRANT after
        // CREATE TABLE...): each parsed on its own.
        if let Some(parts) = crate::statements::split_statements(sql) {
            let own = |part: &str| matches!(crate::statements::parse(part), Ok(Some(_)) | Err(_));
            if parts.iter().any(|part| own(part)) {
                let mut all = Vec::new();
                for part in parts {
                    all.extend(self.parse_all(part)?);
                }
                return Ok(all);
            }
        }
        if let Some(model) = crate::statements::parse(sql)? {
            return Ok(vec![Stmt::Model(model)]);
        }
        if let Some(fetch) = super::cursor::move_as_fetch(sql) {
            return Ok(self.parse(&fetch)?.into_iter().map(Stmt::Df).collect());
        }
        if let Some(ordered) = super::commands::sequence_options_in_order(sql) {
            return Ok(self.parse(&ordered)?.into_iter().map(Stmt::Df).collect());
        }
        if let Some(copy) = super::commands::copy_booleans_spelled_out(sql) {
            return Ok(self.parse(&copy)?.into_iter().map(Stmt::Df).collect());
        }
        if let Some(vacuum) = super::commands::vacuum_without_options(sql) {
            return Ok(self.parse(&vacuum)?.into_iter().map(Stmt::Df).collect());
        }
        if let Some(quoted) = super::commands::comment_literals_quoted(sql) {
            return Ok(self.parse(&quoted)?.into_iter().map(Stmt::Df).collect());
        }
        Ok(self.parse(sql)?.into_iter().map(Stmt::Df).collect())
    }

    /// SQL text to statements (see `parse_sql`).
    pub fn parse(&self, sql: &str) -> Result<Vec<DfStatement>> {
        parse_sql(self.compat, sql)
    }

    /// `error`, raised planning `sql` (one statement), with where in the text
    /// it is. The compatibility parser keeps no source spans (it re-tokenizes
    /// to match the catalog queries tools send), so on this error path the
    /// text is parsed again keeping them and planned again: DataFusion's
    /// diagnostic then says where, and may suggest a fix. Only the same error
    /// is taken; anything else keeps `error` as it was.
    pub(super) async fn locate(
        &self,
        planner: &SessionState,
        sql: &str,
        error: SqlStateError,
    ) -> SqlStateError {
        // A long statement may have been guarded (balanced): parsing its
        // text again would undo that.
        if error.location.is_some() || sql.len() > complexity::SHORT_STATEMENT {
            return error;
        }
        let dialect = QuarryDialect::default();
        let parsed = DFParserBuilder::new(sql)
            .with_dialect(&dialect)
            .build()
            .and_then(|mut p| p.parse_statements());
        let Ok(mut statements) = parsed else {
            return error;
        };
        let (Some(mut stmt), true) = (statements.pop_front(), statements.is_empty()) else {
            return error;
        };
        if let DfStatement::Statement(inner) = &mut stmt {
            **inner = self.compat.rewrite((**inner).clone());
            rewrite::rewrite(inner);
        }
        match planner.statement_to_plan(stmt).await {
            Err(again) => {
                let again = classify(&again);
                if again.code == error.code && again.message == error.message {
                    again
                } else {
                    error
                }
            }
            Ok(_) => error,
        }
    }
}

/// SQL text to statements: PostgreSQL syntax through `compat`, each
/// statement rewritten for the catalog queries clients send, else
/// DataFusion's own syntax; the error reported is PostgreSQL syntax's.
pub(super) fn parse_sql(compat: &Compat, sql: &str) -> Result<Vec<DfStatement>> {
    if sql.len() > complexity::SHORT_STATEMENT
        && let Some(statements) = parse_long(compat, sql)?
    {
        return Ok(statements);
    }
    // sqlparser reads `CREATE EXTERNAL TABLE ... STORED AS ... LOCATION`
    // as a Hive table that DataFusion's planner refuses; DataFusion's own
    // parser turns it into its CreateExternalTable statement.
    let (parsed, originals) = compat.parse(sql);
    let parsed = parsed.and_then(|statements| {
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
        Ok(statements) => {
            // The statements as sqlparser alone reads them, for names the
            // compatibility rewrites lose (`rewrite::name_special_registers`).
            let originals = originals
                .filter(|o| o.len() == statements.len() && rewrite::mentions_special_register(sql));
            statements
                .into_iter()
                .enumerate()
                .map(|(i, mut s)| {
                    crate::dialect::check_relation_names(&s)?;
                    if let Some(original) = originals.as_ref().map(|o| &o[i]) {
                        rewrite::name_special_registers(original, &mut s);
                    }
                    rewrite::rewrite(&mut s);
                    Ok(DfStatement::Statement(Box::new(s)))
                })
                .collect()
        }
        Err(pg_err) => {
            let dialect = QuarryDialect::default();
            let parsed = DFParserBuilder::new(sql)
                .with_dialect(&dialect)
                .build()
                .and_then(|mut p| p.parse_statements());
            match parsed {
                Ok(statements) => statements
                    .into_iter()
                    .map(|mut s| {
                        if sql.len() > complexity::SHORT_STATEMENT {
                            complexity::guard_df(&mut s)?;
                        }
                        if let DfStatement::Statement(inner) = &mut s {
                            rewrite::rewrite(inner);
                        }
                        Ok(s)
                    })
                    .collect(),
                // PostgreSQL syntax's message, and where DataFusion's parser,
                // which keeps source spans, stopped.
                Err(_) if matches!(pg_err, ParserError::RecursionLimitExceeded) => {
                    Err(complexity::too_deeply_parenthesized())
                }
                Err(df_err) => {
                    let mut e = syntax_error(&pg_err.to_string());
                    e.location = syntax_error(&df_err.to_string()).location;
                    Err(e)
                }
            }
        }
    }
}

/// A statement long enough to nest past [`complexity::MAX_DEPTH`], read by
/// sqlparser alone and guarded before the compatibility parser's rewrites
/// (which recurse) see it; parsed once, so a long `INSERT ... VALUES` pays
/// for one parse. It skips only the compatibility parser's token patterns,
/// which match the short catalog queries of known tools. `None` when
/// sqlparser alone cannot read it (DataFusion's own syntax, `ABORT`): the
/// text then goes the way every other statement does.
fn parse_long(compat: &Compat, sql: &str) -> Result<Option<Vec<DfStatement>>> {
    let dialect = PostgreSqlDialect {};
    let Ok(mut statements) = SqlParser::new(&dialect)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
    else {
        return Ok(None);
    };
    for stmt in &mut statements {
        complexity::guard(stmt)?;
        crate::dialect::check_relation_names(stmt)?;
    }
    Ok(Some(
        statements
            .into_iter()
            .map(|s| {
                let mut s = if rewrite::mentions_special_register(sql) {
                    let mut rewritten = compat.rewrite(s.clone());
                    rewrite::name_special_registers(&s, &mut rewritten);
                    rewritten
                } else {
                    compat.rewrite(s)
                };
                rewrite::rewrite(&mut s);
                DfStatement::Statement(Box::new(s))
            })
            .collect(),
    ))
}

impl Prepared {
    /// The statement's plan, made again when names changed since it was
    /// made (see [`Names`]). A plan whose result columns changed is refused,
    /// as PostgreSQL does: the client was told the old ones.
    pub(super) async fn current_plan<'p>(
        &'p self,
        session: &Arc<Session>,
        catalog: &Catalog,
        stmt: &DfStatement,
        control: &QueryControl,
    ) -> Result<Option<CurrentPlan<'p>>> {
        let Some(plan) = &self.plan else {
            return Ok(None);
        };
        let now = Names::now(session, catalog);
        if self.planned == now {
            return Ok(Some(CurrentPlan::Made(plan)));
        }
        let replanned = &self.derived.replanned;
        if let Some((names, plan)) = lock(replanned).as_ref()
            && *names == now
        {
            return Ok(Some(CurrentPlan::Remade(plan.clone())));
        }
        let planner = session.plan_state();
        let fresh = Box::pin(control.run(async {
            super::planner::statement_to_plan(&planner, stmt)
                .await
                .sql_err()
        }))
        .await?;
        let fresh = super::parse::executed_plan(session, fresh).await?;
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

pub(super) fn returns_rows(plan: &LogicalPlan) -> bool {
    if let Some(change) = super::dml::row_change(plan) {
        return change.returns_rows();
    }
    if super::cursor::declaration(plan).is_some() {
        return false;
    }
    !matches!(
        plan,
        LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Statement(_)
    )
}
