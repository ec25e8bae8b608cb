//! A session's cursors: `DECLARE name CURSOR [WITH HOLD] FOR query`, read
//! with `FETCH` and `MOVE`, ended by `CLOSE`, by the end of their
//! transaction block (unless `WITH HOLD`) or of the session, and listed by
//! `pg_cursors`.
//!
//! A cursor is its query's running stream: a `FETCH` pulls as many rows as
//! it asks for and leaves the rest unread, so a cursor over a large result
//! holds one batch, not the result. It reads the snapshot its query was
//! planned with, whatever commits meanwhile, so a cursor `WITH HOLD` goes on
//! after its block ends with the rows it would have had (PostgreSQL
//! materializes them at `COMMIT` to the same effect). Cursors move forward
//! only: `FETCH BACKWARD`, `PRIOR`, `FIRST`, `LAST`, `ABSOLUTE` and
//! `RELATIVE` are refused, as PostgreSQL refuses them for a cursor declared
//! without `SCROLL`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session as DfSession;
use datafusion::config::ConfigOptions;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::catalog::live::LiveRows;
use crate::error::{IntoSqlError, Result, SqlStateError, sqlstate};
use crate::sync::lock;

/// The system table's name.
pub const CURSORS: &str = "pg_cursors";

/// The names PostgreSQL gives a result's columns, where they differ from
/// DataFusion's (`compat::colnames`).
pub type ColumnNames = Option<Arc<[Option<String>]>>;

/// One open cursor.
pub struct Cursor {
    pub name: String,
    /// The `DECLARE` statement's text, as `pg_cursors` shows it.
    pub statement: String,
    pub holdable: bool,
    pub binary: bool,
    pub created: SystemTime,
    /// Its rows' schema, and the names PostgreSQL gives its columns.
    pub schema: SchemaRef,
    pub names: ColumnNames,
    /// `None` once the query has no more rows.
    stream: Option<SendableRecordBatchStream>,
    /// Rows of the last batch pulled that no `FETCH` took yet.
    pending: Option<RecordBatch>,
}

impl Cursor {
    pub fn new(
        name: String,
        statement: String,
        holdable: bool,
        binary: bool,
        names: ColumnNames,
        stream: SendableRecordBatchStream,
    ) -> Cursor {
        Cursor {
            name,
            statement,
            holdable,
            binary,
            created: SystemTime::now(),
            schema: stream.schema(),
            names,
            stream: Some(stream),
            pending: None,
        }
    }

    /// The next `count` rows (all that are left with `None`), in batches.
    pub async fn next_rows(&mut self, count: Option<u64>) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        let mut wanted = count;
        while wanted != Some(0) {
            let batch = match self.pending.take() {
                Some(batch) => batch,
                None => match self.stream.as_mut() {
                    None => break,
                    Some(stream) => match stream.next().await {
                        Some(batch) => batch.sql_err()?,
                        None => {
                            self.stream = None;
                            break;
                        }
                    },
                },
            };
            let rows = batch.num_rows() as u64;
            let take = wanted.map_or(rows, |w| w.min(rows));
            if take < rows {
                self.pending = Some(batch.slice(take as usize, (rows - take) as usize));
            }
            if take > 0 {
                out.push(batch.slice(0, take as usize));
            }
            wanted = wanted.map(|w| w - take);
        }
        Ok(out)
    }
}

/// A session's open cursors, by name.
#[derive(Default)]
pub struct Cursors {
    open: Mutex<BTreeMap<String, Cursor>>,
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursors")
            .field("open", &lock(&self.open).keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Cursors {
    /// The session's cursors, from its configuration (`pg_cursors`).
    pub fn of(config: &ConfigOptions) -> Option<Arc<Cursors>> {
        config
            .extensions
            .get::<CursorsExtension>()
            .map(|e| e.0.clone())
    }

    /// Opens `cursor`; its name must be free, as in PostgreSQL.
    pub fn declare(&self, cursor: Cursor) -> Result<()> {
        let mut open = lock(&self.open);
        if open.contains_key(&cursor.name) {
            return Err(SqlStateError::new(
                sqlstate::DUPLICATE_CURSOR,
                format!("cursor \"{}\" already exists", cursor.name),
            ));
        }
        open.insert(cursor.name.clone(), cursor);
        Ok(())
    }

    /// Takes cursor `name` out to read it (`put_back` returns it), so no
    /// lock is held while its query runs.
    pub fn take(&self, name: &str) -> Result<Cursor> {
        lock(&self.open).remove(name).ok_or_else(|| missing(name))
    }

    pub fn put_back(&self, cursor: Cursor) {
        lock(&self.open).insert(cursor.name.clone(), cursor);
    }

    /// The schema and column names of cursor `name`.
    pub fn shape(&self, name: &str) -> Option<(SchemaRef, ColumnNames)> {
        lock(&self.open)
            .get(name)
            .map(|c| (c.schema.clone(), c.names.clone()))
    }

    /// `CLOSE name`.
    pub fn close(&self, name: &str) -> Result<()> {
        lock(&self.open)
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| missing(name))
    }

    /// `CLOSE ALL`.
    pub fn close_all(&self) {
        lock(&self.open).clear();
    }

    /// The end of a transaction block: cursors without `WITH HOLD` close.
    pub fn block_ended(&self) {
        lock(&self.open).retain(|_, c| c.holdable);
    }
}

fn missing(name: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::INVALID_CURSOR_NAME,
        format!("cursor \"{name}\" does not exist"),
    )
}

/// The session's [`Cursors`] in its configuration, where `pg_cursors`
/// finds them. Not a setting.
#[derive(Debug, Clone)]
pub struct CursorsExtension(pub Arc<Cursors>);

quarry_udfs::config_handle!(CursorsExtension, "quarry_cursors");

/// `pg_cursors`: the scanning session's open cursors, in PostgreSQL's
/// columns.
#[derive(Debug)]
pub struct CursorList {
    schema: SchemaRef,
}

impl Default for CursorList {
    fn default() -> Self {
        CursorList {
            schema: Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, false),
                Field::new("statement", DataType::Utf8, false),
                Field::new("is_holdable", DataType::Boolean, false),
                Field::new("is_binary", DataType::Boolean, false),
                Field::new("is_scrollable", DataType::Boolean, false),
                Field::new(
                    "creation_time",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                    false,
                ),
            ])),
        }
    }
}

#[async_trait]
impl LiveRows for CursorList {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, state: &dyn DfSession) -> datafusion::error::Result<RecordBatch> {
        let rows: Vec<(String, String, bool, bool, i64)> = match Cursors::of(state.config_options())
        {
            Some(cursors) => lock(&cursors.open)
                .values()
                .map(|c| {
                    let micros = c
                        .created
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_micros() as i64);
                    (
                        c.name.clone(),
                        c.statement.clone(),
                        c.holdable,
                        c.binary,
                        micros,
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.1))),
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.2)))),
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.3)))),
            Arc::new(BooleanArray::from_iter(rows.iter().map(|_| Some(false)))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.4))
                    .with_timezone("+00:00"),
            ),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}
