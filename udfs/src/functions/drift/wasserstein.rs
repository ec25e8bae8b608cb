//! `ml_wasserstein(value, is_current)`: the earth mover's distance.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::{Numbers, Sides};
use crate::functions::metrics::{Metric, float};
use crate::kernels::drift::wasserstein;

#[user_doc(
    doc_section(label = "Drift and monitoring"),
    description = "Aggregate: the first Wasserstein (earth mover's) distance between the reference rows (is_current false) and the current rows (true): the area between their empirical CDFs, in the value's own unit, as scipy.stats.wasserstein_distance. Rows with a NULL argument are skipped; NULL when a side has no rows. Errors: 42804 for a value that is not a number; 22000 for NaN.",
    syntax_example = "ml_wasserstein(value, is_current)",
    sql_example = r#"```sql
> SELECT ml_wasserstein(v, cur) FROM (VALUES (0, false), (1, false), (3, false), (5, true), (6, true), (8, true)) t(v, cur);
+----------------+
| ml_wasserstein |
+----------------+
| 5              |
+----------------+
```"#,
    argument(name = "value", description = "A number."),
    argument(
        name = "is_current",
        description = "true (or 1) for the current sample, false (0) for the reference."
    )
)]
#[derive(Debug, Default)]
pub struct WassersteinUdaf;

impl Metric for WassersteinUdaf {
    const NAME: &'static str = "ml_wasserstein";
    const ARGS: &'static [&'static str] = &["value", "is_current"];
    type State = Sides<Numbers>;

    fn evaluate(&self, state: &mut Sides<Numbers>, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(state.both_sorted().map(|(r, c)| wasserstein(r, c))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::metrics::testing::run;
    use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array};
    use std::sync::Arc;

    #[test]
    fn wasserstein_merges_partitions() {
        // scipy.stats.wasserstein_distance([3, 1, 0], [8, 5, 6]) == 5.0
        let values: ArrayRef = Arc::new(Float64Array::from(vec![3.0, 8.0, 1.0, 5.0, 0.0, 6.0]));
        let sides: ArrayRef = Arc::new(BooleanArray::from(vec![
            false, true, false, true, false, true,
        ]));
        let (whole, merged) = run::<WassersteinUdaf>(values, sides, &[], 3).expect("runs");
        assert_eq!(whole, ScalarValue::Float64(Some(5.0)));
        assert_eq!(merged, whole);
    }
}
