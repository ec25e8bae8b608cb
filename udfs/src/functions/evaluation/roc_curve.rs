//! `SELECT * FROM ml_roc_curve(model, relation [, bins [, segment]])` →
//! threshold, fpr, tpr. The computation is in `curve.rs`.

use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder};

use super::curve::{Curve, CurveFunction};

pub const NAME: &str = "ml_roc_curve";

/// `ml_roc_curve`, planned by [`super::curve::CurveUdtf`].
#[derive(Debug, Default)]
pub struct RocCurveUdtf;

impl CurveFunction for RocCurveUdtf {
    const NAME: &'static str = NAME;
    const CURVE: Curve = Curve::Roc;

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection {
                include: true,
                label: "Evaluation",
                description: None,
            },
            "Points of the ROC curve of a binary classifier on labelled rows: threshold (rows scoring at or above it are predicted positive), fpr, tpr; the first point is (Infinity, 0, 0). bins (default 100) keeps about that many thresholds evenly spaced in rows, always the last; 0 keeps every distinct score (as scikit-learn roc_curve with drop_intermediate=False). With segment, one curve per value of that column (it comes first). Errors: 42704 unknown model; 22023 for a model that is not a binary classifier, a relation without its label or features, a bad bins value or an unknown segment column.",
            "SELECT * FROM ml_roc_curve(model, relation [, bins [, segment]])",
        )
        .with_sql_example(
r#"```sql
> SELECT round(threshold, 3) AS threshold, round(fpr, 3) AS fpr, round(tpr, 3) AS tpr
  FROM ml_roc_curve('churn', customers_recent, 4);
+-----------+-------+-------+
| threshold | fpr   | tpr   |
+-----------+-------+-------+
| Infinity  | 0     | 0     |
| 0.328     | 0.183 | 0.521 |
| 0.197     | 0.426 | 0.798 |
| 0.104     | 0.702 | 0.943 |
| 0.008     | 1     | 1     |
+-----------+-------+-------+
```"#,
        )
    }
}
