//! `SELECT * FROM ml_lift_curve(model, relation [, bins [, segment]])` →
//! bin, rows, positives, positive_rate, lift, cumulative_gain, cumulative_lift. The computation is in `curve.rs`.

use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder};

use super::curve::{Curve, CurveFunction};

pub const NAME: &str = "ml_lift_curve";

/// `ml_lift_curve`, planned by [`super::curve::CurveUdtf`].
#[derive(Debug, Default)]
pub struct LiftCurveUdtf;

impl CurveFunction for LiftCurveUdtf {
    const NAME: &'static str = NAME;
    const CURVE: Curve = Curve::Lift;

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection {
                include: true,
                label: "Evaluation",
                description: None,
            },
            "Lift table of a binary classifier on labelled rows: rows sorted by descending score and cut into bins equal groups (default 10, deciles); per bin: bin (1 = highest scores), rows, positives, positive_rate, lift (positive_rate over the overall rate), cumulative_gain (share of all positives captured so far) and cumulative_lift. Tied scores that straddle a bin boundary are shared evenly, so ties never depend on row order. With segment, one table per value of that column (it comes first). Errors: 42704 unknown model; 22023 for a model that is not a binary classifier, a relation without its label or features, a bad bins value or an unknown segment column.",
            "SELECT * FROM ml_lift_curve(model, relation [, bins [, segment]])",
        )
        .with_sql_example(
r#"```sql
> SELECT bin, rows, positives, round(lift, 2) AS lift, round(cumulative_gain, 3) AS gain
  FROM ml_lift_curve('churn', customers_recent, 5);
+-----+------+-----------+------+-------+
| bin | rows | positives | lift | gain  |
+-----+------+-----------+------+-------+
| 1   | 2000 | 887       | 2.23 | 0.446 |
| 2   | 2000 | 501       | 1.26 | 0.697 |
| 3   | 2000 | 336       | 0.84 | 0.866 |
| 4   | 2000 | 181       | 0.45 | 0.957 |
| 5   | 2000 | 86        | 0.22 | 1     |
+-----+------+-----------+------+-------+
```"#,
        )
    }
}
