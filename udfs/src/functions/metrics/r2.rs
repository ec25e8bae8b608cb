//! `ml_r2(y, prediction)`: coefficient of determination, as scikit-learn's
//! `r2_score`.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::Residuals;
use super::{Metric, float};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: R² = 1 − Σ(y − prediction)² / Σ(y − mean y)² (scikit-learn r2_score). A constant y gives 1 for a perfect prediction, else 0; fewer than two rows give NULL. The variance of y is merged across partitions with Chan's formula, not from Σy², so large offsets do not cancel. Rows with a NULL argument are skipped. Errors: 42804 for non-numeric arguments; 22000 for NaN or infinite values.",
    syntax_example = "ml_r2(y, prediction)",
    sql_example = r#"```sql
> SELECT ml_r2(y, p) FROM (VALUES (3, 2.5), (-0.5, 0.0), (2, 2), (7, 8)) t(y, p);
+--------------------+
| ml_r2              |
+--------------------+
| 0.9486081370449679 |
+--------------------+
```"#,
    argument(name = "y", description = "The true value."),
    argument(name = "prediction", description = "The predicted value.")
)]
#[derive(Debug, Default)]
pub struct R2Udaf;

/// R² from the residual state; None with fewer than two rows.
pub fn r2(state: &Residuals) -> Option<f64> {
    if state.rows < 2 {
        return None;
    }
    let (residual, total) = (state.squared.value(), state.total_squares());
    Some(if total == 0.0 {
        if residual == 0.0 { 1.0 } else { 0.0 }
    } else {
        1.0 - residual / total
    })
}

impl Metric for R2Udaf {
    const NAME: &'static str = "ml_r2";
    const ARGS: &'static [&'static str] = &["y", "prediction"];
    type State = Residuals;

    fn evaluate(&self, state: &mut Residuals, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(r2(state)))
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

    fn value(v: ScalarValue) -> f64 {
        match v {
            ScalarValue::Float64(Some(v)) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn r2_as_scikit_learn() {
        let y: ArrayRef = Arc::new(Float64Array::from(vec![3.0, -0.5, 2.0, 7.0]));
        let p: ArrayRef = Arc::new(Float64Array::from(vec![2.5, 0.0, 2.0, 8.0]));
        let (whole, merged) = run::<R2Udaf>(y, p, &[], 3).expect("r2");
        assert!((value(whole) - 0.9486081370449679).abs() < 1e-15);
        assert!((value(merged) - 0.9486081370449679).abs() < 1e-15);
        // far from zero: a Σy² formula would lose every digit here
        let y: ArrayRef = Arc::new(Float64Array::from(vec![
            1e9 + 3.0,
            1e9 - 0.5,
            1e9 + 2.0,
            1e9 + 7.0,
        ]));
        let p: ArrayRef = Arc::new(Float64Array::from(vec![
            1e9 + 2.5,
            1e9,
            1e9 + 2.0,
            1e9 + 8.0,
        ]));
        let (_, merged) = run::<R2Udaf>(y, p, &[], 4).expect("r2");
        assert!((value(merged) - 0.9486081370449679).abs() < 1e-12);
        let constant: ArrayRef = Arc::new(Float64Array::from(vec![2.0, 2.0]));
        let (same, _) = run::<R2Udaf>(constant.clone(), constant.clone(), &[], 1).expect("r2");
        assert_eq!(same, ScalarValue::Float64(Some(1.0)));
        let one: ArrayRef = Arc::new(Float64Array::from(vec![2.0]));
        let (single, _) = run::<R2Udaf>(one.clone(), one, &[], 1).expect("r2");
        assert_eq!(single, ScalarValue::Float64(None));
    }
}
