//! `BEGIN`, `COMMIT` and `ROLLBACK`. Inside a block, writes of rows to
//! managed tables and changes to relations (`CREATE`, `DROP`, `ALTER ...
//! RENAME`, `COMMENT ON`) are staged and commit together at `COMMIT`
//! (`catalog::staging`); schemas, sequences and models commit as their
//! statement completes. Answered as PostgreSQL does: a warning for a
//! nested `BEGIN` or a `COMMIT` outside a block, and one for a `ROLLBACK`
//! naming how many changes it could not undo.
//!
//! A block's isolation level is its `BEGIN`'s `ISOLATION LEVEL`, else the
//! session's `default_transaction_isolation`; `SET TRANSACTION` changes it
//! before the block's first statement (`catalog::staging::Isolation`).

use datafusion::sql::sqlparser::ast::{TransactionIsolationLevel, TransactionMode};
use pgwire::api::results::{Response, Tag};
use pgwire::messages::response::TransactionStatus;

use crate::catalog::staging::Isolation;
use crate::error::{Result, SqlStateError, sqlstate};
use crate::server::query::connection::{Client, feed, notice};
use crate::session::{Session, TxBlock};
use crate::sync::lock;

/// The isolation level a transaction mode names; `None` for an access
/// mode.
pub(super) fn isolation_of(mode: &TransactionMode) -> Result<Option<Isolation>> {
    Ok(match mode {
        TransactionMode::IsolationLevel(level) => Some(match level {
            TransactionIsolationLevel::ReadUncommitted
            | TransactionIsolationLevel::ReadCommitted => Isolation::ReadCommitted,
            TransactionIsolationLevel::RepeatableRead => Isolation::RepeatableRead,
            TransactionIsolationLevel::Serializable => Isolation::Serializable,
            TransactionIsolationLevel::Snapshot => {
                return Err(SqlStateError::new(
                    sqlstate::SYNTAX_ERROR,
                    "syntax error at or near \"SNAPSHOT\"",
                )
                .with_hint("REPEATABLE READ is snapshot isolation"));
            }
        }),
        TransactionMode::AccessMode(_) => None,
    })
}

/// `BEGIN` / `START TRANSACTION`.
pub(super) async fn begin<C: Client>(
    client: &mut C,
    session: &Session,
    modes: &[TransactionMode],
) -> Result<Response> {
    let mut isolation = None;
    for mode in modes {
        if let Some(level) = isolation_of(mode)? {
            isolation = Some(level);
        }
    }
    let already_open = {
        let mut tx = lock(&session.tx);
        let open = matches!(*tx, TxBlock::Open { .. });
        if !open {
            *tx = TxBlock::Open { writes: 0 };
            let isolation = isolation.unwrap_or_else(|| session.default_isolation());
            session.block.open(isolation);
            session.isolation_now(Some(isolation));
        }
        open
    };
    if !already_open {
        session.keep_local_point(None).await;
    }
    if already_open {
        feed(
            client,
            notice(
                "WARNING",
                sqlstate::ACTIVE_SQL_TRANSACTION,
                "there is already a transaction in progress",
            ),
        )
        .await?;
    }
    Ok(Response::TransactionStart(Tag::new("BEGIN")))
}

/// `COMMIT`, or `ROLLBACK` of the whole block (`rollback`). In a failed
/// block both roll back.
pub(super) async fn end<C: Client>(
    client: &mut C,
    session: &Session,
    rollback: bool,
    catalog: &crate::catalog::Catalog,
) -> Result<Response> {
    let failed = client.transaction_status() == TransactionStatus::Error;
    let previous = std::mem::take(&mut *lock(&session.tx));
    // The staged rows: listed together, or deleted. When there were any,
    // plans kept with the block's view of its tables (this session's) or
    // without its rows (every other session's) are made again; a read-only
    // block (drivers wrap every SELECT in one) leaves kept plans alone.
    // Plans made from a snapshot must not outlive the block.
    let snapshot = session.block.has_snapshot();
    let ended = if rollback || failed {
        session.roll_back_local(None).await;
        Ok(session.block.roll_back())
    } else {
        session.release_local(None);
        session.block.commit(catalog).await
    };
    session.isolation_now(None);
    if snapshot {
        session.relations_changed();
    }
    if !matches!(ended, Ok(false)) {
        // Plans made with the block's view of the catalog go too.
        session.relations_changed();
        catalog.store().advance();
    }
    // Cursors without WITH HOLD end with their block.
    session.cursors.block_ended();
    ended?;
    match previous {
        TxBlock::None if client.transaction_status() == TransactionStatus::Idle => {
            feed(
                client,
                notice(
                    "WARNING",
                    sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                    "there is no transaction in progress",
                ),
            )
            .await?;
        }
        TxBlock::Open { writes } if rollback && writes > 0 => {
            feed(
                client,
                notice(
                    "WARNING",
                    sqlstate::INVALID_TRANSACTION_STATE,
                    format!(
                        "{writes} statement(s) in this transaction block changed schemas, \
                         sequences or models and were already committed; \
                         everything else was rolled back"
                    ),
                ),
            )
            .await?;
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
