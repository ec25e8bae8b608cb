//! `ml_js_divergence(value, is_current [, bins])`: Jensen–Shannon divergence.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::{Either, Sides};
use super::{check_bins, divergences};
use crate::error::SqlStateError;
use crate::functions::metrics::{Metric, float};

#[user_doc(
    doc_section(label = "Drift and monitoring"),
    description = "Aggregate: Jensen-Shannon divergence (log base 2, from 0 for the same distribution to 1 for disjoint ones) between the current rows (is_current true) and the reference rows (false), over the same bins as ml_psi (reference quantiles for numbers, categories for text and booleans) with raw proportions. Symmetric and finite even when a bin is empty on one side. Rows with a NULL argument are skipped; NULL when a side has no rows. Errors: as ml_psi.",
    syntax_example = "ml_js_divergence(value, is_current [, bins])",
    sql_example = r#"```sql
> SELECT round(ml_js_divergence(v, cur), 4) AS js
  FROM (VALUES ('a', false), ('a', false), ('b', false), ('b', true)) t(v, cur);
+--------+
| js     |
+--------+
| 0.4591 |
+--------+
```"#,
    argument(
        name = "value",
        description = "The variable compared: a number, or a category (text, boolean)."
    ),
    argument(
        name = "is_current",
        description = "true (or 1) for the current sample, false (0) for the reference."
    ),
    argument(
        name = "bins",
        description = "Optional constant: the number of quantile bins for numbers (default 10)."
    )
)]
#[derive(Debug, Default)]
pub struct JsDivergenceUdaf;

impl Metric for JsDivergenceUdaf {
    const NAME: &'static str = "ml_js_divergence";
    const ARGS: &'static [&'static str] = &["value", "is_current", "bins"];
    const OPTIONAL: usize = 1;
    type State = Sides<Either>;

    fn check_constants(&self, constants: &[f64]) -> Result<(), SqlStateError> {
        check_bins(Self::NAME, constants)
    }

    fn evaluate(&self, state: &mut Sides<Either>, constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(divergences(state, constants).map(|(_, js)| js)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::metrics::testing::run;
    use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray};
    use std::sync::Arc;

    #[test]
    fn js_of_categories_is_base_two() {
        // p = (2/3, 1/3), q = (0, 1): m = (1/3, 2/3);
        // JS = 0.5 * (2/3 log2 2 + 1/3 log2 0.5) + 0.5 * (1 * log2 1.5)
        let values: ArrayRef = Arc::new(StringArray::from(vec!["a", "a", "b", "b"]));
        let sides: ArrayRef = Arc::new(BooleanArray::from(vec![false, false, false, true]));
        let (whole, merged) = run::<JsDivergenceUdaf>(values, sides, &[], 2).expect("runs");
        let want = 0.5 * (2.0 / 3.0 - 1.0 / 3.0) + 0.5 * 1.5f64.log2();
        let ScalarValue::Float64(Some(got)) = whole else {
            panic!("{whole:?}")
        };
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        assert_eq!(merged, whole);
    }
}
