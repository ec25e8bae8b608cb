//! System tables whose rows are the server's state at the moment of the scan
//! (`ml_models`, `pg_stat_activity`, `quarry_unloadable_relations`, ...):
//! each says what its rows are ([`LiveRows`]); [`LiveTable`] makes it a
//! read-only relation that computes them afresh at every scan.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// The rows of a system table, computed when it is scanned.
#[async_trait]
pub trait LiveRows: Debug + Send + Sync + 'static {
    fn schema(&self) -> SchemaRef;

    /// The rows now, as the scanning session may see them.
    async fn batch(&self, state: &dyn Session) -> Result<RecordBatch>;
}

/// A [`LiveRows`] as a read-only relation (a view to the planner: never
/// written, never kept between statements).
#[derive(Debug)]
pub struct LiveTable<T>(pub T);

impl<T: LiveRows> LiveTable<T> {
    pub fn provider(rows: T) -> Arc<dyn TableProvider> {
        Arc::new(LiveTable(rows))
    }
}

#[async_trait]
impl<T: LiveRows> TableProvider for LiveTable<T> {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.0.batch(state).await?;
        MemTable::try_new(self.0.schema(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}
