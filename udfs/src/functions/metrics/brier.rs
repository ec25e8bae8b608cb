//! `ml_brier(y, probability)`: mean squared error of probabilities, as
//! scikit-learn's `brier_score_loss`.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::{Loss, LossSum};
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: Brier score mean((p − y)²) of predicted probabilities against binary labels, positive = true or 1 (scikit-learn brier_score_loss). Lower is better; 0.25 is a constant 0.5 forecast. Rows with a NULL argument are skipped; no rows gives NULL. Errors: 42804 for arguments that are not boolean or numeric; 22000 for a label other than 0 or 1 or a probability outside [0, 1].",
    syntax_example = "ml_brier(y, probability)",
    sql_example = r#"```sql
> SELECT round(ml_brier(y, p), 6) AS brier FROM (VALUES (1, 0.9), (0, 0.2), (1, 0.6)) t(y, p);
+-------+
| brier |
+-------+
| 0.07  |
+-------+
```"#,
    argument(name = "y", description = "The true label: boolean, or a number 0/1."),
    argument(
        name = "probability",
        description = "Predicted probability of the positive class, in [0, 1]."
    )
)]
#[derive(Debug, Default)]
pub struct BrierUdaf;

#[derive(Debug, Default)]
pub struct SquaredError;

impl Loss for SquaredError {
    #[inline]
    fn loss(y: bool, p: f64) -> f64 {
        let d = p - if y { 1.0 } else { 0.0 };
        d * d
    }
}

impl Metric for BrierUdaf {
    const NAME: &'static str = "ml_brier";
    const ARGS: &'static [&'static str] = &["y", "probability"];
    type State = LossSum<SquaredError>;

    fn evaluate(&self, state: &mut Self::State, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(state.mean()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squared_error_of_probabilities() {
        let total: f64 = [(true, 0.9), (false, 0.2), (true, 0.6)]
            .iter()
            .map(|&(y, p)| SquaredError::loss(y, p))
            .sum();
        assert!((total / 3.0 - 0.07).abs() < 1e-15);
    }
}
