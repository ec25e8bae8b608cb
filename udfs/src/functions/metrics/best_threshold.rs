//! `ml_best_threshold(y, score, fp_cost, fn_cost)`: the score cut-off with
//! the lowest total misclassification cost.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::pr_auc::descending_thresholds;
use super::state::Ranked;
use super::{Metric, float};
use crate::error::SqlStateError;

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: the threshold t minimising fp_cost·FP + fn_cost·FN when rows with score >= t are predicted positive. Candidates are every distinct score and +Infinity (predict nothing positive); among equal costs the highest threshold wins. Exact, every score kept. NULL when there are no rows. Errors: 22023 when a cost is not a constant ≥ 0 or both are 0; 42804 for arguments that are not boolean or numeric; 22000 for a label other than 0 or 1, or a NaN score.",
    syntax_example = "ml_best_threshold(y, score, fp_cost, fn_cost)",
    sql_example = r#"```sql
> SELECT ml_best_threshold(y, s, 1, 5) FROM (VALUES (0, 0.1), (0, 0.4), (1, 0.35), (1, 0.8)) t(y, s);
+-------------------+
| ml_best_threshold |
+-------------------+
| 0.35              |
+-------------------+
```"#,
    argument(name = "y", description = "The true label: boolean, or a number 0/1."),
    argument(
        name = "score",
        description = "A score that is higher for the positive class."
    ),
    argument(
        name = "fp_cost",
        description = "Cost of one false positive, a constant ≥ 0."
    ),
    argument(
        name = "fn_cost",
        description = "Cost of one false negative, a constant ≥ 0."
    )
)]
#[derive(Debug, Default)]
pub struct BestThresholdUdaf;

/// The cheapest threshold from ascending scores of each class; None without rows.
pub fn best_threshold(
    positives: &[f64],
    negatives: &[f64],
    fp_cost: f64,
    fn_cost: f64,
) -> Option<f64> {
    if positives.is_empty() && negatives.is_empty() {
        return None;
    }
    let p = positives.len();
    // Above every score nothing is predicted positive: all positives missed.
    let mut best = (fn_cost * p as f64, f64::INFINITY);
    descending_thresholds(positives, negatives, |t, tp, fp| {
        let cost = fp_cost * fp as f64 + fn_cost * (p - tp) as f64;
        if cost < best.0 {
            best = (cost, t);
        }
    });
    Some(best.1)
}

impl Metric for BestThresholdUdaf {
    const NAME: &'static str = "ml_best_threshold";
    const ARGS: &'static [&'static str] = &["y", "score", "fp_cost", "fn_cost"];
    type State = Ranked;

    fn check_constants(&self, constants: &[f64]) -> Result<(), SqlStateError> {
        for (name, &c) in ["fp_cost", "fn_cost"].iter().zip(constants) {
            if !(c.is_finite() && c >= 0.0) {
                return Err(SqlStateError::arg(
                    Self::NAME,
                    name,
                    "must be a finite number >= 0",
                    c,
                ));
            }
        }
        if constants.iter().all(|&c| c == 0.0) {
            return Err(SqlStateError::bad_argument(
                "ml_best_threshold: fp_cost and fn_cost are both 0, so every threshold is as good",
            ));
        }
        Ok(())
    }

    fn evaluate(&self, state: &mut Ranked, constants: &[f64]) -> Result<ScalarValue> {
        let (positives, negatives) = state.sorted();
        let (fp_cost, fn_cost) = (constants[0], constants[1]);
        Ok(float(best_threshold(
            positives, negatives, fp_cost, fn_cost,
        )))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheapest_cut_by_brute_force() {
        let positives = [0.35, 0.8];
        let negatives = [0.1, 0.4];
        // costs 1/5: t=0.35 → FP 1 (0.4), FN 0 → 1; t=0.8 → FN 1 → 5
        assert_eq!(best_threshold(&positives, &negatives, 1.0, 5.0), Some(0.35));
        // false positives dear: predict only the top one
        assert_eq!(best_threshold(&positives, &negatives, 5.0, 1.0), Some(0.8));
        // false negatives free: predict nothing
        assert_eq!(
            best_threshold(&positives, &negatives, 1.0, 0.0),
            Some(f64::INFINITY)
        );
        assert_eq!(best_threshold(&[], &[], 1.0, 1.0), None);
        assert!(BestThresholdUdaf.check_constants(&[0.0, 0.0]).is_err());
        assert!(BestThresholdUdaf.check_constants(&[-1.0, 1.0]).is_err());
    }
}
