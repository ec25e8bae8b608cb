//! `ml_ks_pvalue(value, is_current)`: p-value of the two-sample KS test.

use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::state::{Numbers, Sides};
use crate::functions::metrics::{Metric, float};
use crate::kernels::ks::{ks_pvalue, ks_statistic};

#[user_doc(
    doc_section(label = "Drift and monitoring"),
    description = "Aggregate: two-sided p-value of the two-sample Kolmogorov-Smirnov test between the reference rows (is_current false) and the current rows (true), as scipy.stats.ks_2samp(method='auto'): exact when both sides have at most 10000 rows, else the asymptotic distribution of D at the effective size n*m/(n+m). A small p-value says the distributions differ. Rows with a NULL argument are skipped; NULL when a side has no rows. Errors: 42804 for a value that is not a number; 22000 for NaN.",
    syntax_example = "ml_ks_pvalue(value, is_current)",
    sql_example = r#"```sql
> SELECT round(ml_ks_pvalue(v, cur), 6) AS p FROM (VALUES (1.0, false), (2.0, false), (3.0, true), (4.0, true)) t(v, cur);
+----------+
| p        |
+----------+
| 0.333333 |
+----------+
```"#,
    argument(name = "value", description = "A number."),
    argument(
        name = "is_current",
        description = "true (or 1) for the current sample, false (0) for the reference."
    )
)]
#[derive(Debug, Default)]
pub struct KsPvalueUdaf;

impl Metric for KsPvalueUdaf {
    const NAME: &'static str = "ml_ks_pvalue";
    const ARGS: &'static [&'static str] = &["value", "is_current"];
    type State = Sides<Numbers>;

    fn evaluate(&self, state: &mut Sides<Numbers>, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(state.both_sorted().map(|(r, c)| {
            ks_pvalue(ks_statistic(r, c), r.len(), c.len())
        })))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
