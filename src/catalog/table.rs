//! A managed table: immutable Parquet files listed by the metadata store.
//!
//! Readers take a snapshot of the file list when they plan, so a concurrent
//! write never shows them half a statement. Writers (`INSERT`, `COPY`,
//! `INSERT OVERWRITE`, `TRUNCATE`) add new files and commit a new version in the
//! store; only then does the in-memory list change.

use std::any::Any;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{Constraints, Statistics};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::StreamExt;
use tracing::{debug, warn};

use super::store::{DataFile, Store};
use super::writer::{FileSetWriter, PendingFiles};
use crate::error::{Result, SqlStateError};
use crate::sync::{read, write};

/// The current version of a table and the files it consists of.
#[derive(Debug, Clone, Default)]
pub struct FileList {
    pub version: i64,
    pub files: Vec<DataFile>,
}

/// Shared state of one managed table.
#[derive(Debug)]
pub struct TableData {
    pub id: String,
    pub schema: SchemaRef,
    pub dir: PathBuf,
    constraints: Option<Constraints>,
    store: Arc<Store>,
    files: RwLock<FileList>,
    /// Serialises commits to this table so the in-memory list follows the store.
    commit_lock: tokio::sync::Mutex<()>,
    /// Held by an `UPDATE` or `DELETE` from its snapshot to its commit (in
    /// a transaction block, to the block's end), so row changes of one
    /// table queue instead of racing, as PostgreSQL's row locks make them
    /// wait, and none is lost.
    rewrite_lock: Arc<tokio::sync::Mutex<()>>,
    /// Set while a background compaction runs: one at a time per table.
    compacting: AtomicBool,
    /// Awaited before every scan: a table written in the background (the
    /// prediction log) lets a reader see what was queued before it read.
    pub read_barrier: OnceLock<Arc<dyn ReadBarrier>>,
}

/// What a scan of a table written in the background waits for first.
#[async_trait]
pub trait ReadBarrier: fmt::Debug + Send + Sync {
    /// Returns once what was queued before the call is committed, or the
    /// barrier's own bound ran out.
    async fn settle(&self);
}

/// Files up to this size are small: compaction merges them.
const SMALL_FILE_BYTES: u64 = 32 << 20;
/// An append that leaves this many small files starts a compaction in the
/// background (each INSERT adds a file: after a thousand single-row inserts
/// a scan was 20× slower).
const AUTO_COMPACT_FILES: usize = 32;
/// How long a file that left its table stays on disk for statements still
/// reading the version it belonged to; `--vacuum-retention`.
static RETENTION_MS: AtomicU64 = AtomicU64::new(3_600_000);

/// Held shared while a commit makes its files visible in memory, and
/// exclusively while a REPEATABLE READ block takes its snapshot of every
/// table ([`super::Catalog::snapshot`]): a snapshot never sees part of a
/// commit that spans several tables, nor a commit without an earlier one it
/// may have read.
static PUBLICATION: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A commit's right to change what tables list in memory (see
/// `PUBLICATION`); one is held across every table a commit changes.
pub struct Publication(#[allow(dead_code)] std::sync::RwLockReadGuard<'static, ()>);

impl Publication {
    pub fn begin() -> Publication {
        Publication(PUBLICATION.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Holds every commit's publication back while a snapshot is taken.
pub(super) fn hold_publications() -> std::sync::RwLockWriteGuard<'static, ()> {
    PUBLICATION.write().unwrap_or_else(|e| e.into_inner())
}

/// Sets how long removed files are kept before VACUUM deletes them.
pub fn set_vacuum_retention(retention: std::time::Duration) {
    RETENTION_MS.store(
        u64::try_from(retention.as_millis()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Small files merged.
    pub merged: usize,
    /// Files they became.
    pub written: usize,
}

impl TableData {
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn snapshot(&self) -> FileList {
        read(&self.files).clone()
    }

    /// Starts a write of new files for this table.
    pub fn writer(&self) -> Result<FileSetWriter> {
        FileSetWriter::new(&self.dir, self.schema.clone())
    }

    /// Commits written files as a new version; with `replace`, they become the
    /// whole table.
    pub async fn commit(self: &Arc<Self>, pending: PendingFiles, replace: bool) -> Result<u64> {
        let _guard = self.commit_lock.lock().await;
        let current = self.snapshot();
        let rows = pending.rows();
        let version =
            self.store
                .commit_files(&self.id, current.version, pending.files(), replace)?;
        self.committed(
            &Publication::begin(),
            version,
            pending.committed(),
            replace,
            &[],
        );
        Ok(rows)
    }

    /// Commits a rewrite (`UPDATE`, `DELETE` outside a block): `removed`,
    /// files of the table, leave it and `pending` joins it, as one version.
    /// `40001` when another write removed one of them first.
    pub async fn commit_rewrite(
        self: &Arc<Self>,
        pending: PendingFiles,
        removed: &[String],
    ) -> Result<()> {
        let _guard = self.commit_lock.lock().await;
        let current = self.snapshot();
        let version = self.store.commit_many(&[super::store::TableCommit {
            relation_id: &self.id,
            expected_version: current.version,
            added: pending.files(),
            removed,
            replace: false,
        }])?[0];
        self.committed(
            &Publication::begin(),
            version,
            pending.committed(),
            false,
            removed,
        );
        Ok(())
    }

    /// The files a statement of the session whose configuration is `config`
    /// reads: the committed ones, changed by what its open transaction
    /// block staged.
    pub fn visible(&self, config: &datafusion::config::ConfigOptions) -> FileList {
        self.visible_in(super::staging::Block::of(config).as_deref())
    }

    /// The files a statement reads with `block`, its session's block: the
    /// committed ones (as of the block's snapshot in REPEATABLE READ and
    /// SERIALIZABLE), changed by what the block staged.
    pub fn visible_in(&self, block: Option<&super::staging::Block>) -> FileList {
        let mut snapshot = block
            .and_then(|b| b.snapshot_files(&self.id))
            .unwrap_or_else(|| self.snapshot());
        if let Some(block) = block
            && let Some(staged) = block.files(&self.id)
        {
            if staged.replace {
                snapshot.files = staged.added;
            } else {
                snapshot.files.retain(|f| !staged.removed.contains(&f.name));
                snapshot.files.extend(staged.added);
            }
        }
        snapshot
    }

    /// Waits for the table's other row changes (see `rewrite_lock`): for at
    /// most `patience`, then `40P01`, as PostgreSQL ends a deadlock (two
    /// blocks each waiting for a table the other changed).
    pub async fn lock_rewrites(
        &self,
        patience: std::time::Duration,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>> {
        tokio::time::timeout(patience, self.rewrite_lock.clone().lock_owned())
            .await
            .map_err(|_| {
                SqlStateError::new(
                    "40P01",
                    format!(
                        "deadlock detected: another transaction has been changing this table's rows for over {} s",
                        patience.as_secs()
                    ),
                )
                .with_hint("retry the transaction; change tables in one order in every transaction")
            })
    }

    /// Holds this table's commits back (a transaction block commits several
    /// tables under all their locks).
    pub async fn lock_commits(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.commit_lock.lock().await
    }

    /// The store committed `version`, adding `added` (all of the table with
    /// `replace`) and taking out `removed`: the in-memory list follows, and
    /// a compaction starts when small files piled up. Called under the
    /// commit lock, with the commit's publication.
    pub fn committed(
        self: &Arc<Self>,
        _publication: &Publication,
        version: i64,
        added: Vec<DataFile>,
        replace: bool,
        removed: &[String],
    ) {
        let small = {
            let mut files = write(&self.files);
            if replace {
                files.files = added;
            } else {
                if !removed.is_empty() {
                    let gone: std::collections::HashSet<&str> =
                        removed.iter().map(String::as_str).collect();
                    files.files.retain(|f| !gone.contains(f.name.as_str()));
                }
                files.files.extend(added);
            }
            files.version = version;
            files
                .files
                .iter()
                .filter(|f| f.bytes <= SMALL_FILE_BYTES)
                .count()
        };
        if small >= AUTO_COMPACT_FILES && !self.compacting.swap(true, Ordering::AcqRel) {
            let table = self.clone();
            // In the background: the INSERT that crossed the threshold is
            // answered now; readers keep reading the version they planned.
            tokio::spawn(async move {
                let result = table.optimize().await;
                let vacuumed = table.vacuum();
                table.compacting.store(false, Ordering::Release);
                match (result, vacuumed) {
                    (Ok(done), Ok(removed)) => {
                        debug!(table = %table.id, ?done, removed, "background compaction")
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        warn!(table = %table.id, error = %e.message, "background compaction failed")
                    }
                }
            });
        }
    }

    /// Merges the table's small files into as few files as they fill, as one
    /// new version through the same commit protocol as a write (readers keep
    /// the version they planned with; appends meanwhile are kept). `None`
    /// when there were fewer than two small files.
    pub async fn optimize(self: &Arc<Self>) -> Result<Option<Compaction>> {
        let small: Vec<DataFile> = self
            .snapshot()
            .files
            .into_iter()
            .filter(|f| f.bytes <= SMALL_FILE_BYTES)
            .collect();
        if small.len() < 2 {
            return Ok(None);
        }
        let table = self.clone();
        let inputs = small.clone();
        let pending = tokio::task::spawn_blocking(move || -> Result<PendingFiles> {
            let mut writer = table.writer()?;
            for file in &inputs {
                let path = table.dir.join(&file.name);
                let f = std::fs::File::open(&path)
                    .map_err(|e| crate::error::io_error("open data file", e))?;
                let reader = ParquetRecordBatchReaderBuilder::try_new(f)
                    .and_then(|b| b.build())
                    .map_err(|e| crate::error::io_error("read data file", e))?;
                for batch in reader {
                    let batch = batch.map_err(|e| crate::error::io_error("read data file", e))?;
                    writer.write(&batch)?;
                }
            }
            writer.finish()
        })
        .await
        .map_err(|e| SqlStateError::internal(format!("compaction failed: {e}")))??;
        let _guard = self.commit_lock.lock().await;
        let removed: Vec<String> = small.iter().map(|f| f.name.clone()).collect();
        let version = self
            .store
            .compact_files(&self.id, &removed, pending.files())?;
        let added = pending.committed();
        let written = added.len();
        let gone: std::collections::HashSet<&str> = removed.iter().map(String::as_str).collect();
        let _publication = Publication::begin();
        let mut files = write(&self.files);
        files.files.retain(|f| !gone.contains(f.name.as_str()));
        files.files.extend(added);
        files.version = version;
        Ok(Some(Compaction {
            merged: removed.len(),
            written,
        }))
    }

    /// Deletes the files that left the table longer ago than the retention
    /// (`--vacuum-retention`); returns how many.
    pub fn vacuum(&self) -> Result<usize> {
        let retention = RETENTION_MS.load(Ordering::Relaxed) as f64 / 1000.0;
        let files = self.store.forget_removed_files(&self.id, retention)?;
        for name in &files {
            match std::fs::remove_file(self.dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(crate::error::io_error("remove data file", e)),
            }
        }
        Ok(files.len())
    }
}

/// Where a column's `DEFAULT` is kept: its SQL text, in the metadata of
/// the column's field of the stored schema.
pub const DEFAULT_KEY: &str = "quarry.default";

/// The DataFusion face of a managed table.
#[derive(Debug, Clone)]
pub struct ManagedTable {
    data: Arc<TableData>,
    /// Each column's `DEFAULT`, what an `INSERT` that omits it writes.
    defaults: std::collections::HashMap<String, Expr>,
    /// A materialized view's query: only `REFRESH` writes its rows.
    materialized: Option<Arc<str>>,
}

impl ManagedTable {
    pub fn new(
        id: String,
        schema: SchemaRef,
        dir: PathBuf,
        constraints: Option<Constraints>,
        store: Arc<Store>,
        files: FileList,
    ) -> Self {
        ManagedTable {
            data: Arc::new(TableData {
                id,
                schema,
                dir,
                constraints,
                store,
                files: RwLock::new(files),
                commit_lock: tokio::sync::Mutex::new(()),
                rewrite_lock: Arc::new(tokio::sync::Mutex::new(())),
                compacting: AtomicBool::new(false),
                read_barrier: OnceLock::new(),
            }),
            defaults: Default::default(),
            materialized: None,
        }
    }

    /// The table as materialized view `query`'s rows.
    pub fn materialized(mut self, query: Option<Arc<str>>) -> Self {
        self.materialized = query;
        self
    }

    /// A materialized view's query (`None` for a table).
    pub fn view_query(&self) -> Option<&Arc<str>> {
        self.materialized.as_ref()
    }

    /// Refuses a write to a materialized view, as PostgreSQL does (42809).
    pub fn check_writable(&self, name: &str) -> crate::error::Result<()> {
        match self.materialized {
            Some(_) => Err(SqlStateError::new(
                crate::error::sqlstate::WRONG_OBJECT_TYPE,
                format!("cannot change materialized view \"{name}\""),
            )
            .with_hint("REFRESH MATERIALIZED VIEW reads its query again")),
            None => Ok(()),
        }
    }

    /// The table with its columns' defaults.
    pub fn with_defaults(mut self, defaults: std::collections::HashMap<String, Expr>) -> Self {
        self.defaults = defaults;
        self
    }

    pub fn data(&self) -> &Arc<TableData> {
        &self.data
    }

    /// A listing table over a snapshot of the files, which does the actual
    /// scanning: projection, filter and limit pushdown, row-group pruning.
    fn listing(&self, files: &[DataFile]) -> DfResult<ListingTable> {
        let urls = files
            .iter()
            .map(|f| file_url(&self.data.dir, &f.name))
            .collect::<DfResult<Vec<_>>>()?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(self.data.schema.clone());
        ListingTable::try_new(config)
    }
}

fn file_url(dir: &Path, name: &str) -> DfResult<ListingTableUrl> {
    let path = dir.join(name);
    let text = path.to_str().ok_or_else(|| {
        DataFusionError::Execution(format!("data file path is not UTF-8: {}", path.display()))
    })?;
    ListingTableUrl::parse(text)
}

#[async_trait]
impl TableProvider for ManagedTable {
    fn schema(&self) -> SchemaRef {
        self.data.schema.clone()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.data.constraints.as_ref()
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.defaults.get(column)
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
        if let Some(barrier) = self.data.read_barrier.get() {
            barrier.settle().await;
        }
        // This session's transaction block sees its own uncommitted writes.
        let snapshot = self.data.visible(state.config_options());
        if snapshot.files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.data.schema.project(p)?),
                None => self.data.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        self.listing(&snapshot.files)?
            .scan(state, projection, filters, limit)
            .await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Parquet prunes row groups with the filters; DataFusion re-applies them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    fn statistics(&self) -> Option<Statistics> {
        let snapshot = self.data.snapshot();
        let rows: u64 = snapshot.files.iter().map(|f| f.rows).sum();
        let bytes: u64 = snapshot.files.iter().map(|f| f.bytes).sum();
        let mut stats = Statistics::new_unknown(&self.data.schema);
        stats.num_rows = Precision::Exact(rows as usize);
        stats.total_byte_size = Precision::Inexact(bytes as usize);
        Some(stats)
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if self.materialized.is_some() {
            return Err(SqlStateError::new(
                crate::error::sqlstate::WRONG_OBJECT_TYPE,
                "cannot change a materialized view",
            )
            .with_hint("REFRESH MATERIALIZED VIEW reads its query again")
            .into_df());
        }
        let replace = match insert_op {
            InsertOp::Append => false,
            InsertOp::Overwrite => true,
            InsertOp::Replace => {
                return Err(SqlStateError::unsupported(
                    "INSERT OR REPLACE is not supported: managed tables have no unique keys",
                )
                .into_df());
            }
        };
        let sink = ManagedSink {
            data: self.data.clone(),
            replace,
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn truncate(&self, _state: &dyn Session) -> DfResult<Arc<dyn ExecutionPlan>> {
        Err(SqlStateError::unsupported("TRUNCATE is handled by the server").into_df())
    }
}

/// Receives the rows of an `INSERT` and commits them as one new version.
#[derive(Debug)]
struct ManagedSink {
    data: Arc<TableData>,
    replace: bool,
}

impl DisplayAs for ManagedSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ManagedSink(table={})", self.data.id)
    }
}

#[async_trait]
impl DataSink for ManagedSink {
    fn schema(&self) -> &SchemaRef {
        &self.data.schema
    }

    async fn write_all(
        &self,
        mut data: datafusion::execution::SendableRecordBatchStream,
        context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let mut writer = self.data.writer().map_err(SqlStateError::into_df)?;
        while let Some(batch) = data.next().await {
            writer.write(&batch?).map_err(SqlStateError::into_df)?;
        }
        let pending = writer.finish().map_err(SqlStateError::into_df)?;
        // Inside a transaction block the files wait for its COMMIT.
        let pending = match super::staging::Block::of(context.session_config().options()) {
            Some(block) => match block.stage(&self.data, pending, self.replace) {
                Ok(rows) => return Ok(rows),
                Err(pending) => pending,
            },
            None => pending,
        };
        self.data
            .commit(pending, self.replace)
            .await
            .map_err(SqlStateError::into_df)
    }
}

/// Downcasts a provider to a managed table.
pub fn as_managed(provider: &Arc<dyn TableProvider>) -> Option<&ManagedTable> {
    let any: &dyn Any = provider.as_ref();
    any.downcast_ref::<ManagedTable>()
}
