//! `ml_pr_auc(y, score)`: average precision, the area under the
//! precision-recall step curve, as scikit-learn's `average_precision_score`.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::Ranked;
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: average precision Σ (Rₖ − Rₖ₋₁)·Pₖ over the distinct score thresholds, highest first (scikit-learn average_precision_score; no interpolation). Exact, every score kept. 0 when no label is positive (as scikit-learn), NULL when there are no rows. Rows with a NULL argument are skipped. Errors: 42804 for arguments that are not boolean or numeric; 22000 for a label other than 0 or 1, or a NaN score.",
    syntax_example = "ml_pr_auc(y, score)",
    sql_example = r#"```sql
> SELECT ml_pr_auc(y, s) FROM (VALUES (0, 0.1), (0, 0.4), (1, 0.35), (1, 0.8)) t(y, s);
+--------------------+
| ml_pr_auc          |
+--------------------+
| 0.8333333333333333 |
+--------------------+
```"#,
    argument(name = "y", description = "The true label: boolean, or a number 0/1."),
    argument(
        name = "score",
        description = "A score that is higher for the positive class."
    )
)]
#[derive(Debug, Default)]
pub struct PrAucUdaf;

/// Calls `visit(threshold, tp, fp)` for each distinct score from the highest
/// down, with the counts of positives and negatives scoring at or above it.
pub fn descending_thresholds(
    positives: &[f64],
    negatives: &[f64],
    mut visit: impl FnMut(f64, usize, usize),
) {
    let (mut i, mut j) = (positives.len(), negatives.len());
    loop {
        let t = match (i.checked_sub(1), j.checked_sub(1)) {
            (Some(a), Some(b)) => positives[a].max(negatives[b]),
            (Some(a), None) => positives[a],
            (None, Some(b)) => negatives[b],
            (None, None) => return,
        };
        while i > 0 && positives[i - 1] >= t {
            i -= 1;
        }
        while j > 0 && negatives[j - 1] >= t {
            j -= 1;
        }
        visit(t, positives.len() - i, negatives.len() - j);
    }
}

/// Average precision from ascending scores of each class; 0 without
/// positives (scikit-learn sets recall to 1 and precision to 0 there), None
/// without rows.
pub fn average_precision(positives: &[f64], negatives: &[f64]) -> Option<f64> {
    if positives.is_empty() {
        return (!negatives.is_empty()).then_some(0.0);
    }
    let mut total = 0.0;
    let mut previous_tp = 0;
    descending_thresholds(positives, negatives, |_, tp, fp| {
        if tp > previous_tp {
            total += (tp - previous_tp) as f64 * (tp as f64 / (tp + fp) as f64);
            previous_tp = tp;
        }
    });
    Some(total / positives.len() as f64)
}

impl Metric for PrAucUdaf {
    const NAME: &'static str = "ml_pr_auc";
    const ARGS: &'static [&'static str] = &["y", "score"];
    type State = Ranked;

    fn evaluate(&self, state: &mut Ranked, _constants: &[f64]) -> Result<ScalarValue> {
        let (positives, negatives) = state.sorted();
        Ok(float(average_precision(positives, negatives)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_precision_as_scikit_learn() {
        // average_precision_score([0,0,1,1], [0.1,0.4,0.35,0.8]) == 0.8333333333333333
        let ap = average_precision(&[0.35, 0.8], &[0.1, 0.4]).expect("ap");
        assert!((ap - 5.0 / 6.0).abs() < 1e-15);
        // all tied: precision = prevalence
        let ap = average_precision(&[0.5], &[0.5, 0.5, 0.5]).expect("ap");
        assert!((ap - 0.25).abs() < 1e-15);
        assert_eq!(average_precision(&[0.2, 0.3], &[]), Some(1.0));
        assert_eq!(average_precision(&[], &[0.1]), Some(0.0));
        assert_eq!(average_precision(&[], &[]), None);
    }
}
