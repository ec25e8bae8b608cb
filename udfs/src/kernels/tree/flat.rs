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
