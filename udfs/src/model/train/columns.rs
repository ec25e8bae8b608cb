//! Phase 1: what the training query's columns are for. The label and the
//! task, the features (every other supported column, minus `exclude`, or
//! exactly `features`), the per-row weights, and which rows can train.
//!
//! | column               | becomes                                                  |
//! |----------------------|----------------------------------------------------------|
//! | `label`              | class indices (classification), numbers (regression), or known anomalies (anomaly models: never trained on) |
//! | `weight`             | a non-negative weight per row; NULL leaves the row out    |
//! | `reweigh`            | each row's group (as text; NULL is a group of its own), for reweighing; a feature only if `features` lists it |
//! | the `split` time column | nothing yet: the split reads it                       |
//! | any other            | a feature when its type is one models use (`schema::FeatureKind`) |
//!
//! Rows whose label is NULL (or not finite, for regression) are left out,
//! with a warning that counts them.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};

use crate::error::{SqlStateError, sqlstate};
use crate::model::options::{Split, TrainOptions};
use crate::model::schema::{ClassValue, Feature, FeatureKind, Label, Result, Task};

/// The training query's columns, read for training.
pub(super) struct Columns {
    pub task: Task,
    pub features: Vec<Feature>,
    /// Each feature's column, in feature order.
    pub inputs: Vec<ArrayRef>,
    pub label: Option<Label>,
    /// Each row's class index (classification); `None` for a NULL label.
    pub class_of: Option<Vec<Option<usize>>>,
    /// Each row's label value (regression); NaN for a NULL label.
    pub numbers: Option<Vec<f64>>,
    /// Known anomalies (anomaly models with a label).
    pub anomaly_truth: Option<Vec<Option<bool>>>,
    /// Each row's weight (1 without a `weight` column; 0 for left-out rows).
    pub weights: Vec<f64>,
    /// Each row's group of the `reweigh` column (`None`: NULL).
    pub groups: Option<Vec<Option<String>>>,
    /// The rows that can train, ascending.
    pub keep: Vec<usize>,
    /// The `split = 'time:<column>:F'` column's position.
    pub split_time: Option<usize>,
    pub warnings: Vec<String>,
}

impl Columns {
    pub fn class_count(&self) -> usize {
        self.label.as_ref().map_or(0, |l| l.classes.len())
    }
}

/// A column the options name that the query does not have.
pub(super) fn unknown_column(name: &str, what: &str, schema: &SchemaRef) -> SqlStateError {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    SqlStateError::new(
        sqlstate::UNDEFINED_COLUMN,
        format!("{what} column \"{name}\" is not in the training query"),
    )
    .with_hint(format!("columns: {}", names.join(", ")))
}

/// Reads the columns of `data` as `options` say.
pub(super) fn read(data: &RecordBatch, options: &TrainOptions) -> Result<Columns> {
    let schema = data.schema();
    let n = data.num_rows();
    let column = |name: &str| -> Option<usize> { schema.index_of(name).ok() };
    let label_index = match &options.label {
        Some(l) => Some(column(l).ok_or_else(|| unknown_column(l, "label", &schema))?),
        None => None,
    };
    let weight_index = match &options.weight {
        Some(c) => Some(column(c).ok_or_else(|| unknown_column(c, "weight", &schema))?),
        None => None,
    };
    let task = task(options, label_index.map(|i| schema.field(i).data_type()))?;
    let reweigh_index = match &options.reweigh {
        Some(c) => {
            let i = column(c).ok_or_else(|| unknown_column(c, "reweigh", &schema))?;
            if task != Task::Classification || label_index.is_none() {
                return Err(SqlStateError::bad_argument(format!(
                    "option reweigh is for classification with a label, not {}",
                    task.name()
                )));
            }
            Some(i)
        }
        None => None,
    };
    for name in options
        .exclude
        .iter()
        .chain(options.features.iter().flatten())
    {
        if column(name).is_none() {
            return Err(unknown_column(name, "feature", &schema));
        }
    }
    let split_time = match options.split.as_ref() {
        Some(Split::Time { column: c, .. }) => {
            Some(column(c).ok_or_else(|| unknown_column(c, "split time", &schema))?)
        }
        _ => None,
    };
    let (features, feature_index) = features(
        options,
        &schema,
        label_index,
        weight_index,
        split_time,
        reweigh_index,
    )?;
    for name in options.named_columns() {
        if !features.iter().any(|f| f.name == name) {
            return Err(unknown_column(name, "preprocessing option", &schema));
        }
    }
    let (features, feature_index) = match options.algorithm.reads(&options.hyper(), &features)? {
        // The model reads only some of the columns (a rule, its expression's).
        Some(read) => features
            .into_iter()
            .zip(feature_index)
            .filter(|(f, _)| read.contains(&f.name))
            .unzip(),
        None => (features, feature_index),
    };
    if features.is_empty() && options.algorithm.needs_features() {
        return Err(SqlStateError::bad_argument(
            "the training query has no usable feature columns",
        )
        .with_hint("models use numeric, boolean, text and timestamp columns"));
    }

    let label_name = label_index
        .map(|i| schema.field(i).name().clone())
        .unwrap_or_default();
    let mut label = None;
    let mut class_of = None;
    let mut numbers = None;
    let mut anomaly_truth = None;
    let mut keep: Vec<usize> = match (task, label_index) {
        (Task::Classification, Some(li)) => {
            let (classes, rows) = classes(data.column(li), &label_name)?;
            if classes.len() < 2 {
                return Err(SqlStateError::bad_data(format!(
                    "label \"{label_name}\" has {} class(es); classification needs at least two",
                    classes.len()
                )));
            }
            label = Some(Label {
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
            let y = y.as_primitive::<Float64Type>();
            let keep = (0..n)
                .filter(|&i| y.is_valid(i) && y.value(i).is_finite())
                .collect();
            numbers = Some(
                (0..n)
                    .map(|i| if y.is_valid(i) { y.value(i) } else { f64::NAN })
                    .collect(),
            );
            label = Some(Label {
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
            let y = cast(column, &DataType::Float64).map_err(SqlStateError::internal)?;
            let y = y.as_primitive::<Float64Type>();
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
    if let Some(t) = split_time
        && options.features.is_none()
    {
        warnings.push(format!(
            "the time split column \"{}\" is not a feature: a model of the clock extrapolates on every later row (list it in features to keep it)",
            schema.field(t).name()
        ));
    }
    for f in features.iter().filter(|f| f.kind == FeatureKind::Temporal) {
        warnings.push(format!(
            "timestamp feature \"{}\": rows scored later lie past every training value, so ml_drift will flag it and the model extrapolates; exclude it or use a cyclic part of it (month, weekday, hour)",
            f.name
        ));
    }
    let dropped = n - keep.len();
    if dropped > 0 {
        warnings.push(format!("{dropped} rows with a NULL label were left out"));
    }
    let weights = match weight_index {
        Some(wi) => {
            let given = sample_weights(schema.field(wi).name(), data.column(wi))?;
            let before = keep.len();
            keep.retain(|&i| given[i].is_some());
            if keep.len() < before {
                warnings.push(format!(
                    "{} rows with a NULL weight were left out",
                    before - keep.len()
                ));
            }
            given.iter().map(|w| w.unwrap_or(0.0)).collect()
        }
        None => vec![1.0; n],
    };
    let inputs = feature_index
        .iter()
        .map(|&i| data.column(i).clone())
        .collect();
    let groups = match reweigh_index {
        Some(i) => {
            let text = cast(data.column(i), &DataType::Utf8).map_err(|_| {
                SqlStateError::bad_argument(format!(
                    "option reweigh: column \"{}\" of type {} cannot be read as groups",
                    schema.field(i).name(),
                    schema.field(i).data_type()
                ))
            })?;
            let text = text.as_string::<i32>();
            Some(
                (0..n)
                    .map(|r| text.is_valid(r).then(|| text.value(r).to_string()))
                    .collect(),
            )
        }
        None => None,
    };
    Ok(Columns {
        task,
        features,
        inputs,
        label,
        class_of,
        numbers,
        anomaly_truth,
        weights,
        groups,
        keep,
        split_time,
        warnings,
    })
}

/// The task: as given or implied by the algorithm, else from the label's
/// type; and the options that only some tasks take.
fn task(options: &TrainOptions, label_type: Option<&DataType>) -> Result<Task> {
    let task = match (options.task, label_type) {
        (Some(t), _) => t,
        (
            None,
            Some(DataType::Boolean | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
        ) => Task::Classification,
        (None, Some(_)) => Task::Regression,
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
    if !matches!(task, Task::Clustering | Task::Anomaly) && label_type.is_none() {
        return Err(SqlStateError::bad_argument(format!(
            "option label is required for {} models",
            task.name()
        )));
    }
    Ok(task)
}

/// The feature columns and their positions in the query.
///
/// A time split's column is not a feature unless `features` lists it: a
/// model that learns the clock extrapolates on every later row, and drift
/// checks flag it on all of them.
fn features(
    options: &TrainOptions,
    schema: &SchemaRef,
    label_index: Option<usize>,
    weight_index: Option<usize>,
    split_time: Option<usize>,
    reweigh_index: Option<usize>,
) -> Result<(Vec<Feature>, Vec<usize>)> {
    let mut features = Vec::new();
    let mut index = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        if Some(i) == label_index
            || Some(i) == weight_index
            || (Some(i) == split_time && options.features.is_none())
            || (Some(i) == reweigh_index && options.features.is_none())
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
        index.push(i);
    }
    Ok((features, index))
}

/// Class values of a label column, sorted, and each row's class index.
fn classes(label: &ArrayRef, name: &str) -> Result<(Vec<ClassValue>, Vec<Option<usize>>)> {
    let mismatch = |e| {
        SqlStateError::new(
            sqlstate::DATATYPE_MISMATCH,
            format!("label \"{name}\": {e}"),
        )
    };
    let values: Vec<Option<ClassValue>> = match label.data_type() {
        DataType::Boolean => label
            .as_boolean()
            .iter()
            .map(|v| v.map(ClassValue::Bool))
            .collect(),
        t if t.is_integer() => {
            let ints = cast(label, &DataType::Int64).map_err(mismatch)?;
            ints.as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map(ClassValue::Int))
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
            let text = cast(label, &DataType::Utf8).map_err(mismatch)?;
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
    let values = cast(column, &DataType::Float64).map_err(SqlStateError::internal)?;
    let values = values.as_primitive::<Float64Type>();
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
