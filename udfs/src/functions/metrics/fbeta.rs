//! `ml_fbeta(y, prediction, beta)`: the weighted harmonic mean of precision
//! and recall, as scikit-learn's `fbeta_score`.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::Counts;
use super::{Metric, float};
use crate::error::SqlStateError;

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: F-beta score (1 + β²)·tp / ((1 + β²)·tp + β²·fn + fp) of binary predictions, positive = true or 1 (scikit-learn fbeta_score; 0 when tp + fp + fn = 0). β > 1 weighs recall higher, β < 1 precision. Rows with a NULL argument are skipped; no rows gives NULL. Errors: 22023 when beta is not a positive constant; 42804 for arguments that are not boolean or numeric; 22000 for a number other than 0 or 1.",
    syntax_example = "ml_fbeta(y, prediction, beta)",
    sql_example = r#"```sql
> SELECT ml_fbeta(y, p, 2) FROM (VALUES (1, 1), (0, 1), (1, 0), (1, 1)) t(y, p);
+--------------------+
| ml_fbeta           |
+--------------------+
| 0.6666666666666666 |
+--------------------+
```"#,
    argument(name = "y", description = "The true label: boolean, or a number 0/1."),
    argument(
        name = "prediction",
        description = "The predicted label: boolean, or a number 0/1."
    ),
    argument(
        name = "beta",
        description = "A positive constant: how many times recall matters more than precision."
    )
)]
#[derive(Debug, Default)]
pub struct FBetaUdaf;

/// F-beta from confusion counts; 0 when tp + fp + fn = 0, None without rows.
pub fn fbeta(c: &Counts, beta: f64) -> Option<f64> {
    if c.rows() == 0 {
        return None;
    }
    let b2 = beta * beta;
    let denominator = (1.0 + b2) * c.tp as f64 + b2 * c.fn_ as f64 + c.fp as f64;
    Some(if denominator == 0.0 {
        0.0
    } else {
        (1.0 + b2) * c.tp as f64 / denominator
    })
}

impl Metric for FBetaUdaf {
    const NAME: &'static str = "ml_fbeta";
    const ARGS: &'static [&'static str] = &["y", "prediction", "beta"];
    type State = Counts;

    fn check_constants(&self, constants: &[f64]) -> Result<(), SqlStateError> {
        match constants {
            [beta] if beta.is_finite() && *beta > 0.0 => Ok(()),
            _ => Err(SqlStateError::arg(
                Self::NAME,
                "beta",
                "must be a positive number",
                constants.first().copied().unwrap_or(f64::NAN),
            )),
        }
    }

    fn evaluate(&self, state: &mut Counts, constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(fbeta(
            state,
            constants.first().copied().unwrap_or(1.0),
        )))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::metrics::state::counts_of;

    #[test]
    fn fbeta_weighs_recall_by_beta() {
        // tp 2, fp 1, fn 1: sklearn fbeta_score(beta=2) = 5*2 / (5*2 + 4*1 + 1) = 10/15
        let c = counts_of(&[true, false, true, true], &[true, true, false, true]);
        assert!((fbeta(&c, 2.0).expect("f") - 10.0 / 15.0).abs() < 1e-15);
        // tp 1, fp 0, fn 2: beta 0.5 → 1.25 / (1.25 + 0.25*2) = 0.714285...
        let c = counts_of(&[true, true, true], &[true, false, false]);
        assert!((fbeta(&c, 0.5).expect("f") - 1.25 / 1.75).abs() < 1e-15);
        assert_eq!(fbeta(&counts_of(&[false], &[false]), 1.0), Some(0.0));
        assert!(FBetaUdaf.check_constants(&[0.0]).is_err());
        assert!(FBetaUdaf.check_constants(&[f64::INFINITY]).is_err());
    }
}
