//! Random forests and single decision trees on the same learner: each tree
//! fits the targets by least squares (for 0/1 class indicators that is the
//! Gini criterion, and leaves hold class frequencies), on a bootstrap sample
//! with features sampled anew at every split; predictions are tree averages.

use serde::{Deserialize, Serialize};

use super::bins::Binned;
use super::flat::Tree;
use super::gbdt::Hooks;
use super::grow::{TreeParams, grow};
use crate::kernels::rng::SplitMix;

#[derive(Debug, Clone)]
pub struct ForestParams {
    pub trees: usize,
    pub tree: TreeParams,
    /// Sample rows with replacement for each tree (random forest) or use
    /// every row once (decision tree).
    pub bootstrap: bool,
    pub max_bins: usize,
    pub seed: u64,
}

/// Trees of every output; output `k` of tree `t` is `trees[t * outputs + k]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub outputs: usize,
    pub trees: Vec<Tree>,
}

/// Out-of-bag predictions: for each training row, the mean output of the
/// trees whose bootstrap sample left it out (scikit-learn's `oob_score`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfBag {
    /// Row-major `rows × outputs` sums of tree outputs.
    pub sums: Vec<f64>,
    /// Trees that left each row out.
    pub counts: Vec<u32>,
}

impl OutOfBag {
    /// The mean out-of-bag outputs of `row`, if some tree left it out.
    pub fn mean(&self, row: usize, outputs: usize) -> Option<Vec<f64>> {
        let c = self.counts[row];
        (c > 0).then(|| {
            self.sums[row * outputs..(row + 1) * outputs]
                .iter()
                .map(|s| s / c as f64)
                .collect()
        })
    }
}

/// Fits a forest on row-major `x` (`rows × cols`, NaN = missing) to one
/// target column per output (`targets[k][row]`). With bootstrapping it also
/// returns the out-of-bag predictions. Returns `None` when cancelled.
pub fn fit(
    x: &[f64],
    cols: usize,
    targets: &[Vec<f64>],
    w: &[f64],
    params: &ForestParams,
    hooks: &Hooks<'_>,
) -> Option<(Forest, Option<OutOfBag>)> {
    let n = w.len();
    let outputs = targets.len();
    let data = Binned::new(x, n, cols, params.max_bins, params.tree.threads);
    let features: Vec<usize> = (0..cols).collect();
    // Least squares from 0: gradient −w·y, hessian w, so a leaf is the weighted mean.
    let grads: Vec<Vec<f64>> = targets
        .iter()
        .map(|y| y.iter().zip(w).map(|(y, w)| -y * w).collect())
        .collect();
    let mut rng = SplitMix(params.seed ^ 0x0F0E_5700_0000_0001);
    // Grown as trees are: the count comes from the user.
    let mut trees = Vec::with_capacity(params.trees.saturating_mul(outputs).min(1024));
    let mut oob = params.bootstrap.then(|| OutOfBag {
        sums: vec![0.0; n * outputs],
        counts: vec![0; n],
    });
    let mut in_bag = vec![false; if params.bootstrap { n } else { 0 }];
    for t in 0..params.trees {
        if (hooks.cancelled)() {
            return None;
        }
        let mut rows: Vec<u32> = if params.bootstrap {
            let mut r: Vec<u32> = (0..n).map(|_| (rng.next_u64() % n as u64) as u32).collect();
            r.sort_unstable();
            r
        } else {
            (0..n as u32).collect()
        };
        let mut tree_params = params.tree.clone();
        tree_params.seed = rng.next_u64();
        if let Some(oob) = oob.as_mut() {
            in_bag.iter_mut().for_each(|b| *b = false);
            rows.iter().for_each(|&r| in_bag[r as usize] = true);
            for (row, _) in in_bag.iter().enumerate().filter(|(_, b)| !**b) {
                oob.counts[row] += 1;
            }
        }
        for (k, grad) in grads.iter().enumerate() {
            let tree = grow(&data, &mut rows, grad, w, &features, &tree_params);
            if let Some(oob) = oob.as_mut() {
                for (row, _) in in_bag.iter().enumerate().filter(|(_, b)| !**b) {
                    oob.sums[row * outputs + k] +=
                        tree.predict_row(&x[row * cols..(row + 1) * cols]);
                }
            }
            trees.push(tree);
        }
        (hooks.progress)(t + 1);
    }
    Some((Forest { outputs, trees }, oob))
}

impl Forest {
    /// Mean prediction per output, row-major `rows × outputs`.
    pub fn predict(&self, x: &[f64], cols: usize) -> Vec<f64> {
        let rows = x.len().checked_div(cols).unwrap_or(0);
        let mut out = vec![0.0; rows * self.outputs];
        let count = (self.trees.len() / self.outputs.max(1)).max(1) as f64;
        super::flat::accumulate(&self.trees, self.outputs, x, cols, &mut out);
        out.iter_mut().for_each(|v| *v /= count);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(trees: usize, bootstrap: bool, split_features: usize) -> ForestParams {
        ForestParams {
            trees,
            tree: TreeParams {
                max_depth: 64,
                min_rows_per_leaf: 1,
                min_hessian: 0.0,
                l2: 0.0,
                monotone: vec![],
                threads: 1,
                split_features,
                seed: 0,
            },
            bootstrap,
            max_bins: 255,
            seed: 7,
        }
    }

    fn hooks() -> Hooks<'static> {
        Hooks {
            progress: &|_| {},
            cancelled: &|| false,
        }
    }

    #[test]
    fn a_deep_tree_memorises_its_training_rows() {
        let mut rng = SplitMix(3);
        let n = 300;
        let x: Vec<f64> = (0..2 * n).map(|_| rng.uniform()).collect();
        let y: Vec<f64> = (0..n).map(|i| (i % 2) as f64).collect();
        let f = fit(
            &x,
            2,
            std::slice::from_ref(&y),
            &vec![1.0; n],
            &params(1, false, 0),
            &hooks(),
        )
        .expect("fit")
        .0;
        let p = f.predict(&x, 2);
        assert!(p.iter().zip(&y).all(|(p, y)| (p - y).abs() < 1e-12));
    }

    #[test]
    fn leaves_of_class_indicators_are_class_frequencies() {
        // One feature that cannot separate: every leaf is the overall frequency.
        let x = vec![1.0; 10];
        let y: Vec<f64> = (0..10).map(|i| if i < 3 { 1.0 } else { 0.0 }).collect();
        let (f, oob) = fit(&x, 1, &[y], &[1.0; 10], &params(1, false, 0), &hooks()).expect("fit");
        assert!(oob.is_none(), "no bootstrap, no out-of-bag rows");
        assert!((f.predict(&[1.0], 1)[0] - 0.3).abs() < 1e-12);
    }

    #[test]
    fn a_forest_learns_xor_and_averages_to_probabilities() {
        let mut rng = SplitMix(5);
        let n = 2000;
        let x: Vec<f64> = (0..3 * n).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let y: Vec<f64> = x
            .chunks(3)
            .map(|r| {
                if (r[0] > 0.0) != (r[1] > 0.0) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let mut p = params(30, true, 2);
        p.tree.min_rows_per_leaf = 3;
        let (f, oob) =
            fit(&x, 3, std::slice::from_ref(&y), &vec![1.0; n], &p, &hooks()).expect("fit");
        let probs = f.predict(&x, 3);
        // About e^-1 of 30 trees leave each row out; their vote is an honest
        // hold-out estimate, a little below the in-sample fit.
        let oob = oob.expect("bootstrap gives out-of-bag rows");
        let mean_left_out = oob.counts.iter().sum::<u32>() as f64 / n as f64;
        assert!((mean_left_out - 30.0 * (1.0 - 1.0 / n as f64).powi(n as i32)).abs() < 1.0);
        let oob_correct = (0..n)
            .filter_map(|i| oob.mean(i, 1).map(|m| (m[0] > 0.5) == (y[i] > 0.5)))
            .filter(|&ok| ok)
            .count();
        assert!(oob_correct as f64 / n as f64 > 0.9, "{oob_correct}/{n}");
        assert!(probs.iter().all(|p| (0.0..=1.0).contains(p)));
        let correct = probs
            .iter()
            .zip(&y)
            .filter(|(p, y)| (**p > 0.5) == (**y > 0.5))
            .count();
        assert!(correct as f64 / n as f64 > 0.95, "{correct}/{n}");
    }
}
