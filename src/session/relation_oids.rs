//! The OIDs this session's `pg_class` gives its relations.
//!
//! `datafusion-pg-catalog` numbers relations as each session's `pg_class`
//! first lists them, and keeps the numbers for the session; the numbering
//! is not exposed, so a row description that names a column's table
//! (`server::origins`) reads it back from `pg_class` itself. One scan
//! answers every relation, kept until a definition changes (any session's
//! DDL, or this session's temporary relations and settings).

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int32Type;

use super::Session;
use crate::sync::lock;

/// Relation OIDs by (schema, name), as of one catalog state.
#[derive(Debug, Default)]
pub struct RelationOids {
    /// The catalog's definitions counter and the session's generation the
    /// map was read at.
    at: Option<(u64, u64)>,
    oids: HashMap<(String, String), u32>,
}

const RELATIONS: &str = "SELECT n.nspname, c.relname, c.oid \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace";

impl Session {
    /// The OID of `schema.name` in this session's `pg_class`, read again
    /// when `definitions` (the catalog's counter) moved since the last read.
    pub async fn relation_oid(&self, definitions: u64, schema: &str, name: &str) -> Option<u32> {
        let at = (definitions, self.generation());
        {
            let known = lock(&self.relation_oids);
            if known.at == Some(at) {
                return known
                    .oids
                    .get(&(schema.to_string(), name.to_string()))
                    .copied();
            }
        }
        let oids = self.read_relation_oids().await.ok()?;
        let oid = oids.get(&(schema.to_string(), name.to_string())).copied();
        *lock(&self.relation_oids) = RelationOids { at: Some(at), oids };
        oid
    }

    async fn read_relation_oids(
        &self,
    ) -> datafusion::error::Result<HashMap<(String, String), u32>> {
        let batches = self.ctx.sql(RELATIONS).await?.collect().await?;
        let mut oids = HashMap::new();
        for batch in &batches {
            let schemas = datafusion::arrow::compute::cast(
                batch.column(0),
                &datafusion::arrow::datatypes::DataType::Utf8,
            )?;
            let names = datafusion::arrow::compute::cast(
                batch.column(1),
                &datafusion::arrow::datatypes::DataType::Utf8,
            )?;
            let ids = datafusion::arrow::compute::cast(
                batch.column(2),
                &datafusion::arrow::datatypes::DataType::Int32,
            )?;
            let (schemas, names) = (schemas.as_string::<i32>(), names.as_string::<i32>());
            let ids = ids.as_primitive::<Int32Type>();
            for row in 0..batch.num_rows() {
                if schemas.is_valid(row) && names.is_valid(row) && ids.is_valid(row) {
                    oids.insert(
                        (schemas.value(row).to_string(), names.value(row).to_string()),
                        ids.value(row) as u32,
                    );
                }
            }
        }
        Ok(oids)
    }
}
