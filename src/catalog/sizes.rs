//! `quarry_relation_sizes`: the bytes of each managed table's (and
//! materialized view's) live Parquet files, as its committed version lists
//! them. `pg_table_size`, `pg_relation_size` and `pg_total_relation_size`
//! (psql's `\dt+`, DBeaver's and pgAdmin's table lists) read it, joined to
//! `pg_class` by name (`server::rewrite`): Quarry keeps no indexes or
//! TOAST, so the three agree.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result;

use super::Catalog;
use super::live::LiveRows;
use crate::sync::read;

/// The system table's name.
pub const RELATION_SIZES: &str = "quarry_relation_sizes";

#[derive(Debug)]
pub struct RelationSizes {
    catalog: Weak<Catalog>,
    schema: SchemaRef,
}

impl RelationSizes {
    pub fn new(catalog: Weak<Catalog>) -> Self {
        RelationSizes {
            catalog,
            schema: Arc::new(Schema::new(vec![
                Field::new("schema_name", DataType::Utf8, false),
                Field::new("relation_name", DataType::Utf8, false),
                Field::new("bytes", DataType::Int64, false),
            ])),
        }
    }
}

impl Catalog {
    /// Each managed relation's name and the bytes of its live files.
    pub fn relation_sizes(&self) -> Vec<(super::RelName, u64)> {
        self.managed_tables()
            .into_iter()
            .filter_map(|(n, provider)| {
                let files = super::table::as_managed(&provider)?.data().snapshot().files;
                Some((n, files.iter().map(|f| f.bytes).sum()))
            })
            .collect()
    }

    /// Every committed managed table and materialized view (their
    /// providers), by name.
    pub fn managed_tables(&self) -> Vec<(super::RelName, Arc<dyn TableProvider>)> {
        let names: Vec<super::RelName> = read(&self.entries)
            .iter()
            .filter(|(_, e)| e.kind.is_managed())
            .map(|(n, _)| n.clone())
            .collect();
        let mut tables: Vec<_> = names
            .into_iter()
            .filter_map(|n| {
                let provider = self.visible_provider(&n, &super::staging::Block::default())?;
                super::table::as_managed(&provider)?;
                Some((n, provider))
            })
            .collect();
        tables.sort_by(|a, b| (&a.0.schema, &a.0.name).cmp(&(&b.0.schema, &b.0.name)));
        tables
    }
}

#[async_trait]
impl LiveRows for RelationSizes {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, _state: &dyn Session) -> Result<RecordBatch> {
        let sizes = self
            .catalog
            .upgrade()
            .map(|c| c.relation_sizes())
            .unwrap_or_default();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                sizes.iter().map(|(n, _)| n.schema.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                sizes.iter().map(|(n, _)| n.name.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(
                sizes
                    .iter()
                    .map(|(_, b)| i64::try_from(*b).unwrap_or(i64::MAX)),
            )),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}
