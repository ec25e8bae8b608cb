//! Training: from the rows of a query to a fitted, evaluated model, in
//! phases, each its own module.
//!
//! | phase | module        | does |
//! |-------|---------------|------|
//! | 1     | `columns`     | the label and the task, the features, the weights; drops rows whose label is NULL |
//! | 2     | `split`       | training and hold-out rows (`split`, seeded) |
//! | 3     | `fit`         | the preprocessing, fitted on the training rows only; then each model of the run through its algorithm |
//! | 4     | `search`      | with `cv` or `search`: cross-validates the candidates and picks the best |
//! | 5     | `evaluate`    | metrics on the hold-out rows (the training rows without them) through the code `ml_predict` uses; global importance; the training profile for drift checks |
//! | 6     | `uncertainty` | conformal intervals and calibration, on the hold-out rows |
//! | 7     | `leakage`     | warnings about features that give the label away |
//! | 8     | `fairness`    | with `reweigh`: the weights (applied in phase 3) and fairness by group of the model against one fitted without them |
//!
//! `digest` hashes what a version learned from. Every phase checks for a
//! cancel request where it can stop cleanly; nothing is written until the
//! caller registers the result.

mod columns;
mod digest;
mod evaluate;
mod fairness;
mod fit;
mod leakage;
mod search;
mod split;
mod uncertainty;

use std::collections::BTreeMap;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::SchemaRef;
use serde_json::{Value as Json, json};

pub use super::algorithms::TrainContext;
pub use digest::{DataDigest, data_sha256};

use super::algorithms::{FitReport, canceled};
use super::artifact::{Envelope, Extra, LoadedModel};
use super::options::TrainOptions;
use super::schema::{Result, Task, Values};
use crate::error::SqlStateError;

/// The result of a training run.
#[derive(Debug)]
pub struct TrainedModel {
    pub envelope: Envelope,
    pub metrics: BTreeMap<String, f64>,
    /// `holdout` or `train`.
    pub evaluated_on: &'static str,
    pub params: Json,
    pub train_rows: usize,
    pub test_rows: usize,
    pub warnings: Vec<String>,
    pub profile: Json,
}

/// Trains a model on `batches` as `options` say.
pub fn train(
    schema: SchemaRef,
    batches: &[RecordBatch],
    options: &TrainOptions,
    ctx: &TrainContext<'_>,
) -> Result<TrainedModel> {
    let data = concat_batches(&schema, batches).map_err(SqlStateError::internal)?;
    if data.num_rows() == 0 {
        return Err(SqlStateError::bad_data(
            "the training query returned no rows",
        ));
    }
    let columns = columns::read(&data, options)?;
    let time = columns
        .split_time
        .map(|i| (schema.field(i).name().as_str(), data.column(i)));
    let rows = split::split(&columns, options.split.as_ref(), time, options.seed)?;
    (ctx.progress)(&format!(
        "training {} on {} rows ({} held out), {} features",
        options.algorithm.name(),
        rows.train.len(),
        rows.test.len(),
        columns.features.len()
    ));
    cancelled(ctx)?;

    let training = fit::Training::prepare(&columns, &rows, options, ctx)?;
    cancelled(ctx)?;
    let mut params = fit::base_params(options, columns.task, &rows.split.describe());
    // Metrics only the fit can measure (a forest's out-of-bag score).
    let mut metrics = BTreeMap::<String, f64>::new();
    let selected = search::select(
        &training,
        &data,
        options,
        &rows.train,
        &mut params,
        &mut metrics,
    )?;
    let options = selected.as_ref().unwrap_or(options);
    let mut report = FitReport::default();
    let fitting = std::time::Instant::now();
    let payload = training.fit(options, &rows.train, &mut report)?;
    params.extend(report.params);
    metrics.extend(report.metrics);
    cancelled(ctx)?;
    // What follows the fit reports too: on a large table evaluation,
    // importance and profiling take seconds of their own.
    (ctx.progress)(&format!(
        "fitted in {:.1} s",
        fitting.elapsed().as_secs_f64()
    ));

    let mut extras = Vec::new();
    if payload.fitted().keeps_column_means()
        && let Some(m) = &training.matrix
    {
        extras.push(Extra::ColumnMeans(
            m.select_rows(&rows.train).column_means(),
        ));
    }
    let mut model = LoadedModel::new("training", 0, training.envelope(options, payload, extras))?;

    let holdout = !rows.test.is_empty();
    let (eval_rows, evaluated_on) = if holdout {
        (&rows.test, "holdout")
    } else {
        (&rows.train, "train")
    };
    (ctx.progress)(&format!(
        "evaluating on {} {} rows",
        eval_rows.len(),
        if holdout { "held-out" } else { "training" }
    ));
    let eval_inputs = take_all(&columns.inputs, eval_rows)?;
    let eval_predictions = evaluate::metrics(
        &model,
        &training,
        eval_rows,
        &eval_inputs,
        columns.anomaly_truth.as_deref(),
        &mut metrics,
    )?;
    let curves = evaluate::kept_curves(&training, eval_rows, eval_predictions.as_ref());
    let intervals = evaluate::intervals(
        &model,
        &training,
        eval_rows,
        &eval_inputs,
        eval_predictions.as_ref(),
        options.seed,
    )?;
    cancelled(ctx)?;
    uncertainty::fit(
        &mut model,
        &training,
        options,
        eval_rows,
        &eval_inputs,
        holdout,
        &mut metrics,
    )?;
    cancelled(ctx)?;
    (ctx.progress)("measuring feature importance");
    evaluate::importance(&mut model, &eval_inputs, ctx.threads)?;
    cancelled(ctx)?;
    (ctx.progress)("profiling the training rows (for drift) and checking for leakage");

    // The profile and the leakage checks read the training rows.
    let train_values: Vec<Values> = training
        .values
        .iter()
        .map(|v| subset(v, &rows.train))
        .collect();
    let predictions = match eval_predictions {
        Some(p) if !holdout => p,
        _ => {
            let train_inputs = take_all(&columns.inputs, &rows.train)?;
            if columns.task == Task::Classification && training.class_count == 2 {
                model.predict_proba(&train_inputs)?
            } else {
                model.predict(&train_inputs)?
            }
        }
    };
    let mut profile =
        evaluate::training_profile(&columns.features, &train_values, &predictions, ctx.threads);
    if let Some(curves) = curves {
        profile["curves"] = curves;
        profile["curves"]["evaluated_on"] = json!(evaluated_on);
    }
    if let Some(intervals) = intervals {
        profile["intervals"] = intervals;
        profile["intervals"]["evaluated_on"] = json!(evaluated_on);
    }
    let mut warnings = columns.warnings.clone();
    if holdout {
        warnings.extend(holdout_warnings(&training, &rows.train, &rows.test));
    }
    warnings.extend(leakage::leakage(
        &columns.features,
        &train_values,
        columns.task,
        &rows.train,
        training.class_of,
        training.numbers,
        rows.cutoff
            .zip(columns.split_time.map(|t| schema.field(t).name().clone())),
    ));

    if let Some((reweighing, unmitigated)) = &training.reweighing {
        (ctx.progress)("fitting the model without reweighing, to measure what it changed");
        let classes: Vec<String> = columns
            .label
            .iter()
            .flat_map(|l| l.classes.iter().map(ToString::to_string))
            .collect();
        let mut record = json!({
            "method": "reweigh",
            "group_column": options.reweigh,
            "evaluated_on": evaluated_on,
            "weights": reweighing.to_json(&classes),
        });
        if let (Some(groups), Some(class_of), 2) =
            (&columns.groups, &columns.class_of, training.class_count)
        {
            let payload = training.fit_weighted(
                options,
                &rows.train,
                unmitigated,
                &mut FitReport::default(),
            )?;
            let before = LoadedModel::new(
                "unmitigated",
                0,
                training.envelope(options, payload, Vec::new()),
            )?;
            let measured = fairness::report(
                groups,
                class_of,
                eval_rows,
                &before.predict_classes(&eval_inputs)?,
                &model.predict_classes(&eval_inputs)?,
            );
            if let (Json::Object(record), Json::Object(measured)) = (&mut record, measured) {
                record.extend(measured);
            }
        }
        params.insert("fairness".into(), record);
        cancelled(ctx)?;
    }
    let mut recorded = params.into_iter().collect::<serde_json::Map<_, _>>();
    recorded.insert(
        "features".into(),
        json!(columns.features.iter().map(|f| &f.name).collect::<Vec<_>>()),
    );
    Ok(TrainedModel {
        envelope: model.envelope,
        metrics,
        evaluated_on,
        params: Json::Object(recorded),
        train_rows: rows.train.len(),
        test_rows: rows.test.len(),
        warnings,
        profile,
    })
}

/// Hold-outs smaller than this report metrics that are mostly noise.
const SMALL_HOLDOUT: usize = 30;

/// What makes hold-out metrics unreliable or undefined: too few rows, or
/// (classification) a class one side of the split lacks.
fn holdout_warnings(training: &fit::Training<'_>, train: &[usize], test: &[usize]) -> Vec<String> {
    let mut warnings = Vec::new();
    if test.len() < SMALL_HOLDOUT {
        warnings.push(format!(
            "the hold-out has only {} rows (fewer than {SMALL_HOLDOUT}): its metrics are mostly noise; train on more rows or choose a larger split",
            test.len()
        ));
    }
    if let (Task::Classification, Some(class_of), Some(label)) =
        (training.task, training.class_of, training.label)
    {
        let missing = |rows: &[usize]| -> Vec<String> {
            let mut seen = vec![false; training.class_count];
            for &i in rows {
                if let Some(c) = class_of[i] {
                    seen[c] = true;
                }
            }
            seen.iter()
                .enumerate()
                .filter(|(_, seen)| !**seen)
                .filter_map(|(c, _)| label.classes.get(c).map(|v| format!("'{v}'")))
                .collect()
        };
        let untrained = missing(train);
        if !untrained.is_empty() {
            warnings.push(format!(
                "the training rows have no rows of class {} of label {}: the model cannot predict it; use more rows or a stratified split",
                untrained.join(", "),
                label.name
            ));
        }
        let unmeasured = missing(test);
        if !unmeasured.is_empty() {
            warnings.push(format!(
                "the hold-out has no rows of class {} of label {}: metrics that need every class (roc_auc, and recall for a missing positive class) are undefined and reported as NULL",
                unmeasured.join(", "),
                label.name
            ));
        }
    }
    warnings
}

/// Fails with 57014 once the statement is cancelled.
fn cancelled(ctx: &TrainContext<'_>) -> Result<()> {
    if (ctx.cancelled)() {
        Err(canceled())
    } else {
        Ok(())
    }
}

fn indices(rows: &[usize]) -> UInt32Array {
    UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32))
}

/// `rows` of one column.
fn take_rows(array: &ArrayRef, rows: &[usize]) -> Result<ArrayRef> {
    take(array.as_ref(), &indices(rows), None).map_err(SqlStateError::internal)
}

/// `rows` of every column.
fn take_all(arrays: &[ArrayRef], rows: &[usize]) -> Result<Vec<ArrayRef>> {
    arrays.iter().map(|a| take_rows(a, rows)).collect()
}

/// `rows` of feature values.
fn subset(values: &Values, rows: &[usize]) -> Values {
    let idx = indices(rows);
    match values {
        Values::Number(v) => Values::Number(
            take(v, &idx, None)
                .map(|a| a.as_primitive().clone())
                .unwrap_or_else(|_| v.clone()),
        ),
        Values::Text(v) => Values::Text(
            take(v, &idx, None)
                .map(|a| a.as_string::<i32>().clone())
                .unwrap_or_else(|_| v.clone()),
        ),
        Values::TextView(v) => Values::TextView(
            take(v, &idx, None)
                .map(|a| a.as_string_view().clone())
                .unwrap_or_else(|_| v.clone()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::rng::SplitMix;
    use datafusion::arrow::array::{BooleanArray, Float64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn ctx() -> TrainContext<'static> {
        TrainContext {
            threads: 1,
            progress: &|_| {},
            cancelled: &|| false,
        }
    }

    fn opts(pairs: &[(&str, &str)]) -> TrainOptions {
        TrainOptions::of(pairs).expect("options")
    }

    fn data(n: usize) -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Float64, true),
            Field::new("c", DataType::Utf8, true),
            Field::new("y", DataType::Boolean, true),
            Field::new("v", DataType::Float64, true),
        ]));
        let mut rng = SplitMix(3);
        let x: Vec<f64> = (0..n).map(|_| rng.uniform() * 10.0).collect();
        let c: Vec<&str> = (0..n).map(|i| ["a", "b", "c"][i % 3]).collect();
        let y: Vec<bool> = x
            .iter()
            .zip(&c)
            .map(|(x, c)| x + if *c == "a" { 2.0 } else { 0.0 } > 5.0)
            .collect();
        let v: Vec<f64> = x.iter().map(|x| 3.0 * x + 1.0).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Float64Array::from(x)),
                Arc::new(StringArray::from(c)),
                Arc::new(BooleanArray::from(y)),
                Arc::new(Float64Array::from(v)),
            ],
        )
        .expect("batch");
        (schema, batch)
    }

    #[test]
    fn logistic_learns_a_separable_rule() {
        let (schema, batch) = data(600);
        let m = train(
            schema,
            &[batch],
            &opts(&[
                ("algorithm", "logistic"),
                ("label", "y"),
                ("exclude", "v"),
                ("l2", "0.01"),
            ]),
            &ctx(),
        )
        .expect("train");
        assert_eq!(m.evaluated_on, "holdout");
        assert_eq!(m.test_rows, 120);
        assert!(m.metrics["roc_auc"] > 0.99, "{:?}", m.metrics);
        assert_eq!(m.envelope.label.as_ref().map(|l| l.classes.len()), Some(2));
    }

    #[test]
    fn linear_recovers_exact_relation_and_flags_leakage() {
        let (schema, batch) = data(200);
        let m = train(
            schema,
            &[batch],
            &opts(&[("algorithm", "linear"), ("label", "v"), ("exclude", "y")]),
            &ctx(),
        )
        .expect("train");
        assert!(m.metrics["rmse"] < 1e-9, "{:?}", m.metrics);
        assert!(
            m.warnings.iter().any(|w| w.contains("\"x\"")),
            "{:?}",
            m.warnings
        );
    }

    #[test]
    fn unknown_label_lists_columns() {
        let (schema, batch) = data(20);
        let err = train(
            schema,
            &[batch],
            &opts(&[("algorithm", "logistic"), ("label", "nope")]),
            &ctx(),
        )
        .expect_err("unknown");
        assert_eq!(err.code, "42703");
        assert!(
            err.hint
                .as_deref()
                .is_some_and(|h| h.contains("x, c, y, v"))
        );
    }
}
