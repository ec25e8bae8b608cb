//! Phase 6: uncertainty, fitted on the hold-out rows, never on rows the
//! model learned from.
//!
//! | option            | for            | fits                                               | served by |
//! |-------------------|----------------|----------------------------------------------------|-----------|
//! | `interval = L`    | regression     | split-conformal half-width: the ⌈(n + 1)·L⌉-th smallest \|residual\| | `ml_predict_interval` (prediction ± half-width) |
//! | `calibrate = 'platt'` | binary classification | a logistic curve on the raw probability | `ml_predict_proba`, `ml_predict` |
//! | `calibrate = 'isotonic'` | binary classification | a monotone step function (pool adjacent violators) | the same |
//!
//! Both need hold-out rows: with `split = 'none'` they are an error.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;

use super::fit::Training;
use crate::error::SqlStateError;
use crate::kernels::calibration::{Calibrator, PlattScore, conformal_half_width};
use crate::model::artifact::{Extra, LoadedModel};
use crate::model::options::TrainOptions;
use crate::model::schema::Result;

/// Fits what `options` ask for on the hold-out `rows` (given as `inputs`)
/// and keeps it in `model`.
pub(super) fn fit(
    model: &mut LoadedModel,
    training: &Training<'_>,
    options: &TrainOptions,
    rows: &[usize],
    inputs: &[ArrayRef],
    holdout: bool,
    metrics: &mut BTreeMap<String, f64>,
) -> Result<()> {
    if (options.interval.is_some() || options.calibrate.is_some()) && !holdout {
        return Err(SqlStateError::bad_argument(
            "options interval and calibrate are fitted on the hold-out rows; use a split other than none",
        ));
    }
    if let Some(level) = options.interval {
        let y = training.numbers.unwrap_or(&[]);
        let predicted = model.predict(inputs)?;
        let predicted = predicted.as_primitive::<Float64Type>();
        let residuals: Vec<f64> = rows
            .iter()
            .enumerate()
            .filter(|&(k, _)| predicted.is_valid(k))
            .map(|(k, &i)| y[i] - predicted.value(k))
            .collect();
        let half_width = conformal_half_width(&residuals, level).ok_or_else(|| {
            SqlStateError::bad_argument(format!(
                "interval = {level} needs at least {} hold-out rows, there are {}",
                (1.0 / (1.0 - level)).ceil() as usize,
                residuals.len()
            ))
        })?;
        metrics.insert("interval_half_width".into(), half_width);
        model.envelope.extras.push(Extra::Conformal {
            level,
            half_width,
            rows: residuals.len(),
        });
    }
    if let Some(method) = &options.calibrate {
        let class_count = training.class_count;
        if class_count != 2 {
            return Err(SqlStateError::unsupported(format!(
                "calibrate supports binary classifiers; this label has {class_count} classes"
            )));
        }
        let p = model.uncalibrated_proba(inputs)?;
        let truth: Vec<bool> = rows
            .iter()
            .map(|&i| training.class_of.and_then(|c| c[i]) == Some(1))
            .collect();
        let (p, truth): (Vec<f64>, Vec<bool>) = p
            .into_iter()
            .zip(truth)
            .filter(|(v, _)| !v.is_nan())
            .unzip();
        let calibrator = if method == "platt" {
            Calibrator::fit_platt(&p, &truth, PlattScore::for_algorithm(&model.envelope.kind))
        } else {
            Calibrator::fit_isotonic(&p, &truth)
        };
        model.envelope.extras.push(Extra::Calibration {
            calibrator,
            rows: p.len(),
        });
    }
    Ok(())
}
