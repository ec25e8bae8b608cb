//! Where the audit log lives: `audit.db` in the data directory, a SQLite
//! database of its own (WAL, `synchronous=FULL`) so that auditing never
//! waits on the catalog's connection, and a batch of records is one
//! transaction: after a crash the log holds whole batches, the chain
//! intact.
//!
//! Why SQLite and not Parquet as the other tables: the log is appended to
//! a few times a second in batches of any size, read back in order by
//! sequence number, and checked link by link; a row store with a primary
//! key on `seq` does all three without small files or compaction.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::chain::Record;
use crate::error::{Result, SqlStateError, sqlstate};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS audit_log (
    seq         INTEGER PRIMARY KEY,
    at_us       INTEGER NOT NULL,
    user_name   TEXT NOT NULL,
    role_name   TEXT,
    client_addr TEXT,
    session_id  INTEGER,
    kind        TEXT NOT NULL,
    statement   TEXT NOT NULL,
    objects     TEXT NOT NULL,
    rows        INTEGER,
    duration_us INTEGER NOT NULL,
    sqlstate    TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
"#;

fn store_err(e: rusqlite::Error) -> SqlStateError {
    SqlStateError::new(sqlstate::IO_ERROR, format!("audit log: {e}"))
}

/// The audit database's file in `data_dir`.
pub fn path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("audit.db")
}

/// Opens (creating) the log for writing.
pub fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(store_err)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 5000;",
    )
    .map_err(store_err)?;
    conn.execute_batch(SCHEMA).map_err(store_err)?;
    Ok(conn)
}

/// Opens the log for reading (a scan, a verification).
pub fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(store_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(store_err)?;
    Ok(conn)
}

/// The last record's sequence number and hash.
pub fn head(conn: &Connection) -> Result<Option<(i64, String)>> {
    conn.query_row(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(store_err)
}

/// Appends chained records (each with its `prev_hash` and `hash`) in one
/// transaction.
pub fn append(conn: &mut Connection, records: &[(Record, String, String)]) -> Result<()> {
    let tx = conn.transaction().map_err(store_err)?;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO audit_log (seq, at_us, user_name, role_name, client_addr,
                     session_id, kind, statement, objects, rows, duration_us, sqlstate,
                     prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )
            .map_err(store_err)?;
        for (r, prev, hash) in records {
            insert
                .execute(params![
                    r.seq,
                    r.at_us,
                    r.user,
                    r.role,
                    r.client,
                    r.session,
                    r.kind,
                    r.statement,
                    r.objects,
                    r.rows,
                    r.duration_us,
                    r.sqlstate,
                    prev,
                    hash
                ])
                .map_err(store_err)?;
        }
    }
    tx.commit().map_err(store_err)
}

/// Calls `each` with the records after `after` in sequence order, with
/// their `prev_hash` and `hash`, until it answers false.
pub fn each(
    conn: &Connection,
    after: i64,
    mut each: impl FnMut(Record, String, String) -> bool,
) -> Result<()> {
    let mut stmt = conn
        .prepare(
            "SELECT seq, at_us, user_name, role_name, client_addr, session_id, kind,
                    statement, objects, rows, duration_us, sqlstate, prev_hash, hash
             FROM audit_log WHERE seq > ?1 ORDER BY seq",
        )
        .map_err(store_err)?;
    let mut rows = stmt.query([after]).map_err(store_err)?;
    while let Some(row) = rows.next().map_err(store_err)? {
        let record = (|| -> rusqlite::Result<(Record, String, String)> {
            Ok((
                Record {
                    seq: row.get(0)?,
                    at_us: row.get(1)?,
                    user: row.get(2)?,
                    role: row.get(3)?,
                    client: row.get(4)?,
                    session: row.get(5)?,
                    kind: row.get(6)?,
                    statement: row.get(7)?,
                    objects: row.get(8)?,
                    rows: row.get(9)?,
                    duration_us: row.get(10)?,
                    sqlstate: row.get(11)?,
                },
                row.get(12)?,
                row.get(13)?,
            ))
        })()
        .map_err(store_err)?;
        let (record, prev, hash) = record;
        if !each(record, prev, hash) {
            break;
        }
    }
    Ok(())
}

/// The stored hash of record `seq`.
pub fn hash_of(conn: &Connection, seq: i64) -> Result<Option<String>> {
    conn.query_row("SELECT hash FROM audit_log WHERE seq = ?1", [seq], |r| {
        r.get(0)
    })
    .optional()
    .map_err(store_err)
}
