//! `ml_recall(y, prediction)`: tp / (tp + fn) for binary labels, as
//! scikit-learn's `recall_score` (0 when there are no positives).

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::Counts;
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: recall (true positive rate) tp / (tp + fn) of binary predictions, positive = true or 1 (scikit-learn recall_score; 0 when no label is positive). Rows with a NULL argument are skipped; no rows gives NULL. Errors: 42804 for arguments that are not boolean or numeric; 22000 for a number other than 0 or 1.",
    syntax_example = "ml_recall(y, prediction)",
    sql_example = r#"```sql
> SELECT ml_recall(y, p) FROM (VALUES (1, 1), (0, 1), (1, 0), (1, 1)) t(y, p);
+--------------------+
| ml_recall          |
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
pub struct RecallUdaf;

impl Metric for RecallUdaf {
    const NAME: &'static str = "ml_recall";
    const ARGS: &'static [&'static str] = &["y", "prediction"];
    type State = Counts;

    fn evaluate(&self, state: &mut Counts, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(state.recall()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::metrics::state::counts_of;

    #[test]
    fn recall_of_actual_positives() {
        let c = counts_of(&[true, false, true, true], &[true, true, false, true]);
        assert_eq!(c.recall(), Some(2.0 / 3.0));
        assert_eq!(
            counts_of(&[false, false], &[true, false]).recall(),
            Some(0.0)
        );
    }
}
