//! `ml_rmse(y, prediction)`: root mean squared error.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::Residuals;
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: root mean squared error sqrt(mean((y − prediction)²)) (scikit-learn root_mean_squared_error), summed with compensation so millions of rows lose no precision. Rows with a NULL argument are skipped; no rows gives NULL. Errors: 42804 for non-numeric arguments; 22000 for NaN or infinite values.",
    syntax_example = "ml_rmse(y, prediction)",
    sql_example = r#"```sql
> SELECT ml_rmse(y, p) FROM (VALUES (3, 2.5), (-0.5, 0.0), (2, 2), (7, 8)) t(y, p);
+--------------------+
| ml_rmse            |
+--------------------+
| 0.6123724356957945 |
+--------------------+
```"#,
    argument(name = "y", description = "The true value."),
    argument(name = "prediction", description = "The predicted value.")
)]
#[derive(Debug, Default)]
pub struct RmseUdaf;

impl Metric for RmseUdaf {
    const NAME: &'static str = "ml_rmse";
    const ARGS: &'static [&'static str] = &["y", "prediction"];
    type State = Residuals;

    fn evaluate(&self, state: &mut Residuals, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float((state.rows > 0).then(|| {
            (state.squared.value() / state.rows as f64).sqrt()
        })))
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
    fn rmse_as_scikit_learn() {
        let y: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(3.0),
            Some(-0.5),
            Some(2.0),
            Some(7.0),
            None,
        ]));
        let p: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(2.5),
            Some(0.0),
            Some(2.0),
            Some(8.0),
            Some(1.0),
        ]));
        let (whole, merged) = run::<RmseUdaf>(y, p, &[], 3).expect("rmse");
        let ScalarValue::Float64(Some(v)) = whole else {
            panic!("{whole:?}")
        };
        assert!((v - 0.375f64.sqrt()).abs() < 1e-15);
        assert_eq!(merged, whole);
    }
}
