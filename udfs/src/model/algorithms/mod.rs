//! The learning algorithms, one module per model family. Each module holds
//! everything Quarry knows about its family: the algorithm names it answers
//! to, their hyperparameters (validated, defaulted and documented from one
//! list), their preprocessing defaults, how they fit ([`Algorithm`]), and how
//! the fitted payload scores, explains and describes itself ([`Fitted`]).
//!
//! | module             | algorithms                         | payload |
//! |--------------------|------------------------------------|---------|
//! | `linear`           | `linear`, `ridge`, `lasso`         | coefficients and intercept |
//! | `logistic`         | `logistic` (binary, multinomial)   | coefficients and intercepts |
//! | `kmeans`           | `kmeans`                           | centroids |
//! | `baseline`         | `baseline`                         | class priors or the mean |
//! | `sql_rule`         | `sql_rule`                         | a SQL expression |
//! | `gbdt`             | `gbdt`                             | boosted trees |
//! | `forest`           | `decision_tree`, `random_forest`   | averaged trees |
//! | `isolation_forest` | `isolation_forest`                 | isolation trees |
//!
//! Adding an algorithm is one file and one line of the `algorithms!` list at
//! the end of this module. [`Payload`], the serialized form of every fitted
//! model, is generated from that list: postcard stores a variant by its
//! index, so the list is append-only (a new family goes last, none is ever
//! removed or reordered), and the golden artifacts of `tests/fixtures`
//! prove every earlier artifact still decodes.

pub mod baseline;
pub mod forest;
pub mod gbdt;
pub mod hyper;
pub mod isolation_forest;
pub mod kmeans;
pub mod linear;
pub mod logistic;
pub mod sql_rule;

use std::collections::BTreeMap;
use std::fmt::Debug;

use datafusion::arrow::array::ArrayRef;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub use hyper::{Hyper, Hyperparameters};

use super::preprocess::{Preprocessor, Scale};
use super::schema::{Feature, Label, Result, Task, Values, scoring_values};
use crate::error::{SqlStateError, sqlstate};
use crate::kernels::linalg::Matrix;
use crate::kernels::tree::shap::Explainer;

/// A learning algorithm: what `algorithm = '<name>'` selects.
pub trait Algorithm: Debug + Sync {
    /// The name `algorithm = ...` takes and the envelope records.
    fn name(&self) -> &'static str;

    /// Other spellings `algorithm = ...` accepts.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// The task the algorithm implies; `None` when the label decides.
    fn task(&self) -> Option<Task> {
        None
    }

    /// Its hyperparameters, beyond the options every algorithm takes.
    fn options(&self) -> &'static [Hyper];

    /// How the features reach it.
    fn inputs(&self) -> Inputs;

    /// Whether a model needs at least one feature (a baseline reads none).
    fn needs_features(&self) -> bool {
        true
    }

    /// The features a model reads, when it reads fewer than the training
    /// query offers (a rule reads the columns its expression names).
    fn reads(
        &self,
        _hyper: &Hyperparameters<'_>,
        _features: &[Feature],
    ) -> Result<Option<Vec<String>>> {
        Ok(None)
    }

    /// Whether `ml_explain` explains its models.
    fn explains(&self) -> bool {
        false
    }

    /// Checks the given hyperparameters before any data is read.
    fn check(&self, hyper: &Hyperparameters<'_>) -> Result<()>;

    /// Fits a model on `input`, recording what it chose and measured in `out`.
    fn fit(&self, input: &FitInput<'_>, out: &mut FitReport) -> Result<Payload>;
}

/// How an algorithm consumes features, and the preprocessing it gets unless
/// the options say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs {
    /// Learns from the numeric matrix of the preprocessed features; false
    /// for models that read the columns themselves.
    pub matrix: bool,
    /// Scaling of numeric columns.
    pub scale: Scale,
    /// Filling of missing values.
    pub missing: Missing,
    /// Categories as one ordinal column each, instead of one-hot columns.
    pub ordinal: bool,
    /// Whether missing values may stay missing (`impute = 'none'`): the
    /// model routes them itself.
    pub routes_missing: bool,
}

impl Inputs {
    /// Linear models and k-means: standardized numbers, means and modes for
    /// missing values, one-hot categories.
    pub const LINEAR: Inputs = Inputs {
        matrix: true,
        scale: Scale::Standard,
        missing: Missing::Mean,
        ordinal: false,
        routes_missing: false,
    };

    /// Trees of splits: raw numbers, missing values routed by each split,
    /// ordinal categories.
    pub const TREES: Inputs = Inputs {
        matrix: true,
        scale: Scale::None,
        missing: Missing::Keep,
        ordinal: true,
        routes_missing: true,
    };

    /// Models that read the feature columns themselves.
    pub const COLUMNS: Inputs = Inputs {
        matrix: false,
        scale: Scale::None,
        missing: Missing::Mean,
        ordinal: false,
        routes_missing: false,
    };
}

/// How missing feature values are filled by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Left missing, for the model to route.
    Keep,
    /// The median of numbers, the mode of categories and booleans.
    Median,
    /// The mean of numbers, the mode of categories and booleans.
    Mean,
}

/// What the caller of a training run provides besides the data.
pub struct TrainContext<'a> {
    /// Threads the session may use.
    pub threads: usize,
    /// Progress messages (the server turns them into NOTICEs).
    pub progress: &'a (dyn Fn(&str) + Sync),
    /// True once the statement is cancelled.
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
}

/// What a fit gets: its hyperparameters and seed, the preprocessed training
/// rows, their labels and weights, and the session's threads, progress and
/// cancel.
pub struct FitInput<'a> {
    pub hyper: Hyperparameters<'a>,
    /// The run's seed, for every random draw.
    pub seed: u64,
    pub task: Task,
    /// The model's features and their fitted preprocessing.
    pub features: &'a [Feature],
    pub preprocessing: &'a Preprocessor,
    /// The training rows, preprocessed (when the algorithm asks for a matrix).
    pub x: Option<&'a Matrix>,
    /// Each training row's class index (classification; zeros otherwise).
    pub classes: &'a [usize],
    /// The number of classes (classification; 0 otherwise).
    pub class_count: usize,
    /// Each training row's label value (regression; empty otherwise).
    pub numbers: &'a [f64],
    /// Each training row's weight.
    pub weights: &'a [f64],
    pub ctx: &'a TrainContext<'a>,
}

impl FitInput<'_> {
    /// The training matrix, which every algorithm with `Inputs::matrix` gets.
    pub fn matrix(&self) -> Result<&Matrix> {
        self.x
            .ok_or_else(|| SqlStateError::internal("no feature matrix"))
    }
}

/// What a fit chose and measured beyond its payload.
#[derive(Debug, Default)]
pub struct FitReport {
    /// Hyperparameters as used (defaults included) and facts of the fit
    /// (iterations, trees), recorded with the version.
    pub params: BTreeMap<String, Json>,
    /// Metrics only the fit can measure (a forest's out-of-bag score).
    pub metrics: BTreeMap<String, f64>,
}

impl FitReport {
    pub fn param(&mut self, key: &str, value: impl Into<Json>) {
        self.params.insert(key.to_string(), value.into());
    }
}

/// A fitted model of one family: how it scores, explains and describes itself.
pub trait Fitted: Debug {
    /// Raw outputs for `rows`.
    fn score(&self, rows: &Rows<'_>) -> Result<Scores>;

    /// Per-row base values and per-matrix-column contributions of the
    /// explained output (see `model::explain`), for algorithms that
    /// [`Algorithm::explains`]. `reference` holds the training means of the
    /// matrix columns when the model keeps them ([`Fitted::keeps_column_means`]).
    fn contributions(
        &self,
        _m: &Matrix,
        _reference: &[f64],
        _base: &mut Vec<f64>,
        _per_column: &mut [f64],
    ) -> Result<()> {
        Err(SqlStateError::internal("explain of an unexplainable model"))
    }

    /// Whether training keeps the mean of each matrix column, the reference
    /// point of its explanations.
    fn keeps_column_means(&self) -> bool {
        false
    }

    /// Split gain and split count per matrix column, for models of splits.
    fn split_importance(&self, _width: usize) -> Option<Vec<(f64, usize)>> {
        None
    }

    /// Rows `DESCRIBE MODEL` shows about this kind: (section, item, value).
    fn describe(&self) -> Vec<(&'static str, &'static str, String)> {
        Vec::new()
    }

    /// Metrics of the model on preprocessed rows it was not asked to
    /// predict a label for (clustering's inertia and silhouette).
    fn unsupervised_metrics(&self, _x: &Matrix, _metrics: &mut BTreeMap<String, f64>) {}

    /// Runs once when the model is loaded, before it scores (compiles what
    /// the artifact keeps as text).
    fn prepare(&self, _features: &[Feature]) -> Result<()> {
        Ok(())
    }
}

/// Raw model outputs before they become SQL values.
#[derive(Debug)]
pub enum Scores {
    /// One number per row: a regression value, a positive-class
    /// probability or an anomaly score; NaN where the row has none.
    Values(Vec<f64>),
    /// Row-major class probabilities, `classes` per row.
    Classes(Vec<f64>, usize),
    /// A cluster per row.
    Clusters(Vec<i32>),
}

/// The rows a model scores: its input arrays in feature order, and what the
/// model knows about them.
pub struct Rows<'a> {
    pub inputs: &'a [ArrayRef],
    pub features: &'a [Feature],
    pub preprocessing: &'a Preprocessor,
    pub task: Task,
    pub label: Option<&'a Label>,
    /// `name@version`, for messages.
    pub reference: &'a str,
}

impl Rows<'_> {
    pub fn len(&self) -> usize {
        self.inputs.first().map_or(0, |a| a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inputs as feature values.
    pub fn columns(&self) -> Result<Vec<Values>> {
        self.features
            .iter()
            .zip(self.inputs)
            .map(|(f, a)| scoring_values(&f.name, a, f.kind))
            .collect()
    }

    /// The inputs preprocessed into the model's numeric matrix.
    pub fn matrix(&self) -> Result<Matrix> {
        Ok(self.preprocessing.transform(&self.columns()?))
    }
}

/// Explains every row of `m` with a tree explainer: the output explained is
/// the only one, or the largest (the predicted class of a multi-class model).
fn explain_trees(
    mut explainer: Explainer<'_>,
    m: &Matrix,
    base: &mut Vec<f64>,
    per_column: &mut [f64],
) {
    let cols = m.cols;
    let outputs = explainer.base().len();
    let mut all = vec![0.0; outputs * cols];
    for i in 0..m.rows {
        explainer.explain_into(m.row(i), &mut all);
        let k = chosen_output(explainer.base(), &all, cols);
        base.push(explainer.base()[k]);
        per_column[i * cols..(i + 1) * cols].copy_from_slice(&all[k * cols..(k + 1) * cols]);
    }
}

/// The output to report of a row explained into `all` (`outputs × cols`).
fn chosen_output(base: &[f64], all: &[f64], cols: usize) -> usize {
    if base.len() <= 1 {
        return 0;
    }
    (0..base.len())
        .map(|k| {
            (
                k,
                base[k] + all[k * cols..(k + 1) * cols].iter().sum::<f64>(),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(k, _)| k)
}

/// The error of a cancelled training run (PostgreSQL's wording).
pub(crate) fn canceled() -> SqlStateError {
    SqlStateError::new(
        sqlstate::QUERY_CANCELED,
        "canceling statement due to user request",
    )
}

/// Algorithms a later release will have, refused with 0A000 rather than as
/// unknown.
const LATER: &[&str] = &["ets", "mstl"];

/// The algorithm `algorithm = '<name>'` names (case-insensitive).
pub fn parse(name: &str) -> Result<&'static dyn Algorithm> {
    let lower = name.to_ascii_lowercase();
    if let Some(found) = ALL
        .iter()
        .find(|a| a.name() == lower || a.aliases().contains(&lower.as_str()))
    {
        return Ok(*found);
    }
    let names = names().join(", ");
    if LATER.contains(&lower.as_str()) {
        return Err(SqlStateError::unsupported(format!(
            "algorithm '{name}' is not available in this release"
        ))
        .with_hint(format!("available algorithms: {names}")));
    }
    Err(SqlStateError::bad_argument(format!(
        "unknown algorithm '{lower}'; expected one of {names}"
    )))
}

/// The algorithm a stored model was trained with, by its recorded name.
pub fn by_name(name: &str) -> Option<&'static dyn Algorithm> {
    ALL.iter().find(|a| a.name() == name).copied()
}

/// Every algorithm's name, in registration order.
pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|a| a.name()).collect()
}

/// Generates [`Payload`] (one variant per family, in list order), the one
/// match from a payload to its [`Fitted`] implementation, and [`ALL`].
macro_rules! algorithms {
    ($($variant:ident($fitted:ty) => [$($algorithm:expr),+ $(,)?]),+ $(,)?) => {
        /// The fitted parameters of a model, one variant per family: the
        /// serialized form of every artifact. Append-only (see the module doc).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub enum Payload {
            $($variant($fitted),)+
        }

        impl Payload {
            /// The fitted model behind the payload.
            pub fn fitted(&self) -> &dyn Fitted {
                match self {
                    $(Payload::$variant(fitted) => fitted,)+
                }
            }
        }

        /// Every algorithm, in the order `algorithm` errors and the docs list them.
        pub static ALL: &[&dyn Algorithm] = &[$($(&$algorithm,)+)+];
    };
}

algorithms! {
    Linear(linear::Linear) => [linear::LINEAR, linear::RIDGE, linear::LASSO],
    Logistic(logistic::Logistic) => [logistic::LOGISTIC],
    KMeans(kmeans::KMeans) => [kmeans::KMEANS],
    Baseline(baseline::Baseline) => [baseline::BASELINE],
    SqlRule(sql_rule::SqlRule) => [sql_rule::SQL_RULE],
    Gbdt(crate::kernels::tree::gbdt::Gbdt) => [gbdt::GBDT],
    Forest(crate::kernels::tree::forest::Forest) => [forest::DECISION_TREE, forest::RANDOM_FOREST],
    Isolation(crate::kernels::tree::isolation::IsolationForest) => [isolation_forest::ISOLATION_FOREST],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_resolve() {
        assert_eq!(parse("GBDT").expect("gbdt").name(), "gbdt");
        assert_eq!(
            parse("logistic_regression").expect("alias").name(),
            "logistic"
        );
        let err = parse("ets").expect_err("later");
        assert_eq!(err.code, "0A000");
        let err = parse("magic").expect_err("unknown");
        assert_eq!(err.code, "22023");
        assert!(err.message.contains("isolation_forest"));
    }

    #[test]
    fn every_algorithm_is_registered_once_and_documents_its_options() {
        let mut seen = std::collections::BTreeSet::new();
        for a in ALL {
            assert!(seen.insert(a.name()), "{} registered twice", a.name());
            for alias in a.aliases() {
                assert!(seen.insert(alias), "{alias} names two algorithms");
            }
            for h in a.options() {
                assert!(!h.doc.is_empty(), "{}: {} has no doc", a.name(), h.name);
            }
            assert!(by_name(a.name()).is_some());
        }
    }
}
