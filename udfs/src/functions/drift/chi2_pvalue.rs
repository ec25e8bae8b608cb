//! `ml_chi2_pvalue(category, is_current)`: χ² test of a categorical shift.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::{Categories, Sides};
use crate::functions::metrics::{Metric, float};
use crate::kernels::drift::chi2_independence;

#[user_doc(
    doc_section(label = "Drift and monitoring"),
    description = "Aggregate: p-value of Pearson's chi-squared test of independence between the category and the side (reference rows: is_current false; current rows: true), without continuity correction, as scipy.stats.chi2_contingency(table, correction=False). A small p-value says the category mix changed. One category gives 1.0. Numbers, booleans and dates are compared as categories (their text). Rows with a NULL argument are skipped; NULL when a side has no rows. Errors: 42804 for a value of another type; 22000 beyond 100000 distinct categories.",
    syntax_example = "ml_chi2_pvalue(category, is_current)",
    sql_example = r#"```sql
> SELECT round(ml_chi2_pvalue(region, src = 'recent'), 6) AS p
  FROM (SELECT region, 'train' AS src FROM customers
        UNION ALL SELECT region, 'recent' FROM customers_recent) t;
+---+
| p |
+---+
| 0 |
+---+
```"#,
    argument(
        name = "category",
        description = "The category compared (text, boolean, integer, date)."
    ),
    argument(
        name = "is_current",
        description = "true (or 1) for the current sample, false (0) for the reference."
    )
)]
#[derive(Debug, Default)]
pub struct Chi2PvalueUdaf;

impl Metric for Chi2PvalueUdaf {
    const NAME: &'static str = "ml_chi2_pvalue";
    const ARGS: &'static [&'static str] = &["category", "is_current"];
    type State = Sides<Categories>;

    fn evaluate(&self, state: &mut Sides<Categories>, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(chi2_independence(&state.counts).map(|(_, p, _)| p)))
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
    fn chi2_counts_categories_per_side() {
        // Table [[2, 0], [1, 3]] (a, b × reference, current):
        // scipy.stats.chi2_contingency([[2, 1], [0, 3]], correction=False).pvalue
        let values: ArrayRef = Arc::new(StringArray::from(vec!["a", "a", "b", "b", "b", "b"]));
        let sides: ArrayRef = Arc::new(BooleanArray::from(vec![
            false, false, false, true, true, true,
        ]));
        let (whole, merged) = run::<Chi2PvalueUdaf>(values, sides, &[], 3).expect("runs");
        assert_eq!(merged, whole);
        let ScalarValue::Float64(Some(p)) = whole else {
            panic!("{whole:?}")
        };
        // statistic = 3.0, dof 1 → p = 0.08326451666355042
        assert!((p - 0.08326451666355042).abs() < 1e-12, "{p}");
    }
}
