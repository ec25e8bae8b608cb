//! Two-sample drift statistics (SPEC §3.6) on sorted samples and category
//! counts, with the definitions fixed so numbers compare across tools:
//!
//! - PSI bins by the reference's quantiles: edges are the distinct values of
//!   `numpy.quantile(reference, [1/b, …, (b−1)/b])` (linear interpolation), a
//!   value falls in bin `numpy.searchsorted(edges, v, side='left')`; each
//!   side's proportions are floored at 1e-4 and PSI = Σ (c − r)·ln(c / r).
//! - Jensen–Shannon divergence uses the same bins and raw proportions, base 2.
//! - Wasserstein-1 is the area between the two empirical CDFs
//!   (`scipy.stats.wasserstein_distance`).
//! - χ² is Pearson's test of independence of category × side without
//!   continuity correction (`scipy.stats.chi2_contingency(correction=False)`).
//!
//! A reference is either a whole sample or the summary a model keeps of its
//! training data ([`Reference`]): exact value counts for features with few
//! distinct values, a fine quantile grid otherwise. The same code compares a
//! current sample against either.

use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::quantile::{quantile_by_rank, quantile_sorted};

/// The floor of a bin proportion in PSI, so an empty bin does not make it infinite.
pub const PSI_FLOOR: f64 = 1e-4;

/// Sorted distinct quantile edges of `bins` equal-frequency bins.
fn distinct_edges(bins: usize, quantile: impl Fn(f64) -> f64) -> Vec<f64> {
    distinct(levels(bins).into_iter().map(quantile).collect())
}

/// The quantile levels of `bins` equal-frequency bins: 1/bins, ..., (bins−1)/bins.
fn levels(bins: usize) -> Vec<f64> {
    (1..bins).map(|k| k as f64 / bins as f64).collect()
}

fn distinct(mut edges: Vec<f64>) -> Vec<f64> {
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    edges
}

/// Values per bin of an ascending sample: bin i holds v with
/// `edges[i−1] < v ≤ edges[i]` (`searchsorted(edges, v, side='left')`).
pub fn bin_counts(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let mut counts = Vec::with_capacity(edges.len() + 1);
    let mut below = 0usize;
    for &edge in edges {
        let at_or_below = sorted.partition_point(|&x| x <= edge);
        counts.push((at_or_below - below) as u64);
        below = at_or_below;
    }
    counts.push((sorted.len() - below) as u64);
    counts
}

fn proportions(counts: &[u64]) -> Vec<f64> {
    let n: u64 = counts.iter().sum();
    counts.iter().map(|&c| c as f64 / n as f64).collect()
}

/// PSI of two proportion vectors over the same bins.
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let (r, c) = (r.max(PSI_FLOOR), c.max(PSI_FLOOR));
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// Jensen–Shannon divergence (base 2, in [0, 1]) of two proportion vectors.
pub fn js_divergence(p: &[f64], q: &[f64]) -> f64 {
    let term = |a: f64, m: f64| if a > 0.0 { a * (a / m).log2() } else { 0.0 };
    let total: f64 = p
        .iter()
        .zip(q)
        .map(|(&a, &b)| {
            let m = 0.5 * (a + b);
            0.5 * term(a, m) + 0.5 * term(b, m)
        })
        .sum();
    total.clamp(0.0, 1.0)
}

/// Wasserstein-1 distance between two ascending, non-empty samples: the sum
/// over consecutive distinct values of the gap times |F_a − F_b| there.
pub fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut previous: Option<f64> = None;
    let mut total = 0.0;
    loop {
        let x = match (a.get(i), b.get(j)) {
            (Some(&u), Some(&v)) => u.min(v),
            (Some(&u), None) => u,
            (None, Some(&v)) => v,
            (None, None) => break,
        };
        if let Some(p) = previous {
            total += (x - p) * (i as f64 / na - j as f64 / nb).abs();
        }
        while a.get(i) == Some(&x) {
            i += 1;
        }
        while b.get(j) == Some(&x) {
            j += 1;
        }
        previous = Some(x);
    }
    total
}

/// Pearson's χ² test of independence on a k × 2 table of (reference,
/// current) counts: (statistic, p-value, degrees of freedom). `None` when a
/// side is empty (expected frequencies would be zero).
pub fn chi2_independence(table: &[[u64; 2]]) -> Option<(f64, f64, usize)> {
    let rows: Vec<[u64; 2]> = table.iter().copied().filter(|r| r[0] + r[1] > 0).collect();
    let columns = [
        rows.iter().map(|r| r[0]).sum::<u64>(),
        rows.iter().map(|r| r[1]).sum::<u64>(),
    ];
    if columns[0] == 0 || columns[1] == 0 {
        return None;
    }
    let dof = rows.len() - 1;
    if dof == 0 {
        return Some((0.0, 1.0, 0));
    }
    let total = (columns[0] + columns[1]) as f64;
    let mut statistic = 0.0;
    for r in &rows {
        let row = (r[0] + r[1]) as f64;
        for side in 0..2 {
            let expected = row * columns[side] as f64 / total;
            let d = r[side] as f64 - expected;
            statistic += d * d / expected;
        }
    }
    let p = ChiSquared::new(dof as f64)
        .map(|d| d.sf(statistic))
        .unwrap_or(f64::NAN);
    Some((statistic, p, dof))
}

/// The reference distribution of a numeric feature.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// Exact: ascending distinct values and how many rows have each.
    Counts { values: Vec<f64>, counts: Vec<u64> },
    /// A quantile grid: `grid[i]` is the (i / m)-quantile, m = len − 1, of
    /// `rows` values; the CDF is interpolated linearly between knots.
    Grid { grid: Vec<f64>, rows: u64 },
}

impl Reference {
    /// Exact counts of an ascending sample.
    pub fn of_sorted(sorted: &[f64]) -> Reference {
        let mut values = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        for &x in sorted {
            if values.last() == Some(&x) {
                if let Some(c) = counts.last_mut() {
                    *c += 1;
                }
            } else {
                values.push(x);
                counts.push(1);
            }
        }
        Reference::Counts { values, counts }
    }

    pub fn rows(&self) -> u64 {
        match self {
            Reference::Counts { counts, .. } => counts.iter().sum(),
            Reference::Grid { rows, .. } => *rows,
        }
    }

    /// P(X ≤ x).
    pub fn cdf(&self, x: f64) -> f64 {
        match self {
            Reference::Counts { values, counts } => {
                let k = values.partition_point(|&v| v <= x);
                let below: u64 = counts[..k].iter().sum();
                below as f64 / self.rows() as f64
            }
            Reference::Grid { grid, .. } => {
                let m = grid.len() - 1;
                if m == 0 || x < grid[0] {
                    return if x >= grid[0] { 1.0 } else { 0.0 };
                }
                let i = grid.partition_point(|&g| g <= x) - 1;
                if i >= m {
                    return 1.0;
                }
                let within = (x - grid[i]) / (grid[i + 1] - grid[i]);
                (i as f64 + within) / m as f64
            }
        }
    }

    /// The q-quantile: numpy's linear rule on the sample (exact), or the
    /// interpolated grid.
    pub fn quantile(&self, q: f64) -> f64 {
        self.quantiles(&[q])[0]
    }

    /// Several quantiles, the cumulative counts built once.
    fn quantiles(&self, qs: &[f64]) -> Vec<f64> {
        match self {
            Reference::Counts { values, counts } => {
                let cumulative: Vec<u64> = counts
                    .iter()
                    .scan(0u64, |sum, &c| {
                        *sum += c;
                        Some(*sum)
                    })
                    .collect();
                let n = cumulative.last().copied().unwrap_or(0);
                qs.iter()
                    .map(|&q| {
                        quantile_by_rank(n, q, |rank| {
                            values[cumulative.partition_point(|&c| c <= rank)]
                        })
                    })
                    .collect()
            }
            Reference::Grid { grid, .. } => {
                let n = grid.len() as u64;
                qs.iter()
                    .map(|&q| quantile_by_rank(n, q, |rank| grid[rank as usize]))
                    .collect()
            }
        }
    }

    /// PSI bin edges for `bins` bins.
    pub fn edges(&self, bins: usize) -> Vec<f64> {
        distinct(self.quantiles(&levels(bins)))
    }

    /// Proportion of the reference in each bin of `edges`.
    pub fn proportions(&self, edges: &[f64]) -> Vec<f64> {
        match self {
            Reference::Counts { values, counts } => {
                // Counts divide once, as the same sample would.
                let mut per_bin = vec![0u64; edges.len() + 1];
                for (v, c) in values.iter().zip(counts) {
                    per_bin[edges.partition_point(|e| e < v)] += c;
                }
                proportions(&per_bin)
            }
            Reference::Grid { .. } => {
                let mut below = 0.0;
                let mut out = Vec::with_capacity(edges.len() + 1);
                for &e in edges {
                    let at = self.cdf(e);
                    out.push(at - below);
                    below = at;
                }
                out.push(1.0 - below);
                out
            }
        }
    }

    /// The two-sample KS statistic sup |F_ref − F_cur| against an ascending
    /// current sample. Exact for [`Reference::Counts`] (it equals
    /// `scipy.stats.ks_2samp`'s); for a grid, the reference CDF is the
    /// interpolated one, so D is accurate to the grid's resolution.
    pub fn ks_statistic(&self, current: &[f64]) -> f64 {
        let n = current.len() as f64;
        let mut d: f64 = 0.0;
        match self {
            Reference::Counts { values, counts } => {
                let rows = self.rows() as f64;
                let (mut i, mut j) = (0usize, 0usize);
                let mut below = 0u64;
                while i < values.len() || j < current.len() {
                    let x = match (values.get(i), current.get(j)) {
                        (Some(&v), Some(&c)) => v.min(c),
                        (Some(&v), None) => v,
                        (None, Some(&c)) => c,
                        (None, None) => break,
                    };
                    while i < values.len() && values[i] <= x {
                        below += counts[i];
                        i += 1;
                    }
                    while j < current.len() && current[j] <= x {
                        j += 1;
                    }
                    d = d.max((below as f64 / rows - j as f64 / n).abs());
                }
            }
            Reference::Grid { .. } => {
                // F_cur is a step function and F_ref continuous: the supremum
                // is at a step, on one side or the other of it.
                let mut j = 0usize;
                while j < current.len() {
                    let x = current[j];
                    let before = j as f64 / n;
                    while j < current.len() && current[j] <= x {
                        j += 1;
                    }
                    let f = self.cdf(x);
                    d = d.max((f - before).abs()).max((f - j as f64 / n).abs());
                }
            }
        }
        d
    }
}

/// PSI and JS divergence of two samples in any order, without sorting them:
/// the reference's quantile ranks are selected in place (it is reordered),
/// and every value is binned by a search among the edges. Equal to
/// [`binned`] on the same samples.
pub fn binned_unsorted(reference: &mut [f64], current: &[f64], bins: usize) -> (f64, f64) {
    let n = reference.len();
    let positions: Vec<f64> = (1..bins)
        .map(|k| (n - 1) as f64 * (k as f64 / bins as f64))
        .collect();
    let mut ranks: Vec<usize> = positions
        .iter()
        .flat_map(|p| {
            let lo = (p.floor() as usize).min(n - 1);
            [lo, (lo + 1).min(n - 1)]
        })
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    select_ranks(reference, &ranks);
    // The reference is not empty: callers return early without one.
    let edges = distinct_edges(bins, |q| quantile_sorted(reference, q).unwrap_or(f64::NAN));
    let count = |values: &[f64]| {
        let mut counts = vec![0u64; edges.len() + 1];
        for v in values {
            counts[edges.partition_point(|e| e < v)] += 1;
        }
        proportions(&counts)
    };
    let (r, c) = (count(reference), count(current));
    (psi(&r, &c), js_divergence(&r, &c))
}

/// Puts the value of every rank in `ranks` (ascending, distinct) where a
/// full sort would put it: select the middle rank, then recurse on each side.
fn select_ranks(values: &mut [f64], ranks: &[usize]) {
    if ranks.is_empty() || values.len() < 2 {
        return;
    }
    let mid = ranks.len() / 2;
    let k = ranks[mid];
    values.select_nth_unstable_by(k, f64::total_cmp);
    let (left, right) = values.split_at_mut(k);
    select_ranks(left, &ranks[..mid]);
    let after: Vec<usize> = ranks[mid + 1..].iter().map(|r| r - k - 1).collect();
    select_ranks(&mut right[1..], &after);
}

/// PSI and JS divergence of an ascending current sample against a reference.
pub fn binned(reference: &Reference, current: &[f64], bins: usize) -> (f64, f64) {
    let edges = reference.edges(bins);
    let r = reference.proportions(&edges);
    let c = proportions(&bin_counts(current, &edges));
    (psi(&r, &c), js_divergence(&r, &c))
}

/// PSI and JS divergence over categories from (reference, current) counts.
pub fn categorical(table: &[[u64; 2]]) -> Option<(f64, f64)> {
    let totals = [
        table.iter().map(|r| r[0]).sum::<u64>(),
        table.iter().map(|r| r[1]).sum::<u64>(),
    ];
    if totals[0] == 0 || totals[1] == 0 {
        return None;
    }
    let r: Vec<f64> = table
        .iter()
        .map(|c| c[0] as f64 / totals[0] as f64)
        .collect();
    let c: Vec<f64> = table
        .iter()
        .map(|c| c[1] as f64 / totals[1] as f64)
        .collect();
    Some((psi(&r, &c), js_divergence(&r, &c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantile_of(sorted: &[f64], q: f64) -> f64 {
        quantile_sorted(sorted, q).expect("a non-empty sample")
    }

    #[test]
    fn quantiles_follow_numpy_linear() {
        // numpy.quantile([1, 2, 3, 4], [0.1, 0.5, 0.9]) == [1.3, 2.5, 3.7]
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((quantile_of(&x, 0.1) - 1.3).abs() < 1e-15);
        assert_eq!(quantile_of(&x, 0.5), 2.5);
        assert!((quantile_of(&x, 0.9) - 3.7).abs() < 1e-15);
        assert_eq!(quantile_of(&x, 1.0), 4.0);
        assert_eq!(quantile_of(&[7.0], 0.3), 7.0);
        // The counts form gives the same quantiles as the sample.
        let sample = [1.0, 1.0, 2.0, 5.0, 5.0, 5.0, 9.0];
        let reference = Reference::of_sorted(&sample);
        for q in [0.0, 0.1, 0.25, 0.5, 0.77, 0.9, 1.0] {
            assert_eq!(reference.quantile(q), quantile_of(&sample, q), "q {q}");
        }
    }

    #[test]
    fn psi_bins_are_left_searchsorted() {
        // Values equal to an edge go to the bin below it.
        assert_eq!(
            bin_counts(&[1.0, 2.0, 2.0, 3.0, 4.0], &[2.0, 3.0]),
            vec![3, 1, 1]
        );
        assert_eq!(bin_counts(&[], &[2.0]), vec![0, 0]);
        // Identical samples: no drift.
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let (p, js) = binned(&Reference::of_sorted(&x), &x, 10);
        assert_eq!(p, 0.0);
        assert_eq!(js, 0.0);
        // Everything above the reference: all current rows in the top bin.
        // numpy, p = [0.1] * 10, q = [0] * 9 + [1]: JS 0.7582766571931676.
        let y: Vec<f64> = (1000..1100).map(f64::from).collect();
        let (p, js) = binned(&Reference::of_sorted(&x), &y, 10);
        assert!(p > 5.0);
        assert!((js - 0.7582766571931676).abs() < 1e-12, "{js}");
    }

    #[test]
    fn unsorted_binning_equals_sorted_binning() {
        let mut rng = crate::kernels::rng::SplitMix(3);
        for n in [1usize, 2, 7, 100, 1001] {
            let r: Vec<f64> = (0..n).map(|_| (rng.uniform() * 30.0).round()).collect();
            let c: Vec<f64> = (0..n + 5).map(|_| (rng.uniform() * 35.0).round()).collect();
            let (mut rs, mut cs) = (r.clone(), c.clone());
            rs.sort_by(f64::total_cmp);
            cs.sort_by(f64::total_cmp);
            for bins in [2, 10, 20] {
                let want = binned(&Reference::of_sorted(&rs), &cs, bins);
                let mut shuffled = r.clone();
                assert_eq!(
                    binned_unsorted(&mut shuffled, &c, bins),
                    want,
                    "n {n} bins {bins}"
                );
            }
        }
    }

    #[test]
    fn wasserstein_is_the_area_between_cdfs() {
        // scipy.stats.wasserstein_distance([0, 1, 3], [5, 6, 8]) == 5.0
        assert!((wasserstein(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]) - 5.0).abs() < 1e-12);
        // scipy.stats.wasserstein_distance([0, 1], [0, 1, 1, 2]) == 0.5... (0.25 + 0.25)
        let w = wasserstein(&[0.0, 1.0], &[0.0, 1.0, 1.0, 2.0]);
        assert!((w - 0.5).abs() < 1e-12, "{w}");
        assert_eq!(wasserstein(&[2.0, 2.0], &[2.0]), 0.0);
    }

    #[test]
    fn chi2_matches_scipy() {
        // scipy.stats.chi2_contingency([[10, 20], [30, 15]], correction=False)
        // -> statistic 8.035714285714285, p 0.0045863920802535025, dof 1
        let (s, p, dof) = chi2_independence(&[[10, 20], [30, 15]]).expect("defined");
        assert!((s - 8.035714285714285).abs() < 1e-12, "{s}");
        assert!((p - 0.0045863920802535025).abs() < 1e-12, "{p}");
        assert_eq!(dof, 1);
        assert_eq!(chi2_independence(&[[5, 7]]), Some((0.0, 1.0, 0)));
        assert_eq!(chi2_independence(&[[5, 0], [3, 0]]), None);
    }

    #[test]
    fn ks_against_counts_equals_two_samples() {
        let a = [1.0, 2.0, 2.0, 3.0, 7.0];
        let b = [2.0, 4.0, 5.0, 6.0];
        // scipy.stats.ks_2samp(a, b).statistic == 0.55
        let d = Reference::of_sorted(&a).ks_statistic(&b);
        assert!((d - 0.55).abs() < 1e-15, "{d}");
    }

    #[test]
    fn a_fine_grid_approximates_the_sample() {
        let x: Vec<f64> = (0..10_000)
            .map(|i| (f64::from(i) * 0.37).sin() * 10.0)
            .collect();
        let mut sorted = x.clone();
        sorted.sort_by(f64::total_cmp);
        let grid = Reference::Grid {
            grid: (0..=1000)
                .map(|i| quantile_of(&sorted, i as f64 / 1000.0))
                .collect(),
            rows: sorted.len() as u64,
        };
        let exact = Reference::of_sorted(&sorted);
        let shifted: Vec<f64> = sorted.iter().map(|v| v + 0.5).collect();
        let (d_grid, d_exact) = (grid.ks_statistic(&shifted), exact.ks_statistic(&shifted));
        assert!((d_grid - d_exact).abs() < 2e-3, "{d_grid} vs {d_exact}");
        let (p_grid, _) = binned(&grid, &shifted, 10);
        let (p_exact, _) = binned(&exact, &shifted, 10);
        assert!((p_grid - p_exact).abs() < 1e-2, "{p_grid} vs {p_exact}");
    }
}
