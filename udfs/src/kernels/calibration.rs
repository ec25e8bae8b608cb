//! Probability calibration and conformal intervals.
//!
//! - Platt scaling: p' = σ(a·s + b), (a, b) minimising the log loss of
//!   Platt's smoothed targets ((N₊+1)/(N₊+2) and 1/(N₋+2)) by Newton's method
//!   with step halving (Platt 1999). The score s is the model's log-odds for
//!   models that have them (logistic, gbdt), else its probability itself, as
//!   scikit-learn's `CalibratedClassifierCV` uses `decision_function` when
//!   there is one and `predict_proba` otherwise: a forest's pure leaves give
//!   probabilities of exactly 0 and 1, whose log-odds are infinite (clipped,
//!   ±27.6), and a sigmoid fitted on those put every row at 0.
//! - Isotonic regression: the non-decreasing step function closest to the
//!   labels in squared error, by pool-adjacent-violators; applied by linear
//!   interpolation between block centres and clipped at the ends (as
//!   scikit-learn's `IsotonicRegression(out_of_bounds="clip")`).
//! - Split-conformal intervals: the ⌈(n + 1)·level⌉-th smallest absolute
//!   residual of n calibration rows is the half-width q, so y ∈ ŷ ± q with
//!   probability ≥ level on exchangeable data (Lei et al. 2018).
//!
//! Written here: a few dozen lines each, no crate offers them over our types.

use serde::{Deserialize, Serialize};

use super::special::sigmoid;

/// A fitted probability map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Calibrator {
    /// σ(a·logit(p) + b).
    Platt { a: f64, b: f64 },
    /// Block centres (ascending) and their fitted probabilities.
    Isotonic { x: Vec<f64>, y: Vec<f64> },
    /// σ(a·p + b). A variant of its own, last, so that artifacts written
    /// before it (postcard numbers variants by position) still read.
    PlattOnProbability { a: f64, b: f64 },
}

/// The score Platt scaling fits its sigmoid on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlattScore {
    /// logit(p): for models whose probability is a sigmoid of a score.
    LogOdds,
    /// p itself: for models whose probabilities are frequencies.
    Probability,
}

impl PlattScore {
    /// The score for algorithm `kind`: log-odds for the models that have a
    /// decision function (logistic, gbdt), the probability otherwise.
    pub fn for_algorithm(kind: &str) -> PlattScore {
        match kind {
            "logistic" | "gbdt" => PlattScore::LogOdds,
            _ => PlattScore::Probability,
        }
    }

    fn of(self, p: f64) -> f64 {
        match self {
            PlattScore::LogOdds => logit(p),
            PlattScore::Probability => p,
        }
    }
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

impl Calibrator {
    pub fn name(&self) -> &'static str {
        match self {
            Calibrator::Platt { .. } | Calibrator::PlattOnProbability { .. } => "platt",
            Calibrator::Isotonic { .. } => "isotonic",
        }
    }

    /// The calibrated probability of a raw probability (NaN stays NaN).
    pub fn apply(&self, p: f64) -> f64 {
        if p.is_nan() {
            return p;
        }
        match self {
            Calibrator::Platt { a, b } => sigmoid(a * logit(p) + b),
            Calibrator::PlattOnProbability { a, b } => sigmoid(a * p + b),
            Calibrator::Isotonic { x, y } => {
                if x.is_empty() {
                    return p;
                }
                let last = x.len() - 1;
                if p <= x[0] {
                    return y[0];
                }
                if p >= x[last] {
                    return y[last];
                }
                let i = x.partition_point(|&v| v <= p);
                let (x0, x1, y0, y1) = (x[i - 1], x[i], y[i - 1], y[i]);
                if x1 == x0 {
                    y1
                } else {
                    y0 + (y1 - y0) * (p - x0) / (x1 - x0)
                }
            }
        }
    }

    /// Platt scaling of probabilities `p` against labels `y`, the sigmoid
    /// fitted on `score` of each.
    pub fn fit_platt(p: &[f64], y: &[bool], score: PlattScore) -> Calibrator {
        let s: Vec<f64> = p.iter().map(|&v| score.of(v)).collect();
        let positives = y.iter().filter(|&&v| v).count() as f64;
        let negatives = y.len() as f64 - positives;
        // Platt's targets: never exactly 0 or 1, so separable scores still
        // give a finite slope.
        let high = (positives + 1.0) / (positives + 2.0);
        let low = 1.0 / (negatives + 2.0);
        let t: Vec<f64> = y.iter().map(|&v| if v { high } else { low }).collect();
        let loss = |a: f64, b: f64| -> f64 {
            s.iter()
                .zip(&t)
                .map(|(&si, &ti)| {
                    // log(1 + e^z) − t·z, stable for large |z|.
                    let z = a * si + b;
                    z.max(0.0) + (-z.abs()).exp().ln_1p() - ti * z
                })
                .sum()
        };
        let (mut a, mut b) = (0.0, ((positives + 1.0) / (negatives + 1.0)).ln());
        let mut current = loss(a, b);
        for _ in 0..100 {
            // Gradient and Hessian of the log loss in (a, b).
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (&si, &ti) in s.iter().zip(&t) {
                let q = sigmoid(a * si + b);
                let r = q - ti;
                let w = (q * (1.0 - q)).max(1e-12);
                ga += r * si;
                gb += r;
                haa += w * si * si;
                hab += w * si;
                hbb += w;
            }
            // A tiny ridge keeps the step defined when s is constant.
            let (haa, hbb) = (haa + 1e-9, hbb + 1e-9);
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-300 {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            // Halve the step until the loss does not rise.
            let mut step = 1.0;
            let mut moved = false;
            while step > 1e-10 {
                let (na, nb) = (a - step * da, b - step * db);
                let next = loss(na, nb);
                if next.is_finite() && next <= current {
                    (a, b, current) = (na, nb, next);
                    moved = true;
                    break;
                }
                step /= 2.0;
            }
            if !moved || (step * (da.abs() + db.abs())) < 1e-12 {
                break;
            }
        }
        match score {
            PlattScore::LogOdds => Calibrator::Platt { a, b },
            PlattScore::Probability => Calibrator::PlattOnProbability { a, b },
        }
    }

    /// Isotonic regression of labels `y` on probabilities `p`.
    pub fn fit_isotonic(p: &[f64], y: &[bool]) -> Calibrator {
        let mut pairs: Vec<(f64, f64)> = p
            .iter()
            .zip(y)
            .filter(|(v, _)| !v.is_nan())
            .map(|(&v, &t)| (v, f64::from(u8::from(t))))
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Ties in p form one starting block (scikit-learn's secondary order).
        // Blocks: (sum of x, sum of y, count).
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        let mut i = 0;
        while i < pairs.len() {
            let mut j = i;
            let (mut sx, mut sy) = (0.0, 0.0);
            while j < pairs.len() && pairs[j].0 == pairs[i].0 {
                sx += pairs[j].0;
                sy += pairs[j].1;
                j += 1;
            }
            blocks.push((sx, sy, (j - i) as f64));
            // Pool while the previous block's mean is above this one's.
            while blocks.len() > 1 {
                let (sx1, sy1, n1) = blocks[blocks.len() - 1];
                let (sx0, sy0, n0) = blocks[blocks.len() - 2];
                if sy0 / n0 <= sy1 / n1 {
                    break;
                }
                blocks.pop();
                let last = blocks.len() - 1;
                blocks[last] = (sx0 + sx1, sy0 + sy1, n0 + n1);
            }
            i = j;
        }
        Calibrator::Isotonic {
            x: blocks.iter().map(|b| b.0 / b.2).collect(),
            y: blocks.iter().map(|b| b.1 / b.2).collect(),
        }
    }
}

/// The split-conformal half-width at `level` from calibration residuals;
/// None when there are too few rows for that level (⌈(n+1)·level⌉ > n).
pub fn conformal_half_width(residuals: &[f64], level: f64) -> Option<f64> {
    let mut r: Vec<f64> = residuals
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| v.abs())
        .collect();
    let n = r.len();
    let k = ((n as f64 + 1.0) * level).ceil() as usize;
    if n == 0 || k > n || k == 0 {
        return None;
    }
    r.sort_by(f64::total_cmp);
    Some(r[k - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::rng::SplitMix;

    #[test]
    fn isotonic_pools_adjacent_violators() {
        // scikit-learn IsotonicRegression().fit_transform(x, [1,0,1,0,1]) is
        // [0.5, 0.5, 0.5, 0.5, 1]: PAV pools (1,0) and (1,0) into two blocks
        // of mean 0.5 (equal means need no pooling), then 1.
        let c = Calibrator::fit_isotonic(
            &[0.1, 0.2, 0.3, 0.4, 0.5],
            &[true, false, true, false, true],
        );
        let Calibrator::Isotonic { x, y } = &c else {
            panic!("isotonic")
        };
        assert_eq!(y, &vec![0.5, 0.5, 1.0]);
        assert!((x[0] - 0.15).abs() < 1e-12 && (x[1] - 0.35).abs() < 1e-12);
        // Monotone, clipped at the ends, interpolated in between.
        assert_eq!(c.apply(0.0), 0.5);
        assert_eq!(c.apply(0.9), 1.0);
        assert!((c.apply(0.425) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn calibration_repairs_a_miscalibrated_score() {
        // True probability t; the model reports t² (overconfident low).
        let mut rng = SplitMix(5);
        let n = 20_000;
        let t: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        let y: Vec<bool> = t.iter().map(|&p| rng.uniform() < p).collect();
        let reported: Vec<f64> = t.iter().map(|p| p * p).collect();
        let brier = |f: &dyn Fn(f64) -> f64| -> f64 {
            reported
                .iter()
                .zip(&y)
                .map(|(&p, &yi)| (f(p) - f64::from(u8::from(yi))).powi(2))
                .sum::<f64>()
                / n as f64
        };
        let raw = brier(&|p| p);
        let iso = Calibrator::fit_isotonic(&reported, &y);
        let platt = Calibrator::fit_platt(&reported, &y, PlattScore::LogOdds);
        let (b_iso, b_platt) = (brier(&|p| iso.apply(p)), brier(&|p| platt.apply(p)));
        // The ideal forecast t scores about E[t(1−t)] = 1/6.
        assert!(
            b_iso < raw - 0.01 && (b_iso - 1.0 / 6.0).abs() < 0.01,
            "{raw} {b_iso}"
        );
        assert!(b_platt < raw - 0.005, "{raw} {b_platt}");
        // Isotonic output is non-decreasing.
        let grid: Vec<f64> = (0..=100).map(|i| iso.apply(i as f64 / 100.0)).collect();
        assert!(grid.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn platt_on_a_forest_keeps_the_ranking_of_pure_leaves() {
        // A forest's probabilities: many exactly 0 or 1 (pure leaves), the
        // rest vote shares; the label follows them, noisily.
        let mut rng = SplitMix(11);
        let n = 4000;
        let p: Vec<f64> = (0..n)
            .map(|_| match rng.uniform() {
                u if u < 0.3 => 0.0,
                u if u < 0.6 => 1.0,
                _ => (rng.uniform() * 10.0).floor() / 10.0,
            })
            .collect();
        let y: Vec<bool> = p.iter().map(|&v| rng.uniform() < 0.1 + 0.8 * v).collect();
        let c = Calibrator::fit_platt(&p, &y, PlattScore::Probability);
        let out: Vec<f64> = p.iter().map(|&v| c.apply(v)).collect();
        // Finite, inside (0, 1), and increasing in the raw probability, so
        // the ranking (AUC) is the raw one.
        assert!(
            out.iter().all(|v| v.is_finite() && *v > 0.0 && *v < 1.0),
            "{c:?}"
        );
        assert!(c.apply(0.0) < c.apply(0.5) && c.apply(0.5) < c.apply(1.0));
        // And it is calibrated: the mean matches the positive rate.
        let mean = out.iter().sum::<f64>() / n as f64;
        let rate = y.iter().filter(|&&v| v).count() as f64 / n as f64;
        assert!((mean - rate).abs() < 0.01, "{mean} vs {rate}");
        // On log-odds the same data also stays finite and ordered now.
        let c = Calibrator::fit_platt(&p, &y, PlattScore::LogOdds);
        assert!(c.apply(0.0) < c.apply(1.0) && c.apply(0.0) > 0.0, "{c:?}");
    }

    #[test]
    fn platt_artifacts_written_before_the_probability_variant_still_read() {
        // postcard numbers variants by position: Platt stays 0, Isotonic 1.
        let old = Calibrator::Platt { a: 1.5, b: -0.2 };
        let bytes = postcard::to_allocvec(&old).expect("encodes");
        assert_eq!(bytes[0], 0);
        let iso = postcard::to_allocvec(&Calibrator::Isotonic {
            x: vec![],
            y: vec![],
        })
        .expect("encodes");
        assert_eq!(iso[0], 1);
        let back: Calibrator = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(back, old);
    }

    #[test]
    fn conformal_half_width_is_the_corrected_quantile() {
        let r: Vec<f64> = (1..=99).map(f64::from).collect();
        // ⌈100 · 0.9⌉ = 90th smallest of 1..99
        assert_eq!(conformal_half_width(&r, 0.9), Some(90.0));
        assert_eq!(conformal_half_width(&[1.0, 2.0], 0.9), None);
        // Coverage on fresh exchangeable data is at least the level.
        let mut rng = SplitMix(8);
        let cal: Vec<f64> = (0..2000).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let q = conformal_half_width(&cal, 0.9).expect("q");
        let fresh: Vec<f64> = (0..20000).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let covered = fresh.iter().filter(|v| v.abs() <= q).count() as f64 / 20000.0;
        assert!((covered - 0.9).abs() < 0.02, "{covered}");
    }
}
