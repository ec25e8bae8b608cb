//! One schema of the catalog as DataFusion sees it: its relations, kept in
//! memory and mirrored in the store by the catalog's DDL methods. Every
//! change bumps the catalog's count of definitions, so plans made before
//! are made again (`server::query::prepared::Names`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::Result as DfResult;

use crate::sync::{read, write};

/// A schema whose tables are kept in memory and mirrored in the store.
#[derive(Debug)]
pub struct QuarrySchema {
    pub(super) tables: RwLock<HashMap<String, Arc<dyn TableProvider>>>,
    /// The catalog's count of changes to what names mean.
    pub(super) definitions: Arc<AtomicU64>,
}

impl QuarrySchema {
    pub(super) fn changed(&self) {
        self.definitions.fetch_add(1, Ordering::AcqRel);
    }
}

#[async_trait]
impl SchemaProvider for QuarrySchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = read(&self.tables).keys().cloned().collect();
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(read(&self.tables).get(name).cloned())
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let previous = write(&self.tables).insert(name, table);
        self.changed();
        Ok(previous)
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let removed = write(&self.tables).remove(name);
        self.changed();
        Ok(removed)
    }

    fn table_exist(&self, name: &str) -> bool {
        read(&self.tables).contains_key(name)
    }
}
