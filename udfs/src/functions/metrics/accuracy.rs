//! `ml_accuracy(y, prediction)`: the share of rows whose prediction equals the
//! label (scikit-learn's `accuracy_score`), for any comparable label type.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::Agreement;
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: the share of rows whose prediction equals the label (scikit-learn accuracy_score). Labels may be of any comparable type (boolean, number, text); binary or multi-class. Rows with a NULL argument are skipped; no rows gives NULL. Errors: 42804 when the two arguments cannot be compared.",
    syntax_example = "ml_accuracy(y, prediction)",
    sql_example = r#"```sql
> SELECT ml_accuracy(y, p) FROM (VALUES ('a', 'a'), ('b', 'a'), ('c', 'c'), ('a', 'a')) t(y, p);
+-------------+
| ml_accuracy |
+-------------+
| 0.75        |
+-------------+
```"#,
    argument(name = "y", description = "The true label."),
    argument(
        name = "prediction",
        description = "The predicted label, of a type comparable with y."
    )
)]
#[derive(Debug, Default)]
pub struct AccuracyUdaf;

/// Accuracy of `equal` correct rows out of `rows`; None without rows.
pub fn accuracy(rows: u64, equal: u64) -> Option<f64> {
    (rows > 0).then(|| equal as f64 / rows as f64)
}

impl Metric for AccuracyUdaf {
    const NAME: &'static str = "ml_accuracy";
    const ARGS: &'static [&'static str] = &["y", "prediction"];
    type State = Agreement;

    fn evaluate(&self, state: &mut Agreement, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(accuracy(state.rows, state.equal)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};

    use super::*;
    use crate::functions::metrics::testing::run;

    #[test]
    fn counts_equal_labels_of_any_type() {
        let y: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("b"),
            None,
            Some("c"),
        ]));
        let p: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("a"),
            Some("a"),
            Some("c"),
        ]));
        let (whole, merged) = run::<AccuracyUdaf>(y, p, &[], 3).expect("accuracy");
        assert_eq!(whole, ScalarValue::Float64(Some(2.0 / 3.0)));
        assert_eq!(merged, whole);
        let y: ArrayRef = Arc::new(Int64Array::from(vec![0, 1, 2, 2]));
        let p: ArrayRef = Arc::new(Int64Array::from(vec![0, 2, 1, 2]));
        let (whole, _) = run::<AccuracyUdaf>(y, p, &[], 1).expect("accuracy");
        assert_eq!(whole, ScalarValue::Float64(Some(0.5)));
        assert_eq!(accuracy(0, 0), None);
    }
}
