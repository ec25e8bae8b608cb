//! `ml_mape(y, prediction)`: mean absolute percentage error as a fraction,
//! as scikit-learn's `mean_absolute_percentage_error`.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::Residuals;
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: mean absolute percentage error mean(|y − prediction| / max(|y|, ε)) as a fraction (0.1 = 10%), ε the float64 machine epsilon, exactly as scikit-learn mean_absolute_percentage_error: a true value of 0 gives a huge term rather than an error. Rows with a NULL argument are skipped; no rows gives NULL. Errors: 42804 for non-numeric arguments; 22000 for NaN or infinite values.",
    syntax_example = "ml_mape(y, prediction)",
    sql_example = r#"```sql
> SELECT ml_mape(y, p) FROM (VALUES (100, 110), (200, 190), (50, 50)) t(y, p);
+---------------------+
| ml_mape             |
+---------------------+
| 0.05000000000000001 |
+---------------------+
```"#,
    argument(name = "y", description = "The true value."),
    argument(name = "prediction", description = "The predicted value.")
)]
#[derive(Debug, Default)]
pub struct MapeUdaf;

impl Metric for MapeUdaf {
    const NAME: &'static str = "ml_mape";
    const ARGS: &'static [&'static str] = &["y", "prediction"];
    type State = Residuals;

    fn evaluate(&self, state: &mut Residuals, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(
            (state.rows > 0).then(|| state.relative.value() / state.rows as f64),
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
    fn mape_divides_by_the_true_value() {
        let y: ArrayRef = Arc::new(Float64Array::from(vec![100.0, 200.0, 50.0, 0.0]));
        let p: ArrayRef = Arc::new(Float64Array::from(vec![110.0, 190.0, 50.0, 1e-16]));
        let (whole, merged) = run::<MapeUdaf>(y, p, &[], 2).expect("mape");
        let ScalarValue::Float64(Some(v)) = whole else {
            panic!("{whole:?}")
        };
        // 0.1 + 0.05 + 0 + 1e-16 / eps
        let expected = (0.1 + 0.05 + 1e-16 / f64::EPSILON) / 4.0;
        assert!((v - expected).abs() < 1e-15, "{v}");
        assert_eq!(merged, whole);
    }
}
