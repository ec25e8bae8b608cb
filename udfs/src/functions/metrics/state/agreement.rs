//! Agreement: rows where the prediction equals the label (accuracy).

use super::*;

/// Rows and rows where the prediction equals the label (any comparable type).
#[derive(Debug, Default)]
pub struct Agreement {
    pub rows: u64,
    pub equal: u64,
}

impl MetricState for Agreement {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        let common = comparison_coercion(&types[0], &types[1]).ok_or_else(|| {
            SqlStateError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!(
                    "{}: {} ({}) and {} ({}) cannot be compared",
                    call.function,
                    call.arg(0),
                    types[0],
                    call.arg(1),
                    types[1]
                ),
            )
        })?;
        Ok(vec![common.clone(), common])
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        vec![
            field(name, "rows", DataType::UInt64),
            field(name, "equal", DataType::UInt64),
        ]
    }

    fn new(_call: Call, _inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        Ok(Self::default())
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        let same = eq(y, p).map_err(|e| {
            SqlStateError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!("{}: cannot compare the arguments: {e}", call.function),
            )
        })?;
        self.rows += (same.len() - same.null_count()) as u64;
        self.equal += same.true_count() as u64;
        Ok(())
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.rows)),
            ScalarValue::UInt64(Some(self.equal)),
        ])
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.rows += sum_u64(&states[0])?;
        self.equal += sum_u64(&states[1])?;
        Ok(())
    }

    fn heap_size(&self) -> usize {
        0
    }
}
