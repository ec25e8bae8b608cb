//! Isolation forests (`isolation_forest`, Liu, Ting and Zhou, "Isolation
//! Forest", ICDM 2008): trees of random splits grown on small row samples;
//! anomalies are isolated in few splits.
//!
//! `ml_predict` is the anomaly score s(x) = 2^(−E[h(x)] / c(ψ)), in (0, 1]:
//! about 0.5 or less for ordinary rows, near 1 for anomalies (scikit-learn's
//! `-score_samples`). A label, when given, marks known anomalies: it is never
//! a feature, and only scores the ranking (ROC AUC). Missing values are
//! filled with the median (numbers) or the mode, since a random threshold
//! has no learned side for them. The trees are `kernels::tree::isolation`.

use super::hyper::{Hyper, Hyperparameters};
use super::{Algorithm, FitInput, FitReport, Fitted, Inputs, Missing, Payload, Rows, Scores};
use crate::kernels::tree::gbdt::Hooks;
use crate::kernels::tree::isolation::{self, IsolationForest, IsolationParams};
use crate::model::schema::{Result, Task};

/// The `isolation_forest` algorithm.
#[derive(Debug)]
pub struct Isolation;

pub const ISOLATION_FOREST: Isolation = Isolation;

const TREES: Hyper = Hyper::count("trees", 1, 100, "isolation trees").at_most(10_000);
const SAMPLE_SIZE: Hyper = Hyper::count(
    "sample_size",
    2,
    256,
    "rows drawn for each tree (ψ); the depth limit is ⌈log2 ψ⌉",
);

impl Algorithm for Isolation {
    fn name(&self) -> &'static str {
        "isolation_forest"
    }

    fn task(&self) -> Option<Task> {
        Some(Task::Anomaly)
    }

    fn options(&self) -> &'static [Hyper] {
        &[TREES, SAMPLE_SIZE]
    }

    fn inputs(&self) -> Inputs {
        Inputs {
            missing: Missing::Median,
            ..Inputs::TREES
        }
    }

    fn check(&self, hyper: &Hyperparameters<'_>) -> Result<()> {
        hyper.check_numbers(self.options())
    }

    fn fit(&self, input: &FitInput<'_>, out: &mut FitReport) -> Result<Payload> {
        let x = input.matrix()?;
        let trees = input.hyper.count(&TREES)?;
        let sample_size = input.hyper.count(&SAMPLE_SIZE)?;
        let progress = |tree: usize| {
            if tree.is_multiple_of(10) || tree == trees {
                (input.ctx.progress)(&format!("isolation_forest: tree {tree} of {trees}"));
            }
        };
        let hooks = Hooks {
            progress: &progress,
            cancelled: input.ctx.cancelled,
        };
        let params = IsolationParams {
            trees,
            sample_size,
            seed: input.seed,
        };
        let model = isolation::fit(&x.data, x.cols, &params, &hooks).ok_or_else(super::canceled)?;
        out.param("trees", trees);
        out.param("sample_size", model.sample_size);
        out.param(
            "depth",
            model.trees.iter().map(|t| t.depth()).max().unwrap_or(0),
        );
        Ok(Payload::Isolation(model))
    }
}

impl Fitted for IsolationForest {
    fn score(&self, rows: &Rows<'_>) -> Result<Scores> {
        let m = rows.matrix()?;
        Ok(Scores::Values(IsolationForest::score(
            self, &m.data, m.cols,
        )))
    }

    fn describe(&self) -> Vec<(&'static str, &'static str, String)> {
        vec![(
            "output",
            "ml_predict",
            format!(
                "anomaly score in (0, 1]: about 0.5 or less for ordinary rows, near 1 for anomalies (mean path length over {} trees of {} rows)",
                self.trees.len(),
                self.sample_size
            ),
        )]
    }
}
