//! Linear regression: `linear` (ordinary least squares), `ridge` (an L2
//! penalty) and `lasso` (an L1 penalty), all `y = x·coef + intercept` over
//! the standardized, one-hot encoded features.
//!
//! | algorithm | objective (w: coefficients, b: intercept, not penalised) | solver |
//! |-----------|-----------------------------------------------------------|--------|
//! | `linear`  | ‖y − Xw − b‖²                                             | normal equations (Cholesky) |
//! | `ridge`   | ‖y − Xw − b‖² + l2‖w‖²  (scikit-learn's `Ridge(alpha=l2)`) | the same |
//! | `lasso`   | ‖y − Xw − b‖²/(2n) + l1‖w‖₁  (`Lasso(alpha=l1)`)           | coordinate descent |
//!
//! Scoring folds the preprocessing into the dot product (no matrix is
//! built). Explanations are exact: feature j contributes coef_j × (x_j −
//! its training mean), and the base value is the prediction at the means.

use serde::{Deserialize, Serialize};

use super::hyper::{Hyper, Hyperparameters};
use super::{Algorithm, FitInput, FitReport, Fitted, Inputs, Payload, Rows, Scores};
use crate::error::SqlStateError;
use crate::kernels::linalg::{Matrix, dot};
use crate::kernels::optimize;
use crate::model::schema::{Result, Task};

/// `y = x·coef + intercept` over the preprocessed matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    pub coef: Vec<f64>,
    pub intercept: f64,
}

/// The penalty that tells the three algorithms apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Penalty {
    None,
    L2,
    L1,
}

/// A linear regression algorithm.
#[derive(Debug)]
pub struct LinearRegression {
    penalty: Penalty,
}

pub const LINEAR: LinearRegression = LinearRegression {
    penalty: Penalty::None,
};
pub const RIDGE: LinearRegression = LinearRegression {
    penalty: Penalty::L2,
};
pub const LASSO: LinearRegression = LinearRegression {
    penalty: Penalty::L1,
};

const L2: Hyper = Hyper::non_negative("l2", 1.0, "L2 penalty (scikit-learn's `Ridge(alpha)`)");
const L1: Hyper = Hyper::non_negative(
    "l1",
    1.0,
    "L1 penalty (scikit-learn's `Lasso(alpha)`); must be positive",
);
const MAX_ITER: Hyper = Hyper::count("max_iter", 1, 1000, "coordinate-descent sweeps at most");
const TOL: Hyper =
    Hyper::non_negative("tol", 1e-4, "stop when no coefficient moves more than this");

impl Algorithm for LinearRegression {
    fn name(&self) -> &'static str {
        match self.penalty {
            Penalty::None => "linear",
            Penalty::L2 => "ridge",
            Penalty::L1 => "lasso",
        }
    }

    fn aliases(&self) -> &'static [&'static str] {
        match self.penalty {
            Penalty::None => &["linear_regression"],
            _ => &[],
        }
    }

    fn task(&self) -> Option<Task> {
        Some(Task::Regression)
    }

    fn options(&self) -> &'static [Hyper] {
        match self.penalty {
            Penalty::None => &[],
            Penalty::L2 => &[L2],
            Penalty::L1 => &[L1, MAX_ITER, TOL],
        }
    }

    fn inputs(&self) -> Inputs {
        Inputs::LINEAR
    }

    fn explains(&self) -> bool {
        true
    }

    fn check(&self, hyper: &Hyperparameters<'_>) -> Result<()> {
        hyper.check_numbers(self.options())?;
        if self.penalty == Penalty::L1 && hyper.has(&L1) && hyper.number(&L1)? == 0.0 {
            return Err(SqlStateError::bad_argument(
                "option l1 must be positive for lasso; use algorithm linear for no penalty",
            ));
        }
        Ok(())
    }

    fn fit(&self, input: &FitInput<'_>, out: &mut FitReport) -> Result<Payload> {
        let x = input.matrix()?;
        let (y, w) = (input.numbers, input.weights);
        let hyper = &input.hyper;
        let fit = match self.penalty {
            Penalty::None => optimize::least_squares(x, y, w, 0.0, input.ctx.threads),
            Penalty::L2 => {
                let l2 = hyper.number(&L2)?;
                out.param("l2", l2);
                optimize::least_squares(x, y, w, l2, input.ctx.threads)
            }
            Penalty::L1 => {
                let l1 = hyper.number(&L1)?;
                let max_iter = hyper.count(&MAX_ITER)?;
                let tol = hyper.number(&TOL)?;
                out.param("l1", l1);
                out.param("max_iter", max_iter);
                out.param("tol", tol);
                let fit = optimize::lasso(x, y, w, l1, max_iter, tol);
                out.param("iterations", fit.iterations);
                fit
            }
        };
        Ok(Payload::Linear(Linear {
            coef: fit.coef,
            intercept: fit.intercept,
        }))
    }
}

impl Fitted for Linear {
    fn score(&self, rows: &Rows<'_>) -> Result<Scores> {
        let columns = rows.columns()?;
        let mut out = Vec::new();
        rows.preprocessing
            .linear(&columns, &self.coef, self.intercept, &mut out);
        Ok(Scores::Values(out))
    }

    fn contributions(
        &self,
        m: &Matrix,
        reference: &[f64],
        base: &mut Vec<f64>,
        per_column: &mut [f64],
    ) -> Result<()> {
        let cols = m.cols;
        let offset = self.intercept + dot(&self.coef, reference);
        for i in 0..m.rows {
            contributions_at(
                m.row(i),
                &self.coef,
                reference,
                &mut per_column[i * cols..(i + 1) * cols],
            );
            base.push(offset);
        }
        Ok(())
    }

    fn keeps_column_means(&self) -> bool {
        true
    }
}

/// coef_j × (x_j − reference_j) for each column of one row.
pub(super) fn contributions_at(x: &[f64], coef: &[f64], reference: &[f64], out: &mut [f64]) {
    for (((o, &xj), &c), &mu) in out.iter_mut().zip(x).zip(coef).zip(reference) {
        *o = c * (xj - mu);
    }
}
