//! `UPDATE`, `DELETE` and `MERGE` of a managed table, by copy-on-write of
//! the Parquet files that hold a changed row.
//!
//! A statement's `WHERE` (with its joins and subqueries) is an ordinary
//! query over [`Positions`], the table with one more column, [`POSITION`]:
//! which file of the statement's snapshot a row is in, and where. The query
//! yields the positions of the rows that change (and, for an `UPDATE`, their
//! new values); [`apply`] then writes each file that holds one of them again
//! without those rows, adds the updated rows as a new file, and commits the
//! new files in place of the old ones as one version, through the same
//! protocol as every write (or stages them in an open transaction block).
//!
//! Copy-on-write was chosen over deletion vectors by what scans cost: a
//! table that was updated still scans as plain Parquet, with its pruning
//! and statistics, and nothing has to merge a delete file into every read;
//! the price is paid by the write, in proportion to the files it touches
//! (4 Mi rows at most each, see `writer.rs`). Analytical tables change in
//! batches, where the files touched are the files read anyway.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt64Array};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::streaming::PartitionStream;

use super::staging::Block;
use super::store::DataFile;
use super::table::TableData;
use super::writer::conform;
use crate::error::{Result, SqlStateError, io_error};

/// The hidden column of [`Positions`]: a row's file (its index in the
/// statement's snapshot) in the high bits and its row in that file below.
pub const POSITION: &str = "__quarry_pos";

/// Bits of [`POSITION`] that count rows within a file (files hold at most
/// 4 Mi rows, see `writer.rs`; this leaves room for 2^24 files).
const ROW_BITS: u32 = 40;
// The largest file the writer makes fits the row bits.
const _: () = assert!(super::writer::ROWS_PER_FILE < 1 << ROW_BITS);

/// A managed table seen with [`POSITION`], for the query of an `UPDATE` or
/// `DELETE`. Planned unbound; each execution binds it to the files the
/// statement reads ([`Positions::bound`]).
#[derive(Debug, Clone)]
pub struct Positions {
    data: Arc<TableData>,
    schema: SchemaRef,
    files: Option<Arc<[DataFile]>>,
}

impl Positions {
    pub fn new(data: Arc<TableData>) -> Positions {
        let mut fields: Vec<Arc<Field>> = data.schema.fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(POSITION, DataType::UInt64, false)));
        Positions {
            schema: Arc::new(Schema::new(fields)),
            data,
            files: None,
        }
    }

    pub fn data(&self) -> &Arc<TableData> {
        &self.data
    }

    /// The same table over `files`, the snapshot one execution reads.
    pub fn bound(&self, files: Arc<[DataFile]>) -> Positions {
        Positions {
            files: Some(files),
            ..self.clone()
        }
    }
}

#[async_trait]
impl TableProvider for Positions {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let Some(files) = &self.files else {
            return Err(
                SqlStateError::internal("a row change was executed before it was bound").into_df(),
            );
        };
        if files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let partitions: Vec<Arc<dyn PartitionStream>> = files
            .iter()
            .enumerate()
            .map(|(index, file)| {
                Arc::new(FileRows {
                    data: self.data.clone(),
                    schema: self.schema.clone(),
                    name: file.name.clone(),
                    index: index as u64,
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        StreamingTable::try_new(self.schema.clone(), partitions)?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// One file's rows with their positions.
struct FileRows {
    data: Arc<TableData>,
    schema: SchemaRef,
    name: String,
    index: u64,
}

impl fmt::Debug for FileRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileRows({})", self.name)
    }
}

impl PartitionStream for FileRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStream::builder(self.schema.clone(), 2);
        let tx = builder.tx();
        let (data, schema, name, index) = (
            self.data.clone(),
            self.schema.clone(),
            self.name.clone(),
            self.index,
        );
        builder.spawn_blocking(move || {
            let mut row = index << ROW_BITS;
            for batch in read_file(&data, &name).map_err(SqlStateError::into_df)? {
                let batch = batch.map_err(SqlStateError::into_df)?;
                let n = batch.num_rows() as u64;
                let mut columns = batch.columns().to_vec();
                columns.push(Arc::new(UInt64Array::from_iter_values(row..row + n)));
                row += n;
                let batch = RecordBatch::try_new(schema.clone(), columns)?;
                if tx.blocking_send(Ok(batch)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        builder.build()
    }
}

/// The batches of one data file of `data`, as the table's schema.
pub(crate) fn read_file(
    data: &TableData,
    name: &str,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
    let file =
        std::fs::File::open(data.dir.join(name)).map_err(|e| io_error("open data file", e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| io_error("read data file", e))?;
    let schema = data.schema.clone();
    Ok(reader.map(move |batch| {
        let batch = batch.map_err(|e| io_error("read data file", e))?;
        conform(&batch, &schema)
    }))
}

/// What a statement changes: the rows its query found, each once.
pub struct Changes {
    /// Positions of the changed rows, in the order found.
    positions: Vec<u64>,
    /// For an `UPDATE`: the new rows, as the table's schema.
    new_rows: Vec<RecordBatch>,
    /// Rows inserted, updated or deleted (the command tag's count).
    count: u64,
}

/// What a row of a `MERGE`'s query does (its second column).
pub mod merge_action {
    pub const NOTHING: i64 = 0;
    pub const UPDATE: i64 = 1;
    pub const DELETE: i64 = 2;
    pub const INSERT: i64 = 3;
}

impl Changes {
    /// The rows of an `INSERT ... RETURNING`: each batch's first columns,
    /// one per column of `schema`, the table's.
    pub fn inserted(batches: &[RecordBatch], schema: &SchemaRef) -> Result<Changes> {
        let new_rows = batches
            .iter()
            .map(|b| values_of(b, 0, schema))
            .collect::<Result<_>>()?;
        Ok(Changes {
            positions: Vec::new(),
            new_rows,
            count: batches.iter().map(|b| b.num_rows() as u64).sum(),
        })
    }

    /// Reads a `MERGE`'s batches: [`POSITION`] (NULL for a source row
    /// that matched nothing), the action ([`merge_action`]), then one
    /// column per column of `schema`, the table's (the new row of an
    /// update or insert). A target row that two source rows would change
    /// is PostgreSQL's `21000`.
    pub fn merged(batches: &[RecordBatch], schema: &SchemaRef) -> Result<Changes> {
        use datafusion::arrow::array::Int64Array;
        let mut seen = HashSet::new();
        let mut positions = Vec::new();
        let mut new_rows = Vec::new();
        let mut count = 0u64;
        for batch in batches {
            let (Some(pos), Some(action)) = (
                batch.column(0).as_any().downcast_ref::<UInt64Array>(),
                batch.column(1).as_any().downcast_ref::<Int64Array>(),
            ) else {
                return Err(SqlStateError::internal(
                    "a MERGE's positions or actions have another type",
                ));
            };
            let mut writes = Vec::with_capacity(batch.num_rows());
            for i in 0..batch.num_rows() {
                let act = if action.is_null(i) {
                    merge_action::NOTHING
                } else {
                    action.value(i)
                };
                if matches!(act, merge_action::UPDATE | merge_action::DELETE) {
                    if !seen.insert(pos.value(i)) {
                        return Err(SqlStateError::new(
                            crate::error::sqlstate::CARDINALITY_VIOLATION,
                            "MERGE command cannot affect row a second time",
                        )
                        .with_hint(
                            "Ensure that not more than one source row matches any one target row.",
                        ));
                    }
                    positions.push(pos.value(i));
                }
                if act != merge_action::NOTHING {
                    count += 1;
                }
                writes.push(Some(matches!(
                    act,
                    merge_action::UPDATE | merge_action::INSERT
                )));
            }
            let writes = BooleanArray::from(writes);
            if writes.true_count() > 0 {
                let rows = filter_record_batch(batch, &writes).map_err(SqlStateError::internal)?;
                new_rows.push(values_of(&rows, 2, schema)?);
            }
        }
        Ok(Changes {
            positions,
            new_rows,
            count,
        })
    }

    /// Reads the query's batches: [`POSITION`] first, then (`values`) one
    /// column per table column. A row found twice (an `UPDATE ... FROM`
    /// whose join matches it twice) counts once, with its first values, as
    /// in PostgreSQL. Returns the changes and the batches with repeats
    /// removed (for `RETURNING`).
    pub fn collect(
        batches: Vec<RecordBatch>,
        values: Option<&SchemaRef>,
    ) -> Result<(Changes, Vec<RecordBatch>)> {
        let mut seen = HashSet::new();
        let mut positions = Vec::new();
        let mut new_rows = Vec::new();
        let mut kept = Vec::with_capacity(batches.len());
        for batch in batches {
            let column = batch.column(0);
            let Some(pos) = column.as_any().downcast_ref::<UInt64Array>() else {
                return Err(SqlStateError::internal("row positions are not UInt64"));
            };
            let mask: BooleanArray = pos.values().iter().map(|p| Some(seen.insert(*p))).collect();
            let batch = if mask.true_count() == batch.num_rows() {
                batch
            } else {
                filter_record_batch(&batch, &mask).map_err(SqlStateError::internal)?
            };
            if batch.num_rows() == 0 {
                continue;
            }
            let pos = batch
                .column(0)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .expect("checked above");
            positions.extend_from_slice(pos.values());
            if let Some(schema) = values {
                new_rows.push(values_of(&batch, 1, schema)?);
            }
            kept.push(batch);
        }
        Ok((
            Changes {
                count: positions.len() as u64,
                positions,
                new_rows,
            },
            kept,
        ))
    }

    /// Rows changed (or inserted).
    pub fn rows(&self) -> u64 {
        self.count
    }
}

/// The columns of `batch` from `first` on, one per field of `schema`, as
/// that schema (cast, NOT NULL checked).
fn values_of(batch: &RecordBatch, first: usize, schema: &SchemaRef) -> Result<RecordBatch> {
    let n = schema.fields().len();
    let columns: Vec<ArrayRef> = batch.columns()[first..first + n].to_vec();
    let values = RecordBatch::try_new(
        Arc::new(Schema::new(
            columns
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| Field::new(f.name(), c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        )),
        columns,
    )
    .map_err(SqlStateError::internal)?;
    conform(&values, schema)
}

/// Writes `changes` to `data`, whose statement read `files`: every file
/// holding a changed row is written again without it, the new rows are
/// added, and the result is staged in `block` when one is open, else
/// committed now.
pub async fn apply(
    data: &Arc<TableData>,
    files: Arc<[DataFile]>,
    changes: Changes,
    block: &Block,
) -> Result<()> {
    if changes.rows() == 0 {
        return Ok(());
    }
    let mut by_file: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for p in &changes.positions {
        by_file
            .entry((p >> ROW_BITS) as usize)
            .or_default()
            .push(p & ((1 << ROW_BITS) - 1));
    }
    let removed: Vec<String> = by_file
        .keys()
        .map(|&i| {
            files.get(i).map(|f| f.name.clone()).ok_or_else(|| {
                SqlStateError::internal("a changed row's file is not in the snapshot")
            })
        })
        .collect::<Result<_>>()?;
    block.check_rewrite(data, &removed)?;
    let table = data.clone();
    let names = removed.clone();
    let pending = tokio::task::spawn_blocking(move || {
        let mut writer = table.writer()?;
        for (name, mut rows) in names.iter().zip(by_file.into_values()) {
            rows.sort_unstable();
            let mut at = 0u64;
            let mut next = rows.iter().peekable();
            for batch in read_file(&table, name)? {
                let batch = batch?;
                let n = batch.num_rows() as u64;
                let mut keep = vec![true; batch.num_rows()];
                while let Some(&&r) = next.peek() {
                    if r >= at + n {
                        break;
                    }
                    keep[(r - at) as usize] = false;
                    next.next();
                }
                at += n;
                let kept = filter_record_batch(&batch, &BooleanArray::from(keep))
                    .map_err(SqlStateError::internal)?;
                if kept.num_rows() > 0 {
                    writer.write(&kept)?;
                }
            }
        }
        for batch in &changes.new_rows {
            writer.write(batch)?;
        }
        writer.finish()
    })
    .await
    .map_err(|e| SqlStateError::internal(format!("rewriting data files failed: {e}")))??;
    match block.stage_rewrite(data, pending, false, removed) {
        Ok(_) => Ok(()),
        Err((pending, removed)) => data.commit_rewrite(pending, &removed).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_splits_into_file_and_row() {
        let p = (3u64 << ROW_BITS) | 12345;
        assert_eq!(p >> ROW_BITS, 3);
        assert_eq!(p & ((1 << ROW_BITS) - 1), 12345);
    }
}
