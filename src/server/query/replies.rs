//! Extended-protocol replies that wait for `Sync` (or `Flush`) to reach the
//! socket, as PostgreSQL's do.
//!
//! pgwire's default handlers `send` ParseComplete, BindComplete, CloseComplete
//! and the Describe replies, and `send` writes to the socket at once: a client
//! that pipelines Parse/Bind/Describe/Execute/Sync (libpq, psycopg, JDBC,
//! tokio-postgres all do) got four TCP segments and four wake-ups per query
//! instead of one. These versions only buffer; `on_sync` and `on_flush`
//! (pgwire's) write everything buffered, and an error reply flushes too.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::portal::Portal;
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{DescribeResponse, FieldInfo, QueryResponse};
use pgwire::api::stmt::StoredStatement;
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::{NoData, ParameterDescription, RowDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Close, CloseComplete, Describe, Parse, ParseComplete,
    TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::CommandComplete;

use super::QueryHandler;
use super::connection::{Client, write_error};
use super::prepared::Prepared;
use crate::error::sqlstate;

/// `Parse`: parses and stores the statement; replies ParseComplete, unflushed.
pub async fn parse<H, C>(handler: &H, client: &mut C, message: Parse) -> PgWireResult<()>
where
    H: ExtendedQueryHandler,
    C: Client + ClientPortalStore,
    C::PortalStore: PortalStore<Statement = H::Statement>,
{
    let name = message.name.as_deref().unwrap_or(DEFAULT_NAME).to_owned();
    match StoredStatement::parse(client, &message, handler.query_parser()).await? {
        Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
        None => client.portal_store().put_empty_statement(&name),
    }
    client
        .feed(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
        .await
        .map_err(write_error)?;
    Ok(())
}

/// `Bind`: makes a portal of a stored statement; replies BindComplete, unflushed.
pub async fn bind<S: Clone, C>(client: &mut C, message: Bind) -> PgWireResult<()>
where
    C: Client + ClientPortalStore,
    C::PortalStore: PortalStore<Statement = S>,
{
    let statement_name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
    let portal_name = message.portal_name.as_deref().unwrap_or(DEFAULT_NAME);
    match client.portal_store().get_statement(statement_name) {
        Some(Entry::Value(statement)) => {
            let portal = Portal::try_new(&message, statement)?;
            client.portal_store().put_portal(Arc::new(portal));
        }
        Some(Entry::Empty) => {
            if !message.parameters.is_empty() {
                return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                    "ERROR".to_owned(),
                    sqlstate::PROTOCOL_VIOLATION.to_owned(),
                    format!(
                        "bind message supplies {} parameters, but prepared statement {statement_name:?} requires 0",
                        message.parameters.len(),
                    ),
                ))));
            }
            client.portal_store().put_empty_portal(portal_name);
        }
        None => return Err(PgWireError::StatementNotFound(statement_name.to_owned())),
    }
    client
        .feed(PgWireBackendMessage::BindComplete(BindComplete::new()))
        .await
        .map_err(write_error)?;
    Ok(())
}

/// `Describe` of a statement or a portal; the reply is buffered. A portal's
/// columns come from the statement's cached descriptions, not a copy of them
/// (pgwire's `do_describe_portal` wants an owned list every time). Bound as
/// pgwire binds it, not by [`Client`]: it calls pgwire's
/// `do_describe_statement`, whose signature states that bound.
pub async fn describe<C>(
    handler: &QueryHandler,
    client: &mut C,
    message: Describe,
) -> PgWireResult<()>
where
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore<Statement = Prepared>,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
    match message.target_type {
        TARGET_TYPE_BYTE_STATEMENT => match client.portal_store().get_statement(name) {
            Some(Entry::Value(stmt))
                if let Some(fields) = cursor_fields(
                    client,
                    &stmt.statement,
                    &pgwire::api::portal::Format::UnifiedText,
                )? =>
            {
                client
                    .feed(PgWireBackendMessage::ParameterDescription(
                        ParameterDescription::new(vec![]),
                    ))
                    .await?;
                feed_fields(client, &fields).await
            }
            Some(Entry::Value(stmt)) => {
                let reply = handler.do_describe_statement(client, &stmt).await?;
                feed_describe(client, &reply).await
            }
            Some(Entry::Empty) => {
                // An empty statement has no parameters and returns no rows.
                client
                    .feed(PgWireBackendMessage::ParameterDescription(
                        ParameterDescription::new(vec![]),
                    ))
                    .await?;
                client
                    .feed(PgWireBackendMessage::NoData(NoData::new()))
                    .await?;
                Ok(())
            }
            None => Err(PgWireError::StatementNotFound(name.to_owned())),
        },
        TARGET_TYPE_BYTE_PORTAL => match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal))
                if let Some(fields) = cursor_fields(
                    client,
                    &portal.statement.statement,
                    &portal.result_column_format,
                )? =>
            {
                feed_fields(client, &fields).await
            }
            Some(Entry::Value(portal)) => {
                let fields = handler
                    .parser
                    .result_fields(&portal.statement.statement, &portal.result_column_format)?;
                feed_fields(client, &fields).await
            }
            Some(Entry::Empty) => {
                client
                    .feed(PgWireBackendMessage::NoData(NoData::new()))
                    .await?;
                Ok(())
            }
            // A cursor is a portal too: psycopg describes its named
            // cursors by name after DECLARE.
            None => {
                let session = super::connection::connection(client)?.session.clone();
                match super::cursor::fields(
                    &session,
                    name,
                    &pgwire::api::portal::Format::UnifiedText,
                ) {
                    Some(fields) => feed_fields(client, &fields?).await,
                    None => Err(PgWireError::PortalNotFound(name.to_owned())),
                }
            }
        },
        other => Err(PgWireError::InvalidTargetType(other)),
    }
}

/// The columns of the cursor `statement` fetches from, when it is a
/// `FETCH` of an open cursor of the client's session.
fn cursor_fields<C: ClientInfo>(
    client: &C,
    statement: &Prepared,
    format: &pgwire::api::portal::Format,
) -> PgWireResult<Option<Arc<Vec<FieldInfo>>>> {
    let super::prepared::Stmt::Df(stmt) = statement.stmt.as_ref() else {
        return Ok(None);
    };
    let Some(name) = super::cursor::fetched(stmt) else {
        return Ok(None);
    };
    let session = super::connection::connection(client)?.session.clone();
    super::cursor::fields(&session, &name, format).transpose()
}

async fn feed_describe<C: Client, D>(client: &mut C, reply: &D) -> PgWireResult<()>
where
    D: DescribeResponse,
{
    if let Some(types) = reply.parameters() {
        client
            .feed(PgWireBackendMessage::ParameterDescription(
                ParameterDescription::new(types.iter().map(|t| t.oid()).collect()),
            ))
            .await
            .map_err(write_error)?;
    }
    feed_fields(client, reply.fields()).await
}

/// RowDescription of `fields`, or NoData for a statement that returns no
/// rows, as PostgreSQL answers (pgwire sends an empty RowDescription when the
/// statement has parameters).
async fn feed_fields<C: Client>(client: &mut C, fields: &[FieldInfo]) -> PgWireResult<()> {
    let message = if fields.is_empty() {
        PgWireBackendMessage::NoData(NoData::new())
    } else {
        PgWireBackendMessage::RowDescription(RowDescription::new(
            fields.iter().map(Into::into).collect(),
        ))
    };
    client.feed(message).await.map_err(write_error)?;
    Ok(())
}

/// `Close` of a statement or a portal; CloseComplete is buffered.
pub async fn close<S, C>(client: &mut C, message: Close) -> PgWireResult<()>
where
    C: Client + ClientPortalStore,
    C::PortalStore: PortalStore<Statement = S>,
{
    let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
    match message.target_type {
        TARGET_TYPE_BYTE_STATEMENT => client.portal_store().rm_statement(name),
        TARGET_TYPE_BYTE_PORTAL => client.portal_store().rm_portal(name),
        _ => {}
    }
    client
        .feed(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
        .await
        .map_err(write_error)?;
    Ok(())
}

/// The rows of an executed portal, then its CommandComplete, buffered. What
/// pgwire's `send_query_response` does for an extended-protocol Execute, less
/// its tag: it builds a `Tag` and then the text with `format!`, two
/// allocations and the formatting machinery for every statement.
pub async fn rows<C: Client>(client: &mut C, results: QueryResponse) -> PgWireResult<()> {
    let QueryResponse {
        command_tag,
        mut data_rows,
        ..
    } = results;
    let mut rows: u64 = 0;
    while let Some(row) = data_rows.next().await {
        client
            .feed(PgWireBackendMessage::DataRow(row?))
            .await
            .map_err(write_error)?;
        rows += 1;
    }
    let mut digits = itoa::Buffer::new();
    let count = digits.format(rows);
    let mut tag = String::with_capacity(command_tag.len() + 1 + count.len());
    tag.push_str(&command_tag);
    tag.push(' ');
    tag.push_str(count);
    client
        .feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(
            tag,
        )))
        .await
        .map_err(write_error)?;
    Ok(())
}
