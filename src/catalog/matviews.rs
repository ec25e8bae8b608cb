//! `quarry_matviews`: the materialized views, with their queries. The
//! catalog rewrite (`server::rewrite`) lists them in `pg_matviews` and as
//! relations of kind `m` in `pg_class`, not in `pg_tables`, as PostgreSQL
//! does: dbt-postgres tells a materialized view from a table by where it is
//! listed, and replaces one the wrong way when that is wrong.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::error::Result;

use super::Catalog;
use super::live::LiveRows;

/// The system table's name.
pub const MATVIEWS: &str = "quarry_matviews";

#[derive(Debug)]
pub struct MaterializedViews {
    catalog: Weak<Catalog>,
    schema: SchemaRef,
}

impl MaterializedViews {
    pub fn new(catalog: Weak<Catalog>) -> Self {
        MaterializedViews {
            catalog,
            schema: Arc::new(Schema::new(vec![
                Field::new("schema_name", DataType::Utf8, false),
                Field::new("view_name", DataType::Utf8, false),
                Field::new("definition", DataType::Utf8, false),
            ])),
        }
    }
}

impl Catalog {
    /// Each committed materialized view and its query.
    pub fn materialized_views(&self) -> Vec<(super::RelName, Arc<str>)> {
        self.managed_tables()
            .into_iter()
            .filter_map(|(name, provider)| {
                let query = super::table::as_managed(&provider)?.view_query()?.clone();
                Some((name, query))
            })
            .collect()
    }
}

#[async_trait]
impl LiveRows for MaterializedViews {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, _state: &dyn Session) -> Result<RecordBatch> {
        let views = self
            .catalog
            .upgrade()
            .map(|c| c.materialized_views())
            .unwrap_or_default();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                views.iter().map(|(n, _)| n.schema.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                views.iter().map(|(n, _)| n.name.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                views.iter().map(|(_, q)| q.as_ref()),
            )),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}
