//! The model artifact: a versioned envelope around the fitted parameters, and
//! the loaded form that scores Arrow arrays.
//!
//! On disk: `QMDL` magic, a little-endian `u32` format version, then the
//! envelope encoded with postcard. The envelope records the kind, the library
//! and its version, the feature schema, the fitted preprocessing and the
//! payload. A release must load every format version it has ever written;
//! the test suite keeps an artifact of each as a fixture.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Float64Builder, Int32Array, ListBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use serde::{Deserialize, Serialize};

use super::algorithms::{Payload, Rows, Scores};
use super::preprocess::Preprocessor;
use super::schema::{Feature, Label, Result, Task};
use crate::error::{SqlStateError, sqlstate};

/// The artifact format this release writes. Version 2 added
/// [`Envelope::extras`]; version 1 artifacts load with no extras.
pub const FORMAT_VERSION: u32 = 2;
const MAGIC: &[u8; 4] = b"QMDL";

/// Everything a model needs to score, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub format_version: u32,
    /// The algorithm (`logistic`, `kmeans`, ...).
    pub kind: String,
    pub library: String,
    pub library_version: String,
    pub task: Task,
    pub features: Vec<Feature>,
    pub label: Option<Label>,
    pub preprocessing: Preprocessor,
    pub payload: Payload,
    /// What a model knows beyond scoring (explanation reference points,
    /// global importance). Append-only, like [`Payload`]: a new kind of
    /// extra is a new variant, so older artifacts still decode.
    pub extras: Vec<Extra>,
}

/// Facts about a model, kept beside its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Extra {
    /// Mean of each preprocessed matrix column over the training rows: the
    /// reference point of linear explanations (contribution = coef × (x − mean)).
    ColumnMeans(Vec<f64>),
    /// Mean |contribution| of each input feature over (a sample of) the
    /// evaluation rows, from the same explanations `ml_explain` gives.
    MeanAbsContribution { values: Vec<f64>, rows: usize },
    /// Calibrated positive-class probabilities (binary classifiers), fitted
    /// on `rows` hold-out rows; `ml_predict_proba` and `ml_predict` use them.
    Calibration {
        calibrator: crate::kernels::calibration::Calibrator,
        rows: usize,
    },
    /// Split-conformal intervals (regressors): prediction ± `half_width`
    /// covers `level` of new values; fitted on `rows` hold-out rows.
    Conformal {
        level: f64,
        half_width: f64,
        rows: usize,
    },
}

/// The version 1 envelope: the same fields without extras.
#[derive(Deserialize)]
struct EnvelopeV1 {
    format_version: u32,
    kind: String,
    library: String,
    library_version: String,
    task: Task,
    features: Vec<Feature>,
    label: Option<Label>,
    preprocessing: Preprocessor,
    payload: Payload,
}

impl From<EnvelopeV1> for Envelope {
    fn from(v1: EnvelopeV1) -> Envelope {
        Envelope {
            format_version: v1.format_version,
            kind: v1.kind,
            library: v1.library,
            library_version: v1.library_version,
            task: v1.task,
            features: v1.features,
            label: v1.label,
            preprocessing: v1.preprocessing,
            payload: v1.payload,
            extras: Vec::new(),
        }
    }
}

impl Envelope {
    pub fn column_means(&self) -> Option<&[f64]> {
        self.extras.iter().find_map(|e| match e {
            Extra::ColumnMeans(m) => Some(m.as_slice()),
            _ => None,
        })
    }

    pub fn calibrator(&self) -> Option<&crate::kernels::calibration::Calibrator> {
        self.extras.iter().find_map(|e| match e {
            Extra::Calibration { calibrator, .. } => Some(calibrator),
            _ => None,
        })
    }

    /// (level, half-width) of the model's conformal intervals.
    pub fn conformal(&self) -> Option<(f64, f64)> {
        self.extras.iter().find_map(|e| match e {
            Extra::Conformal {
                level, half_width, ..
            } => Some((*level, *half_width)),
            _ => None,
        })
    }

    pub fn mean_abs_contribution(&self) -> Option<(&[f64], usize)> {
        self.extras.iter().find_map(|e| match e {
            Extra::MeanAbsContribution { values, rows } => Some((values.as_slice(), *rows)),
            _ => None,
        })
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let body = postcard::to_allocvec(self)
            .map_err(|e| SqlStateError::internal(format!("encode model: {e}")))?;
        let mut out = Vec::with_capacity(body.len() + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.format_version.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope> {
        if bytes.len() < 8 || &bytes[..4] != MAGIC {
            return Err(SqlStateError::new(
                sqlstate::DATA_CORRUPTED,
                "model artifact is not a Quarry model (bad header)",
            ));
        }
        let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let corrupt = |e: postcard::Error| {
            SqlStateError::new(
                sqlstate::DATA_CORRUPTED,
                format!("model artifact is corrupt: {e}"),
            )
        };
        match version {
            1 => postcard::from_bytes::<EnvelopeV1>(&bytes[8..])
                .map(Envelope::from)
                .map_err(corrupt),
            2 => postcard::from_bytes(&bytes[8..]).map_err(corrupt),
            newer => Err(SqlStateError::unsupported(format!(
                "model artifact format {newer} is newer than this release supports ({FORMAT_VERSION}); upgrade Quarry"
            ))),
        }
    }
}

/// Lower and upper bounds per row (NULL where the prediction is).
pub type Bounds = (Vec<Option<f64>>, Vec<Option<f64>>);

/// A model ready to score.
#[derive(Debug)]
pub struct LoadedModel {
    pub name: String,
    pub version: u32,
    pub envelope: Envelope,
}

impl LoadedModel {
    pub fn new(name: &str, version: u32, envelope: Envelope) -> Result<LoadedModel> {
        envelope.payload.fitted().prepare(&envelope.features)?;
        Ok(LoadedModel {
            name: name.to_string(),
            version,
            envelope,
        })
    }

    pub fn from_bytes(name: &str, version: u32, bytes: &[u8]) -> Result<LoadedModel> {
        Self::new(name, version, Envelope::from_bytes(bytes)?)
    }

    pub fn task(&self) -> Task {
        self.envelope.task
    }

    pub fn features(&self) -> &[Feature] {
        &self.envelope.features
    }

    fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// Split gain and split count per input feature of a tree model (one-hot
    /// and hashed columns summed back into their feature), in feature order;
    /// `None` for models without trees of splits.
    pub fn feature_importance(&self) -> Option<Vec<(String, f64, usize)>> {
        let width = self.envelope.preprocessing.width();
        let per_column = self.envelope.payload.fitted().split_importance(width)?;
        let steps = &self.envelope.preprocessing.steps;
        let mut offset = 0;
        Some(
            self.envelope
                .features
                .iter()
                .zip(steps)
                .map(|(feature, step)| {
                    let end = (offset + step.width()).min(per_column.len());
                    let (gain, splits) = per_column[offset.min(end)..end]
                        .iter()
                        .fold((0.0, 0), |(g, n), (a, b)| (g + a, n + b));
                    offset = end;
                    (feature.name.clone(), gain, splits)
                })
                .collect(),
        )
    }

    /// The SQL type `ml_predict` returns.
    pub fn output_type(&self) -> DataType {
        match (self.envelope.task, &self.envelope.label) {
            (Task::Classification, Some(label)) => label.arrow_type(),
            (Task::Clustering, _) => DataType::Int32,
            _ => DataType::Float64,
        }
    }

    /// The SQL type `ml_predict_proba` returns.
    pub fn proba_type(&self) -> Result<DataType> {
        match (&self.envelope.task, &self.envelope.label) {
            (Task::Classification, Some(label)) if label.classes.len() <= 2 => {
                Ok(DataType::Float64)
            }
            (Task::Classification, Some(_)) => Ok(DataType::List(Arc::new(Field::new_list_field(
                DataType::Float64,
                true,
            )))),
            _ => Err(SqlStateError::bad_argument(format!(
                "ml_predict_proba: model {} is not a classifier (its task is {})",
                self.reference(),
                self.envelope.task.name()
            ))
            .with_hint("use ml_predict for regression, clustering and anomaly models")),
        }
    }

    fn scores(&self, inputs: &[ArrayRef]) -> Result<Scores> {
        let scores = self.raw_scores(inputs)?;
        match (scores, self.envelope.calibrator()) {
            (Scores::Values(v), Some(c)) if self.envelope.task == Task::Classification => {
                Ok(Scores::Values(v.into_iter().map(|p| c.apply(p)).collect()))
            }
            (scores, _) => Ok(scores),
        }
    }

    /// Scores before any calibration.
    fn raw_scores(&self, inputs: &[ArrayRef]) -> Result<Scores> {
        let envelope = &self.envelope;
        let reference = self.reference();
        envelope.payload.fitted().score(&Rows {
            inputs,
            features: &envelope.features,
            preprocessing: &envelope.preprocessing,
            task: envelope.task,
            label: envelope.label.as_ref(),
            reference: &reference,
        })
    }

    /// `ml_predict`: the label, the value, or the cluster of each row.
    pub fn predict(&self, inputs: &[ArrayRef]) -> Result<ArrayRef> {
        self.prediction_of(self.scores(inputs)?)
    }

    /// The prediction and, for a classifier, the probability behind it (the
    /// positive class's, or the predicted class's when there are several),
    /// from one pass over the rows: what the prediction log keeps.
    pub fn predict_scored(&self, inputs: &[ArrayRef]) -> Result<(ArrayRef, Option<ArrayRef>)> {
        let scores = self.scores(inputs)?;
        let probability = self.probability_of(&scores);
        Ok((self.prediction_of(scores)?, probability))
    }

    fn prediction_of(&self, scores: Scores) -> Result<ArrayRef> {
        match (scores, self.envelope.task, &self.envelope.label) {
            (Scores::Values(v), Task::Classification, Some(label)) => {
                let classes: Vec<Option<usize>> = v
                    .iter()
                    .map(|p| {
                        if p.is_nan() {
                            None
                        } else {
                            Some(usize::from(*p >= 0.5))
                        }
                    })
                    .collect();
                label.classes_to_array(&classes)
            }
            (Scores::Classes(p, k), Task::Classification, Some(label)) => {
                let classes: Vec<Option<usize>> = p
                    .chunks(k)
                    .map(|row| {
                        row.iter()
                            .enumerate()
                            .max_by(|a, b| a.1.total_cmp(b.1))
                            .map(|(i, _)| i)
                    })
                    .collect();
                label.classes_to_array(&classes)
            }
            (Scores::Values(v), _, _) => Ok(Arc::new(Float64Array::from_iter(
                v.into_iter().map(|x| (!x.is_nan()).then_some(x)),
            ))),
            (Scores::Clusters(c), _, _) => Ok(Arc::new(Int32Array::from(c))),
            (Scores::Classes(..), _, _) => Err(SqlStateError::internal(
                "class probabilities without a label",
            )),
        }
    }

    /// `ml_predict_proba`: positive-class probability, or all class probabilities.
    /// Predicted class indices (classifiers), in `DESCRIBE MODEL` class order.
    pub fn predict_classes(&self, inputs: &[ArrayRef]) -> Result<Vec<Option<usize>>> {
        match self.scores(inputs)? {
            Scores::Values(v) => Ok(v
                .iter()
                .map(|p| (!p.is_nan()).then(|| usize::from(*p >= 0.5)))
                .collect()),
            Scores::Classes(p, k) => Ok(p
                .chunks(k)
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map(|(i, _)| i)
                })
                .collect()),
            Scores::Clusters(_) => Err(SqlStateError::bad_argument(
                "clustering models have no classes",
            )),
        }
    }

    /// Positive-class probabilities before calibration (binary classifiers).
    pub fn uncalibrated_proba(&self, inputs: &[ArrayRef]) -> Result<Vec<f64>> {
        match self.raw_scores(inputs)? {
            Scores::Values(v) => Ok(v),
            _ => Err(SqlStateError::bad_argument(
                "calibrate applies to binary classifiers only",
            )),
        }
    }

    /// (lower, upper) bounds of the conformal interval around each prediction.
    pub fn predict_interval(&self, inputs: &[ArrayRef]) -> Result<Bounds> {
        let Some((_, q)) = self.envelope.conformal() else {
            return Err(SqlStateError::bad_argument(format!(
                "ml_predict_interval: model {} has no prediction intervals",
                self.reference()
            ))
            .with_hint(
                "train a regressor with OPTIONS (interval = 0.9, ...) to fit conformal bounds",
            ));
        };
        match self.scores(inputs)? {
            Scores::Values(v) => Ok(v
                .iter()
                .map(|&p| {
                    if p.is_nan() {
                        (None, None)
                    } else {
                        (Some(p - q), Some(p + q))
                    }
                })
                .unzip()),
            _ => Err(SqlStateError::internal(
                "interval of a non-regression model",
            )),
        }
    }

    pub fn predict_proba(&self, inputs: &[ArrayRef]) -> Result<ArrayRef> {
        self.proba_type()?;
        self.proba_of(&self.scores(inputs)?)
    }

    /// `ml_predict_proba`'s result with the prediction and probability the
    /// log keeps ([`LoadedModel::predict_scored`]), from one pass.
    pub fn predict_proba_scored(
        &self,
        inputs: &[ArrayRef],
    ) -> Result<(ArrayRef, ArrayRef, Option<ArrayRef>)> {
        self.proba_type()?;
        let scores = self.scores(inputs)?;
        let proba = self.proba_of(&scores)?;
        let probability = self.probability_of(&scores);
        Ok((proba, self.prediction_of(scores)?, probability))
    }

    fn probability_of(&self, scores: &Scores) -> Option<ArrayRef> {
        match (scores, self.envelope.task) {
            (Scores::Values(v), Task::Classification) => Some(Arc::new(Float64Array::from_iter(
                v.iter().map(|x| (!x.is_nan()).then_some(x.clamp(0.0, 1.0))),
            ))),
            (Scores::Classes(p, k), Task::Classification) => {
                Some(Arc::new(Float64Array::from_iter(
                    p.chunks(*k)
                        .map(|row| row.iter().copied().max_by(f64::total_cmp)),
                )))
            }
            _ => None,
        }
    }

    fn proba_of(&self, scores: &Scores) -> Result<ArrayRef> {
        match scores {
            Scores::Values(v) => Ok(Arc::new(Float64Array::from_iter(
                v.iter().map(|x| (!x.is_nan()).then_some(x.clamp(0.0, 1.0))),
            ))),
            Scores::Classes(p, k) => {
                let mut builder = ListBuilder::new(Float64Builder::with_capacity(p.len()));
                for row in p.chunks(*k) {
                    builder.values().append_slice(row);
                    builder.append(true);
                }
                Ok(Arc::new(builder.finish()))
            }
            Scores::Clusters(_) => Err(SqlStateError::bad_argument(
                "ml_predict_proba: clustering models have no class probabilities",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::FeatureKind;

    fn envelope() -> Envelope {
        Envelope {
            format_version: FORMAT_VERSION,
            kind: "linear".into(),
            library: "quarry-udfs".into(),
            library_version: "test".into(),
            task: Task::Regression,
            features: vec![Feature {
                name: "x".into(),
                kind: FeatureKind::Numeric,
                data_type: "Float64".into(),
            }],
            label: None,
            preprocessing: Preprocessor {
                steps: vec![super::super::preprocess::Step::Number {
                    fill: 0.0,
                    center: 0.0,
                    scale: 1.0,
                }],
            },
            payload: Payload::Linear(crate::model::algorithms::linear::Linear {
                coef: vec![2.0],
                intercept: 1.0,
            }),
            extras: vec![Extra::ColumnMeans(vec![0.5])],
        }
    }

    #[test]
    fn artifacts_round_trip() {
        let e = envelope();
        let bytes = e.to_bytes().expect("encode");
        assert_eq!(&bytes[..4], b"QMDL");
        assert_eq!(Envelope::from_bytes(&bytes).expect("decode"), e);
    }

    #[test]
    fn newer_formats_are_refused_clearly() {
        let mut bytes = envelope().to_bytes().expect("encode");
        bytes[4] = 99;
        let err = Envelope::from_bytes(&bytes).expect_err("newer");
        assert_eq!(err.code, "0A000");
        assert!(Envelope::from_bytes(b"nonsense").is_err());
    }

    #[test]
    fn linear_model_scores_arrays() {
        let m = LoadedModel::new("m", 1, envelope()).expect("load");
        let x: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), None, Some(3.0)]));
        let out = m.predict(&[x]).expect("predict");
        let out = out.as_any().downcast_ref::<Float64Array>().expect("f64");
        assert_eq!(out.value(0), 3.0);
        assert_eq!(out.value(1), 1.0);
        assert_eq!(out.value(2), 7.0);
    }
}
