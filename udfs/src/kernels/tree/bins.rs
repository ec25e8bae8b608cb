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

/// A feature matrix as bins, column-major: `data[f * rows + r]`.
#[derive(Debug, Clone)]
pub struct Binned {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<u8>,
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
            super::super::optimize::par_ranges(cols, threads, |range| {
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
        Binned {
            rows,
            cols,
            data,
            mappers,
            offsets,
        }
    }

    pub fn column(&self, f: usize) -> &[u8] {
        &self.data[f * self.rows..(f + 1) * self.rows]
    }

    /// Total histogram length over all features.
    pub fn total_bins(&self) -> usize {
        self.offsets[self.cols]
    }
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
        assert_eq!(b.offsets, vec![0, 4, 7]);
    }
}
