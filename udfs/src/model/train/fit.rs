//! Phase 3: the preprocessing, fitted on the training rows only, and the one
//! way every model of a run is fitted (a cross-validation fold, a search
//! candidate, the final model): the algorithm's own `fit` on the rows it is
//! given (`model::algorithms`).
//!
//! | weight of a training row | from |
//! |--------------------------|------|
//! | its `weight` column value | or 1 |
//! | × n / (classes × rows of its class) | `class_weight = 'balanced'`, scikit-learn's rule, counted on the training rows |
//! | × P(group)·P(class) / P(group, class) | `reweigh = '<column>'`, Kamiran–Calders, counted (weighted) on the training rows (`fairness`) |

use std::collections::BTreeMap;

use datafusion::arrow::array::ArrayRef;
use serde_json::{Value as Json, json};

use super::TrainContext;
use super::columns::Columns;
use super::fairness::Reweighing;
use super::split::Rows;
use crate::kernels::linalg::Matrix;
use crate::model::algorithms::{FitInput, FitReport, Payload};
use crate::model::artifact::{Envelope, Extra, FORMAT_VERSION};
use crate::model::options::TrainOptions;
use crate::model::preprocess::Preprocessor;
use crate::model::schema::{Feature, Label, Result, Task, Values, values};

/// What every fit of a run shares.
pub(super) struct Training<'a> {
    pub task: Task,
    pub features: &'a [Feature],
    pub label: Option<&'a Label>,
    /// The feature columns of every row, as queried.
    pub inputs: &'a [ArrayRef],
    /// The feature values of every row.
    pub values: Vec<Values>,
    pub preprocessing: Preprocessor,
    /// Every row preprocessed, for algorithms that learn from a matrix.
    pub matrix: Option<Matrix>,
    pub class_of: Option<&'a [Option<usize>]>,
    pub class_count: usize,
    pub numbers: Option<&'a [f64]>,
    /// Every row's training weight.
    pub weights: Vec<f64>,
    /// With `reweigh`: its factors, and the weights without them (for the
    /// model it is compared with).
    pub reweighing: Option<(Reweighing, Vec<f64>)>,
    pub ctx: &'a TrainContext<'a>,
}

impl<'a> Training<'a> {
    /// Reads the feature values and fits the preprocessing on the training rows.
    pub fn prepare(
        columns: &'a Columns,
        rows: &Rows,
        options: &TrainOptions,
        ctx: &'a TrainContext<'a>,
    ) -> Result<Training<'a>> {
        let features = &columns.features;
        let values = features
            .iter()
            .zip(&columns.inputs)
            .map(|(f, a)| values(&f.name, a, f.kind))
            .collect::<Result<Vec<_>>>()?;
        // Target encoding learns from the label: numbers, or 1 for the
        // positive class of a binary label.
        let binary: Option<Vec<f64>> = match (&columns.class_of, &columns.label) {
            (Some(c), Some(l)) if l.classes.len() == 2 => Some(
                c.iter()
                    .map(|v| if *v == Some(1) { 1.0 } else { 0.0 })
                    .collect(),
            ),
            _ => None,
        };
        let target = columns.numbers.as_deref().or(binary.as_deref());
        let plans = features
            .iter()
            .map(|f| options.column_plan(&f.name, f.kind))
            .collect::<Result<Vec<_>>>()?;
        let preprocessing = if options.uses_matrix() {
            Preprocessor::fit(features, &values, &plans, &rows.train, target)?
        } else {
            Preprocessor { steps: vec![] }
        };
        let mut matrix = options
            .uses_matrix()
            .then(|| preprocessing.transform(&values));
        // The rows a model learns from never see their own label.
        if let (Some(m), Some(y)) = (matrix.as_mut(), target) {
            preprocessing.encode_targets_out_of_fold(&values, &rows.train, y, options.seed, m);
        }
        let class_count = columns.class_count();
        let mut weights = columns.weights.clone();
        if options.balanced && columns.task == Task::Classification {
            let class_of = |i: usize| columns.class_of.as_ref().and_then(|c| c[i]);
            let mut counts = vec![0usize; class_count];
            for &i in &rows.train {
                if let Some(c) = class_of(i) {
                    counts[c] += 1;
                }
            }
            for &i in &rows.train {
                if let Some(c) = class_of(i) {
                    // scikit-learn's "balanced" from class counts, times any sample weight.
                    weights[i] *=
                        rows.train.len() as f64 / (class_count as f64 * counts[c].max(1) as f64);
                }
            }
        }
        let reweighing = match (&columns.groups, &columns.class_of) {
            (Some(groups), Some(class_of)) => {
                let reweighing = Reweighing::fit(groups, class_of, &rows.train, &weights);
                let unmitigated = weights.clone();
                for &i in &rows.train {
                    weights[i] *= reweighing.factor(&groups[i], class_of[i]);
                }
                Some((reweighing, unmitigated))
            }
            _ => None,
        };
        Ok(Training {
            task: columns.task,
            features,
            label: columns.label.as_ref(),
            inputs: &columns.inputs,
            values,
            preprocessing,
            matrix,
            class_of: columns.class_of.as_deref(),
            class_count,
            numbers: columns.numbers.as_deref(),
            weights,
            reweighing,
            ctx,
        })
    }

    /// Fits `options.algorithm` on `rows`.
    pub fn fit(
        &self,
        options: &TrainOptions,
        rows: &[usize],
        report: &mut FitReport,
    ) -> Result<Payload> {
        self.fit_weighted(options, rows, &self.weights, report)
    }

    /// Fits `options.algorithm` on `rows` with the given row weights.
    pub fn fit_weighted(
        &self,
        options: &TrainOptions,
        rows: &[usize],
        all_weights: &[f64],
        report: &mut FitReport,
    ) -> Result<Payload> {
        let x = self.matrix.as_ref().map(|m| m.select_rows(rows));
        let classes: Vec<usize> = rows
            .iter()
            .map(|&i| self.class_of.and_then(|c| c[i]).unwrap_or(0))
            .collect();
        let numbers: Vec<f64> = match self.numbers {
            Some(y) => rows.iter().map(|&i| y[i]).collect(),
            None => Vec::new(),
        };
        let weights: Vec<f64> = rows.iter().map(|&i| all_weights[i]).collect();
        let input = FitInput {
            hyper: options.hyper(),
            seed: options.seed,
            task: self.task,
            features: self.features,
            preprocessing: &self.preprocessing,
            x: x.as_ref(),
            classes: &classes,
            class_count: self.class_count,
            numbers: &numbers,
            weights: &weights,
            ctx: self.ctx,
        };
        options.algorithm.fit(&input, report)
    }

    /// The envelope of a model of this run.
    pub fn envelope(
        &self,
        options: &TrainOptions,
        payload: Payload,
        extras: Vec<Extra>,
    ) -> Envelope {
        Envelope {
            format_version: FORMAT_VERSION,
            kind: options.algorithm.name().into(),
            library: "quarry-udfs".into(),
            library_version: env!("CARGO_PKG_VERSION").into(),
            task: self.task,
            features: self.features.to_vec(),
            label: self.label.cloned(),
            preprocessing: self.preprocessing.clone(),
            payload,
            extras,
        }
    }
}

/// The params a version records: what was asked, then what the fit chose.
pub(super) fn base_params(
    options: &TrainOptions,
    task: Task,
    split: &str,
) -> BTreeMap<String, Json> {
    let mut params = BTreeMap::new();
    params.insert("algorithm".into(), json!(options.algorithm.name()));
    params.insert("task".into(), json!(task.name()));
    params.insert("split".into(), json!(split));
    params.insert("seed".into(), json!(options.seed));
    for (k, v) in &options.given {
        params.entry(k.clone()).or_insert_with(|| json!(v));
    }
    params
}
