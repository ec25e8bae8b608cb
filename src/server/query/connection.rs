//! One client connection as the query front end sees it: the [`Client`]
//! its replies go to, and what it keeps between statements in pgwire's
//! session extensions (its [`Connection`]: session and statement cache; its
//! [`FormatOptions`]).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use futures::{Sink, SinkExt};
use pgwire::api::{ClientInfo, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::NoticeResponse;
use pgwire::types::format::FormatOptions;

use super::prepared::Prepared;
use crate::error::{Result, SqlStateError, from_pgwire, sqlstate, to_pgwire};
use crate::server::reuse::Validity;
use crate::session::Session;
use crate::sync::lock;

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

/// Buffers `message` to go out before the statement's reply (a notice, a
/// ParameterStatus).
pub(super) async fn feed<C: Client>(client: &mut C, message: PgWireBackendMessage) -> Result<()> {
    client
        .feed(message)
        .await
        .map_err(|e| from_pgwire(write_error(e)))
}

/// What a connection keeps for its statements, beside pgwire's own state
/// (portals, statements by name): its session, and the statements prepared
/// on it by text. Kept in pgwire's session extensions, so the session itself
/// holds no wire-protocol state.
pub struct Connection {
    pub session: Arc<Session>,
    /// Statements prepared on this connection, by text (see `server::reuse`).
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
pub(super) fn connection<C: ClientInfo>(client: &C) -> PgWireResult<Arc<Connection>> {
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
pub(super) fn format_options<C: ClientInfo>(client: &C) -> Arc<FormatOptions> {
    client
        .session_extensions()
        .get_or_insert_with(|| options_of(client.metadata()))
}

/// pgwire's options from the connection metadata, and the session's
/// TimeZone, in which `timestamptz` values are written.
pub(super) fn options_of(metadata: &HashMap<String, String>) -> FormatOptions {
    let mut options = FormatOptions::from_client_metadata(metadata);
    if let Some(zone) = metadata.get("timezone") {
        options.time_zone = zone.clone();
    }
    options
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
