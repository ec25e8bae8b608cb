//! Ranked: every score, split by label (roc_auc, pr_auc, best_threshold, the curves).

use super::*;

/// Every score, split by label. Partial states are sorted (in parallel, one
/// per partition) so the final sort only merges sorted runs.
#[derive(Debug, Default)]
pub struct Ranked {
    positives: Vec<f64>,
    negatives: Vec<f64>,
}

fn sort_scores(v: &mut [f64]) {
    // Stable sort: linear on already sorted input and a run merge on the
    // concatenated sorted partial states.
    v.sort_by(f64::total_cmp);
}

fn list_scalar(values: Vec<f64>) -> ScalarValue {
    list_value(Arc::new(Float64Array::from(values)))
}

impl Ranked {
    /// Positive and negative scores, each ascending.
    pub fn sorted(&mut self) -> (&[f64], &[f64]) {
        sort_scores(&mut self.positives);
        sort_scores(&mut self.negatives);
        (&self.positives, &self.negatives)
    }

    pub fn from_scores(positives: Vec<f64>, negatives: Vec<f64>) -> Self {
        Ranked {
            positives,
            negatives,
        }
    }
}

impl MetricState for Ranked {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        coerce_label_score(call, types)
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        vec![
            field(name, "positive_scores", list_of(DataType::Float64)),
            field(name, "negative_scores", list_of(DataType::Float64)),
        ]
    }

    fn new(_call: Call, _inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        Ok(Self::default())
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        labelled_numbers(call, y, p, |label, s| {
            if s.is_nan() {
                return Err(SqlStateError::bad_data(format!(
                    "{}: {} is NaN",
                    call.function,
                    call.arg(1)
                ))
                .with_hint(
                    "filter NaN scores out or turn them into NULL with nullif(score, 'NaN')",
                ));
            }
            // -0.0 and 0.0 are one score (a tie), as in numpy.
            let s = s + 0.0;
            if label {
                self.positives.push(s);
            } else {
                self.negatives.push(s);
            }
            Ok(())
        })
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        let mut positives = std::mem::take(&mut self.positives);
        let mut negatives = std::mem::take(&mut self.negatives);
        positives.sort_unstable_by(f64::total_cmp);
        negatives.sort_unstable_by(f64::total_cmp);
        Ok(vec![list_scalar(positives), list_scalar(negatives)])
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (target, state) in [&mut self.positives, &mut self.negatives]
            .into_iter()
            .zip(states)
        {
            let list = lists(state)?;
            let values = f64s(list.values())?;
            let offsets = list.value_offsets();
            for row in 0..list.len() {
                if list.is_valid(row) {
                    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                    target.extend_from_slice(&values.values()[start..end]);
                }
            }
        }
        Ok(())
    }

    fn heap_size(&self) -> usize {
        (self.positives.capacity() + self.negatives.capacity()) * std::mem::size_of::<f64>()
    }
}
