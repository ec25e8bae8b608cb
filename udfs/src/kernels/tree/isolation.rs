//! Isolation forest (Liu, Ting & Zhou, 2008): random trees grown on small
//! subsamples isolate anomalies in fewer splits than normal rows. Each tree
//! splits on a random feature at a uniform random threshold between the
//! node's minimum and maximum, up to depth ⌈log2 ψ⌉; a row's path length is
//! its leaf depth plus `c(n)`, the expected depth still needed to isolate the
//! `n` training rows that share its leaf. The score `2^(−E[h(x)] / c(ψ))` is
//! near 0.5 for ordinary rows and approaches 1 for anomalies
//! (scikit-learn's `-score_samples`).
//!
//! Leaves store their path length, so a forest scores like any other tree
//! ensemble (sum of leaf values) and shares its flat layout.

use serde::{Deserialize, Serialize};

use super::flat::Tree;
use super::gbdt::Hooks;
use crate::kernels::rng::SplitMix;

/// Euler–Mascheroni constant.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

#[derive(Debug, Clone)]
pub struct IsolationParams {
    pub trees: usize,
    /// Rows drawn (without replacement) for each tree, ψ.
    pub sample_size: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationForest {
    /// Leaf values are path lengths.
    pub trees: Vec<Tree>,
    /// The ψ actually used (at most the training rows).
    pub sample_size: usize,
}

/// `c(n)`: the average path length of an unsuccessful search in a binary
/// search tree of `n` keys, the expected depth to isolate one of `n` rows.
pub fn average_path_length(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n <= 2.0 {
        1.0
    } else {
        2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
    }
}

/// Fits an isolation forest on row-major `x` (`rows × cols`). Missing values
/// (NaN) are ignored when choosing thresholds and always go right.
/// Returns `None` when cancelled.
pub fn fit(
    x: &[f64],
    cols: usize,
    params: &IsolationParams,
    hooks: &Hooks<'_>,
) -> Option<IsolationForest> {
    let n = x.len().checked_div(cols).unwrap_or(0);
    let psi = params.sample_size.clamp(1, n.max(1));
    let max_depth = (psi.max(2) as f64).log2().ceil() as usize;
    let mut rng = SplitMix(params.seed ^ 0x15E1_A7E0_0000_0001);
    // A partial Fisher–Yates shuffle of any permutation draws a uniform
    // subset, so one index buffer serves every tree.
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut trees = Vec::with_capacity(params.trees.min(1024));
    for t in 0..params.trees {
        if (hooks.cancelled)() {
            return None;
        }
        rng.choose_front(&mut order, psi);
        let mut sample = order[..psi.min(n)].to_vec();
        trees.push(grow(x, cols, &mut sample, max_depth, &mut rng));
        (hooks.progress)(t + 1);
    }
    Some(IsolationForest {
        trees,
        sample_size: psi,
    })
}

fn grow(x: &[f64], cols: usize, rows: &mut [u32], max_depth: usize, rng: &mut SplitMix) -> Tree {
    let mut tree = Tree::default();
    let root = tree.push_leaf(0.0, rows.len() as f64, rows.len() as f64);
    // (node, start, end, depth)
    let mut stack = vec![(root, 0, rows.len(), 0usize)];
    let mut candidates: Vec<usize> = Vec::with_capacity(cols);
    while let Some((node, start, end, depth)) = stack.pop() {
        let size = end - start;
        let leaf_value = depth as f64 + average_path_length(size as f64);
        if depth >= max_depth || size <= 1 {
            tree.value[node] = leaf_value;
            continue;
        }
        let range = &mut rows[start..end];
        // Draw features at random until one is not constant in the node.
        candidates.clear();
        candidates.extend(0..cols);
        let mut chosen = None;
        while !candidates.is_empty() {
            let pick = (rng.next_u64() % candidates.len() as u64) as usize;
            let f = candidates.swap_remove(pick);
            let (lo, hi) = range
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
                    let v = x[r as usize * cols + f];
                    if v.is_nan() {
                        (lo, hi)
                    } else {
                        (lo.min(v), hi.max(v))
                    }
                });
            if lo < hi {
                chosen = Some((f, lo, hi));
                break;
            }
        }
        let Some((feature, lo, hi)) = chosen else {
            tree.value[node] = leaf_value;
            continue;
        };
        let mut threshold = lo + rng.uniform() * (hi - lo);
        if threshold >= hi {
            threshold = lo;
        }
        // Partition: `x <= threshold` first.
        let mut n_left = 0;
        for i in 0..range.len() {
            let v = x[range[i] as usize * cols + feature];
            if v <= threshold {
                range.swap(i, n_left);
                n_left += 1;
            }
        }
        let left = tree.push_leaf(0.0, n_left as f64, n_left as f64);
        let right = tree.push_leaf(0.0, (size - n_left) as f64, (size - n_left) as f64);
        tree.set_split(node, feature, threshold, false, left, right, 0.0);
        stack.push((right, start + n_left, end, depth + 1));
        stack.push((left, start, start + n_left, depth + 1));
    }
    tree
}

impl IsolationForest {
    /// Anomaly scores in (0, 1] of the rows of a row-major matrix.
    pub fn score(&self, x: &[f64], cols: usize) -> Vec<f64> {
        let rows = x.len().checked_div(cols).unwrap_or(0);
        let mut path = vec![0.0; rows];
        super::flat::accumulate(&self.trees, 1, x, cols, &mut path);
        let trees = self.trees.len().max(1) as f64;
        let norm = average_path_length(self.sample_size as f64).max(f64::MIN_POSITIVE);
        path.iter_mut()
            .for_each(|h| *h = (-(*h / trees) / norm).exp2());
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks() -> Hooks<'static> {
        Hooks {
            progress: &|_| {},
            cancelled: &|| false,
        }
    }

    fn params(trees: usize, sample_size: usize) -> IsolationParams {
        IsolationParams {
            trees,
            sample_size,
            seed: 11,
        }
    }

    #[test]
    fn average_path_length_matches_the_paper() {
        assert_eq!(average_path_length(1.0), 0.0);
        assert_eq!(average_path_length(2.0), 1.0);
        // c(256) = 2·H(255) − 2·255/256 with H(i) ≈ ln i + γ.
        let c = 2.0 * (255f64.ln() + EULER_GAMMA) - 2.0 * 255.0 / 256.0;
        assert!((average_path_length(256.0) - c).abs() < 1e-12);
        assert!((c - 10.2448).abs() < 1e-3);
    }

    #[test]
    fn outliers_score_high_and_inliers_near_one_half() {
        let mut rng = SplitMix(4);
        let n = 2000;
        let mut x: Vec<f64> = (0..2 * n).map(|_| rng.uniform()).collect();
        // Ten far points.
        for i in 0..10 {
            x[2 * i] = 8.0 + i as f64;
            x[2 * i + 1] = -8.0;
        }
        let f = fit(&x, 2, &params(100, 256), &hooks()).expect("fit");
        assert_eq!(f.trees.len(), 100);
        assert!(f.trees.iter().all(|t| t.depth() <= 8));
        let s = f.score(&x, 2);
        let outliers = &s[..10];
        let inliers = &s[10..];
        let mean_in = inliers.iter().sum::<f64>() / inliers.len() as f64;
        assert!(outliers.iter().all(|&v| v > 0.7), "{outliers:?}");
        assert!((0.35..0.5).contains(&mean_in), "{mean_in}");
        assert!(s.iter().all(|&v| v > 0.0 && v <= 1.0));
    }

    #[test]
    fn constant_data_gives_every_row_the_same_score() {
        let x = vec![3.0; 400];
        let f = fit(&x, 2, &params(10, 64), &hooks()).expect("fit");
        // No split possible: one leaf of 64 rows, path c(64), score 2^-1.
        assert!(f.trees.iter().all(|t| t.len() == 1));
        let s = f.score(&x[..4], 2);
        assert!(s.iter().all(|&v| (v - 0.5).abs() < 1e-12), "{s:?}");
    }

    #[test]
    fn small_data_uses_every_row_and_missing_values_go_right() {
        let x = vec![1.0, f64::NAN, 2.0, 5.0, 3.0, 6.0];
        let f = fit(&x, 2, &params(5, 256), &hooks()).expect("fit");
        assert_eq!(f.sample_size, 3);
        // A missing value takes the right branch everywhere, as +∞ does.
        let s = f.score(&[f64::NAN, f64::NAN, f64::INFINITY, f64::INFINITY], 2);
        assert!(s[0].is_finite() && s[0] > 0.0);
        assert_eq!(s[0], s[1]);
        assert!(f.trees.iter().all(|t| t.default_left.iter().all(|d| !d)));
    }

    #[test]
    fn cancelling_stops_training() {
        let x = vec![0.0; 10];
        assert!(
            fit(
                &x,
                1,
                &params(10, 4),
                &Hooks {
                    progress: &|_| {},
                    cancelled: &|| true
                }
            )
            .is_none()
        );
    }
}
