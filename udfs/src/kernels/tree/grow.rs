//! Growing one regression tree on gradients and hessians over binned data:
//! histograms per node (the smaller child built, the larger one by
//! subtraction), exact best split per feature with L2 regularisation,
//! `min_rows_per_leaf`, a learned direction for missing values, and
//! monotone constraints that hold exactly (leaf values are clamped to bounds
//! that every split on a constrained feature passes down, as XGBoost does).

use super::bins::Binned;
use super::flat::Tree;
use crate::kernels::parallel::{par_map, par_ranges};
use crate::kernels::rng::SplitMix;

/// Limits and penalties of one tree.
#[derive(Debug, Clone)]
pub struct TreeParams {
    pub max_depth: usize,
    pub min_rows_per_leaf: usize,
    pub min_hessian: f64,
    pub l2: f64,
    /// Per feature: +1 increasing, -1 decreasing, 0 free.
    pub monotone: Vec<i8>,
    pub threads: usize,
    /// Features tried at each split, sampled anew per node (random forests);
    /// 0 tries every feature.
    pub split_features: usize,
    pub seed: u64,
}

/// Per-bin sums: gradient, hessian, rows.
type Hist = Vec<[f64; 3]>;

#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    bin: usize,
    default_left: bool,
    gain: f64,
    left: [f64; 3],
    left_value: f64,
    right_value: f64,
}

struct Leaf {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    hist: Hist,
    sums: [f64; 3],
    lower: f64,
    upper: f64,
}

fn leaf_value(g: f64, h: f64, l2: f64, lower: f64, upper: f64) -> f64 {
    (-g / (h + l2)).clamp(lower, upper)
}

/// The loss reduction of a leaf with value `w` (XGBoost's gain given weight).
fn score(g: f64, h: f64, l2: f64, w: f64) -> f64 {
    -(2.0 * g * w + (h + l2) * w * w)
}

/// Grows a tree on the rows in `rows` (indices into `data`), using only the
/// features in `features`. `grad`/`hess` are indexed by row.
pub fn grow(
    data: &Binned,
    rows: &mut [u32],
    grad: &[f64],
    hess: &[f64],
    features: &[usize],
    p: &TreeParams,
) -> Tree {
    grow_with_leaves(data, rows, grad, hess, features, p).0
}

/// A leaf of a grown tree and where its rows ended up: `rows[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafRows {
    pub node: usize,
    pub start: usize,
    pub end: usize,
}

/// [`grow`], also returning each leaf's range of the partitioned `rows`, so
/// a booster can update its training scores without walking the tree.
pub fn grow_with_leaves(
    data: &Binned,
    rows: &mut [u32],
    grad: &[f64],
    hess: &[f64],
    features: &[usize],
    p: &TreeParams,
) -> (Tree, Vec<LeafRows>) {
    let mut leaves = Vec::new();
    let mut tree = Tree::default();
    let root_hist = histogram(data, rows, grad, hess, features, p.threads);
    let sums = rows.iter().fold([0.0; 3], |mut s, &r| {
        s[0] += grad[r as usize];
        s[1] += hess[r as usize];
        s[2] += 1.0;
        s
    });
    let root = tree.push_leaf(
        leaf_value(sums[0], sums[1], p.l2, f64::NEG_INFINITY, f64::INFINITY),
        sums[1],
        sums[2],
    );
    let mut stack = vec![Leaf {
        node: root,
        start: 0,
        end: rows.len(),
        depth: 0,
        hist: root_hist,
        sums,
        lower: f64::NEG_INFINITY,
        upper: f64::INFINITY,
    }];
    let mut scratch: Vec<u32> = Vec::with_capacity(rows.len());
    while let Some(leaf) = stack.pop() {
        let final_leaf = LeafRows {
            node: leaf.node,
            start: leaf.start,
            end: leaf.end,
        };
        if leaf.depth >= p.max_depth || leaf.end - leaf.start < 2 * p.min_rows_per_leaf.max(1) {
            leaves.push(final_leaf);
            continue;
        }
        let sampled;
        let candidates = if p.split_features > 0 && p.split_features < features.len() {
            let mut rng = SplitMix(p.seed ^ (leaf.node as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut pool = features.to_vec();
            rng.choose_front(&mut pool, p.split_features);
            pool.truncate(p.split_features);
            sampled = pool;
            &sampled[..]
        } else {
            features
        };
        let Some(split) = best_split(data, &leaf, candidates, p) else {
            leaves.push(final_leaf);
            continue;
        };
        // Partition the leaf's rows: left first, order kept.
        let column = data.column(split.feature);
        let missing = data.mappers[split.feature].missing_bin();
        let (bin, default_left) = (split.bin, split.default_left);
        let goes_left = |r: u32| {
            let b = column[r as usize];
            (b == missing) & default_left | (b != missing) & ((b as usize) <= bin)
        };
        // Branch-free: each row is written to both sides and the side it
        // belongs to advances, so an unpredictable split costs no mispredictions.
        let range = &mut rows[leaf.start..leaf.end];
        scratch.clear();
        scratch.resize(range.len(), 0);
        let (mut n_left, mut n_right) = (0, 0);
        for i in 0..range.len() {
            let r = range[i];
            let left = goes_left(r);
            range[n_left] = r;
            scratch[n_right] = r;
            n_left += left as usize;
            n_right += !left as usize;
        }
        range[n_left..].copy_from_slice(&scratch[..n_right]);
        let mid = leaf.start + n_left;
        let right_sums = [
            leaf.sums[0] - split.left[0],
            leaf.sums[1] - split.left[1],
            leaf.sums[2] - split.left[2],
        ];
        // Histogram of the smaller child; the larger is parent minus smaller.
        // Children at the depth limit never split: they need none.
        let small = if n_left <= leaf.end - mid {
            (leaf.start, mid)
        } else {
            (mid, leaf.end)
        };
        let (left_hist, right_hist) = if leaf.depth + 1 >= p.max_depth {
            (Vec::new(), Vec::new())
        } else {
            let parent = leaf.hist;
            child_histograms(
                data, rows, small, leaf.start, parent, grad, hess, features, p.threads,
            )
        };
        // Bounds for the children: a split on a constrained feature puts the
        // midpoint between them, so every leaf below stays on its side.
        let (mut left_bounds, mut right_bounds) =
            ((leaf.lower, leaf.upper), (leaf.lower, leaf.upper));
        let constraint = p.monotone.get(split.feature).copied().unwrap_or(0);
        if constraint != 0 {
            let midpoint = (split.left_value + split.right_value) / 2.0;
            if constraint > 0 {
                left_bounds.1 = midpoint;
                right_bounds.0 = midpoint;
            } else {
                left_bounds.0 = midpoint;
                right_bounds.1 = midpoint;
            }
        }
        let left_node = tree.push_leaf(
            leaf_value(
                split.left[0],
                split.left[1],
                p.l2,
                left_bounds.0,
                left_bounds.1,
            ),
            split.left[1],
            split.left[2],
        );
        let right_node = tree.push_leaf(
            leaf_value(
                right_sums[0],
                right_sums[1],
                p.l2,
                right_bounds.0,
                right_bounds.1,
            ),
            right_sums[1],
            right_sums[2],
        );
        tree.set_split(
            leaf.node,
            split.feature,
            data.mappers[split.feature].threshold(split.bin),
            split.default_left,
            left_node,
            right_node,
            split.gain,
        );
        stack.push(Leaf {
            node: right_node,
            start: mid,
            end: leaf.end,
            depth: leaf.depth + 1,
            hist: right_hist,
            sums: right_sums,
            lower: right_bounds.0,
            upper: right_bounds.1,
        });
        stack.push(Leaf {
            node: left_node,
            start: leaf.start,
            end: mid,
            depth: leaf.depth + 1,
            hist: left_hist,
            sums: split.left,
            lower: left_bounds.0,
            upper: left_bounds.1,
        });
    }
    (tree, leaves)
}

/// The histograms of a split's children: the smaller child's (`rows[small]`)
/// built, the larger one's by subtraction from the parent's.
#[allow(clippy::too_many_arguments)]
fn child_histograms(
    data: &Binned,
    rows: &[u32],
    small: (usize, usize),
    start: usize,
    parent: Hist,
    grad: &[f64],
    hess: &[f64],
    features: &[usize],
    threads: usize,
) -> (Hist, Hist) {
    let small_hist = histogram(data, &rows[small.0..small.1], grad, hess, features, threads);
    let mut large_hist = parent;
    for (l, s) in large_hist.iter_mut().zip(&small_hist) {
        l[0] -= s[0];
        l[1] -= s[1];
        l[2] -= s[2];
    }
    if small.0 == start {
        (small_hist, large_hist)
    } else {
        (large_hist, small_hist)
    }
}

/// Histograms of `features` over `rows`, in parallel over features when the
/// work is large enough to pay for the threads.
fn histogram(
    data: &Binned,
    rows: &[u32],
    grad: &[f64],
    hess: &[f64],
    features: &[usize],
    threads: usize,
) -> Hist {
    if features.len() == data.cols {
        return histogram_by_row(data, rows, grad, hess, threads);
    }
    let mut hist = vec![[0.0; 3]; data.total_bins()];
    // Gradients in row order of the node, read once per feature.
    let gh: Vec<[f64; 2]> = rows
        .iter()
        .map(|&r| [grad[r as usize], hess[r as usize]])
        .collect();
    let fill = |f: usize, out: &mut [[f64; 3]]| {
        let column = data.column(f);
        for (&r, [g, h]) in rows.iter().zip(&gh) {
            let bin = &mut out[column[r as usize] as usize];
            bin[0] += g;
            bin[1] += h;
            bin[2] += 1.0;
        }
    };
    let work = rows.len() * features.len();
    if threads <= 1 || work < 200_000 {
        for &f in features {
            let (a, b) = (data.offsets[f], data.offsets[f + 1]);
            fill(f, &mut hist[a..b]);
        }
        return hist;
    }
    // Each thread fills whole features; the pieces are copied into place.
    let parts = par_map(features, threads, |&f| {
        let mut own = vec![[0.0; 3]; data.offsets[f + 1] - data.offsets[f]];
        fill(f, &mut own);
        (f, own)
    });
    for (f, own) in parts {
        hist[data.offsets[f]..data.offsets[f + 1]].copy_from_slice(&own);
    }
    hist
}

/// Histograms of every feature, row by row over feature groups: each row's
/// gradient pair is read once, its group bins sit in one cache line, and a
/// bundle of one-hot columns costs one update instead of one per column.
/// Threads take slices of the rows and their histograms are summed.
fn histogram_by_row(
    data: &Binned,
    rows: &[u32],
    grad: &[f64],
    hess: &[f64],
    threads: usize,
) -> Hist {
    let offsets: Vec<usize> = data.groups.iter().map(|g| g.offset).collect();
    let fill = |rows: &[u32]| {
        let mut hist = vec![[0.0; 3]; data.group_bins()];
        for &r in rows {
            let r = r as usize;
            let (g, h) = (grad[r], hess[r]);
            for (&offset, &b) in offsets.iter().zip(data.row(r)) {
                let bin = &mut hist[offset + b as usize];
                bin[0] += g;
                bin[1] += h;
                bin[2] += 1.0;
            }
        }
        hist
    };
    // Each thread's own histogram costs a pass over all bins to merge.
    let mut group_hist = if threads <= 1 || rows.len() < 4 * data.group_bins().max(1024) {
        fill(rows)
    } else {
        let mut parts = par_ranges(rows.len(), threads, |range| fill(&rows[range])).into_iter();
        let mut hist = parts.next().unwrap_or_default();
        for part in parts {
            for (a, b) in hist.iter_mut().zip(&part) {
                a[0] += b[0];
                a[1] += b[1];
                a[2] += b[2];
            }
        }
        hist
    };
    if data.groups.iter().all(|g| g.members.len() == 1) {
        return std::mem::take(&mut group_hist);
    }
    // The node's totals: every group's bins sum to them; the first will do.
    let total = data.groups.first().map_or([0.0; 3], |g| {
        group_hist[g.offset..g.offset + g.bins]
            .iter()
            .fold([0.0; 3], |t, b| [t[0] + b[0], t[1] + b[1], t[2] + b[2]])
    });
    data.expand(&group_hist, total)
}

fn best_split(data: &Binned, leaf: &Leaf, features: &[usize], p: &TreeParams) -> Option<Split> {
    let [g, h, _] = leaf.sums;
    let parent_value = leaf_value(g, h, p.l2, leaf.lower, leaf.upper);
    let parent_score = score(g, h, p.l2, parent_value);
    let min_rows = p.min_rows_per_leaf.max(1) as f64;
    let mut best: Option<Split> = None;
    for &f in features {
        let hist = &leaf.hist[data.offsets[f]..data.offsets[f + 1]];
        let (values, missing) = hist.split_at(hist.len() - 1);
        let missing = missing[0];
        let constraint = p.monotone.get(f).copied().unwrap_or(0);
        let directions: &[bool] = if missing[2] > 0.0 {
            &[false, true]
        } else {
            &[false]
        };
        for &default_left in directions {
            let mut left = if default_left { missing } else { [0.0; 3] };
            for (b, bin) in values
                .iter()
                .enumerate()
                .take(values.len().saturating_sub(1))
            {
                if bin[2] == 0.0 && b > 0 {
                    // An empty bin moves no row: the split after the previous
                    // bin, already weighed, is the same split.
                    continue;
                }
                left[0] += bin[0];
                left[1] += bin[1];
                left[2] += bin[2];
                let right = [g - left[0], h - left[1], leaf.sums[2] - left[2]];
                if left[2] < min_rows || right[2] < min_rows {
                    continue;
                }
                if left[1] < p.min_hessian || right[1] < p.min_hessian {
                    continue;
                }
                let wl = leaf_value(left[0], left[1], p.l2, leaf.lower, leaf.upper);
                let wr = leaf_value(right[0], right[1], p.l2, leaf.lower, leaf.upper);
                if (constraint > 0 && wl > wr) || (constraint < 0 && wl < wr) {
                    continue;
                }
                let gain = score(left[0], left[1], p.l2, wl) + score(right[0], right[1], p.l2, wr)
                    - parent_score;
                if gain > 1e-12 && best.is_none_or(|s| gain > s.gain) {
                    best = Some(Split {
                        feature: f,
                        bin: b,
                        default_left,
                        gain,
                        left,
                        left_value: wl,
                        right_value: wr,
                    });
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(max_depth: usize) -> TreeParams {
        TreeParams {
            max_depth,
            min_rows_per_leaf: 1,
            min_hessian: 0.0,
            l2: 0.0,
            monotone: vec![],
            threads: 1,
            split_features: 0,
            seed: 0,
        }
    }

    #[test]
    fn a_stump_splits_where_the_target_jumps() {
        // y = 0 for x < 5, 10 for x >= 5: gradients of squared loss at 0 are -y.
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let data = Binned::new(&x, 10, 1, 255, 1);
        let grad: Vec<f64> = x
            .iter()
            .map(|v| if *v < 5.0 { 0.0 } else { -10.0 })
            .collect();
        let hess = vec![1.0; 10];
        let mut rows: Vec<u32> = (0..10).collect();
        let tree = grow(&data, &mut rows, &grad, &hess, &[0], &params(1));
        assert_eq!(tree.feature[0], 0);
        assert_eq!(tree.threshold[0], 4.5);
        assert_eq!(tree.predict_row(&[2.0]), 0.0);
        assert_eq!(tree.predict_row(&[7.0]), 10.0);
    }

    #[test]
    fn missing_values_learn_their_direction() {
        // Missing rows behave like the large values.
        let x = [1.0, 2.0, 3.0, 10.0, 11.0, 12.0, f64::NAN, f64::NAN];
        let data = Binned::new(&x, 8, 1, 255, 1);
        let grad = [0.0, 0.0, 0.0, -5.0, -5.0, -5.0, -5.0, -5.0];
        let mut rows: Vec<u32> = (0..8).collect();
        let tree = grow(&data, &mut rows, &grad, &[1.0; 8], &[0], &params(1));
        assert_eq!(tree.predict_row(&[f64::NAN]), 5.0);
        assert_eq!(tree.predict_row(&[1.5]), 0.0);
        assert_eq!(tree.feature[0], 0);
    }

    #[test]
    fn leaf_ranges_hold_exactly_the_rows_each_leaf_receives() {
        let mut rng = crate::kernels::rng::SplitMix(17);
        let (n, cols) = (3000, 4);
        let x: Vec<f64> = (0..n * cols)
            .map(|_| {
                if rng.uniform() < 0.1 {
                    f64::NAN
                } else {
                    (rng.uniform() * 50.0).round()
                }
            })
            .collect();
        let grad: Vec<f64> = x
            .chunks(cols)
            .map(|r| {
                if r[0] > 20.0 || r[1].is_nan() {
                    -1.0
                } else {
                    1.0
                }
            })
            .collect();
        let data = Binned::new(&x, n, cols, 16, 1);
        let mut rows: Vec<u32> = (0..n as u32).collect();
        let p = TreeParams {
            min_rows_per_leaf: 5,
            ..params(5)
        };
        let (tree, leaves) =
            grow_with_leaves(&data, &mut rows, &grad, &vec![1.0; n], &[0, 1, 2, 3], &p);
        assert!(tree.len() > 7);
        let mut seen = vec![false; n];
        for leaf in &leaves {
            assert!(tree.is_leaf(leaf.node));
            for &r in &rows[leaf.start..leaf.end] {
                let r = r as usize;
                assert_eq!(tree.leaf_of(&x[r * cols..(r + 1) * cols]), leaf.node);
                assert!(!std::mem::replace(&mut seen[r], true));
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn min_rows_per_leaf_is_respected() {
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let data = Binned::new(&x, 10, 1, 255, 1);
        let grad: Vec<f64> = x
            .iter()
            .map(|v| if *v < 1.0 { -100.0 } else { 0.0 })
            .collect();
        let mut rows: Vec<u32> = (0..10).collect();
        let p = TreeParams {
            min_rows_per_leaf: 3,
            ..params(1)
        };
        let tree = grow(&data, &mut rows, &grad, &[1.0; 10], &[0], &p);
        assert!(tree.cover.iter().all(|&c| c >= 3.0), "{:?}", tree.cover);
    }
}
