//! The metadata store: one SQLite database in WAL mode with `synchronous=FULL`.
//!
//! It is the commit point of every write. Data files are written, fsynced and
//! renamed into place first; a table (or a new version of it) becomes visible only
//! when the transaction that lists its files commits. A crash before that commit
//! leaves unlisted files, which [`Store::referenced_files`] lets startup remove.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Result, SqlStateError, sqlstate};
use crate::sync::lock;

/// What a relation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// Managed table: Parquet files owned by Quarry.
    Table,
    /// `CREATE EXTERNAL TABLE`: a definition over files Quarry does not own.
    External,
    /// `CREATE VIEW`: a stored query.
    View,
    /// `CREATE MATERIALIZED VIEW`: a managed table whose rows are its
    /// stored query's, as of its last `REFRESH`.
    Materialized,
}

impl RelationKind {
    fn as_str(self) -> &'static str {
        match self {
            RelationKind::Table => "table",
            RelationKind::External => "external",
            RelationKind::View => "view",
            RelationKind::Materialized => "matview",
        }
    }

    /// Whether its rows are Parquet files Quarry owns.
    pub fn is_managed(self) -> bool {
        matches!(self, RelationKind::Table | RelationKind::Materialized)
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "table" => Ok(RelationKind::Table),
            "external" => Ok(RelationKind::External),
            "view" => Ok(RelationKind::View),
            "matview" => Ok(RelationKind::Materialized),
            other => Err(SqlStateError::internal(format!(
                "catalog holds a relation of unknown kind {other:?}"
            ))),
        }
    }
}

/// One row of `relations`.
#[derive(Debug, Clone)]
pub struct RelationRow {
    pub id: String,
    pub schema_name: String,
    pub name: String,
    pub kind: RelationKind,
    /// Arrow IPC-encoded schema of a managed table.
    pub arrow_schema: Option<Vec<u8>>,
    /// SQL of an external table or a view.
    pub definition: Option<String>,
    /// Absolute location of an external table.
    pub location: Option<String>,
    pub version: i64,
    /// The role that created it, recorded with it (`access`); not read
    /// back here.
    pub owner: Option<String>,
}

/// One data file of a managed table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// File name inside the table's directory.
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
}

/// One table's part of a commit ([`Store::commit`]).
#[derive(Debug)]
pub struct TableCommit<'a> {
    pub relation_id: &'a str,
    /// The version the writes were made against (checked for a replace).
    pub expected_version: i64,
    pub added: &'a [DataFile],
    /// Files of the version written against that leave the table (the
    /// files an `UPDATE` or `DELETE` rewrote); each must still be in it.
    pub removed: &'a [String],
    /// The added files become the whole table.
    pub replace: bool,
}

/// One change to the catalog's relations ([`Store::commit`]).
#[derive(Debug)]
pub enum RelationChange<'a> {
    /// A new relation with its first files, replacing relation `replaces`
    /// (its id, and the name it must still have in the row's schema).
    Create {
        row: &'a RelationRow,
        files: &'a [DataFile],
        replaces: Option<(&'a str, &'a str)>,
    },
    /// Relation `id`, which must still be `schema.name`, goes (its files
    /// and comments too).
    Drop {
        id: &'a str,
        schema: &'a str,
        name: &'a str,
    },
    /// Relation `id`, which must still be `from_schema.from`, becomes
    /// `schema.name`.
    Rename {
        id: &'a str,
        from_schema: &'a str,
        from: &'a str,
        schema: &'a str,
        name: &'a str,
    },
    /// `COMMENT ON`: the description of relation `id` (`column` 0) or of
    /// its column, set or (`None`) removed.
    Comment {
        id: &'a str,
        column: i64,
        description: Option<&'a str>,
    },
}

/// A stored login.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub name: String,
    pub salt: Option<Vec<u8>>,
    pub salted_password: Option<Vec<u8>>,
    pub superuser: bool,
    /// `LOGIN`: a role without it (a group) cannot open a session.
    pub login: bool,
}

/// PostgreSQL's `40001` for a write that lost to one committed first.
pub fn concurrent_update(why: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::SERIALIZATION_FAILURE,
        format!("could not serialize access due to concurrent update: {why}"),
    )
    .with_hint("retry the transaction")
}

/// The SQLite metadata store.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    /// Advanced after every write (see [`Store::epoch`]).
    epoch: AtomicU64,
    /// Advanced whenever what a model reference resolves to may have
    /// changed (see [`Store::models`]).
    models: AtomicU64,
    /// Advanced whenever roles, memberships, privileges or owners may have
    /// changed (see [`Store::acl_epoch`]).
    acl: AtomicU64,
}

/// The connection, held for a write: dropping it, after the write committed
/// or failed, advances the store's epoch.
struct Writing<'a> {
    conn: MutexGuard<'a, Connection>,
    epoch: &'a AtomicU64,
}

impl std::ops::Deref for Writing<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for Writing<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schemas (
    name       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS relations (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    schema_name  TEXT NOT NULL REFERENCES schemas(name),
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    arrow_schema BLOB,
    definition   TEXT,
    location     TEXT,
    version      INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (schema_name, name)
);
-- A file belongs to versions [added_version, removed_version) of its table, so
-- old versions stay readable for snapshots until they are vacuumed.
CREATE TABLE IF NOT EXISTS table_files (
    relation_id     TEXT NOT NULL REFERENCES relations(id) ON DELETE CASCADE,
    file            TEXT NOT NULL,
    rows            INTEGER NOT NULL,
    bytes           INTEGER NOT NULL,
    added_version   INTEGER NOT NULL,
    removed_version INTEGER,
    PRIMARY KEY (relation_id, file)
);
-- When a file left its table's current version (compaction, TRUNCATE,
-- overwrite): VACUUM deletes it once that is older than the retention.
CREATE TABLE IF NOT EXISTS removed_files (
    relation_id TEXT NOT NULL,
    file        TEXT NOT NULL,
    removed_at  REAL NOT NULL DEFAULT (unixepoch('subsec')),
    PRIMARY KEY (relation_id, file)
);
CREATE TABLE IF NOT EXISTS users (
    name            TEXT PRIMARY KEY,
    salt            BLOB,
    salted_password BLOB,
    superuser       INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- COMMENT ON: a relation's (column_number 0) and its columns' (1-based).
CREATE TABLE IF NOT EXISTS comments (
    relation_id   TEXT NOT NULL REFERENCES relations(id) ON DELETE CASCADE,
    column_number INTEGER NOT NULL,
    description   TEXT NOT NULL,
    PRIMARY KEY (relation_id, column_number)
);
-- CREATE SEQUENCE (and SERIAL columns): the last value handed out.
CREATE TABLE IF NOT EXISTS sequences (
    schema_name TEXT NOT NULL,
    name        TEXT NOT NULL,
    last_value  INTEGER NOT NULL,
    increment   INTEGER NOT NULL,
    is_called   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (schema_name, name)
);
-- Roles' memberships, privileges granted and owners of relations,
-- schemas and models (`access`).
CREATE TABLE IF NOT EXISTS role_members (
    role         TEXT NOT NULL,
    member       TEXT NOT NULL,
    grantor      TEXT NOT NULL,
    admin_option INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (role, member)
);
CREATE TABLE IF NOT EXISTS privileges (
    object_kind TEXT NOT NULL,
    object      TEXT NOT NULL,
    privilege   TEXT NOT NULL,
    grantee     TEXT NOT NULL,
    grantor     TEXT NOT NULL,
    grantable   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (object_kind, object, privilege, grantee)
);
CREATE TABLE IF NOT EXISTS owners (
    object_kind TEXT NOT NULL,
    object      TEXT NOT NULL,
    owner       TEXT NOT NULL,
    PRIMARY KEY (object_kind, object)
);
INSERT OR IGNORE INTO schemas (name) VALUES ('public');
"#;

/// Columns added to `users` after it was first created: (name, type).
const USER_COLUMNS: &[(&str, &str)] = &[
    ("login", "INTEGER NOT NULL DEFAULT 1"),
    ("create_role", "INTEGER NOT NULL DEFAULT 0"),
    ("inherit", "INTEGER NOT NULL DEFAULT 1"),
];

pub(crate) fn store_err(e: rusqlite::Error) -> SqlStateError {
    SqlStateError::new(sqlstate::IO_ERROR, format!("catalog store: {e}"))
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(store_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(store_err)?;
        conn.execute_batch(SCHEMA).map_err(store_err)?;
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('users')")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(store_err)?;
        for (name, ty) in USER_COLUMNS {
            if !columns.iter().any(|c| c == name) {
                conn.execute_batch(&format!("ALTER TABLE users ADD COLUMN {name} {ty}"))
                    .map_err(store_err)?;
            }
        }
        Ok(Store {
            conn: Mutex::new(conn),
            epoch: AtomicU64::new(0),
            models: AtomicU64::new(0),
            acl: AtomicU64::new(0),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (its own
        // transactions roll back), so a poisoned lock is safe to reuse.
        lock(&self.conn)
    }

    fn writing(&self) -> Writing<'_> {
        Writing {
            conn: self.conn(),
            epoch: &self.epoch,
        }
    }

    /// A number that changes whenever metadata or data may have changed: every
    /// write to the store advances it, and so does [`Store::advance`], which the
    /// server calls once a writing statement has also updated what it keeps in
    /// memory. Kept plans (see `server::reuse`) are valid for one epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A number that changes whenever a model alias moves or a version is
    /// added or dropped: a plan that resolved a model reference (a table
    /// function such as `ml_predict(model, relation)` resolves it when
    /// planned) is made again when it differs.
    pub fn models(&self) -> u64 {
        self.models.load(Ordering::Acquire)
    }

    /// A number that changes whenever roles, memberships, grants or owners
    /// may have: `access::Access` reads the rules again when it differs.
    pub fn acl_epoch(&self) -> u64 {
        self.acl.load(Ordering::Acquire)
    }

    /// Advances [`Store::acl_epoch`]: call after the change committed.
    /// Advances [`Store::epoch`] too: a plan kept for reuse passed the
    /// privilege check of the rules it was made under (a REVOKE must reach
    /// the next execution of a statement that ran before it).
    pub fn acl_changed(&self) {
        self.acl.fetch_add(1, Ordering::AcqRel);
        self.advance();
    }

    /// Advances [`Store::models`]: call after the change committed.
    pub fn models_changed(&self) {
        self.models.fetch_add(1, Ordering::AcqRel);
    }

    /// Advances the epoch: something that plans depend on changed.
    pub fn advance(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Runs `sql` (several statements) outside a transaction.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        self.writing().execute_batch(sql).map_err(store_err)
    }

    /// Runs `f` with the connection.
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        f(&self.conn()).map_err(store_err)
    }

    /// The first column of every row `sql` (a query without parameters)
    /// returns, as text.
    pub fn strings(&self, sql: &str) -> Result<Vec<String>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(sql)?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Runs `f` in one transaction, committed when `f` succeeds.
    pub fn with_tx<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = self.writing();
        let tx = conn.transaction().map_err(store_err)?;
        let out = f(&tx).map_err(store_err)?;
        tx.commit().map_err(store_err)?;
        Ok(out)
    }

    /// Runs `f` in one transaction, committed when `f` succeeds; `f`'s own
    /// errors (a SQLSTATE of its choosing) roll it back.
    pub fn with_checked_tx<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.writing();
        let tx = conn.transaction().map_err(store_err)?;
        let out = f(&tx)?;
        tx.commit().map_err(store_err)?;
        Ok(out)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(store_err)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.writing()
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map(|_| ())
            .map_err(store_err)
    }

    pub fn schemas(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name FROM schemas ORDER BY name")
            .map_err(store_err)?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(store_err)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(store_err)?;
        Ok(rows)
    }

    /// A new schema, owned by `owner` (the bootstrap superuser when `None`).
    pub fn create_schema(&self, name: &str, owner: Option<&str>) -> Result<()> {
        let mut conn = self.writing();
        let tx = conn.transaction().map_err(store_err)?;
        tx.execute("INSERT INTO schemas (name) VALUES (?1)", [name])
            .map_err(store_err)?;
        if let Some(owner) = owner {
            tx.execute(
                "INSERT OR REPLACE INTO owners (object_kind, object, owner) VALUES ('schema', ?1, ?2)",
                params![name, owner],
            )
            .map_err(store_err)?;
        }
        tx.commit().map_err(store_err)?;
        self.acl_changed();
        Ok(())
    }

    /// Drops a schema and, in the same transaction, every relation in it.
    pub fn drop_schema(&self, name: &str) -> Result<()> {
        let mut conn = self.writing();
        let tx = conn.transaction().map_err(store_err)?;
        for table in ["owners", "privileges"] {
            tx.execute(
                &format!(
                    "DELETE FROM {table} WHERE (object_kind = 'relation' AND object IN \
                     (SELECT id FROM relations WHERE schema_name = ?1)) \
                     OR (object_kind = 'schema' AND object = ?1)"
                ),
                [name],
            )
            .map_err(store_err)?;
        }
        tx.execute("DELETE FROM relations WHERE schema_name = ?1", [name])
            .map_err(store_err)?;
        tx.execute("DELETE FROM schemas WHERE name = ?1", [name])
            .map_err(store_err)?;
        tx.commit().map_err(store_err)?;
        self.acl_changed();
        Ok(())
    }

    /// All relations in creation order, so views load after what they read.
    pub fn relations(&self) -> Result<Vec<RelationRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, schema_name, name, kind, arrow_schema, definition, location, version
                 FROM relations ORDER BY seq",
            )
            .map_err(store_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            })
            .map_err(store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(store_err)?;
        rows.into_iter()
            .map(
                |(id, schema_name, name, kind, arrow_schema, definition, location, version)| {
                    Ok(RelationRow {
                        id,
                        schema_name,
                        name,
                        kind: RelationKind::parse(&kind)?,
                        arrow_schema,
                        definition,
                        location,
                        version,
                        owner: None,
                    })
                },
            )
            .collect()
    }

    /// The files of version `version` of a managed table.
    pub fn files(&self, relation_id: &str, version: i64) -> Result<Vec<DataFile>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT file, rows, bytes FROM table_files
                 WHERE relation_id = ?1 AND added_version <= ?2
                   AND (removed_version IS NULL OR removed_version > ?2)
                 ORDER BY added_version, file",
            )
            .map_err(store_err)?;
        let rows = stmt
            .query_map(params![relation_id, version], |r| {
                Ok(DataFile {
                    name: r.get(0)?,
                    rows: r.get::<_, i64>(1)? as u64,
                    bytes: r.get::<_, i64>(2)? as u64,
                })
            })
            .map_err(store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(store_err)?;
        Ok(rows)
    }

    /// Every file name any version of any managed table still lists.
    pub fn referenced_files(&self) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT relation_id, file FROM table_files")
            .map_err(store_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(store_err)?;
        Ok(rows)
    }

    /// Creates a relation, with its first files, in one transaction. When
    /// `replace_id` is given, that relation is dropped in the same transaction
    /// (`CREATE OR REPLACE`).
    pub fn create_relation(
        &self,
        row: &RelationRow,
        files: &[DataFile],
        replace_id: Option<&str>,
    ) -> Result<()> {
        self.commit(
            &[RelationChange::Create {
                row,
                files,
                replaces: replace_id.map(|id| (id, row.name.as_str())),
            }],
            &[],
        )
        .map(|_| ())
    }

    /// Commits a new version of a managed table: `added` appear; when `replace` is
    /// set, every file of the current version disappears. Appends never conflict;
    /// a replace fails if another write committed since `expected_version`.
    /// Returns the new version.
    pub fn commit_files(
        &self,
        relation_id: &str,
        expected_version: i64,
        added: &[DataFile],
        replace: bool,
    ) -> Result<i64> {
        let versions = self.commit_many(&[TableCommit {
            relation_id,
            expected_version,
            added,
            removed: &[],
            replace,
        }])?;
        Ok(versions[0])
    }

    /// Commits a new version of each table in one SQLite transaction: all
    /// of them or none (see [`Store::commit`]). Returns the new versions.
    pub fn commit_many(&self, commits: &[TableCommit<'_>]) -> Result<Vec<i64>> {
        self.commit(&[], commits)
    }

    /// Applies catalog `changes` in order, then commits a new version of
    /// each table in `commits`, in one SQLite transaction (a statement, or a
    /// transaction block's COMMIT): all of it or none.
    ///
    /// A change that finds the catalog changed under it fails: a created
    /// or renamed-to name taken is `42P07`; a dropped or renamed relation
    /// gone is `40001`. A replace conflicts with any write committed since
    /// it was made; a removal conflicts with a write that removed the same
    /// file (another `UPDATE`, `DELETE` or replace, or a compaction), as
    /// PostgreSQL's first updater wins: both are `40001`. Returns the
    /// tables' new versions, in order.
    pub fn commit(
        &self,
        changes: &[RelationChange<'_>],
        commits: &[TableCommit<'_>],
    ) -> Result<Vec<i64>> {
        let mut conn = self.writing();
        let tx = conn.transaction().map_err(store_err)?;
        for change in changes {
            apply_change(&tx, change)?;
        }
        let mut versions = Vec::with_capacity(commits.len());
        for c in commits {
            versions.push(commit_table(&tx, c)?);
        }
        tx.commit().map_err(store_err)?;
        if !changes.is_empty() {
            // Relations created or dropped: their owners and grants too.
            self.acl_changed();
        }
        Ok(versions)
    }

    /// Commits a compaction of a managed table: `removed` (files of the
    /// current version) leave it and `added` (the same rows) join it, as one
    /// new version. Appends committed meanwhile are kept; if any removed file
    /// already left (a TRUNCATE or overwrite won the race), nothing changes
    /// and the compaction is `40001`. Returns the new version.
    pub fn compact_files(
        &self,
        relation_id: &str,
        removed: &[String],
        added: &[DataFile],
    ) -> Result<i64> {
        self.with_tx(|tx| {
            let current: i64 = tx.query_row(
                "SELECT version FROM relations WHERE id = ?1",
                [relation_id],
                |r| r.get(0),
            )?;
            let next = current + 1;
            let mut live = tx.prepare(
                "SELECT count(*) FROM table_files
                 WHERE relation_id = ?1 AND file = ?2 AND removed_version IS NULL",
            )?;
            let mut mark = tx.prepare(
                "UPDATE table_files SET removed_version = ?3 WHERE relation_id = ?1 AND file = ?2",
            )?;
            let mut note = tx.prepare(
                "INSERT OR IGNORE INTO removed_files (relation_id, file) VALUES (?1, ?2)",
            )?;
            for file in removed {
                let n: i64 = live.query_row(params![relation_id, file], |r| r.get(0))?;
                if n != 1 {
                    return Ok(None);
                }
                mark.execute(params![relation_id, file, next])?;
                note.execute(params![relation_id, file])?;
            }
            let mut insert = tx.prepare(
                "INSERT INTO table_files (relation_id, file, rows, bytes, added_version)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for f in added {
                insert.execute(params![
                    relation_id,
                    f.name,
                    f.rows as i64,
                    f.bytes as i64,
                    next
                ])?;
            }
            tx.execute(
                "UPDATE relations SET version = ?2 WHERE id = ?1",
                params![relation_id, next],
            )?;
            Ok(Some(next))
        })?
        .ok_or_else(|| {
            SqlStateError::new(
                sqlstate::SERIALIZATION_FAILURE,
                "the table was rewritten while it was compacted; nothing changed",
            )
        })
    }

    /// Forgets the files of `relation_id` that left it more than
    /// `older_than_seconds` ago, in one transaction; returns their names for
    /// the caller to delete (a crash before it does leaves them to the
    /// start-up clean-up, which removes files no row lists).
    pub fn forget_removed_files(
        &self,
        relation_id: &str,
        older_than_seconds: f64,
    ) -> Result<Vec<String>> {
        self.with_tx(|tx| {
            let files: Vec<String> = {
                let mut stmt = tx.prepare(
                    "SELECT r.file FROM removed_files r
                     JOIN table_files f ON f.relation_id = r.relation_id AND f.file = r.file
                     WHERE r.relation_id = ?1 AND f.removed_version IS NOT NULL
                       AND r.removed_at <= unixepoch('subsec') - ?2",
                )?;
                stmt.query_map(params![relation_id, older_than_seconds], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            for file in &files {
                tx.execute(
                    "DELETE FROM table_files WHERE relation_id = ?1 AND file = ?2",
                    params![relation_id, file],
                )?;
                tx.execute(
                    "DELETE FROM removed_files WHERE relation_id = ?1 AND file = ?2",
                    params![relation_id, file],
                )?;
            }
            Ok(files)
        })
    }

    pub fn user(&self, name: &str) -> Result<Option<UserRow>> {
        self.conn()
            .query_row(
                "SELECT name, salt, salted_password, superuser, login FROM users WHERE name = ?1",
                [name],
                |r| {
                    Ok(UserRow {
                        name: r.get(0)?,
                        salt: r.get(1)?,
                        salted_password: r.get(2)?,
                        superuser: r.get::<_, i64>(3)? != 0,
                        login: r.get::<_, i64>(4)? != 0,
                    })
                },
            )
            .optional()
            .map_err(store_err)
    }

    /// Makes `user` the bootstrap superuser, in one transaction: the user
    /// named by an earlier start-up is deleted, so a renamed `--superuser`
    /// retires the old name's credentials. A data directory from before the
    /// name was recorded had no superusers but bootstrap ones (there was no
    /// `CREATE USER`), so every other superuser is retired then.
    pub fn replace_bootstrap_user(&self, user: &UserRow) -> Result<()> {
        self.with_tx(|tx| {
            let previous: Option<String> = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = 'bootstrap_user'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            match previous {
                Some(old) if old != user.name => {
                    tx.execute("DELETE FROM users WHERE name = ?1", [&old])?;
                }
                Some(_) => {}
                None => {
                    tx.execute(
                        "DELETE FROM users WHERE superuser <> 0 AND name <> ?1",
                        [&user.name],
                    )?;
                }
            }
            tx.execute(
                "INSERT INTO users (name, salt, salted_password, superuser) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET salt = excluded.salt,
                   salted_password = excluded.salted_password, superuser = excluded.superuser",
                params![
                    user.name,
                    user.salt,
                    user.salted_password,
                    user.superuser as i64
                ],
            )?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('bootstrap_user', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [&user.name],
            )?;
            Ok(())
        })
    }

    /// This data directory's secret for mock authentication salts, made on
    /// first use and kept, so a name's mock salt survives restarts.
    pub fn mock_auth_secret(&self) -> Result<Vec<u8>> {
        let fresh: [u8; 32] = rand::random();
        let hex: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
        let stored: String = self.with_tx(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('mock_auth_secret', ?1)",
                [&hex],
            )?;
            tx.query_row(
                "SELECT value FROM meta WHERE key = 'mock_auth_secret'",
                [],
                |r| r.get(0),
            )
        })?;
        Ok(stored.into_bytes())
    }

    /// Every description: (schema, relation, column number, text).
    pub fn comments(&self) -> Result<Vec<(String, String, i64, String)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT r.schema_name, r.name, c.column_number, c.description
                 FROM comments c JOIN relations r ON r.id = c.relation_id
                 ORDER BY r.schema_name, r.name, c.column_number",
            )
            .map_err(store_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(store_err)?;
        Ok(rows)
    }

    /// `CREATE SEQUENCE`: its first `nextval` answers `start`. Returns
    /// `false` when it existed (and is kept).
    pub fn create_sequence(
        &self,
        schema: &str,
        name: &str,
        start: i64,
        increment: i64,
    ) -> Result<bool> {
        self.writing()
            .execute(
                "INSERT OR IGNORE INTO sequences (schema_name, name, last_value, increment, is_called)
                 VALUES (?1, ?2, ?3, ?4, 0)",
                params![schema, name, start, increment],
            )
            .map(|n| n == 1)
            .map_err(store_err)
    }

    /// `DROP SEQUENCE`; `false` when there was none.
    pub fn drop_sequence(&self, schema: &str, name: &str) -> Result<bool> {
        self.writing()
            .execute(
                "DELETE FROM sequences WHERE schema_name = ?1 AND name = ?2",
                params![schema, name],
            )
            .map(|n| n == 1)
            .map_err(store_err)
    }

    /// `nextval` for `count` rows at once, in one transaction: the first
    /// value and the increment (`None`: no such sequence). Values handed
    /// out are never handed out again, whatever happens to the statement,
    /// as in PostgreSQL.
    pub fn next_values(&self, schema: &str, name: &str, count: u64) -> Result<Option<(i64, i64)>> {
        if count == 0 {
            return Ok(Some((0, 1)));
        }
        self.with_tx(|tx| {
            let row: Option<(i64, i64, bool)> = tx
                .query_row(
                    "SELECT last_value, increment, is_called FROM sequences
                     WHERE schema_name = ?1 AND name = ?2",
                    params![schema, name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0)),
                )
                .optional()?;
            let Some((last, increment, called)) = row else {
                return Ok(None);
            };
            let first = if called { last + increment } else { last };
            let last = first + (count as i64 - 1) * increment;
            tx.execute(
                "UPDATE sequences SET last_value = ?3, is_called = 1
                 WHERE schema_name = ?1 AND name = ?2",
                params![schema, name, last],
            )?;
            Ok(Some((first, increment)))
        })
    }

    /// `setval(sequence, value, is_called)`; `false` when there is no such
    /// sequence.
    pub fn set_sequence(&self, schema: &str, name: &str, value: i64, called: bool) -> Result<bool> {
        self.writing()
            .execute(
                "UPDATE sequences SET last_value = ?3, is_called = ?4
                 WHERE schema_name = ?1 AND name = ?2",
                params![schema, name, value, i64::from(called)],
            )
            .map(|n| n == 1)
            .map_err(store_err)
    }

    pub fn user_names(&self) -> Result<Vec<(String, bool)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name, superuser FROM users ORDER BY name")
            .map_err(store_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)))
            .map_err(store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(store_err)?;
        Ok(rows)
    }
}

/// One table's part of [`Store::commit`]: its new version.
fn commit_table(tx: &rusqlite::Transaction<'_>, c: &TableCommit<'_>) -> Result<i64> {
    let current: Option<i64> = tx
        .query_row(
            "SELECT version FROM relations WHERE id = ?1",
            [c.relation_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(store_err)?;
    let Some(current) = current else {
        return Err(SqlStateError::new(
            sqlstate::UNDEFINED_TABLE,
            "the table was dropped while the statement ran",
        ));
    };
    if c.replace && current != c.expected_version {
        return Err(concurrent_update(
            "the table changed after this transaction replaced its rows",
        ));
    }
    let next = current + 1;
    if !c.replace {
        for file in c.removed {
            let changed = tx
                .execute(
                    "UPDATE table_files SET removed_version = ?3
                         WHERE relation_id = ?1 AND file = ?2 AND removed_version IS NULL",
                    params![c.relation_id, file, next],
                )
                .map_err(store_err)?;
            if changed != 1 {
                return Err(concurrent_update(
                    "another transaction changed the same rows first",
                ));
            }
            tx.execute(
                "INSERT OR IGNORE INTO removed_files (relation_id, file) VALUES (?1, ?2)",
                params![c.relation_id, file],
            )
            .map_err(store_err)?;
        }
    }
    if c.replace {
        tx.execute(
            "INSERT OR IGNORE INTO removed_files (relation_id, file)
                 SELECT relation_id, file FROM table_files
                 WHERE relation_id = ?1 AND removed_version IS NULL",
            params![c.relation_id],
        )
        .map_err(store_err)?;
        tx.execute(
            "UPDATE table_files SET removed_version = ?2
                 WHERE relation_id = ?1 AND removed_version IS NULL",
            params![c.relation_id, next],
        )
        .map_err(store_err)?;
    }
    insert_files(tx, c.relation_id, c.added, next)?;
    tx.execute(
        "UPDATE relations SET version = ?2 WHERE id = ?1",
        params![c.relation_id, next],
    )
    .map_err(store_err)?;
    Ok(next)
}

/// An object's owner and grants, gone with it.
pub(crate) fn forget_object(
    tx: &rusqlite::Transaction<'_>,
    kind: &str,
    object: &str,
) -> Result<()> {
    for table in ["owners", "privileges"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE object_kind = ?1 AND object = ?2"),
            params![kind, object],
        )
        .map_err(store_err)?;
    }
    Ok(())
}

/// One catalog change of [`Store::commit`].
fn apply_change(tx: &rusqlite::Transaction<'_>, change: &RelationChange<'_>) -> Result<()> {
    match *change {
        RelationChange::Create {
            row,
            files,
            replaces,
        } => {
            if let Some((old, name)) = replaces {
                let replaced = tx
                    .execute(
                        "DELETE FROM relations WHERE id = ?1 AND schema_name = ?2 AND name = ?3",
                        params![old, row.schema_name, name],
                    )
                    .map_err(store_err)?;
                if replaced != 1 {
                    return Err(gone(name));
                }
            }
            tx.execute(
                "INSERT INTO relations (id, schema_name, name, kind, arrow_schema, definition, location, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    row.id,
                    row.schema_name,
                    row.name,
                    row.kind.as_str(),
                    row.arrow_schema,
                    row.definition,
                    row.location,
                    row.version
                ],
            )
            .map_err(|e| name_taken(e, &row.name))?;
            if let Some(owner) = &row.owner {
                tx.execute(
                    "INSERT OR REPLACE INTO owners (object_kind, object, owner) VALUES ('relation', ?1, ?2)",
                    params![row.id, owner],
                )
                .map_err(store_err)?;
            }
            insert_files(tx, &row.id, files, row.version)
        }
        RelationChange::Drop { id, schema, name } => {
            let dropped = tx
                .execute(
                    "DELETE FROM relations WHERE id = ?1 AND schema_name = ?2 AND name = ?3",
                    params![id, schema, name],
                )
                .map_err(store_err)?;
            if dropped != 1 {
                return Err(gone(name));
            }
            forget_object(tx, "relation", id)
        }
        RelationChange::Rename {
            id,
            from_schema,
            from,
            schema,
            name,
        } => {
            let renamed = tx
                .execute(
                    "UPDATE relations SET schema_name = ?2, name = ?3 \
                     WHERE id = ?1 AND schema_name = ?4 AND name = ?5",
                    params![id, schema, name, from_schema, from],
                )
                .map_err(|e| name_taken(e, name))?;
            if renamed != 1 {
                return Err(gone(from));
            }
            Ok(())
        }
        RelationChange::Comment {
            id,
            column,
            description,
        } => {
            match description {
                Some(text) => tx.execute(
                    "INSERT INTO comments (relation_id, column_number, description) VALUES (?1, ?2, ?3)
                     ON CONFLICT (relation_id, column_number) DO UPDATE SET description = excluded.description",
                    params![id, column, text],
                ),
                None => tx.execute(
                    "DELETE FROM comments WHERE relation_id = ?1 AND column_number = ?2",
                    params![id, column],
                ),
            }
            .map_err(store_err)?;
            Ok(())
        }
    }
}

/// `42P07` when a name is taken, else the store's error.
fn name_taken(e: rusqlite::Error, name: &str) -> SqlStateError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            SqlStateError::new(
                sqlstate::INVALID_SCHEMA_NAME,
                format!("the schema of \"{name}\" was dropped by another transaction"),
            )
        }
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            SqlStateError::new(
                sqlstate::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            )
        }
        other => store_err(other),
    }
}

/// `40001` for a relation another transaction dropped or renamed first.
fn gone(name: &str) -> SqlStateError {
    concurrent_update(&format!(
        "relation \"{name}\" was dropped or renamed by another transaction"
    ))
}

fn insert_files(
    tx: &rusqlite::Transaction<'_>,
    relation_id: &str,
    files: &[DataFile],
    version: i64,
) -> Result<()> {
    let mut stmt = tx
        .prepare(
            "INSERT INTO table_files (relation_id, file, rows, bytes, added_version)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(store_err)?;
    for f in files {
        stmt.execute(params![
            relation_id,
            f.name,
            f.rows as i64,
            f.bytes as i64,
            version
        ])
        .map_err(store_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_row(id: &str, name: &str) -> RelationRow {
        RelationRow {
            id: id.into(),
            schema_name: "public".into(),
            name: name.into(),
            kind: RelationKind::Table,
            arrow_schema: Some(vec![1, 2, 3]),
            definition: None,
            location: None,
            version: 0,
            owner: None,
        }
    }

    fn file(name: &str) -> DataFile {
        DataFile {
            name: name.into(),
            rows: 10,
            bytes: 100,
        }
    }

    #[test]
    fn versions_keep_old_file_lists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("c.db")).expect("open");
        store
            .create_relation(&table_row("t1", "t"), &[file("a")], None)
            .expect("create");
        let v1 = store
            .commit_files("t1", 0, &[file("b")], false)
            .expect("append");
        let v2 = store
            .commit_files("t1", v1, &[file("c")], true)
            .expect("overwrite");
        let names = |v| -> Vec<String> {
            store
                .files("t1", v)
                .expect("files")
                .into_iter()
                .map(|f| f.name)
                .collect()
        };
        assert_eq!(names(0), vec!["a"]);
        assert_eq!(names(v1), vec!["a", "b"]);
        assert_eq!(names(v2), vec!["c"]);
    }

    #[test]
    fn compaction_keeps_appends_loses_to_overwrites_and_vacuum_forgets_old_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("c.db")).expect("open");
        store
            .create_relation(&table_row("t1", "t"), &[file("a"), file("b")], None)
            .expect("create");
        // An append lands while a compaction of a and b runs: it is kept.
        let v1 = store
            .commit_files("t1", 0, &[file("c")], false)
            .expect("append");
        let v2 = store
            .compact_files("t1", &["a".into(), "b".into()], &[file("ab")])
            .expect("compaction");
        assert_eq!(v2, v1 + 1);
        let mut names: Vec<String> = store
            .files("t1", v2)
            .expect("files")
            .into_iter()
            .map(|f| f.name)
            .collect();
        names.sort();
        assert_eq!(names, vec!["ab", "c"]);
        // A compaction of files an overwrite already removed changes nothing.
        store
            .commit_files("t1", v2, &[file("d")], true)
            .expect("overwrite");
        let err = store
            .compact_files("t1", &["ab".into(), "c".into()], &[file("abc")])
            .expect_err("lost the race");
        assert_eq!(err.code, sqlstate::SERIALIZATION_FAILURE);
        // Nothing is old enough under an hour's retention; everything is at 0.
        assert!(
            store
                .forget_removed_files("t1", 3600.0)
                .expect("vacuum")
                .is_empty()
        );
        let mut gone = store.forget_removed_files("t1", 0.0).expect("vacuum");
        gone.sort();
        assert_eq!(gone, vec!["a", "ab", "b", "c"]);
        assert!(
            store
                .referenced_files()
                .expect("files")
                .iter()
                .all(|(_, f)| f == "d")
        );
    }

    #[test]
    fn stale_version_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("c.db")).expect("open");
        store
            .create_relation(&table_row("t1", "t"), &[], None)
            .expect("create");
        store
            .commit_files("t1", 0, &[file("a")], false)
            .expect("first");
        store
            .commit_files("t1", 0, &[file("b")], false)
            .expect("appends never conflict");
        let err = store
            .commit_files("t1", 0, &[file("c")], true)
            .expect_err("stale");
        assert_eq!(err.code, sqlstate::SERIALIZATION_FAILURE);
    }

    #[test]
    fn duplicate_names_are_42p07() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("c.db")).expect("open");
        store
            .create_relation(&table_row("t1", "t"), &[], None)
            .expect("create");
        let err = store
            .create_relation(&table_row("t2", "t"), &[], None)
            .expect_err("duplicate");
        assert_eq!(err.code, "42P07");
    }
}
