//! A stored definition that could not be planned at start-up (a moved file,
//! a dropped dependency), kept visible instead of silently skipped: the
//! relation stays listed (so `DROP` and `\d` find it) with no columns, every
//! statement that names it fails with `55000` saying why (even one whose
//! columns cannot resolve against the empty placeholder), and the system
//! table `quarry_unloadable_relations` lists each with its reason.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use super::Catalog;
use super::live::LiveRows;
use crate::error::{SqlStateError, sqlstate};

/// The system table listing relations that could not be loaded.
pub const UNLOADABLE_RELATIONS: &str = "quarry_unloadable_relations";

#[derive(Debug)]
pub struct Unloadable {
    name: String,
    reason: String,
    kind: TableType,
    schema: SchemaRef,
}

impl Unloadable {
    pub fn new(name: String, reason: String, kind: TableType) -> Self {
        Unloadable {
            name,
            reason,
            kind,
            schema: Arc::new(Schema::empty()),
        }
    }

    /// The error every read gets.
    pub fn error(&self) -> SqlStateError {
        SqlStateError::new(
            sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "relation \"{}\" could not be loaded when the server started: {}",
                self.name, self.reason
            ),
        )
        .with_hint(
            "fix the cause (restore the file, recreate what it reads) and restart, or DROP it",
        )
    }
}

#[async_trait]
impl TableProvider for Unloadable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        self.kind
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(self.error().into_df())
    }
}

fn as_unloadable(provider: &Arc<dyn TableProvider>) -> Option<&Unloadable> {
    let any: &dyn std::any::Any = provider.as_ref();
    any.downcast_ref::<Unloadable>()
}

/// `quarry_unloadable_relations (schema_name, name, kind, reason)`: every
/// relation registered as [`Unloadable`], read fresh at each scan. Holds the
/// catalog weakly: the catalog owns this table.
#[derive(Debug)]
pub struct UnloadableRelations {
    catalog: Weak<Catalog>,
    schema: SchemaRef,
}

impl UnloadableRelations {
    pub fn new(catalog: Weak<Catalog>) -> Self {
        let text = |name: &str| Field::new(name, DataType::Utf8, false);
        UnloadableRelations {
            catalog,
            schema: Arc::new(Schema::new(vec![
                text("schema_name"),
                text("name"),
                text("kind"),
                text("reason"),
            ])),
        }
    }

    async fn rows(&self) -> Vec<[String; 4]> {
        let Some(catalog) = self.catalog.upgrade() else {
            return Vec::new();
        };
        let provider = catalog.provider();
        let mut rows = Vec::new();
        for schema_name in provider.schema_names() {
            let Some(schema) = provider.schema(&schema_name) else {
                continue;
            };
            for name in schema.table_names() {
                if let Ok(Some(table)) = schema.table(&name).await
                    && let Some(u) = as_unloadable(&table)
                {
                    let kind = match u.kind {
                        TableType::View => "view",
                        _ => "external table",
                    };
                    rows.push([
                        schema_name.clone(),
                        name,
                        kind.to_string(),
                        u.reason.clone(),
                    ]);
                }
            }
        }
        rows.sort();
        rows
    }
}

#[async_trait]
impl LiveRows for UnloadableRelations {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, _state: &dyn Session) -> Result<RecordBatch> {
        let rows = self.rows().await;
        let columns: Vec<ArrayRef> = (0..4)
            .map(|i| {
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r[i]))) as ArrayRef
            })
            .collect();
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

impl Catalog {
    /// The error of the first relation `statement` names that could not be
    /// loaded: planning against its empty placeholder fails with a column
    /// error that would hide the reason.
    pub async fn unloadable_named(
        &self,
        state: &datafusion::execution::context::SessionState,
        statement: &datafusion::sql::parser::Statement,
    ) -> Option<SqlStateError> {
        let references = state.resolve_table_references(statement).ok()?;
        let provider = self.provider();
        let default_schema = state.config().options().catalog.default_schema.clone();
        for reference in references {
            let schema_name = reference.schema().unwrap_or(&default_schema);
            let Some(schema) = provider.schema(schema_name) else {
                continue;
            };
            if let Ok(Some(table)) = schema.table(reference.table()).await
                && let Some(u) = as_unloadable(&table)
            {
                return Some(u.error());
            }
        }
        None
    }
}
