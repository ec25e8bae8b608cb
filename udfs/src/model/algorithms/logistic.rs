//! Logistic regression (`logistic`): binary by Newton's method (L2) or
//! proximal Newton with coordinate descent (L1, elastic net); multinomial
//! (softmax, L2 only) by L-BFGS, for labels of more than two classes.
//!
//! | classes | model                         | `ml_predict_proba`             |
//! |---------|-------------------------------|--------------------------------|
//! | 2       | one row of coefficients, for the second class | σ(x·w + b)     |
//! | k > 2   | k rows (`classes × width`)    | softmax of the k logits        |
//!
//! Minimizes Σᵢ sᵢ·logloss(yᵢ, σ(xᵢw + b)) + l2/2‖w‖² + l1‖w‖₁, as
//! scikit-learn's `LogisticRegression(C = 1/l2)`. Explanations are exact in
//! log-odds: coef × (x − training mean), for the positive class (binary)
//! or the predicted class (multinomial).

use serde::{Deserialize, Serialize};

use super::hyper::{Hyper, Hyperparameters};
use super::linear::contributions_at;
use super::{Algorithm, FitInput, FitReport, Fitted, Inputs, Payload, Rows, Scores};
use crate::error::SqlStateError;
use crate::kernels::linalg::{Matrix, dot};
use crate::kernels::optimize::{self, Solver, softmax_row};
use crate::kernels::special::sigmoid;
use crate::model::schema::{Result, Task};

/// Binary: one row of `coef` scores the second class. Multinomial:
/// `classes × width` rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub coef: Vec<f64>,
    pub intercept: Vec<f64>,
    pub multinomial: bool,
}

/// The `logistic` algorithm.
#[derive(Debug)]
pub struct LogisticRegression;

pub const LOGISTIC: LogisticRegression = LogisticRegression;

const L2: Hyper = Hyper::non_negative("l2", 1.0, "L2 penalty (scikit-learn's C = 1/l2)");
const L1: Hyper = Hyper::non_negative("l1", 0.0, "L1 penalty (binary labels only)");
const MAX_ITER: Hyper = Hyper::count(
    "max_iter",
    1,
    100,
    "solver iterations at most (at least 200 for more than two classes)",
);
const TOL: Hyper = Hyper::non_negative("tol", 1e-4, "stop when the largest step is below this");

impl Algorithm for LogisticRegression {
    fn name(&self) -> &'static str {
        "logistic"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["logistic_regression"]
    }

    fn task(&self) -> Option<Task> {
        Some(Task::Classification)
    }

    fn options(&self) -> &'static [Hyper] {
        &[L2, L1, MAX_ITER, TOL]
    }

    fn inputs(&self) -> Inputs {
        Inputs::LINEAR
    }

    fn explains(&self) -> bool {
        true
    }

    fn check(&self, hyper: &Hyperparameters<'_>) -> Result<()> {
        hyper.check_numbers(self.options())
    }

    fn fit(&self, input: &FitInput<'_>, out: &mut FitReport) -> Result<Payload> {
        let x = input.matrix()?;
        let hyper = &input.hyper;
        let l2 = hyper.number(&L2)?;
        let l1 = hyper.number(&L1)?;
        let max_iter = hyper.count(&MAX_ITER)?;
        let tol = hyper.number(&TOL)?;
        out.param("l2", l2);
        out.param("l1", l1);
        out.param("max_iter", max_iter);
        out.param("tol", tol);
        let threads = input.ctx.threads;
        if input.class_count == 2 {
            let y01: Vec<f64> = input.classes.iter().map(|&c| c as f64).collect();
            let solver = Solver {
                l2,
                l1,
                max_iter,
                tol,
                threads,
            };
            let fit = optimize::logistic(x, &y01, input.weights, solver);
            out.param("iterations", fit.iterations);
            return Ok(Payload::Logistic(Logistic {
                coef: fit.coef,
                intercept: vec![fit.intercept],
                multinomial: false,
            }));
        }
        if l1 > 0.0 {
            return Err(SqlStateError::unsupported(
                "l1 for multi-class logistic regression is not supported; use l2",
            ));
        }
        let solver = Solver {
            l2,
            l1: 0.0,
            max_iter: max_iter.max(200),
            tol,
            threads,
        };
        let fit = optimize::softmax_regression(
            x,
            input.classes,
            input.weights,
            input.class_count,
            solver,
        );
        out.param("iterations", fit.iterations);
        Ok(Payload::Logistic(Logistic {
            coef: fit.coef,
            intercept: fit.intercept,
            multinomial: true,
        }))
    }
}

impl Fitted for Logistic {
    fn score(&self, rows: &Rows<'_>) -> Result<Scores> {
        let columns = rows.columns()?;
        let pre = rows.preprocessing;
        if !self.multinomial {
            let mut out = Vec::new();
            let intercept = self.intercept.first().copied().unwrap_or(0.0);
            pre.linear(&columns, &self.coef, intercept, &mut out);
            out.iter_mut().for_each(|z| *z = sigmoid(*z));
            return Ok(Scores::Values(out));
        }
        let m = pre.transform(&columns);
        let k = self.intercept.len();
        let mut proba = vec![0.0; m.rows * k];
        for i in 0..m.rows {
            softmax_row(
                m.row(i),
                &self.coef,
                &self.intercept,
                &mut proba[i * k..(i + 1) * k],
            );
        }
        Ok(Scores::Classes(proba, k))
    }

    fn contributions(
        &self,
        m: &Matrix,
        reference: &[f64],
        base: &mut Vec<f64>,
        per_column: &mut [f64],
    ) -> Result<()> {
        let cols = m.cols;
        let classes = self.intercept.len();
        for i in 0..m.rows {
            let x = m.row(i);
            // Binary: the single row scores the positive class.
            // Multinomial: explain the predicted (largest) logit.
            let k = if classes == 1 {
                0
            } else {
                (0..classes)
                    .map(|k| {
                        (
                            k,
                            self.intercept[k] + dot(&self.coef[k * cols..(k + 1) * cols], x),
                        )
                    })
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map_or(0, |(k, _)| k)
            };
            let w = &self.coef[k * cols..(k + 1) * cols];
            contributions_at(x, w, reference, &mut per_column[i * cols..(i + 1) * cols]);
            base.push(self.intercept[k] + dot(w, reference));
        }
        Ok(())
    }

    fn keeps_column_means(&self) -> bool {
        true
    }
}
