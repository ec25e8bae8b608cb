//! Gradient-boosted trees (`gbdt`), histogram-based and leaf-wise-limited by
//! depth like LightGBM, over the raw (ordinal-encoded) features with missing
//! values routed by each split.
//!
//! | task / objective            | raw score           | `ml_predict_proba` / `ml_predict` |
//! |-----------------------------|---------------------|-----------------------------------|
//! | binary classification       | log-odds            | σ(score)                          |
//! | k classes                   | k scores per row    | softmax                           |
//! | regression `squared`        | the value           | the value                         |
//! | regression `huber[:δ]`      | the value           | the value (robust to outliers)    |
//! | regression `quantile[:α]`   | the α-quantile      | the value                         |
//!
//! `monotone = 'col:1'` (or `-1`) makes the raw score never decrease (never
//! increase) in a numeric, boolean or time feature, exactly. Explanations are
//! TreeSHAP values of the raw score. The boosting itself is
//! `kernels::tree::gbdt`.

use serde_json::json;

use super::hyper::{Hyper, Hyperparameters};
use super::hyper::{list, non_negative, unit_interval};
use super::{Algorithm, FitInput, FitReport, Fitted, Inputs, Payload, Rows, Scores, explain_trees};
use crate::error::{SqlStateError, sqlstate};
use crate::kernels::linalg::Matrix;
use crate::kernels::special::{sigmoid, softmax_in_place};
use crate::kernels::tree::flat;
use crate::kernels::tree::gbdt::{self, Gbdt, GbdtParams, Hooks, Objective};
use crate::kernels::tree::grow::TreeParams;
use crate::kernels::tree::shap::Explainer;
use crate::model::preprocess::Preprocessor;
use crate::model::schema::{Feature, FeatureKind, Result, Task};

/// The `gbdt` algorithm.
#[derive(Debug)]
pub struct GradientBoosting;

pub const GBDT: GradientBoosting = GradientBoosting;

const ROUNDS: Hyper = Hyper::count("rounds", 1, 100, "boosting rounds").at_most(100_000);
const LEARNING_RATE: Hyper = Hyper::unit_interval("learning_rate", 0.1, "shrinkage of each tree");
const MAX_DEPTH: Hyper = Hyper::count("max_depth", 1, 6, "depth of each tree").at_most(64);
const MIN_ROWS_PER_LEAF: Hyper =
    Hyper::count("min_rows_per_leaf", 1, 20, "rows a leaf holds at least");
const L2: Hyper = Hyper::non_negative("l2", 1.0, "penalty on leaf values");
const SUBSAMPLE: Hyper =
    Hyper::unit_interval("subsample", 1.0, "fraction of rows drawn for each round");
const COLSAMPLE: Hyper = Hyper::unit_interval(
    "colsample",
    1.0,
    "fraction of features drawn for each round",
);
const MAX_BINS: Hyper = Hyper::count("max_bins", 2, 255, "histogram bins per feature").at_most(255);
const EARLY_STOPPING: Hyper = Hyper::count(
    "early_stopping",
    0,
    0,
    "stop after this many rounds without improvement on every 10th training row (0: off)",
)
.at_most(100_000);
const MONOTONE: Hyper = Hyper::text(
    "monotone",
    "none",
    "`col:1` (never decreasing) or `col:-1` per numeric feature, e.g. `monthly_fee:-1`; holds exactly",
);
const OBJECTIVE: Hyper = Hyper::text(
    "objective",
    "squared; log-loss for classifiers",
    "`squared`, `huber[:delta]`, `quantile[:alpha]` (regression)",
);

const OPTIONS: &[Hyper] = &[
    ROUNDS,
    LEARNING_RATE,
    MAX_DEPTH,
    MIN_ROWS_PER_LEAF,
    L2,
    SUBSAMPLE,
    COLSAMPLE,
    MAX_BINS,
    EARLY_STOPPING,
    MONOTONE,
    OBJECTIVE,
];

/// The loss a regression tree model minimizes (classifiers use log-loss).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Loss {
    Default,
    Huber(f64),
    Quantile(f64),
}

/// `monotone`: (column, +1 or -1) pairs.
fn monotone(hyper: &Hyperparameters<'_>) -> Result<Vec<(String, i8)>> {
    let Some(spec) = hyper.text(&MONOTONE) else {
        return Ok(vec![]);
    };
    list(spec)
        .into_iter()
        .map(|item| match item.rsplit_once(':') {
            Some((col, "1" | "+1")) => Ok((col.trim().to_string(), 1)),
            Some((col, "-1")) => Ok((col.trim().to_string(), -1)),
            _ => Err(SqlStateError::bad_argument(format!(
                "option monotone: expected column:1 or column:-1, got '{item}'"
            ))),
        })
        .collect()
}

/// `objective`.
fn loss(hyper: &Hyperparameters<'_>) -> Result<Loss> {
    let Some(o) = hyper
        .text(&OBJECTIVE)
        .map(|s| s.trim().to_ascii_lowercase())
    else {
        return Ok(Loss::Default);
    };
    Ok(match o.split_once(':') {
        _ if o == "squared" || o == "logloss" || o == "default" => Loss::Default,
        _ if o == "huber" => Loss::Huber(1.0),
        None if o == "quantile" => Loss::Quantile(0.5),
        Some(("huber", d)) => Loss::Huber(non_negative("objective huber delta", d)?.max(1e-12)),
        Some(("quantile", a)) => {
            Loss::Quantile(unit_interval("objective quantile", a)?.min(1.0 - 1e-9))
        }
        _ => {
            return Err(SqlStateError::bad_argument(format!(
                "option objective must be squared, huber[:delta] or quantile[:alpha], got '{o}'"
            )));
        }
    })
}

impl Algorithm for GradientBoosting {
    fn name(&self) -> &'static str {
        "gbdt"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["gradient_boosting"]
    }

    fn options(&self) -> &'static [Hyper] {
        OPTIONS
    }

    fn inputs(&self) -> Inputs {
        Inputs::TREES
    }

    fn explains(&self) -> bool {
        true
    }

    fn check(&self, hyper: &Hyperparameters<'_>) -> Result<()> {
        monotone(hyper)?;
        loss(hyper)?;
        hyper.check_numbers(OPTIONS)
    }

    fn fit(&self, input: &FitInput<'_>, out: &mut FitReport) -> Result<Payload> {
        let x = input.matrix()?;
        let hyper = &input.hyper;
        let classes = input.class_count;
        let (objective, y): (Objective, Vec<f64>) = match (input.task, loss(hyper)?) {
            (Task::Classification, Loss::Default) if classes == 2 => (
                Objective::Binary,
                input.classes.iter().map(|&c| c as f64).collect(),
            ),
            (Task::Classification, Loss::Default) => (
                Objective::Softmax { classes },
                input.classes.iter().map(|&c| c as f64).collect(),
            ),
            (Task::Regression, Loss::Default) => (Objective::Squared, input.numbers.to_vec()),
            (Task::Regression, Loss::Huber(delta)) => {
                (Objective::Huber { delta }, input.numbers.to_vec())
            }
            (Task::Regression, Loss::Quantile(alpha)) => {
                (Objective::Quantile { alpha }, input.numbers.to_vec())
            }
            (Task::Classification, _) => {
                return Err(SqlStateError::bad_argument(
                    "option objective: huber and quantile are regression objectives; classifiers use log-loss",
                ));
            }
            (Task::Clustering | Task::Anomaly, _) => {
                return Err(SqlStateError::bad_argument("gbdt needs a label"));
            }
        };
        let monotone = monotone_columns(&monotone(hyper)?, input.features, input.preprocessing)?;
        let rounds = hyper.count(&ROUNDS)?;
        let learning_rate = hyper.number(&LEARNING_RATE)?;
        let max_depth = hyper.count(&MAX_DEPTH)?;
        let min_rows_per_leaf = hyper.count(&MIN_ROWS_PER_LEAF)?;
        let l2 = hyper.number(&L2)?;
        let subsample = hyper.number(&SUBSAMPLE)?;
        let colsample = hyper.number(&COLSAMPLE)?;
        let max_bins = hyper.count(&MAX_BINS)?.min(255);
        let early_stopping = hyper.count(&EARLY_STOPPING)?;
        // Early stopping watches every 10th training row, held out from fitting.
        let (fit_rows, valid_rows): (Vec<usize>, Vec<usize>) = if early_stopping > 0 {
            (0..x.rows).partition(|i| i % 10 != 9)
        } else {
            ((0..x.rows).collect(), vec![])
        };
        let w = input.weights;
        let take = |rows: &[usize]| -> (Vec<f64>, Vec<f64>, Vec<f64>) {
            let mut xs = Vec::with_capacity(rows.len() * x.cols);
            for &i in rows {
                xs.extend_from_slice(x.row(i));
            }
            (
                xs,
                rows.iter().map(|&i| y[i]).collect(),
                rows.iter().map(|&i| w[i]).collect(),
            )
        };
        let (fx, fy, fw) = take(&fit_rows);
        let (vx, vy, _) = take(&valid_rows);
        let params = GbdtParams {
            rounds,
            learning_rate,
            tree: TreeParams {
                max_depth,
                min_rows_per_leaf,
                min_hessian: 1e-3,
                l2,
                monotone,
                threads: input.ctx.threads,
                split_features: 0,
                seed: input.seed,
            },
            subsample,
            colsample,
            max_bins,
            early_stopping,
            seed: input.seed,
        };
        let progress = |round: usize| {
            if round.is_multiple_of(10) || round == rounds {
                (input.ctx.progress)(&format!("gbdt: round {round} of {rounds}"));
            }
        };
        let hooks = Hooks {
            progress: &progress,
            cancelled: input.ctx.cancelled,
        };
        let valid = (!valid_rows.is_empty()).then_some((vx.as_slice(), vy.as_slice()));
        let model = gbdt::fit(&fx, x.cols, &fy, &fw, valid, objective, &params, &hooks)
            .ok_or_else(super::canceled)?;
        for (k, v) in [
            ("rounds", json!(rounds)),
            ("learning_rate", json!(learning_rate)),
            ("max_depth", json!(max_depth)),
            ("min_rows_per_leaf", json!(min_rows_per_leaf)),
            ("l2", json!(l2)),
            ("subsample", json!(subsample)),
            ("colsample", json!(colsample)),
            ("max_bins", json!(max_bins)),
            ("trees", json!(model.trees.len())),
        ] {
            out.param(k, v);
        }
        if let Some(best) = model.best_round {
            out.param("best_round", best);
        }
        Ok(Payload::Gbdt(model))
    }
}

/// The `monotone` constraints as one sign per matrix column; only numeric,
/// boolean and time features (one column each) can be constrained.
fn monotone_columns(
    constraints: &[(String, i8)],
    features: &[Feature],
    pre: &Preprocessor,
) -> Result<Vec<i8>> {
    if constraints.is_empty() {
        return Ok(vec![]);
    }
    let mut out = vec![0i8; pre.width()];
    for (column, sign) in constraints {
        let Some(i) = features
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(column))
        else {
            return Err(SqlStateError::new(
                sqlstate::UNDEFINED_COLUMN,
                format!("option monotone: \"{column}\" is not a feature of the model"),
            ));
        };
        if features[i].kind == FeatureKind::Categorical {
            return Err(SqlStateError::bad_argument(format!(
                "option monotone: \"{column}\" is a text column; monotone constraints need a numeric, boolean or time feature"
            )));
        }
        let offset: usize = pre.steps[..i].iter().map(|s| s.width()).sum();
        out[offset] = *sign;
    }
    Ok(out)
}

impl Fitted for Gbdt {
    fn score(&self, rows: &Rows<'_>) -> Result<Scores> {
        let m = rows.matrix()?;
        let raw = self.raw(&m.data, m.cols);
        Ok(match self.objective {
            Objective::Binary => Scores::Values(raw.into_iter().map(sigmoid).collect()),
            Objective::Softmax { classes } => {
                let mut proba = raw;
                proba.chunks_mut(classes).for_each(softmax_in_place);
                Scores::Classes(proba, classes)
            }
            _ => Scores::Values(raw),
        })
    }

    fn contributions(
        &self,
        m: &Matrix,
        _reference: &[f64],
        base: &mut Vec<f64>,
        per_column: &mut [f64],
    ) -> Result<()> {
        explain_trees(Explainer::gbdt(self), m, base, per_column);
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
    fn defaults_follow_the_spec_and_values_parse() {
        let o = opts(&[
            ("algorithm", "gbdt"),
            ("monotone", "fee:-1, age:1"),
            ("objective", "quantile:0.9"),
        ])
        .expect("valid");
        assert_eq!(
            (
                o.hyper().count(&ROUNDS).expect("rounds"),
                o.hyper().count(&MAX_DEPTH).expect("depth"),
                o.hyper().count(&MIN_ROWS_PER_LEAF).expect("leaf"),
                o.hyper().count(&MAX_BINS).expect("bins")
            ),
            (100, 6, 20, 255)
        );
        assert_eq!(
            monotone(&o.hyper()).expect("monotone"),
            vec![("fee".to_string(), -1), ("age".to_string(), 1)]
        );
        assert_eq!(loss(&o.hyper()).expect("objective"), Loss::Quantile(0.9));
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(opts(&[("algorithm", "gbdt"), ("learning_rate", "0")]).is_err());
        assert!(opts(&[("algorithm", "gbdt"), ("monotone", "x:2")]).is_err());
        assert!(opts(&[("algorithm", "gbdt"), ("objective", "poisson")]).is_err());
        assert!(opts(&[("algorithm", "gbdt"), ("task", "anomaly")]).is_err());
    }
}
