//! Quantile binning: every feature becomes at most `max_bins` ordered bins
//! plus one bin for missing values, so a histogram per node replaces sorting.

/// The bin boundaries of one feature. Bin `b` holds `uppers[b-1] < x <= uppers[b]`;
/// the last value bin is unbounded above; missing values have their own bin.
#[derive(Debug, Clone, PartialEq)]
pub struct BinMapper {
    /// Upper bounds of every value bin but the last.
    pub uppers: Vec<f64>,
}

impl BinMapper {
    /// Fits boundaries on `values` (NaN = missing, ignored). With at most
    /// `max_bins` distinct values each gets a bin (cut half-way between
    /// neighbours); otherwise cuts are quantiles of the values.
    pub fn fit(values: &[f64], max_bins: usize) -> BinMapper {
        let max_bins = max_bins.clamp(2, 255);
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_unstable_by(f64::total_cmp);
        let mut distinct: Vec<f64> = Vec::new();
        for v in sorted.iter() {
            if distinct.last() != Some(v) {
                distinct.push(*v);
            }
        }
        let uppers = if distinct.len() <= max_bins {
            distinct
                .windows(2)
                .map(|w| w[0] + (w[1] - w[0]) / 2.0)
                .collect()
        } else {
            let n = sorted.len();
            let mut cuts: Vec<f64> = Vec::with_capacity(max_bins);
            for q in 1..max_bins {
                let v = sorted[(q * n / max_bins).min(n - 1)];
                if cuts.last().is_none_or(|last| v > *last) && v < distinct[distinct.len() - 1] {
                    cuts.push(v);
                }
            }
            cuts
        };
        BinMapper { uppers }
    }

    /// Number of bins including the missing bin.
    pub fn n_bins(&self) -> usize {
        self.uppers.len() + 2
    }

    pub fn missing_bin(&self) -> u8 {
        (self.uppers.len() + 1) as u8
    }

    pub fn bin(&self, x: f64) -> u8 {
        if x.is_nan() {
            self.missing_bin()
        } else {
            self.uppers.partition_point(|u| *u < x) as u8
        }
    }

    /// The threshold of a split after value bin `b`: `x <= threshold` goes left.
    pub fn threshold(&self, b: usize) -> f64 {
        self.uppers.get(b).copied().unwrap_or(f64::INFINITY)
    }
}

/// Features whose histograms are built together. Mutually exclusive sparse
/// features (one-hot columns: at most one is off its most common bin in any
/// row) share one bundle, LightGBM's exclusive feature bundling restricted
/// to exact exclusivity, so a histogram pass touches fewer slots per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// (feature, first bundle bin of its bins, its most common bin). A lone
    /// feature's bins map as they are; in a bundle, bin 0 means every member
    /// is on its most common bin.
    pub members: Vec<Member>,
    /// Bins of the group.
    pub bins: usize,
    /// Where the group's bins start in a group histogram.
    pub offset: usize,
}

/// A feature matrix as bins, column-major (`data[f * rows + r]`, for
/// partitioning a node on one feature) and row-major by group
/// (`by_row[r * groups + g]`, for histograms: one row's bins share a cache
/// line).
#[derive(Debug, Clone)]
pub struct Binned {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<u8>,
    pub groups: Vec<Group>,
    pub by_row: Vec<u8>,
    pub mappers: Vec<BinMapper>,
    /// Offset of each feature's bins in a node histogram.
    pub offsets: Vec<usize>,
}

impl Binned {
    /// Bins a row-major `rows × cols` matrix (NaN = missing). Boundaries are
    /// fitted on at most 200,000 evenly spaced rows, as LightGBM samples.
    pub fn new(x: &[f64], rows: usize, cols: usize, max_bins: usize, threads: usize) -> Binned {
        let step = (rows / 200_000).max(1);
        let columns: Vec<(BinMapper, Vec<u8>)> =
            super::super::parallel::par_ranges(cols, threads, |range| {
                range
                    .map(|f| {
                        let sample: Vec<f64> =
                            (0..rows).step_by(step).map(|r| x[r * cols + f]).collect();
                        let mapper = BinMapper::fit(&sample, max_bins);
                        let bins = (0..rows).map(|r| mapper.bin(x[r * cols + f])).collect();
                        (mapper, bins)
                    })
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .flatten()
            .collect();
        let mut data = Vec::with_capacity(rows * cols);
        let mut mappers = Vec::with_capacity(cols);
        let mut offsets = Vec::with_capacity(cols + 1);
        let mut offset = 0;
        for (mapper, bins) in columns {
            data.extend_from_slice(&bins);
            offsets.push(offset);
            offset += mapper.n_bins();
            mappers.push(mapper);
        }
        offsets.push(offset);
        let n_bins: Vec<usize> = mappers.iter().map(BinMapper::n_bins).collect();
        let groups = bundle(&data, rows, &n_bins);
        let width = groups.len();
        let mut by_row = vec![0u8; rows * width];
        for (g, group) in groups.iter().enumerate() {
            for &(f, start, default) in &group.members {
                let column = &data[f * rows..(f + 1) * rows];
                for (r, &b) in column.iter().enumerate() {
                    if group.members.len() == 1 {
                        by_row[r * width + g] = b;
                    } else if b != default {
                        by_row[r * width + g] = (start + b as usize) as u8;
                    }
                }
            }
        }
        Binned {
            rows,
            cols,
            data,
            groups,
            by_row,
            mappers,
            offsets,
        }
    }

    /// The group bins of row `r`, one per group.
    pub fn row(&self, r: usize) -> &[u8] {
        let width = self.groups.len();
        &self.by_row[r * width..(r + 1) * width]
    }

    /// Total histogram length over all groups.
    pub fn group_bins(&self) -> usize {
        self.groups.last().map_or(0, |g| g.offset + g.bins)
    }

    /// Per-feature histograms (`offsets` layout) from group histograms: a
    /// bundle member's most common bin gets the node total minus its other
    /// bins.
    pub fn expand(&self, group_hist: &[[f64; 3]], total: [f64; 3]) -> Vec<[f64; 3]> {
        let mut hist = vec![[0.0; 3]; self.total_bins()];
        for group in &self.groups {
            let own = &group_hist[group.offset..group.offset + group.bins];
            if let [(f, _, _)] = group.members[..] {
                hist[self.offsets[f]..self.offsets[f + 1]].copy_from_slice(own);
                continue;
            }
            for &(f, start, default) in &group.members {
                let out = &mut hist[self.offsets[f]..self.offsets[f + 1]];
                let mut rest = total;
                for (b, slot) in out.iter_mut().enumerate() {
                    if b != default as usize {
                        *slot = own[start + b];
                        for c in 0..3 {
                            rest[c] -= slot[c];
                        }
                    }
                }
                out[default as usize] = rest;
            }
        }
        hist
    }

    pub fn column(&self, f: usize) -> &[u8] {
        &self.data[f * self.rows..(f + 1) * self.rows]
    }

    /// Total histogram length over all features.
    pub fn total_bins(&self) -> usize {
        self.offsets[self.cols]
    }
}

/// A group member: (feature, first bundle bin, most common bin).
pub type Member = (usize, usize, u8);

/// Groups features for histograms: sparse low-cardinality features that are
/// never off their most common bin in the same row share a bundle (at most
/// 256 bins); every other feature is a group of its own.
fn bundle(data: &[u8], rows: usize, n_bins: &[usize]) -> Vec<Group> {
    let cols = n_bins.len();
    let mut candidates: Vec<(usize, u8, Vec<u32>)> = Vec::new();
    let mut alone: Vec<usize> = Vec::new();
    for f in 0..cols {
        let column = &data[f * rows..(f + 1) * rows];
        if n_bins[f] > 64 || rows == 0 {
            alone.push(f);
            continue;
        }
        let mut counts = [0usize; 256];
        column.iter().for_each(|&b| counts[b as usize] += 1);
        let default = (0..256).max_by_key(|&b| counts[b]).unwrap_or(0) as u8;
        if counts[default as usize] * 2 < rows {
            alone.push(f);
            continue;
        }
        let off: Vec<u32> = (0..rows as u32)
            .filter(|&r| column[r as usize] != default)
            .collect();
        candidates.push((f, default, off));
    }
    // Densest first, each into the first bundle it fits without a conflict.
    candidates.sort_by_key(|c| std::cmp::Reverse(c.2.len()));
    // (members, bins used, rows some member is off its common bin)
    let mut bundles: Vec<(Vec<Member>, usize, Vec<bool>)> = Vec::new();
    for (f, default, off) in candidates {
        let fits = bundles.iter().position(|(_, bins, taken)| {
            bins + n_bins[f] <= 256 && off.iter().all(|&r| !taken[r as usize])
        });
        let index = fits.unwrap_or_else(|| {
            bundles.push((Vec::new(), 1, vec![false; rows]));
            bundles.len() - 1
        });
        let (members, bins, taken) = &mut bundles[index];
        members.push((f, *bins, default));
        *bins += n_bins[f];
        off.iter().for_each(|&r| taken[r as usize] = true);
    }
    let mut groups: Vec<(Vec<Member>, usize)> = alone
        .into_iter()
        .map(|f| (vec![(f, 0, 0)], n_bins[f]))
        .collect();
    for (members, bins, _) in bundles {
        if let [(f, _, _)] = members[..] {
            groups.push((vec![(f, 0, 0)], n_bins[f]));
        } else {
            groups.push((members, bins));
        }
    }
    groups.sort_by_key(|(m, _)| m[0].0);
    let mut offset = 0;
    groups
        .into_iter()
        .map(|(members, bins)| {
            let g = Group {
                members,
                bins,
                offset,
            };
            offset += bins;
            g
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_get_one_bin_each() {
        let m = BinMapper::fit(&[1.0, 2.0, 2.0, 3.0, f64::NAN], 255);
        assert_eq!(m.uppers, vec![1.5, 2.5]);
        assert_eq!(
            [m.bin(1.0), m.bin(2.0), m.bin(3.0), m.bin(100.0)],
            [0, 1, 2, 2]
        );
        assert_eq!(m.bin(f64::NAN), 3);
        assert_eq!(m.n_bins(), 4);
    }

    #[test]
    fn many_values_get_quantile_bins() {
        let values: Vec<f64> = (0..10_000).map(f64::from).collect();
        let m = BinMapper::fit(&values, 16);
        assert_eq!(m.n_bins(), 17);
        let mut counts = [0usize; 17];
        for v in &values {
            counts[m.bin(*v) as usize] += 1;
        }
        assert!(
            counts[..16].iter().all(|&c| (600..=650).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn binned_matrix_is_column_major() {
        let x = [1.0, 10.0, 2.0, f64::NAN, 3.0, 30.0];
        let b = Binned::new(&x, 3, 2, 255, 1);
        assert_eq!(b.column(0), &[0, 1, 2]);
        assert_eq!(b.column(1), &[0, 2, 1]);
        assert_eq!(b.row(1), &[1, 2]);
        assert_eq!(b.groups.len(), 2);
        assert_eq!(b.offsets, vec![0, 4, 7]);
    }

    #[test]
    fn one_hot_columns_share_a_bundle_and_expand_exactly() {
        // Three one-hot columns of a 3-level category, plus a dense column.
        let rows = 300;
        let mut x = Vec::new();
        for r in 0..rows {
            let level = r % 3;
            x.extend([
                (level == 0) as u8 as f64,
                (level == 1) as u8 as f64,
                (level == 2) as u8 as f64,
                r as f64,
            ]);
        }
        let b = Binned::new(&x, rows, 4, 255, 1);
        // Each one-hot column is 0 in two rows of three: the densest "off"
        // pattern is a third of the rows, so all three fit one bundle.
        assert_eq!(b.groups.len(), 2, "{:?}", b.groups);
        let bundle = b
            .groups
            .iter()
            .find(|g| g.members.len() == 3)
            .expect("bundle");
        assert!(bundle.bins <= 1 + 3 * 3);
        // Expanding group sums gives the per-feature histograms exactly.
        let weights: Vec<f64> = (0..rows).map(|r| 1.0 + (r % 7) as f64).collect();
        let mut group_hist = vec![[0.0; 3]; b.group_bins()];
        let mut direct = vec![[0.0; 3]; b.total_bins()];
        let mut total = [0.0; 3];
        for r in 0..rows {
            let (g, h) = (weights[r], 0.5 * weights[r]);
            for (group, &bin) in b.groups.iter().zip(b.row(r)) {
                let slot = &mut group_hist[group.offset + bin as usize];
                slot[0] += g;
                slot[1] += h;
                slot[2] += 1.0;
            }
            for f in 0..4 {
                let slot = &mut direct[b.offsets[f] + b.column(f)[r] as usize];
                slot[0] += g;
                slot[1] += h;
                slot[2] += 1.0;
            }
            total[0] += g;
            total[1] += h;
            total[2] += 1.0;
        }
        let expanded = b.expand(&group_hist, total);
        for (e, d) in expanded.iter().zip(&direct) {
            for c in 0..3 {
                assert!((e[c] - d[c]).abs() < 1e-9, "{expanded:?} vs {direct:?}");
            }
        }
    }

    #[test]
    fn overlapping_sparse_columns_stay_apart() {
        // Two sparse flags that are both set in some rows cannot share a bundle.
        let rows = 100;
        let x: Vec<f64> = (0..rows)
            .flat_map(|r| [(r % 10 == 0) as u8 as f64, (r % 20 == 0) as u8 as f64])
            .collect();
        let b = Binned::new(&x, rows, 2, 255, 1);
        assert_eq!(b.groups.len(), 2);
        assert!(b.groups.iter().all(|g| g.members.len() == 1));
    }
}
