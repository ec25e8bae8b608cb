//! Snapshots: immutable, versioned copies of a relation's rows, so a feature
//! set (or the rows a model trained on) can be read back exactly later.
//!
//! A snapshot version is a directory of Parquet files under
//! `<data dir>/snapshots/`, written by the catalog's file writer (temp file,
//! fsync, rename, fsync the directory) and then made visible by one SQLite
//! transaction that records its name, version, rows, sha256 (of the rows in
//! order, `DataDigest`), schema and files. A crash before
//! the commit leaves files no row refers to; they are removed at the next
//! start. Nothing ever writes to a committed version.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::convert::{IpcSchemaEncoder, fb_to_schema};
use datafusion::arrow::ipc::root_as_schema;
use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::catalog::store::{DataFile, Store};
use crate::catalog::table::{FileList, ManagedTable};
use crate::catalog::writer::{FileSetWriter, PendingFiles, conform, storage_schema, sync_dir};
use crate::error::{Result, SqlStateError, sqlstate};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ml_snapshot_versions (
    name          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    rows          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    query         TEXT NOT NULL,
    model         TEXT,
    model_version INTEGER,
    dir           TEXT NOT NULL,
    files         TEXT NOT NULL,
    arrow_schema  BLOB NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (name, version)
);
";

/// One committed snapshot version, as `ml_snapshots` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRow {
    pub name: String,
    pub version: i64,
    pub rows: i64,
    pub sha256: String,
    pub query: String,
    pub model: Option<String>,
    pub model_version: Option<i64>,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredFile {
    name: String,
    rows: u64,
    bytes: u64,
}

/// Where a snapshot came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub query: String,
    pub user: String,
    /// The model version trained on it, for training snapshots.
    pub model: Option<(String, u32)>,
    /// The stored columns each of its columns comes from.
    pub lineage: Vec<crate::governance::lineage::Use>,
}

/// The snapshot store.
#[derive(Debug)]
pub struct Snapshots {
    store: Arc<Store>,
    dir: PathBuf,
}

fn io_err(context: &str, e: impl std::fmt::Display) -> SqlStateError {
    SqlStateError::new(sqlstate::IO_ERROR, format!("{context}: {e}"))
}

/// Names of the snapshots CREATE MODEL keeps start with this.
pub const TRAINING_PREFIX: &str = "training:";

/// The snapshot of a model's training rows (the model name is already
/// normalized; quoting keeps its case).
/// Snapshot files written and fsynced but not yet a version.
pub struct Staged {
    name: String,
    id: String,
    rows: i64,
    sha256: String,
    files: String,
    schema_bytes: Vec<u8>,
    pending: PendingFiles,
}

impl Staged {
    /// Lists the files as the next version of the snapshot, in `tx`.
    pub fn insert(
        &self,
        tx: &rusqlite::Transaction<'_>,
        origin: &Origin,
    ) -> rusqlite::Result<SnapshotRow> {
        let (model, model_version) = match &origin.model {
            Some((m, v)) => (Some(m.clone()), Some(i64::from(*v))),
            None => (None, None),
        };
        let name = &self.name;
        let version: i64 = tx.query_row(
            "SELECT coalesce(max(version), 0) + 1 FROM ml_snapshot_versions WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO ml_snapshot_versions (name, version, rows, sha256, query, model, model_version, dir, files, arrow_schema, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![name, version, self.rows, self.sha256, origin.query, model, model_version, self.id, self.files, self.schema_bytes, origin.user],
        )?;
        crate::governance::lineage::insert(tx, "snapshot", name, version, &origin.lineage)?;
        tx.query_row(
            "SELECT name, version, rows, sha256, query, model, model_version, created_by, created_at
             FROM ml_snapshot_versions WHERE name = ?1 AND version = ?2",
            params![name, version],
            snapshot_row,
        )
    }

    /// The transaction that listed the files committed: keep them.
    pub fn committed(self) {
        self.pending.committed();
    }
}

pub fn training_name(model: &str) -> String {
    format!("\"{TRAINING_PREFIX}{}\"", model.replace('"', "\"\""))
}

/// Deletes every version of snapshot `name` in `tx`; returns their
/// directories, to remove once `tx` commits.
pub fn delete_versions(
    tx: &rusqlite::Transaction<'_>,
    name: &str,
) -> rusqlite::Result<Vec<String>> {
    let dirs = {
        let mut stmt = tx.prepare("SELECT dir FROM ml_snapshot_versions WHERE name = ?1")?;
        stmt.query_map(params![name], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?
    };
    tx.execute(
        "DELETE FROM ml_snapshot_versions WHERE name = ?1",
        params![name],
    )?;
    crate::governance::lineage::delete(tx, "snapshot", name)?;
    Ok(dirs)
}

/// Snapshot names: lower case unless quoted, like other names.
pub fn normalize(name: &str) -> Result<String> {
    let name = crate::registry::normalize(name);
    if name.is_empty() {
        return Err(SqlStateError::bad_argument(
            "ml_snapshot: name must not be empty",
        ));
    }
    Ok(name)
}

impl Snapshots {
    pub fn open(data_dir: &std::path::Path, store: Arc<Store>) -> Result<Snapshots> {
        store.execute_batch(SCHEMA)?;
        let dir = data_dir.join("snapshots");
        std::fs::create_dir_all(&dir).map_err(|e| io_err("create snapshots directory", e))?;
        let snapshots = Snapshots { store, dir };
        snapshots.collect_garbage()?;
        Ok(snapshots)
    }

    /// Removes directories no committed version refers to (a crash
    /// mid-write). Only ones untouched for an hour: a write still running in
    /// a process mistakenly started on the same directory is left alone.
    fn collect_garbage(&self) -> Result<()> {
        let referenced = self.store.strings("SELECT dir FROM ml_snapshot_versions")?;
        let mut removed = 0;
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let stale = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > std::time::Duration::from_secs(3600));
                if stale && !referenced.contains(&name) {
                    let _ = std::fs::remove_dir_all(entry.path());
                    removed += 1;
                }
            }
        }
        if removed > 0 {
            info!(removed, "removed snapshot files no version refers to");
        }
        Ok(())
    }

    /// Writes `batches` as the next version of `name`; returns its row.
    pub async fn write(
        &self,
        name: &str,
        schema: SchemaRef,
        batches: impl futures::Stream<Item = Result<RecordBatch>> + Unpin,
        origin: Origin,
    ) -> Result<SnapshotRow> {
        let staged = self.stage(name, schema, batches).await?;
        let row = self.store.with_tx(|tx| staged.insert(tx, &origin))?;
        staged.committed();
        Ok(row)
    }

    /// Writes `batches` as files of a snapshot of `name` (written, fsynced,
    /// listed nowhere): [`Staged::insert`] makes them a version inside a
    /// transaction of the caller's, e.g. the one registering the model they
    /// trained. Dropped without [`Staged::committed`], the files are removed
    /// (and a crash leaves them to the start-up clean-up).
    pub async fn stage(
        &self,
        name: &str,
        schema: SchemaRef,
        mut batches: impl futures::Stream<Item = Result<RecordBatch>> + Unpin,
    ) -> Result<Staged> {
        let name = normalize(name)?;
        let storage = storage_schema(&schema);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut writer = FileSetWriter::new(&self.dir.join(&id), storage.clone())?;
        let mut digest = quarry_udfs::model::train::DataDigest::new(&storage)?;
        while let Some(batch) = batches.next().await {
            let batch = conform(&batch?, &storage)?;
            digest.update(&batch)?;
            writer.write(&batch)?;
        }
        let pending = writer.finish()?;
        // The new directory's entry must be durable before a row names it.
        sync_dir(&self.dir)?;
        let sha256 = digest.finish()?;
        let rows = pending.rows() as i64;
        let files: Vec<StoredFile> = pending
            .files()
            .iter()
            .map(|f| StoredFile {
                name: f.name.clone(),
                rows: f.rows,
                bytes: f.bytes,
            })
            .collect();
        let files = serde_json::to_string(&files).map_err(SqlStateError::internal)?;
        let schema_bytes = IpcSchemaEncoder::new()
            .schema_to_fb(&storage)
            .finished_data()
            .to_vec();
        Ok(Staged {
            name,
            id,
            rows,
            sha256,
            files,
            schema_bytes,
            pending,
        })
    }

    /// Removes the directories of deleted versions (best effort: what is
    /// left is removed by the start-up clean-up, as no row names it).
    pub fn remove_dirs(&self, dirs: &[String]) {
        for dir in dirs {
            if let Err(e) = std::fs::remove_dir_all(self.dir.join(dir)) {
                tracing::warn!(dir, error = %e, "could not remove a dropped snapshot's files");
            }
        }
        if !dirs.is_empty() {
            let _ = sync_dir(&self.dir);
        }
    }

    /// Every version, by name and version.
    pub fn list(&self) -> Result<Vec<SnapshotRow>> {
        self.store.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT name, version, rows, sha256, query, model, model_version, created_by, created_at
                 FROM ml_snapshot_versions ORDER BY name, version",
            )?;
            let rows = stmt.query_map([], snapshot_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// A read-only table over one version (the latest when `version` is None).
    /// Who created version `version` (the newest when `None`) of snapshot
    /// `name`, and the model it is the training snapshot of, if any;
    /// `None` when there is no such version.
    pub fn creator(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<(String, Option<String>)>> {
        let name = normalize(name)?;
        self.store.with_conn(|c| {
            c.query_row(
                "SELECT created_by, model FROM ml_snapshot_versions
                 WHERE name = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1",
                params![name, version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
    }

    pub fn table(&self, name: &str, version: Option<i64>) -> Result<ManagedTable> {
        let name = normalize(name)?;
        let found: Option<(i64, String, String, Vec<u8>)> = self.store.with_conn(|c| {
            c.query_row(
                "SELECT version, dir, files, arrow_schema FROM ml_snapshot_versions
                 WHERE name = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1",
                params![name, version],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
        })?;
        let Some((version, dir, files, schema_bytes)) = found else {
            return Err(SqlStateError::new(
                sqlstate::UNDEFINED_OBJECT,
                match version {
                    Some(v) => format!("snapshot \"{name}\" has no version {v}"),
                    None => format!("snapshot \"{name}\" does not exist"),
                },
            )
            .with_hint("SELECT * FROM ml_snapshots lists the snapshots"));
        };
        let corrupt = |what: &str| {
            SqlStateError::new(
                sqlstate::DATA_CORRUPTED,
                format!("snapshot {name}@{version}: {what} is corrupt"),
            )
        };
        let files: Vec<StoredFile> =
            serde_json::from_str(&files).map_err(|_| corrupt("the file list"))?;
        let schema = decode_schema(&schema_bytes).ok_or_else(|| corrupt("the schema"))?;
        Ok(ManagedTable::new(
            format!("snapshot:{name}@{version}"),
            schema,
            self.dir.join(dir),
            None,
            self.store.clone(),
            FileList {
                version: 0,
                files: files
                    .into_iter()
                    .map(|f| DataFile {
                        name: f.name,
                        rows: f.rows,
                        bytes: f.bytes,
                    })
                    .collect(),
            },
        ))
    }
}

fn snapshot_row(r: &rusqlite::Row) -> rusqlite::Result<SnapshotRow> {
    Ok(SnapshotRow {
        name: r.get(0)?,
        version: r.get(1)?,
        rows: r.get(2)?,
        sha256: r.get(3)?,
        query: r.get(4)?,
        model: r.get(5)?,
        model_version: r.get(6)?,
        created_by: r.get(7)?,
        created_at: r.get(8)?,
    })
}

/// A schema stored as the catalog stores one (an IPC schema flatbuffer).
fn decode_schema(bytes: &[u8]) -> Option<SchemaRef> {
    root_as_schema(bytes)
        .ok()
        .map(|s| Arc::new(fb_to_schema(s)))
}
