//! `ml_roc_auc(y, score)`: area under the ROC curve, exact (every score
//! kept, ties averaged), as scikit-learn's `roc_auc_score` for binary labels.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::Ranked;
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: area under the ROC curve of scores against binary labels, positive = true or 1 (scikit-learn roc_auc_score; tied scores count one half). Exact: every score is kept and ranked, not binned; equal with one or many partitions. NULL when there are no rows or only one class. Rows with a NULL argument are skipped. Errors: 42804 for arguments that are not boolean or numeric; 22000 for a label other than 0 or 1, or a NaN score.",
    syntax_example = "ml_roc_auc(y, score)",
    sql_example = r#"```sql
> SELECT ml_roc_auc(y, s) FROM (VALUES (0, 0.1), (0, 0.4), (1, 0.35), (1, 0.8)) t(y, s);
+------------+
| ml_roc_auc |
+------------+
| 0.75       |
+------------+
```"#,
    argument(name = "y", description = "The true label: boolean, or a number 0/1."),
    argument(
        name = "score",
        description = "A score that is higher for the positive class (a probability, margin or rule value)."
    )
)]
#[derive(Debug, Default)]
pub struct RocAucUdaf;

pub use crate::kernels::metrics::roc_auc_sorted as roc_auc;

impl Metric for RocAucUdaf {
    const NAME: &'static str = "ml_roc_auc";
    const ARGS: &'static [&'static str] = &["y", "score"];
    type State = Ranked;

    fn evaluate(&self, state: &mut Ranked, _constants: &[f64]) -> Result<ScalarValue> {
        let (positives, negatives) = state.sorted();
        Ok(float(roc_auc(positives, negatives)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array};

    use super::*;
    use crate::functions::metrics::testing::run;
    use crate::kernels::rng::SplitMix;

    #[test]
    fn matches_the_rank_formula_with_ties() {
        // sklearn.metrics.roc_auc_score([0,0,1,1], [0.1,0.4,0.35,0.8]) == 0.75
        assert_eq!(roc_auc(&[0.35, 0.8], &[0.1, 0.4]), Some(0.75));
        assert_eq!(roc_auc(&[0.5, 0.5], &[0.5, 0.5]), Some(0.5));
        assert_eq!(roc_auc(&[0.1], &[]), None);
        let mut rng = SplitMix(7);
        let n = 2000;
        let y: Vec<bool> = (0..n).map(|_| rng.uniform() < 0.3).collect();
        // coarse scores: many ties
        let s: Vec<f64> = y
            .iter()
            .map(|&t| ((rng.uniform() + if t { 0.3 } else { 0.0 }) * 10.0).floor())
            .collect();
        // Independent of the implementation: every (positive, negative) pair.
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for i in 0..n {
            for j in 0..n {
                if y[i] && !y[j] {
                    pairs += 1.0;
                    wins += if s[i] > s[j] {
                        1.0
                    } else if s[i] == s[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        let expected = wins / pairs;
        let (whole, merged) = run::<RocAucUdaf>(
            Arc::new(BooleanArray::from(y)) as ArrayRef,
            Arc::new(Float64Array::from(s)) as ArrayRef,
            &[],
            7,
        )
        .expect("auc");
        let ScalarValue::Float64(Some(whole)) = whole else {
            panic!("{whole:?}")
        };
        assert!((whole - expected).abs() < 1e-12, "{whole} vs {expected}");
        assert_eq!(merged, ScalarValue::Float64(Some(whole)));
    }

    #[test]
    fn negative_zero_ties_with_zero() {
        assert_eq!(roc_auc(&[0.0], &[-0.0 + 0.0]), Some(0.5));
    }
}
