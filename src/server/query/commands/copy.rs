//! `COPY`: from the client (`FROM STDIN`, set up at Parse and fed by
//! pgwire's CopyData messages into [`CopyIn`]), to the client (`TO STDOUT`,
//! rows encoded by `copy_out`), or to a file on the server (`TO 'file'`,
//! DataFusion's `COPY ... TO ... STORED AS`). The data formats themselves
//! (text and CSV parsing, CopyData encoding) are in `server::copy` and
//! `server::copy_out`, which know nothing of the front end.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::sql::sqlparser::ast::{CopyLegacyOption, CopyOption, CopySource, CopyTarget};
use futures::{Sink, SinkExt, stream};
use pgwire::api::ClientInfo;
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyResponse, Response, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};

use crate::error::{IntoSqlError, Result, SqlStateError, from_pgwire, sqlstate, to_pgwire};
use crate::server::ServerState;
use crate::server::copy::{CopyIn, CopySpec};
use crate::server::copy_out;
use crate::server::query::QueryHandler;
use crate::server::query::connection::{Client, format_options};
use crate::server::query::names::object_name;
use crate::server::query::run::execute_stream;
use crate::session::{QueryControl, Session};
use crate::sync::lock;

/// The in-progress COPY of a connection.
#[derive(Default)]
pub(super) struct CopySlot(pub(super) Mutex<Option<CopyIn>>);

/// A `COPY` statement's parts, borrowed from it.
#[derive(Clone, Copy, Debug)]
pub(in crate::server::query) struct CopyStatement<'s> {
    pub(super) source: &'s CopySource,
    /// `COPY ... TO`; else `COPY ... FROM`.
    pub(super) to: bool,
    pub(super) target: &'s CopyTarget,
    pub(super) options: &'s [CopyOption],
    pub(super) legacy_options: &'s [CopyLegacyOption],
}

impl CopyStatement<'_> {
    /// `COPY ... FROM STDIN`, the form Parse sets up.
    pub(in crate::server::query) fn is_from_stdin(&self) -> bool {
        !self.to && matches!(self.target, CopyTarget::Stdin)
    }
}

/// Sets up a `COPY ... FROM STDIN`: the table, its columns and the options.
/// Called at Parse time too, so a bad COPY fails before the client starts
/// sending data, as in PostgreSQL.
pub(in crate::server::query) fn copy_in(
    state: &ServerState,
    session: &Session,
    copy: &CopyStatement<'_>,
) -> Result<CopyIn> {
    let CopySource::Table {
        table_name,
        columns,
    } = copy.source
    else {
        return Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            "COPY (query) FROM STDIN is not valid: copy into a table",
        ));
    };
    let rel = object_name(session, table_name)?;
    session.checks().relation(
        &state.catalog,
        &session.block,
        &rel,
        crate::access::Privilege::Insert,
    )?;
    let data = state.catalog.managed_in(&rel, &session.block)?;
    let spec = CopySpec::from_options(copy.options, copy.legacy_options)?;
    Ok(CopyIn::new(rel.to_string(), data, spec, columns)?.in_block(session.block.clone()))
}

impl QueryHandler {
    /// Runs a `COPY`.
    pub(super) async fn copy<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        copy: CopyStatement<'_>,
        control: &QueryControl,
    ) -> Result<Response> {
        let CopyStatement {
            source,
            to,
            target,
            options,
            legacy_options,
        } = copy;
        match (to, target) {
            (false, CopyTarget::Stdin) => {
                let copy = copy_in(&self.state, session, &copy)?;
                let ncols = copy.columns();
                let format = copy.wire_format();
                let slot = client
                    .session_extensions()
                    .get_or_insert_with(CopySlot::default);
                *lock(&slot.0) = Some(copy);
                Ok(Response::CopyIn(CopyResponse::new(
                    format,
                    ncols,
                    stream::empty(),
                )))
            }
            (false, _) => Err(SqlStateError::unsupported(
                "COPY FROM a file or program is not supported; use COPY ... FROM STDIN (psql \\copy)",
            )),
            (true, CopyTarget::File { filename }) => {
                session
                    .checks()
                    .role(crate::access::WRITE_SERVER_FILES, "COPY to a file")?;
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
                    return Err(SqlStateError::internal("empty COPY"));
                };
                let state = session.ctx.state();
                let plan = state.statement_to_plan(copy.clone()).await.sql_err()?;
                self.run_plan(client, session, &copy, plan, &Format::UnifiedText, control)
                    .await
            }
            (true, CopyTarget::Stdout) => {
                let spec = CopySpec::from_options(options, legacy_options)?;
                if spec.format == crate::server::copy::CopyFormat::Binary {
                    return Err(SqlStateError::unsupported(
                        "COPY ... TO STDOUT in binary format is not supported; use text or csv",
                    ));
                }
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
                    return Err(SqlStateError::internal("empty COPY query"));
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
                let response =
                    copy_out::copy_out(stream, spec, format_options(client), control.clone())
                        .map_err(from_pgwire)?;
                Ok(Response::CopyOut(response))
            }
            (true, _) => Err(SqlStateError::unsupported(
                "COPY TO PROGRAM is not supported; use COPY ... TO STDOUT or TO 'file'",
            )),
        }
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

/// `COPY ... WITH (FREEZE ON)` (pgbench's) as `FREEZE true`: PostgreSQL's
/// boolean options take `on` and `off`, sqlparser's only `true` and
/// `false`. `None` for other statements.
pub(in crate::server::query) fn copy_booleans_spelled_out(sql: &str) -> Option<String> {
    let trimmed = sql.trim_start();
    if !trimmed.get(..4)?.eq_ignore_ascii_case("copy") {
        return None;
    }
    let lower = sql.to_ascii_lowercase();
    let mut out = sql.to_string();
    let mut changed = false;
    for (from, to) in [("freeze on", "freeze true"), ("freeze off", "freeze false")] {
        if let Some(at) = lower.find(from) {
            out.replace_range(at..at + from.len(), to);
            changed = true;
        }
    }
    changed.then_some(out)
}
