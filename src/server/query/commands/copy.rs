//! COPY with the client: `COPY ... FROM STDIN` set up at Parse and fed by
//! pgwire's CopyData messages.

use std::fmt::Debug;
use std::sync::Mutex;

use async_trait::async_trait;
use datafusion::sql::sqlparser::ast::{CopySource, Statement};
use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::Tag;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};

use crate::error::{Result, SqlStateError, sqlstate, to_pgwire};
use crate::server::ServerState;
use crate::server::copy::{CopyIn, CopySpec};
use crate::server::query::QueryHandler;
use crate::server::query::names::object_name;
use crate::session::{Session, lock};

/// The in-progress COPY of a connection.
#[derive(Default)]
pub(super) struct CopySlot(pub(super) Mutex<Option<CopyIn>>);

/// Sets up a `COPY ... FROM STDIN`: the table, its columns and the options.
/// Called at Parse time too, so a bad COPY fails before the client starts
/// sending data, as in PostgreSQL.
pub(in crate::server::query) fn copy_in(
    state: &ServerState,
    session: &Session,
    stmt: &Statement,
) -> Result<CopyIn> {
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
