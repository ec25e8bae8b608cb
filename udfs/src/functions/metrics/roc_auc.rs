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
+---------------------+
| ml_roc_auc(t.y,t.s) |
+---------------------+
| 0.75                |
+---------------------+
```"#,
    argument(name = "y", description = "The true label: boolean, or a number 0/1."),
    argument(
        name = "score",
        description = "A score that is higher for the positive class (a probability, margin or rule value)."
    )
)]
#[derive(Debug, Default)]
pub struct RocAuc;

/// P(score of a positive > score of a negative) + ½ P(equal), from ascending
/// scores of each class; None when a class is missing.
pub fn roc_auc(positives: &[f64], negatives: &[f64]) -> Option<f64> {
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    // below: negatives < s; through: negatives <= s. Both only move forward
    // because the positives ascend. Each positive adds 2·below + ties.
    let (mut below, mut through) = (0usize, 0usize);
    let mut twice: u128 = 0;
    for &s in positives {
        while below < negatives.len() && negatives[below] < s {
            below += 1;
        }
        through = through.max(below);
        while through < negatives.len() && negatives[through] <= s {
            through += 1;
        }
        twice += (below + through) as u128;
    }
    Some(twice as f64 / (2.0 * positives.len() as f64 * negatives.len() as f64))
}

impl Metric for RocAuc {
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
    use crate::kernels::optimize::SplitMix;

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
        let expected = crate::kernels::metrics::roc_auc(&y, &s).expect("auc");
        let (whole, merged) = run::<RocAuc>(
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
