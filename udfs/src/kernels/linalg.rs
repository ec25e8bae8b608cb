//! Small dense linear algebra for model fitting: a row-major matrix, Gram
//! products and a Cholesky solver.
//!
//! Written here rather than taken from a crate: the systems are small
//! (features × features), the only operations needed are these three, and
//! nalgebra/ndarray would add a second array type next to Arrow.

/// A dense row-major matrix of `rows × cols` f64 values.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows at `indices`, in that order.
    /// The mean of each column (0 for a matrix without rows).
    pub fn column_means(&self) -> Vec<f64> {
        let mut sums = vec![0.0; self.cols];
        for r in 0..self.rows {
            for (s, v) in sums.iter_mut().zip(self.row(r)) {
                *s += v;
            }
        }
        let n = self.rows.max(1) as f64;
        sums.iter().map(|s| s / n).collect()
    }

    pub fn select_rows(&self, indices: &[usize]) -> Matrix {
        let mut out = Matrix::zeros(indices.len(), self.cols);
        for (k, &i) in indices.iter().enumerate() {
            out.row_mut(k).copy_from_slice(self.row(i));
        }
        out
    }
}

/// `xᵀ·y` for equal-length slices.
#[inline]
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// Solves `a·x = b` for symmetric positive-definite `a` (`n × n`, row-major),
/// overwriting `b` with `x`. When `a` is only semi-definite (collinear
/// features), a growing ridge is added to the diagonal until it factors; the
/// returned value is the ridge used (0 when none was needed).
pub fn cholesky_solve(a: &[f64], b: &mut [f64], n: usize) -> Option<f64> {
    let scale = (0..n)
        .map(|i| a[i * n + i].abs())
        .fold(0.0f64, f64::max)
        .max(1e-300);
    let mut jitter = 0.0;
    for _ in 0..12 {
        if let Some(l) = cholesky(a, n, jitter) {
            // Forward then backward substitution.
            for i in 0..n {
                let mut s = b[i];
                for k in 0..i {
                    s -= l[i * n + k] * b[k];
                }
                b[i] = s / l[i * n + i];
            }
            for i in (0..n).rev() {
                let mut s = b[i];
                for k in i + 1..n {
                    s -= l[k * n + i] * b[k];
                }
                b[i] = s / l[i * n + i];
            }
            return Some(jitter);
        }
        jitter = if jitter == 0.0 {
            scale * 1e-12
        } else {
            jitter * 100.0
        };
    }
    None
}

fn cholesky(a: &[f64], n: usize, jitter: f64) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            if i == j {
                s += jitter;
            }
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_small_spd_system() {
        // a = [[4, 2], [2, 3]], x = [1, 2] → b = [8, 8]
        let a = [4.0, 2.0, 2.0, 3.0];
        let mut b = [8.0, 8.0];
        assert_eq!(cholesky_solve(&a, &mut b, 2), Some(0.0));
        assert!((b[0] - 1.0).abs() < 1e-12 && (b[1] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn singular_systems_get_a_small_ridge() {
        // Two identical columns: a = [[1, 1], [1, 1]].
        let a = [1.0, 1.0, 1.0, 1.0];
        let mut b = [2.0, 2.0];
        let jitter = cholesky_solve(&a, &mut b, 2).expect("solved with ridge");
        assert!(jitter > 0.0);
        // The minimum-norm solution splits the weight evenly.
        assert!((b[0] - 1.0).abs() < 1e-3 && (b[1] - 1.0).abs() < 1e-3);
    }
}
