//! Counts: the binary confusion counts (precision, recall, f1, fbeta).

use super::*;

/// The binary confusion counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
}

impl Counts {
    pub fn rows(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }

    /// tp / (tp + fp): 0 without predicted positives (scikit-learn's
    /// `zero_division` default), None without rows.
    pub fn precision(&self) -> Option<f64> {
        self.share(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn): 0 without positives, None without rows.
    pub fn recall(&self) -> Option<f64> {
        self.share(self.tp, self.tp + self.fn_)
    }

    fn share(&self, a: u64, b: u64) -> Option<f64> {
        (self.rows() > 0).then(|| if b == 0 { 0.0 } else { a as f64 / b as f64 })
    }
}

impl MetricState for Counts {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        Ok(vec![
            coerce_binary(call, 0, &types[0])?,
            coerce_binary(call, 1, &types[1])?,
        ])
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        ["tp", "fp", "tn", "fn"]
            .iter()
            .map(|part| field(name, part, DataType::UInt64))
            .collect()
    }

    fn new(_call: Call, _inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        Ok(Self::default())
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        let y = binary(call, 0, y)?;
        let p = binary(call, 1, p)?;
        // Bitwise over 64 rows at a time: masks of valid rows, actual and
        // predicted positives.
        let valid = valid_rows(&y, &p);
        let rows = valid.as_ref().map_or(y.len(), |v| y.len() - v.null_count()) as u64;
        let (actual, predicted) = match &valid {
            Some(v) => (y.values() & v.inner(), p.values() & v.inner()),
            None => (y.values().clone(), p.values().clone()),
        };
        let tp = (&actual & &predicted).count_set_bits() as u64;
        let positives = actual.count_set_bits() as u64;
        let predicted_positives = predicted.count_set_bits() as u64;
        self.tp += tp;
        self.fp += predicted_positives - tp;
        self.fn_ += positives - tp;
        self.tn += rows - positives - (predicted_positives - tp);
        Ok(())
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        Ok([self.tp, self.fp, self.tn, self.fn_]
            .into_iter()
            .map(|v| ScalarValue::UInt64(Some(v)))
            .collect())
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.tp += sum_u64(&states[0])?;
        self.fp += sum_u64(&states[1])?;
        self.tn += sum_u64(&states[2])?;
        self.fn_ += sum_u64(&states[3])?;
        Ok(())
    }

    fn heap_size(&self) -> usize {
        0
    }
}
