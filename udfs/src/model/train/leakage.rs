//! Phase 7: the leakage guard. A feature that alone predicts the label almost
//! perfectly, or a timestamp later than the time split's cut-off, is
//! reported as a warning in the training result: such a feature is usually
//! known only after the outcome, and the model will not score as well on
//! new rows as its metrics say.
//!
//! | feature                  | label          | flagged when                                   |
//! |--------------------------|----------------|------------------------------------------------|
//! | numeric                  | binary         | its ROC AUC alone is ≥ 0.995 (or ≤ 0.005)      |
//! | numeric                  | numbers        | \|Pearson correlation\| ≥ 0.995                |
//! | text (not identifier-like) | binary       | its levels alone classify ≥ 99.5% of rows (unless one class is ≥ 99% of rows) |
//! | temporal (not the split column) | any     | a training value is later than the cut-off     |
//!
//! Only the training rows are read, and only features with ten or more
//! present values.

use std::collections::HashMap;

use datafusion::arrow::array::Array;

use crate::kernels::metrics;
use crate::model::schema::{Feature, FeatureKind, Task, Values};

/// Warnings about features that may leak the label. `columns` hold the
/// training rows only; `train_rows` index `class_of` and `y_num`.
pub(super) fn leakage(
    features: &[Feature],
    columns: &[Values],
    task: Task,
    train_rows: &[usize],
    class_of: Option<&[Option<usize>]>,
    y_num: Option<&[f64]>,
    cutoff: Option<(f64, String)>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let binary: Option<Vec<bool>> =
        class_of.map(|c| train_rows.iter().map(|&i| c[i] == Some(1)).collect());
    let y: Option<Vec<f64>> = y_num.map(|y| train_rows.iter().map(|&i| y[i]).collect());
    for (f, column) in features.iter().zip(columns) {
        match column {
            Values::Number(v) => {
                let x: Vec<f64> = (0..v.len())
                    .map(|i| if v.is_valid(i) { v.value(i) } else { f64::NAN })
                    .collect();
                let present: Vec<usize> = (0..x.len()).filter(|&i| !x[i].is_nan()).collect();
                if present.len() < 10 {
                    continue;
                }
                if let (Task::Classification, Some(b)) = (task, &binary) {
                    let yb: Vec<bool> = present.iter().map(|&i| b[i]).collect();
                    let xs: Vec<f64> = present.iter().map(|&i| x[i]).collect();
                    if let Some(auc) = metrics::roc_auc(&yb, &xs)
                        && auc.max(1.0 - auc) >= 0.995
                    {
                        warnings.push(format!(
                            "possible leakage: feature \"{}\" alone separates the label (AUC {:.4}); check it is known before the outcome",
                            f.name,
                            auc.max(1.0 - auc)
                        ));
                    }
                }
                if let (Task::Regression, Some(y)) = (task, &y) {
                    let xs: Vec<f64> = present.iter().map(|&i| x[i]).collect();
                    let ys: Vec<f64> = present.iter().map(|&i| y[i]).collect();
                    let r = pearson(&xs, &ys);
                    if r.abs() >= 0.995 {
                        warnings.push(format!(
                            "possible leakage: feature \"{}\" alone predicts the label (correlation {:.4})",
                            f.name, r
                        ));
                    }
                }
                if let Some((cut, ref split_col)) = cutoff
                    && f.kind == FeatureKind::Temporal
                    && &f.name != split_col
                    && x.iter().any(|&t| t.is_finite() && t > cut)
                {
                    warnings.push(format!(
                        "possible leakage: timestamp feature \"{}\" has training values after the split cut-off on \"{}\"",
                        f.name, split_col
                    ));
                }
            }
            // Training columns are always `Text`; views exist only when scoring.
            Values::TextView(_) => continue,
            Values::Text(v) => {
                let Some(b) = &binary else { continue };
                let mut by_level: HashMap<&str, (usize, usize)> = HashMap::new();
                for (i, &positive) in b.iter().enumerate().take(v.len()) {
                    if v.is_valid(i) {
                        let e = by_level.entry(v.value(i)).or_default();
                        e.0 += 1;
                        if positive {
                            e.1 += 1;
                        }
                    }
                }
                let total: usize = by_level.values().map(|e| e.0).sum();
                // Identifier-like columns (nearly one level per row) are not flagged.
                if total < 10 || by_level.len() * 2 > total {
                    continue;
                }
                let correct: usize = by_level.values().map(|(n, pos)| (*pos).max(n - pos)).sum();
                let purity = correct as f64 / total as f64;
                let base = b.iter().filter(|&&v| v).count() as f64 / b.len().max(1) as f64;
                if purity >= 0.995 && base.max(1.0 - base) < 0.99 {
                    warnings.push(format!(
                        "possible leakage: feature \"{}\" alone determines the label ({:.1}% of rows); check it is known before the outcome",
                        f.name,
                        purity * 100.0
                    ));
                }
            }
        }
    }
    warnings
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}
