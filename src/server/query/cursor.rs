//! `DECLARE`, `FETCH`, `MOVE` and `CLOSE` (the cursors themselves:
//! `session::cursors`).
//!
//! `DECLARE` is planned (its query may take parameters, as psycopg's named
//! cursors bind them) into a [`DeclareCursor`] node that `run` opens;
//! `FETCH`, `MOVE` and `CLOSE` are commands. A `FETCH` is described (the
//! extended protocol's Describe, which psycopg sends before reading) by its
//! cursor's columns, and so is a Describe of the cursor's name as a portal,
//! which is what a PostgreSQL cursor is.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    CloseCursor, Declare, FetchDirection, Ident, ObjectName, Statement, Value,
};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldInfo, Response, Tag};

use super::connection::Client;
use super::names::folded;
use super::run::{execute_stream, respond};
use crate::error::{IntoSqlError, Result, SqlStateError, sqlstate};
use crate::server::stream::FieldsCache;
use crate::session::cursors::Cursor;
use crate::session::{QueryControl, Session};

/// What marks a `FETCH` parsed from a `MOVE` (sqlparser reads no `MOVE`: it
/// is parsed as the `FETCH` it mirrors, with this as its `INTO` target,
/// which PostgreSQL's `FETCH` never has).
const MOVE_MARK: &str = "__quarry_move";

/// `MOVE ...` as the `FETCH ...` text it mirrors, marked; other text as is.
pub(super) fn move_as_fetch(sql: &str) -> Option<String> {
    let trimmed = sql.trim_start();
    let (word, rest) = trimmed.split_at(trimmed.find(char::is_whitespace)?);
    if !word.eq_ignore_ascii_case("move") {
        return None;
    }
    let rest = rest.trim().trim_end_matches(';');
    Some(format!("FETCH {rest} INTO {MOVE_MARK}"))
}

/// Whether a parsed `FETCH` is a `MOVE`.
pub(super) fn is_move(into: Option<&ObjectName>) -> bool {
    into.is_some_and(|n| n.to_string() == MOVE_MARK)
}

/// The plan of `DECLARE name CURSOR FOR query`.
#[derive(Debug, Clone)]
pub struct DeclareCursor {
    name: String,
    holdable: bool,
    binary: bool,
    names: Option<Arc<[Option<String>]>>,
    input: LogicalPlan,
    schema: DFSchemaRef,
}

impl PartialEq for DeclareCursor {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.holdable == other.holdable && self.input == other.input
    }
}

impl Eq for DeclareCursor {}

impl Hash for DeclareCursor {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.input.hash(state);
    }
}

impl PartialOrd for DeclareCursor {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for DeclareCursor {
    fn name(&self) -> &str {
        "DeclareCursor"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DECLARE {} CURSOR", self.name)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> datafusion::error::Result<Self> {
        Ok(DeclareCursor {
            input: inputs.swap_remove(0),
            ..self.clone()
        })
    }
}

/// The cursor declaration `plan` is, if it is one.
pub(super) fn declaration(plan: &LogicalPlan) -> Option<&DeclareCursor> {
    match plan {
        LogicalPlan::Extension(ext) => ext.node.as_any().downcast_ref::<DeclareCursor>(),
        _ => None,
    }
}

/// `DECLARE name [BINARY] [NO SCROLL] CURSOR [WITH[OUT] HOLD] FOR query`.
pub(super) async fn plan(
    state: &SessionState,
    statement: &Statement,
) -> Option<Result<LogicalPlan>> {
    let Statement::Declare { stmts } = statement else {
        return None;
    };
    let [declare] = stmts.as_slice() else {
        return Some(Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            "DECLARE declares one cursor",
        )));
    };
    Some(plan_declare(state, declare).await)
}

async fn plan_declare(state: &SessionState, declare: &Declare) -> Result<LogicalPlan> {
    let (Some(query), [name]) = (&declare.for_query, declare.names.as_slice()) else {
        return Err(SqlStateError::unsupported(
            "DECLARE is supported for cursors: DECLARE name CURSOR FOR query",
        ));
    };
    if declare.scroll == Some(true) {
        return Err(SqlStateError::unsupported(
            "SCROLL cursors are not supported: cursors move forward only",
        ));
    }
    let query = DfStatement::Statement(Box::new(Statement::Query(query.clone())));
    let names = crate::compat::colnames::names(&query);
    // (A query, so the row-change planner has nothing to do with it.)
    let input = super::dml::statement_to_plan(state, &query)
        .await
        .sql_err()?;
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(DeclareCursor {
            name: folded(name),
            holdable: declare.hold == Some(true),
            binary: declare.binary == Some(true),
            names,
            input,
            schema: Arc::new(DFSchema::empty()),
        }),
    }))
}

/// Opens a planned cursor: its query starts, and waits for `FETCH`.
pub(super) async fn declare(
    session: &Arc<Session>,
    declaration: &DeclareCursor,
    text: String,
    control: &QueryControl,
) -> Result<Response> {
    if !declaration.holdable && !session.block.is_open() {
        return Err(SqlStateError::new(
            sqlstate::NO_ACTIVE_SQL_TRANSACTION,
            "DECLARE CURSOR can only be used in transaction blocks",
        ));
    }
    let stream = control
        .run(execute_stream(session, declaration.input.clone()))
        .await?;
    session.cursors.declare(Cursor::new(
        declaration.name.clone(),
        text,
        declaration.holdable,
        declaration.binary,
        declaration.names.clone(),
        stream,
    ))?;
    Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
}

/// How many rows a `FETCH` direction reads (`None`: all that are left).
fn count(direction: &FetchDirection) -> Result<Option<u64>> {
    let number = |v: &datafusion::sql::sqlparser::ast::ValueWithSpan| -> Result<u64> {
        match &v.value {
            Value::Number(n, _) => n.parse::<i64>().ok(),
            _ => None,
        }
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(backward)
    };
    Ok(match direction {
        FetchDirection::Count { limit } => Some(number(limit)?),
        FetchDirection::Next => Some(1),
        FetchDirection::All | FetchDirection::ForwardAll => None,
        FetchDirection::Forward { limit } => match limit {
            Some(limit) => Some(number(limit)?),
            None => Some(1),
        },
        _ => return Err(backward()),
    })
}

/// PostgreSQL's answer to a backward move of a cursor without `SCROLL`.
fn backward() -> SqlStateError {
    SqlStateError::new(
        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
        "cursor can only scan forward",
    )
    .with_hint("Quarry's cursors move forward only: FETCH [FORWARD] n, NEXT or ALL")
}

/// `FETCH direction FROM name`, or (`moving`) `MOVE`: the next rows, or
/// only their count.
pub(super) async fn fetch<C: Client>(
    client: &mut C,
    session: &Arc<Session>,
    name: &Ident,
    direction: &FetchDirection,
    moving: bool,
    format: &Format,
    control: &QueryControl,
) -> Result<Response> {
    let wanted = count(direction)?;
    let name = folded(name);
    let mut cursor = session.cursors.take(&name)?;
    let read = control.run(cursor.next_rows(wanted)).await;
    let (schema, names) = (cursor.schema.clone(), cursor.names.clone());
    session.cursors.put_back(cursor);
    let batches = read?;
    if moving {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        return Ok(Response::Execution(Tag::new("MOVE").with_rows(rows)));
    }
    let stream = MemoryStream::try_new(batches, schema, None).sql_err()?;
    let fields = FieldsCache::named(names);
    let mut response = respond(client, Box::pin(stream), format, control, Some(&fields))?;
    if let Response::Query(q) = &mut response {
        q.set_command_tag("FETCH");
    }
    Ok(response)
}

/// `CLOSE name` or `CLOSE ALL`.
pub(super) fn close(session: &Session, cursor: &CloseCursor) -> Result<Response> {
    match cursor {
        CloseCursor::All => session.cursors.close_all(),
        CloseCursor::Specific { name } => session.cursors.close(&folded(name))?,
    }
    Ok(Response::Execution(Tag::new("CLOSE CURSOR")))
}

/// The columns of cursor `name` as a Describe answers them.
pub(super) fn fields(
    session: &Session,
    name: &str,
    format: &Format,
) -> Option<pgwire::error::PgWireResult<Arc<Vec<FieldInfo>>>> {
    let (schema, names) = session.cursors.shape(name)?;
    Some(FieldsCache::named(names).fields(&schema, format, None))
}

/// The cursor a `FETCH` statement reads, if `stmt` is one (not a `MOVE`).
pub(super) fn fetched(stmt: &DfStatement) -> Option<String> {
    match stmt {
        DfStatement::Statement(s) => match s.as_ref() {
            Statement::Fetch { name, into, .. } if !is_move(into.as_ref()) => Some(folded(name)),
            _ => None,
        },
        _ => None,
    }
}
