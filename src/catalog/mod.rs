//! Persistent catalog: schemas, managed tables, external tables and views.
//!
//! The metadata store ([`store::Store`], SQLite) is the source of truth; the
//! DataFusion catalog provider is rebuilt from it at startup and kept in step by
//! the DDL methods here, which always commit to the store first.
//!
//! Why not Delta Lake: measured on this code base, `deltalake-core` 1.1 (even
//! with default features off) adds 118 crates to the build (401 → 519), and its
//! local object store never fsyncs, so a commit acknowledged to a client could be
//! lost on power failure. SQLite with `synchronous=FULL` plus fsynced Parquet
//! files gives the same atomic, versioned commits with durability we control.
//!
//! | module    | holds |
//! |-----------|-------|
//! | this one  | the catalog and its DDL: create, drop, rename, truncate |
//! | `schema`  | a schema as DataFusion's `SchemaProvider` sees it |
//! | `startup` | loading stored definitions and removing what a crash left |
//! | `store`   | the SQLite metadata store |
//! | `table`, `writer` | managed tables: their file lists and the commit protocol |

pub mod changes;
pub mod comments;
pub mod definition;
pub mod functions;
pub mod keys;
pub mod live;
pub mod local;
pub mod matviews;
pub mod paths;
pub mod rewrite;
mod schema;
pub mod sequence;
pub mod sizes;
pub mod staging;
mod startup;
pub mod store;
pub mod table;
pub mod unloadable;
pub mod writer;

pub use schema::QuarrySchema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::convert::{IpcSchemaEncoder, fb_to_schema};
use datafusion::arrow::ipc::root_as_schema;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::Constraints;
use datafusion::datasource::ViewTable;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{CreateExternalTable, LogicalPlan};
use futures::StreamExt;
use tracing::info;

use crate::error::{IntoSqlError, Result, SqlStateError, sqlstate};
use crate::sync::{read, write};
use changes::{Change, Seen};
use staging::Block;
use store::{RelationKind, RelationRow, Store};
use table::{FileList, ManagedTable, TableData};
use writer::{FileSetWriter, storage_schema};

/// The one catalog (database) Quarry serves, whatever name a client asks for.
pub const CATALOG_NAME: &str = "quarry";
/// The schema new objects go to by default.
pub const DEFAULT_SCHEMA: &str = "public";
/// Schemas served by DataFusion or datafusion-pg-catalog, not stored by us.
const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema"];

/// A schema-qualified relation name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelName {
    pub schema: String,
    pub name: String,
}

impl RelName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        RelName {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for RelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.schema == DEFAULT_SCHEMA {
            f.write_str(&self.name)
        } else {
            write!(f, "{}.{}", self.schema, self.name)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    id: String,
    kind: RelationKind,
}

/// What a new table's columns are: their schema, constraints and
/// `DEFAULT`s.
pub struct Columns<'a> {
    pub schema: SchemaRef,
    pub constraints: Option<Constraints>,
    pub defaults: &'a [(String, datafusion::logical_expr::Expr)],
}

impl Columns<'_> {
    /// Columns of `schema`, without constraints or defaults.
    pub fn plain(schema: SchemaRef) -> Columns<'static> {
        Columns {
            schema,
            constraints: None,
            defaults: &[],
        }
    }
}

/// The persistent catalog.
#[derive(Debug)]
pub struct Catalog {
    store: Arc<Store>,
    /// The data directory, canonical: no statement reads or writes in it.
    data_dir: PathBuf,
    tables_dir: PathBuf,
    provider: Arc<MemoryCatalogProvider>,
    schemas: RwLock<HashMap<String, Arc<QuarrySchema>>>,
    entries: RwLock<HashMap<RelName, Entry>>,
    /// Read-only system tables (`ml_models`, ...) in the public schema.
    system: RwLock<Vec<String>>,
    /// DDL is rare; one at a time keeps the store and memory in step.
    ddl: tokio::sync::Mutex<()>,
    /// Advanced whenever a name comes to mean another relation or schema
    /// (create, drop, rename): logical plans made before refer to the old one.
    definitions: Arc<AtomicU64>,
}

impl Catalog {
    /// Opens the catalog in `data_dir`, loads schemas and managed tables, and
    /// removes files a crash left behind. External tables and views need a
    /// session to plan them: [`Catalog::load_definitions`] loads them next.
    pub fn open(data_dir: &Path, store: Arc<Store>) -> Result<Arc<Self>> {
        let tables_dir = data_dir.join("tables");
        std::fs::create_dir_all(&tables_dir)
            .map_err(|e| crate::error::io_error("create tables directory", e))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(|e| crate::error::io_error("resolve the data directory", e))?;
        let catalog = Arc::new(Catalog {
            store,
            data_dir,
            tables_dir,
            provider: Arc::new(MemoryCatalogProvider::new()),
            schemas: RwLock::new(HashMap::new()),
            entries: RwLock::new(HashMap::new()),
            system: RwLock::new(Vec::new()),
            ddl: tokio::sync::Mutex::new(()),
            definitions: Arc::new(AtomicU64::new(0)),
        });
        for name in catalog.store.schemas()? {
            catalog.add_schema_provider(&name)?;
        }
        let mut managed = 0;
        for row in catalog.store.relations()? {
            if row.kind.is_managed() {
                let table = catalog.managed_table_from_row(&row)?;
                catalog.register(&row, Arc::new(table))?;
                managed += 1;
            }
        }
        catalog.collect_garbage()?;
        info!(tables = managed, "catalog opened");
        Ok(catalog)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The DataFusion catalog provider to register as [`CATALOG_NAME`].
    pub fn provider(&self) -> Arc<dyn CatalogProvider> {
        self.provider.clone()
    }

    /// The count of changes to what names mean; a logical plan made when it
    /// had another value may refer to relations that are gone.
    pub fn definitions(&self) -> u64 {
        self.definitions.load(Ordering::Acquire)
    }

    /// The id of the stored relation `name` is to a session whose block is
    /// `block` (`None` for a system table, a catalog or nothing).
    pub fn relation_id(&self, name: &RelName, block: &Block) -> Option<String> {
        self.visible(name, block).map(|e| e.id)
    }

    /// The stored relations of `schema`: (name, id).
    pub fn relations_in(&self, schema: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = read(&self.entries)
            .iter()
            .filter(|(n, _)| n.schema == schema)
            .map(|(n, e)| (n.name.clone(), e.id.clone()))
            .collect();
        out.sort();
        out
    }

    /// The columns of the committed relation `name`.
    pub fn relation_schema(
        &self,
        name: &RelName,
    ) -> Option<datafusion::arrow::datatypes::SchemaRef> {
        self.relation_provider(name).map(|p| p.schema())
    }

    /// The committed relation `name`.
    pub fn relation_provider(&self, name: &RelName) -> Option<Arc<dyn TableProvider>> {
        let schema = read(&self.schemas).get(&name.schema)?.clone();
        read(&schema.tables).get(&name.name).cloned()
    }

    /// Every stored view (committed ones): its name, plan and definition.
    pub fn views(
        &self,
    ) -> Vec<(
        RelName,
        datafusion::logical_expr::LogicalPlan,
        Option<String>,
    )> {
        let mut out = Vec::new();
        for (schema_name, schema) in read(&self.schemas).iter() {
            for (name, provider) in read(&schema.tables).iter() {
                let any: &dyn std::any::Any = provider.as_ref();
                if let Some(view) = any.downcast_ref::<ViewTable>() {
                    out.push((
                        RelName::new(schema_name.clone(), name.clone()),
                        view.logical_plan().clone(),
                        view.definition().cloned(),
                    ));
                }
            }
        }
        out.sort_by_key(|v| v.0.to_string());
        out
    }

    /// Whether `name` is a relation of any kind: stored, a system table,
    /// or one of the catalogs'.
    pub fn is_known(&self, name: &RelName) -> bool {
        SYSTEM_SCHEMAS.contains(&name.schema.as_str())
            || self
                .schema(&name.schema)
                .is_ok_and(|s| read(&s.tables).contains_key(&name.name))
    }

    /// Every managed table's committed files, as of one moment: what a
    /// REPEATABLE READ or SERIALIZABLE block reads (`staging::Snapshot`).
    pub fn snapshot(&self) -> staging::Snapshot {
        let mut datas: Vec<Arc<TableData>> = Vec::new();
        for schema in read(&self.schemas).values() {
            for provider in read(&schema.tables).values() {
                if let Some(table) = table::as_managed(provider) {
                    datas.push(table.data().clone());
                }
            }
        }
        let _held = table::hold_publications();
        staging::Snapshot {
            tables: datas
                .into_iter()
                .map(|data| {
                    let files = data.snapshot();
                    (data.id.clone(), (data, files))
                })
                .collect(),
        }
    }

    fn add_schema_provider(&self, name: &str) -> Result<Arc<QuarrySchema>> {
        let schema = Arc::new(QuarrySchema {
            tables: RwLock::default(),
            definitions: self.definitions.clone(),
        });
        schema.changed();
        self.provider
            .register_schema(name, schema.clone())
            .sql_err()?;
        write(&self.schemas).insert(name.to_string(), schema.clone());
        Ok(schema)
    }

    fn schema(&self, name: &str) -> Result<Arc<QuarrySchema>> {
        if let Some(s) = read(&self.schemas).get(name) {
            return Ok(s.clone());
        }
        if SYSTEM_SCHEMAS.contains(&name) {
            return Err(SqlStateError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!("schema \"{name}\" is a system schema and cannot be changed"),
            ));
        }
        Err(SqlStateError::new(
            sqlstate::INVALID_SCHEMA_NAME,
            format!("schema \"{name}\" does not exist"),
        )
        .with_hint("CREATE SCHEMA creates it"))
    }

    pub fn schema_exists(&self, name: &str) -> bool {
        read(&self.schemas).contains_key(name)
    }

    fn entry(&self, name: &RelName) -> Option<Entry> {
        read(&self.entries).get(name).cloned()
    }

    /// What `name` means to a session whose transaction block is `block`:
    /// the block's uncommitted changes in front of the committed catalog.
    fn visible(&self, name: &RelName, block: &Block) -> Option<Entry> {
        match block.seen(name) {
            Some(Seen::Relation { entry, .. }) => Some(entry),
            Some(Seen::Gone) => None,
            None => self.entry(name),
        }
    }

    /// The relation `name` is to a session whose block is `block`.
    fn visible_provider(&self, name: &RelName, block: &Block) -> Option<Arc<dyn TableProvider>> {
        match block.seen(name) {
            Some(Seen::Relation { provider, .. }) => Some(provider),
            Some(Seen::Gone) => None,
            None => read(&self.schema(&name.schema).ok()?.tables)
                .get(&name.name)
                .cloned(),
        }
    }

    /// The relation `name` is to a session whose block is `block`, or
    /// PostgreSQL's error for a missing one.
    fn existing(&self, name: &RelName, block: &Block) -> Result<Arc<dyn TableProvider>> {
        self.visible_provider(name, block)
            .ok_or_else(|| missing(name))
    }

    /// Stages `change` in `block` when one is open, or publishes it now.
    /// The caller holds the DDL lock.
    fn submit(&self, change: Change, block: &Block) -> Result<()> {
        if let Some(change) = block.stage_change(change) {
            self.publish(vec![change], &[])?;
        }
        Ok(())
    }

    fn register(&self, row: &RelationRow, provider: Arc<dyn TableProvider>) -> Result<()> {
        let schema = self.schema(&row.schema_name)?;
        schema
            .register_table(row.name.clone(), provider)
            .sql_err()?;
        write(&self.entries).insert(
            RelName::new(&row.schema_name, &row.name),
            Entry {
                id: row.id.clone(),
                kind: row.kind,
            },
        );
        Ok(())
    }

    fn unregister(&self, name: &RelName) {
        if let Ok(schema) = self.schema(&name.schema) {
            let _ = schema.deregister_table(&name.name);
        }
        write(&self.entries).remove(name);
    }

    fn table_dir(&self, id: &str) -> PathBuf {
        self.tables_dir.join(id)
    }

    fn managed_table_from_row(&self, row: &RelationRow) -> Result<ManagedTable> {
        let bytes = row.arrow_schema.as_deref().ok_or_else(|| {
            SqlStateError::internal(format!("table {} has no stored schema", row.name))
        })?;
        let schema = root_as_schema(bytes).map(fb_to_schema).map_err(|e| {
            SqlStateError::internal(format!("table {} has an unreadable schema: {e}", row.name))
        })?;
        let files = self.store.files(&row.id, row.version)?;
        let defaults = parse_defaults(&schema, &row.name, &self.store);
        let constraints = read_key_marks(&schema);
        Ok(ManagedTable::new(
            row.id.clone(),
            Arc::new(schema),
            self.table_dir(&row.id),
            constraints,
            self.store.clone(),
            FileList {
                version: row.version,
                files,
            },
        )
        .with_defaults(defaults)
        .materialized(
            (row.kind == RelationKind::Materialized)
                .then(|| row.definition.as_deref().map(Arc::from))
                .flatten(),
        ))
    }

    /// Registers a read-only system table in the public schema.
    pub fn register_system_table(
        &self,
        name: &str,
        provider: Arc<dyn TableProvider>,
    ) -> Result<()> {
        self.schema(DEFAULT_SCHEMA)?
            .register_table(name.to_string(), provider)
            .sql_err()?;
        write(&self.system).push(name.to_string());
        Ok(())
    }

    /// Makes the table `name` of `public` a system table: written by its
    /// users, never dropped, renamed or replaced (`ml_feedback`).
    pub fn protect(&self, name: &str) {
        let mut system = write(&self.system);
        if !system.iter().any(|n| n == name) {
            system.push(name.to_string());
        }
    }

    fn is_system(&self, name: &RelName) -> bool {
        name.schema == DEFAULT_SCHEMA && read(&self.system).contains(&name.name)
    }

    fn system_error(&self, name: &RelName) -> SqlStateError {
        SqlStateError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("\"{name}\" is a system table and cannot be changed"),
        )
    }

    fn ensure_absent(&self, name: &RelName, block: &Block) -> Result<()> {
        if self.is_system(name) {
            return Err(self.system_error(name));
        }
        if self.visible(name, block).is_some() {
            return Err(SqlStateError::new(
                sqlstate::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            ));
        }
        Ok(())
    }

    /// `CREATE TABLE` and `CREATE TABLE AS`: writes `data` (if any) into a new
    /// managed table; with `materialized`, the query whose rows `data` are
    /// (`CREATE MATERIALIZED VIEW`). The table appears, complete, when the
    /// store commits (the statement, or `block`).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_table(
        &self,
        name: &RelName,
        columns: Columns<'_>,
        data: Option<SendableRecordBatchStream>,
        if_not_exists: bool,
        or_replace: bool,
        materialized: Option<&str>,
        block: &Block,
    ) -> Result<u64> {
        let Columns {
            schema,
            constraints,
            defaults,
        } = columns;
        if self.is_system(name) {
            return Err(self.system_error(name));
        }
        self.schema(&name.schema)?;
        let existing = self.visible(name, block);
        if let Some(e) = &existing {
            if if_not_exists {
                return Ok(0);
            }
            if !or_replace {
                return Err(SqlStateError::new(
                    sqlstate::DUPLICATE_TABLE,
                    format!("relation \"{name}\" already exists"),
                ));
            }
            if e.kind == RelationKind::View {
                return Err(SqlStateError::new(
                    sqlstate::WRONG_OBJECT_TYPE,
                    format!("\"{name}\" is a view; DROP VIEW it first"),
                ));
            }
        }
        let schema = with_default_texts(&schema, defaults)?;
        let schema = storage_schema(with_key_marks(&schema, constraints.as_ref()).as_ref());
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = self.table_dir(&id);
        // Write outside the DDL lock: a large CTAS must not block other DDL.
        let mut writer = FileSetWriter::new(&dir, schema.clone())?;
        if let Some(mut stream) = data {
            while let Some(batch) = stream.next().await {
                writer.write(&batch.sql_err()?)?;
            }
        }
        let pending = writer.finish()?;
        let rows = pending.rows();
        let _ddl = self.ddl.lock().await;
        // Re-check under the lock: another session may have created it meanwhile.
        let existing = self.visible(name, block);
        if existing.is_some() && !or_replace {
            return Err(SqlStateError::new(
                sqlstate::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            ));
        }
        let row = RelationRow {
            id: id.clone(),
            schema_name: name.schema.clone(),
            name: name.name.clone(),
            kind: match materialized {
                Some(_) => RelationKind::Materialized,
                None => RelationKind::Table,
            },
            arrow_schema: Some(
                IpcSchemaEncoder::new()
                    .schema_to_fb(&schema)
                    .finished_data()
                    .to_vec(),
            ),
            definition: materialized.map(str::to_string),
            location: None,
            version: 0,
            owner: block.user(),
        };
        let table = ManagedTable::new(
            id,
            schema,
            dir,
            constraints,
            self.store.clone(),
            FileList {
                version: 0,
                files: pending.files().to_vec(),
            },
        )
        .with_defaults(defaults.iter().cloned().collect())
        .materialized(materialized.map(Arc::from));
        self.submit(
            Change::Create {
                name: name.clone(),
                row,
                provider: Arc::new(table),
                files: Some(pending),
                replaces: existing,
            },
            block,
        )?;
        Ok(rows)
    }

    fn remove_data(&self, entry: &Entry) {
        if entry.kind.is_managed() {
            // Readers that planned before the drop may still hold file handles;
            // on Unix the data stays readable for them until they close.
            let _ = std::fs::remove_dir_all(self.table_dir(&entry.id));
        }
    }

    /// The committed managed table behind `name` (`OPTIMIZE`, `VACUUM`).
    pub fn managed(&self, name: &RelName) -> Result<Arc<TableData>> {
        self.managed_in(name, &Block::default())
    }

    /// The managed table behind `name` for a session whose block is
    /// `block`, for writes (`COPY`, `TRUNCATE`).
    pub fn managed_in(&self, name: &RelName, block: &Block) -> Result<Arc<TableData>> {
        self.schema(&name.schema)?;
        let provider = self.existing(name, block)?;
        match table::as_managed(&provider) {
            Some(t) => {
                t.check_writable(&name.to_string())?;
                Ok(t.data().clone())
            }
            None => Err(SqlStateError::new(
                sqlstate::WRONG_OBJECT_TYPE,
                format!("\"{name}\" is not a table Quarry manages (a view or an external table)"),
            )),
        }
    }

    /// `DROP TABLE` (`kind` Table: managed or external), `DROP VIEW`,
    /// `DROP MATERIALIZED VIEW`.
    pub async fn drop_relation(
        &self,
        name: &RelName,
        kind: RelationKind,
        if_exists: bool,
        block: &Block,
    ) -> Result<bool> {
        if self.is_system(name) {
            return Err(self.system_error(name));
        }
        let _ddl = self.ddl.lock().await;
        let Some(entry) = self.visible(name, block) else {
            if if_exists {
                return Ok(false);
            }
            return Err(SqlStateError::new(
                sqlstate::UNDEFINED_TABLE,
                format!("{} \"{name}\" does not exist", kind_name(kind)),
            ));
        };
        let fits = match kind {
            RelationKind::Table | RelationKind::External => {
                matches!(entry.kind, RelationKind::Table | RelationKind::External)
            }
            other => entry.kind == other,
        };
        if !fits {
            return Err(SqlStateError::new(
                sqlstate::WRONG_OBJECT_TYPE,
                format!("\"{name}\" is not a {}", kind_name(kind)),
            )
            .with_hint(format!(
                "use DROP {} to remove a {}",
                kind_name(entry.kind).to_uppercase(),
                kind_name(entry.kind)
            )));
        }
        self.submit(
            Change::Drop {
                name: name.clone(),
                entry,
            },
            block,
        )?;
        Ok(true)
    }

    /// `COMMENT ON TABLE | VIEW | COLUMN ... IS ...`: stores (or, with
    /// `None`, removes) the description of relation `name` (`view`: named
    /// as a view) or of its `column`, for `pg_description`.
    pub async fn comment(
        &self,
        name: &RelName,
        view: bool,
        column: Option<&str>,
        text: Option<&str>,
        block: &Block,
    ) -> Result<()> {
        if self.is_system(name) {
            return Err(self.system_error(name));
        }
        let _ddl = self.ddl.lock().await;
        let Some(entry) = self.visible(name, block) else {
            return Err(missing(name));
        };
        if column.is_none() && view != (entry.kind == RelationKind::View) {
            return Err(SqlStateError::new(
                sqlstate::WRONG_OBJECT_TYPE,
                format!(
                    "\"{name}\" is not a {}",
                    if view { "view" } else { "table" }
                ),
            ));
        }
        let number = match column {
            None => 0,
            Some(column) => {
                let provider = self.existing(name, block)?;
                let position = provider
                    .schema()
                    .fields()
                    .iter()
                    .position(|f| f.name() == column)
                    .ok_or_else(|| {
                        SqlStateError::new(
                            sqlstate::UNDEFINED_COLUMN,
                            format!(
                                "column \"{column}\" of relation \"{}\" does not exist",
                                name.name
                            ),
                        )
                    })?;
                position as i64 + 1
            }
        };
        self.submit(
            Change::Comment {
                id: entry.id,
                column: number,
                text: text.map(str::to_string),
            },
            block,
        )
    }

    /// `ALTER TABLE ... RENAME TO ...` (also for views).
    pub async fn rename(
        &self,
        from: &RelName,
        to: &RelName,
        if_exists: bool,
        block: &Block,
    ) -> Result<()> {
        if self.is_system(from) {
            return Err(self.system_error(from));
        }
        let _ddl = self.ddl.lock().await;
        let (Some(entry), Some(provider)) = (
            self.visible(from, block),
            self.visible_provider(from, block),
        ) else {
            if if_exists {
                return Ok(());
            }
            return Err(missing(from));
        };
        self.schema(&to.schema)?;
        self.ensure_absent(to, block)?;
        self.submit(
            Change::Rename {
                from: from.clone(),
                to: to.clone(),
                entry,
                provider,
            },
            block,
        )
    }

    /// Refuses (42501) a path inside the data directory (see [`paths`]).
    pub fn check_outside_data_dir(&self, location: &str, what: &str) -> Result<()> {
        paths::outside_data_dir(&self.data_dir, location, what)
    }

    /// `CREATE EXTERNAL TABLE`: registers files Quarry reads but does not own.
    pub async fn create_external(
        &self,
        state: &SessionState,
        name: &RelName,
        cmd: &CreateExternalTable,
        block: &Block,
    ) -> Result<()> {
        if self.is_system(name) {
            return Err(self.system_error(name));
        }
        self.schema(&name.schema)?;
        let _ddl = self.ddl.lock().await;
        let existing = self.visible(name, block);
        if existing.is_some() {
            if cmd.if_not_exists {
                return Ok(());
            }
            if !cmd.or_replace {
                return Err(SqlStateError::new(
                    sqlstate::DUPLICATE_TABLE,
                    format!("relation \"{name}\" already exists"),
                ));
            }
        }
        if cmd.temporary {
            return Err(SqlStateError::unsupported(
                "temporary tables are not supported",
            ));
        }
        for location in &cmd.locations {
            self.check_outside_data_dir(location, "external table location")?;
        }
        let mut cmd = cmd.clone();
        cmd.locations = cmd.locations.iter().map(|l| absolute_location(l)).collect();
        let provider = external_provider(state, &cmd).await?;
        let definition = cmd
            .definition
            .clone()
            .ok_or_else(|| SqlStateError::internal("external table has no definition text"))?;
        let row = RelationRow {
            id: uuid::Uuid::new_v4().simple().to_string(),
            schema_name: name.schema.clone(),
            name: name.name.clone(),
            kind: RelationKind::External,
            arrow_schema: None,
            definition: Some(definition),
            location: Some(serde_json::to_string(&cmd.locations).unwrap_or_default()),
            version: 0,
            owner: block.user(),
        };
        self.submit(
            Change::Create {
                name: name.clone(),
                row,
                provider,
                files: None,
                replaces: existing,
            },
            block,
        )
    }

    /// `CREATE [OR REPLACE] VIEW`.
    pub async fn create_view(
        &self,
        name: &RelName,
        input: LogicalPlan,
        definition: String,
        or_replace: bool,
        block: &Block,
    ) -> Result<()> {
        if self.is_system(name) {
            return Err(self.system_error(name));
        }
        self.schema(&name.schema)?;
        let _ddl = self.ddl.lock().await;
        let existing = self.visible(name, block);
        if let Some(e) = &existing {
            if !or_replace {
                return Err(SqlStateError::new(
                    sqlstate::DUPLICATE_TABLE,
                    format!("relation \"{name}\" already exists"),
                ));
            }
            if e.kind != RelationKind::View {
                return Err(SqlStateError::new(
                    sqlstate::WRONG_OBJECT_TYPE,
                    format!("\"{name}\" is not a view"),
                ));
            }
        }
        let row = RelationRow {
            id: uuid::Uuid::new_v4().simple().to_string(),
            schema_name: name.schema.clone(),
            name: name.name.clone(),
            kind: RelationKind::View,
            arrow_schema: None,
            definition: Some(definition.clone()),
            location: None,
            version: 0,
            owner: block.user(),
        };
        // What it reads is checked with its owner's privileges.
        let input = crate::access::analyzer::ViewOwner::wrap(&row.id, name, input);
        let view = ViewTable::new(input, Some(definition));
        self.submit(
            Change::Create {
                name: name.clone(),
                row,
                provider: Arc::new(view),
                files: None,
                replaces: existing,
            },
            block,
        )
    }

    /// `CREATE SCHEMA`, owned by `owner` (the bootstrap superuser when
    /// `None`).
    pub async fn create_schema(
        &self,
        name: &str,
        if_not_exists: bool,
        owner: Option<&str>,
    ) -> Result<()> {
        let _ddl = self.ddl.lock().await;
        if self.schema_exists(name) || SYSTEM_SCHEMAS.contains(&name) {
            if if_not_exists {
                return Ok(());
            }
            return Err(SqlStateError::new(
                sqlstate::DUPLICATE_SCHEMA,
                format!("schema \"{name}\" already exists"),
            ));
        }
        self.store.create_schema(name, owner)?;
        self.add_schema_provider(name)?;
        Ok(())
    }

    /// `DROP SCHEMA [CASCADE]`.
    pub async fn drop_schema(&self, name: &str, if_exists: bool, cascade: bool) -> Result<()> {
        let _ddl = self.ddl.lock().await;
        if !self.schema_exists(name) {
            if if_exists {
                return Ok(());
            }
            return Err(SqlStateError::new(
                sqlstate::INVALID_SCHEMA_NAME,
                format!("schema \"{name}\" does not exist"),
            ));
        }
        if name == DEFAULT_SCHEMA {
            return Err(SqlStateError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                "schema \"public\" cannot be dropped",
            ));
        }
        let members: Vec<(RelName, Entry)> = read(&self.entries)
            .iter()
            .filter(|(k, _)| k.schema == name)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !members.is_empty() && !cascade {
            return Err(SqlStateError::new(
                sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "cannot drop schema \"{name}\" because {} relations depend on it",
                    members.len()
                ),
            )
            .with_hint("use DROP SCHEMA ... CASCADE to drop them too"));
        }
        self.store.drop_schema(name)?;
        for (rel, entry) in &members {
            self.unregister(rel);
            self.remove_data(entry);
        }
        self.provider.deregister_schema(name, true).sql_err()?;
        write(&self.schemas).remove(name);
        self.definitions.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// `TRUNCATE`: a new, empty version of a managed table.
    /// `OPTIMIZE t`: merges the table's small files into one new version
    /// (see [`TableData::optimize`]), then vacuums it.
    pub async fn optimize(&self, name: &RelName) -> Result<Option<table::Compaction>> {
        let data = self.managed(name)?;
        let done = data.optimize().await?;
        data.vacuum()?;
        Ok(done)
    }

    /// `VACUUM [t]`: deletes the files that left a table (or every managed
    /// table) longer ago than `--vacuum-retention`; returns how many.
    pub fn vacuum(&self, name: Option<&RelName>) -> Result<usize> {
        let names: Vec<RelName> = match name {
            Some(n) => vec![n.clone()],
            None => read(&self.entries)
                .iter()
                .filter(|(_, e)| e.kind.is_managed())
                .map(|(n, _)| n.clone())
                .collect(),
        };
        let mut removed = 0;
        for n in &names {
            removed += self.managed(n)?.vacuum()?;
        }
        Ok(removed)
    }

    /// `REFRESH MATERIALIZED VIEW`: the view's query run again by
    /// `session`'s planner, its rows replacing the view's (staged in
    /// `block` when one is open). Returns the rows.
    pub async fn refresh(
        &self,
        name: &RelName,
        block: &Block,
        rows: impl std::future::Future<Output = Result<SendableRecordBatchStream>>,
    ) -> Result<u64> {
        let data = self.materialized_view(name, block)?.0;
        let mut stream = rows.await?;
        let mut writer = data.writer()?;
        while let Some(batch) = stream.next().await {
            writer.write(&batch.sql_err()?)?;
        }
        let pending = writer.finish()?;
        let rows = pending.rows();
        if let Err(pending) = block.stage(&data, pending, true) {
            data.commit(pending, true).await?;
        }
        Ok(rows)
    }

    /// The materialized view `name` means to a session whose block is
    /// `block`, and its query.
    pub fn materialized_view(
        &self,
        name: &RelName,
        block: &Block,
    ) -> Result<(Arc<TableData>, Arc<str>)> {
        let provider = self.existing(name, block)?;
        match table::as_managed(&provider).and_then(|t| Some((t, t.view_query()?))) {
            Some((t, query)) => Ok((t.data().clone(), query.clone())),
            // PostgreSQL's code for it too.
            None => Err(SqlStateError::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("\"{name}\" is not a materialized view"),
            )),
        }
    }

    /// `TRUNCATE`: staged in `block` when one is open.
    pub async fn truncate(&self, name: &RelName, block: &Block) -> Result<()> {
        let data = self.managed_in(name, block)?;
        let pending = data.writer()?.finish()?;
        if let Err(pending) = block.stage(&data, pending, true) {
            data.commit(pending, true).await?;
        }
        Ok(())
    }
}

/// PostgreSQL's error for a relation that is not there.
fn missing(name: &RelName) -> SqlStateError {
    SqlStateError::new(
        sqlstate::UNDEFINED_TABLE,
        format!("relation \"{name}\" does not exist"),
    )
}

/// How PostgreSQL's messages call a relation of `kind`.
fn kind_name(kind: RelationKind) -> &'static str {
    match kind {
        RelationKind::Table | RelationKind::External => "table",
        RelationKind::View => "view",
        RelationKind::Materialized => "materialized view",
    }
}

async fn external_provider(
    state: &SessionState,
    cmd: &CreateExternalTable,
) -> Result<Arc<dyn TableProvider>> {
    let file_type = cmd.file_type.to_uppercase();
    let factory = state
        .table_factories()
        .get(file_type.as_str())
        .ok_or_else(|| {
            SqlStateError::unsupported(format!(
                "STORED AS {file_type} is not supported; use PARQUET, CSV, JSON or ARROW"
            ))
        })?;
    factory
        .create(state, cmd)
        .await
        .map_err(|e: DataFusionError| crate::error::classify(&e))
}

/// Turns a relative local path into an absolute one, so the table still resolves
/// after a restart from another working directory.
fn absolute_location(location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let path = Path::new(location);
    if path.is_absolute() {
        return location.to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => {
            let mut joined = cwd.join(path).to_string_lossy().to_string();
            if location.ends_with('/') && !joined.ends_with('/') {
                joined.push('/');
            }
            joined
        }
        Err(_) => location.to_string(),
    }
}

/// `schema` with each column's `DEFAULT` (a planned expression) kept as SQL
/// text in its field's metadata, where the stored schema carries it.
fn with_default_texts(
    schema: &datafusion::arrow::datatypes::Schema,
    defaults: &[(String, datafusion::logical_expr::Expr)],
) -> Result<SchemaRef> {
    if defaults.is_empty() {
        return Ok(Arc::new(schema.clone()));
    }
    let fields: Vec<datafusion::arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let Some((_, expr)) = defaults.iter().find(|(c, _)| c == f.name()) else {
                return Ok(f.as_ref().clone());
            };
            let text = datafusion::sql::unparser::expr_to_sql(expr)
                .map_err(|e| {
                    SqlStateError::unsupported(format!(
                        "the DEFAULT of column \"{}\" cannot be stored: {e}",
                        f.name()
                    ))
                })?
                .to_string();
            let mut metadata = f.metadata().clone();
            metadata.insert(table::DEFAULT_KEY.to_string(), text);
            Ok(f.as_ref().clone().with_metadata(metadata))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(
        datafusion::arrow::datatypes::Schema::new_with_metadata(fields, schema.metadata().clone()),
    ))
}

/// Field metadata marking a column of the table's primary key.
const PRIMARY_KEY_MARK: &str = "quarry.primary_key";
/// Field metadata listing the unique constraints (by number) a column is in.
const UNIQUE_MARK: &str = "quarry.unique";

/// `schema` with its `constraints` (primary key, unique) marked on their
/// columns, where the stored schema keeps them across restarts. Quarry
/// enforces neither; they are kept because they change what statements
/// mean (`INSERT ... ON CONFLICT` is refused on a table with a key) and
/// what clients are told.
fn with_key_marks(
    schema: &datafusion::arrow::datatypes::Schema,
    constraints: Option<&Constraints>,
) -> SchemaRef {
    use datafusion::common::Constraint;
    let Some(constraints) = constraints.filter(|c| !c.is_empty()) else {
        return Arc::new(schema.clone());
    };
    let mut fields: Vec<datafusion::arrow::datatypes::Field> =
        schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut mark = |column: usize, key: &str, value: String| {
        if let Some(f) = fields.get_mut(column) {
            let mut metadata = f.metadata().clone();
            let joined = match metadata.get(key) {
                Some(previous) => format!("{previous},{value}"),
                None => value,
            };
            metadata.insert(key.to_string(), joined);
            *f = f.clone().with_metadata(metadata);
        }
    };
    let mut unique = 0;
    for constraint in constraints.iter() {
        match constraint {
            Constraint::PrimaryKey(columns) => {
                for (place, &c) in columns.iter().enumerate() {
                    mark(c, PRIMARY_KEY_MARK, place.to_string());
                }
            }
            Constraint::Unique(columns) => {
                for &c in columns {
                    mark(c, UNIQUE_MARK, unique.to_string());
                }
                unique += 1;
            }
        }
    }
    Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ))
}

/// The constraints a stored schema marks on its columns
/// ([`with_key_marks`]), in key order.
fn read_key_marks(schema: &datafusion::arrow::datatypes::Schema) -> Option<Constraints> {
    use datafusion::common::Constraint;
    let mut primary: Vec<(usize, usize)> = Vec::new();
    let mut unique: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, f) in schema.fields().iter().enumerate() {
        if let Some(place) = f.metadata().get(PRIMARY_KEY_MARK) {
            primary.push((place.parse().unwrap_or(i), i));
        }
        if let Some(groups) = f.metadata().get(UNIQUE_MARK) {
            for g in groups.split(',').filter_map(|g| g.parse().ok()) {
                unique.entry(g).or_default().push(i);
            }
        }
    }
    primary.sort_unstable();
    let mut constraints = Vec::new();
    if !primary.is_empty() {
        constraints.push(Constraint::PrimaryKey(
            primary.into_iter().map(|(_, c)| c).collect(),
        ));
    }
    constraints.extend(unique.into_values().map(Constraint::Unique));
    (!constraints.is_empty()).then(|| Constraints::new_unverified(constraints))
}

/// The `DEFAULT`s a stored schema keeps, planned again, with DataFusion's
/// functions and `nextval` (a default is a constant or a call such as
/// `now()` or a SERIAL column's `nextval`), outside any session. One that
/// cannot be planned (a function a later version dropped) is logged and
/// left out rather than keeping the table from loading.
fn parse_defaults(
    schema: &datafusion::arrow::datatypes::Schema,
    table: &str,
    store: &Arc<Store>,
) -> std::collections::HashMap<String, datafusion::logical_expr::Expr> {
    let texts: Vec<(&String, &String)> = schema
        .fields()
        .iter()
        .filter_map(|f| f.metadata().get(table::DEFAULT_KEY).map(|t| (f.name(), t)))
        .collect();
    if texts.is_empty() {
        return Default::default();
    }
    let mut planner = datafusion::execution::SessionStateBuilder::new()
        .with_default_features()
        .build();
    let _ = datafusion::execution::FunctionRegistry::register_udf(
        &mut planner,
        Arc::new(datafusion::logical_expr::ScalarUDF::from(
            sequence::NextVal::new(store.clone()),
        )),
    );
    let empty = datafusion::common::DFSchema::empty();
    texts
        .into_iter()
        .filter_map(|(column, text)| match planner.create_logical_expr(text, &empty) {
            Ok(expr) => Some((column.clone(), expr)),
            Err(e) => {
                tracing::warn!(table, column, default = text, error = %e, "a column default cannot be read; inserts leave the column NULL");
                None
            }
        })
        .collect()
}
