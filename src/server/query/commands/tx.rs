//! `BEGIN`, `COMMIT` and `ROLLBACK`. Statements commit as they complete, so a
//! transaction block is accepted for client compatibility and tracked only
//! to answer as PostgreSQL does: a warning for a nested `BEGIN` or a `COMMIT`
//! outside a block, and one for a `ROLLBACK` that cannot undo the writes the
//! block already committed.

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
) -> Result<Response> {
    let failed = client.transaction_status() == TransactionStatus::Error;
    let previous = std::mem::take(&mut *lock(&session.tx));
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
                        "{writes} statement(s) in this transaction block were already committed; \
                         Quarry commits each statement when it completes"
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
