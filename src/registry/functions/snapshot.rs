//! `SELECT * FROM ml_snapshot(name, relation)`: materializes a relation as
//! the next immutable version of a named snapshot (`ml_snapshot_read` reads
//! one back).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Param, Params};

use super::{relation_query, session_state, text_arg};
use crate::error::{IntoSqlError, SqlStateError};
use crate::registry::Registry;
use crate::registry::snapshots::{Origin, SnapshotRow};

pub const NAME: &str = "ml_snapshot";

/// The result row of `ml_snapshot`.
pub fn result_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("sha256", DataType::Utf8, false),
        Field::new("created_at", DataType::Utf8, false),
    ]))
}

fn result_batch(row: &SnapshotRow) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![row.name.clone()])),
        Arc::new(Int64Array::from(vec![row.version])),
        Arc::new(Int64Array::from(vec![row.rows])),
        Arc::new(StringArray::from(vec![row.sha256.clone()])),
        Arc::new(StringArray::from(vec![row.created_at.clone()])),
    ];
    Ok(RecordBatch::try_new(result_schema(), columns)?)
}

/// The `ml_snapshot` table function.
#[derive(Debug)]
pub struct SnapshotUdtf {
    registry: Arc<Registry>,
}

impl SnapshotUdtf {
    pub fn new(registry: Arc<Registry>) -> Self {
        SnapshotUdtf { registry }
    }
}

impl TableFunctionSpec for SnapshotUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        Param::value(
            "name",
            "The snapshot's name; writing it again adds a version.",
        ),
        Param::relation(
            "relation",
            "A table name, a parenthesized subquery, or text holding a name or a query.",
        ),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Features", description: None },
            "Materializes a table or query as the next version of a named snapshot: an immutable copy of its rows, written durably (files fsynced, then one metadata commit), so a feature set can be read back exactly later with ml_snapshot_read. Returns one row: name, version (1, 2, ... per name), rows, sha256 (of the column names and types and every row in order, in Arrow's canonical row format: equal digests mean equal rows, however they were batched or stored), created_at. Every CREATE MODEL also snapshots its training rows as 'training:<model>' unless snapshot = false; ml_snapshots lists all versions. Names starting with 'training:' are kept for training snapshots. Errors: 22023 for an empty or reserved name or a relation that does not parse; errors of the query itself.",
            "SELECT * FROM ml_snapshot(name, relation)",
        )
        .with_sql_example(
r#"```sql
> SELECT name, version, rows FROM ml_snapshot('churn_features', (SELECT customer_id, age, plan FROM customers));
+----------------+---------+-------+
| name           | version | rows  |
+----------------+---------+-------+
| churn_features | 1       | 50000 |
+----------------+---------+-------+
```"#,
        )
    }
}

impl TableFunctionImpl for SnapshotUdtf {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.len() != 2 {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: expected (name, relation), got {} arguments",
                exprs.len()
            ))
            .into_df());
        }
        let name = text_arg(NAME, exprs, 0, "name").map_err(SqlStateError::into_df)?;
        let normalized =
            crate::registry::snapshots::normalize(&name).map_err(SqlStateError::into_df)?;
        if normalized.starts_with(crate::registry::snapshots::TRAINING_PREFIX) {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: names starting with '{}' are kept for the rows models trained on",
                crate::registry::snapshots::TRAINING_PREFIX
            ))
            .into_df());
        }
        let relation = text_arg(NAME, exprs, 1, "relation").map_err(SqlStateError::into_df)?;
        let query = relation_query(NAME, 1, &relation).map_err(SqlStateError::into_df)?;
        let state = session_state(&args)?;
        let user = quarry_udfs::session_info::user(state.config_options());
        let partition = SnapshotPartition {
            registry: self.registry.clone(),
            state,
            name,
            origin: Origin {
                query,
                user,
                model: None,
                lineage: Vec::new(),
            },
        };
        Ok(Arc::new(StreamingTable::try_new(
            result_schema(),
            vec![Arc::new(partition)],
        )?))
    }
}

/// Writes when executed, never at planning (so EXPLAIN writes nothing).
#[derive(Debug)]
struct SnapshotPartition {
    registry: Arc<Registry>,
    state: SessionState,
    name: String,
    origin: Origin,
}

impl PartitionStream for SnapshotPartition {
    fn schema(&self) -> &SchemaRef {
        static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
        SCHEMA.get_or_init(result_schema)
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let registry = self.registry.clone();
        let state = self.state.clone();
        let name = self.name.clone();
        let mut origin = self.origin.clone();
        let run = async move {
            let plan = crate::complexity::plan(&state, &origin.query)
                .await
                .map_err(SqlStateError::into_df)?;
            let default_schema = state.config_options().catalog.default_schema.clone();
            let optimized = state.optimize(&plan).unwrap_or_else(|_| plan.clone());
            origin.lineage =
                crate::governance::lineage::uses(&optimized, &default_schema, |column| {
                    Some(format!("column {column}"))
                });
            let stream = DataFrame::new(state, plan).execute_stream().await?;
            let schema = stream.schema();
            let batches = stream.map(|b| b.sql_err());
            let row = registry
                .snapshots
                .write(&name, schema, Box::pin(batches), origin)
                .await
                .map_err(SqlStateError::into_df)?;
            result_batch(&row)
        };
        Box::pin(RecordBatchStreamAdapter::new(
            result_schema(),
            futures::stream::once(run),
        ))
    }
}
