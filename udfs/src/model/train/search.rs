//! Phase 4 (with `cv` or `search`): cross-validation of each candidate
//! option set on the training rows, and the choice of the best. Each fold's
//! model is fitted like the final one (`fit`) and scored through the same
//! code `ml_predict` uses; the best mean score wins, ties to the earlier
//! candidate, and is then fitted on all the training rows.
//!
//! | label            | score        | better |
//! |------------------|--------------|--------|
//! | binary           | ROC AUC      | higher |
//! | more classes     | accuracy     | higher |
//! | numbers          | RMSE         | lower  |
//!
//! Preprocessing is fitted once on the training split, not per fold. Every
//! fold's score is recorded in the version's params (`cv`), and the choice
//! in `selected`.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use serde_json::{Value as Json, json};

use super::columns::unknown_column;
use super::fit::Training;
use super::split::{cv_folds, time_of};
use super::{cancelled, take_rows};
use crate::error::SqlStateError;
use crate::kernels::metrics;
use crate::model::algorithms::FitReport;
use crate::model::artifact::LoadedModel;
use crate::model::options::{Cv, TrainOptions};
use crate::model::schema::{Result, Task};

/// The options to fit the final model with: the best candidate of a search
/// (`None` without `cv` or `search`). Records the folds in `params` and the
/// best mean score in `metrics` (`cv_<metric>`).
pub(super) fn select(
    training: &Training<'_>,
    data: &RecordBatch,
    options: &TrainOptions,
    train_rows: &[usize],
    params: &mut BTreeMap<String, Json>,
    metrics: &mut BTreeMap<String, f64>,
) -> Result<Option<TrainOptions>> {
    if options.search.is_none() && options.cv.is_none() {
        return Ok(None);
    }
    let ctx = training.ctx;
    let time = match &options.cv {
        Some(Cv::Time { column: c, .. }) => {
            let schema = data.schema();
            let i = schema
                .index_of(c)
                .ok()
                .or_else(|| {
                    schema
                        .fields()
                        .iter()
                        .position(|f| f.name().eq_ignore_ascii_case(c))
                })
                .ok_or_else(|| unknown_column(c, "cv time", &schema))?;
            Some(time_of(schema.field(i).name(), data.column(i))?)
        }
        _ => None,
    };
    let folds = cv_folds(
        options.cv.as_ref().unwrap_or(&Cv::Folds(3)),
        train_rows,
        training.class_of,
        time.as_deref(),
        options.seed,
    );
    if folds
        .iter()
        .any(|(fit, check)| fit.is_empty() || check.is_empty())
    {
        return Err(SqlStateError::bad_data(format!(
            "cross-validation needs more rows: {} training rows for {} folds",
            train_rows.len(),
            folds.len()
        )));
    }
    let mut candidates: Vec<(TrainOptions, Json)> = match &options.search {
        Some(search) => search
            .candidates
            .iter()
            .zip(&search.varying)
            .map(|(c, v)| Ok((TrainOptions::parse(c)?, json!(v))))
            .collect::<Result<_>>()?,
        None => vec![(options.clone(), json!({}))],
    };
    let (metric, higher_better) = match (training.task, training.class_count) {
        (Task::Classification, 2) => ("roc_auc", true),
        (Task::Classification, _) => ("accuracy", true),
        _ => ("rmse", false),
    };
    let mut records = Vec::new();
    let mut means = Vec::with_capacity(candidates.len());
    for (ci, (candidate, varying)) in candidates.iter().enumerate() {
        let mut scores = Vec::with_capacity(folds.len());
        for (fi, (fit_rows, check_rows)) in folds.iter().enumerate() {
            cancelled(ctx)?;
            let payload = training.fit(candidate, fit_rows, &mut FitReport::default())?;
            let fold_model =
                LoadedModel::new("cv", 0, training.envelope(candidate, payload, Vec::new()))?;
            let check: Vec<ArrayRef> = training
                .inputs
                .iter()
                .map(|a| take_rows(a, check_rows))
                .collect::<Result<_>>()?;
            let score = fold_score(
                &fold_model,
                metric,
                &check,
                check_rows,
                training.class_of,
                training.numbers,
            )?;
            (ctx.progress)(&format!(
                "cv: candidate {}/{} {varying}, fold {}/{}: {metric} {score:.4}",
                ci + 1,
                candidates.len(),
                fi + 1,
                folds.len()
            ));
            records.push(json!({
                "candidate": varying,
                "fold": fi + 1,
                "metrics": { metric: score },
            }));
            scores.push(score);
        }
        let finite: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
        means.push(if finite.is_empty() {
            f64::NAN
        } else {
            finite.iter().sum::<f64>() / finite.len() as f64
        });
    }
    let best = (0..candidates.len())
        .filter(|&i| means[i].is_finite())
        .max_by(|&a, &b| {
            let order = means[a].total_cmp(&means[b]);
            // Ties keep the earlier candidate.
            if higher_better {
                order.then(b.cmp(&a))
            } else {
                order.reverse().then(b.cmp(&a))
            }
        })
        .unwrap_or(0);
    params.insert("cv".into(), json!(records));
    params.insert("cv_metric".into(), json!(metric));
    params.insert("cv_folds".into(), json!(folds.len()));
    if options.search.is_some() {
        params.insert("selected".into(), candidates[best].1.clone());
        if let Json::Object(chosen) = &candidates[best].1 {
            for (k, v) in chosen {
                params.insert(k.clone(), v.clone());
            }
        }
    }
    metrics.insert(format!("cv_{metric}"), means[best]);
    Ok(Some(candidates.swap_remove(best).0))
}

/// A fold model's validation score: ROC AUC (binary), accuracy (classes) or RMSE.
fn fold_score(
    model: &LoadedModel,
    metric: &str,
    inputs: &[ArrayRef],
    rows: &[usize],
    class_of: Option<&[Option<usize>]>,
    y_num: Option<&[f64]>,
) -> Result<f64> {
    use datafusion::arrow::datatypes::Float64Type;
    match metric {
        "roc_auc" => {
            let p = model.predict_proba(inputs)?;
            let p = p.as_primitive::<Float64Type>();
            let (y, s): (Vec<bool>, Vec<f64>) = rows
                .iter()
                .enumerate()
                .filter(|&(k, _)| p.is_valid(k))
                .map(|(k, &i)| (class_of.and_then(|c| c[i]) == Some(1), p.value(k)))
                .unzip();
            Ok(metrics::roc_auc(&y, &s).unwrap_or(f64::NAN))
        }
        "accuracy" => {
            let classes = model.predict_classes(inputs)?;
            let right = rows
                .iter()
                .zip(&classes)
                .filter(|&(&i, c)| c.is_some() && class_of.and_then(|v| v[i]) == *c)
                .count();
            Ok(right as f64 / rows.len().max(1) as f64)
        }
        _ => {
            let p = model.predict(inputs)?;
            let p = p.as_primitive::<Float64Type>();
            let y = y_num.unwrap_or(&[]);
            let (truth, predicted): (Vec<f64>, Vec<f64>) = rows
                .iter()
                .enumerate()
                .filter(|&(k, _)| p.is_valid(k))
                .map(|(k, &i)| (y[i], p.value(k)))
                .unzip();
            Ok(metrics::regression_scores(&truth, &predicted).0)
        }
    }
}
