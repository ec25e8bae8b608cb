//! The sha256 a model version records of the data it learned from.
//!
//! The schema (names and types) and then each row in Arrow's row format,
//! length-prefixed, are hashed: the row format encodes values and NULLs
//! canonically, so the digest depends on the rows and their order only, not
//! on how they were split into batches or how the arrays were laid out in
//! memory (a snapshot read back hashes the same).

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, SortField};
use sha2::Digest;

use crate::error::SqlStateError;
use crate::model::schema::Result;

/// Hex sha256 of the training data ([`DataDigest`]), so a version records
/// exactly what it learned from.
pub fn data_sha256(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String> {
    let mut digest = DataDigest::new(schema)?;
    for b in batches {
        digest.update(b)?;
    }
    digest.finish()
}

/// sha256 of rows, fed one batch at a time (a snapshot is hashed while it
/// is written, without holding it).
pub struct DataDigest {
    hasher: sha2::Sha256,
    converter: RowConverter,
}

impl DataDigest {
    pub fn new(schema: &SchemaRef) -> Result<Self> {
        let mut hasher = sha2::Sha256::new();
        for f in schema.fields() {
            hasher.update(format!("{}:{}\n", f.name(), f.data_type()).as_bytes());
        }
        let fields = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields).map_err(SqlStateError::internal)?;
        Ok(DataDigest { hasher, converter })
    }

    pub fn update(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let rows = self
            .converter
            .convert_columns(batch.columns())
            .map_err(SqlStateError::internal)?;
        for row in rows.iter() {
            let bytes = row.as_ref();
            self.hasher.update((bytes.len() as u64).to_le_bytes());
            self.hasher.update(bytes);
        }
        Ok(())
    }

    /// The hex digest.
    pub fn finish(self) -> Result<String> {
        Ok(self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }
}
