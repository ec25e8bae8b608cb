//! `ml_ks_stat(value, is_current)`: the two-sample Kolmogorov–Smirnov statistic.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::{Numbers, Sides};
use crate::functions::metrics::{Metric, float};
use crate::kernels::ks::ks_statistic;

#[user_doc(
    doc_section(label = "Drift and monitoring"),
    description = "Aggregate: the two-sample Kolmogorov-Smirnov statistic D = max |F_reference(x) - F_current(x)| over the empirical CDFs of the reference rows (is_current false) and the current rows (true), as scipy.stats.ks_2samp. Exact: every value is kept. Rows with a NULL argument are skipped; NULL when a side has no rows. Errors: 42804 for a value that is not a number; 22000 for NaN.",
    syntax_example = "ml_ks_stat(value, is_current)",
    sql_example = r#"```sql
> SELECT ml_ks_stat(v, cur) FROM (VALUES (1.0, false), (2.0, false), (3.0, true), (4.0, true)) t(v, cur);
+------------+
| ml_ks_stat |
+------------+
| 1          |
+------------+
```"#,
    argument(name = "value", description = "A number."),
    argument(
        name = "is_current",
        description = "true (or 1) for the current sample, false (0) for the reference."
    )
)]
#[derive(Debug, Default)]
pub struct KsStatUdaf;

impl Metric for KsStatUdaf {
    const NAME: &'static str = "ml_ks_stat";
    const ARGS: &'static [&'static str] = &["value", "is_current"];
    type State = Sides<Numbers>;

    fn evaluate(&self, state: &mut Sides<Numbers>, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(state.both_sorted().map(|(r, c)| ks_statistic(r, c))))
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
    fn ks_statistic_with_ties_merges() {
        // scipy.stats.ks_2samp([1, 2, 2, 3, 7], [2, 4, 5, 6]).statistic == 0.55
        let values: ArrayRef = Arc::new(Float64Array::from(vec![
            1.0, 2.0, 2.0, 3.0, 7.0, 2.0, 4.0, 5.0, 6.0,
        ]));
        let sides: ArrayRef = Arc::new(BooleanArray::from(
            (0..9).map(|i| i >= 5).collect::<Vec<_>>(),
        ));
        let (whole, merged) = run::<KsStatUdaf>(values, sides, &[], 4).expect("runs");
        let ScalarValue::Float64(Some(d)) = whole else {
            panic!("{whole:?}")
        };
        assert!((d - 0.55).abs() < 1e-15);
        assert_eq!(merged, whole);
    }
}
