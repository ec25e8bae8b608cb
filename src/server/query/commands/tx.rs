//! `BEGIN`, `COMMIT` and `ROLLBACK`. Inside a block, writes of rows to
//! managed tables and changes to relations (`CREATE`, `DROP`, `ALTER ...
//! RENAME`, `COMMENT ON`) are staged and commit together at `COMMIT`
//! (`catalog::staging`); schemas, sequences and models commit as their
//! statement completes. Answered as PostgreSQL does: a warning for a
//! nested `BEGIN` or a `COMMIT` outside a block, and one for a `ROLLBACK`
//! naming how many changes it could not undo.

use pgwire::api::results::{Response, Tag};
use pgwire::messages::response::TransactionStatus;

use crate::error::{Result, sqlstate};
use crate::server::query::connection::{Client, feed, notice};
use crate::session::{Session, TxBlock};
use crate::sync::lock;

/// `BEGIN` / `START TRANSACTION`.
pub(super) async fn begin<C: Client>(client: &mut C, session: &Session) -> Result<Response> {
    let already_open = {
        let mut tx = lock(&session.tx);
        let open = matches!(*tx, TxBlock::Open { .. });
        if !open {
            *tx = TxBlock::Open { writes: 0 };
            session.block.open();
        }
        open
    };
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
    let ended = if rollback || failed {
        Ok(session.block.roll_back())
    } else {
        session.block.commit(catalog).await
    };
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
