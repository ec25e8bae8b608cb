//! LossSum: the compensated sum of a per-row loss (log_loss, brier).

use super::*;

/// A per-row loss of a binary label and a probability.
pub trait Loss: Debug + Default + Send + Sync + 'static {
    fn loss(y: bool, p: f64) -> f64;
}

/// Rows and the compensated sum of a per-row loss over probabilities in [0, 1].
#[derive(Debug, Default)]
pub struct LossSum<L: Loss> {
    pub rows: u64,
    pub total: Sum,
    _loss: PhantomData<L>,
}

impl<L: Loss> LossSum<L> {
    /// The mean loss, None without rows.
    pub fn mean(&self) -> Option<f64> {
        (self.rows > 0).then(|| self.total.value() / self.rows as f64)
    }
}

impl<L: Loss> MetricState for LossSum<L> {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        coerce_label_score(call, types)
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        vec![
            field(name, "rows", DataType::UInt64),
            field(name, "total", DataType::Float64),
        ]
    }

    fn new(_call: Call, _inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        Ok(Self::default())
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        labelled_numbers(call, y, p, |label, q| {
            if !(0.0..=1.0).contains(&q) {
                return Err(SqlStateError::bad_data(format!(
                    "{}: {} must be in [0, 1], found {q}",
                    call.function,
                    call.arg(1)
                )));
            }
            self.total.add(L::loss(label, q));
            self.rows += 1;
            Ok(())
        })
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.rows)),
            ScalarValue::Float64(Some(self.total.value())),
        ])
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.rows += sum_u64(&states[0])?;
        for v in f64s(&states[1])?.iter().flatten() {
            self.total.add(v);
        }
        Ok(())
    }

    fn heap_size(&self) -> usize {
        0
    }
}
