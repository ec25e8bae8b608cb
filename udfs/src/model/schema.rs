//! What a model consumes and produces: its features (by name, with a kind that
//! decides their preprocessing) and its label (type and classes).
//!
//! | Arrow type of the column                      | feature kind |
//! |-----------------------------------------------|--------------|
//! | integers, floats, decimals                    | numeric      |
//! | boolean                                       | boolean (0/1)|
//! | text (Utf8, LargeUtf8, Utf8View, dictionary)  | categorical  |
//! | timestamp, date                               | temporal (seconds since the Unix epoch) |

use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringArray, StringViewArray,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::util::display::FormatOptions;
use serde::{Deserialize, Serialize};

use crate::error::{SqlStateError, sqlstate};

pub type Result<T> = std::result::Result<T, SqlStateError>;

/// How a feature is preprocessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureKind {
    Numeric,
    Boolean,
    Categorical,
    Temporal,
}

impl FeatureKind {
    pub fn of(data_type: &DataType) -> Option<FeatureKind> {
        use DataType::*;
        match data_type {
            Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float16
            | Float32
            | Float64
            | Decimal32(_, _)
            | Decimal64(_, _)
            | Decimal128(_, _)
            | Decimal256(_, _) => Some(FeatureKind::Numeric),
            Boolean => Some(FeatureKind::Boolean),
            Utf8 | LargeUtf8 | Utf8View => Some(FeatureKind::Categorical),
            Dictionary(_, v) if matches!(v.as_ref(), Utf8 | LargeUtf8 | Utf8View) => {
                Some(FeatureKind::Categorical)
            }
            Timestamp(_, _) | Date32 | Date64 => Some(FeatureKind::Temporal),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FeatureKind::Numeric => "numeric",
            FeatureKind::Boolean => "boolean",
            FeatureKind::Categorical => "categorical",
            FeatureKind::Temporal => "temporal",
        }
    }
}

/// One input of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    pub kind: FeatureKind,
    /// The Arrow type it was trained on, for `DESCRIBE MODEL`.
    pub data_type: String,
}

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    Classification,
    Regression,
    Clustering,
    /// Appended after format 1's variants: postcard stores the index.
    Anomaly,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Clustering => "clustering",
            Task::Anomaly => "anomaly",
        }
    }

    pub fn parse(s: &str) -> Option<Task> {
        match s.to_ascii_lowercase().as_str() {
            "classification" => Some(Task::Classification),
            "regression" => Some(Task::Regression),
            "clustering" => Some(Task::Clustering),
            "anomaly" | "anomaly_detection" => Some(Task::Anomaly),
            _ => None,
        }
    }
}

/// A class of a classifier, in the label's own type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClassValue {
    Int(i64),
    Bool(bool),
    Text(String),
}

impl std::fmt::Display for ClassValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClassValue::Int(v) => write!(f, "{v}"),
            ClassValue::Bool(v) => write!(f, "{v}"),
            ClassValue::Text(v) => f.write_str(v),
        }
    }
}

/// The label a supervised model predicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    /// The Arrow type of the label column; predictions come back in it.
    pub data_type: String,
    /// Classes in sorted order (classification only). For binary problems the
    /// second class is the positive one.
    pub classes: Vec<ClassValue>,
}

impl Label {
    pub fn arrow_type(&self) -> DataType {
        DataType::from_str(&self.data_type).unwrap_or(DataType::Utf8)
    }

    /// Builds an array of predicted classes from class indices.
    pub fn classes_to_array(&self, indices: &[Option<usize>]) -> Result<ArrayRef> {
        let get = |i: &Option<usize>| i.and_then(|i| self.classes.get(i));
        let array: ArrayRef = match self.classes.first() {
            Some(ClassValue::Bool(_)) => Arc::new(
                indices
                    .iter()
                    .map(|i| match get(i) {
                        Some(ClassValue::Bool(b)) => Some(*b),
                        _ => None,
                    })
                    .collect::<BooleanArray>(),
            ),
            Some(ClassValue::Int(_)) => Arc::new(
                indices
                    .iter()
                    .map(|i| match get(i) {
                        Some(ClassValue::Int(v)) => Some(*v),
                        _ => None,
                    })
                    .collect::<Int64Array>(),
            ),
            _ => Arc::new(
                indices
                    .iter()
                    .map(|i| match get(i) {
                        Some(ClassValue::Text(v)) => Some(v.clone()),
                        Some(other) => Some(other.to_string()),
                        None => None,
                    })
                    .collect::<StringArray>(),
            ),
        };
        let target = self.arrow_type();
        if array.data_type() == &target {
            return Ok(array);
        }
        cast_with_options(&array, &target, &CastOptions::default())
            .map_err(|e| SqlStateError::internal(format!("cannot return classes as {target}: {e}")))
    }
}

/// A feature column in the form preprocessing consumes.
#[derive(Debug, Clone)]
pub enum Values {
    /// Numbers (numeric, boolean and temporal features), NULL as `None`.
    Number(Float64Array),
    /// Text (categorical features).
    Text(StringArray),
    /// Text as Arrow string views (what DataFusion reads from Parquet), kept
    /// as they are when scoring rather than copied into a `StringArray`.
    TextView(StringViewArray),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Number(a) => a.len(),
            Values::Text(a) => a.len(),
            Values::TextView(a) => a.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn cast_err(name: &str, from: &DataType, to: &str, e: impl std::fmt::Display) -> SqlStateError {
    SqlStateError::new(
        sqlstate::DATATYPE_MISMATCH,
        format!("feature \"{name}\": cannot use a {from} value as {to}: {e}"),
    )
}

/// Like [`values`], for scoring: string views stay views (no copy).
pub fn scoring_values(name: &str, array: &ArrayRef, kind: FeatureKind) -> Result<Values> {
    match (kind, array.data_type()) {
        (FeatureKind::Categorical, DataType::Utf8View) => {
            Ok(Values::TextView(array.as_string_view().clone()))
        }
        _ => values(name, array, kind),
    }
}

/// Converts an input column to the values of a feature of `kind`.
pub fn values(name: &str, array: &ArrayRef, kind: FeatureKind) -> Result<Values> {
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    match kind {
        FeatureKind::Numeric | FeatureKind::Boolean => {
            let cast = cast_with_options(array, &DataType::Float64, &options)
                .map_err(|e| cast_err(name, array.data_type(), "a number", e))?;
            Ok(Values::Number(cast.as_primitive().clone()))
        }
        FeatureKind::Temporal => {
            let seconds = match array.data_type() {
                DataType::Date32 | DataType::Date64 => cast_with_options(
                    array,
                    &DataType::Timestamp(TimeUnit::Second, None),
                    &options,
                ),
                DataType::Timestamp(_, tz) => cast_with_options(
                    array,
                    &DataType::Timestamp(TimeUnit::Second, tz.clone()),
                    &options,
                ),
                // Text with timestamps in it, when a model trained on a timestamp
                // is scored from a text column.
                _ => cast_with_options(
                    array,
                    &DataType::Timestamp(TimeUnit::Second, None),
                    &options,
                ),
            }
            .and_then(|a| cast_with_options(&a, &DataType::Int64, &options))
            .and_then(|a| cast_with_options(&a, &DataType::Float64, &options))
            .map_err(|e| cast_err(name, array.data_type(), "a timestamp", e))?;
            Ok(Values::Number(seconds.as_primitive().clone()))
        }
        FeatureKind::Categorical => {
            let cast = cast_with_options(array, &DataType::Utf8, &options)
                .map_err(|e| cast_err(name, array.data_type(), "text", e))?;
            Ok(Values::Text(cast.as_string::<i32>().clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, Int32Array};

    #[test]
    fn kinds_follow_arrow_types() {
        assert_eq!(
            FeatureKind::of(&DataType::Int32),
            Some(FeatureKind::Numeric)
        );
        assert_eq!(
            FeatureKind::of(&DataType::Utf8View),
            Some(FeatureKind::Categorical)
        );
        assert_eq!(
            FeatureKind::of(&DataType::Date32),
            Some(FeatureKind::Temporal)
        );
        assert_eq!(FeatureKind::of(&DataType::Binary), None);
    }

    #[test]
    fn dates_become_epoch_seconds() {
        let a: ArrayRef = Arc::new(Date32Array::from(vec![Some(1), None]));
        let Values::Number(v) = values("d", &a, FeatureKind::Temporal).expect("values") else {
            panic!("numbers expected");
        };
        assert_eq!(v.value(0), 86_400.0);
        assert!(v.is_null(1));
    }

    #[test]
    fn classes_come_back_in_the_label_type() {
        let label = Label {
            name: "y".into(),
            data_type: "Int32".into(),
            classes: vec![ClassValue::Int(3), ClassValue::Int(7)],
        };
        let out = label
            .classes_to_array(&[Some(1), None, Some(0)])
            .expect("array");
        let ints = out.as_any().downcast_ref::<Int32Array>().expect("int32");
        assert_eq!(ints.value(0), 7);
        assert!(ints.is_null(1));
        assert_eq!(ints.value(2), 3);
    }
}
