//! Gradient-boosted trees (second-order, as XGBoost and LightGBM): each
//! round fits one tree per output to the loss's gradients and hessians.

use serde::{Deserialize, Serialize};

use super::bins::Binned;
use super::flat::Tree;
use super::grow::{TreeParams, grow_with_leaves};
use crate::kernels::rng::SplitMix;
use crate::kernels::special::{sigmoid, softmax_in_place};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Objective {
    /// Binary log-loss on labels 0/1; raw scores are log-odds.
    Binary,
    /// Multi-class softmax over `classes` labels 0..classes.
    Softmax {
        classes: usize,
    },
    Squared,
    Huber {
        delta: f64,
    },
    Quantile {
        alpha: f64,
    },
}

impl Objective {
    pub fn outputs(self) -> usize {
        match self {
            Objective::Softmax { classes } => classes,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GbdtParams {
    pub rounds: usize,
    pub learning_rate: f64,
    pub tree: TreeParams,
    pub subsample: f64,
    pub colsample: f64,
    pub max_bins: usize,
    /// Stop after this many rounds without improvement on the validation
    /// rows (0: never).
    pub early_stopping: usize,
    pub seed: u64,
}

/// A fitted ensemble: raw score of output `k` = `base[k]` + Σ trees of `k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbdt {
    pub objective: Objective,
    pub base: Vec<f64>,
    /// Round-major: round `r`, output `k` is `trees[r * outputs + k]`.
    pub trees: Vec<Tree>,
    pub best_round: Option<usize>,
}

fn weighted_quantile(y: &[f64], w: &[f64], q: f64) -> f64 {
    let mut pairs: Vec<(f64, f64)> = y.iter().copied().zip(w.iter().copied()).collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = pairs.iter().map(|p| p.1).sum();
    let mut acc = 0.0;
    for (v, wt) in &pairs {
        acc += wt;
        if acc >= q * total {
            return *v;
        }
    }
    pairs.last().map_or(0.0, |p| p.0)
}

fn base_score(objective: Objective, y: &[f64], w: &[f64]) -> Vec<f64> {
    let total: f64 = w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    match objective {
        Objective::Binary => {
            let p =
                (y.iter().zip(w).map(|(y, w)| y * w).sum::<f64>() / total).clamp(1e-6, 1.0 - 1e-6);
            vec![(p / (1.0 - p)).ln()]
        }
        Objective::Softmax { classes } => {
            let mut counts = vec![0.0; classes];
            for (y, w) in y.iter().zip(w) {
                counts[*y as usize] += w;
            }
            counts.iter().map(|c| (c / total).max(1e-6).ln()).collect()
        }
        Objective::Squared => vec![y.iter().zip(w).map(|(y, w)| y * w).sum::<f64>() / total],
        Objective::Huber { .. } => vec![weighted_quantile(y, w, 0.5)],
        Objective::Quantile { alpha } => vec![weighted_quantile(y, w, alpha)],
    }
}

/// Gradients and hessians of output `k` at raw scores `f` (row-major `n × outputs`).
fn gradients(
    objective: Objective,
    y: &[f64],
    w: &[f64],
    f: &[f64],
    grad: &mut [Vec<f64>],
    hess: &mut [Vec<f64>],
) {
    match objective {
        Objective::Binary => {
            // An exp per row: worth both threads on large data.
            let n = y.len();
            let chunk = if n >= 1 << 16 {
                n.div_ceil(2)
            } else {
                n.max(1)
            };
            let binary = |start: usize, g: &mut [f64], h: &mut [f64]| {
                for (j, (g, h)) in g.iter_mut().zip(h.iter_mut()).enumerate() {
                    let i = start + j;
                    let p = sigmoid(f[i]);
                    *g = (p - y[i]) * w[i];
                    *h = (p * (1.0 - p)).max(1e-16) * w[i];
                }
            };
            let (g, h) = (&mut grad[0], &mut hess[0]);
            let (g_first, g_rest) = g.split_at_mut(chunk.min(n));
            let (h_first, h_rest) = h.split_at_mut(chunk.min(n));
            std::thread::scope(|scope| {
                if !g_rest.is_empty() {
                    scope.spawn(|| binary(chunk, g_rest, h_rest));
                }
                binary(0, g_first, h_first);
            });
        }
        Objective::Softmax { classes } => {
            let factor = classes as f64 / (classes as f64 - 1.0);
            let mut p = vec![0.0; classes];
            for i in 0..y.len() {
                p.copy_from_slice(&f[i * classes..(i + 1) * classes]);
                softmax_in_place(&mut p);
                for k in 0..classes {
                    let pk = p[k];
                    let target = if y[i] as usize == k { 1.0 } else { 0.0 };
                    grad[k][i] = (pk - target) * w[i];
                    hess[k][i] = (factor * pk * (1.0 - pk)).max(1e-16) * w[i];
                }
            }
        }
        Objective::Squared => {
            for i in 0..y.len() {
                grad[0][i] = (f[i] - y[i]) * w[i];
                hess[0][i] = w[i];
            }
        }
        Objective::Huber { delta } => {
            for i in 0..y.len() {
                grad[0][i] = (f[i] - y[i]).clamp(-delta, delta) * w[i];
                hess[0][i] = w[i];
            }
        }
        Objective::Quantile { alpha } => {
            for i in 0..y.len() {
                grad[0][i] = if f[i] >= y[i] { 1.0 - alpha } else { -alpha } * w[i];
                hess[0][i] = w[i];
            }
        }
    }
}

/// Mean loss of raw scores `f` against `y` (for early stopping).
pub fn loss(objective: Objective, y: &[f64], f: &[f64]) -> f64 {
    let n = y.len().max(1) as f64;
    let sum: f64 = match objective {
        Objective::Binary => y
            .iter()
            .zip(f)
            .map(|(y, f)| {
                let p = sigmoid(*f).clamp(1e-15, 1.0 - 1e-15);
                -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
            })
            .sum(),
        Objective::Softmax { classes } => y
            .iter()
            .enumerate()
            .map(|(i, y)| {
                let row = &f[i * classes..(i + 1) * classes];
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                lse - row[*y as usize]
            })
            .sum(),
        Objective::Squared => y.iter().zip(f).map(|(y, f)| (y - f).powi(2)).sum(),
        Objective::Huber { delta } => y
            .iter()
            .zip(f)
            .map(|(y, f)| {
                let r = (y - f).abs();
                if r <= delta {
                    0.5 * r * r
                } else {
                    delta * (r - 0.5 * delta)
                }
            })
            .sum(),
        Objective::Quantile { alpha } => y
            .iter()
            .zip(f)
            .map(|(y, f)| {
                let r = y - f;
                if r >= 0.0 {
                    alpha * r
                } else {
                    (alpha - 1.0) * r
                }
            })
            .sum(),
    };
    sum / n
}

/// What a training run may observe or stop.
pub struct Hooks<'a> {
    pub progress: &'a dyn Fn(usize),
    pub cancelled: &'a dyn Fn() -> bool,
}

/// Fits a boosted ensemble on row-major `x` (`rows × cols`, NaN = missing).
/// `valid` (features, labels) drives early stopping. Returns `None` when cancelled.
#[allow(clippy::too_many_arguments)] // the data, its validation part, and the knobs
pub fn fit(
    x: &[f64],
    cols: usize,
    y: &[f64],
    w: &[f64],
    valid: Option<(&[f64], &[f64])>,
    objective: Objective,
    params: &GbdtParams,
    hooks: &Hooks<'_>,
) -> Option<Gbdt> {
    let n = y.len();
    let outputs = objective.outputs();
    let data = Binned::new(x, n, cols, params.max_bins, params.tree.threads);
    let base = base_score(objective, y, w);
    let mut f: Vec<f64> = (0..n).flat_map(|_| base.iter().copied()).collect();
    let mut valid_f: Vec<f64> = valid.map_or_else(Vec::new, |(_, vy)| {
        (0..vy.len()).flat_map(|_| base.iter().copied()).collect()
    });
    let mut grad = vec![vec![0.0; n]; outputs];
    let mut hess = vec![vec![0.0; n]; outputs];
    let mut rng = SplitMix(params.seed ^ 0x05EE_D0F7_BEE5);
    // Grown as rounds are: the count comes from the user, and early
    // stopping may end long before it.
    let mut trees = Vec::with_capacity(params.rounds.saturating_mul(outputs).min(1024));
    let mut best = (f64::INFINITY, 0usize);
    let all_features: Vec<usize> = (0..cols).collect();
    let mut column = vec![0.0; n];
    for round in 0..params.rounds {
        if (hooks.cancelled)() {
            return None;
        }
        gradients(objective, y, w, &f, &mut grad, &mut hess);
        let mut rows: Vec<u32> = if params.subsample < 1.0 {
            (0..n as u32)
                .filter(|_| rng.uniform() < params.subsample)
                .collect()
        } else {
            (0..n as u32).collect()
        };
        let features: Vec<usize> = if params.colsample < 1.0 {
            let keep = ((cols as f64 * params.colsample).ceil() as usize).clamp(1, cols);
            let mut order = all_features.clone();
            rng.shuffle(&mut order);
            let mut chosen = order[..keep].to_vec();
            chosen.sort_unstable();
            chosen
        } else {
            all_features.clone()
        };
        for k in 0..outputs {
            let (mut tree, leaves) = grow_with_leaves(
                &data,
                &mut rows,
                &grad[k],
                &hess[k],
                &features,
                &params.tree,
            );
            if let Objective::Quantile { alpha } = objective
                && params.tree.monotone.iter().all(|&m| m == 0)
            {
                renew_quantile_leaves(&mut tree, x, cols, &rows, y, w, &f, alpha);
            }
            tree.scale(params.learning_rate);
            if rows.len() == n {
                // Every row was in the tree: its leaf ranges say where each went.
                for leaf in &leaves {
                    let value = tree.value[leaf.node];
                    for &r in &rows[leaf.start..leaf.end] {
                        f[r as usize * outputs + k] += value;
                    }
                }
            } else {
                column.iter_mut().for_each(|c| *c = 0.0);
                tree.add_to(x, cols, &mut column);
                for i in 0..n {
                    f[i * outputs + k] += column[i];
                }
            }
            if let Some((vx, vy)) = valid {
                let mut add = vec![0.0; vy.len()];
                tree.add_to(vx, cols, &mut add);
                for (i, a) in add.iter().enumerate() {
                    valid_f[i * outputs + k] += a;
                }
            }
            trees.push(tree);
        }
        (hooks.progress)(round + 1);
        if let Some((_, vy)) = valid
            && params.early_stopping > 0
        {
            let l = loss(objective, vy, &valid_f);
            if l < best.0 - 1e-12 {
                best = (l, round + 1);
            } else if round + 1 - best.1 >= params.early_stopping {
                trees.truncate(best.1 * outputs);
                return Some(Gbdt {
                    objective,
                    base,
                    trees,
                    best_round: Some(best.1),
                });
            }
        }
    }
    let best_round = (params.early_stopping > 0 && valid.is_some()).then_some(best.1);
    if let Some(b) = best_round {
        trees.truncate(b * outputs);
    }
    Some(Gbdt {
        objective,
        base,
        trees,
        best_round,
    })
}

/// Sets each leaf to the weighted `alpha`-quantile of its rows' residuals,
/// as LightGBM does for the quantile loss: its gradient is only the sign of
/// the residual, so Newton leaves would move by at most the learning rate
/// per round whatever the label's scale. (Skipped under monotone
/// constraints, whose bounds the new values could cross.)
#[allow(clippy::too_many_arguments)]
fn renew_quantile_leaves(
    tree: &mut Tree,
    x: &[f64],
    cols: usize,
    rows: &[u32],
    y: &[f64],
    w: &[f64],
    f: &[f64],
    alpha: f64,
) {
    let mut by_leaf: Vec<Vec<(f64, f64)>> = vec![Vec::new(); tree.len()];
    for &r in rows {
        let r = r as usize;
        let leaf = tree.leaf_of(&x[r * cols..(r + 1) * cols]);
        by_leaf[leaf].push((y[r] - f[r], w[r]));
    }
    for (leaf, residuals) in by_leaf.iter().enumerate() {
        if !residuals.is_empty() {
            let (r, w): (Vec<f64>, Vec<f64>) = residuals.iter().copied().unzip();
            tree.value[leaf] = weighted_quantile(&r, &w, alpha);
        }
    }
}

impl Gbdt {
    pub fn outputs(&self) -> usize {
        self.objective.outputs()
    }

    /// Raw scores (row-major `rows × outputs`) of a row-major matrix.
    pub fn raw(&self, x: &[f64], cols: usize) -> Vec<f64> {
        let outputs = self.outputs();
        let rows = x.len().checked_div(cols).unwrap_or(0);
        let mut out: Vec<f64> = (0..rows).flat_map(|_| self.base.iter().copied()).collect();
        super::flat::accumulate(&self.trees, outputs, x, cols, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(rounds: usize, depth: usize) -> GbdtParams {
        GbdtParams {
            rounds,
            learning_rate: 0.3,
            tree: TreeParams {
                max_depth: depth,
                min_rows_per_leaf: 5,
                min_hessian: 1e-3,
                l2: 1.0,
                monotone: vec![],
                threads: 1,
                split_features: 0,
                seed: 0,
            },
            subsample: 1.0,
            colsample: 1.0,
            max_bins: 255,
            early_stopping: 0,
            seed: 1,
        }
    }

    fn hooks() -> Hooks<'static> {
        Hooks {
            progress: &|_| {},
            cancelled: &|| false,
        }
    }

    #[test]
    fn learns_xor_which_no_linear_model_can() {
        let mut rng = SplitMix(5);
        let n = 2000;
        let x: Vec<f64> = (0..2 * n).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let y: Vec<f64> = x
            .chunks(2)
            .map(|r| {
                if (r[0] > 0.0) != (r[1] > 0.0) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let m = fit(
            &x,
            2,
            &y,
            &vec![1.0; n],
            None,
            Objective::Binary,
            &params(50, 3),
            &hooks(),
        )
        .expect("fit");
        let raw = m.raw(&x, 2);
        let correct = raw
            .iter()
            .zip(&y)
            .filter(|(f, y)| (**f > 0.0) == (**y > 0.5))
            .count();
        assert!(correct as f64 / n as f64 > 0.97, "{correct}/{n}");
    }

    #[test]
    fn regression_fits_a_step_and_early_stopping_truncates() {
        let mut rng = SplitMix(9);
        let n = 1000;
        let x: Vec<f64> = (0..n).map(|_| rng.uniform() * 10.0).collect();
        let y: Vec<f64> = x.iter().map(|v| if *v < 5.0 { 1.0 } else { 3.0 }).collect();
        let p = GbdtParams {
            early_stopping: 3,
            ..params(200, 2)
        };
        let m = fit(
            &x,
            1,
            &y,
            &vec![1.0; n],
            Some((&x, &y)),
            Objective::Squared,
            &p,
            &hooks(),
        )
        .expect("fit");
        assert!(m.best_round.is_some_and(|b| b < 200), "{:?}", m.best_round);
        let raw = m.raw(&[2.0, 8.0], 1);
        assert!(
            (raw[0] - 1.0).abs() < 1e-3 && (raw[1] - 3.0).abs() < 1e-3,
            "{raw:?}"
        );
    }

    #[test]
    fn quantile_leaves_reach_the_quantile_whatever_the_label_scale() {
        // Prices in the hundreds of thousands: sign gradients alone would
        // move 0.3 per round; renewed leaves land on each segment's quantile.
        let mut rng = SplitMix(12);
        let n = 4000;
        let x: Vec<f64> = (0..n).map(|_| rng.uniform() * 10.0).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|v| if *v < 5.0 { 100_000.0 } else { 400_000.0 } + rng.uniform() * 50_000.0)
            .collect();
        let m = fit(
            &x,
            1,
            &y,
            &vec![1.0; n],
            None,
            Objective::Quantile { alpha: 0.9 },
            &params(40, 2),
            &hooks(),
        )
        .expect("fit");
        let raw = m.raw(&x, 1);
        let below = y.iter().zip(&raw).filter(|(y, p)| y <= p).count() as f64 / n as f64;
        assert!((below - 0.9).abs() < 0.03, "coverage {below}");
        let high = m.raw(&[8.0], 1)[0];
        assert!((high - 445_000.0).abs() < 5_000.0, "{high}");
    }

    #[test]
    fn softmax_separates_three_classes() {
        let n = 900;
        let x: Vec<f64> = (0..n)
            .map(|i| (i % 3) as f64 + 0.1 * ((i / 3) % 5) as f64)
            .collect();
        let y: Vec<f64> = (0..n).map(|i| (i % 3) as f64).collect();
        let m = fit(
            &x,
            1,
            &y,
            &vec![1.0; n],
            None,
            Objective::Softmax { classes: 3 },
            &params(30, 2),
            &hooks(),
        )
        .expect("fit");
        let raw = m.raw(&[0.2, 1.2, 2.2], 1);
        for (i, row) in raw.chunks(3).enumerate() {
            let argmax = (0..3)
                .max_by(|a, b| row[*a].total_cmp(&row[*b]))
                .expect("3 classes");
            assert_eq!(argmax, i, "{row:?}");
        }
    }

    /// Property: along a constrained feature, predictions never move the
    /// wrong way, over random data, seeds and constraint signs.
    #[test]
    fn monotone_constraints_hold_exactly() {
        for seed in 0..12u64 {
            let mut rng = SplitMix(seed);
            let (n, cols) = (800, 3);
            let clean: Vec<f64> = (0..n * cols).map(|_| rng.uniform() * 10.0).collect();
            // A target that goes against the constraint locally (sin) plus noise.
            let y: Vec<f64> = clean
                .chunks(cols)
                .map(|r| r[0].sin() * 3.0 + 0.5 * r[0] - r[1] * 0.2 + (rng.uniform() - 0.5) * 2.0)
                .collect();
            // Missing values in every column, the constrained one included.
            let x: Vec<f64> = clean
                .iter()
                .map(|v| if rng.uniform() < 0.05 { f64::NAN } else { *v })
                .collect();
            let sign: i8 = if seed % 2 == 0 { 1 } else { -1 };
            let mut p = params(40, 5);
            p.tree.monotone = vec![sign, 0, 0];
            p.tree.min_rows_per_leaf = 1;
            p.subsample = 0.8;
            p.seed = seed;
            let m = fit(
                &x,
                cols,
                &y,
                &vec![1.0; n],
                None,
                Objective::Squared,
                &p,
                &hooks(),
            )
            .expect("fit");
            for _ in 0..50 {
                let (a, b) = (rng.uniform() * 10.0, rng.uniform() * 10.0);
                let mut previous = f64::NAN;
                for step in 0..=60 {
                    let x0 = -1.0 + step as f64 * 0.2;
                    let value = m.raw(&[x0, a, b], cols)[0];
                    if !previous.is_nan() {
                        let moved = (value - previous) * f64::from(sign);
                        assert!(
                            moved >= -1e-12,
                            "seed {seed}: moved {moved} the wrong way at x0 = {x0}"
                        );
                    }
                    previous = value;
                }
            }
        }
    }

    #[test]
    fn cancellation_stops_between_rounds() {
        let x = vec![1.0, 2.0, 3.0, 4.0];
        let y = vec![0.0, 0.0, 1.0, 1.0];
        let h = Hooks {
            progress: &|_| {},
            cancelled: &|| true,
        };
        assert!(
            fit(
                &x,
                1,
                &y,
                &[1.0; 4],
                None,
                Objective::Binary,
                &params(10, 2),
                &h
            )
            .is_none()
        );
    }
}
