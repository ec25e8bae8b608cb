//! A stored definition that could not be planned at start-up (a moved file,
//! a dropped dependency), kept visible instead of silently skipped: the
//! relation stays listed (so `DROP` and `\d` find it) with no columns, and
//! every statement reading it fails with `55000` saying why.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::error::{SqlStateError, sqlstate};

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
