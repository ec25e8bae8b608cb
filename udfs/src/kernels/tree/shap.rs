//! Exact path-dependent TreeSHAP (Lundberg, Erion & Lee, 2018, Algorithm 2):
//! the Shapley values of one row's prediction, where the value of a feature
//! subset `S` is the tree's expected output when only the features in `S`
//! are known and every other split is averaged by the training cover of its
//! children. Cost O(leaves × depth²) per tree instead of O(2^features).
//!
//! The contributions of a tree sum to its output minus its expected output
//! ([`expected_value`]), so `base + Σ contributions` is the raw prediction.
//! Written here because no maintained Rust crate computes TreeSHAP over our
//! own tree layout.

use super::flat::Tree;
use super::forest::Forest;
use super::gbdt::Gbdt;

/// A row's explanation: per output, the base value (the ensemble's
/// expected raw output) and one contribution per matrix column.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub base: Vec<f64>,
    /// Row-major `outputs × columns`.
    pub contributions: Vec<f64>,
}

/// Explains many rows of one ensemble: the trees' expected values are
/// computed once and the path buffer is reused, so a row costs only the
/// TreeSHAP recursion itself.
#[derive(Debug, Clone)]
pub struct Explainer<'a> {
    trees: &'a [Tree],
    outputs: usize,
    /// Weight of each tree's contributions (1 for boosting, 1/trees for forests).
    scale: f64,
    base: Vec<f64>,
    buffer: Vec<PathElement>,
}

impl<'a> Explainer<'a> {
    /// For the raw margin of a gradient-boosted ensemble (before the link:
    /// log-odds for binary, per-class scores for softmax).
    pub fn gbdt(model: &'a Gbdt) -> Self {
        let outputs = model.outputs().max(1);
        let mut base = model.base.clone();
        base.resize(outputs, 0.0);
        for (t, tree) in model.trees.iter().enumerate() {
            base[t % outputs] += expected_value(tree);
        }
        Self::new(&model.trees, outputs, 1.0, base)
    }

    /// For a forest's averaged outputs (class frequencies or the value).
    pub fn forest(model: &'a Forest) -> Self {
        let outputs = model.outputs.max(1);
        let scale = 1.0 / (model.trees.len() / outputs).max(1) as f64;
        let mut base = vec![0.0; outputs];
        for (t, tree) in model.trees.iter().enumerate() {
            base[t % outputs] += expected_value(tree) * scale;
        }
        Self::new(&model.trees, outputs, scale, base)
    }

    fn new(trees: &'a [Tree], outputs: usize, scale: f64, base: Vec<f64>) -> Self {
        let depth = trees.iter().map(Tree::depth).max().unwrap_or(0);
        Explainer {
            trees,
            outputs,
            scale,
            base,
            buffer: vec![PathElement::default(); (depth + 2) * (depth + 3) / 2],
        }
    }

    /// Base value per output.
    pub fn base(&self) -> &[f64] {
        &self.base
    }

    /// Writes the row's contributions, `outputs × row.len()`, into `out`.
    pub fn explain_into(&mut self, row: &[f64], out: &mut [f64]) {
        let cols = row.len();
        out.iter_mut().for_each(|v| *v = 0.0);
        for (t, tree) in self.trees.iter().enumerate() {
            let k = t % self.outputs;
            if !tree.is_empty() {
                recurse(
                    tree,
                    row,
                    self.scale,
                    &mut out[k * cols..(k + 1) * cols],
                    &mut self.buffer,
                    0,
                    0,
                    0,
                    1.0,
                    1.0,
                    usize::MAX,
                );
            }
        }
    }

    pub fn explain(&mut self, row: &[f64]) -> Explanation {
        let mut contributions = vec![0.0; self.outputs * row.len()];
        self.explain_into(row, &mut contributions);
        Explanation {
            base: self.base.clone(),
            contributions,
        }
    }
}

/// Explains the raw margin of a gradient-boosted ensemble (before the link:
/// log-odds for binary, per-class scores for softmax).
pub fn explain_gbdt(model: &Gbdt, row: &[f64]) -> Explanation {
    Explainer::gbdt(model).explain(row)
}

/// Explains a forest's averaged outputs (class frequencies or the value).
pub fn explain_forest(model: &Forest, row: &[f64]) -> Explanation {
    Explainer::forest(model).explain(row)
}

/// One element of the unique path from the root to the current node.
#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    /// Matrix column split on (`usize::MAX` for the root's dummy element).
    feature: usize,
    /// Fraction of the paths through here when the feature is unknown.
    zero: f64,
    /// 1 if the row follows this path when the feature is known, else 0.
    one: f64,
    /// Weight of the subsets of each size (the permutation weights).
    weight: f64,
}

/// The cover-weighted mean output of `tree`: the value with no feature known.
pub fn expected_value(tree: &Tree) -> f64 {
    fn at(t: &Tree, n: usize) -> f64 {
        if t.is_leaf(n) {
            return t.value[n];
        }
        let (l, r) = (t.left[n] as usize, t.right[n] as usize);
        let (fl, fr) = child_fractions(t, n);
        fl * at(t, l) + fr * at(t, r)
    }
    if tree.is_empty() { 0.0 } else { at(tree, 0) }
}

/// The share of node `n`'s training cover that went to each child.
fn child_fractions(t: &Tree, n: usize) -> (f64, f64) {
    let (l, r) = (t.left[n] as usize, t.right[n] as usize);
    let (cl, cr) = (t.cover[l], t.cover[r]);
    let total = cl + cr;
    if total > 0.0 && total.is_finite() {
        (cl / total, cr / total)
    } else {
        // No cover recorded (cannot happen for trees we grow): split evenly.
        (0.5, 0.5)
    }
}

/// Adds `scale ×` the SHAP values of `row` under `tree` to `phi` (indexed by
/// matrix column).
pub fn add_contributions(tree: &Tree, row: &[f64], scale: f64, phi: &mut [f64]) {
    if tree.is_empty() {
        return;
    }
    let depth = tree.depth();
    // Each recursion level copies its parent's path into its own segment.
    let mut path = vec![PathElement::default(); (depth + 2) * (depth + 3) / 2];
    recurse(
        tree,
        row,
        scale,
        phi,
        &mut path,
        0,
        0,
        0,
        1.0,
        1.0,
        usize::MAX,
    );
}

#[allow(clippy::too_many_arguments)] // the recursion state of Algorithm 2
fn recurse(
    tree: &Tree,
    row: &[f64],
    scale: f64,
    phi: &mut [f64],
    buffer: &mut [PathElement],
    start: usize,
    length: usize,
    node: usize,
    zero: f64,
    one: f64,
    feature: usize,
) {
    // This level's path lives at buffer[start + length ..], a copy of the parent's.
    let (parent, rest) = buffer.split_at_mut(start + length);
    let path = &mut rest[..length + 1];
    path[..length].copy_from_slice(&parent[start..start + length]);
    extend(path, length, zero, one, feature);
    let length = length + 1;
    let next = start + length - 1;

    if tree.is_leaf(node) {
        let value = tree.value[node] * scale;
        for i in 1..length {
            let w = unwound_sum(path, length, i);
            let e = path[i];
            phi[e.feature] += w * (e.one - e.zero) * value;
        }
        return;
    }

    let f = tree.feature[node] as usize;
    let x = row[f];
    let goes_left = if x.is_nan() {
        tree.default_left[node]
    } else {
        x <= tree.threshold[node]
    };
    let (left, right) = (tree.left[node] as usize, tree.right[node] as usize);
    let (hot, cold) = if goes_left {
        (left, right)
    } else {
        (right, left)
    };
    let (fl, fr) = child_fractions(tree, node);
    let (hot_fraction, cold_fraction) = if goes_left { (fl, fr) } else { (fr, fl) };

    // A feature met again on the path: undo its earlier element and carry
    // its fractions on, so each feature appears once.
    let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
    let mut length = length;
    if let Some(k) = (1..length).find(|&k| path[k].feature == f) {
        incoming_zero = path[k].zero;
        incoming_one = path[k].one;
        unwind(path, length, k);
        length -= 1;
    }
    // Both children copy this level's path from buffer[next..next + length].
    let base = next;
    recurse(
        tree,
        row,
        scale,
        phi,
        buffer,
        base,
        length,
        hot,
        incoming_zero * hot_fraction,
        incoming_one,
        f,
    );
    recurse(
        tree,
        row,
        scale,
        phi,
        buffer,
        base,
        length,
        cold,
        incoming_zero * cold_fraction,
        0.0,
        f,
    );
}

/// EXTEND: grows the path by one element, updating the subset weights.
fn extend(path: &mut [PathElement], length: usize, zero: f64, one: f64, feature: usize) {
    path[length] = PathElement {
        feature,
        zero,
        one,
        weight: if length == 0 { 1.0 } else { 0.0 },
    };
    let l = length as f64;
    for i in (0..length).rev() {
        let w = path[i].weight;
        path[i + 1].weight += one * w * (i as f64 + 1.0) / (l + 1.0);
        path[i].weight = zero * w * (l - i as f64) / (l + 1.0);
    }
}

/// UNWIND: removes element `i` from a path of `length` elements, undoing its
/// EXTEND.
fn unwind(path: &mut [PathElement], length: usize, i: usize) {
    let l = length - 1; // index of the last element
    let (one, zero) = (path[i].one, path[i].zero);
    let mut n = path[l].weight;
    let lf = l as f64;
    for j in (0..l).rev() {
        if one != 0.0 {
            let t = path[j].weight;
            path[j].weight = n * (lf + 1.0) / ((j as f64 + 1.0) * one);
            n = t - path[j].weight * zero * (lf - j as f64) / (lf + 1.0);
        } else {
            path[j].weight = path[j].weight * (lf + 1.0) / (zero * (lf - j as f64));
        }
    }
    for j in i..l {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
}

/// The total weight of the path with element `i` unwound, without changing it.
fn unwound_sum(path: &[PathElement], length: usize, i: usize) -> f64 {
    let l = length - 1;
    let (one, zero) = (path[i].one, path[i].zero);
    let lf = l as f64;
    let mut total = 0.0;
    if one != 0.0 {
        let mut n = path[l].weight;
        for j in (0..l).rev() {
            let w = n * (lf + 1.0) / ((j as f64 + 1.0) * one);
            total += w;
            n = path[j].weight - w * zero * (lf - j as f64) / (lf + 1.0);
        }
    } else {
        for j in (0..l).rev() {
            total += path[j].weight * (lf + 1.0) / (zero * (lf - j as f64));
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::rng::SplitMix;
    use crate::kernels::tree::forest::{self, ForestParams};
    use crate::kernels::tree::gbdt::{self, GbdtParams, Hooks, Objective};
    use crate::kernels::tree::grow::TreeParams;

    /// The value of a subset: known features follow the row, unknown ones
    /// average their children by cover.
    fn subset_value(t: &Tree, n: usize, row: &[f64], known: u32) -> f64 {
        if t.is_leaf(n) {
            return t.value[n];
        }
        let f = t.feature[n] as usize;
        let (l, r) = (t.left[n] as usize, t.right[n] as usize);
        if known & (1 << f) != 0 {
            let x = row[f];
            let left = if x.is_nan() {
                t.default_left[n]
            } else {
                x <= t.threshold[n]
            };
            subset_value(t, if left { l } else { r }, row, known)
        } else {
            let (fl, fr) = child_fractions(t, n);
            fl * subset_value(t, l, row, known) + fr * subset_value(t, r, row, known)
        }
    }

    /// Shapley values by enumerating every subset of `m` features.
    fn brute_force(t: &Tree, row: &[f64], m: usize) -> Vec<f64> {
        let fact = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
        let mut phi = vec![0.0; m];
        for (i, p) in phi.iter_mut().enumerate() {
            for s in 0u32..(1 << m) {
                if s & (1 << i) != 0 {
                    continue;
                }
                let size = s.count_ones() as usize;
                let weight = fact(size) * fact(m - size - 1) / fact(m);
                *p += weight * (subset_value(t, 0, row, s | (1 << i)) - subset_value(t, 0, row, s));
            }
        }
        phi
    }

    fn random_data(seed: u64, rows: usize, cols: usize) -> (Vec<f64>, Vec<f64>) {
        let mut rng = SplitMix(seed);
        let mut x: Vec<f64> = (0..rows * cols)
            .map(|_| rng.uniform() * 4.0 - 2.0)
            .collect();
        // Missing values, so default directions are exercised.
        for v in x.iter_mut() {
            if rng.uniform() < 0.08 {
                *v = f64::NAN;
            }
        }
        let y = x
            .chunks(cols)
            .map(|r| {
                let v = |i: usize| if r[i].is_nan() { 0.5 } else { r[i] };
                v(0) * v(1) + (v(2) > 0.0) as u8 as f64 - 0.5 * v(3).abs() + 0.1 * rng.uniform()
            })
            .collect();
        (x, y)
    }

    fn tree_params(depth: usize) -> TreeParams {
        TreeParams {
            max_depth: depth,
            min_rows_per_leaf: 3,
            min_hessian: 0.0,
            l2: 1.0,
            monotone: vec![],
            threads: 1,
            split_features: 0,
            seed: 0,
        }
    }

    fn hooks() -> Hooks<'static> {
        Hooks {
            progress: &|_| {},
            cancelled: &|| false,
        }
    }

    #[test]
    fn treeshap_equals_brute_force_shapley_values_on_small_trees() {
        let cols = 5;
        for seed in 0..6 {
            let (x, y) = random_data(seed, 400, cols);
            let mut p = GbdtParams {
                rounds: 3,
                learning_rate: 0.5,
                tree: tree_params(3 + seed as usize % 3),
                subsample: 1.0,
                colsample: 1.0,
                max_bins: 32,
                early_stopping: 0,
                seed,
            };
            p.tree.seed = seed;
            let model = gbdt::fit(
                &x,
                cols,
                &y,
                &vec![1.0; 400],
                None,
                Objective::Squared,
                &p,
                &hooks(),
            )
            .expect("fit");
            for tree in &model.trees {
                for row in x.chunks(cols).take(40) {
                    let mut phi = vec![0.0; cols];
                    add_contributions(tree, row, 1.0, &mut phi);
                    let exact = brute_force(tree, row, cols);
                    for (a, b) in phi.iter().zip(&exact) {
                        assert!((a - b).abs() < 1e-9, "seed {seed}: {phi:?} vs {exact:?}");
                    }
                    let total = expected_value(tree) + phi.iter().sum::<f64>();
                    assert!((total - tree.predict_row(row)).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn a_feature_split_twice_on_one_path_is_counted_once() {
        // x0 <= 0 then x0 <= -1 again below: only feature 0 gets credit.
        let mut t = Tree::default();
        let root = t.push_leaf(0.0, 10.0, 10.0);
        let a = t.push_leaf(0.0, 6.0, 6.0);
        let b = t.push_leaf(5.0, 4.0, 4.0);
        t.set_split(root, 0, 0.0, true, a, b, 1.0);
        let c = t.push_leaf(-2.0, 2.0, 2.0);
        let d = t.push_leaf(1.0, 4.0, 4.0);
        t.set_split(a, 0, -1.0, false, c, d, 1.0);
        for x in [-3.0, -0.5, 2.0, f64::NAN] {
            let row = [x, 7.0];
            let mut phi = vec![0.0; 2];
            add_contributions(&t, &row, 1.0, &mut phi);
            assert_eq!(phi[1], 0.0);
            assert!((phi[0] - (t.predict_row(&row) - expected_value(&t))).abs() < 1e-12);
        }
    }

    #[test]
    fn forest_contributions_add_up_to_the_prediction_on_every_row() {
        let cols = 6;
        let (x, y) = random_data(9, 600, cols);
        let p = ForestParams {
            trees: 20,
            tree: TreeParams {
                split_features: 2,
                ..tree_params(64)
            },
            bootstrap: true,
            max_bins: 255,
            seed: 1,
        };
        let (f, _) = forest::fit(&x, cols, &[y], &vec![1.0; 600], &p, &hooks()).expect("fit");
        let predictions = f.predict(&x, cols);
        for (row, prediction) in x.chunks(cols).zip(&predictions) {
            let e = explain_forest(&f, row);
            let total = e.base[0] + e.contributions.iter().sum::<f64>();
            assert!((total - prediction).abs() < 1e-9, "{total} vs {prediction}");
        }
    }

    #[test]
    fn gbdt_margins_are_base_plus_contributions_on_every_row() {
        let cols = 5;
        let (x, y) = random_data(21, 800, cols);
        let binary: Vec<f64> = y.iter().map(|v| (*v > 0.0) as u8 as f64).collect();
        let classes: Vec<f64> = y
            .iter()
            .map(|v| (v.clamp(-1.49, 1.49) + 1.5).floor())
            .collect();
        let mut p = GbdtParams {
            rounds: 25,
            learning_rate: 0.2,
            tree: tree_params(6),
            subsample: 0.8,
            colsample: 0.8,
            max_bins: 64,
            early_stopping: 0,
            seed: 4,
        };
        p.tree.monotone = vec![0, 0, 1, 0, -1];
        for (objective, target) in [
            (Objective::Binary, &binary),
            (Objective::Softmax { classes: 3 }, &classes),
            (Objective::Huber { delta: 1.0 }, &y),
        ] {
            let model = gbdt::fit(
                &x,
                cols,
                target,
                &vec![1.0; 800],
                None,
                objective,
                &p,
                &hooks(),
            )
            .expect("fit");
            let raw = model.raw(&x, cols);
            let outputs = model.outputs();
            for (i, row) in x.chunks(cols).enumerate() {
                let e = explain_gbdt(&model, row);
                for k in 0..outputs {
                    let total = e.base[k]
                        + e.contributions[k * cols..(k + 1) * cols]
                            .iter()
                            .sum::<f64>();
                    let margin = raw[i * outputs + k];
                    assert!(
                        (total - margin).abs() < 1e-9,
                        "{objective:?} row {i}: {total} vs {margin}"
                    );
                }
            }
        }
    }
}
