//! `quarry_comments`: the descriptions `COMMENT ON` stored, one row per
//! relation (`objsubid` 0) or column (its 1-based number). The catalog
//! queries of clients read them as PostgreSQL's `pg_description` (objoid,
//! classoid, objsubid, description), which `server::rewrite` makes of this
//! table joined to `pg_class` (whose oids only datafusion-pg-catalog knows).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::error::Result;

use super::live::LiveRows;
use super::store::Store;

/// The system table's name.
pub const COMMENTS: &str = "quarry_comments";

#[derive(Debug)]
pub struct Comments {
    store: Arc<Store>,
    schema: SchemaRef,
}

impl Comments {
    pub fn new(store: Arc<Store>) -> Self {
        Comments {
            store,
            schema: Arc::new(Schema::new(vec![
                Field::new("schema_name", DataType::Utf8, false),
                Field::new("relation_name", DataType::Utf8, false),
                Field::new("objsubid", DataType::Int32, false),
                Field::new("description", DataType::Utf8, false),
            ])),
        }
    }
}

#[async_trait]
impl LiveRows for Comments {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, _state: &dyn Session) -> Result<RecordBatch> {
        let rows = self.store.comments().map_err(|e| e.into_df())?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.1))),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| i32::try_from(r.2).unwrap_or(i32::MAX)),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.3))),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}
