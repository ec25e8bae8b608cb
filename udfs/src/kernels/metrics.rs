//! Evaluation metrics with scikit-learn's definitions.
//!
//! | metric     | definition (scikit-learn)                                    |
//! |------------|--------------------------------------------------------------|
//! | roc_auc    | `roc_auc_score`: area under the ROC curve, tied scores averaged |
//! | log_loss   | `log_loss` with probabilities clipped to [1e-15, 1 − 1e-15]  |
//! | precision, recall, f1 | binary, positive class; 0 when undefined (`zero_division=0`) |
//! | r2         | `r2_score`: 1 − SS_res / SS_tot (0 when SS_tot is 0 and SS_res is 0 → 1) |
//!
//! Functions return `None` when the metric is undefined (e.g. AUC with one class).

/// Area under the ROC curve for binary labels; tied scores count one half.
pub fn roc_auc(y: &[bool], score: &[f64]) -> Option<f64> {
    let (mut positives, mut negatives): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for (&t, &s) in y.iter().zip(score) {
        // -0.0 and 0.0 are one score (a tie), as in numpy.
        if t {
            positives.push(s + 0.0)
        } else {
            negatives.push(s + 0.0)
        }
    }
    positives.sort_unstable_by(f64::total_cmp);
    negatives.sort_unstable_by(f64::total_cmp);
    roc_auc_sorted(&positives, &negatives)
}

/// P(score of a positive > score of a negative) + ½ P(equal), from ascending
/// scores of each class; None when a class is missing.
pub fn roc_auc_sorted(positives: &[f64], negatives: &[f64]) -> Option<f64> {
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    // below: negatives < s; through: negatives <= s. Both only move forward
    // because the positives ascend. Each positive adds 2·below + ties.
    let (mut below, mut through) = (0usize, 0usize);
    let mut twice: u128 = 0;
    for &s in positives {
        while below < negatives.len() && negatives[below] < s {
            below += 1;
        }
        through = through.max(below);
        while through < negatives.len() && negatives[through] <= s {
            through += 1;
        }
        twice += (below + through) as u128;
    }
    Some(twice as f64 / (2.0 * positives.len() as f64 * negatives.len() as f64))
}

/// Mean binary cross-entropy, probabilities clipped at 1e-15.
pub fn log_loss(y: &[bool], p: &[f64]) -> Option<f64> {
    if y.is_empty() {
        return None;
    }
    let eps = 1e-15;
    let total: f64 = y
        .iter()
        .zip(p)
        .map(|(&t, &q)| {
            let q = q.clamp(eps, 1.0 - eps);
            if t { -q.ln() } else { -(1.0 - q).ln() }
        })
        .sum();
    Some(total / y.len() as f64)
}

/// Confusion counts for binary labels: (tp, fp, tn, fn).
pub fn confusion(y: &[bool], predicted: &[bool]) -> (u64, u64, u64, u64) {
    let mut c = (0, 0, 0, 0);
    for (&t, &p) in y.iter().zip(predicted) {
        match (t, p) {
            (true, true) => c.0 += 1,
            (false, true) => c.1 += 1,
            (false, false) => c.2 += 1,
            (true, false) => c.3 += 1,
        }
    }
    c
}

/// (accuracy, precision, recall, f1) for binary labels, positive class `true`.
pub fn binary_scores(y: &[bool], predicted: &[bool]) -> (f64, f64, f64, f64) {
    let (tp, fp, tn, fn_) = confusion(y, predicted);
    let n = (tp + fp + tn + fn_).max(1) as f64;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = ratio(2 * tp, 2 * tp + fp + fn_);
    ((tp + tn) as f64 / n, precision, recall, f1)
}

/// Accuracy and macro-averaged precision, recall and F1 for class indices.
pub fn multiclass_scores(y: &[usize], predicted: &[usize], classes: usize) -> (f64, f64, f64, f64) {
    let n = y.len().max(1) as f64;
    let correct = y.iter().zip(predicted).filter(|(a, b)| a == b).count() as f64;
    let (mut p_sum, mut r_sum, mut f_sum) = (0.0, 0.0, 0.0);
    for c in 0..classes {
        let tp = y
            .iter()
            .zip(predicted)
            .filter(|&(&t, &p)| t == c && p == c)
            .count() as f64;
        let fp = y
            .iter()
            .zip(predicted)
            .filter(|&(&t, &p)| t != c && p == c)
            .count() as f64;
        let fn_ = y
            .iter()
            .zip(predicted)
            .filter(|&(&t, &p)| t == c && p != c)
            .count() as f64;
        p_sum += if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        r_sum += if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
        f_sum += if 2.0 * tp + fp + fn_ > 0.0 {
            2.0 * tp / (2.0 * tp + fp + fn_)
        } else {
            0.0
        };
    }
    let k = classes.max(1) as f64;
    (correct / n, p_sum / k, r_sum / k, f_sum / k)
}

/// Multinomial log loss; `proba` is row-major `n × classes`.
pub fn multiclass_log_loss(y: &[usize], proba: &[f64], classes: usize) -> Option<f64> {
    if y.is_empty() {
        return None;
    }
    let eps = 1e-15;
    let total: f64 = y
        .iter()
        .enumerate()
        .map(|(i, &c)| -proba[i * classes + c].clamp(eps, 1.0 - eps).ln())
        .sum();
    Some(total / y.len() as f64)
}

/// Macro-averaged one-vs-rest AUC over the classes present in `y`.
pub fn multiclass_roc_auc(y: &[usize], proba: &[f64], classes: usize) -> Option<f64> {
    let mut total = 0.0;
    let mut counted = 0;
    for c in 0..classes {
        let truth: Vec<bool> = y.iter().map(|&t| t == c).collect();
        let score: Vec<f64> = (0..y.len()).map(|i| proba[i * classes + c]).collect();
        if let Some(a) = roc_auc(&truth, &score) {
            total += a;
            counted += 1;
        }
    }
    (counted > 0).then(|| total / counted as f64)
}

/// (rmse, mae, r2).
pub fn regression_scores(y: &[f64], predicted: &[f64]) -> (f64, f64, f64) {
    let n = y.len().max(1) as f64;
    let mean = y.iter().sum::<f64>() / n;
    let (mut sse, mut sae, mut sst) = (0.0, 0.0, 0.0);
    for (&t, &p) in y.iter().zip(predicted) {
        sse += (t - p) * (t - p);
        sae += (t - p).abs();
        sst += (t - mean) * (t - mean);
    }
    let r2 = if sst == 0.0 {
        if sse == 0.0 { 1.0 } else { 0.0 }
    } else {
        1.0 - sse / sst
    };
    ((sse / n).sqrt(), sae / n, r2)
}

/// Mean silhouette coefficient; `x` is row-major `n × d`.
pub fn silhouette(x: &[f64], d: usize, labels: &[usize], k: usize) -> Option<f64> {
    let n = labels.len();
    if k < 2 || n < 2 {
        return None;
    }
    let dist = |a: usize, b: usize| -> f64 {
        x[a * d..(a + 1) * d]
            .iter()
            .zip(&x[b * d..(b + 1) * d])
            .map(|(p, q)| (p - q) * (p - q))
            .sum::<f64>()
            .sqrt()
    };
    let mut total = 0.0;
    for i in 0..n {
        let mut sums = vec![0.0; k];
        let mut counts = vec![0usize; k];
        for j in 0..n {
            if i != j {
                sums[labels[j]] += dist(i, j);
                counts[labels[j]] += 1;
            }
        }
        let own = labels[i];
        if counts[own] == 0 {
            continue; // a singleton cluster scores 0
        }
        let a = sums[own] / counts[own] as f64;
        let b = (0..k)
            .filter(|&c| c != own && counts[c] > 0)
            .map(|c| sums[c] / counts[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() {
            total += (b - a) / a.max(b);
        }
    }
    Some(total / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_matches_sklearn_with_ties() {
        // sklearn.metrics.roc_auc_score([0,0,1,1], [0.1,0.4,0.35,0.8]) == 0.75
        let y = [false, false, true, true];
        assert!((roc_auc(&y, &[0.1, 0.4, 0.35, 0.8]).expect("auc") - 0.75).abs() < 1e-12);
        // all scores tied → 0.5
        assert!((roc_auc(&y, &[0.5; 4]).expect("auc") - 0.5).abs() < 1e-12);
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
    }

    #[test]
    fn log_loss_clips_extremes() {
        // sklearn.metrics.log_loss([1, 0], [1.0, 0.0]) is ~1e-15, not NaN
        let v = log_loss(&[true, false], &[1.0, 0.0]).expect("loss");
        assert!(v.is_finite() && v < 1e-12);
        let v = log_loss(&[true, false], &[0.8, 0.3]).expect("loss");
        assert!((v - 0.5 * (-(0.8f64).ln() - (0.7f64).ln())).abs() < 1e-12);
    }

    #[test]
    fn binary_scores_match_hand_counts() {
        let y = [true, true, false, false, true];
        let p = [true, false, true, false, true];
        let (acc, prec, rec, f1) = binary_scores(&y, &p);
        assert!((acc - 0.6).abs() < 1e-12);
        assert!((prec - 2.0 / 3.0).abs() < 1e-12);
        assert!((rec - 2.0 / 3.0).abs() < 1e-12);
        assert!((f1 - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn regression_scores_match_numpy() {
        let (rmse, mae, r2) = regression_scores(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0]);
        // sklearn: mean_squared_error → 0.375, mae 0.5, r2 0.9486081370449679
        assert!((rmse - 0.375f64.sqrt()).abs() < 1e-12);
        assert!((mae - 0.5).abs() < 1e-12);
        assert!((r2 - 0.9486081370449679).abs() < 1e-12);
    }

    #[test]
    fn silhouette_of_separated_clusters_is_high() {
        let x = [0.0, 0.0, 0.1, 0.0, 10.0, 10.0, 10.1, 10.0];
        let s = silhouette(&x, 2, &[0, 0, 1, 1], 2).expect("silhouette");
        assert!(s > 0.95);
    }
}
