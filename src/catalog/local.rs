//! Relations one session owns: temporary tables and views.
//!
//! `CREATE TEMP TABLE` (and `TEMP VIEW`) make a relation only its session
//! sees, kept in memory and gone when the session ends, as PostgreSQL's
//! temporary relations are. A session's names resolve through
//! [`FrontCatalogs`] with its [`LocalRelations`] in front: its temporary
//! relations first, then the shared catalog, as PostgreSQL searches
//! `pg_temp` before the `search_path`; and `pg_temp.name` names one
//! explicitly. (The same layering lets an `UPDATE`'s query see its table
//! with row positions: [`Pinned`]; and an open transaction block's
//! uncommitted catalog changes sit between the two: [`SessionFront`].)
//! They are not in the store, so they never outlive a crash either.
//!
//! A transaction block undoes what it did to them as it undoes its other
//! writes: `BEGIN` and each `SAVEPOINT` keep a [`LocalPoint`] (the names, and
//! each temporary table's batches, which are shared, not copied), and
//! `ROLLBACK` or `ROLLBACK TO SAVEPOINT` puts it back: rows inserted,
//! updated or deleted, and relations created or dropped since.
//!
//! (PostgreSQL looks in `pg_temp` only for an unqualified name; here a
//! temporary relation also hides a table of the same name qualified with a
//! schema. Names are resolved through DataFusion's catalogs, which are not
//! told whether the statement qualified the name.)

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result as DfResult;

use super::changes::Seen;
use super::staging::Block;
use super::{CATALOG_NAME, RelName};
use crate::error::{Result, SqlStateError, sqlstate};
use crate::sync::{read, write};

/// The schema that names a session's temporary relations.
pub const TEMP_SCHEMA: &str = "pg_temp";

/// Schemas a temporary relation never hides a name in.
const SYSTEM_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

/// A temporary table's rows: its partitions' batches.
type Partitions = Vec<Vec<RecordBatch>>;

/// What a session's temporary relations held at a point of its
/// transaction block.
pub struct LocalPoint {
    relations: BTreeMap<String, Arc<dyn TableProvider>>,
    /// Each temporary table's partitions' batches.
    rows: Vec<(Arc<dyn TableProvider>, Partitions)>,
}

fn as_memory(provider: &Arc<dyn TableProvider>) -> Option<&MemTable> {
    (provider.as_ref() as &dyn std::any::Any).downcast_ref::<MemTable>()
}

/// A session's temporary relations, by name.
#[derive(Debug, Default)]
pub struct LocalRelations {
    relations: RwLock<BTreeMap<String, Arc<dyn TableProvider>>>,
}

impl LocalRelations {
    pub fn get(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        read(&self.relations).get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        read(&self.relations).keys().cloned().collect()
    }

    /// Adds `relation` as `name`. With `or_replace` an existing one is
    /// replaced; with `if_not_exists` it is kept (returns `false`).
    pub fn create(
        &self,
        name: &str,
        relation: Arc<dyn TableProvider>,
        or_replace: bool,
        if_not_exists: bool,
    ) -> Result<bool> {
        let mut relations = write(&self.relations);
        if relations.contains_key(name) && !or_replace {
            if if_not_exists {
                return Ok(false);
            }
            return Err(SqlStateError::new(
                sqlstate::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            ));
        }
        relations.insert(name.to_string(), relation);
        Ok(true)
    }

    /// Drops `name`; `false` when there is none.
    pub fn remove(&self, name: &str) -> bool {
        write(&self.relations).remove(name).is_some()
    }

    /// What they hold now, for [`LocalRelations::restore`].
    pub async fn point(&self) -> LocalPoint {
        let relations = read(&self.relations).clone();
        let mut rows = Vec::new();
        for provider in relations.values() {
            if let Some(table) = as_memory(provider) {
                let mut partitions = Vec::with_capacity(table.batches.len());
                for partition in &table.batches {
                    partitions.push(partition.read().await.clone());
                }
                rows.push((provider.clone(), partitions));
            }
        }
        LocalPoint { relations, rows }
    }

    /// Puts back what they held at `point`.
    pub async fn restore(&self, point: &LocalPoint) {
        *write(&self.relations) = point.relations.clone();
        for (provider, partitions) in &point.rows {
            if let Some(table) = as_memory(provider) {
                for (partition, batches) in table.batches.iter().zip(partitions) {
                    *partition.write().await = batches.clone();
                }
            }
        }
    }
}

/// Relations that stand in front of the catalog's for some names.
pub trait Front: std::fmt::Debug + Send + Sync + 'static {
    /// The relation that `schema.name` means instead, if any.
    fn relation(&self, schema: &str, name: &str) -> Option<Arc<dyn TableProvider>>;

    /// Whether `schema.name` means nothing here, whatever the catalog has.
    fn hides(&self, _schema: &str, _name: &str) -> bool {
        false
    }

    /// Makes the catalog's names in `schema` the names seen here.
    fn adjust_names(&self, _schema: &str, _names: &mut Vec<String>) {}

    /// Whether `pg_temp` names these relations (a session's own), and
    /// their names there.
    fn temp_names(&self) -> Option<Vec<String>> {
        None
    }
}

impl Front for LocalRelations {
    fn relation(&self, schema: &str, name: &str) -> Option<Arc<dyn TableProvider>> {
        if SYSTEM_SCHEMAS.contains(&schema) {
            return None;
        }
        self.get(name)
    }

    fn temp_names(&self) -> Option<Vec<String>> {
        Some(self.names())
    }
}

/// A session's view of the catalog: its temporary relations, then what its
/// open transaction block created, dropped or renamed
/// (`catalog::changes`), in front of what is committed.
#[derive(Debug)]
pub struct SessionFront {
    pub local: Arc<LocalRelations>,
    pub block: Arc<Block>,
}

impl Front for SessionFront {
    fn relation(&self, schema: &str, name: &str) -> Option<Arc<dyn TableProvider>> {
        if let Some(local) = self.local.relation(schema, name) {
            return Some(local);
        }
        match self.block.seen(&RelName::new(schema, name))? {
            Seen::Relation { provider, .. } => Some(provider),
            Seen::Gone => None,
        }
    }

    fn hides(&self, schema: &str, name: &str) -> bool {
        matches!(
            self.block.seen(&RelName::new(schema, name)),
            Some(Seen::Gone)
        )
    }

    fn adjust_names(&self, schema: &str, names: &mut Vec<String>) {
        if let Some((added, gone)) = self.block.names_in(schema) {
            names.retain(|n| !gone.contains(n));
            for name in added {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            names.sort();
        }
    }

    fn temp_names(&self) -> Option<Vec<String>> {
        self.local.temp_names()
    }
}

/// One relation standing in for the table `schema.table`.
#[derive(Debug)]
pub struct Pinned {
    pub schema: String,
    pub table: String,
    pub provider: Arc<dyn TableProvider>,
}

impl Front for Pinned {
    fn relation(&self, schema: &str, name: &str) -> Option<Arc<dyn TableProvider>> {
        (schema == self.schema && name == self.table).then(|| self.provider.clone())
    }
}

/// Catalogs with `front`'s relations in front of those of catalog
/// `catalog`.
#[derive(Debug)]
pub struct FrontCatalogs {
    inner: Arc<dyn CatalogProviderList>,
    catalog: String,
    front: Arc<dyn Front>,
}

impl FrontCatalogs {
    /// A session's view: its temporary relations and its block's changes
    /// in front of Quarry's catalog.
    pub fn session(
        inner: Arc<dyn CatalogProviderList>,
        local: Arc<LocalRelations>,
        block: Arc<Block>,
    ) -> Self {
        FrontCatalogs::new(inner, CATALOG_NAME, Arc::new(SessionFront { local, block }))
    }

    pub fn new(inner: Arc<dyn CatalogProviderList>, catalog: &str, front: Arc<dyn Front>) -> Self {
        FrontCatalogs {
            inner,
            catalog: catalog.to_string(),
            front,
        }
    }
}

impl CatalogProviderList for FrontCatalogs {
    fn register_catalog(
        &self,
        name: String,
        catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        self.inner.register_catalog(name, catalog)
    }

    fn catalog_names(&self) -> Vec<String> {
        self.inner.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        let inner = self.inner.catalog(name)?;
        if name != self.catalog {
            return Some(inner);
        }
        Some(Arc::new(FrontCatalog {
            inner,
            front: self.front.clone(),
        }))
    }
}

#[derive(Debug)]
struct FrontCatalog {
    inner: Arc<dyn CatalogProvider>,
    front: Arc<dyn Front>,
}

impl CatalogProvider for FrontCatalog {
    /// With `pg_temp` while the session has temporary relations, so
    /// `information_schema` lists them (dbt reads a temporary relation's
    /// columns there, by name alone).
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.inner.schema_names();
        if self.front.temp_names().is_some_and(|temp| !temp.is_empty()) {
            names.push(TEMP_SCHEMA.to_string());
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let inner = match self.inner.schema(name) {
            Some(inner) => Some(inner),
            None if name == TEMP_SCHEMA && self.front.temp_names().is_some() => None,
            None => return None,
        };
        Some(Arc::new(FrontSchema {
            name: name.to_string(),
            inner,
            front: self.front.clone(),
        }))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        self.inner.register_schema(name, schema)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        self.inner.deregister_schema(name, cascade)
    }
}

/// Schema `name` with the front's relations in front (`pg_temp`, which no
/// catalog has: only those).
#[derive(Debug)]
struct FrontSchema {
    name: String,
    inner: Option<Arc<dyn SchemaProvider>>,
    front: Arc<dyn Front>,
}

#[async_trait]
impl SchemaProvider for FrontSchema {
    fn table_names(&self) -> Vec<String> {
        match &self.inner {
            Some(inner) => {
                let mut names = inner.table_names();
                self.front.adjust_names(&self.name, &mut names);
                names
            }
            None => self.front.temp_names().unwrap_or_default(),
        }
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(front) = self.front.relation(&self.name, name) {
            return Ok(Some(front));
        }
        if self.front.hides(&self.name, name) {
            return Ok(None);
        }
        match &self.inner {
            Some(inner) => inner.table(name).await,
            None => Ok(None),
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match &self.inner {
            Some(inner) => inner.register_table(name, table),
            None => Err(SqlStateError::unsupported(
                "create a temporary relation with CREATE TEMP TABLE",
            )
            .into_df()),
        }
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match &self.inner {
            Some(inner) => inner.deregister_table(name),
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.front.relation(&self.name, name).is_some()
            || (!self.front.hides(&self.name, name)
                && self.inner.as_ref().is_some_and(|i| i.table_exist(name)))
    }
}
