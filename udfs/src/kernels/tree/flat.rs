//! A tree as flat arrays (structure of arrays, nodes numbered from the root),
//! the layout both training and scoring use: a walk touches a few small
//! arrays, no pointers, no per-node allocation.

use serde::{Deserialize, Serialize};

/// `feature` of a leaf.
pub const LEAF: u32 = u32::MAX;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Split feature, or [`LEAF`].
    pub feature: Vec<u32>,
    /// `x <= threshold` goes left.
    pub threshold: Vec<f64>,
    /// Where a missing value goes.
    pub default_left: Vec<bool>,
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    /// Leaf value (also kept for inner nodes: their value before the split).
    pub value: Vec<f64>,
    /// Loss reduction of the split (0 for leaves), for importance.
    pub gain: Vec<f64>,
    /// Hessian sum of the training rows that reached the node.
    pub cover: Vec<f64>,
    /// Training rows that reached the node.
    pub count: Vec<f64>,
}

impl Tree {
    pub fn push_leaf(&mut self, value: f64, cover: f64, count: f64) -> usize {
        self.feature.push(LEAF);
        self.threshold.push(0.0);
        self.default_left.push(false);
        self.left.push(0);
        self.right.push(0);
        self.value.push(value);
        self.gain.push(0.0);
        self.cover.push(cover);
        self.count.push(count);
        self.feature.len() - 1
    }

    #[allow(clippy::too_many_arguments)] // one field per array of a node
    pub fn set_split(
        &mut self,
        node: usize,
        feature: usize,
        threshold: f64,
        default_left: bool,
        left: usize,
        right: usize,
        gain: f64,
    ) {
        self.feature[node] = feature as u32;
        self.threshold[node] = threshold;
        self.default_left[node] = default_left;
        self.left[node] = left as u32;
        self.right[node] = right as u32;
        self.gain[node] = gain;
    }

    pub fn len(&self) -> usize {
        self.feature.len()
    }

    pub fn is_empty(&self) -> bool {
        self.feature.is_empty()
    }

    pub fn is_leaf(&self, node: usize) -> bool {
        self.feature[node] == LEAF
    }

    /// Multiplies every value by `factor` (the learning rate).
    pub fn scale(&mut self, factor: f64) {
        self.value.iter_mut().for_each(|v| *v *= factor);
    }

    /// The leaf a row reaches.
    #[inline]
    pub fn leaf_of(&self, row: &[f64]) -> usize {
        let mut node = 0;
        loop {
            let f = self.feature[node];
            if f == LEAF {
                return node;
            }
            let x = row[f as usize];
            let left = if x.is_nan() {
                self.default_left[node]
            } else {
                x <= self.threshold[node]
            };
            node = if left {
                self.left[node]
            } else {
                self.right[node]
            } as usize;
        }
    }

    pub fn predict_row(&self, row: &[f64]) -> f64 {
        self.value[self.leaf_of(row)]
    }

    /// Adds this tree's value for every row of a row-major matrix to `out`.
    pub fn add_to(&self, x: &[f64], cols: usize, out: &mut [f64]) {
        for (o, row) in out.iter_mut().zip(x.chunks_exact(cols)) {
            *o += self.value[self.leaf_of(row)];
        }
    }

    pub fn depth(&self) -> usize {
        fn at(t: &Tree, n: usize) -> usize {
            if t.is_leaf(n) {
                0
            } else {
                1 + at(t, t.left[n] as usize).max(at(t, t.right[n] as usize))
            }
        }
        if self.is_empty() { 0 } else { at(self, 0) }
    }
}

/// Split gain and split count per matrix column, summed over `trees`
/// (importance as LightGBM's `gain` and `split`).
pub fn importance(trees: &[Tree], cols: usize) -> Vec<(f64, usize)> {
    let mut out = vec![(0.0, 0); cols];
    for tree in trees {
        for node in 0..tree.len() {
            if let Some(slot) = out.get_mut(tree.feature[node] as usize) {
                slot.0 += tree.gain[node];
                slot.1 += 1;
            }
        }
    }
    out
}

/// Rows scored per block: a block of the input (256 rows × features × 8
/// bytes) stays in the L1/L2 cache while every tree walks it, instead of
/// every tree streaming the whole matrix from memory.
const BLOCK: usize = 256;

/// Rows walked together: independent walks overlap each other's latency.
const LANES: usize = 8;

/// One node packed for scoring (a single cache-line load per level). Leaves
/// point to themselves, so a walk can take exactly `depth` steps with no
/// branch on the way: the child is chosen by a select, not a jump.
#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f64,
    feature: u32,
    left: u32,
    right: u32,
    default_left: bool,
}

struct Walk<'a> {
    nodes: Vec<Node>,
    depth: usize,
    value: &'a [f64],
}

impl<'a> Walk<'a> {
    fn new(tree: &'a Tree) -> Walk<'a> {
        let nodes = (0..tree.len())
            .map(|i| {
                if tree.is_leaf(i) {
                    Node {
                        threshold: 0.0,
                        feature: 0,
                        left: i as u32,
                        right: i as u32,
                        default_left: false,
                    }
                } else {
                    Node {
                        threshold: tree.threshold[i],
                        feature: tree.feature[i],
                        left: tree.left[i],
                        right: tree.right[i],
                        default_left: tree.default_left[i],
                    }
                }
            })
            .collect();
        Walk {
            nodes,
            depth: tree.depth(),
            value: &tree.value,
        }
    }

    /// The leaves of `LANES` rows starting at row `first` of `block`.
    #[inline]
    fn leaves(&self, block: &[f64], cols: usize, first: usize) -> [u32; LANES] {
        let mut at = [0u32; LANES];
        for step in 0..self.depth {
            // Deep, lopsided trees (forests): stop once every lane is at a leaf.
            if step >= 8 && step % 4 == 0 && at.iter().all(|&n| self.nodes[n as usize].left == n) {
                break;
            }
            for (k, n) in at.iter_mut().enumerate() {
                let node = self.nodes[*n as usize];
                let x = block[(first + k) * cols + node.feature as usize];
                #[allow(clippy::eq_op)] // x != x: NaN, without a branch
                let left = (x <= node.threshold) | ((x != x) & node.default_left);
                *n = if left { node.left } else { node.right };
            }
        }
        at
    }
}

/// Adds every tree's value for each row of a row-major matrix to `out`
/// (row-major `rows × outputs`); tree `t` scores output `t % outputs`, the
/// layout of boosted rounds and forests alike. Sums run in tree order, as a
/// row-at-a-time walk would, so results are bit-identical to it.
pub fn accumulate(trees: &[Tree], outputs: usize, x: &[f64], cols: usize, out: &mut [f64]) {
    let outputs = outputs.max(1);
    if cols == 0 || trees.is_empty() {
        return;
    }
    let walks: Vec<Walk<'_>> = trees.iter().map(Walk::new).collect();
    // Small trees (boosting) all stay in cache while a block of rows passes
    // them; big ones (forests of deep trees) are walked one tree at a time
    // over the whole input instead, so each tree is loaded once.
    let tree_bytes: usize = walks
        .iter()
        .map(|w| w.nodes.len() * std::mem::size_of::<Node>())
        .sum();
    let block_rows = if tree_bytes > 1 << 20 {
        x.len() / cols
    } else {
        BLOCK
    }
    .max(1);
    for (block, sums) in x
        .chunks(block_rows * cols)
        .zip(out.chunks_mut(block_rows * outputs))
    {
        let rows = block.len() / cols;
        for (t, walk) in walks.iter().enumerate() {
            let k = t % outputs;
            let mut i = 0;
            while i + LANES <= rows {
                let leaves = walk.leaves(block, cols, i);
                for (j, leaf) in leaves.into_iter().enumerate() {
                    sums[(i + j) * outputs + k] += walk.value[leaf as usize];
                }
                i += LANES;
            }
            for r in i..rows {
                sums[r * outputs + k] +=
                    trees[t].value[trees[t].leaf_of(&block[r * cols..(r + 1) * cols])];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_scoring_equals_walking_each_row() {
        // A lopsided tree (leaves at depths 1 to 3) with missing values both ways.
        let mut t = Tree::default();
        let root = t.push_leaf(0.0, 1.0, 1.0);
        let a = t.push_leaf(1.0, 1.0, 1.0);
        let b = t.push_leaf(0.0, 1.0, 1.0);
        t.set_split(root, 0, 0.5, true, a, b, 1.0);
        let c = t.push_leaf(0.0, 1.0, 1.0);
        let d = t.push_leaf(4.0, 1.0, 1.0);
        t.set_split(b, 1, -1.0, false, c, d, 1.0);
        let e = t.push_leaf(2.0, 1.0, 1.0);
        let f = t.push_leaf(3.0, 1.0, 1.0);
        t.set_split(c, 0, 2.0, true, e, f, 1.0);
        let mut rng = crate::kernels::rng::SplitMix(2);
        let rows = 1000;
        let x: Vec<f64> = (0..rows * 2)
            .map(|_| {
                if rng.uniform() < 0.15 {
                    f64::NAN
                } else {
                    rng.uniform() * 6.0 - 3.0
                }
            })
            .collect();
        let trees = vec![t.clone(), t.clone(), t.clone()];
        let mut out = vec![0.5; rows * 3];
        accumulate(&trees, 3, &x, 2, &mut out);
        for (r, row) in x.chunks(2).enumerate() {
            for k in 0..3 {
                assert_eq!(out[r * 3 + k], 0.5 + t.predict_row(row));
            }
        }
    }

    #[test]
    fn deep_chains_score_like_walking_each_row() {
        // A chain 20 deep: rows leave it at every depth, so lanes finish apart.
        let mut t = Tree::default();
        let mut node = t.push_leaf(0.0, 1.0, 1.0);
        for d in 0..20 {
            let left = t.push_leaf(d as f64, 1.0, 1.0);
            let right = t.push_leaf(-1.0, 1.0, 1.0);
            t.set_split(node, 0, d as f64, d % 2 == 0, left, right, 1.0);
            node = right;
        }
        let x: Vec<f64> = (0..500)
            .map(|i| {
                if i % 37 == 0 {
                    f64::NAN
                } else {
                    (i % 23) as f64 - 0.5
                }
            })
            .collect();
        let mut out = vec![0.0; 500];
        accumulate(std::slice::from_ref(&t), 1, &x, 1, &mut out);
        for (o, v) in out.iter().zip(&x) {
            assert_eq!(*o, t.predict_row(&[*v]));
        }
    }

    #[test]
    fn importance_sums_gain_and_counts_splits_per_column() {
        let mut t = Tree::default();
        let root = t.push_leaf(0.0, 1.0, 1.0);
        let a = t.push_leaf(0.0, 1.0, 1.0);
        let b = t.push_leaf(0.0, 1.0, 1.0);
        t.set_split(root, 2, 0.0, false, a, b, 5.0);
        let c = t.push_leaf(0.0, 1.0, 1.0);
        let d = t.push_leaf(0.0, 1.0, 1.0);
        t.set_split(a, 0, 0.0, false, c, d, 1.5);
        let got = importance(&[t.clone(), t], 3);
        assert_eq!(got, vec![(3.0, 2), (0.0, 0), (10.0, 2)]);
    }
}
