//! `ml_log_loss(y, probability)`: mean binary cross-entropy with
//! probabilities clipped to [1e-15, 1 − 1e-15].

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::{Loss, LossSum};
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: mean binary cross-entropy −mean(y·ln p + (1 − y)·ln(1 − p)) with p clipped to [1e-15, 1 − 1e-15] (scikit-learn log_loss with labels [0, 1]; scikit-learn ≥ 1.5 clips at machine epsilon instead, which only differs for p within 1e-15 of 0 or 1). Rows with a NULL argument are skipped; no rows gives NULL. Errors: 42804 for arguments that are not boolean or numeric; 22000 for a label other than 0 or 1 or a probability outside [0, 1].",
    syntax_example = "ml_log_loss(y, probability)",
    sql_example = r#"```sql
> SELECT round(ml_log_loss(y, p), 6) AS log_loss FROM (VALUES (1, 0.9), (0, 0.2), (1, 0.6)) t(y, p);
+----------+
| log_loss |
+----------+
| 0.279777 |
+----------+
```"#,
    argument(name = "y", description = "The true label: boolean, or a number 0/1."),
    argument(
        name = "probability",
        description = "Predicted probability of the positive class, in [0, 1]."
    )
)]
#[derive(Debug, Default)]
pub struct LogLossUdaf;

/// Probabilities are clipped this far from 0 and 1.
pub const CLIP: f64 = 1e-15;

#[derive(Debug, Default)]
pub struct CrossEntropy;

impl Loss for CrossEntropy {
    #[inline]
    fn loss(y: bool, p: f64) -> f64 {
        let p = p.clamp(CLIP, 1.0 - CLIP);
        if y { -p.ln() } else { -(1.0 - p).ln() }
    }
}

impl Metric for LogLossUdaf {
    const NAME: &'static str = "ml_log_loss";
    const ARGS: &'static [&'static str] = &["y", "probability"];
    type State = LossSum<CrossEntropy>;

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
    fn cross_entropy_clips_certain_mistakes() {
        let expected = -(0.9f64.ln() + 0.8f64.ln() + 0.6f64.ln()) / 3.0;
        let total: f64 = [(true, 0.9), (false, 0.2), (true, 0.6)]
            .iter()
            .map(|&(y, p)| CrossEntropy::loss(y, p))
            .sum();
        assert!((total / 3.0 - expected).abs() < 1e-15);
        assert!((CrossEntropy::loss(true, 0.0) - 1e15f64.ln()).abs() < 1e-12);
        assert!(CrossEntropy::loss(true, 1.0) < 1e-14);
    }
}
