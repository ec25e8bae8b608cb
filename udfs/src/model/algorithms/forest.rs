//! Trees grown to purity: a single `decision_tree` (CART), or a
//! `random_forest` of bootstrapped trees that each try a random subset of
//! the features at every split, as scikit-learn's `DecisionTree*` and
//! `RandomForest*` estimators.
//!
//! | task           | a tree's leaf holds              | prediction                    |
//! |----------------|----------------------------------|-------------------------------|
//! | binary         | the positive-class frequency     | mean over trees (a probability) |
//! | k classes      | the k class frequencies          | mean over trees, normalized   |
//! | regression     | the mean label                   | mean over trees               |
//!
//! A forest reports scikit-learn's out-of-bag score (`oob_score`: accuracy
//! or R² over the rows some tree left out; `oob_roc_auc` for binary labels).
//! Explanations are TreeSHAP values of the prediction (of the predicted
//! class's frequency for k classes). The trees are `kernels::tree::forest`.

use std::collections::BTreeMap;

use super::hyper::unit_interval;
use super::hyper::{Hyper, Hyperparameters};
use super::{Algorithm, FitInput, FitReport, Fitted, Inputs, Payload, Rows, Scores, explain_trees};
use crate::error::SqlStateError;
use crate::kernels::linalg::Matrix;
use crate::kernels::metrics;
use crate::kernels::tree::flat;
use crate::kernels::tree::forest::{self, Forest, ForestParams, OutOfBag};
use crate::kernels::tree::gbdt::Hooks;
use crate::kernels::tree::grow::TreeParams;
use crate::kernels::tree::shap::Explainer;
use crate::model::schema::{Result, Task};

/// `decision_tree` or `random_forest`.
#[derive(Debug)]
pub struct Trees {
    forest: bool,
}

pub const DECISION_TREE: Trees = Trees { forest: false };
pub const RANDOM_FOREST: Trees = Trees { forest: true };

const TREES: Hyper = Hyper::count("trees", 1, 100, "trees of the forest").at_most(10_000);
const MAX_DEPTH: Hyper = Hyper::unlimited("max_depth", 1, "depth of each tree").at_most(1_000);
const MIN_ROWS_PER_LEAF: Hyper =
    Hyper::count("min_rows_per_leaf", 1, 1, "rows a leaf holds at least");
const COLSAMPLE: Hyper = Hyper::text(
    "colsample",
    "sqrt",
    "features tried per split: `sqrt`, `log2` or a fraction in (0, 1]",
);
const MAX_BINS: Hyper = Hyper::count("max_bins", 2, 255, "histogram bins per feature").at_most(255);

/// How many features a random forest tries at each split.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SplitFeatures {
    Sqrt,
    Log2,
    Fraction(f64),
}

impl SplitFeatures {
    /// The count for `n` features (at least 1).
    fn count(self, n: usize) -> usize {
        let k = match self {
            SplitFeatures::Sqrt => (n as f64).sqrt(),
            SplitFeatures::Log2 => (n as f64).log2(),
            SplitFeatures::Fraction(f) => n as f64 * f,
        };
        (k.floor() as usize).clamp(1, n.max(1))
    }
}

fn split_features(hyper: &Hyperparameters<'_>) -> Result<SplitFeatures> {
    Ok(
        match hyper
            .text(&COLSAMPLE)
            .map(|s| s.trim().to_ascii_lowercase())
        {
            None => SplitFeatures::Sqrt,
            Some(s) if s == "sqrt" => SplitFeatures::Sqrt,
            Some(s) if s == "log2" => SplitFeatures::Log2,
            Some(s) => SplitFeatures::Fraction(unit_interval("colsample", &s)?),
        },
    )
}

impl Algorithm for Trees {
    fn name(&self) -> &'static str {
        if self.forest {
            "random_forest"
        } else {
            "decision_tree"
        }
    }

    fn options(&self) -> &'static [Hyper] {
        if self.forest {
            &[COLSAMPLE, MAX_DEPTH, MIN_ROWS_PER_LEAF, MAX_BINS, TREES]
        } else {
            &[MAX_DEPTH, MIN_ROWS_PER_LEAF, MAX_BINS]
        }
    }

    fn inputs(&self) -> Inputs {
        Inputs::TREES
    }

    fn explains(&self) -> bool {
        true
    }

    fn check(&self, hyper: &Hyperparameters<'_>) -> Result<()> {
        if self.forest {
            split_features(hyper)?;
        }
        hyper.check_numbers(self.options())
    }

    fn fit(&self, input: &FitInput<'_>, out: &mut FitReport) -> Result<Payload> {
        let x = input.matrix()?;
        let hyper = &input.hyper;
        let targets: Vec<Vec<f64>> = match input.task {
            Task::Regression => vec![input.numbers.to_vec()],
            Task::Classification => {
                let indicator = |k: usize| {
                    input
                        .classes
                        .iter()
                        .map(|&c| if c == k { 1.0 } else { 0.0 })
                        .collect()
                };
                if input.class_count == 2 {
                    vec![indicator(1)]
                } else {
                    (0..input.class_count).map(indicator).collect()
                }
            }
            Task::Clustering | Task::Anomaly => {
                return Err(SqlStateError::bad_argument(format!(
                    "{} needs a label",
                    self.name()
                )));
            }
        };
        let trees = if self.forest { hyper.count(&TREES)? } else { 1 };
        let split_features = if self.forest {
            split_features(hyper)?.count(x.cols)
        } else {
            0
        };
        let max_depth = hyper.count(&MAX_DEPTH)?;
        let min_rows_per_leaf = hyper.count(&MIN_ROWS_PER_LEAF)?;
        let params = ForestParams {
            trees,
            tree: TreeParams {
                max_depth,
                min_rows_per_leaf,
                min_hessian: 0.0,
                l2: 0.0,
                monotone: vec![],
                threads: input.ctx.threads,
                split_features,
                seed: input.seed,
            },
            bootstrap: self.forest,
            max_bins: hyper.count(&MAX_BINS)?.min(255),
            seed: input.seed,
        };
        let name = self.name();
        let progress = |tree: usize| {
            if tree.is_multiple_of(10) || tree == trees {
                (input.ctx.progress)(&format!("{name}: tree {tree} of {trees}"));
            }
        };
        let hooks = Hooks {
            progress: &progress,
            cancelled: input.ctx.cancelled,
        };
        let (model, oob) = forest::fit(&x.data, x.cols, &targets, input.weights, &params, &hooks)
            .ok_or_else(super::canceled)?;
        out.param("trees", trees);
        out.param(
            "max_depth",
            if max_depth == usize::MAX {
                serde_json::json!("none")
            } else {
                serde_json::json!(max_depth)
            },
        );
        out.param("min_rows_per_leaf", min_rows_per_leaf);
        if self.forest {
            out.param("split_features", split_features);
        }
        if let Some(oob) = &oob {
            out_of_bag_metrics(input.task, &targets, oob, &mut out.metrics);
        }
        out.param(
            "depth",
            model.trees.iter().map(|t| t.depth()).max().unwrap_or(0),
        );
        Ok(Payload::Forest(model))
    }
}

/// scikit-learn's `oob_score_` (accuracy for classifiers, R² for
/// regressors) over the rows some tree left out, plus the out-of-bag ROC AUC
/// of a binary classifier.
fn out_of_bag_metrics(
    task: Task,
    targets: &[Vec<f64>],
    oob: &OutOfBag,
    out: &mut BTreeMap<String, f64>,
) {
    let outputs = targets.len();
    let n = targets.first().map_or(0, Vec::len);
    let rows: Vec<(usize, Vec<f64>)> = (0..n)
        .filter_map(|i| oob.mean(i, outputs).map(|m| (i, m)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let argmax = |v: &[f64]| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i)
    };
    match task {
        Task::Classification if outputs == 1 => {
            let y: Vec<bool> = rows.iter().map(|(i, _)| targets[0][*i] > 0.5).collect();
            let p: Vec<f64> = rows.iter().map(|(_, m)| m[0]).collect();
            let correct = y.iter().zip(&p).filter(|(y, p)| **y == (**p > 0.5)).count();
            out.insert("oob_score".into(), correct as f64 / y.len() as f64);
            if let Some(auc) = metrics::roc_auc(&y, &p) {
                out.insert("oob_roc_auc".into(), auc);
            }
        }
        Task::Classification => {
            let correct = rows
                .iter()
                .filter(|(i, m)| {
                    let truth: Vec<f64> = targets.iter().map(|t| t[*i]).collect();
                    argmax(m) == argmax(&truth)
                })
                .count();
            out.insert("oob_score".into(), correct as f64 / rows.len() as f64);
        }
        Task::Regression => {
            let truth: Vec<f64> = rows.iter().map(|(i, _)| targets[0][*i]).collect();
            let pred: Vec<f64> = rows.iter().map(|(_, m)| m[0]).collect();
            let (_, _, r2) = metrics::regression_scores(&truth, &pred);
            out.insert("oob_score".into(), r2);
        }
        Task::Clustering | Task::Anomaly => {}
    }
    out.insert("oob_rows".into(), rows.len() as f64);
}

impl Fitted for Forest {
    fn score(&self, rows: &Rows<'_>) -> Result<Scores> {
        let m = rows.matrix()?;
        let out = self.predict(&m.data, m.cols);
        if self.outputs <= 1 {
            return Ok(Scores::Values(out));
        }
        let k = self.outputs;
        let mut proba = out;
        for row in proba.chunks_mut(k) {
            let sum: f64 = row.iter().sum();
            if sum > 0.0 {
                row.iter_mut().for_each(|v| *v /= sum);
            }
        }
        Ok(Scores::Classes(proba, k))
    }

    fn contributions(
        &self,
        m: &Matrix,
        _reference: &[f64],
        base: &mut Vec<f64>,
        per_column: &mut [f64],
    ) -> Result<()> {
        explain_trees(Explainer::forest(self), m, base, per_column);
        Ok(())
    }

    fn split_importance(&self, width: usize) -> Option<Vec<(f64, usize)>> {
        Some(flat::importance(&self.trees, width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::options::TrainOptions;

    fn opts(pairs: &[(&str, &str)]) -> Result<TrainOptions> {
        TrainOptions::of(pairs)
    }

    #[test]
    fn forests_default_to_full_trees_and_sqrt_features() {
        let o = opts(&[("algorithm", "random_forest")]).expect("valid");
        assert_eq!(
            (
                o.hyper().count(&TREES).expect("trees"),
                o.hyper().count(&MAX_DEPTH).expect("depth"),
                o.hyper().count(&MIN_ROWS_PER_LEAF).expect("leaf")
            ),
            (100, usize::MAX, 1)
        );
        assert_eq!(split_features(&o.hyper()).expect("sqrt").count(25), 5);
        let o = opts(&[("algorithm", "random_forest"), ("colsample", "0.5")]).expect("valid");
        assert_eq!(split_features(&o.hyper()).expect("half").count(25), 12);
        assert!(opts(&[("algorithm", "decision_tree"), ("trees", "5")]).is_err());
        assert!(
            opts(&[("algorithm", "random_forest"), ("colsample", "x")])
                .is_err_and(|e| e.message.contains("option colsample must be a number"))
        );
    }
}
