//! Writes record batches into new, immutable Parquet files, atomically.
//!
//! Each file is written under a hidden temporary name, fsynced, renamed to its
//! final name, and the directory is fsynced. Until the metadata store commits the
//! file list, the files are invisible to readers; if the statement fails or is
//! cancelled, [`FileSetWriter`] and [`PendingFiles`] delete them on drop. A crash
//! in between leaves files no version lists, which startup garbage-collects.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use super::store::DataFile;
use crate::error::{Result, SqlStateError, sqlstate};

/// Rows per file before a write rolls over to the next file, so large tables
/// are spread over several files that scans can read in parallel.
pub(super) const ROWS_PER_FILE: u64 = 4 * 1024 * 1024;
/// Rows per row group: the unit of parallelism and of min/max pruning.
const ROWS_PER_ROW_GROUP: usize = 128 * 1024;

/// The schema a managed table stores: view types become their plain forms and
/// untyped NULL columns become text, so every Parquet reader can read the files.
pub fn storage_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let data_type = storage_type(f.data_type());
            Field::new(f.name(), data_type, f.is_nullable()).with_metadata(f.metadata().clone())
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn storage_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::Null => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) | DataType::ListView(f) | DataType::LargeListView(f) => {
            DataType::List(Arc::new(
                f.as_ref()
                    .clone()
                    .with_data_type(storage_type(f.data_type())),
            ))
        }
        other => other.clone(),
    }
}

/// Casts `batch` to `schema`: same column count, values cast where types differ,
/// NOT NULL columns checked.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.num_columns() != schema.fields().len() {
        return Err(SqlStateError::new(
            sqlstate::DATATYPE_MISMATCH,
            format!(
                "expected {} columns, got {}",
                schema.fields().len(),
                batch.num_columns()
            ),
        ));
    }
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (column, field) in batch.columns().iter().zip(schema.fields()) {
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(SqlStateError::new(
                sqlstate::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{}\" violates not-null constraint",
                    field.name()
                ),
            ));
        }
        if column.data_type() == field.data_type() {
            columns.push(column.clone());
        } else {
            let cast = cast_with_options(column, field.data_type(), &options).map_err(|e| {
                SqlStateError::bad_data(format!(
                    "column \"{}\": cannot convert {} to {}: {e}",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                ))
            })?;
            columns.push(cast);
        }
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(SqlStateError::internal)
}

struct OpenFile {
    tmp_path: PathBuf,
    name: String,
    writer: ArrowWriter<File>,
    rows: u64,
}

/// Writes a stream of batches into one or more new Parquet files in `dir`.
pub struct FileSetWriter {
    dir: PathBuf,
    schema: SchemaRef,
    current: Option<OpenFile>,
    finished: Vec<DataFile>,
}

impl FileSetWriter {
    pub fn new(dir: &Path, schema: SchemaRef) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::error::io_error("create table directory", e))?;
        Ok(FileSetWriter {
            dir: dir.to_path_buf(),
            schema,
            current: None,
            finished: Vec::new(),
        })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.finished.iter().map(|f| f.rows).sum::<u64>()
            + self.current.as_ref().map_or(0, |c| c.rows)
    }

    /// Writes one batch, cast to the table's schema.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = conform(batch, &self.schema)?;
        if self.current.is_none() {
            self.current = Some(self.open()?);
        }
        let Some(current) = self.current.as_mut() else {
            return Err(SqlStateError::internal("no open file"));
        };
        current
            .writer
            .write(&batch)
            .map_err(|e| crate::error::io_error("write parquet", e))?;
        current.rows += batch.num_rows() as u64;
        if current.rows >= ROWS_PER_FILE {
            self.close_current()?;
        }
        Ok(())
    }

    fn open(&self) -> Result<OpenFile> {
        let name = format!("part-{}.parquet", uuid::Uuid::new_v4().simple());
        let tmp_path = self.dir.join(format!(".{name}.tmp"));
        let file =
            File::create(&tmp_path).map_err(|e| crate::error::io_error("create data file", e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(1)
                    .map_err(|e| SqlStateError::internal(format!("zstd level: {e}")))?,
            ))
            .set_max_row_group_row_count(Some(ROWS_PER_ROW_GROUP))
            .build();
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(props))
            .map_err(|e| crate::error::io_error("open parquet writer", e))?;
        Ok(OpenFile {
            tmp_path,
            name,
            writer,
            rows: 0,
        })
    }

    /// Closes, fsyncs and renames the open file into place.
    fn close_current(&mut self) -> Result<()> {
        let Some(open) = self.current.take() else {
            return Ok(());
        };
        let tmp_path = open.tmp_path.clone();
        let result = (|| {
            let file = open
                .writer
                .into_inner()
                .map_err(|e| crate::error::io_error("finish parquet file", e))?;
            file.sync_all()
                .map_err(|e| crate::error::io_error("fsync data file", e))?;
            let bytes = file
                .metadata()
                .map_err(|e| crate::error::io_error("stat data file", e))?
                .len();
            std::fs::rename(&tmp_path, self.dir.join(&open.name))
                .map_err(|e| crate::error::io_error("rename data file", e))?;
            Ok(DataFile {
                name: open.name.clone(),
                rows: open.rows,
                bytes,
            })
        })();
        match result {
            Ok(file) => {
                self.finished.push(file);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp_path);
                Err(e)
            }
        }
    }

    /// Finishes every file and makes the renames durable. The files are still
    /// uncommitted: the caller commits them to the store, then calls
    /// [`PendingFiles::committed`].
    pub fn finish(mut self) -> Result<PendingFiles> {
        self.close_current()?;
        sync_dir(&self.dir)?;
        let files = std::mem::take(&mut self.finished);
        Ok(PendingFiles {
            dir: self.dir.clone(),
            files,
            committed: false,
        })
    }
}

impl Drop for FileSetWriter {
    fn drop(&mut self) {
        if let Some(open) = self.current.take() {
            let _ = std::fs::remove_file(&open.tmp_path);
        }
        for f in &self.finished {
            let _ = std::fs::remove_file(self.dir.join(&f.name));
        }
    }
}

/// Files that are durable on disk but not yet listed by the store.
pub struct PendingFiles {
    dir: PathBuf,
    files: Vec<DataFile>,
    committed: bool,
}

impl PendingFiles {
    pub fn files(&self) -> &[DataFile] {
        &self.files
    }

    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// The store now lists these files: keep them.
    pub fn committed(mut self) -> Vec<DataFile> {
        self.committed = true;
        std::mem::take(&mut self.files)
    }
}

impl Drop for PendingFiles {
    fn drop(&mut self) {
        if !self.committed {
            for f in &self.files {
                let _ = std::fs::remove_file(self.dir.join(&f.name));
            }
        }
    }
}

/// Makes renames and new entries in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| crate::error::io_error("fsync directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    fn batch(schema: &SchemaRef, n: i64) -> RecordBatch {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(StringArray::from_iter_values((0..n).map(|i| i.to_string()))),
            ],
        )
        .expect("batch")
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn uncommitted_files_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let schema = schema();
        let mut w = FileSetWriter::new(dir.path(), schema.clone()).expect("writer");
        w.write(&batch(&schema, 10)).expect("write");
        let pending = w.finish().expect("finish");
        assert_eq!(pending.rows(), 10);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
        drop(pending);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }

    #[test]
    fn abandoned_writer_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let schema = schema();
        let mut w = FileSetWriter::new(dir.path(), schema.clone()).expect("writer");
        w.write(&batch(&schema, 10)).expect("write");
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }

    #[test]
    fn committed_files_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let schema = schema();
        let mut w = FileSetWriter::new(dir.path(), schema.clone()).expect("writer");
        w.write(&batch(&schema, 3)).expect("write");
        let files = w.finish().expect("finish").committed();
        assert_eq!(files.len(), 1);
        assert!(dir.path().join(&files[0].name).exists());
    }

    #[test]
    fn not_null_columns_reject_nulls() {
        let schema = schema();
        let nullable = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let b = RecordBatch::try_new(
            nullable,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec!["a", "b"])),
            ],
        )
        .expect("batch");
        let err = conform(&b, &schema).expect_err("null in not-null column");
        assert_eq!(err.code, "23502");
    }
}
