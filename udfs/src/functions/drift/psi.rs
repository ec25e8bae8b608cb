//! `ml_psi(value, is_current [, bins])`: population stability index.

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
    description = "Aggregate: population stability index of the current rows (is_current true) against the reference rows (false). Numbers are binned by the reference's quantiles: edges = the distinct values of numpy.quantile(reference, [0.1, ..., 0.9]) (linear interpolation; bins => changes the count), a value goes to bin searchsorted(edges, v, side='left'); text and booleans are compared per category. Each side's proportions are floored at 1e-4; PSI = sum((c - r) * ln(c / r)). Below 0.1 is usually read as stable, above 0.2 as drifted. Rows with a NULL argument are skipped; NULL when a side has no rows. Mergeable: works with GROUP BY and any partitioning. Errors: 42804 for a value that is not a number, text or boolean, or a flag that is not boolean/0/1; 22000 for NaN; 22023 for bins outside 2..1000.",
    syntax_example = "ml_psi(value, is_current [, bins])",
    sql_example = r#"```sql
> SELECT round(ml_psi(monthly_fee, src = 'recent'), 4) AS psi
  FROM (SELECT monthly_fee, 'train' AS src FROM customers
        UNION ALL SELECT monthly_fee, 'recent' FROM customers_recent) t;
+--------+
| psi    |
+--------+
| 0.1662 |
+--------+
```"#,
    argument(
        name = "value",
        description = "The variable compared: a number, or a category (text, boolean)."
    ),
    argument(
        name = "is_current",
        description = "Which sample the row belongs to: true (or 1) for the current one, false (0) for the reference."
    ),
    argument(
        name = "bins",
        description = "Optional constant: the number of quantile bins for numbers (default 10)."
    )
)]
#[derive(Debug, Default)]
pub struct PsiUdaf;

impl Metric for PsiUdaf {
    const NAME: &'static str = "ml_psi";
    const ARGS: &'static [&'static str] = &["value", "is_current", "bins"];
    const OPTIONAL: usize = 1;
    type State = Sides<Either>;

    fn check_constants(&self, constants: &[f64]) -> Result<(), SqlStateError> {
        check_bins(Self::NAME, constants)
    }

    fn evaluate(&self, state: &mut Sides<Either>, constants: &[f64]) -> Result<ScalarValue> {
        Ok(float(divergences(state, constants).map(|(psi, _)| psi)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::metrics::testing::run;
    use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray};
    use std::sync::Arc;

    fn side(n_ref: usize, n_cur: usize) -> ArrayRef {
        Arc::new(BooleanArray::from(
            (0..n_ref + n_cur).map(|i| i >= n_ref).collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn psi_matches_the_numpy_definition() {
        // numpy: r = arange(20); c = arange(5, 25); edges = unique(quantile(r, arange(1,10)/10))
        // → r proportions all 0.1; c = [0, 0, 0.05, 0.1, ..., 0.1, 0.35]...
        let r: Vec<f64> = (0..20).map(f64::from).collect();
        let c: Vec<f64> = (5..25).map(f64::from).collect();
        let values: ArrayRef = Arc::new(Float64Array::from([r.clone(), c.clone()].concat()));
        let (whole, merged) = run::<PsiUdaf>(values, side(20, 20), &[], 3).expect("runs");
        // Hand computation of the definition.
        let edges: Vec<f64> = (1..10)
            .filter_map(|k| crate::kernels::quantile::quantile_sorted(&r, k as f64 / 10.0))
            .collect();
        let count = |xs: &[f64]| {
            let mut counts = vec![0.0; 10];
            for &x in xs {
                counts[edges.partition_point(|&e| e < x)] += 1.0 / xs.len() as f64;
            }
            counts
        };
        let (rp, cp) = (count(&r), count(&c));
        let want: f64 = rp
            .iter()
            .zip(&cp)
            .map(|(&a, &b): (&f64, &f64)| {
                let (a, b) = (a.max(1e-4), b.max(1e-4));
                (b - a) * (b / a).ln()
            })
            .sum();
        let ScalarValue::Float64(Some(got)) = whole else {
            panic!("{whole:?}")
        };
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        assert_eq!(merged, ScalarValue::Float64(Some(got)));
    }

    #[test]
    fn categories_and_empty_sides() {
        let values: ArrayRef = Arc::new(StringArray::from(vec!["a", "a", "b", "a", "b", "b"]));
        let (whole, merged) = run::<PsiUdaf>(values, side(3, 3), &[], 2).expect("runs");
        // r = (2/3, 1/3), c = (1/3, 2/3): PSI = 2 * (1/3) ln 2
        let want = 2.0 / 3.0 * std::f64::consts::LN_2;
        let ScalarValue::Float64(Some(got)) = whole else {
            panic!()
        };
        assert!((got - want).abs() < 1e-15);
        assert_eq!(merged, whole);
        let values: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0]));
        let (empty, _) = run::<PsiUdaf>(values, side(2, 0), &[], 1).expect("runs");
        assert_eq!(empty, ScalarValue::Float64(None));
        assert!(PsiUdaf.check_constants(&[1.0]).is_err());
        assert!(PsiUdaf.check_constants(&[2.5]).is_err());
        assert!(PsiUdaf.check_constants(&[20.0]).is_ok());
    }
}
