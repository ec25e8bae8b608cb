//! Unit-root and stationarity tests: the augmented Dickey–Fuller test and the
//! KPSS test, computed as `statsmodels.tsa.stattools.adfuller(x)` and
//! `statsmodels.tsa.stattools.kpss(x)` compute them with their default
//! arguments (statsmodels 0.15).
//!
//! Hand-written because no maintained Rust crate provides statsmodels-compatible
//! ADF/KPSS with MacKinnon p-values. The methods are those of Said & Dickey
//! (1984) for the augmented regression, MacKinnon (1994) for the approximate
//! ADF p-value, MacKinnon (2010) for the finite-sample ADF critical values,
//! Kwiatkowski, Phillips, Schmidt & Shin (1992) for the KPSS statistic and its
//! critical values, and Hobijn, Franses & Ooms (1998) for the KPSS bandwidth.
//!
//! **ADF** (`regression="c"`, `autolag="AIC"`). With `n = x.len()`, `maxlag =
//! min(⌈12·(n/100)^¼⌉, ⌊n/2⌋ − 2)`. For every `p` in `0..=maxlag` the regression
//! `Δx_t = α + γ·x_{t−1} + Σ_{j=1..p} δ_j·Δx_{t−j} + ε_t` is fitted by least
//! squares on the common sample of the last `n − 1 − maxlag` differences, and
//! the `p` with the smallest `AIC = −2·llf + 2·k` wins (ties go to the smaller
//! `p`, like Python's `min` over `(aic, k)`). The chosen regression is then
//! refitted on all `n − 1 − p` usable differences; the statistic is the t-ratio
//! of `γ`. Needs `n ≥ 4`.
//!
//! **KPSS** (`regression="c"`, `nlags="auto"`). `η = Σ S_t² / n²` with `S_t` the
//! partial sums of `x − x̄`, divided by the Newey–West (Bartlett) long-run
//! variance with the Hobijn et al. bandwidth, capped at `n − 1`. The p-value is
//! linearly interpolated in the KPSS table and therefore lies in `[0.01, 0.10]`.
//!
//! **Numerics.** Least squares uses an orthogonal (Givens) QR factorisation
//! streamed row by row, on the series centred by its mean (ADF and KPSS are
//! invariant to the offset), and the AIC-nested SSRs of the lag search all
//! come from one factorisation. statsmodels solves each regression by SVD of
//! the raw design, so where that design is ill-conditioned (a strong trend, a
//! large offset) the two differ by statsmodels' rounding error, with this
//! implementation the closer to exact arithmetic.
//!
//! **Degenerate input** returns `None` where statsmodels raises or returns
//! numbers with no meaning: an empty, non-finite or constant series, a series
//! too short for the test, a rank-deficient or exactly fitting ADF regression,
//! and a KPSS variance estimate that is zero or not finite.
//!
//! References: D. Kwiatkowski, P. C. B. Phillips, P. Schmidt, Y. Shin (1992),
//! J. Econometrics 54, 159–178. B. Hobijn, P. H. Franses, M. Ooms (1998),
//! "Generalizations of the KPSS-test for stationarity", Econometric Institute
//! Report 9802/A (Statistica Neerlandica 58, 2004). J. G. MacKinnon (1994),
//! J. Business & Economic Statistics 12, 167–176. J. G. MacKinnon (2010),
//! "Critical values for cointegration tests", Queen's Economics Department
//! Working Paper 1227. S. E. Said, D. A. Dickey (1984), Biometrika 71, 599–607.

use std::f64::consts::PI;

use super::linalg::dot;
use super::special::norm_cdf;

/// Result of [`adf`]. The null hypothesis is a unit root.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adf {
    /// t-ratio of the lagged level in the ADF regression.
    pub statistic: f64,
    /// MacKinnon (1994) approximate p-value, in `[0, 1]`.
    pub p_value: f64,
    /// Number of lagged differences chosen by AIC.
    pub used_lag: usize,
    /// Observations in the final regression: `x.len() − 1 − used_lag`.
    pub nobs: usize,
    /// MacKinnon (2010) critical values for `nobs`, as
    /// `(significance level, critical value)` at 1 %, 5 % and 10 %.
    pub critical: [(f64, f64); 3],
}

/// Result of [`kpss`]. The null hypothesis is level stationarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kpss {
    /// The KPSS statistic.
    pub statistic: f64,
    /// p-value interpolated in the Kwiatkowski et al. table, in `[0.01, 0.10]`;
    /// the true p-value is smaller (larger) when this is 0.01 (0.10).
    pub p_value: f64,
    /// Bartlett-kernel truncation lag used for the long-run variance.
    pub lags: usize,
    /// Kwiatkowski et al. (1992) critical values, as
    /// `(significance level, critical value)` at 10 %, 5 %, 2.5 % and 1 %.
    pub critical: [(f64, f64); 4],
}

/// KPSS critical values for the level-stationarity null (statsmodels' table).
const KPSS_CRITICAL: [(f64, f64); 4] =
    [(0.10, 0.347), (0.05, 0.463), (0.025, 0.574), (0.01, 0.739)];

/// Augmented Dickey–Fuller test with a constant and AIC lag selection, as
/// `statsmodels.tsa.stattools.adfuller(x)`.
///
/// Returns `None` for fewer than 4 observations (statsmodels raises "sample
/// size is too short"), for a constant series (statsmodels raises "x is
/// constant"), for non-finite values (statsmodels raises `MissingDataError`
/// for NaN), and when a candidate regression is rank-deficient or fits
/// exactly (statsmodels then warns and returns pseudo-inverse artefacts), for
/// example a perfectly linear series.
///
/// Time `O(n · maxlag²)` (about 6–12 s for a million points, maxlag 122),
/// memory `O(n + maxlag²)`.
pub fn adf(x: &[f64]) -> Option<Adf> {
    let n = x.len();
    let (level, scale) = centred(x)?;
    let schwert = (12.0 * (n as f64 / 100.0).powf(0.25)).ceil() as usize;
    let max_lag = (n / 2).checked_sub(2)?.min(schwert);
    // Differences of the raw series (as np.diff), scaled like `level`.
    let dx: Vec<f64> = x.windows(2).map(|w| (w[1] - w[0]) * scale).collect();
    if dx.iter().any(|d| !d.is_finite()) {
        return None;
    }
    // Row t regresses dx[t] = x[t+1] − x[t] on 1, the level x[t] and dx[t−j].
    let mut row = Vec::with_capacity(max_lag + 3);

    // Lag search on the common sample: columns [1, x[t], dx[t−1], …, dx[t−maxlag]].
    let mut search = StreamingQr::new(max_lag + 2);
    for t in max_lag..dx.len() {
        row.clear();
        row.extend([1.0, level[t]]);
        row.extend((1..=max_lag).map(|j| dx[t - j]));
        row.push(dx[t]);
        search.push(&mut row);
    }
    let z = search.finish()?;
    // Lag p uses the first p + 2 columns, leaving SSR = Σ_{i ≥ p+2} z_i².
    let mut ssr = vec![0.0; max_lag + 1];
    let mut tail = z[max_lag + 2] * z[max_lag + 2];
    for p in (0..=max_lag).rev() {
        ssr[p] = tail;
        tail += z[p + 1] * z[p + 1];
    }
    let mut best: Option<(f64, usize)> = None;
    for (p, &s) in ssr.iter().enumerate() {
        let aic = aic(s, search.rows, p + 2)?;
        if best.is_none_or(|(b, _)| aic < b) {
            best = Some((aic, p));
        }
    }
    let (_, used_lag) = best?;

    // Final fit on all n − 1 − p usable rows, with the level last so that its
    // t-ratio is z_{k−1} / s (R has a positive diagonal).
    let k = used_lag + 2;
    let mut fit = StreamingQr::new(k);
    for t in used_lag..dx.len() {
        row.clear();
        row.push(1.0);
        row.extend((1..=used_lag).map(|j| dx[t - j]));
        row.extend([level[t], dx[t]]);
        fit.push(&mut row);
    }
    let nobs = fit.rows;
    let z = fit.finish()?;
    let ssr = z[k] * z[k];
    if ssr <= 0.0 {
        return None;
    }
    let statistic = z[k - 1] / (ssr / (nobs - k) as f64).sqrt();
    statistic.is_finite().then(|| Adf {
        statistic,
        p_value: mackinnon_p(statistic),
        used_lag,
        nobs,
        critical: mackinnon_crit(nobs),
    })
}

/// KPSS test for level stationarity with the Hobijn et al. (1998) automatic
/// bandwidth, as `statsmodels.tsa.stattools.kpss(x)`.
///
/// Returns `None` for fewer than 3 observations (statsmodels raises for one
/// and, its bandwidth denominator being zero, for two), for a constant or
/// non-finite series (statsmodels raises, or for a constant series may report
/// a statistic of pure rounding noise), and when the bandwidth or the
/// long-run variance is degenerate. Runs in `O(n · lags)`.
pub fn kpss(x: &[f64]) -> Option<Kpss> {
    let n = x.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let (r, _) = centred(x)?;
    let autocov = |i: usize| dot(&r[i..], &r[..n - i]);

    // Hobijn et al. (1998) bandwidth, exactly as statsmodels' `_kpss_autolag`.
    let cov_lags = nf.powf(2.0 / 9.0) as usize;
    let mut s0 = autocov(0) / nf;
    let mut s1 = 0.0;
    for i in 1..=cov_lags {
        let g = autocov(i) / (nf / 2.0);
        s0 += g;
        s1 += i as f64 * g;
    }
    let ratio = s1 / s0;
    let bandwidth = 1.1447 * (ratio * ratio).powf(1.0 / 3.0) * nf.powf(1.0 / 3.0);
    if !bandwidth.is_finite() {
        return None;
    }
    let lags = (bandwidth as usize).min(n - 1);

    let mut partial = 0.0;
    let eta = r
        .iter()
        .map(|v| {
            partial += v;
            partial * partial
        })
        .sum::<f64>()
        / (nf * nf);
    let mut long_run = autocov(0);
    for i in 1..=lags {
        long_run += 2.0 * autocov(i) * (1.0 - i as f64 / (lags as f64 + 1.0));
    }
    let long_run = long_run / nf;
    if long_run.is_nan() || long_run <= 0.0 {
        return None;
    }
    let statistic = eta / long_run;
    statistic.is_finite().then(|| Kpss {
        statistic,
        p_value: kpss_p_value(statistic),
        lags,
        critical: KPSS_CRITICAL,
    })
}

/// `x − mean(x)` times a power of two bringing its largest magnitude into
/// `[1, 2)`, with that factor. Neither step changes either statistic in exact
/// arithmetic; the factor is exact, and the mean is taken with a compensated
/// sum and then corrected by a second pass (the mean of the shifted values),
/// so the residuals stay accurate even when the series sits on an offset far
/// larger than its variation, where KPSS would otherwise see the rounding
/// error of the mean as a drift. `None` for an empty, non-finite or constant
/// series.
fn centred(x: &[f64]) -> Option<(Vec<f64>, f64)> {
    let first = *x.first()?;
    if x.iter().any(|v| !v.is_finite()) || x.iter().all(|&v| v == first) {
        return None;
    }
    let shift = compensated_mean(x);
    let mut r: Vec<f64> = x.iter().map(|v| v - shift).collect();
    let correction = compensated_mean(&r);
    r.iter_mut().for_each(|v| *v -= correction);
    let widest = r.iter().fold(0.0_f64, |w, v| w.max(v.abs()));
    if !(shift.is_finite() && widest.is_finite() && widest > 0.0) {
        return None;
    }
    let scale = 2.0_f64.powi(-(widest.log2().floor() as i32).max(-1022));
    r.iter_mut().for_each(|v| *v *= scale);
    Some((r, scale))
}

/// Mean by Neumaier's compensated summation.
fn compensated_mean(x: &[f64]) -> f64 {
    let (sum, compensation) = x.iter().fold((0.0_f64, 0.0_f64), |(s, c), &v| {
        let t = s + v;
        let lost = if s.abs() >= v.abs() {
            (s - t) + v
        } else {
            (v - t) + s
        };
        (t, c + lost)
    });
    (sum + compensation) / x.len() as f64
}

/// Least squares by a QR factorisation built one row at a time with Givens
/// rotations, so the design matrix is never stored: memory is `O(k²)` for `k`
/// regressors. Each row is `[regressors…, response]`.
struct StreamingQr {
    /// Regressors plus the response.
    width: usize,
    /// Row-major upper-triangular `[R | Qᵀy]`, `width × width`; the last
    /// diagonal entry accumulates the residual norm.
    r: Vec<f64>,
    /// Sum of squares of each regressor column, for the rank tolerance.
    norms2: Vec<f64>,
    rows: usize,
}

impl StreamingQr {
    fn new(regressors: usize) -> Self {
        let width = regressors + 1;
        StreamingQr {
            width,
            r: vec![0.0; width * width],
            norms2: vec![0.0; regressors],
            rows: 0,
        }
    }

    /// Rotates `row` (overwritten) into the factor.
    fn push(&mut self, row: &mut [f64]) {
        for (n2, v) in self.norms2.iter_mut().zip(row.iter()) {
            *n2 += v * v;
        }
        let w = self.width;
        for k in 0..w {
            if row[k] == 0.0 {
                continue;
            }
            let r_k = &mut self.r[k * w..(k + 1) * w];
            // Values are centred and scaled to O(1), so the plain norm cannot overflow.
            let h = (r_k[k] * r_k[k] + row[k] * row[k]).sqrt();
            let (c, s) = (r_k[k] / h, row[k] / h);
            r_k[k] = h;
            for (a, b) in r_k[k + 1..].iter_mut().zip(&mut row[k + 1..]) {
                (*a, *b) = (c * *a + s * *b, c * *b - s * *a);
            }
        }
        self.rows += 1;
    }

    /// `z = Qᵀy` restricted to the factor: `z_i` for each regressor, then the
    /// residual norm. With the first `j` regressors the residual sum of squares
    /// is `Σ_{i ≥ j} z_i²`, and the t-ratio of regressor `j − 1` is `z_{j−1}/s`.
    ///
    /// `None` without a residual degree of freedom or when a column is
    /// numerically in the span of the ones before it (NumPy's `matrix_rank`
    /// tolerance `max(rows, cols)·ε·‖X‖`, with the largest column norm standing
    /// in for `‖X‖₂`): statsmodels fits such designs through a pseudo-inverse.
    fn finish(&self) -> Option<Vec<f64>> {
        let w = self.width;
        let widest = self.norms2.iter().fold(0.0_f64, |m, &v| m.max(v)).sqrt();
        let tolerance = self.rows as f64 * f64::EPSILON * widest;
        let full_rank = (0..w - 1).all(|k| self.r[k * w + k] > tolerance);
        (self.rows >= w && full_rank).then(|| (0..w).map(|i| self.r[i * w + w - 1]).collect())
    }
}

/// statsmodels' OLS AIC, `−2·llf + 2·k` with the profile log-likelihood
/// `llf = −n/2·ln 2π − n/2·ln(ssr/n) − n/2`. `None` for an exact fit.
fn aic(ssr: f64, nobs: usize, k: usize) -> Option<f64> {
    let half = nobs as f64 / 2.0;
    let llf = -half * (2.0 * PI).ln() - half * (ssr / nobs as f64).ln() - half;
    let aic = -2.0 * llf + 2.0 * k as f64;
    aic.is_finite().then_some(aic)
}

/// MacKinnon (1994) approximate p-value of an ADF t-statistic, constant-only
/// regression with one I(1) series (statsmodels' `mackinnonp(t, "c", N=1)`).
fn mackinnon_p(t: f64) -> f64 {
    // τ bounds and response-surface coefficients (c₀, c₁, c₂[, c₃]) for "c", N = 1.
    const TAU_MAX: f64 = 2.74;
    const TAU_MIN: f64 = -18.83;
    const TAU_STAR: f64 = -1.61;
    const SMALL_P: [f64; 3] = [2.1659, 1.4412, 3.8269 * 1e-2];
    const LARGE_P: [f64; 4] = [1.7339, 9.3202 * 1e-1, -1.2745 * 1e-1, -1.0368 * 1e-2];
    if t > TAU_MAX {
        return 1.0;
    }
    if t < TAU_MIN {
        return 0.0;
    }
    let coefficients: &[f64] = if t <= TAU_STAR { &SMALL_P } else { &LARGE_P };
    norm_cdf(horner(coefficients, t))
}

/// MacKinnon (2010) critical values `c∞ + c₁/n + c₂/n² + c₃/n³` for the
/// constant-only ADF regression (statsmodels' `mackinnoncrit(1, "c", nobs)`).
fn mackinnon_crit(nobs: usize) -> [(f64, f64); 3] {
    const TAU_C_2010: [(f64, [f64; 4]); 3] = [
        (0.01, [-3.43035, -6.5393, -16.786, -79.433]),
        (0.05, [-2.86154, -2.8903, -4.234, -40.040]),
        (0.10, [-2.56677, -1.5384, -2.809, 0.0]),
    ];
    let inverse = 1.0 / nobs as f64;
    TAU_C_2010.map(|(level, c)| (level, horner(&c, inverse)))
}

/// `Σ cᵢ·xⁱ` by Horner's rule from the highest power, like `numpy.polyval`.
fn horner(coefficients: &[f64], x: f64) -> f64 {
    coefficients.iter().rev().fold(0.0, |acc, &c| acc * x + c)
}

/// `numpy.interp(statistic, critical values, levels)` on the KPSS table:
/// linear between knots, clamped to `[0.01, 0.10]` outside them.
fn kpss_p_value(statistic: f64) -> f64 {
    let (first, last) = (KPSS_CRITICAL[0], KPSS_CRITICAL[KPSS_CRITICAL.len() - 1]);
    if statistic <= first.1 {
        return first.0;
    }
    if statistic >= last.1 {
        return last.0;
    }
    KPSS_CRITICAL
        .windows(2)
        .find(|w| statistic < w[1].1)
        .map_or(last.0, |w| {
            let slope = (w[1].0 - w[0].0) / (w[1].1 - w[0].1);
            slope * (statistic - w[0].1) + w[0].0
        })
}

#[cfg(test)]
mod tests {
    //! Expected values come from statsmodels 0.15.0 (NumPy 2.4.6, SciPy 1.17.1).
    //! The series are generated identically here and in the script below, with
    //! SplitMix64 and a sum of twelve uniforms as the normal deviate, so that
    //! only exactly rounded IEEE operations are involved (no libm) and the
    //! series are bit-identical on every platform. To regenerate, run with the
    //! fixture environment's Python:
    //!
    //! ```python
    //! import warnings
    //! import numpy as np
    //! from statsmodels.tsa.adfvalues import mackinnonp
    //! from statsmodels.tsa.stattools import adfuller, kpss
    //!
    //! warnings.simplefilter("ignore")
    //! M = (1 << 64) - 1
    //! WEEK = [0.0, 1.5, 2.5, 1.0, -1.0, -2.5, -1.5]
    //!
    //!
    //! class Rng:  # SplitMix64; normal = (sum of 12 uniforms) - 6: only exact IEEE ops
    //!     def __init__(self, seed):
    //!         self.s = seed
    //!
    //!     def next(self):
    //!         self.s = (self.s + 0x9E3779B97F4A7C15) & M
    //!         z = self.s
    //!         z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    //!         z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    //!         return z ^ (z >> 31)
    //!
    //!     def normal(self):
    //!         s = 0.0
    //!         for _ in range(12):
    //!             s += (self.next() >> 11) * 2.0**-53
    //!         return s - 6.0
    //!
    //!
    //! def series(kind, n):
    //!     rng, x, prev = Rng(kind * 1_000_003 + n), [], 0.0
    //!     for t in range(n):
    //!         e = rng.normal()
    //!         if kind == 0:
    //!             v = e
    //!         elif kind == 1:
    //!             v = prev + e
    //!         elif kind in (2, 3, 4):
    //!             v = [0.5, 0.9, 0.99][kind - 2] * prev + e
    //!         elif kind == 5:
    //!             v = 10.0 + 0.05 * t + e
    //!         else:
    //!             v = 10.0 + WEEK[t % 7] + 0.5 * e
    //!         x.append(v)
    //!         prev = v
    //!     return np.array(x)
    //!
    //!
    //! for kind in range(7):
    //!     for n in (20, 50, 100, 365, 1000, 10000):
    //!         a = adfuller(series(kind, n), result_object=True)
    //!         k = kpss(series(kind, n), result_object=True)
    //!         c = [float(a.critical_values[q]) for q in ("1%", "5%", "10%")]
    //!         print(f"({kind}, {n}, {a.statistic!r}, {a.pvalue!r}, {a.lags}, {a.nobs}, "
    //!               f"{c!r}, {float(k.statistic)!r}, {float(k.pvalue)!r}, {k.lags}),")
    //! for x in ([1.0, 3.0, 2.0, 5.0], [1.0, 3.0, 2.0, 5.0, 4.0], [1.0, 3.0, 2.0, 5.0, 4.0, 7.0]):
    //!     a = adfuller(x, result_object=True)
    //!     k = kpss(np.array(x), result_object=True)
    //!     print(f"({x!r}, {a.statistic!r}, {a.pvalue!r}, {a.lags}, {float(k.statistic)!r}, "
    //!           f"{float(k.pvalue)!r}, {k.lags}),")
    //! x = np.array([1e12 + ((i * 7919) % 101) * 1e-3 for i in range(200)]) - 1e12  # exact
    //! a, k = adfuller(x, result_object=True), kpss(x, result_object=True)
    //! print(repr(a.statistic), a.lags, repr(float(k.statistic)), k.lags)
    //! for t in np.arange(-20.0, 3.5, 0.5).tolist() + [-18.83, -1.61, -1.6, 2.74, 2.75]:
    //!     print(f"({t!r}, {mackinnonp(t)!r}),")
    //! ```

    use super::*;
    use crate::kernels::rng::SplitMix;

    const WEEK: [f64; 7] = [0.0, 1.5, 2.5, 1.0, -1.0, -2.5, -1.5];

    /// An approximately standard normal draw: the sum of 12 uniforms, less 6.
    fn normal(rng: &mut SplitMix) -> f64 {
        (0..12).map(|_| rng.uniform()).sum::<f64>() - 6.0
    }

    /// Kinds 0–6: white noise, random walk, AR(1) with φ = 0.5, 0.9, 0.99,
    /// linear trend plus noise, weekly seasonal profile plus noise.
    fn series(kind: u64, n: usize) -> Vec<f64> {
        let mut rng = SplitMix(kind * 1_000_003 + n as u64);
        let mut x = Vec::with_capacity(n);
        let mut prev = 0.0;
        for t in 0..n {
            let e = normal(&mut rng);
            let v = match kind {
                0 => e,
                1 => prev + e,
                2..=4 => [0.5, 0.9, 0.99][kind as usize - 2] * prev + e,
                5 => 10.0 + 0.05 * t as f64 + e,
                _ => 10.0 + WEEK[t % 7] + 0.5 * e,
            };
            x.push(v);
            prev = v;
        }
        x
    }

    /// (kind, n, ADF statistic, p-value, lag, nobs, critical 1/5/10 %,
    ///  KPSS statistic, p-value, lags)
    type SeriesCase = (
        u64,
        usize,
        f64,
        f64,
        usize,
        usize,
        [f64; 3],
        f64,
        f64,
        usize,
    );

    /// (x, ADF statistic, p-value, lag, KPSS statistic, p-value, lags)
    type ShortCase = (&'static [f64], f64, f64, usize, f64, f64, usize);

    #[rustfmt::skip]
    const SERIES: [SeriesCase; 42] = [
        (0, 20, -5.00713544833179, 2.1482711459117316e-05, 0, 19, [-3.8326031418574136, -3.0312271701414204, -2.655519584487535], 0.17505202410439727, 0.1, 1),
        (0, 50, -10.437727599305408, 1.5506160465091129e-18, 0, 49, [-3.5714715250448363, -2.922629480573571, -2.5993358475635153], 0.15964492520595802, 0.1, 4),
        (0, 100, -5.4895524766343025, 2.1908918436299907e-06, 1, 98, [-3.4989097606014496, -2.891516256916761, -2.5827604414827157], 0.5700989979052935, 0.025878604075384337, 3),
        (0, 365, -8.878460776544989, 1.3379443197838059e-14, 5, 359, [-3.4486972813047574, -2.8696246923288418, -2.571077032068342], 0.3913099432662112, 0.08090088652318482, 3),
        (0, 1000, -9.085952196908634, 3.9399795608676845e-15, 9, 990, [-3.436972562223603, -2.864463856182476, -2.5683268054280175], 0.17338983357465054, 0.1, 5),
        (0, 10000, -101.53561343687564, 0.0, 0, 9999, [-3.4310041633725734, -2.861829101294412, -2.566923883481157], 0.08058175155703944, 0.1, 9),
        (1, 20, -0.7410682777322314, 0.8358232908813961, 7, 12, [-4.137829282407408, -3.1549724074074077, -2.7144769444444443], 0.1043406606743214, 0.1, 1),
        (1, 50, -1.6119353862123382, 0.47695971617608557, 0, 49, [-3.5714715250448363, -2.922629480573571, -2.5993358475635153], 0.8378633912811173, 0.01, 4),
        (1, 100, -1.3890550885914081, 0.5875118535998528, 0, 99, [-3.498198082189098, -2.891208211860468, -2.5825959973472097], 1.3563035374458314, 0.01, 5),
        (1, 365, -2.0307561566994856, 0.2732525007519407, 0, 364, [-3.4484434475193777, -2.869513170510808, -2.571017574266393], 2.6944743578410866, 0.01, 11),
        (1, 1000, -0.9951041784860697, 0.7550457485612265, 0, 999, [-3.4369127451400474, -2.864437475834273, -2.568312754566378], 3.7019104129364107, 0.01, 19),
        (1, 10000, -1.7751245934760422, 0.3928796868772001, 0, 9999, [-3.4310041633725734, -2.861829101294412, -2.566923883481157], 14.64805231678064, 0.01, 59),
        (2, 20, -1.0669231323410584, 0.7280807738409927, 7, 12, [-4.137829282407408, -3.1549724074074077, -2.7144769444444443], 0.4966736882657242, 0.04241583597618824, 1),
        (2, 50, -4.104508319159496, 0.0009520386775207254, 0, 49, [-3.5714715250448363, -2.922629480573571, -2.5993358475635153], 0.46735619297887193, 0.049018875455209034, 3),
        (2, 100, -5.517116895281585, 1.913944289018234e-06, 0, 99, [-3.498198082189098, -2.891208211860468, -2.5825959973472097], 0.12258028365824199, 0.1, 4),
        (2, 365, -10.866028397030455, 1.4067894455334886e-19, 0, 364, [-3.4484434475193777, -2.869513170510808, -2.571017574266393], 0.22633051118139585, 0.1, 8),
        (2, 1000, -17.539913193087138, 4.1944238147251956e-30, 0, 999, [-3.4369127451400474, -2.864437475834273, -2.568312754566378], 0.40254594350678413, 0.07605778297121374, 13),
        (2, 10000, -57.806102799883334, 0.0, 0, 9999, [-3.4310041633725734, -2.861829101294412, -2.566923883481157], 0.4164696994486381, 0.07005616403075944, 29),
        (3, 20, -2.2397117924461316, 0.19214924316113607, 7, 12, [-4.137829282407408, -3.1549724074074077, -2.7144769444444443], 0.20979933344190113, 0.1, 2),
        (3, 50, -2.1500242885961898, 0.22488079398352617, 1, 48, [-3.5745892596209488, -2.9239543084490744, -2.6000391840277777], 0.6158740191393353, 0.021193270987333156, 4),
        (3, 100, -2.713037618404378, 0.07180923616774726, 3, 96, [-3.5003788874873405, -2.8921519665075235, -2.5830997960069446], 0.2848354564066577, 0.1, 5),
        (3, 365, -4.584323004964044, 0.00013804214846000552, 0, 364, [-3.4484434475193777, -2.869513170510808, -2.571017574266393], 0.12293918252325325, 0.1, 11),
        (3, 1000, -7.931341856206367, 3.5064222203763964e-12, 0, 999, [-3.4369127451400474, -2.864437475834273, -2.568312754566378], 0.2094824003791575, 0.1, 18),
        (3, 10000, -22.883870482319008, 0.0, 0, 9999, [-3.4310041633725734, -2.861829101294412, -2.566923883481157], 0.17487805372560694, 0.1, 53),
        (4, 20, -1.5686468761352543, 0.49932136329255616, 8, 11, [-4.223238279489106, -3.189368925619835, -2.729839421487603], 0.44012965958597633, 0.05985790535087228, 2),
        (4, 50, -2.74640166603848, 0.06634713611399669, 2, 47, [-3.5778480370438146, -2.925338105429433, -2.6007735310095064], 0.6820480418918642, 0.015177450737103254, 4),
        (4, 100, -1.1522938811459473, 0.6937739377969285, 0, 99, [-3.498198082189098, -2.891208211860468, -2.5825959973472097], 0.7331602332724102, 0.010530887884326344, 5),
        (4, 365, -1.5826514709385604, 0.4923021265917259, 1, 363, [-3.448493650810824, -2.8695352280356556, -2.5710293341377715], 2.130193459091829, 0.01, 11),
        (4, 1000, -2.532826608818942, 0.10769015330153014, 0, 999, [-3.4369127451400474, -2.864437475834273, -2.568312754566378], 0.3418430203769583, 0.1, 19),
        (4, 10000, -7.714988461012246, 1.2350619519865754e-11, 0, 9999, [-3.4310041633725734, -2.861829101294412, -2.566923883481157], 0.11015507736756758, 0.1, 58),
        (5, 20, -2.689239270335388, 0.07591892719637326, 8, 11, [-4.223238279489106, -3.189368925619835, -2.729839421487603], 0.2330835884059991, 0.1, 1),
        (5, 50, -4.7484138182691735, 6.818907542430311e-05, 0, 49, [-3.5714715250448363, -2.922629480573571, -2.5993358475635153], 0.8851148462809331, 0.01, 3),
        (5, 100, -0.37531961078738263, 0.9141386819258982, 12, 87, [-3.5078527246648834, -2.895382030636155, -2.584823877658872], 1.704312005991143, 0.01, 5),
        (5, 365, -0.09608750036925666, 0.9498268419043131, 16, 348, [-3.4492815848836296, -2.8698813715275406, -2.5712138845950587], 3.1312416528541984, 0.01, 11),
        (5, 1000, -0.28010067549719353, 0.9282757702333562, 18, 981, [-3.4370334797663844, -2.8644907213150725, -2.568341114581742], 5.097683465068615, 0.01, 19),
        (5, 10000, 0.012282014422556227, 0.9595360905912822, 38, 9961, [-3.4310066595695945, -2.861830204343065, -2.5669244706354584], 16.76683732494259, 0.01, 59),
        (6, 20, -1.7972122798847445, 0.3818465949950534, 8, 11, [-4.223238279489106, -3.189368925619835, -2.729839421487603], 0.06235467071976606, 0.1, 1),
        (6, 50, -3.9321196445846387, 0.0018107770731943618, 10, 39, [-3.610399601308181, -2.939108945868946, -2.6080629651545038], 0.02855087623639963, 0.1, 1),
        (6, 100, -4.781066476397361, 5.910779083556579e-05, 12, 87, [-3.5078527246648834, -2.895382030636155, -2.584823877658872], 0.016745398544920017, 0.1, 1),
        (6, 365, -4.545681331893001, 0.00016246063423863474, 17, 347, [-3.449336554273722, -2.8699055166063085, -2.571226758215748], 0.12280883611512063, 0.1, 109),
        (6, 1000, -6.474971271782785, 1.338163384621309e-08, 20, 979, [-3.4370471695043037, -2.8644967585264784, -2.5683443301882956], 0.20063964706433302, 0.1, 42),
        (6, 10000, -17.02787435157003, 8.366274076273979e-30, 38, 9961, [-3.4310066595695945, -2.861830204343065, -2.5669244706354584], 0.04956565642646563, 0.1, 85),
    ];

    fn relative_error(got: f64, want: f64) -> f64 {
        if got == want {
            0.0
        } else {
            (got - want).abs() / want.abs()
        }
    }

    #[test]
    fn matches_statsmodels_on_generated_series() {
        let (mut adf_stat, mut adf_p, mut crit, mut kpss_stat, mut kpss_p) =
            (0.0_f64, 0.0_f64, 0.0_f64, 0.0_f64, 0.0_f64);
        for &(kind, n, stat, p, lag, nobs, critical, k_stat, k_p, k_lags) in &SERIES {
            let x = series(kind, n);
            let a = adf(&x).expect("ADF defined");
            let case = format!("kind {kind}, n {n}: {a:?}");
            assert_eq!((a.used_lag, a.nobs), (lag, nobs), "{case}");
            adf_stat = adf_stat.max(relative_error(a.statistic, stat));
            adf_p = adf_p.max((a.p_value - p).abs());
            for ((_, got), want) in a.critical.iter().zip(critical) {
                crit = crit.max(relative_error(*got, want));
            }
            let k = kpss(&x).expect("KPSS defined");
            assert_eq!(k.lags, k_lags, "kind {kind}, n {n}: {k:?}");
            kpss_stat = kpss_stat.max(relative_error(k.statistic, k_stat));
            kpss_p = kpss_p.max((k.p_value - k_p).abs());
        }
        println!(
            "max errors: ADF stat {adf_stat:e} rel, p {adf_p:e} abs, crit {crit:e} rel; KPSS stat {kpss_stat:e} rel, p {kpss_p:e} abs"
        );
        assert!(
            adf_stat < 1e-9 && crit < 1e-13 && kpss_stat < 1e-9,
            "statistics"
        );
        assert!(adf_p < 1e-9 && kpss_p < 1e-9, "p-values");
    }

    #[test]
    fn matches_statsmodels_on_the_shortest_series() {
        #[rustfmt::skip]
        const SMALL: [ShortCase; 3] = [
            (&[1.0, 3.0, 2.0, 5.0], -1.0392304845413263, 0.7386884227973187, 0, 0.4029126213592233, 0.07589973217274859, 1),
            (&[1.0, 3.0, 2.0, 5.0, 4.0], -1.7689856824823615, 0.39596447893114156, 0, 0.36, 0.09439655172413794, 0),
            (&[1.0, 3.0, 2.0, 5.0, 4.0, 7.0], 0.8401680504168053, 0.9922576518088797, 1, 0.4841269841269841, 0.04524167024167026, 0),
        ];
        for (x, stat, p, lag, k_stat, k_p, k_lags) in SMALL {
            let a = adf(x).expect("ADF defined");
            assert!(
                relative_error(a.statistic, stat) < 1e-12 && (a.p_value - p).abs() < 1e-12,
                "{a:?}"
            );
            assert_eq!((a.used_lag, a.nobs), (lag, x.len() - 1 - lag));
            let k = kpss(x).expect("KPSS defined");
            assert!(
                relative_error(k.statistic, k_stat) < 1e-12 && (k.p_value - k_p).abs() < 1e-12,
                "{k:?}"
            );
            assert_eq!(k.lags, k_lags);
        }
        // kpss([1.0, 2.0, 4.0]); adfuller raises for three observations.
        let k = kpss(&[1.0, 2.0, 4.0]).expect("KPSS defined");
        assert!(
            relative_error(k.statistic, 0.3253968253968255) < 1e-12,
            "{k:?}"
        );
        assert_eq!((k.p_value, k.lags), (0.1, 0));
    }

    #[test]
    fn degenerate_input_is_none() {
        assert_eq!(adf(&[]), None);
        assert_eq!(adf(&[1.0, 2.0, 4.0]), None); // statsmodels: too short
        assert_eq!(adf(&[2.0; 30]), None); // statsmodels: x is constant
        assert_eq!(adf(&[1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0]), None);
        assert_eq!(adf(&[1.0, f64::INFINITY, 3.0, 4.0, 5.0, 6.0]), None);
        // Rank-deficient lag regressions (statsmodels warns, returns pinv output).
        let linear: Vec<f64> = (0..30).map(f64::from).collect();
        assert_eq!(adf(&linear), None);
        assert_eq!(kpss(&[]), None);
        assert_eq!(kpss(&[1.0]), None);
        assert_eq!(kpss(&[1.0, 2.0]), None); // statsmodels: OverflowError
        assert_eq!(kpss(&[0.1; 30]), None);
        assert_eq!(kpss(&[1.0, f64::NAN, 3.0]), None);
        assert_eq!(kpss(&[1.0, 3.0, 2.0]), None); // statsmodels: OverflowError
    }

    #[test]
    fn invariant_to_offset_and_scale() {
        let x = series(3, 200);
        let y: Vec<f64> = x.iter().map(|v| 1e6 + 3.0 * v).collect();
        let (a, b) = (adf(&x).expect("adf"), adf(&y).expect("adf"));
        assert_eq!(a.used_lag, b.used_lag);
        assert!(relative_error(a.statistic, b.statistic) < 1e-9);
        let (a, b) = (kpss(&x).expect("kpss"), kpss(&y).expect("kpss"));
        assert_eq!(a.lags, b.lags);
        assert!(relative_error(a.statistic, b.statistic) < 1e-9);
    }

    #[test]
    fn large_offset_does_not_cost_accuracy() {
        // statsmodels on x − 1e12 (exact; see the script) gives ADF
        // −4.134279963164293 (lag 4) and KPSS 0.08869763101748757 (lags 12);
        // on x itself it loses the signal to rounding (ADF 0.3457 with
        // rank-deficiency warnings, KPSS 0.0774).
        let x: Vec<f64> = (0..200)
            .map(|i| 1e12 + f64::from((i * 7919) % 101) * 1e-3)
            .collect();
        let a = adf(&x).expect("adf");
        assert_eq!(a.used_lag, 4);
        assert!(
            relative_error(a.statistic, -4.134279963164293) < 1e-9,
            "{a:?}"
        );
        let k = kpss(&x).expect("kpss");
        assert_eq!(k.lags, 12);
        assert!(
            relative_error(k.statistic, 0.08869763101748757) < 1e-9,
            "{k:?}"
        );
    }

    #[test]
    fn mackinnon_p_matches_statsmodels() {
        // statsmodels.tsa.adfvalues.mackinnonp(t)
        #[rustfmt::skip]
        const GRID: [(f64, f64); 52] = [
            (-20.0, 0.0),
            (-19.5, 0.0),
            (-19.0, 0.0),
            (-18.5, 2.12119861362663e-30),
            (-18.0, 2.736285338884294e-30),
            (-17.5, 4.3906209457961294e-30),
            (-17.0, 8.742838778071755e-30),
            (-16.5, 2.1530053513235752e-29),
            (-16.0, 6.527319985785683e-29),
            (-15.5, 2.4225906807793355e-28),
            (-15.0, 1.0933676118238873e-27),
            (-14.5, 5.953974798781078e-27),
            (-14.0, 3.8774344736697826e-26),
            (-13.5, 2.9898529486681586e-25),
            (-13.0, 2.6997543032898887e-24),
            (-12.5, 2.8203296253753154e-23),
            (-12.0, 3.3638850442206466e-22),
            (-11.5, 4.515921365760043e-21),
            (-11.0, 6.719697132870191e-20),
            (-10.5, 1.090243871459148e-18),
            (-10.0, 1.8953190533444514e-17),
            (-9.5, 3.4656563595762934e-16),
            (-9.0, 6.536480457110331e-15),
            (-8.5, 1.2457377199068987e-13),
            (-8.0, 2.34784700895023e-12),
            (-7.5, 4.2784857235752484e-11),
            (-7.0, 7.363798725300586e-10),
            (-6.5, 1.1682674469280411e-08),
            (-6.0, 1.6661204834054382e-07),
            (-5.5, 2.0816136209632873e-06),
            (-5.0, 2.2193154713956276e-05),
            (-4.5, 0.0001966399003359905),
            (-4.0, 0.0014105112530392603),
            (-3.5, 0.007987094061496709),
            (-3.0, 0.034894400275345266),
            (-2.5, 0.11547432475870761),
            (-2.0, 0.28657309916843154),
            (-1.5, 0.533511338910265),
            (-1.0, 0.7532643012005655),
            (-0.5, 0.8920164965835715),
            (0.0, 0.958532086060056),
            (0.5, 0.9848730963065522),
            (1.0, 0.9942659485477608),
            (1.5, 0.99752427540539),
            (2.0, 0.9986729511999243),
            (2.5, 0.9990498505342637),
            (3.0, 1.0),
            (-18.83, 2.022123723345286e-30),
            (-1.61, 0.4779756525941893),
            (-1.6, 0.4835934696535866),
            (2.74, 0.9990880801041981),
            (2.75, 1.0),
        ];
        // statrs' erfc is good to about 1e-10 relative in the far tail
        // (p ~ 1e-30); SciPy's to machine precision.
        for (t, p) in GRID {
            let got = mackinnon_p(t);
            assert!(
                got == p || relative_error(got, p) < 1e-9,
                "t = {t}: {got} vs {p}"
            );
        }
    }

    #[test]
    fn kpss_p_value_interpolates_the_table() {
        for (level, critical) in KPSS_CRITICAL {
            assert_eq!(kpss_p_value(critical), level);
        }
        assert_eq!(kpss_p_value(0.1), 0.10);
        assert_eq!(kpss_p_value(5.0), 0.01);
        assert!((kpss_p_value(0.405) - 0.075).abs() < 1e-15);
    }
}
