//! What the catalog does once, when the server starts: plan again the
//! external tables and views whose definitions the store keeps, remove files
//! no committed version lists (what a crash mid-write left), and note that
//! the data directory has been set up (demo data is loaded only once).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::datasource::{TableType, ViewTable};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use tracing::{info, warn};

use super::store::{RelationKind, RelationRow};
use super::unloadable::Unloadable;
use super::{Catalog, RelName, external_provider};
use crate::error::io_error;
use crate::error::{Result, SqlStateError};
use crate::sync::read;

impl Catalog {
    /// Plans and registers external tables and views, in creation order.
    pub async fn load_definitions(&self, state: &SessionState) -> Result<()> {
        for row in self.store.relations()? {
            let result = match row.kind {
                RelationKind::Table | RelationKind::Materialized => continue,
                RelationKind::External => self.load_external(state, &row).await,
                RelationKind::View => self.load_view(state, &row).await,
            };
            if let Err(e) = result {
                // One broken definition (a moved file, a dropped dependency)
                // must not keep the server from starting. It stays listed,
                // and reading it says why it is broken; the user can drop it.
                let name = RelName::new(&row.schema_name, &row.name);
                warn!(relation = %name, error = %e.message,
                      "could not load a stored definition; reading it fails until fixed");
                let kind = match row.kind {
                    RelationKind::View => TableType::View,
                    _ => TableType::Base,
                };
                let placeholder = Unloadable::new(name.to_string(), e.message, kind);
                self.register(&row, Arc::new(placeholder))?;
            }
        }
        Ok(())
    }

    async fn plan_definition(
        &self,
        state: &SessionState,
        row: &RelationRow,
    ) -> Result<DdlStatement> {
        let sql = row
            .definition
            .as_deref()
            .ok_or_else(|| SqlStateError::internal("stored definition is missing"))?;
        let mut state = state.clone();
        state.config_mut().options_mut().catalog.default_schema = row.schema_name.clone();
        match crate::complexity::plan(&state, sql).await? {
            LogicalPlan::Ddl(ddl) => Ok(ddl),
            other => Err(SqlStateError::internal(format!(
                "stored definition planned to {}",
                other.display()
            ))),
        }
    }

    async fn load_external(&self, state: &SessionState, row: &RelationRow) -> Result<()> {
        let DdlStatement::CreateExternalTable(mut cmd) = self.plan_definition(state, row).await?
        else {
            return Err(SqlStateError::internal(
                "stored external table definition is not CREATE EXTERNAL TABLE",
            ));
        };
        if let Some(location) = &row.location {
            cmd.locations =
                serde_json::from_str(location).unwrap_or_else(|_| vec![location.clone()]);
        }
        let provider = external_provider(state, &cmd).await?;
        self.register(row, provider)
    }

    async fn load_view(&self, state: &SessionState, row: &RelationRow) -> Result<()> {
        let DdlStatement::CreateView(view) = self.plan_definition(state, row).await? else {
            return Err(SqlStateError::internal(
                "stored view definition is not CREATE VIEW",
            ));
        };
        let name = super::RelName::new(&row.schema_name, &row.name);
        let input =
            crate::access::analyzer::ViewOwner::wrap(&row.id, &name, view.input.as_ref().clone());
        let provider = Arc::new(ViewTable::new(input, row.definition.clone()));
        self.register(row, provider)
    }

    /// Removes data files and table directories that no committed version lists:
    /// the leftovers of a crash or of a dropped table.
    pub(super) fn collect_garbage(&self) -> Result<()> {
        let mut referenced: HashMap<String, Vec<String>> = HashMap::new();
        for (id, file) in self.store.referenced_files()? {
            referenced.entry(id).or_default().push(file);
        }
        let live: std::collections::HashSet<String> = read(&self.entries)
            .values()
            .filter(|e| e.kind.is_managed())
            .map(|e| e.id.clone())
            .collect();
        let dirs = std::fs::read_dir(&self.tables_dir).map_err(|e| io_error("list tables", e))?;
        let mut removed = 0usize;
        for dir in dirs.flatten() {
            let id = dir.file_name().to_string_lossy().to_string();
            if !live.contains(&id) {
                let _ = std::fs::remove_dir_all(dir.path());
                removed += 1;
                continue;
            }
            let keep = referenced.get(&id).cloned().unwrap_or_default();
            if let Ok(files) = std::fs::read_dir(dir.path()) {
                for f in files.flatten() {
                    let name = f.file_name().to_string_lossy().to_string();
                    if !keep.contains(&name) {
                        let _ = std::fs::remove_file(f.path());
                        removed += 1;
                    }
                }
            }
        }
        if removed > 0 {
            info!(
                removed,
                "removed files left by an interrupted write or a drop"
            );
        }
        Ok(())
    }

    /// True when the store has never been initialised with demo data or tables.
    pub fn is_fresh(&self) -> Result<bool> {
        Ok(self.store.meta("initialized")?.is_none())
    }

    pub fn mark_initialized(&self) -> Result<()> {
        self.store.set_meta("initialized", "1")
    }
}
