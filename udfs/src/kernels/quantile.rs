//! `numpy.quantile` with its default method (`'linear'`, Hyndman–Fan type 7),
//! the one quantile rule every Quarry function uses, so a median, an IQR, a
//! PSI bin edge and a bootstrap interval agree with NumPy and with each other.
//!
//! | input                | result |
//! |----------------------|--------|
//! | empty sample         | `None`: the caller decides (a default, NULL, an error) |
//! | `q` outside [0, 1]   | clamped to the sample's range |
//! | NaN in the sample    | the caller filters: ranks assume a total order |
//!
//! The interpolation is NumPy's `_lerp`, which computes from the nearer end
//! so that `t = 1` gives the upper value exactly (`a + (b − a)·t` can miss it
//! by an ulp).

/// numpy's linear interpolation between `a` and `b`.
#[inline]
pub fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// `numpy.quantile(sorted, q)` of an ascending sample; `None` when it is empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    Some(quantile_by_rank(sorted.len() as u64, q, |r| {
        sorted[r as usize]
    }))
}

/// numpy's linear quantile of a sample of `n > 0` values, given the value at
/// each rank (for samples kept as counts or sketches rather than sorted).
pub fn quantile_by_rank(n: u64, q: f64, at: impl Fn(u64) -> f64) -> f64 {
    let position = (n.max(1) - 1) as f64 * q.clamp(0.0, 1.0);
    let below = position.floor();
    let lo = (below as u64).min(n.max(1) - 1);
    let hi = (lo + 1).min(n.max(1) - 1);
    lerp(at(lo), at(hi), position - below)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_linear() {
        // numpy.quantile([1, 2, 4, 7, 11], [0, .1, .25, .5, .9, 1])
        let v = [1.0, 2.0, 4.0, 7.0, 11.0];
        let expected = [1.0, 1.4, 2.0, 4.0, 9.4, 11.0];
        for (q, e) in [0.0, 0.1, 0.25, 0.5, 0.9, 1.0].iter().zip(expected) {
            let got = quantile_sorted(&v, *q).expect("non-empty");
            assert!((got - e).abs() < 1e-12, "q {q}: {got} vs {e}");
        }
        // numpy.median([1, 2]) = 1.5, the upper end exactly at t = 1.
        assert_eq!(quantile_sorted(&[1.0, 2.0], 0.5), Some(1.5));
        assert_eq!(quantile_sorted(&[0.1, 0.7], 1.0), Some(0.7));
    }

    #[test]
    fn empty_and_single_samples() {
        assert_eq!(quantile_sorted(&[], 0.5), None);
        assert_eq!(quantile_sorted(&[3.0], 0.9), Some(3.0));
    }
}
