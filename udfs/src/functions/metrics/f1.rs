//! `ml_f1(y, prediction)`: harmonic mean of precision and recall,
//! 2·tp / (2·tp + fp + fn), as scikit-learn's `f1_score`.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::fbeta::fbeta;
use super::state::Counts;
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: F1 score 2·tp / (2·tp + fp + fn) of binary predictions, positive = true or 1 (scikit-learn f1_score; 0 when tp + fp + fn = 0). Rows with a NULL argument are skipped; no rows gives NULL. Errors: 42804 for arguments that are not boolean or numeric; 22000 for a number other than 0 or 1.",
    syntax_example = "ml_f1(y, prediction)",
    sql_example = r#"```sql
> SELECT ml_f1(y, p) FROM (VALUES (1, 1), (0, 1), (1, 0), (1, 1)) t(y, p);
+--------------------+
| ml_f1              |
+--------------------+
| 0.6666666666666666 |
+--------------------+
```"#,
    argument(name = "y", description = "The true label: boolean, or a number 0/1."),
    argument(
        name = "prediction",
        description = "The predicted label: boolean, or a number 0/1."
    )
)]
#[derive(Debug, Default)]
pub struct F1Udaf;

impl Metric for F1Udaf {
    const NAME: &'static str = "ml_f1";
    const ARGS: &'static [&'static str] = &["y", "prediction"];
    type State = Counts;

    fn evaluate(&self, state: &mut Counts, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(fbeta(state, 1.0)))
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
    fn f1_is_the_harmonic_mean() {
        // tp 1, fp 1, fn 2: precision 1/2, recall 1/3 → 2·(1/6)/(5/6) = 0.4
        let c = counts_of(&[true, true, true, false], &[true, false, false, true]);
        assert!((fbeta(&c, 1.0).expect("f1") - 0.4).abs() < 1e-15);
    }
}
