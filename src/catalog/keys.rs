//! `quarry_keys`: the primary key each managed table declares (`PRIMARY
//! KEY`; kept, not enforced), by its columns' 1-based numbers. The catalog
//! rewrite (`server::rewrite`) adds a `pg_constraint` row and a `pg_index`
//! row for each, so SQLAlchemy's `get_pk_constraint`, pgJDBC's
//! `getPrimaryKeys` and ORMs that need a key (automap, inspectdb) see it.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::Constraint;
use datafusion::error::Result;

use super::Catalog;
use super::live::LiveRows;

/// The system table's name.
pub const KEYS: &str = "quarry_keys";

#[derive(Debug)]
pub struct Keys {
    catalog: Weak<Catalog>,
    schema: SchemaRef,
}

impl Keys {
    pub fn new(catalog: Weak<Catalog>) -> Self {
        Keys {
            catalog,
            schema: Arc::new(Schema::new(vec![
                Field::new("schema_name", DataType::Utf8, false),
                Field::new("relation_name", DataType::Utf8, false),
                Field::new("columns", DataType::Utf8, false),
                Field::new("ncolumns", DataType::Int32, false),
            ])),
        }
    }
}

impl Catalog {
    /// Each managed table's declared primary key: its name and the 1-based
    /// numbers of the key's columns.
    pub fn primary_keys(&self) -> Vec<(super::RelName, Vec<usize>)> {
        self.managed_tables()
            .into_iter()
            .filter_map(|(n, provider)| {
                let key = provider.constraints()?.iter().find_map(|c| match c {
                    Constraint::PrimaryKey(columns) => {
                        Some(columns.iter().map(|i| i + 1).collect())
                    }
                    Constraint::Unique(_) => None,
                })?;
                Some((n, key))
            })
            .collect()
    }
}

#[async_trait]
impl LiveRows for Keys {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, _state: &dyn Session) -> Result<RecordBatch> {
        let keys = self
            .catalog
            .upgrade()
            .map(|c| c.primary_keys())
            .unwrap_or_default();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                keys.iter().map(|(n, _)| n.schema.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                keys.iter().map(|(n, _)| n.name.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(keys.iter().map(|(_, k)| {
                k.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            }))),
            Arc::new(Int32Array::from_iter_values(
                keys.iter()
                    .map(|(_, k)| i32::try_from(k.len()).unwrap_or(i32::MAX)),
            )),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}
