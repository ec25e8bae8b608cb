//! Special functions shared by the learners, the scorers and the tests.
//!
//! | function           | value                    | for extreme inputs |
//! |--------------------|--------------------------|--------------------|
//! | `sigmoid(z)`       | 1 / (1 + e^−z)           | computed from the side whose exponential cannot overflow: never NaN, 0 and 1 reached only in the limit of the float range |
//! | `log1p_exp(z)`     | ln(1 + e^z) (softplus)   | z above 35 gives z, below −35 gives e^z: within an ulp, and no overflow |
//! | `softmax_in_place` | e^(v − max) / Σ e^(v − max) per row | the max is subtracted first, so no overflow |
//! | `norm_cdf(z)`      | Φ(z), the standard normal CDF | through `erfc`, accurate in both tails |

use std::f64::consts::FRAC_1_SQRT_2;

/// The logistic function, numerically stable for any finite `z`.
#[inline]
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Numerically stable `log(1 + exp(z))`.
#[inline]
pub fn log1p_exp(z: f64) -> f64 {
    if z > 35.0 {
        z
    } else if z < -35.0 {
        z.exp()
    } else {
        z.exp().ln_1p()
    }
}

/// Turns a row of scores into probabilities in place.
#[inline]
pub fn softmax_in_place(row: &mut [f64]) {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    row.iter_mut().for_each(|v| *v /= sum);
}

/// The standard normal CDF.
pub fn norm_cdf(z: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-z * FRAC_1_SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_symmetric_and_never_nan() {
        for z in [-800.0, -30.0, -1.0, 0.0, 1.0, 30.0, 800.0] {
            let s = sigmoid(z);
            assert!((0.0..=1.0).contains(&s), "{z}: {s}");
            assert!((s + sigmoid(-z) - 1.0).abs() < 1e-15, "{z}");
        }
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(-800.0) >= 0.0 && sigmoid(800.0) == 1.0);
    }

    #[test]
    fn softplus_matches_the_formula_and_its_asymptotes() {
        for z in [-5.0, -1.0, 0.0, 1.0, 5.0, 34.0] {
            let direct = (1.0 + f64::exp(z)).ln();
            assert!((log1p_exp(z) - direct).abs() <= 1e-12 * direct, "{z}");
        }
        // ln(1 + e^z) → e^z below and → z above, where the direct form fails.
        assert_eq!(log1p_exp(-40.0), f64::exp(-40.0));
        assert_eq!(log1p_exp(1000.0), 1000.0);
    }

    #[test]
    fn softmax_sums_to_one_without_overflow() {
        let mut row = [1000.0, 1001.0, 999.0];
        softmax_in_place(&mut row);
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!(row[1] > row[0] && row[0] > row[2]);
    }

    #[test]
    fn normal_cdf_has_known_values() {
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-16);
        // scipy.stats.norm.cdf(1.96) = 0.9750021048517795
        let p = norm_cdf(1.96);
        // statrs' erfc is accurate to about 1e-12.
        assert!((p - 0.975_002_104_851_779_5).abs() < 1e-11, "{p}");
        assert!(norm_cdf(-40.0) >= 0.0 && norm_cdf(-40.0) < 1e-300);
    }
}
