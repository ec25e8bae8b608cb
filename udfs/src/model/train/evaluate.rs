//! Phase 5: the fitted model measured through the same code `ml_predict`
//! uses, on the hold-out rows (or the training rows when there are none),
//! then its global importance and the training profile it keeps.
//!
//! | task           | metrics                                                   |
//! |----------------|-----------------------------------------------------------|
//! | binary         | accuracy, precision, recall, f1 (at p ≥ 0.5), roc_auc, log_loss |
//! | more classes   | accuracy, macro precision, recall and f1, one-vs-rest roc_auc, log_loss |
//! | regression     | rmse, mae, r2                                             |
//! | anomaly        | mean_score, outlier_fraction (score > 0.5, scikit-learn's cut), roc_auc against known anomalies |
//! | clustering     | what the model measures itself (k-means: inertia, silhouette) |
//!
//! Global importance is the mean |contribution| of each feature over at most
//! [`IMPORTANCE_SAMPLE`] evaluation rows, from the explanations `ml_explain`
//! gives. The profile summarizes every feature and the predictions on the
//! training rows, for drift checks without the training data.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use serde_json::{Value as Json, json};

use super::fit::Training;
use super::take_rows;
use crate::error::SqlStateError;
use crate::kernels::metrics;
use crate::kernels::parallel::{par_map, par_ranges};
use crate::model::artifact::{Extra, LoadedModel};
use crate::model::profile;
use crate::model::schema::{Feature, Result, Task, Values};

/// Evaluation rows explained to measure each feature's mean |contribution|.
const IMPORTANCE_SAMPLE: usize = 500;

/// Metrics of `model` on `rows` (given as `inputs`, their feature columns),
/// added to `out`; returns the predictions the profile uses (the positive
/// class probability of a binary classifier, else `ml_predict`'s output)
/// when the task has them.
pub(super) fn metrics(
    model: &LoadedModel,
    training: &Training<'_>,
    rows: &[usize],
    inputs: &[ArrayRef],
    anomaly_truth: Option<&[Option<bool>]>,
    out: &mut BTreeMap<String, f64>,
) -> Result<Option<ArrayRef>> {
    let threads = training.ctx.threads;
    let class_count = training.class_count;
    match training.task {
        Task::Classification => {
            let truth: Vec<usize> = rows
                .iter()
                .map(|&i| training.class_of.and_then(|c| c[i]).unwrap_or(0))
                .collect();
            let proba = in_parallel(inputs, threads, |i| model.predict_proba(i))?;
            if class_count == 2 {
                let p = proba.as_primitive::<Float64Type>();
                let p: Vec<f64> = (0..p.len())
                    .map(|i| if p.is_valid(i) { p.value(i) } else { 0.5 })
                    .collect();
                let y: Vec<bool> = truth.iter().map(|&c| c == 1).collect();
                let predicted: Vec<bool> = p.iter().map(|&v| v >= 0.5).collect();
                scores(out, metrics::binary_scores(&y, &predicted));
                // Undefined on these rows: NULL in the reported metrics
                // (NaN serialises as null), not scikit-learn's 0.0 by
                // convention, which reads as a measured failure.
                let positives = y.iter().filter(|&&v| v).count();
                if positives == 0 {
                    out.insert("recall".into(), f64::NAN);
                    out.insert("f1".into(), f64::NAN);
                }
                if !predicted.iter().any(|&v| v) {
                    out.insert("precision".into(), f64::NAN);
                }
                match metrics::roc_auc(&y, &p) {
                    Some(auc) => out.insert("roc_auc".into(), auc),
                    None => out.insert("roc_auc".into(), f64::NAN),
                };
                if let Some(ll) = metrics::log_loss(&y, &p) {
                    out.insert("log_loss".into(), ll);
                }
                return Ok(Some(proba));
            }
            let list = proba.as_list::<i32>();
            let probs: Vec<f64> = list
                .values()
                .as_primitive::<Float64Type>()
                .values()
                .to_vec();
            let predicted: Vec<usize> = probs
                .chunks(class_count)
                .map(|r| {
                    r.iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map_or(0, |(i, _)| i)
                })
                .collect();
            scores(
                out,
                metrics::multiclass_scores(&truth, &predicted, class_count),
            );
            if let Some(auc) = metrics::multiclass_roc_auc(&truth, &probs, class_count) {
                out.insert("roc_auc".into(), auc);
            }
            if let Some(ll) = metrics::multiclass_log_loss(&truth, &probs, class_count) {
                out.insert("log_loss".into(), ll);
            }
            Ok(None)
        }
        Task::Regression => {
            let y = training.numbers.unwrap_or(&[]);
            let truth: Vec<f64> = rows.iter().map(|&i| y[i]).collect();
            let predictions = in_parallel(inputs, threads, |i| model.predict(i))?;
            let pred = predictions.as_primitive::<Float64Type>();
            let pred: Vec<f64> = (0..pred.len())
                .map(|i| {
                    if pred.is_valid(i) {
                        pred.value(i)
                    } else {
                        f64::NAN
                    }
                })
                .collect();
            let (rmse, mae, r2) = metrics::regression_scores(&truth, &pred);
            out.insert("rmse".into(), rmse);
            out.insert("mae".into(), mae);
            out.insert("r2".into(), r2);
            Ok(Some(predictions))
        }
        Task::Anomaly => {
            let predictions = in_parallel(inputs, threads, |i| model.predict(i))?;
            let scores: Vec<f64> = predictions.as_primitive::<Float64Type>().values().to_vec();
            let total = scores.len().max(1) as f64;
            out.insert("mean_score".into(), scores.iter().sum::<f64>() / total);
            // scikit-learn's default (contamination 'auto') flags score > 0.5.
            out.insert(
                "outlier_fraction".into(),
                scores.iter().filter(|&&s| s > 0.5).count() as f64 / total,
            );
            if let Some(truth) = anomaly_truth {
                let (y, p): (Vec<bool>, Vec<f64>) = rows
                    .iter()
                    .zip(&scores)
                    .filter_map(|(&i, &s)| truth[i].map(|t| (t, s)))
                    .unzip();
                if let Some(auc) = metrics::roc_auc(&y, &p) {
                    out.insert("roc_auc".into(), auc);
                }
            }
            Ok(Some(predictions))
        }
        Task::Clustering => {
            if let Some(m) = &training.matrix {
                model
                    .envelope
                    .payload
                    .fitted()
                    .unsupervised_metrics(&m.select_rows(rows), out);
            }
            Ok(None)
        }
    }
}

/// Bootstrap resamples behind the recorded intervals: `ml_evaluate`'s
/// default of 1000, fewer on large hold-outs so the resamples visit at most
/// [`RESAMPLED_ROWS`] rows in all (never fewer than [`MIN_RESAMPLES`]):
/// a percentile interval of a metric over 80 000 rows barely moves between
/// 250 and 1000 resamples, and training should not pay seconds for it.
const RESAMPLES: usize = 1000;
const RESAMPLED_ROWS: usize = 20_000_000;
const MIN_RESAMPLES: usize = 200;
/// Their confidence level.
const LEVEL: f64 = 0.95;

/// The evaluation metrics with 95% percentile-bootstrap intervals, as
/// `ml_evaluate` computes them (its metrics and definitions, 1000
/// resamples, the run's seed), for the version's card: `None` for tasks
/// without labels to measure against.
pub(super) fn intervals(
    model: &LoadedModel,
    training: &Training<'_>,
    rows: &[usize],
    inputs: &[ArrayRef],
    predictions: Option<&ArrayRef>,
    seed: u64,
) -> Result<Option<Json>> {
    use crate::kernels::bootstrap::{Kind, Prepared, interval, resampled};
    let floats = |a: &ArrayRef| -> Vec<f64> {
        let a = a.as_primitive::<Float64Type>();
        (0..a.len())
            .map(|i| if a.is_valid(i) { a.value(i) } else { f64::NAN })
            .collect()
    };
    let prepared = match (
        training.task,
        training.class_of,
        training.numbers,
        predictions,
    ) {
        (Task::Classification, Some(class_of), _, Some(p)) if training.class_count == 2 => {
            let score: Vec<f64> = floats(p)
                .into_iter()
                .map(|v| if v.is_nan() { 0.5 } else { v })
                .collect();
            let y: Vec<f64> = rows
                .iter()
                .map(|&i| if class_of[i] == Some(1) { 1.0 } else { 0.0 })
                .collect();
            let predicted = score
                .iter()
                .map(|&v| f64::from(u8::from(v >= 0.5)))
                .collect();
            Prepared::new(Kind::Binary, y, predicted, score)
        }
        (Task::Classification, Some(class_of), _, _) => {
            let predicted = model.predict_classes(inputs)?;
            let right: Vec<f64> = rows
                .iter()
                .zip(&predicted)
                .map(|(&i, p)| f64::from(u8::from(class_of[i].is_some() && class_of[i] == *p)))
                .collect();
            let ones = vec![1.0; right.len()];
            Prepared::new(Kind::Multiclass, right, ones, Vec::new())
        }
        (Task::Regression, _, Some(numbers), Some(p)) => {
            let y: Vec<f64> = rows.iter().map(|&i| numbers[i]).collect();
            Prepared::new(Kind::Regression, y, floats(p), Vec::new())
        }
        _ => return Ok(None),
    };
    if prepared.rows() == 0 {
        return Ok(None);
    }
    let kind = prepared.kind();
    let point = prepared.metrics(None);
    let resamples = (RESAMPLED_ROWS / prepared.rows()).clamp(MIN_RESAMPLES, RESAMPLES);
    let draws = resampled(
        &[&prepared],
        resamples,
        seed,
        training.ctx.threads,
        &crate::control::Stop::new(None),
    )?;
    let mut metrics = serde_json::Map::new();
    for (m, name) in kind.metrics().iter().enumerate() {
        let values: Vec<f64> = draws.iter().map(|d| d[0][m]).collect();
        let (lower, upper) = interval(&values, LEVEL);
        let finite = |v: f64| v.is_finite().then_some(v);
        metrics.insert(
            (*name).to_string(),
            json!({"value": finite(point[m]), "ci_lower": finite(lower), "ci_upper": finite(upper)}),
        );
    }
    Ok(Some(json!({
        "level": LEVEL,
        "resamples": resamples,
        "rows": rows.len(),
        "metrics": metrics,
    })))
}

fn scores(
    out: &mut BTreeMap<String, f64>,
    (accuracy, precision, recall, f1): (f64, f64, f64, f64),
) {
    out.insert("accuracy".into(), accuracy);
    out.insert("precision".into(), precision);
    out.insert("recall".into(), recall);
    out.insert("f1".into(), f1);
}

/// Keeps in `model` the mean |contribution| of each feature over a sample
/// of `inputs` (the evaluation rows), for models `ml_explain` explains.
pub(super) fn importance(
    model: &mut LoadedModel,
    inputs: &[ArrayRef],
    threads: usize,
) -> Result<()> {
    let rows = inputs.first().map_or(0, |a| a.len());
    if model.explainable().is_err() || rows == 0 {
        return Ok(());
    }
    let step = rows.div_ceil(IMPORTANCE_SAMPLE).max(1);
    let sample: Vec<usize> = (0..rows).step_by(step).collect();
    let sample_inputs: Vec<ArrayRef> = inputs
        .iter()
        .map(|a| take_rows(a, &sample))
        .collect::<Result<_>>()?;
    let chunks: Vec<(usize, usize)> = (0..sample.len())
        .step_by(128)
        .map(|start| (start, (sample.len() - start).min(128)))
        .collect();
    let explained = par_map(&chunks, threads, |&(start, len)| {
        let slice: Vec<ArrayRef> = sample_inputs.iter().map(|a| a.slice(start, len)).collect();
        model.explain(&slice)
    });
    let mut totals = vec![0.0; model.features().len()];
    for part in explained {
        let part = part?;
        for i in 0..part.rows() {
            for (t, c) in totals.iter_mut().zip(part.row(i)) {
                *t += c.abs();
            }
        }
    }
    let n = sample.len();
    model.envelope.extras.push(Extra::MeanAbsContribution {
        values: totals.iter().map(|t| t / n as f64).collect(),
        rows: n,
    });
    Ok(())
}

/// The ROC and lift curves of a binary classifier on the evaluation rows,
/// kept in the profile for the dashboard (`curve::kept_curves`).
pub(super) fn kept_curves(
    training: &Training<'_>,
    rows: &[usize],
    predictions: Option<&ArrayRef>,
) -> Option<Json> {
    if training.task != Task::Classification || training.class_count != 2 {
        return None;
    }
    let p = predictions?.as_primitive_opt::<Float64Type>()?;
    let y: Vec<bool> = rows
        .iter()
        .map(|&i| training.class_of.and_then(|c| c[i]) == Some(1))
        .collect();
    let score: Vec<f64> = (0..p.len())
        .map(|i| if p.is_valid(i) { p.value(i) } else { 0.5 })
        .collect();
    (y.len() == score.len()).then(|| crate::functions::evaluation::curve::kept_curves(&y, &score))
}

/// The training profile: every feature's distribution and the predictions'.
pub(super) fn training_profile(
    features: &[Feature],
    columns: &[Values],
    predictions: &ArrayRef,
    threads: usize,
) -> Json {
    let pairs: Vec<(&Feature, &Values)> = features.iter().zip(columns).collect();
    json!({
        "features": par_map(&pairs, threads, |(f, c)| profile::profile(&f.name, c)),
        "prediction": profile::profile_array("prediction", predictions),
    })
}

/// Scores `inputs` in row chunks on `threads` threads and joins the results.
fn in_parallel(
    inputs: &[ArrayRef],
    threads: usize,
    score: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Sync,
) -> Result<ArrayRef> {
    let n = inputs.first().map_or(0, |a| a.len());
    let parts = par_ranges(n, threads, |range| {
        let slices: Vec<ArrayRef> = inputs
            .iter()
            .map(|a| a.slice(range.start, range.len()))
            .collect();
        score(&slices)
    })
    .into_iter()
    .collect::<Result<Vec<ArrayRef>>>()?;
    if let [one] = &parts[..] {
        return Ok(one.clone());
    }
    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
    datafusion::arrow::compute::concat(&refs).map_err(SqlStateError::internal)
}
