//! `ml_mae(y, prediction)`: mean absolute error.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::Residuals;
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: mean absolute error mean(|y − prediction|) (scikit-learn mean_absolute_error). Rows with a NULL argument are skipped; no rows gives NULL. Errors: 42804 for non-numeric arguments; 22000 for NaN or infinite values.",
    syntax_example = "ml_mae(y, prediction)",
    sql_example = r#"```sql
> SELECT ml_mae(y, p) FROM (VALUES (3, 2.5), (-0.5, 0.0), (2, 2), (7, 8)) t(y, p);
+--------+
| ml_mae |
+--------+
| 0.5    |
+--------+
```"#,
    argument(name = "y", description = "The true value."),
    argument(name = "prediction", description = "The predicted value.")
)]
#[derive(Debug, Default)]
pub struct MaeUdaf;

impl Metric for MaeUdaf {
    const NAME: &'static str = "ml_mae";
    const ARGS: &'static [&'static str] = &["y", "prediction"];
    type State = Residuals;

    fn evaluate(&self, state: &mut Residuals, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(
            (state.rows > 0).then(|| state.absolute.value() / state.rows as f64),
        ))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Float64Array};

    use super::*;
    use crate::functions::metrics::testing::run;

    #[test]
    fn mae_as_scikit_learn() {
        let y: ArrayRef = Arc::new(Float64Array::from(vec![3.0, -0.5, 2.0, 7.0]));
        let p: ArrayRef = Arc::new(Float64Array::from(vec![2.5, 0.0, 2.0, 8.0]));
        let (whole, merged) = run::<MaeUdaf>(y, p, &[], 2).expect("mae");
        assert_eq!(whole, ScalarValue::Float64(Some(0.5)));
        assert_eq!(merged, whole);
    }
}
