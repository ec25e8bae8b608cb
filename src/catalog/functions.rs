//! `quarry_functions`: Quarry's `ml_*` functions as `pg_proc` rows, so
//! psql's `\df ml_*`, pgJDBC's `getFunctions` and editors' completion list
//! them with their arguments and descriptions. `server::rewrite` adds these
//! rows to `pg_proc`, answers `pg_get_function_arguments` and
//! `pg_get_function_result` from them, and gives their descriptions to
//! `obj_description(oid, 'pg_proc')`.
//!
//! A function's oid is [`FIRST_OID`] plus its place in the reference's
//! order (`docs::entries`): stable while the set of functions is, and far
//! above the oids PostgreSQL's catalog and Quarry's relations use.
//! Arguments are listed by name (the documentation's), without types:
//! Quarry's functions take what DataFusion can coerce, not one signature.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::error::Result;
use datafusion::execution::context::SessionState;

use super::live::LiveRows;

/// The system table's name.
pub const FUNCTIONS: &str = "quarry_functions";

/// The oid of the first function.
pub const FIRST_OID: i32 = 1_900_000_000;

#[derive(Debug)]
pub struct Functions {
    schema: SchemaRef,
}

impl Default for Functions {
    fn default() -> Self {
        Functions {
            schema: Arc::new(Schema::new(vec![
                Field::new("oid", DataType::Int32, false),
                Field::new("proname", DataType::Utf8, false),
                Field::new("prokind", DataType::Utf8, false),
                Field::new("proretset", DataType::Boolean, false),
                Field::new("pronargs", DataType::Int32, false),
                Field::new("arguments", DataType::Utf8, false),
                Field::new("result", DataType::Utf8, true),
                Field::new("description", DataType::Utf8, false),
            ])),
        }
    }
}

/// One function's row.
struct Row {
    name: String,
    kind: &'static str,
    arguments: Vec<String>,
    description: String,
}

fn rows(state: &SessionState) -> Vec<Row> {
    let tables = crate::docs::table_function_docs();
    // Every function is documented (a test holds it); if one were not,
    // the list would be empty rather than the catalog query failing.
    let entries = crate::docs::entries(state, &tables).unwrap_or_default();
    entries
        .into_iter()
        .map(|e| Row {
            name: e
                .title
                .split_once(' ')
                .map_or(e.title.as_str(), |(n, _)| n)
                .to_string(),
            kind: e.kind,
            arguments: e
                .doc
                .arguments
                .unwrap_or_default()
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
            description: e.doc.description,
        })
        .collect()
}

#[async_trait]
impl LiveRows for Functions {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, state: &dyn Session) -> Result<RecordBatch> {
        let rows = match state.as_any().downcast_ref::<SessionState>() {
            Some(state) => rows(state),
            None => Vec::new(),
        };
        let oids = (0..rows.len()).map(|i| FIRST_OID + i32::try_from(i).unwrap_or(i32::MAX));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from_iter_values(oids)),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.name))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(
                |r| match r.kind {
                    "aggregate" => "a",
                    "window" => "w",
                    _ => "f",
                },
            ))),
            Arc::new(BooleanArray::from_iter(
                rows.iter().map(|r| Some(r.kind == "table")),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter()
                    .map(|r| i32::try_from(r.arguments.len()).unwrap_or(i32::MAX)),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.arguments.join(", ")),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter()
                    .map(|r| (r.kind == "table").then_some("SETOF record")),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| &r.description),
            )),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}
