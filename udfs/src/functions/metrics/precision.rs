//! `ml_precision(y, prediction)`: tp / (tp + fp) for binary labels, as
//! scikit-learn's `precision_score` (0 when nothing is predicted positive).

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::Counts;
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: precision tp / (tp + fp) of binary predictions, positive = true or 1 (scikit-learn precision_score; 0 when nothing is predicted positive). Rows with a NULL argument are skipped; no rows gives NULL. Errors: 42804 for arguments that are not boolean or numeric; 22000 for a number other than 0 or 1.",
    syntax_example = "ml_precision(y, prediction)",
    sql_example = r#"```sql
> SELECT ml_precision(y, p) FROM (VALUES (true, true), (false, true), (true, false), (true, true)) t(y, p);
+--------------------+
| ml_precision       |
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
pub struct PrecisionUdaf;

impl Metric for PrecisionUdaf {
    const NAME: &'static str = "ml_precision";
    const ARGS: &'static [&'static str] = &["y", "prediction"];
    type State = Counts;

    fn evaluate(&self, state: &mut Counts, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(state.precision()))
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
    fn precision_of_predicted_positives() {
        let c = counts_of(&[true, false, true, true], &[true, true, false, true]);
        assert_eq!(c.precision(), Some(2.0 / 3.0));
        // nothing predicted positive: scikit-learn's zero_division default
        assert_eq!(
            counts_of(&[true, false], &[false, false]).precision(),
            Some(0.0)
        );
        assert_eq!(Counts::default().precision(), None);
    }
}
