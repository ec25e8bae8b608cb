//! The query front end: parses statements, runs the ones DataFusion does not
//! (SET/SHOW, transactions, COPY, DDL against the persistent catalog) and
//! streams everything else from DataFusion, for the simple and the extended
//! protocol alike.
//!
//! Its modules, each depending only on those listed before it:
//!
//! - [`prepared`]: a parsed statement and what its executions share;
//! - [`connection`]: the client, and what its connection keeps between
//!   statements;
//! - `names`: relation names resolved against the session;
//! - `run`: running a logical plan;
//! - `commands`: the statements the front end runs itself;
//! - `models`: `CREATE MODEL` and the other model statements;
//! - `execute`: one statement, whatever runs it;
//! - `parse`: Parse, and what Describe answers;
//! - `replies`: the extended protocol's buffered replies;
//! - this module: pgwire's simple and extended query handlers, which call
//!   the others (its COPY handler is in `commands::copy`).

mod commands;
pub mod connection;
mod cursor;
mod dml;
mod erasure;
mod execute;
mod models;
mod names;
mod parse;
mod pg_rules;
mod planner;
pub mod prepared;
mod replies;
mod run;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_execution_response, send_query_response,
};
use pgwire::api::results::Response;
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::{Bind, Close, Describe, Execute, Parse};
use pgwire::messages::response::{EmptyQueryResponse, TransactionStatus};
use tracing::debug;

use super::ServerState;
use crate::error::{error_info_in, to_pgwire};
use crate::server::reuse::Validity;
use connection::connection;
use prepared::{Names, Parser, Prepared};

/// Simple, extended and COPY handling for every connection.
pub struct QueryHandler {
    pub(crate) state: Arc<ServerState>,
    pub(crate) parser: Arc<Parser>,
}

impl QueryHandler {
    pub fn new(state: Arc<ServerState>) -> Self {
        QueryHandler {
            parser: Arc::new(Parser::new(state.clone())),
            state,
        }
    }
}

/// Whether `stmt` is a `ROLLBACK TO SAVEPOINT`.
fn rolls_back_to_savepoint(stmt: &prepared::Stmt) -> bool {
    matches!(
        stmt,
        prepared::Stmt::Df(stmt)
            if matches!(commands::Command::of(stmt), Some(commands::Command::RollbackToSavepoint(_)))
    )
}

/// A failed block about to run `ROLLBACK TO SAVEPOINT` marked usable again.
/// PostgreSQL's `ROLLBACK TO` recovers a failed block (psql's
/// `ON_ERROR_ROLLBACK`, pgJDBC's `autosave` rely on it); pgwire reads the
/// block's status once, before the statement runs, and would answer it
/// failed still. Should the savepoint not exist, the statement's error fails
/// the block again.
fn recovering<C: ClientInfo>(client: &mut C, statement: Option<&prepared::Stmt>) {
    if client.transaction_status() == TransactionStatus::Error
        && statement.is_some_and(rolls_back_to_savepoint)
    {
        client.set_transaction_status(TransactionStatus::Transaction);
    }
}

/// After a statement failed: a `COMMIT` that fails ends its block, as
/// PostgreSQL's does (the client may run the transaction again without a
/// `ROLLBACK` first). When the session holds no block but the client was
/// told it is in one, the status goes back to idle and this answers true;
/// the error must then leave through pgwire's error path, which keeps an
/// idle status idle.
fn block_ended<C: ClientInfo>(client: &mut C, session: &crate::session::Session) -> bool {
    let open = !matches!(
        *crate::sync::lock(&session.tx),
        crate::session::TxBlock::None
    );
    if open || client.transaction_status() == TransactionStatus::Idle {
        return false;
    }
    client.set_transaction_status(TransactionStatus::Idle);
    true
}

/// The row count of a statement's command tag (`INSERT 0 5`, `UPDATE 3`,
/// `COPY 10`), for the audit log; a query's rows are counted as they
/// stream (`server::stream`).
fn audit_rows(control: &crate::session::QueryControl, response: &Response) {
    let tag = match response {
        Response::Execution(tag) => tag,
        _ => return,
    };
    let text = pgwire::messages::response::CommandComplete::from(tag.clone()).tag;
    if let Some(rows) = text.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()) {
        control.add_rows(rows);
    }
}

/// Sends what the statements before a failed one answered, as pgwire's
/// simple-query loop would have.
async fn send_responses<C>(client: &mut C, responses: Vec<Response>) -> PgWireResult<()>
where
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for response in responses {
        match response {
            Response::Query(results) => send_query_response(client, results, true).await?,
            Response::Execution(tag)
            | Response::TransactionStart(tag)
            | Response::TransactionEnd(tag) => send_execution_response(client, tag).await?,
            Response::EmptyQuery => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?
            }
            Response::Error(err) => {
                client
                    .feed(PgWireBackendMessage::ErrorResponse((*err).into()))
                    .await?
            }
            Response::CopyOut(result) => {
                pgwire::api::copy::send_copy_out_response(client, result).await?
            }
            // A copy in or out-and-in ends the list it is in.
            Response::CopyIn(_) | Response::CopyBoth(_) => {}
        }
    }
    Ok(())
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn on_query<C>(
        &self,
        client: &mut C,
        query: pgwire::messages::simplequery::Query,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if client.transaction_status() == TransactionStatus::Error {
            // Only the first statement decides: PostgreSQL runs a list's
            // statements in order, and a failed block refuses any other.
            let first = self
                .parser
                .parse_all(&query.query)
                .ok()
                .and_then(|s| s.into_iter().next());
            recovering(client, first.as_ref());
        }
        self._on_query(client, query).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        debug!(query, "simple query");
        let connection = connection(client)?;
        let text: Arc<str> = Arc::from(query);
        let control = connection.session.start_query(&text);
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
                    Err(e) => {
                        control.failed(e.code);
                        return Ok(vec![Response::Error(Box::new(error_info_in(
                            e,
                            Some(query),
                        )))]);
                    }
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
                        Err(e) => {
                            control.failed(e.code);
                            return Ok(vec![Response::Error(Box::new(error_info_in(
                                e,
                                Some(query),
                            )))]);
                        }
                    }
                } else {
                    statements
                        .into_iter()
                        .map(|stmt| {
                            Prepared::new(
                                stmt,
                                text.clone(),
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
                    audit_rows(&control, &r);
                    let copy = matches!(r, Response::CopyIn(_));
                    responses.push(r);
                    if copy {
                        break;
                    }
                }
                Err(e) => {
                    control.failed(e.code);
                    let info = Box::new(error_info_in(e, Some(query)));
                    if block_ended(client, &connection.session) {
                        // pgwire would mark the block failed after an error
                        // response; raised instead, its status stays idle.
                        send_responses(client, responses).await?;
                        return Err(PgWireError::UserError(info));
                    }
                    // PostgreSQL stops a multi-statement query at the first error.
                    responses.push(Response::Error(info));
                    break;
                }
            }
        }
        Ok(responses)
    }
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
        let text: Arc<str> = message.query.as_str().into();
        let result = replies::parse(self, client, message).await;
        // A statement refused at Parse never reaches Execute: audited here.
        if let Err(e) = &result
            && let Ok(connection) = connection(client)
        {
            let code = match e {
                PgWireError::UserError(info) => info.code.clone(),
                _ => crate::error::sqlstate::PROTOCOL_VIOLATION.to_string(),
            };
            connection.session.start_query(&text).failed(&code);
        }
        result
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
        if client.transaction_status() == TransactionStatus::Error
            && let Some(Entry::Value(portal)) = client.portal_store().get_portal(name)
        {
            recovering(client, Some(portal.statement.statement.stmt.as_ref()));
        }
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
            Some(plan) => Some(prepared.derived.decode(portal, plan)?),
            None => None,
        };
        let control = session.start_query(&prepared.text);
        let result = self
            .execute(
                client,
                session,
                prepared,
                params.as_ref(),
                &portal.result_column_format,
                &control,
            )
            .await;
        match &result {
            Ok(response) => audit_rows(&control, response),
            Err(e) => {
                control.failed(e.code);
                block_ended(client, session);
            }
        }
        result.map_err(to_pgwire)
    }
}
