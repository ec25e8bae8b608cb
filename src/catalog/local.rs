//! Relations one session owns: temporary tables and views.
//!
//! `CREATE TEMP TABLE` (and `TEMP VIEW`) make a relation only its session
//! sees, kept in memory and gone when the session ends, as PostgreSQL's
//! temporary relations are. A session's names resolve through
//! [`SessionCatalogs`]: its temporary relations first, then the shared
//! catalog, as PostgreSQL searches `pg_temp` before the `search_path`; and
//! `pg_temp.name` names one explicitly. They are not in the store, so they
//! never outlive a crash either.
//!
//! (PostgreSQL looks in `pg_temp` only for an unqualified name; here a
//! temporary relation also hides a table of the same name qualified with a
//! schema. Names are resolved through DataFusion's catalogs, which are not
//! told whether the statement qualified the name.)

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::error::Result as DfResult;

use super::CATALOG_NAME;
use crate::error::{Result, SqlStateError, sqlstate};
use crate::sync::{read, write};

/// The schema that names a session's temporary relations.
pub const TEMP_SCHEMA: &str = "pg_temp";

/// Schemas a temporary relation never hides a name in.
const SYSTEM_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

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
}

/// A session's view of the catalogs: the shared ones, with its temporary
/// relations in front.
#[derive(Debug)]
pub struct SessionCatalogs {
    inner: Arc<dyn CatalogProviderList>,
    local: Arc<LocalRelations>,
}

impl SessionCatalogs {
    pub fn new(inner: Arc<dyn CatalogProviderList>, local: Arc<LocalRelations>) -> Self {
        SessionCatalogs { inner, local }
    }
}

impl CatalogProviderList for SessionCatalogs {
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
        if name != CATALOG_NAME {
            return Some(inner);
        }
        Some(Arc::new(SessionCatalog {
            inner,
            local: self.local.clone(),
        }))
    }
}

#[derive(Debug)]
struct SessionCatalog {
    inner: Arc<dyn CatalogProvider>,
    local: Arc<LocalRelations>,
}

impl CatalogProvider for SessionCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.inner.schema_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == TEMP_SCHEMA {
            return Some(Arc::new(Layered {
                inner: None,
                local: self.local.clone(),
            }));
        }
        let inner = self.inner.schema(name)?;
        if SYSTEM_SCHEMAS.contains(&name) {
            return Some(inner);
        }
        Some(Arc::new(Layered {
            inner: Some(inner),
            local: self.local.clone(),
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

/// A schema with the session's temporary relations in front (`pg_temp`:
/// only those).
#[derive(Debug)]
struct Layered {
    inner: Option<Arc<dyn SchemaProvider>>,
    local: Arc<LocalRelations>,
}

#[async_trait]
impl SchemaProvider for Layered {
    fn table_names(&self) -> Vec<String> {
        match &self.inner {
            Some(inner) => inner.table_names(),
            None => self.local.names(),
        }
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(local) = self.local.get(name) {
            return Ok(Some(local));
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
        self.local.get(name).is_some() || self.inner.as_ref().is_some_and(|i| i.table_exist(name))
    }
}
