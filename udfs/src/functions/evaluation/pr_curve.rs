//! `SELECT * FROM ml_pr_curve(model, relation [, bins [, segment]])` →
//! threshold, recall, precision. The computation is in `curve.rs`.

use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder};

use super::curve::{Curve, CurveFunction};

pub const NAME: &str = "ml_pr_curve";

/// `ml_pr_curve`, planned by [`super::curve::CurveUdtf`].
#[derive(Debug, Default)]
pub struct PrCurveUdtf;

impl CurveFunction for PrCurveUdtf {
    const NAME: &'static str = NAME;
    const CURVE: Curve = Curve::Pr;

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection {
                include: true,
                label: "Evaluation",
                description: None,
            },
            "Points of the precision-recall curve of a binary classifier on labelled rows: threshold, recall, precision at each threshold (rows scoring at or above it are predicted positive), highest threshold first, as scikit-learn precision_recall_curve. bins (default 100) keeps about that many thresholds; 0 keeps every distinct score. With segment, one curve per value of that column (it comes first). Errors: 42704 unknown model; 22023 for a model that is not a binary classifier, a relation without its label or features, a bad bins value or an unknown segment column.",
            "SELECT * FROM ml_pr_curve(model, relation [, bins [, segment]])",
        )
        .with_sql_example(
r#"```sql
> SELECT round(threshold, 3) AS threshold, round(recall, 3) AS recall, round(precision, 3) AS precision
  FROM ml_pr_curve('churn', customers_recent, 4);
+-----------+--------+-----------+
| threshold | recall | precision |
+-----------+--------+-----------+
| 0.328     | 0.521  | 0.415     |
| 0.197     | 0.798  | 0.318     |
| 0.104     | 0.943  | 0.25      |
| 0.008     | 1      | 0.199     |
+-----------+--------+-----------+
```"#,
        )
    }
}
