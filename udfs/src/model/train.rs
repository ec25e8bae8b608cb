//! Training: from the rows of a query to a fitted, evaluated model.
//!
//! 1. choose the label and the features (every other supported column, minus
//!    `exclude`, or exactly `features`);
//! 2. drop rows whose label is NULL;
//! 3. split into training and hold-out rows (`split`, seeded);
//! 4. fit the preprocessing on the training rows only;
//! 5. fit the model;
//! 6. score the hold-out rows through the same code `ml_predict` uses, and
//!    record metrics (on the training rows when there is no hold-out);
//! 7. profile every feature and the predictions for later drift checks, and
//!    look for leakage.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, concat_batches, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use serde_json::{Value as Json, json};

use super::artifact::{Envelope, Extra, FORMAT_VERSION, LoadedModel, Payload, compile_rule};
use super::options::{Algorithm, Cv, Split, TrainOptions};
use super::preprocess::Preprocessor;
use super::schema::{ClassValue, Feature, FeatureKind, Label, Result, Task, Values, values};
use crate::error::{SqlStateError, sqlstate};
use crate::kernels::linalg::Matrix;
use crate::kernels::metrics;
use crate::kernels::optimize::{self, SplitMix};

/// What the caller provides besides the data.
pub struct TrainContext<'a> {
    /// Threads the session may use.
    pub threads: usize,
    /// Progress messages (the server turns them into NOTICEs).
    pub progress: &'a (dyn Fn(&str) + Sync),
    /// True once the statement is cancelled.
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
}

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

/// The error of a cancelled training run (PostgreSQL's wording).
fn canceled() -> SqlStateError {
    SqlStateError::new(
        sqlstate::QUERY_CANCELED,
        "canceling statement due to user request",
    )
}

fn cancelled(ctx: &TrainContext<'_>) -> Result<()> {
    if (ctx.cancelled)() {
        Err(canceled())
    } else {
        Ok(())
    }
}

fn unknown_column(name: &str, what: &str, schema: &SchemaRef) -> SqlStateError {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    SqlStateError::new(
        sqlstate::UNDEFINED_COLUMN,
        format!("{what} column \"{name}\" is not in the training query"),
    )
    .with_hint(format!("columns: {}", names.join(", ")))
}

/// Class values of a label column, sorted, and each row's class index.
fn classes(label: &ArrayRef, name: &str) -> Result<(Vec<ClassValue>, Vec<Option<usize>>)> {
    let values: Vec<Option<ClassValue>> = match label.data_type() {
        DataType::Boolean => label
            .as_boolean()
            .iter()
            .map(|v| v.map(ClassValue::Bool))
            .collect(),
        t if t.is_integer() => {
            let ints = cast(label, &DataType::Int64).map_err(|e| {
                SqlStateError::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!("label \"{name}\": {e}"),
                )
            })?;
            ints.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .iter()
                .map(|v| v.map(ClassValue::Int))
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
            let text = cast(label, &DataType::Utf8).map_err(|e| {
                SqlStateError::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!("label \"{name}\": {e}"),
                )
            })?;
            text.as_string::<i32>()
                .iter()
                .map(|v| v.map(|s| ClassValue::Text(s.to_string())))
                .collect()
        }
        other => {
            return Err(SqlStateError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!(
                    "a classification label must be boolean, integer or text; \"{name}\" is {other}"
                ),
            )
            .with_hint("use task = 'regression' for a numeric target"));
        }
    };
    let mut distinct: Vec<ClassValue> = Vec::new();
    for v in values.iter().flatten() {
        if !distinct.contains(v) {
            distinct.push(v.clone());
        }
    }
    distinct.sort_by(|a, b| match (a, b) {
        (ClassValue::Int(x), ClassValue::Int(y)) => x.cmp(y),
        (ClassValue::Bool(x), ClassValue::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    });
    let index: HashMap<String, usize> = distinct
        .iter()
        .enumerate()
        .map(|(i, c)| (c.to_string(), i))
        .collect();
    let rows = values
        .iter()
        .map(|v| v.as_ref().and_then(|c| index.get(&c.to_string()).copied()))
        .collect();
    Ok((distinct, rows))
}

fn split_rows(
    split: &Split,
    keep: &[usize],
    class_of: Option<&[Option<usize>]>,
    time: Option<&[f64]>,
    seed: u64,
) -> (Vec<usize>, Vec<usize>, Option<f64>) {
    let mut rng = SplitMix(seed);
    let shuffle = |rows: &mut Vec<usize>, rng: &mut SplitMix| {
        for i in (1..rows.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            rows.swap(i, j);
        }
    };
    let take_test = |rows: &mut Vec<usize>, f: f64| -> (Vec<usize>, Vec<usize>) {
        let n_test = ((rows.len() as f64) * f).round() as usize;
        let test = rows[..n_test].to_vec();
        let train = rows[n_test..].to_vec();
        (train, test)
    };
    let (mut train, mut test, cutoff) = match split {
        Split::None => (keep.to_vec(), vec![], None),
        Split::Random(f) => {
            let mut rows = keep.to_vec();
            shuffle(&mut rows, &mut rng);
            let (a, b) = take_test(&mut rows, *f);
            (a, b, None)
        }
        Split::Stratified(f) => {
            let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for &i in keep {
                let c = class_of.and_then(|c| c[i]).unwrap_or(0);
                by_class.entry(c).or_default().push(i);
            }
            let (mut train, mut test) = (Vec::new(), Vec::new());
            for rows in by_class.values_mut() {
                shuffle(rows, &mut rng);
                let (a, b) = take_test(rows, *f);
                train.extend(a);
                test.extend(b);
            }
            (train, test, None)
        }
        Split::Time { fraction, .. } => {
            let t = time.unwrap_or(&[]);
            let mut rows = keep.to_vec();
            rows.sort_by(|&a, &b| t[a].total_cmp(&t[b]).then(a.cmp(&b)));
            let n_test = ((rows.len() as f64) * fraction).round() as usize;
            let split_at = rows.len() - n_test;
            let test = rows[split_at..].to_vec();
            let cutoff = test.first().map(|&i| t[i]);
            (rows[..split_at].to_vec(), test, cutoff)
        }
    };
    train.sort_unstable();
    test.sort_unstable();
    (train, test, cutoff)
}

fn take_rows(array: &ArrayRef, rows: &[usize]) -> Result<ArrayRef> {
    let idx = UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32));
    take(array.as_ref(), &idx, None)
        .map_err(|e| SqlStateError::new(sqlstate::INTERNAL_ERROR, format!("internal error: {e}")))
}

/// Trains a model on `batches` as `options` say.
pub fn train(
    schema: SchemaRef,
    batches: &[RecordBatch],
    options: &TrainOptions,
    ctx: &TrainContext<'_>,
) -> Result<TrainedModel> {
    let data = concat_batches(&schema, batches).map_err(|e| {
        SqlStateError::new(sqlstate::INTERNAL_ERROR, format!("internal error: {e}"))
    })?;
    let n = data.num_rows();
    if n == 0 {
        return Err(SqlStateError::bad_data(
            "the training query returned no rows",
        ));
    }
    let column = |name: &str| -> Option<usize> { schema.index_of(name).ok() };

    // Label and task.
    let label_index = match &options.label {
        Some(l) => Some(column(l).ok_or_else(|| unknown_column(l, "label", &schema))?),
        None => None,
    };
    let weight_index = match &options.weight {
        Some(c) => Some(column(c).ok_or_else(|| unknown_column(c, "weight", &schema))?),
        None => None,
    };
    let task = match (options.task, label_index) {
        (Some(t), _) => t,
        (None, Some(i)) => match schema.field(i).data_type() {
            DataType::Boolean | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                Task::Classification
            }
            _ => Task::Regression,
        },
        (None, None) => {
            return Err(SqlStateError::bad_argument(format!(
                "option label is required for algorithm {}",
                options.algorithm.name()
            ))
            .with_hint("name the column to predict, e.g. label = 'churned'"));
        }
    };
    if options.interval.is_some() && task != Task::Regression {
        return Err(SqlStateError::bad_argument(format!(
            "option interval is for regression models, not {}",
            task.name()
        ))
        .with_hint(
            "classifiers get calibrated probabilities with calibrate = 'isotonic' or 'platt'",
        ));
    }
    if options.calibrate.is_some() && task != Task::Classification {
        return Err(SqlStateError::bad_argument(format!(
            "option calibrate is for classification models, not {}",
            task.name()
        )));
    }
    if !matches!(task, Task::Clustering | Task::Anomaly) && label_index.is_none() {
        return Err(SqlStateError::bad_argument(format!(
            "option label is required for {} models",
            task.name()
        )));
    }

    // Features.
    for name in options
        .exclude
        .iter()
        .chain(options.features.iter().flatten())
    {
        if column(name).is_none() {
            return Err(unknown_column(name, "feature", &schema));
        }
    }
    let time_column = match options.split.as_ref() {
        Some(Split::Time { column: c, .. }) => {
            Some(column(c).ok_or_else(|| unknown_column(c, "split time", &schema))?)
        }
        _ => None,
    };
    let mut features: Vec<Feature> = Vec::new();
    let mut feature_index: Vec<usize> = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        if Some(i) == label_index
            || Some(i) == weight_index
            || options.exclude.iter().any(|e| e == field.name())
        {
            continue;
        }
        if let Some(list) = &options.features
            && !list.iter().any(|f| f == field.name())
        {
            continue;
        }
        let Some(kind) = FeatureKind::of(field.data_type()) else {
            if options.features.is_some() {
                return Err(SqlStateError::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!(
                        "feature \"{}\" has type {}, which models cannot use",
                        field.name(),
                        field.data_type()
                    ),
                )
                .with_hint("cast it to a number or text in the training query"));
            }
            continue;
        };
        features.push(Feature {
            name: field.name().clone(),
            kind,
            data_type: field.data_type().to_string(),
        });
        feature_index.push(i);
    }
    for name in options.named_columns() {
        if !features.iter().any(|f| f.name == name) {
            return Err(unknown_column(name, "preprocessing option", &schema));
        }
    }
    if let (Algorithm::SqlRule, Some(expression)) = (options.algorithm, &options.expression) {
        // A rule reads only the columns it names.
        let all = features.clone();
        compile_rule(expression, &all)?;
        let referenced = referenced_columns(expression, &all)?;
        let (f, idx): (Vec<Feature>, Vec<usize>) = all
            .into_iter()
            .zip(feature_index)
            .filter(|(f, _)| referenced.contains(&f.name))
            .unzip();
        features = f;
        feature_index = idx;
    }
    if features.is_empty() && options.algorithm != Algorithm::Baseline {
        return Err(SqlStateError::bad_argument(
            "the training query has no usable feature columns",
        )
        .with_hint("models use numeric, boolean, text and timestamp columns"));
    }

    // Label values and rows to keep.
    let label_name = label_index
        .map(|i| schema.field(i).name().clone())
        .unwrap_or_default();
    let mut label_spec = None;
    let mut class_of: Option<Vec<Option<usize>>> = None;
    let mut y_num: Option<Vec<f64>> = None;
    // Known anomalies (anomaly models only): never trained on, only used to
    // score the model's ranking.
    let mut anomaly_truth: Option<Vec<Option<bool>>> = None;
    let mut keep: Vec<usize> = match (task, label_index) {
        (Task::Classification, Some(li)) => {
            let (classes, rows) = classes(data.column(li), &label_name)?;
            if classes.len() < 2 {
                return Err(SqlStateError::bad_data(format!(
                    "label \"{label_name}\" has {} class(es); classification needs at least two",
                    classes.len()
                )));
            }
            if options.algorithm == Algorithm::SqlRule && classes.len() > 2 {
                return Err(SqlStateError::bad_argument(
                    "sql_rule classification needs a binary label: the expression is the positive-class score",
                ));
            }
            label_spec = Some(Label {
                name: label_name.clone(),
                data_type: schema.field(li).data_type().to_string(),
                classes,
            });
            let keep = (0..n).filter(|&i| rows[i].is_some()).collect();
            class_of = Some(rows);
            keep
        }
        (Task::Regression, Some(li)) => {
            let y = cast(data.column(li), &DataType::Float64).map_err(|e| {
                SqlStateError::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!("a regression label must be numeric; \"{label_name}\": {e}"),
                )
            })?;
            let y = y.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            let keep = (0..n)
                .filter(|&i| y.is_valid(i) && y.value(i).is_finite())
                .collect();
            y_num = Some(
                (0..n)
                    .map(|i| if y.is_valid(i) { y.value(i) } else { f64::NAN })
                    .collect(),
            );
            label_spec = Some(Label {
                name: label_name.clone(),
                data_type: schema.field(li).data_type().to_string(),
                classes: vec![],
            });
            keep
        }
        (Task::Anomaly, Some(li)) => {
            let column = data.column(li);
            if !(column.data_type() == &DataType::Boolean || column.data_type().is_numeric()) {
                return Err(SqlStateError::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!(
                        "the label of an anomaly model marks known anomalies and must be boolean or numeric (non-zero = anomaly); \"{label_name}\" is {}",
                        column.data_type()
                    ),
                ));
            }
            let y = cast(column, &DataType::Float64).map_err(|e| {
                SqlStateError::new(sqlstate::INTERNAL_ERROR, format!("internal error: {e}"))
            })?;
            let y = y.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            anomaly_truth = Some(
                (0..n)
                    .map(|i| y.is_valid(i).then(|| y.value(i) != 0.0))
                    .collect(),
            );
            (0..n).collect()
        }
        _ => (0..n).collect(),
    };
    let mut warnings = Vec::new();
    let dropped = n - keep.len();
    if dropped > 0 {
        warnings.push(format!("{dropped} rows with a NULL label were left out"));
    }
    let sample_weights = match weight_index {
        Some(wi) => Some(sample_weights(schema.field(wi).name(), data.column(wi))?),
        None => None,
    };
    if let Some(sw) = &sample_weights {
        let before = keep.len();
        keep.retain(|&i| sw[i].is_some());
        if keep.len() < before {
            warnings.push(format!(
                "{} rows with a NULL weight were left out",
                before - keep.len()
            ));
        }
    }

    // Split.
    let split = options.split.clone().unwrap_or(match task {
        Task::Classification => Split::Stratified(0.2),
        Task::Regression => Split::Random(0.2),
        Task::Clustering | Task::Anomaly => Split::None,
    });
    let time_values: Option<Vec<f64>> = match time_column {
        Some(ti) => {
            let v = values(
                schema.field(ti).name(),
                data.column(ti),
                FeatureKind::Temporal,
            )
            .or_else(|_| {
                values(
                    schema.field(ti).name(),
                    data.column(ti),
                    FeatureKind::Numeric,
                )
            })?;
            let Values::Number(v) = v else {
                unreachable_values()?
            };
            Some(
                (0..n)
                    .map(|i| {
                        if v.is_valid(i) {
                            v.value(i)
                        } else {
                            f64::NEG_INFINITY
                        }
                    })
                    .collect(),
            )
        }
        None => None,
    };
    let (train_rows, test_rows, cutoff) = split_rows(
        &split,
        &keep,
        class_of.as_deref(),
        time_values.as_deref(),
        options.seed,
    );
    if train_rows.is_empty() {
        return Err(SqlStateError::bad_data(
            "no rows are left for training after the split",
        ));
    }
    (ctx.progress)(&format!(
        "training {} on {} rows ({} held out), {} features",
        options.algorithm.name(),
        train_rows.len(),
        test_rows.len(),
        features.len()
    ));
    cancelled(ctx)?;

    // Feature values and preprocessing.
    let inputs: Vec<ArrayRef> = feature_index
        .iter()
        .map(|&i| data.column(i).clone())
        .collect();
    let columns: Vec<Values> = features
        .iter()
        .zip(&inputs)
        .map(|(f, a)| values(&f.name, a, f.kind))
        .collect::<Result<_>>()?;
    let binary_target: Option<Vec<f64>> = match (&class_of, &label_spec) {
        (Some(c), Some(l)) if l.classes.len() == 2 => Some(
            c.iter()
                .map(|v| if *v == Some(1) { 1.0 } else { 0.0 })
                .collect(),
        ),
        _ => None,
    };
    let target = y_num.as_deref().or(binary_target.as_deref());
    let plans = features
        .iter()
        .map(|f| options.column_plan(&f.name, f.kind))
        .collect::<Result<Vec<_>>>()?;
    let preprocessing = if options.uses_matrix() {
        Preprocessor::fit(&features, &columns, &plans, &train_rows, target)?
    } else {
        Preprocessor { steps: vec![] }
    };
    let matrix = options
        .uses_matrix()
        .then(|| preprocessing.transform(&columns));
    cancelled(ctx)?;

    // Sample weights.
    let class_count = label_spec.as_ref().map_or(0, |l| l.classes.len());
    let mut weights: Vec<f64> = match &sample_weights {
        Some(sw) => sw.iter().map(|w| w.unwrap_or(0.0)).collect(),
        None => vec![1.0; n],
    };
    if options.balanced && task == Task::Classification {
        let mut counts = vec![0usize; class_count];
        for &i in &train_rows {
            if let Some(c) = class_of.as_ref().and_then(|c| c[i]) {
                counts[c] += 1;
            }
        }
        for &i in &train_rows {
            if let Some(c) = class_of.as_ref().and_then(|c| c[i]) {
                // scikit-learn's "balanced" from class counts, times any sample weight.
                weights[i] *=
                    train_rows.len() as f64 / (class_count as f64 * counts[c].max(1) as f64);
            }
        }
    }

    // Monotone constraints, per matrix column.
    let monotone = monotone_columns(options, &features, &preprocessing)?;

    // Fit.
    let x_train = matrix.as_ref().map(|m| m.select_rows(&train_rows));
    let w_train: Vec<f64> = train_rows.iter().map(|&i| weights[i]).collect();
    let mut params = BTreeMap::<String, Json>::new();
    // Metrics only the fit can measure (a forest's out-of-bag score).
    let mut fit_metrics = BTreeMap::<String, f64>::new();
    params.insert("algorithm".into(), json!(options.algorithm.name()));
    params.insert("task".into(), json!(task.name()));
    params.insert("split".into(), json!(split.describe()));
    params.insert("seed".into(), json!(options.seed));
    for (k, v) in &options.given {
        params.entry(k.clone()).or_insert_with(|| json!(v));
    }
    // Cross-validation and hyperparameter search on the training rows; the
    // best candidate is then fitted on all of them.
    let selected = if options.search.is_some() || options.cv.is_some() {
        let time = match &options.cv {
            Some(Cv::Time { column: c, .. }) => {
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
                Some(time_of(schema.field(i).name(), data.column(i), n)?)
            }
            _ => None,
        };
        let folds = cv_folds(
            options.cv.as_ref().unwrap_or(&Cv::Folds(3)),
            &train_rows,
            class_of.as_deref(),
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
        let (metric, higher_better) = match (task, class_count) {
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
                let x = matrix.as_ref().map(|m| m.select_rows(fit_rows));
                let w: Vec<f64> = fit_rows.iter().map(|&i| weights[i]).collect();
                let payload = fit(
                    candidate,
                    task,
                    x.as_ref(),
                    fit_rows,
                    class_of.as_deref(),
                    class_count,
                    y_num.as_deref(),
                    &w,
                    &monotone,
                    ctx,
                    &mut BTreeMap::new(),
                    &mut BTreeMap::new(),
                )?;
                let fold_model = LoadedModel::new(
                    "cv",
                    0,
                    Envelope {
                        format_version: FORMAT_VERSION,
                        kind: candidate.algorithm.name().into(),
                        library: "quarry-udfs".into(),
                        library_version: env!("CARGO_PKG_VERSION").into(),
                        task,
                        features: features.clone(),
                        label: label_spec.clone(),
                        preprocessing: preprocessing.clone(),
                        payload,
                        extras: Vec::new(),
                    },
                )?;
                let check: Vec<ArrayRef> = inputs
                    .iter()
                    .map(|a| take_rows(a, check_rows))
                    .collect::<Result<_>>()?;
                let score = fold_score(
                    &fold_model,
                    metric,
                    &check,
                    check_rows,
                    class_of.as_deref(),
                    y_num.as_deref(),
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
        fit_metrics.insert(format!("cv_{metric}"), means[best]);
        Some(candidates.swap_remove(best).0)
    } else {
        None
    };
    let options = selected.as_ref().unwrap_or(options);
    let payload = fit(
        options,
        task,
        x_train.as_ref(),
        &train_rows,
        class_of.as_deref(),
        class_count,
        y_num.as_deref(),
        &w_train,
        &monotone,
        ctx,
        &mut params,
        &mut fit_metrics,
    )?;
    cancelled(ctx)?;

    let mut extras = Vec::new();
    if matches!(payload, Payload::Linear { .. } | Payload::Logistic { .. })
        && let Some(x) = &x_train
    {
        extras.push(Extra::ColumnMeans(x.column_means()));
    }

    let envelope = Envelope {
        format_version: FORMAT_VERSION,
        kind: options.algorithm.name().into(),
        library: "quarry-udfs".into(),
        library_version: env!("CARGO_PKG_VERSION").into(),
        task,
        features: features.clone(),
        label: label_spec.clone(),
        preprocessing,
        payload,
        extras,
    };
    let mut model = LoadedModel::new("training", 0, envelope)?;

    // Evaluate through the scoring path.
    let (eval_rows, evaluated_on) = if test_rows.is_empty() {
        (&train_rows, "train")
    } else {
        (&test_rows, "holdout")
    };
    let eval_inputs: Vec<ArrayRef> = inputs
        .iter()
        .map(|a| take_rows(a, eval_rows))
        .collect::<Result<_>>()?;
    let mut metrics = fit_metrics;
    // What the profile needs, when the evaluation rows are the training rows.
    let mut eval_predictions: Option<ArrayRef> = None;
    match task {
        Task::Classification => {
            let truth: Vec<usize> = eval_rows
                .iter()
                .map(|&i| class_of.as_ref().and_then(|c| c[i]).unwrap_or(0))
                .collect();
            let proba = in_parallel(&eval_inputs, ctx.threads, |i| model.predict_proba(i))?;
            if class_count == 2 {
                eval_predictions = Some(proba.clone());
            }
            if class_count == 2 {
                let p = proba.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
                let p: Vec<f64> = (0..p.len())
                    .map(|i| if p.is_valid(i) { p.value(i) } else { 0.5 })
                    .collect();
                let y: Vec<bool> = truth.iter().map(|&c| c == 1).collect();
                let predicted: Vec<bool> = p.iter().map(|&v| v >= 0.5).collect();
                let (acc, prec, rec, f1) = metrics::binary_scores(&y, &predicted);
                metrics.insert("accuracy".into(), acc);
                metrics.insert("precision".into(), prec);
                metrics.insert("recall".into(), rec);
                metrics.insert("f1".into(), f1);
                if let Some(auc) = metrics::roc_auc(&y, &p) {
                    metrics.insert("roc_auc".into(), auc);
                }
                if let Some(ll) = metrics::log_loss(&y, &p) {
                    metrics.insert("log_loss".into(), ll);
                }
            } else {
                let list = proba.as_list::<i32>();
                let flat = list
                    .values()
                    .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
                let probs: Vec<f64> = flat.values().to_vec();
                let predicted: Vec<usize> = probs
                    .chunks(class_count)
                    .map(|r| {
                        r.iter()
                            .enumerate()
                            .max_by(|a, b| a.1.total_cmp(b.1))
                            .map_or(0, |(i, _)| i)
                    })
                    .collect();
                let (acc, prec, rec, f1) =
                    metrics::multiclass_scores(&truth, &predicted, class_count);
                metrics.insert("accuracy".into(), acc);
                metrics.insert("precision".into(), prec);
                metrics.insert("recall".into(), rec);
                metrics.insert("f1".into(), f1);
                if let Some(auc) = metrics::multiclass_roc_auc(&truth, &probs, class_count) {
                    metrics.insert("roc_auc".into(), auc);
                }
                if let Some(ll) = metrics::multiclass_log_loss(&truth, &probs, class_count) {
                    metrics.insert("log_loss".into(), ll);
                }
            }
        }
        Task::Regression => {
            let y = y_num.as_deref().unwrap_or(&[]);
            let truth: Vec<f64> = eval_rows.iter().map(|&i| y[i]).collect();
            let pred = in_parallel(&eval_inputs, ctx.threads, |i| model.predict(i))?;
            eval_predictions = Some(pred.clone());
            let pred = pred.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
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
            metrics.insert("rmse".into(), rmse);
            metrics.insert("mae".into(), mae);
            metrics.insert("r2".into(), r2);
        }
        Task::Anomaly => {
            let scores = in_parallel(&eval_inputs, ctx.threads, |i| model.predict(i))?;
            eval_predictions = Some(scores.clone());
            let scores = scores.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            let scores: Vec<f64> = scores.values().to_vec();
            let total = scores.len().max(1) as f64;
            metrics.insert("mean_score".into(), scores.iter().sum::<f64>() / total);
            // scikit-learn's default (contamination 'auto') flags score > 0.5.
            metrics.insert(
                "outlier_fraction".into(),
                scores.iter().filter(|&&s| s > 0.5).count() as f64 / total,
            );
            if let Some(truth) = &anomaly_truth {
                let (y, p): (Vec<bool>, Vec<f64>) = eval_rows
                    .iter()
                    .zip(&scores)
                    .filter_map(|(&i, &s)| truth[i].map(|t| (t, s)))
                    .unzip();
                if let Some(auc) = metrics::roc_auc(&y, &p) {
                    metrics.insert("roc_auc".into(), auc);
                }
            }
        }
        Task::Clustering => {
            if let (Some(m), Payload::KMeans { centroids, k }) = (&matrix, &model.envelope.payload)
            {
                let x = m.select_rows(eval_rows);
                let mut labels = Vec::with_capacity(x.rows);
                let mut inertia = 0.0;
                for i in 0..x.rows {
                    let (c, d) = optimize::nearest(x.row(i), centroids, *k);
                    labels.push(c);
                    inertia += d;
                }
                metrics.insert("inertia".into(), inertia);
                let sample: Vec<usize> = (0..x.rows).step_by((x.rows / 2000).max(1)).collect();
                let xs = x.select_rows(&sample);
                let ls: Vec<usize> = sample.iter().map(|&i| labels[i]).collect();
                if let Some(s) = metrics::silhouette(&xs.data, xs.cols, &ls, *k) {
                    metrics.insert("silhouette".into(), s);
                }
            }
        }
    }

    // Uncertainty, fitted on the hold-out rows (never on rows the model saw).
    if (options.interval.is_some() || options.calibrate.is_some()) && test_rows.is_empty() {
        return Err(SqlStateError::bad_argument(
            "options interval and calibrate are fitted on the hold-out rows; use a split other than none",
        ));
    }
    if let Some(level) = options.interval {
        let y = y_num.as_deref().unwrap_or(&[]);
        let predicted = model.predict(&eval_inputs)?;
        let predicted = predicted.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        let residuals: Vec<f64> = eval_rows
            .iter()
            .enumerate()
            .filter(|&(k, _)| predicted.is_valid(k))
            .map(|(k, &i)| y[i] - predicted.value(k))
            .collect();
        let half_width = crate::kernels::calibration::conformal_half_width(&residuals, level)
            .ok_or_else(|| {
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
        if class_count != 2 {
            return Err(SqlStateError::unsupported(format!(
                "calibrate supports binary classifiers; this label has {class_count} classes"
            )));
        }
        let p = model.uncalibrated_proba(&eval_inputs)?;
        let truth: Vec<bool> = eval_rows
            .iter()
            .map(|&i| class_of.as_ref().and_then(|c| c[i]) == Some(1))
            .collect();
        let (p, truth): (Vec<f64>, Vec<bool>) = p
            .into_iter()
            .zip(truth)
            .filter(|(v, _)| !v.is_nan())
            .unzip();
        let calibrator = if method == "platt" {
            crate::kernels::calibration::Calibrator::fit_platt(&p, &truth)
        } else {
            crate::kernels::calibration::Calibrator::fit_isotonic(&p, &truth)
        };
        model.envelope.extras.push(Extra::Calibration {
            calibrator,
            rows: p.len(),
        });
    }

    // Global importance: mean |contribution| per feature over a sample of
    // the evaluation rows, from the explanations ml_explain gives.
    if model.explainable().is_ok() && !eval_rows.is_empty() {
        let step = eval_rows.len().div_ceil(IMPORTANCE_SAMPLE).max(1);
        let sample: Vec<usize> = (0..eval_rows.len()).step_by(step).collect();
        let sample_inputs: Vec<ArrayRef> = eval_inputs
            .iter()
            .map(|a| take_rows(a, &sample))
            .collect::<Result<_>>()?;
        let chunks: Vec<(usize, usize)> = (0..sample.len())
            .step_by(128)
            .map(|start| (start, (sample.len() - start).min(128)))
            .collect();
        let explained = optimize::par_map(&chunks, ctx.threads, |&(start, len)| {
            let slice: Vec<ArrayRef> = sample_inputs.iter().map(|a| a.slice(start, len)).collect();
            model.explain(&slice)
        });
        let mut totals = vec![0.0; features.len()];
        for part in explained {
            let part = part?;
            for i in 0..part.rows() {
                for (t, c) in totals.iter_mut().zip(part.row(i)) {
                    *t += c.abs();
                }
            }
        }
        let rows = sample.len();
        model.envelope.extras.push(Extra::MeanAbsContribution {
            values: totals.iter().map(|t| t / rows as f64).collect(),
            rows,
        });
    }
    cancelled(ctx)?;

    // Profile and leakage checks on the training rows.
    let train_inputs: Vec<ArrayRef> = inputs
        .iter()
        .map(|a| take_rows(a, &train_rows))
        .collect::<Result<_>>()?;
    let train_columns: Vec<Values> = columns.iter().map(|c| subset(c, &train_rows)).collect();
    let predictions = match (task, eval_predictions) {
        (_, Some(p)) if test_rows.is_empty() => p,
        (Task::Classification, _) if class_count == 2 => model.predict_proba(&train_inputs)?,
        _ => model.predict(&train_inputs)?,
    };
    let pairs: Vec<(&Feature, &Values)> = features.iter().zip(&train_columns).collect();
    let profile = json!({
        "features": optimize::par_map(&pairs, ctx.threads, |(f, c)| {
            super::profile::profile(&f.name, c)
        }),
        "prediction": super::profile::profile_array("prediction", &predictions),
    });
    warnings.extend(leakage(
        &features,
        &train_columns,
        task,
        &train_rows,
        class_of.as_deref(),
        y_num.as_deref(),
        cutoff.zip(time_column.map(|t| schema.field(t).name().clone())),
    ));

    let mut recorded = params.into_iter().collect::<serde_json::Map<_, _>>();
    recorded.insert(
        "features".into(),
        json!(features.iter().map(|f| &f.name).collect::<Vec<_>>()),
    );
    Ok(TrainedModel {
        envelope: model.envelope,
        metrics,
        evaluated_on,
        params: Json::Object(recorded),
        train_rows: train_rows.len(),
        test_rows: test_rows.len(),
        warnings,
        profile,
    })
}

/// The `weight` column: a non-negative number per row (NULL leaves the row
/// out of training).
fn sample_weights(name: &str, column: &ArrayRef) -> Result<Vec<Option<f64>>> {
    if !column.data_type().is_numeric() {
        return Err(SqlStateError::new(
            sqlstate::DATATYPE_MISMATCH,
            format!(
                "option weight: column \"{name}\" must be numeric, got {}",
                column.data_type()
            ),
        ));
    }
    let values = cast(column, &DataType::Float64).map_err(|e| {
        SqlStateError::new(sqlstate::INTERNAL_ERROR, format!("internal error: {e}"))
    })?;
    let values = values.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
    (0..values.len())
        .map(|i| {
            if values.is_null(i) {
                return Ok(None);
            }
            let w = values.value(i);
            if w.is_finite() && w >= 0.0 {
                Ok(Some(w))
            } else {
                Err(SqlStateError::bad_data(format!(
                    "option weight: column \"{name}\" must hold non-negative numbers, got {w} in row {}",
                    i + 1
                )))
            }
        })
        .collect()
}

/// A temporal or numeric column as numbers (NULL sorts first).
fn time_of(name: &str, array: &ArrayRef, n: usize) -> Result<Vec<f64>> {
    let v = values(name, array, FeatureKind::Temporal)
        .or_else(|_| values(name, array, FeatureKind::Numeric))?;
    let Values::Number(v) = v else {
        return Err(SqlStateError::bad_argument(format!(
            "column {name} must be a date, timestamp or number to order folds"
        )));
    };
    Ok((0..n)
        .map(|i| {
            if v.is_valid(i) {
                v.value(i)
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect())
}

/// (fit rows, validation rows) of each fold over the training rows.
fn cv_folds(
    cv: &Cv,
    rows: &[usize],
    class_of: Option<&[Option<usize>]>,
    time: Option<&[f64]>,
    seed: u64,
) -> Vec<(Vec<usize>, Vec<usize>)> {
    match cv {
        Cv::Folds(k) => {
            // Shuffle, then deal each class's rows round-robin: stratified.
            let mut order = rows.to_vec();
            let mut rng = SplitMix(seed ^ 0xC0FFEE);
            for i in (1..order.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            if let Some(c) = class_of {
                order.sort_by_key(|&i| c[i].unwrap_or(0));
            }
            let mut fold_of = vec![0usize; order.len()];
            for (pos, f) in fold_of.iter_mut().enumerate() {
                *f = pos % k;
            }
            (0..*k)
                .map(|f| {
                    let (mut fit, mut check) = (Vec::new(), Vec::new());
                    for (pos, &row) in order.iter().enumerate() {
                        if fold_of[pos] == f {
                            check.push(row);
                        } else {
                            fit.push(row);
                        }
                    }
                    fit.sort_unstable();
                    check.sort_unstable();
                    (fit, check)
                })
                .collect()
        }
        Cv::Time { folds, .. } => {
            let t = time.unwrap_or(&[]);
            let mut order = rows.to_vec();
            order.sort_by(|&a, &b| t[a].total_cmp(&t[b]).then(a.cmp(&b)));
            let blocks = folds + 1;
            let edge = |b: usize| b * order.len() / blocks;
            (1..blocks)
                .map(|b| {
                    (
                        order[..edge(b)].to_vec(),
                        order[edge(b)..edge(b + 1)].to_vec(),
                    )
                })
                .collect()
        }
    }
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

/// Evaluation rows explained to measure each feature's mean |contribution|.
const IMPORTANCE_SAMPLE: usize = 500;

/// Scores `inputs` in row chunks on `threads` threads and joins the results.
fn in_parallel(
    inputs: &[ArrayRef],
    threads: usize,
    score: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Sync,
) -> Result<ArrayRef> {
    let n = inputs.first().map_or(0, |a| a.len());
    let parts = optimize::par_ranges(n, threads, |range| {
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
    datafusion::arrow::compute::concat(&refs)
        .map_err(|e| SqlStateError::new(sqlstate::INTERNAL_ERROR, format!("internal error: {e}")))
}

fn unreachable_values<T>() -> Result<T> {
    Err(SqlStateError::new(
        sqlstate::INTERNAL_ERROR,
        "internal error: unexpected value kind",
    ))
}

fn subset(values: &Values, rows: &[usize]) -> Values {
    let idx = UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32));
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

/// The feature columns an expression reads.
fn referenced_columns(expression: &str, features: &[Feature]) -> Result<Vec<String>> {
    let fields: Vec<datafusion::arrow::datatypes::Field> = features
        .iter()
        .map(|f| {
            datafusion::arrow::datatypes::Field::new(
                &f.name,
                f.data_type.parse().unwrap_or(DataType::Utf8),
                true,
            )
        })
        .collect();
    let schema =
        datafusion::common::DFSchema::try_from(datafusion::arrow::datatypes::Schema::new(fields))
            .map_err(|e| {
            SqlStateError::new(sqlstate::INTERNAL_ERROR, format!("internal error: {e}"))
        })?;
    let ctx = datafusion::prelude::SessionContext::new();
    let expr = ctx
        .parse_sql_expr(expression, &schema)
        .map_err(|e| SqlStateError::bad_argument(format!("sql_rule expression: {e}")))?;
    Ok(expr
        .column_refs()
        .into_iter()
        .map(|c| c.name.clone())
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn fit(
    options: &TrainOptions,
    task: Task,
    x: Option<&Matrix>,
    train_rows: &[usize],
    class_of: Option<&[Option<usize>]>,
    classes: usize,
    y_num: Option<&[f64]>,
    w: &[f64],
    monotone: &[i8],
    ctx: &TrainContext<'_>,
    params: &mut BTreeMap<String, Json>,
    fit_metrics: &mut BTreeMap<String, f64>,
) -> Result<Payload> {
    let threads = ctx.threads;
    let missing_matrix = || {
        SqlStateError::new(
            sqlstate::INTERNAL_ERROR,
            "internal error: no feature matrix",
        )
    };
    let y_train_num = || -> Vec<f64> {
        let y = y_num.unwrap_or(&[]);
        train_rows.iter().map(|&i| y[i]).collect()
    };
    let y_train_class = || -> Vec<usize> {
        train_rows
            .iter()
            .map(|&i| class_of.and_then(|c| c[i]).unwrap_or(0))
            .collect()
    };
    Ok(match options.algorithm {
        Algorithm::Linear | Algorithm::Ridge => {
            let x = x.ok_or_else(missing_matrix)?;
            let l2 = if options.algorithm == Algorithm::Ridge {
                options.l2.unwrap_or(1.0)
            } else {
                0.0
            };
            if options.algorithm == Algorithm::Ridge {
                params.insert("l2".into(), json!(l2));
            }
            let fit = optimize::least_squares(x, &y_train_num(), w, l2, threads);
            Payload::Linear {
                coef: fit.coef,
                intercept: fit.intercept,
            }
        }
        Algorithm::Lasso => {
            let x = x.ok_or_else(missing_matrix)?;
            let l1 = options.l1.unwrap_or(1.0);
            let max_iter = options.max_iter.unwrap_or(1000);
            let tol = options.tol.unwrap_or(1e-4);
            params.insert("l1".into(), json!(l1));
            params.insert("max_iter".into(), json!(max_iter));
            params.insert("tol".into(), json!(tol));
            let fit = optimize::lasso(x, &y_train_num(), w, l1, max_iter, tol);
            params.insert("iterations".into(), json!(fit.iterations));
            Payload::Linear {
                coef: fit.coef,
                intercept: fit.intercept,
            }
        }
        Algorithm::Logistic => {
            let x = x.ok_or_else(missing_matrix)?;
            let l2 = options.l2.unwrap_or(1.0);
            let l1 = options.l1.unwrap_or(0.0);
            let max_iter = options.max_iter.unwrap_or(100);
            let tol = options.tol.unwrap_or(1e-4);
            params.insert("l2".into(), json!(l2));
            params.insert("l1".into(), json!(l1));
            params.insert("max_iter".into(), json!(max_iter));
            params.insert("tol".into(), json!(tol));
            let y = y_train_class();
            if classes == 2 {
                let y01: Vec<f64> = y.iter().map(|&c| c as f64).collect();
                let fit = optimize::logistic(
                    x,
                    &y01,
                    w,
                    optimize::Solver {
                        l2,
                        l1,
                        max_iter,
                        tol,
                        threads,
                    },
                );
                params.insert("iterations".into(), json!(fit.iterations));
                Payload::Logistic {
                    coef: fit.coef,
                    intercept: vec![fit.intercept],
                    multinomial: false,
                }
            } else {
                if l1 > 0.0 {
                    return Err(SqlStateError::unsupported(
                        "l1 for multi-class logistic regression is not supported; use l2",
                    ));
                }
                let solver = optimize::Solver {
                    l2,
                    l1: 0.0,
                    max_iter: max_iter.max(200),
                    tol,
                    threads,
                };
                let fit = optimize::softmax_regression(x, &y, w, classes, solver);
                params.insert("iterations".into(), json!(fit.iterations));
                Payload::Logistic {
                    coef: fit.coef,
                    intercept: fit.intercept,
                    multinomial: true,
                }
            }
        }
        Algorithm::KMeans => {
            let x = x.ok_or_else(missing_matrix)?;
            let max_iter = options.max_iter.unwrap_or(300);
            let tol = options.tol.unwrap_or(1e-4);
            params.insert("k".into(), json!(options.k));
            params.insert("max_iter".into(), json!(max_iter));
            let fit = optimize::kmeans(x, options.k, max_iter, tol, options.seed, threads);
            params.insert("iterations".into(), json!(fit.iterations));
            Payload::KMeans {
                centroids: fit.centroids,
                k: options.k.min(x.rows).max(1),
            }
        }
        Algorithm::Baseline => match task {
            Task::Classification => {
                let y = y_train_class();
                let mut counts = vec![0usize; classes];
                y.iter().for_each(|&c| counts[c] += 1);
                let total = y.len().max(1) as f64;
                let class = counts
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
                    .map(|(i, _)| i);
                Payload::Baseline {
                    class,
                    priors: counts.iter().map(|&c| c as f64 / total).collect(),
                    mean: 0.0,
                }
            }
            Task::Regression => {
                let y = y_train_num();
                Payload::Baseline {
                    class: None,
                    priors: vec![],
                    mean: y.iter().sum::<f64>() / y.len().max(1) as f64,
                }
            }
            Task::Clustering | Task::Anomaly => {
                return Err(SqlStateError::bad_argument("baseline models need a label"));
            }
        },
        Algorithm::SqlRule => Payload::SqlRule {
            expression: options.expression.clone().unwrap_or_default(),
        },
        Algorithm::DecisionTree | Algorithm::RandomForest => {
            let x = x.ok_or_else(missing_matrix)?;
            let targets: Vec<Vec<f64>> = match task {
                Task::Regression => vec![y_train_num()],
                Task::Classification => {
                    let y = y_train_class();
                    let indicator =
                        |k: usize| y.iter().map(|&c| if c == k { 1.0 } else { 0.0 }).collect();
                    if classes == 2 {
                        vec![indicator(1)]
                    } else {
                        (0..classes).map(indicator).collect()
                    }
                }
                Task::Clustering | Task::Anomaly => {
                    return Err(SqlStateError::bad_argument(format!(
                        "{} needs a label",
                        options.algorithm.name()
                    )));
                }
            };
            fit_forest(options, task, x, &targets, w, ctx, params, fit_metrics)?
        }
        Algorithm::IsolationForest => {
            let x = x.ok_or_else(missing_matrix)?;
            fit_isolation(options, x, ctx, params)?
        }
        Algorithm::Gbdt => {
            let x = x.ok_or_else(missing_matrix)?;
            {
                // Only the label of the task exists: classes or numbers.
                let (y_class, y_number) = match task {
                    Task::Regression => (vec![], y_train_num()),
                    _ => (y_train_class(), vec![]),
                };
                fit_gbdt(
                    options, task, x, classes, &y_class, &y_number, w, monotone, ctx, params,
                )?
            }
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn fit_forest(
    options: &TrainOptions,
    task: Task,
    x: &Matrix,
    targets: &[Vec<f64>],
    w: &[f64],
    ctx: &TrainContext<'_>,
    params: &mut BTreeMap<String, Json>,
    fit_metrics: &mut BTreeMap<String, f64>,
) -> Result<Payload> {
    use crate::kernels::tree::forest::{self, ForestParams};
    use crate::kernels::tree::gbdt::Hooks;
    use crate::kernels::tree::grow::TreeParams;
    let t = &options.trees;
    let forest_model = options.algorithm == Algorithm::RandomForest;
    let trees = if forest_model { t.trees } else { 1 };
    let split_features = if forest_model {
        t.split_features.count(x.cols)
    } else {
        0
    };
    let forest_params = ForestParams {
        trees,
        tree: TreeParams {
            max_depth: t.max_depth,
            min_rows_per_leaf: t.min_rows_per_leaf,
            min_hessian: 0.0,
            l2: 0.0,
            monotone: vec![],
            threads: ctx.threads,
            split_features,
            seed: options.seed,
        },
        bootstrap: forest_model,
        max_bins: t.max_bins,
        seed: options.seed,
    };
    let progress = |tree: usize| {
        if tree.is_multiple_of(10) || tree == trees {
            (ctx.progress)(&format!(
                "{}: tree {tree} of {trees}",
                options.algorithm.name()
            ));
        }
    };
    let hooks = Hooks {
        progress: &progress,
        cancelled: ctx.cancelled,
    };
    let (model, oob) =
        forest::fit(&x.data, x.cols, targets, w, &forest_params, &hooks).ok_or_else(canceled)?;
    params.insert("trees".into(), json!(trees));
    params.insert(
        "max_depth".into(),
        if t.max_depth == usize::MAX {
            json!("none")
        } else {
            json!(t.max_depth)
        },
    );
    params.insert("min_rows_per_leaf".into(), json!(t.min_rows_per_leaf));
    if forest_model {
        params.insert("split_features".into(), json!(split_features));
    }
    if let Some(oob) = &oob {
        out_of_bag_metrics(task, targets, oob, fit_metrics);
    }
    params.insert(
        "depth".into(),
        json!(model.trees.iter().map(|t| t.depth()).max().unwrap_or(0)),
    );
    Ok(Payload::Forest(model))
}

/// scikit-learn's `oob_score_` (accuracy for classifiers, R² for
/// regressors) over the rows some tree left out, plus the out-of-bag ROC AUC
/// of a binary classifier.
fn out_of_bag_metrics(
    task: Task,
    targets: &[Vec<f64>],
    oob: &crate::kernels::tree::forest::OutOfBag,
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

fn fit_isolation(
    options: &TrainOptions,
    x: &Matrix,
    ctx: &TrainContext<'_>,
    params: &mut BTreeMap<String, Json>,
) -> Result<Payload> {
    use crate::kernels::tree::isolation::{self, IsolationParams};
    let t = &options.trees;
    let progress = |tree: usize| {
        if tree.is_multiple_of(10) || tree == t.trees {
            (ctx.progress)(&format!("isolation_forest: tree {tree} of {}", t.trees));
        }
    };
    let hooks = crate::kernels::tree::gbdt::Hooks {
        progress: &progress,
        cancelled: ctx.cancelled,
    };
    let model = isolation::fit(
        &x.data,
        x.cols,
        &IsolationParams {
            trees: t.trees,
            sample_size: t.sample_size,
            seed: options.seed,
        },
        &hooks,
    )
    .ok_or_else(canceled)?;
    params.insert("trees".into(), json!(t.trees));
    params.insert("sample_size".into(), json!(model.sample_size));
    params.insert(
        "depth".into(),
        json!(model.trees.iter().map(|t| t.depth()).max().unwrap_or(0)),
    );
    Ok(Payload::Isolation(model))
}

/// The `monotone` option as one sign per matrix column; only numeric,
/// boolean and time features (one column each) can be constrained.
fn monotone_columns(
    options: &TrainOptions,
    features: &[Feature],
    pre: &Preprocessor,
) -> Result<Vec<i8>> {
    let constraints = &options.trees.monotone;
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

#[allow(clippy::too_many_arguments)]
fn fit_gbdt(
    options: &TrainOptions,
    task: Task,
    x: &Matrix,
    classes: usize,
    y_class: &[usize],
    y_num: &[f64],
    w: &[f64],
    monotone: &[i8],
    ctx: &TrainContext<'_>,
    params: &mut BTreeMap<String, Json>,
) -> Result<Payload> {
    use super::options::TreeObjective;
    use crate::kernels::tree::gbdt::{self, GbdtParams, Hooks, Objective};
    use crate::kernels::tree::grow::TreeParams;
    let t = &options.trees;
    let (objective, y): (Objective, Vec<f64>) = match (task, t.objective) {
        (Task::Classification, TreeObjective::Default) if classes == 2 => (
            Objective::Binary,
            y_class.iter().map(|&c| c as f64).collect(),
        ),
        (Task::Classification, TreeObjective::Default) => (
            Objective::Softmax { classes },
            y_class.iter().map(|&c| c as f64).collect(),
        ),
        (Task::Regression, TreeObjective::Default) => (Objective::Squared, y_num.to_vec()),
        (Task::Regression, TreeObjective::Huber(delta)) => {
            (Objective::Huber { delta }, y_num.to_vec())
        }
        (Task::Regression, TreeObjective::Quantile(alpha)) => {
            (Objective::Quantile { alpha }, y_num.to_vec())
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
    // Early stopping watches every 10th training row, held out from fitting.
    let (fit_rows, valid_rows): (Vec<usize>, Vec<usize>) = if t.early_stopping > 0 {
        (0..x.rows).partition(|i| i % 10 != 9)
    } else {
        ((0..x.rows).collect(), vec![])
    };
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
    let gbdt_params = GbdtParams {
        rounds: t.rounds,
        learning_rate: t.learning_rate,
        tree: TreeParams {
            max_depth: t.max_depth,
            min_rows_per_leaf: t.min_rows_per_leaf,
            min_hessian: 1e-3,
            l2: t.l2,
            monotone: monotone.to_vec(),
            threads: ctx.threads,
            split_features: 0,
            seed: options.seed,
        },
        subsample: t.subsample,
        colsample: t.colsample,
        max_bins: t.max_bins,
        early_stopping: t.early_stopping,
        seed: options.seed,
    };
    let rounds = t.rounds;
    let progress = |round: usize| {
        if round.is_multiple_of(10) || round == rounds {
            (ctx.progress)(&format!("gbdt: round {round} of {rounds}"));
        }
    };
    let hooks = Hooks {
        progress: &progress,
        cancelled: ctx.cancelled,
    };
    let valid = (!valid_rows.is_empty()).then_some((vx.as_slice(), vy.as_slice()));
    let model = gbdt::fit(
        &fx,
        x.cols,
        &fy,
        &fw,
        valid,
        objective,
        &gbdt_params,
        &hooks,
    )
    .ok_or_else(canceled)?;
    for (k, v) in [
        ("rounds", json!(t.rounds)),
        ("learning_rate", json!(t.learning_rate)),
        ("max_depth", json!(t.max_depth)),
        ("min_rows_per_leaf", json!(t.min_rows_per_leaf)),
        ("l2", json!(t.l2)),
        ("subsample", json!(t.subsample)),
        ("colsample", json!(t.colsample)),
        ("max_bins", json!(t.max_bins)),
        ("trees", json!(model.trees.len())),
    ] {
        params.insert(k.into(), v);
    }
    if let Some(best) = model.best_round {
        params.insert("best_round".into(), json!(best));
    }
    Ok(Payload::Gbdt(model))
}

fn leakage(
    features: &[Feature],
    columns: &[Values],
    task: Task,
    train_rows: &[usize],
    class_of: Option<&[Option<usize>]>,
    y_num: Option<&[f64]>,
    cutoff: Option<(f64, String)>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let binary: Option<Vec<bool>> =
        class_of.map(|c| train_rows.iter().map(|&i| c[i] == Some(1)).collect());
    let y: Option<Vec<f64>> = y_num.map(|y| train_rows.iter().map(|&i| y[i]).collect());
    for (f, column) in features.iter().zip(columns) {
        match column {
            Values::Number(v) => {
                let x: Vec<f64> = (0..v.len())
                    .map(|i| if v.is_valid(i) { v.value(i) } else { f64::NAN })
                    .collect();
                let present: Vec<usize> = (0..x.len()).filter(|&i| !x[i].is_nan()).collect();
                if present.len() < 10 {
                    continue;
                }
                if let (Task::Classification, Some(b)) = (task, &binary) {
                    let yb: Vec<bool> = present.iter().map(|&i| b[i]).collect();
                    let xs: Vec<f64> = present.iter().map(|&i| x[i]).collect();
                    if let Some(auc) = metrics::roc_auc(&yb, &xs)
                        && auc.max(1.0 - auc) >= 0.995
                    {
                        warnings.push(format!(
                            "possible leakage: feature \"{}\" alone separates the label (AUC {:.4}); check it is known before the outcome",
                            f.name,
                            auc.max(1.0 - auc)
                        ));
                    }
                }
                if let (Task::Regression, Some(y)) = (task, &y) {
                    let xs: Vec<f64> = present.iter().map(|&i| x[i]).collect();
                    let ys: Vec<f64> = present.iter().map(|&i| y[i]).collect();
                    let r = pearson(&xs, &ys);
                    if r.abs() >= 0.995 {
                        warnings.push(format!(
                            "possible leakage: feature \"{}\" alone predicts the label (correlation {:.4})",
                            f.name, r
                        ));
                    }
                }
                if let Some((cut, ref split_col)) = cutoff
                    && f.kind == FeatureKind::Temporal
                    && &f.name != split_col
                    && x.iter().any(|&t| t.is_finite() && t > cut)
                {
                    warnings.push(format!(
                        "possible leakage: timestamp feature \"{}\" has training values after the split cut-off on \"{}\"",
                        f.name, split_col
                    ));
                }
            }
            // Training columns are always `Text`; views exist only when scoring.
            Values::TextView(_) => continue,
            Values::Text(v) => {
                let Some(b) = &binary else { continue };
                let mut by_level: HashMap<&str, (usize, usize)> = HashMap::new();
                for (i, &positive) in b.iter().enumerate().take(v.len()) {
                    if v.is_valid(i) {
                        let e = by_level.entry(v.value(i)).or_default();
                        e.0 += 1;
                        if positive {
                            e.1 += 1;
                        }
                    }
                }
                let total: usize = by_level.values().map(|e| e.0).sum();
                // Identifier-like columns (nearly one level per row) are not flagged.
                if total < 10 || by_level.len() * 2 > total {
                    continue;
                }
                let correct: usize = by_level.values().map(|(n, pos)| (*pos).max(n - pos)).sum();
                let purity = correct as f64 / total as f64;
                let base = b.iter().filter(|&&v| v).count() as f64 / b.len().max(1) as f64;
                if purity >= 0.995 && base.max(1.0 - base) < 0.99 {
                    warnings.push(format!(
                        "possible leakage: feature \"{}\" alone determines the label ({:.1}% of rows); check it is known before the outcome",
                        f.name,
                        purity * 100.0
                    ));
                }
            }
        }
    }
    warnings
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Hex sha256 of the training data ([`DataDigest`]), so a version records
/// exactly what it learned from.
pub fn data_sha256(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String> {
    let mut digest = DataDigest::new(schema)?;
    for b in batches {
        digest.update(b)?;
    }
    digest.finish()
}

/// sha256 of rows, fed one batch at a time (a snapshot is hashed while it
/// is written, without holding it). The schema (names and types) and then
/// each row in Arrow's row format, length-prefixed, are hashed: the row format
/// encodes values and NULLs canonically, so the digest depends on the rows
/// and their order only, not on how they were split into batches or how the
/// arrays were laid out in memory (a snapshot read back hashes the same).
pub struct DataDigest {
    hasher: sha2::Sha256,
    converter: datafusion::arrow::row::RowConverter,
}

fn digest_error(e: impl std::fmt::Display) -> SqlStateError {
    SqlStateError::new(sqlstate::INTERNAL_ERROR, format!("internal error: {e}"))
}

impl DataDigest {
    pub fn new(schema: &SchemaRef) -> Result<Self> {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        for f in schema.fields() {
            hasher.update(format!("{}:{}\n", f.name(), f.data_type()).as_bytes());
        }
        let fields = schema
            .fields()
            .iter()
            .map(|f| datafusion::arrow::row::SortField::new(f.data_type().clone()))
            .collect();
        let converter = datafusion::arrow::row::RowConverter::new(fields).map_err(digest_error)?;
        Ok(DataDigest { hasher, converter })
    }

    pub fn update(&mut self, batch: &RecordBatch) -> Result<()> {
        use sha2::Digest;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let rows = self
            .converter
            .convert_columns(batch.columns())
            .map_err(digest_error)?;
        for row in rows.iter() {
            let bytes = row.as_ref();
            self.hasher.update((bytes.len() as u64).to_le_bytes());
            self.hasher.update(bytes);
        }
        Ok(())
    }

    /// The hex digest.
    pub fn finish(self) -> Result<String> {
        use sha2::Digest;
        Ok(self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BooleanArray, Float64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn ctx() -> TrainContext<'static> {
        TrainContext {
            threads: 1,
            progress: &|_| {},
            cancelled: &|| false,
        }
    }

    fn opts(pairs: &[(&str, &str)]) -> TrainOptions {
        TrainOptions::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .expect("options")
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
    fn cv_folds_are_stratified_and_time_folds_expand() {
        let rows: Vec<usize> = (0..100).collect();
        let class_of: Vec<Option<usize>> =
            (0..100).map(|i| Some(usize::from(i % 4 == 0))).collect();
        let folds = cv_folds(&Cv::Folds(5), &rows, Some(&class_of), None, 1);
        assert_eq!(folds.len(), 5);
        let mut seen = vec![0; 100];
        for (fit, check) in &folds {
            assert_eq!(fit.len() + check.len(), 100);
            assert_eq!(check.len(), 20);
            // 25% positives overall: 5 of each validation fold.
            assert_eq!(check.iter().filter(|&&i| class_of[i] == Some(1)).count(), 5);
            for &i in check {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&s| s == 1), "every row validated once");
        let time: Vec<f64> = (0..100).map(|i| f64::from(100 - i)).collect();
        let folds = cv_folds(
            &Cv::Time {
                column: "t".into(),
                folds: 3,
            },
            &rows,
            None,
            Some(&time),
            1,
        );
        assert_eq!(folds.len(), 3);
        for (k, (fit, check)) in folds.iter().enumerate() {
            assert_eq!(fit.len(), 25 * (k + 1));
            assert_eq!(check.len(), 25);
            // Every training row is earlier than every validation row.
            let latest_fit = fit.iter().map(|&i| time[i]).fold(f64::MIN, f64::max);
            let earliest_check = check.iter().map(|&i| time[i]).fold(f64::MAX, f64::min);
            assert!(latest_fit < earliest_check);
        }
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

    #[test]
    fn stratified_split_keeps_class_balance() {
        let keep: Vec<usize> = (0..100).collect();
        let classes: Vec<Option<usize>> = (0..100).map(|i| Some(usize::from(i < 10))).collect();
        let (_train, test, _) = split_rows(&Split::Stratified(0.2), &keep, Some(&classes), None, 1);
        assert_eq!(test.len(), 20);
        assert_eq!(test.iter().filter(|&&i| i < 10).count(), 2);
    }

    #[test]
    fn time_split_holds_out_the_latest_rows() {
        let keep: Vec<usize> = (0..10).collect();
        let t: Vec<f64> = (0..10).map(|i| (10 - i) as f64).collect();
        let (train, test, cutoff) = split_rows(
            &Split::Time {
                column: "t".into(),
                fraction: 0.3,
            },
            &keep,
            None,
            Some(&t),
            1,
        );
        assert_eq!(test, vec![0, 1, 2]);
        assert_eq!(train.len(), 7);
        assert_eq!(cutoff, Some(8.0));
    }
}
