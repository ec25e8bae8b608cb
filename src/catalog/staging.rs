//! Transaction blocks: the rows a block writes wait for its `COMMIT`.
//!
//! Between `BEGIN` and `COMMIT`, an `INSERT`, `COPY FROM`, `INSERT
//! OVERWRITE`, `UPDATE`, `DELETE` or `TRUNCATE` of a managed table writes
//! its Parquet files (fsynced) as any write does, but does not list them:
//! they are staged in the session's [`Block`], with the files an `UPDATE`
//! or `DELETE` rewrote (copy-on-write) marked as removed. The session's own statements read them (a
//! managed table's scan adds them); other sessions read the last committed
//! state. `COMMIT` lists every staged file of every table in one SQLite
//! transaction, so after a crash all of the block's rows are there or none;
//! `ROLLBACK` (or a disconnect, or a failed `COMMIT`) deletes them.
//!
//! Appends commute, so concurrent blocks appending to one table both commit.
//! A block that replaced a table's rows (`TRUNCATE`, `INSERT OVERWRITE`)
//! fails its `COMMIT` with `40001` if another write committed to that table
//! since, and one that rewrote a file fails if another write removed that
//! file first, as PostgreSQL's first-updater-wins does.
//!
//! Isolation is READ COMMITTED unless the block asks for more (`BEGIN
//! ISOLATION LEVEL`, `SET TRANSACTION`, `default_transaction_isolation`).
//! REPEATABLE READ is snapshot isolation: the block's first statement takes
//! a [`Snapshot`] of every table's committed files, and the block reads it
//! (plus its own staged writes) to its end; an `UPDATE` or `DELETE` of rows
//! a later commit rewrote fails with `40001`, as PostgreSQL's
//! first-updater-wins. SERIALIZABLE adds a check at `COMMIT`: a block that
//! wrote fails with `40001` if a table it read changed since its snapshot,
//! so every committed block behaves as if it ran alone at its commit
//! (optimistic validation per table, where PostgreSQL tracks predicates).
//!
//! Changes to the catalog's relations (`CREATE TABLE [AS]`, `CREATE VIEW`,
//! `DROP`, `ALTER ... RENAME`, `COMMENT ON`) are staged too
//! (`catalog::changes`): the session sees them, others do not, and `COMMIT`
//! publishes them in the same SQLite transaction as the rows. Schemas,
//! sequences and models are not: they commit when their statement
//! completes, and a `ROLLBACK` says how many it could not undo.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use datafusion::config::ConfigOptions;

use super::RelName;
use super::changes::{Change, Seen};
use super::store::{DataFile, TableCommit};
use super::table::{FileList, TableData};
use super::writer::PendingFiles;
use crate::error::{Result, SqlStateError, sqlstate};
use crate::sync::lock;

/// One table's staged writes.
struct Staged {
    data: Arc<TableData>,
    /// The table's version when the block first replaced its rows.
    base_version: i64,
    /// `Some(i)`: a replace was staged, and `pending[i..]` are the whole
    /// table (what came before it is kept only for a savepoint to restore).
    replace_from: Option<usize>,
    pending: Vec<PendingFiles>,
    /// Files (committed, or staged here) an `UPDATE` or `DELETE` rewrote:
    /// they leave the table at COMMIT.
    removed: Vec<String>,
}

impl Staged {
    /// The writes that count: after the last replace, if any.
    fn live(&self) -> &[PendingFiles] {
        &self.pending[self.replace_from.unwrap_or(0)..]
    }

    /// The staged files the table gains: the live writes' files that no
    /// later rewrite removed.
    fn added(&self) -> Vec<DataFile> {
        let removed: HashSet<&str> = self.removed.iter().map(String::as_str).collect();
        self.live()
            .iter()
            .flat_map(|p| p.files())
            .filter(|f| !removed.contains(f.name.as_str()))
            .cloned()
            .collect()
    }

    /// The committed files the block removed (none after a replace, which
    /// removes them all).
    fn removed_committed(&self) -> Vec<String> {
        if self.replace_from.is_some() {
            return Vec::new();
        }
        let staged: HashSet<&str> = self
            .pending
            .iter()
            .flat_map(|p| p.files())
            .map(|f| f.name.as_str())
            .collect();
        self.removed
            .iter()
            .filter(|f| !staged.contains(f.as_str()))
            .cloned()
            .collect()
    }
}

/// What a session's block changed in one table, as its own scans see it.
#[derive(Debug, Default)]
pub struct StagedView {
    /// The block replaced the committed files (`TRUNCATE`, overwrite).
    pub replace: bool,
    /// Files it wrote that are still in the table.
    pub added: Vec<DataFile>,
    /// Committed files it took out of the table.
    pub removed: HashSet<String>,
}

/// A block's isolation level, as PostgreSQL names them (READ UNCOMMITTED
/// is READ COMMITTED there too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Isolation {
    #[default]
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Isolation {
    /// The level a setting's text names (`'repeatable read'`).
    pub fn parse(text: &str) -> Option<Isolation> {
        match text.trim().to_ascii_lowercase().as_str() {
            "read uncommitted" | "read committed" => Some(Isolation::ReadCommitted),
            "repeatable read" => Some(Isolation::RepeatableRead),
            "serializable" => Some(Isolation::Serializable),
            _ => None,
        }
    }

    /// Its name as `SHOW transaction_isolation` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read committed",
            Isolation::RepeatableRead => "repeatable read",
            Isolation::Serializable => "serializable",
        }
    }
}

/// The committed state a REPEATABLE READ or SERIALIZABLE block reads:
/// every managed table's files when its first statement began
/// ([`super::Catalog::snapshot`]).
#[derive(Default)]
pub struct Snapshot {
    pub(super) tables: HashMap<String, (Arc<TableData>, FileList)>,
}

/// What an open block staged, and its savepoints.
#[derive(Default)]
struct Open {
    isolation: Isolation,
    /// Taken by the block's first statement when `isolation` is above READ
    /// COMMITTED.
    snapshot: Option<Arc<Snapshot>>,
    /// The tables a SERIALIZABLE block read, checked at its `COMMIT`.
    read: HashSet<String>,
    /// Whether a statement ran in the block (its isolation is fixed then).
    started: bool,
    /// The staged tables, in order of first write.
    tables: Vec<Staged>,
    /// The tables whose rows it changed, held until it ends (see
    /// `TableData::lock_rewrites`).
    held: Vec<(String, tokio::sync::OwnedMutexGuard<()>)>,
    /// Its catalog changes, in order.
    changes: Vec<Change>,
    /// Savepoints, oldest first.
    savepoints: Vec<Savepoint>,
}

/// What a block had staged when a savepoint was set.
struct Savepoint {
    name: String,
    /// Each staged table's state.
    marks: Vec<Mark>,
    /// How many catalog changes.
    changes: usize,
}

/// A staged table's state at a savepoint.
struct Mark {
    id: String,
    writes: usize,
    removed: usize,
    replace_from: Option<usize>,
    base_version: i64,
}

/// A session's open transaction block, if any, and what it staged.
#[derive(Default)]
pub struct Block {
    /// `None` outside a block.
    open: Mutex<Option<Open>>,
    /// The session's current user (`SET ROLE` changes it), who owns the
    /// relations its statements create (`None`: the server's own, owned by
    /// the bootstrap superuser).
    user: Mutex<Option<String>>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("open", &lock(&self.open).is_some())
            .finish()
    }
}

impl Block {
    /// The session's block, from its configuration (`None` when the session
    /// has none: a bare context).
    pub fn of(config: &ConfigOptions) -> Option<Arc<Block>> {
        config
            .extensions
            .get::<BlockExtension>()
            .map(|e| e.0.clone())
    }

    /// The block of a session of `user`.
    pub fn of_user(user: &str) -> Block {
        Block {
            open: Mutex::default(),
            user: Mutex::new(Some(user.to_string())),
        }
    }

    /// The user whose statements write through it.
    pub fn user(&self) -> Option<String> {
        lock(&self.user).clone()
    }

    /// `SET ROLE`: statements write as `user` from now on.
    pub fn set_user(&self, user: &str) {
        *lock(&self.user) = Some(user.to_string());
    }

    /// `BEGIN` at `isolation`.
    pub fn open(&self, isolation: Isolation) {
        let mut open = lock(&self.open);
        if open.is_none() {
            *open = Some(Open {
                isolation,
                ..Open::default()
            });
        }
    }

    /// The open block's isolation level.
    pub fn isolation(&self) -> Option<Isolation> {
        lock(&self.open).as_ref().map(|o| o.isolation)
    }

    /// `SET TRANSACTION ISOLATION LEVEL` in an open block: only before its
    /// first statement, as in PostgreSQL (`25001` after). `false` outside a
    /// block.
    pub fn set_isolation(&self, isolation: Isolation) -> Result<bool> {
        let mut open = lock(&self.open);
        let Some(open) = open.as_mut() else {
            return Ok(false);
        };
        if open.started && open.isolation != isolation {
            return Err(SqlStateError::new(
                sqlstate::ACTIVE_SQL_TRANSACTION,
                "SET TRANSACTION ISOLATION LEVEL must be called before any query",
            ));
        }
        open.isolation = isolation;
        Ok(true)
    }

    /// A statement of the block begins: a REPEATABLE READ or SERIALIZABLE
    /// block's first one takes the snapshot the block reads to its end.
    pub fn begin_statement(&self, catalog: &super::Catalog) {
        let wants = match lock(&self.open).as_mut() {
            Some(open) => {
                open.started = true;
                open.isolation > Isolation::ReadCommitted && open.snapshot.is_none()
            }
            None => false,
        };
        if wants {
            let snapshot = Arc::new(catalog.snapshot());
            if let Some(open) = lock(&self.open).as_mut()
                && open.snapshot.is_none()
            {
                open.snapshot = Some(snapshot);
            }
        }
    }

    /// Whether the block took a snapshot (its plans read it, not what is
    /// committed now).
    pub fn has_snapshot(&self) -> bool {
        lock(&self.open)
            .as_ref()
            .is_some_and(|o| o.snapshot.is_some())
    }

    /// Table `id`'s committed files as the block's snapshot has them (none
    /// for a table created since); `None` when the block reads what is
    /// committed now. Notes the read for a SERIALIZABLE block's check.
    pub fn snapshot_files(&self, id: &str) -> Option<FileList> {
        let mut open = lock(&self.open);
        let open = open.as_mut()?;
        let snapshot = open.snapshot.clone()?;
        if open.isolation == Isolation::Serializable && !open.read.contains(id) {
            open.read.insert(id.to_string());
        }
        Some(
            snapshot
                .tables
                .get(id)
                .map(|(_, files)| files.clone())
                .unwrap_or_default(),
        )
    }

    /// Before a REPEATABLE READ or SERIALIZABLE block rewrites `removed`,
    /// files of its snapshot: `40001` when a commit since took one out of
    /// the table (another transaction changed those rows first), as
    /// PostgreSQL's "could not serialize access due to concurrent update".
    pub fn check_rewrite(&self, data: &TableData, removed: &[String]) -> Result<()> {
        if !self.has_snapshot() {
            return Ok(());
        }
        let staged: HashSet<String> = self
            .files(&data.id)
            .map(|v| v.added.into_iter().map(|f| f.name).collect())
            .unwrap_or_default();
        let committed = data.snapshot();
        let listed: HashSet<&str> = committed.files.iter().map(|f| f.name.as_str()).collect();
        match removed
            .iter()
            .find(|f| !staged.contains(f.as_str()) && !listed.contains(f.as_str()))
        {
            None => Ok(()),
            Some(_) => Err(serialization_failure(
                "could not serialize access due to concurrent update",
            )),
        }
    }

    pub fn is_open(&self) -> bool {
        lock(&self.open).is_some()
    }

    /// Whether the block holds table `id`'s row-change lock.
    pub fn holds(&self, id: &str) -> bool {
        lock(&self.open)
            .as_ref()
            .is_some_and(|o| o.held.iter().any(|(t, _)| t == id))
    }

    /// Keeps table `id`'s row-change lock until the block ends; gives it
    /// back when no block is open.
    pub fn hold(
        &self,
        id: &str,
        guard: tokio::sync::OwnedMutexGuard<()>,
    ) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match lock(&self.open).as_mut() {
            Some(open) => {
                open.held.push((id.to_string(), guard));
                None
            }
            None => Some(guard),
        }
    }

    /// Stages `pending` for `data` and returns its rows; `Err(pending)` back
    /// when no block is open (the write commits now).
    pub fn stage(
        &self,
        data: &Arc<TableData>,
        pending: PendingFiles,
        replace: bool,
    ) -> std::result::Result<u64, PendingFiles> {
        self.stage_rewrite(data, pending, replace, Vec::new())
            .map_err(|(pending, _)| pending)
    }

    /// Stages `pending` for `data` with `removed`, the visible files it
    /// rewrites; `Err` gives both back when no block is open.
    pub fn stage_rewrite(
        &self,
        data: &Arc<TableData>,
        pending: PendingFiles,
        replace: bool,
        removed: Vec<String>,
    ) -> std::result::Result<u64, (PendingFiles, Vec<String>)> {
        let mut open = lock(&self.open);
        let Some(Open { tables, .. }) = open.as_mut() else {
            return Err((pending, removed));
        };
        let rows = pending.rows();
        let staged = match tables.iter_mut().position(|t| t.data.id == data.id) {
            Some(i) => &mut tables[i],
            None => {
                tables.push(Staged {
                    data: data.clone(),
                    base_version: data.snapshot().version,
                    replace_from: None,
                    pending: Vec::new(),
                    removed: Vec::new(),
                });
                tables.last_mut().expect("just pushed")
            }
        };
        if replace {
            // What the block wrote before is replaced too.
            staged.replace_from = Some(staged.pending.len());
            staged.base_version = data.snapshot().version;
        }
        staged.pending.push(pending);
        staged.removed.extend(removed);
        Ok(rows)
    }

    /// What the block changed in table `id`, if anything.
    pub fn files(&self, id: &str) -> Option<StagedView> {
        let open = lock(&self.open);
        let staged = open.as_ref()?.tables.iter().find(|t| t.data.id == id)?;
        Some(StagedView {
            replace: staged.replace_from.is_some(),
            added: staged.added(),
            removed: staged.removed_committed().into_iter().collect(),
        })
    }

    /// `SAVEPOINT name`: remembers what is staged now.
    pub fn savepoint(&self, name: &str) -> Result<()> {
        let mut open = lock(&self.open);
        let Some(open) = open.as_mut() else {
            return Err(outside("SAVEPOINT"));
        };
        let marks = open
            .tables
            .iter()
            .map(|t| Mark {
                id: t.data.id.clone(),
                writes: t.pending.len(),
                removed: t.removed.len(),
                replace_from: t.replace_from,
                base_version: t.base_version,
            })
            .collect();
        let changes = open.changes.len();
        open.savepoints.push(Savepoint {
            name: name.to_string(),
            marks,
            changes,
        });
        Ok(())
    }

    /// `ROLLBACK TO SAVEPOINT name`: what was staged after it is deleted;
    /// the savepoint stays, later ones go.
    pub fn roll_back_to(&self, name: &str) -> Result<()> {
        let mut open = lock(&self.open);
        let Some(open) = open.as_mut() else {
            return Err(outside("ROLLBACK TO SAVEPOINT"));
        };
        let at = savepoint_index(&open.savepoints, name)?;
        open.savepoints.truncate(at + 1);
        let point = &open.savepoints[at];
        open.changes
            .drain(point.changes..)
            .for_each(Change::discard);
        let marks = &point.marks;
        open.tables
            .retain_mut(|t| match marks.iter().find(|m| m.id == t.data.id) {
                Some(m) => {
                    t.pending.truncate(m.writes);
                    t.removed.truncate(m.removed);
                    t.replace_from = m.replace_from;
                    t.base_version = m.base_version;
                    true
                }
                None => false,
            });
        Ok(())
    }

    /// `RELEASE SAVEPOINT name`: forgets it and later ones, keeping what
    /// they staged.
    pub fn release(&self, name: &str) -> Result<()> {
        let mut open = lock(&self.open);
        let Some(open) = open.as_mut() else {
            return Err(outside("RELEASE SAVEPOINT"));
        };
        let at = savepoint_index(&open.savepoints, name)?;
        open.savepoints.truncate(at);
        Ok(())
    }

    /// `ROLLBACK` (or a failed block's end): the staged files are deleted.
    /// Returns whether the block had staged anything.
    pub fn roll_back(&self) -> bool {
        let Some(open) = lock(&self.open).take() else {
            return false;
        };
        let staged = !open.tables.is_empty() || !open.changes.is_empty();
        open.changes.into_iter().for_each(Change::discard);
        staged
    }

    /// Stages a catalog change; gives it back (`Some`) when no block is
    /// open: it is published now.
    pub fn stage_change(&self, change: Change) -> Option<Change> {
        match lock(&self.open).as_mut() {
            Some(open) => {
                open.changes.push(change);
                None
            }
            None => Some(change),
        }
    }

    /// What `name` means to this session's block, if its changes touched it.
    pub fn seen(&self, name: &RelName) -> Option<Seen> {
        super::changes::seen(&lock(&self.open).as_ref()?.changes, name)
    }

    /// The names this block's changes add to and take from `schema`.
    pub fn names_in(&self, schema: &str) -> Option<(Vec<String>, Vec<String>)> {
        let open = lock(&self.open);
        let changes = &open.as_ref()?.changes;
        (!changes.is_empty()).then(|| super::changes::names_in(changes, schema))
    }

    /// `COMMIT`: every catalog change and staged file published in one
    /// store transaction. On an error nothing is published and the staged
    /// files are deleted, as the block ended either way. Returns whether
    /// anything was staged.
    pub async fn commit(&self, catalog: &super::Catalog) -> Result<bool> {
        // The row-change locks are kept until the changes are listed (or
        // the commit failed): no other change reads the table in between.
        let Some(Open {
            mut tables,
            held: _held,
            changes,
            isolation,
            snapshot,
            read,
            ..
        }) = lock(&self.open).take()
        else {
            return Ok(false);
        };
        if tables.is_empty() && changes.is_empty() {
            return Ok(false);
        }
        // A SERIALIZABLE block that wrote checks what it read: each table
        // still at its snapshot's version, held so until published.
        let checked: Vec<(Arc<TableData>, i64)> = match (isolation, &snapshot) {
            (Isolation::Serializable, Some(snapshot)) => read
                .iter()
                .filter_map(|id| snapshot.tables.get(id))
                .map(|(data, files)| (data.clone(), files.version))
                .collect(),
            _ => Vec::new(),
        };
        // Catalog changes publish under the DDL lock, as any DDL does.
        let _ddl = match changes.is_empty() {
            true => None,
            false => Some(catalog.ddl.lock().await),
        };
        // Rows staged for a table the block dropped go with it.
        let dropped: HashSet<&str> = changes.iter().filter_map(Change::dropped).collect();
        tables.retain(|t| !dropped.contains(t.data.id.as_str()));
        // Each table's commit lock, in one order for every session.
        tables.sort_by(|a, b| a.data.id.cmp(&b.data.id));
        let mut datas: Vec<Arc<TableData>> = tables.iter().map(|t| t.data.clone()).collect();
        datas.extend(checked.iter().map(|(data, _)| data.clone()));
        datas.sort_by(|a, b| a.id.cmp(&b.id));
        datas.dedup_by(|a, b| a.id == b.id);
        let mut guards = Vec::with_capacity(datas.len());
        for data in &datas {
            guards.push(data.lock_commits().await);
        }
        if checked
            .iter()
            .any(|(data, version)| data.snapshot().version != *version)
        {
            return Err(serialization_failure(
                "could not serialize access due to read/write dependencies among transactions",
            )
            .with_detail("a table this transaction read changed after its snapshot"));
        }
        let added: Vec<Vec<DataFile>> = tables.iter().map(Staged::added).collect();
        let removed: Vec<Vec<String>> = tables.iter().map(Staged::removed_committed).collect();
        let commits: Vec<TableCommit<'_>> = tables
            .iter()
            .zip(added.iter().zip(&removed))
            .map(|(t, (files, removed))| TableCommit {
                relation_id: &t.data.id,
                expected_version: t.base_version,
                added: files,
                removed,
                replace: t.replace_from.is_some(),
            })
            .collect();
        let versions = catalog.publish(changes, &commits)?;
        drop(commits);
        let publication = super::table::Publication::begin();
        for ((mut t, version), (added, removed)) in tables
            .into_iter()
            .zip(versions)
            .zip(added.into_iter().zip(removed))
        {
            let replace = t.replace_from.is_some();
            // Writes a replace superseded, and staged files a later rewrite
            // removed, are dropped: their files go.
            let live = t.pending.split_off(t.replace_from.unwrap_or(0));
            let kept: HashSet<&str> = added.iter().map(|f| f.name.as_str()).collect();
            for p in live {
                for f in p.files() {
                    if !kept.contains(f.name.as_str()) {
                        let _ = std::fs::remove_file(t.data.dir.join(&f.name));
                    }
                }
                p.committed();
            }
            t.data
                .committed(&publication, version, added, replace, &removed);
        }
        drop(publication);
        drop(guards);
        Ok(true)
    }
}

/// `40001`, which a client answers by running the transaction again.
fn serialization_failure(message: &str) -> SqlStateError {
    SqlStateError::new(sqlstate::SERIALIZATION_FAILURE, message).with_hint("retry the transaction")
}

/// PostgreSQL's error for a savepoint command outside a block.
fn outside(what: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::NO_ACTIVE_SQL_TRANSACTION,
        format!("{what} can only be used in transaction blocks"),
    )
}

/// The newest savepoint called `name` (PostgreSQL's rule for repeated names).
fn savepoint_index(savepoints: &[Savepoint], name: &str) -> Result<usize> {
    savepoints
        .iter()
        .rposition(|p| p.name == name)
        .ok_or_else(|| {
            SqlStateError::new(
                sqlstate::INVALID_SAVEPOINT_SPECIFICATION,
                format!("savepoint \"{name}\" does not exist"),
            )
        })
}

/// The session's [`Block`] in its configuration, where the sink of an
/// `INSERT` and the scan of a managed table find it. Not a setting.
#[derive(Debug, Clone)]
pub struct BlockExtension(pub Arc<Block>);

quarry_udfs::config_handle!(BlockExtension, "quarry_block");
