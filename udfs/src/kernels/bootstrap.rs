//! Bootstrap confidence intervals and paired comparisons of evaluation metrics.
//!
//! A resample draws n rows with replacement (the classic multinomial
//! bootstrap), expressed as a count per row, so no resample copies or
//! re-sorts data: rows are sorted by score once and every resample is one
//! weighted linear pass computing every metric (AUC and average precision
//! from the weighted counts of each tied-score group). Resample `b` draws
//! from `SplitMix(seed + b)`, so results do not depend on the thread count.
//! CIs are percentile intervals (numpy's linear quantiles). Comparisons
//! evaluate both models under the same counts (paired); their p-value is
//! the two-sided bootstrap sign test, and for ROC AUC DeLong's test
//! (DeLong, DeLong & Clarke-Pearson 1988), computed from midranks.
//!
//! Written here: no Rust crate bootstraps weighted ranking metrics.

use super::quantile::quantile_sorted;
use super::rng::SplitMix;
use crate::control::Stop;
use crate::error::SqlStateError;

/// What is being evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// y ∈ {0, 1}, prediction ∈ {0, 1}, score = positive-class probability.
    Binary,
    /// y and prediction are values.
    Regression,
    /// y = 1 where the predicted class is right (accuracy only).
    Multiclass,
}

impl Kind {
    pub fn metrics(self) -> &'static [&'static str] {
        match self {
            Kind::Binary => &[
                "accuracy",
                "precision",
                "recall",
                "f1",
                "roc_auc",
                "pr_auc",
                "log_loss",
                "brier",
            ],
            Kind::Regression => &["rmse", "mae", "mape", "r2"],
            Kind::Multiclass => &["accuracy"],
        }
    }

    /// Whether a larger value of metric `i` is better.
    pub fn higher_is_better(self, i: usize) -> bool {
        match self {
            Kind::Binary => i < 6,
            Kind::Regression => i == 3,
            Kind::Multiclass => true,
        }
    }
}

/// One model's outputs on the evaluation rows, ready for weighted passes.
#[derive(Debug, Clone)]
pub struct Prepared {
    kind: Kind,
    /// Row order: by descending score (binary), else as given.
    order: Vec<u32>,
    /// For binary: where each group of tied scores ends in `order`.
    group_ends: Vec<u32>,
    y: Vec<f64>,
    prediction: Vec<f64>,
    /// Per row: log loss and squared error (binary); y centred on its mean (regression).
    loss: Vec<f64>,
    brier: Vec<f64>,
}

impl Prepared {
    pub fn new(kind: Kind, y: Vec<f64>, prediction: Vec<f64>, score: Vec<f64>) -> Prepared {
        let n = y.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut group_ends = Vec::new();
        let (mut loss, mut brier) = (Vec::new(), Vec::new());
        match kind {
            Kind::Binary => {
                order.sort_by(|&a, &b| score[b as usize].total_cmp(&score[a as usize]));
                for k in 1..=n {
                    if k == n || score[order[k] as usize] != score[order[k - 1] as usize] {
                        group_ends.push(k as u32);
                    }
                }
                let clip = 1e-15;
                for i in 0..n {
                    let p = score[i].clamp(clip, 1.0 - clip);
                    loss.push(if y[i] == 1.0 {
                        -p.ln()
                    } else {
                        -(1.0 - p).ln()
                    });
                    brier.push((score[i] - y[i]) * (score[i] - y[i]));
                }
            }
            Kind::Regression => {
                let mean = y.iter().sum::<f64>() / n.max(1) as f64;
                loss = y.iter().map(|v| v - mean).collect();
            }
            Kind::Multiclass => {}
        }
        Prepared {
            kind,
            order,
            group_ends,
            y,
            prediction,
            loss,
            brier,
        }
    }

    pub fn rows(&self) -> usize {
        self.y.len()
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Every metric of [`Kind::metrics`] with each row counted `w[row]`
    /// times (once each when `w` is None); NaN where undefined.
    pub fn metrics(&self, w: Option<&[u32]>) -> Vec<f64> {
        let weight = |i: usize| w.map_or(1.0, |w| w[i] as f64);
        match self.kind {
            Kind::Binary => self.binary(weight),
            Kind::Regression => self.regression(weight),
            Kind::Multiclass => {
                let (mut right, mut total) = (0.0, 0.0);
                for (i, &y) in self.y.iter().enumerate() {
                    let wi = weight(i);
                    right += wi * y;
                    total += wi;
                }
                vec![right / total]
            }
        }
    }

    fn binary(&self, weight: impl Fn(usize) -> f64) -> Vec<f64> {
        let (mut tp, mut fp, mut fn_, mut tn) = (0.0, 0.0, 0.0, 0.0);
        let (mut loss, mut brier) = (0.0, 0.0);
        // Ranking metrics over tied-score groups, highest score first.
        let (mut positives, mut negatives) = (0.0, 0.0);
        let mut group_sums = Vec::with_capacity(self.group_ends.len());
        let mut start = 0;
        for &end in &self.group_ends {
            let (mut pos, mut neg) = (0.0, 0.0);
            for &row in &self.order[start..end as usize] {
                let i = row as usize;
                let wi = weight(i);
                if wi == 0.0 {
                    continue;
                }
                let actual = self.y[i] == 1.0;
                let predicted = self.prediction[i] == 1.0;
                match (actual, predicted) {
                    (true, true) => tp += wi,
                    (false, true) => fp += wi,
                    (true, false) => fn_ += wi,
                    (false, false) => tn += wi,
                }
                loss += wi * self.loss[i];
                brier += wi * self.brier[i];
                if actual {
                    pos += wi;
                } else {
                    neg += wi;
                }
            }
            positives += pos;
            negatives += neg;
            group_sums.push((pos, neg));
            start = end as usize;
        }
        let (mut auc, mut ap) = (0.0, 0.0);
        let (mut neg_above, mut tp_cum, mut fp_cum) = (0.0, 0.0, 0.0);
        for &(pos, neg) in &group_sums {
            auc += pos * (negatives - neg_above - 0.5 * neg);
            neg_above += neg;
            tp_cum += pos;
            fp_cum += neg;
            if pos > 0.0 {
                ap += pos * tp_cum / (tp_cum + fp_cum);
            }
        }
        let rows = tp + fp + fn_ + tn;
        let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        let undefined = |ok: bool, v: f64| if ok { v } else { f64::NAN };
        vec![
            undefined(rows > 0.0, (tp + tn) / rows),
            undefined(rows > 0.0, ratio(tp, tp + fp)),
            undefined(rows > 0.0, ratio(tp, tp + fn_)),
            undefined(rows > 0.0, ratio(2.0 * tp, 2.0 * tp + fp + fn_)),
            undefined(
                positives > 0.0 && negatives > 0.0,
                auc / (positives * negatives),
            ),
            undefined(rows > 0.0, ratio(ap, positives)),
            undefined(rows > 0.0, loss / rows),
            undefined(rows > 0.0, brier / rows),
        ]
    }

    fn regression(&self, weight: impl Fn(usize) -> f64) -> Vec<f64> {
        let (mut total, mut squared, mut absolute, mut relative) = (0.0, 0.0, 0.0, 0.0);
        let (mut sum_c, mut sum_c2) = (0.0, 0.0);
        for i in 0..self.y.len() {
            let wi = weight(i);
            if wi == 0.0 {
                continue;
            }
            let r = self.y[i] - self.prediction[i];
            total += wi;
            squared += wi * r * r;
            absolute += wi * r.abs();
            relative += wi * r.abs() / self.y[i].abs().max(f64::EPSILON);
            let c = self.loss[i];
            sum_c += wi * c;
            sum_c2 += wi * c * c;
        }
        if total == 0.0 {
            return vec![f64::NAN; 4];
        }
        let ss_tot = sum_c2 - sum_c * sum_c / total;
        let r2 = if total < 2.0 {
            f64::NAN
        } else if ss_tot <= 0.0 {
            if squared == 0.0 { 1.0 } else { 0.0 }
        } else {
            1.0 - squared / ss_tot
        };
        vec![
            (squared / total).sqrt(),
            absolute / total,
            relative / total,
            r2,
        ]
    }
}

/// The counts of resample `b` over `n` rows.
fn resample_counts(n: usize, seed: u64, b: usize, counts: &mut [u32]) {
    counts.iter_mut().for_each(|c| *c = 0);
    let mut rng = SplitMix(
        seed.wrapping_add(b as u64)
            .wrapping_mul(0x2545_F491_4F6C_DD1D),
    );
    for _ in 0..n {
        // Lemire's multiply-shift: a uniform index without division.
        let i = ((rng.next_u64() as u128 * n as u128) >> 64) as usize;
        counts[i] += 1;
    }
}

/// Each model's metrics under `resamples` bootstrap resamples:
/// `result[b][model][metric]`; `Err` once `stop` says the statement must
/// end (checked before each resample).
pub fn resampled(
    models: &[&Prepared],
    resamples: usize,
    seed: u64,
    threads: usize,
    stop: &Stop,
) -> Result<Vec<Vec<Vec<f64>>>, SqlStateError> {
    let n = models.first().map_or(0, |m| m.rows());
    if n == 0 {
        return Ok(Vec::new());
    }
    // Resamples are the work items: spread them over the threads directly.
    let per_thread = resamples.div_ceil(threads.max(1)).max(1);
    let items: Vec<std::ops::Range<usize>> = (0..resamples)
        .step_by(per_thread)
        .map(|s| s..(s + per_thread).min(resamples))
        .collect();
    let parts = super::parallel::par_map(&items, threads, |range| {
        let mut counts = vec![0u32; n];
        range
            .clone()
            .map(|b| {
                stop.check()?;
                resample_counts(n, seed, b, &mut counts);
                Ok(models.iter().map(|m| m.metrics(Some(&counts))).collect())
            })
            .collect::<Result<Vec<Vec<Vec<f64>>>, SqlStateError>>()
    });
    let mut out = Vec::with_capacity(resamples);
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// numpy's default (linear) quantile of the finite values; NaN when none.
pub fn quantile(values: &mut Vec<f64>, q: f64) -> f64 {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    quantile_sorted(values, q).unwrap_or(f64::NAN)
}

/// Percentile interval at confidence `level` of one metric's resampled values.
pub fn interval(values: &[f64], level: f64) -> (f64, f64) {
    let alpha = 1.0 - level;
    let mut v = values.to_vec();
    let lower = quantile(&mut v, alpha / 2.0);
    let upper = quantile(&mut v, 1.0 - alpha / 2.0);
    (lower, upper)
}

/// Two-sided bootstrap p-value of "no difference": twice the smaller count
/// of resampled differences on either side of zero, with the usual +1
/// correction ((k + 1) / (B + 1)) so it is never 0, at most 1.
pub fn sign_test(differences: &[f64]) -> f64 {
    let finite: Vec<f64> = differences
        .iter()
        .copied()
        .filter(|d| d.is_finite())
        .collect();
    if finite.is_empty() {
        return f64::NAN;
    }
    let b = finite.len() as f64;
    let at_most = finite.iter().filter(|&&d| d <= 0.0).count() as f64;
    let at_least = finite.iter().filter(|&&d| d >= 0.0).count() as f64;
    (2.0 * (at_most.min(at_least) + 1.0) / (b + 1.0)).min(1.0)
}

/// Midranks (1-based, ties averaged) of `values`.
fn midranks(values: &[f64]) -> Vec<f64> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j + 2) as f64 / 2.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// DeLong's test of equal ROC AUC for two scores of the same rows:
/// (auc_a, auc_b, p-value). `y` holds 0/1 labels.
pub fn delong(y: &[f64], score_a: &[f64], score_b: &[f64]) -> Option<(f64, f64, f64)> {
    let positives: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 1.0).collect();
    let negatives: Vec<usize> = (0..y.len()).filter(|&i| y[i] != 1.0).collect();
    let (m, n) = (positives.len(), negatives.len());
    if m < 2 || n < 2 {
        return None;
    }
    // Structural components from midranks (Sun & Xu 2014's fast form):
    // V10 of a positive = share of negatives it outranks; V01 of a negative
    // = share of positives that outrank it.
    let components = |score: &[f64]| -> (f64, Vec<f64>, Vec<f64>) {
        let all = midranks(score);
        let pos: Vec<f64> = positives.iter().map(|&i| score[i]).collect();
        let neg: Vec<f64> = negatives.iter().map(|&i| score[i]).collect();
        let (rp, rn) = (midranks(&pos), midranks(&neg));
        let v10: Vec<f64> = positives
            .iter()
            .zip(&rp)
            .map(|(&i, r)| (all[i] - r) / n as f64)
            .collect();
        let v01: Vec<f64> = negatives
            .iter()
            .zip(&rn)
            .map(|(&i, r)| 1.0 - (all[i] - r) / m as f64)
            .collect();
        let auc = v10.iter().sum::<f64>() / m as f64;
        (auc, v10, v01)
    };
    let (auc_a, v10a, v01a) = components(score_a);
    let (auc_b, v10b, v01b) = components(score_b);
    let covariance = |a: &[f64], b: &[f64]| -> f64 {
        let k = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / k, b.iter().sum::<f64>() / k);
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - ma) * (y - mb))
            .sum::<f64>()
            / (k - 1.0)
    };
    let variance = (covariance(&v10a, &v10a) + covariance(&v10b, &v10b)
        - 2.0 * covariance(&v10a, &v10b))
        / m as f64
        + (covariance(&v01a, &v01a) + covariance(&v01b, &v01b) - 2.0 * covariance(&v01a, &v01b))
            / n as f64;
    let diff = auc_b - auc_a;
    let p = if variance <= 1e-300 {
        if diff == 0.0 { 1.0 } else { 0.0 }
    } else {
        let z = diff.abs() / variance.sqrt();
        statrs::function::erf::erfc(z / std::f64::consts::SQRT_2)
    };
    Some((auc_a, auc_b, p.clamp(0.0, 1.0)))
}

impl Prepared {
    /// ROC AUC and DeLong's variance of it (structural components from
    /// the tied-score groups: a positive's V10 is the share of negatives
    /// it outranks, ties half; a negative's V01 the share of positives
    /// that outrank it): `None` unless binary with two rows of each class.
    pub fn auc_variance(&self) -> Option<(f64, f64)> {
        if self.kind != Kind::Binary {
            return None;
        }
        let mut groups = Vec::with_capacity(self.group_ends.len());
        let mut start = 0;
        for &end in &self.group_ends {
            let rows = &self.order[start..end as usize];
            let pos = rows.iter().filter(|&&r| self.y[r as usize] == 1.0).count() as f64;
            groups.push((pos, rows.len() as f64 - pos));
            start = end as usize;
        }
        let m: f64 = groups.iter().map(|g| g.0).sum();
        let n: f64 = groups.iter().map(|g| g.1).sum();
        if m < 2.0 || n < 2.0 {
            return None;
        }
        // Groups run from the highest score down.
        let (mut pos_above, mut neg_below) = (0.0, n);
        let (mut s10, mut s10_2, mut s01, mut s01_2) = (0.0, 0.0, 0.0, 0.0);
        for &(pos, neg) in &groups {
            neg_below -= neg;
            let v10 = (neg_below + 0.5 * neg) / n;
            let v01 = (pos_above + 0.5 * pos) / m;
            s10 += pos * v10;
            s10_2 += pos * v10 * v10;
            s01 += neg * v01;
            s01_2 += neg * v01 * v01;
            pos_above += pos;
        }
        let auc = s10 / m;
        let var10 = (s10_2 - s10 * s10 / m) / (m - 1.0);
        let var01 = (s01_2 - s01 * s01 / n) / (n - 1.0);
        Some((auc, var10 / m + var01 / n))
    }
}

/// One arm of an A/B test against the baseline, on different rows
/// (unpaired): each side resampled on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmComparison {
    /// The arm's metric and its percentile interval.
    pub value: f64,
    pub ci: (f64, f64),
    /// Arm minus baseline, its percentile interval and two-sided p-value
    /// (DeLong's for ROC AUC, with the two variances added as the samples
    /// are independent; the bootstrap sign test otherwise); NaN for the
    /// baseline itself.
    pub lift: f64,
    pub lift_ci: (f64, f64),
    pub p_value: f64,
    /// Labelled rows still needed, both arms together at their current
    /// ratio, to detect the observed lift with 80% power at the interval's
    /// level (two-sided); 0 once significant, `None` when the lift is 0.
    pub rows_needed: Option<u64>,
}

/// A metric's resampled values for one arm, from its own seed.
pub fn arm_resamples(
    arm: &Prepared,
    metric: usize,
    resamples: usize,
    seed: u64,
    threads: usize,
    stop: &Stop,
) -> Result<Vec<f64>, SqlStateError> {
    Ok(resampled(&[arm], resamples, seed, threads, stop)?
        .into_iter()
        .map(|r| r[0][metric])
        .collect())
}

/// `arm` against `base` on `metric` (an index of [`Kind::metrics`]), from
/// each one's resampled values (`arm_resamples`, same count).
pub fn compare_arms(
    base: &Prepared,
    base_resamples: &[f64],
    arm: &Prepared,
    arm_resamples: &[f64],
    metric: usize,
    level: f64,
) -> ArmComparison {
    let value = arm.metrics(None)[metric];
    let base_value = base.metrics(None)[metric];
    let lift = value - base_value;
    let differences: Vec<f64> = arm_resamples
        .iter()
        .zip(base_resamples)
        .map(|(a, b)| a - b)
        .collect();
    let variance_of = |values: &[f64]| {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let k = finite.len() as f64;
        if k < 2.0 {
            return f64::NAN;
        }
        let mean = finite.iter().sum::<f64>() / k;
        finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (k - 1.0)
    };
    let is_auc = arm.kind() == Kind::Binary && Kind::Binary.metrics()[metric] == "roc_auc";
    let (variance, p_value) = match (is_auc, base.auc_variance(), arm.auc_variance()) {
        (true, Some((_, vb)), Some((_, va))) => {
            let variance = va + vb;
            let p = if variance <= 1e-300 {
                if lift == 0.0 { 1.0 } else { 0.0 }
            } else {
                statrs::function::erf::erfc(lift.abs() / variance.sqrt() / std::f64::consts::SQRT_2)
            };
            (variance, p.clamp(0.0, 1.0))
        }
        _ => (
            variance_of(arm_resamples) + variance_of(base_resamples),
            sign_test(&differences),
        ),
    };
    let alpha = 1.0 - level;
    let rows_needed = if !lift.is_finite() || !variance.is_finite() {
        None
    } else if p_value < alpha {
        Some(0)
    } else if lift == 0.0 {
        None
    } else {
        use statrs::distribution::{ContinuousCDF, Normal};
        let normal = Normal::standard();
        let z = normal.inverse_cdf(1.0 - alpha / 2.0) + normal.inverse_cdf(0.8);
        // Variances shrink as 1/rows: k times the rows gives variance/k.
        let k = z * z * variance / (lift * lift);
        let rows = (base.rows() + arm.rows()) as f64;
        Some(((k - 1.0).max(0.0) * rows).ceil() as u64)
    };
    let finite = |v: f64| if v.is_finite() { v } else { f64::NAN };
    ArmComparison {
        value: finite(value),
        ci: interval(arm_resamples, level),
        lift,
        lift_ci: interval(&differences, level),
        p_value,
        rows_needed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64, signal: f64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = SplitMix(seed);
        let y: Vec<f64> = (0..n).map(|_| f64::from(rng.uniform() < 0.4)).collect();
        let s: Vec<f64> = y
            .iter()
            .map(|&t| (signal * t + rng.uniform()).min(1.0) * 0.999)
            .collect();
        (y, s)
    }

    #[test]
    fn unit_weights_give_the_aggregate_values() {
        let (y, s) = data(500, 1, 0.3);
        let p: Vec<f64> = s.iter().map(|&v| f64::from(v >= 0.5)).collect();
        let m = Prepared::new(Kind::Binary, y.clone(), p.clone(), s.clone()).metrics(None);
        let yb: Vec<bool> = y.iter().map(|&v| v == 1.0).collect();
        let auc = crate::kernels::metrics::roc_auc(&yb, &s).expect("auc");
        assert!((m[4] - auc).abs() < 1e-12, "{} vs {auc}", m[4]);
        let pb: Vec<bool> = p.iter().map(|&v| v == 1.0).collect();
        let (acc, prec, rec, f1) = crate::kernels::metrics::binary_scores(&yb, &pb);
        for (a, b) in m[..4].iter().zip([acc, prec, rec, f1]) {
            assert!((a - b).abs() < 1e-12);
        }
        let ll = crate::kernels::metrics::log_loss(&yb, &s).expect("ll");
        assert!((m[6] - ll).abs() < 1e-12);
    }

    #[test]
    fn intervals_cover_the_estimate_and_shrink_with_rows() {
        let width = |n: usize| {
            let (y, s) = data(n, 2, 0.3);
            let p: Vec<f64> = s.iter().map(|&v| f64::from(v >= 0.5)).collect();
            let m = Prepared::new(Kind::Binary, y, p, s);
            let point = m.metrics(None)[4];
            let runs = resampled(&[&m], 300, 7, 2, &Stop::new(None)).expect("runs");
            let aucs: Vec<f64> = runs.iter().map(|r| r[0][4]).collect();
            let (lo, hi) = interval(&aucs, 0.95);
            assert!(lo <= point && point <= hi, "{lo} {point} {hi}");
            hi - lo
        };
        let (small, large) = (width(400), width(6400));
        // Width falls like 1/sqrt(n): 16x the rows, about a quarter of the width.
        assert!(large < small / 2.5, "{small} vs {large}");
    }

    #[test]
    fn resamples_do_not_depend_on_threads() {
        let (y, s) = data(300, 3, 0.2);
        let m = Prepared::new(Kind::Regression, y.clone(), s.clone(), s);
        let never = Stop::new(None);
        assert_eq!(
            resampled(&[&m], 20, 5, 1, &never).expect("runs"),
            resampled(&[&m], 20, 5, 3, &never).expect("runs")
        );
        let stopped = Stop::new(None);
        stopped.stop(crate::control::Interrupt::Cancel);
        assert_eq!(
            resampled(&[&m], 20, 5, 2, &stopped)
                .expect_err("stopped")
                .code,
            crate::sqlstate::QUERY_CANCELED
        );
    }

    /// DeLong's variance straight from its definition, over all pairs.
    fn delong_by_definition(y: &[f64], a: &[f64], b: &[f64]) -> f64 {
        let pos: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 1.0).collect();
        let neg: Vec<usize> = (0..y.len()).filter(|&i| y[i] != 1.0).collect();
        let psi = |x: f64, z: f64| {
            if x > z {
                1.0
            } else if x == z {
                0.5
            } else {
                0.0
            }
        };
        let v10 = |s: &[f64]| -> Vec<f64> {
            pos.iter()
                .map(|&i| neg.iter().map(|&j| psi(s[i], s[j])).sum::<f64>() / neg.len() as f64)
                .collect()
        };
        let v01 = |s: &[f64]| -> Vec<f64> {
            neg.iter()
                .map(|&j| pos.iter().map(|&i| psi(s[i], s[j])).sum::<f64>() / pos.len() as f64)
                .collect()
        };
        let cov = |u: &[f64], v: &[f64]| {
            let k = u.len() as f64;
            let (mu, mv) = (u.iter().sum::<f64>() / k, v.iter().sum::<f64>() / k);
            u.iter()
                .zip(v)
                .map(|(x, y)| (x - mu) * (y - mv))
                .sum::<f64>()
                / (k - 1.0)
        };
        let (a10, b10, a01, b01) = (v10(a), v10(b), v01(a), v01(b));
        let var = (cov(&a10, &a10) + cov(&b10, &b10) - 2.0 * cov(&a10, &b10)) / pos.len() as f64
            + (cov(&a01, &a01) + cov(&b01, &b01) - 2.0 * cov(&a01, &b01)) / neg.len() as f64;
        let auc = |s: &[f64]| v10(s).iter().sum::<f64>() / pos.len() as f64;
        let z = (auc(b) - auc(a)).abs() / var.sqrt();
        statrs::function::erf::erfc(z / std::f64::consts::SQRT_2)
    }

    #[test]
    fn delong_fast_form_equals_the_definition() {
        let (y, a) = data(300, 4, 0.25);
        // b: a's scores coarsened (many ties) plus noise.
        let mut rng = SplitMix(9);
        let b: Vec<f64> = a
            .iter()
            .map(|v| ((v + 0.2 * rng.uniform()) * 10.0).round() / 10.0)
            .collect();
        let (auc_a, auc_b, p) = delong(&y, &a, &b).expect("delong");
        let yb: Vec<bool> = y.iter().map(|&v| v == 1.0).collect();
        assert!((auc_a - crate::kernels::metrics::roc_auc(&yb, &a).expect("a")).abs() < 1e-12);
        assert!((auc_b - crate::kernels::metrics::roc_auc(&yb, &b).expect("b")).abs() < 1e-12);
        let reference = delong_by_definition(&y, &a, &b);
        assert!((p - reference).abs() < 1e-9, "{p} vs {reference}");
        // Identical scores: no difference at all.
        let (_, _, same) = delong(&y, &a, &a).expect("delong");
        assert_eq!(same, 1.0);
    }

    #[test]
    fn sign_test_of_a_clear_difference_is_small() {
        assert_eq!(sign_test(&[0.0; 50]), 1.0);
        let all_positive: Vec<f64> = (1..=1000).map(|i| i as f64).collect();
        assert!(sign_test(&all_positive) < 0.01);
    }

    /// AUC and its DeLong variance straight from the definition: every
    /// positive against every negative.
    fn auc_variance_by_definition(y: &[f64], s: &[f64]) -> (f64, f64) {
        let pos: Vec<f64> = (0..y.len())
            .filter(|&i| y[i] == 1.0)
            .map(|i| s[i])
            .collect();
        let neg: Vec<f64> = (0..y.len())
            .filter(|&i| y[i] != 1.0)
            .map(|i| s[i])
            .collect();
        let psi = |p: f64, n: f64| {
            if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            }
        };
        let (m, n) = (pos.len() as f64, neg.len() as f64);
        let v10: Vec<f64> = pos
            .iter()
            .map(|&p| neg.iter().map(|&q| psi(p, q)).sum::<f64>() / n)
            .collect();
        let v01: Vec<f64> = neg
            .iter()
            .map(|&q| pos.iter().map(|&p| psi(p, q)).sum::<f64>() / m)
            .collect();
        let auc = v10.iter().sum::<f64>() / m;
        let var = |v: &[f64]| {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (v.len() as f64 - 1.0)
        };
        (auc, var(&v10) / m + var(&v01) / n)
    }

    #[test]
    fn auc_variance_equals_the_definition_with_ties() {
        let (y, s) = data(400, 11, 0.4);
        // Rounded scores: many ties.
        let s: Vec<f64> = s.iter().map(|v| (v * 20.0).round() / 20.0).collect();
        let prepared = Prepared::new(Kind::Binary, y.clone(), vec![0.0; y.len()], s.clone());
        let (auc, var) = prepared.auc_variance().expect("both classes");
        let (want_auc, want_var) = auc_variance_by_definition(&y, &s);
        assert!((auc - want_auc).abs() < 1e-12, "{auc} {want_auc}");
        assert!(
            (var - want_var).abs() < 1e-12 * want_var.max(1.0),
            "{var} {want_var}"
        );
        let one_class = Prepared::new(Kind::Binary, vec![1.0; 5], vec![1.0; 5], vec![0.5; 5]);
        assert_eq!(one_class.auc_variance(), None);
    }

    #[test]
    fn arms_compare_as_independent_samples() {
        let stop = Stop::new(None);
        let (ya, sa) = data(600, 1, 0.5);
        let (yb, sb) = data(500, 2, 0.0);
        let prep = |y: &[f64], s: &[f64]| {
            let pred = s.iter().map(|v| f64::from(*v >= 0.5)).collect();
            Prepared::new(Kind::Binary, y.to_vec(), pred, s.to_vec())
        };
        let (base, arm) = (prep(&ya, &sa), prep(&yb, &sb));
        let auc = Kind::Binary
            .metrics()
            .iter()
            .position(|m| *m == "roc_auc")
            .expect("auc");
        let base_values = arm_resamples(&base, auc, 400, 7, 2, &stop).expect("resamples");
        let arm_values = arm_resamples(&arm, auc, 400, 8, 2, &stop).expect("resamples");
        let c = compare_arms(&base, &base_values, &arm, &arm_values, auc, 0.95);
        // DeLong's z with the two variances added.
        let (a0, v0) = auc_variance_by_definition(&ya, &sa);
        let (a1, v1) = auc_variance_by_definition(&yb, &sb);
        let z = (a1 - a0).abs() / (v0 + v1).sqrt();
        let p = statrs::function::erf::erfc(z / std::f64::consts::SQRT_2);
        assert!((c.lift - (a1 - a0)).abs() < 1e-12);
        assert!((c.p_value - p).abs() < 1e-12, "{} {p}", c.p_value);
        assert!(c.p_value < 1e-6 && c.rows_needed == Some(0));
        assert!(c.lift_ci.0 < c.lift && c.lift < c.lift_ci.1);
        // The same model on both sides: no lift worth the name, and the
        // rows it would take are many.
        let same = prep(&ya[..300], &sa[..300]);
        let other = prep(&ya[300..], &sa[300..]);
        let sv = arm_resamples(&same, auc, 400, 7, 2, &stop).expect("resamples");
        let ov = arm_resamples(&other, auc, 400, 8, 2, &stop).expect("resamples");
        let c = compare_arms(&same, &sv, &other, &ov, auc, 0.95);
        assert!(c.p_value > 0.05, "{c:?}");
        assert!(c.rows_needed.is_some_and(|n| n > 0), "{c:?}");
    }
}
