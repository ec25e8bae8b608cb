//! Training options: parsed strictly, with defaults per algorithm.
//!
//! Options arrive as text (`CREATE MODEL ... OPTIONS (l2 = 0.5)`) or JSON
//! (`ml_train(..., '{"l2": 0.5}')`); both become a key → text map here. An
//! unknown key, or a value of the wrong form, is an error that names what is
//! valid.
//!
//! | option          | applies to                   | default |
//! |-----------------|------------------------------|---------|
//! | `task`          | all                          | from the algorithm, else from the label type |
//! | `algorithm`     | all                          | required |
//! | `label`         | supervised                   | required |
//! | `exclude`, `features` | all                    | every other column |
//! | `split`         | all                          | `stratified:0.2` (classification), `random:0.2` (regression), `none` (clustering) |
//! | `seed`          | all                          | 42 |
//! | `impute`        | all                          | `mean` (numbers), `mode` (text, booleans) |
//! | `scale`         | all                          | `standard` for linear models and k-means |
//! | `encode`        | all                          | `onehot` with `max_categories` 20 |
//! | `class_weight`  | classification               | none (`balanced` weighs classes inversely to frequency) |
//! | `l2`            | logistic, ridge              | 1.0 |
//! | `l1`            | logistic, lasso              | 0 (logistic), 1.0 (lasso) |
//! | `max_iter`, `tol` | logistic, lasso, kmeans    | 100 / 1000 / 300 and 1e-4 |
//! | `k`             | kmeans                       | 8 |
//! | `expression`    | sql_rule                     | required |
//! | `snapshot`      | all                          | true: the training rows are kept as snapshot `training:<model>` |

use std::collections::BTreeMap;

use super::preprocess::{ColumnPlan, Encode, Impute, Scale};
use super::schema::{FeatureKind, Result, Task};
use crate::error::SqlStateError;

/// The learning algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Logistic,
    Linear,
    Ridge,
    Lasso,
    KMeans,
    Baseline,
    SqlRule,
    Gbdt,
    DecisionTree,
    RandomForest,
    IsolationForest,
}

impl Algorithm {
    pub const ALL: &'static [&'static str] = &[
        "logistic",
        "linear",
        "ridge",
        "lasso",
        "kmeans",
        "baseline",
        "sql_rule",
        "gbdt",
        "decision_tree",
        "random_forest",
        "isolation_forest",
    ];

    pub fn parse(s: &str) -> Result<Algorithm> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "logistic" | "logistic_regression" => Algorithm::Logistic,
            "linear" | "linear_regression" => Algorithm::Linear,
            "ridge" => Algorithm::Ridge,
            "lasso" => Algorithm::Lasso,
            "kmeans" | "k_means" => Algorithm::KMeans,
            "baseline" => Algorithm::Baseline,
            "sql_rule" => Algorithm::SqlRule,
            "gbdt" | "gradient_boosting" => Algorithm::Gbdt,
            "decision_tree" => Algorithm::DecisionTree,
            "random_forest" => Algorithm::RandomForest,
            "isolation_forest" => Algorithm::IsolationForest,
            "ets" | "mstl" => {
                return Err(SqlStateError::unsupported(format!(
                    "algorithm '{s}' is not available in this release"
                ))
                .with_hint(format!("available algorithms: {}", Self::ALL.join(", "))));
            }
            other => {
                return Err(SqlStateError::bad_argument(format!(
                    "unknown algorithm '{other}'; expected one of {}",
                    Self::ALL.join(", ")
                )));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Logistic => "logistic",
            Algorithm::Linear => "linear",
            Algorithm::Ridge => "ridge",
            Algorithm::Lasso => "lasso",
            Algorithm::KMeans => "kmeans",
            Algorithm::Baseline => "baseline",
            Algorithm::SqlRule => "sql_rule",
            Algorithm::Gbdt => "gbdt",
            Algorithm::DecisionTree => "decision_tree",
            Algorithm::RandomForest => "random_forest",
            Algorithm::IsolationForest => "isolation_forest",
        }
    }

    /// The task an algorithm implies, if it implies one.
    pub fn task(self) -> Option<Task> {
        match self {
            Algorithm::Logistic => Some(Task::Classification),
            Algorithm::Linear | Algorithm::Ridge | Algorithm::Lasso => Some(Task::Regression),
            Algorithm::KMeans => Some(Task::Clustering),
            Algorithm::IsolationForest => Some(Task::Anomaly),
            Algorithm::Baseline
            | Algorithm::SqlRule
            | Algorithm::Gbdt
            | Algorithm::DecisionTree
            | Algorithm::RandomForest => None,
        }
    }

    /// Options this algorithm accepts beyond the common ones.
    fn own_options(self) -> &'static [&'static str] {
        match self {
            Algorithm::Logistic => &["l2", "l1", "max_iter", "tol"],
            Algorithm::Linear => &[],
            Algorithm::Ridge => &["l2"],
            Algorithm::Lasso => &["l1", "max_iter", "tol"],
            Algorithm::KMeans => &["k", "max_iter", "tol"],
            Algorithm::Baseline => &[],
            Algorithm::SqlRule => &["expression"],
            Algorithm::Gbdt => &[
                "rounds",
                "learning_rate",
                "max_depth",
                "min_rows_per_leaf",
                "l2",
                "subsample",
                "colsample",
                "max_bins",
                "early_stopping",
                "monotone",
                "objective",
            ],
            Algorithm::DecisionTree => &["max_depth", "min_rows_per_leaf", "max_bins"],
            Algorithm::RandomForest => &[
                "trees",
                "max_depth",
                "min_rows_per_leaf",
                "colsample",
                "max_bins",
            ],
            Algorithm::IsolationForest => &["trees", "sample_size"],
        }
    }

    /// Whether the algorithm is a tree model (no scaling, native missing values).
    pub fn is_tree(self) -> bool {
        matches!(
            self,
            Algorithm::Gbdt
                | Algorithm::DecisionTree
                | Algorithm::RandomForest
                | Algorithm::IsolationForest
        )
    }
}

const COMMON: &[&str] = &[
    "task",
    "algorithm",
    "label",
    "exclude",
    "features",
    "split",
    "seed",
    "impute",
    "scale",
    "encode",
    "max_categories",
    "class_weight",
    "weight",
    "interval",
    "calibrate",
    "search",
    "cv",
    "snapshot",
];

/// Hyperparameters that may be a list (`max_depth = '3,6,9'`) for a search.
const SEARCHABLE: &[&str] = &[
    "rounds",
    "learning_rate",
    "max_depth",
    "min_rows_per_leaf",
    "l2",
    "l1",
    "subsample",
    "colsample",
    "max_bins",
    "early_stopping",
    "trees",
    "k",
    "max_iter",
    "tol",
    "sample_size",
];

/// Candidates a random search tries (at most; a smaller grid is tried whole).
pub const RANDOM_CANDIDATES: usize = 10;

/// A hyperparameter search: the option sets to try.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// `grid` or `random`.
    pub method: String,
    /// Each candidate's full options (single values).
    pub candidates: Vec<BTreeMap<String, String>>,
    /// Each candidate's searched values only, for reports.
    pub varying: Vec<BTreeMap<String, String>>,
}

/// Cross-validation folds.
#[derive(Debug, Clone, PartialEq)]
pub enum Cv {
    /// k folds, stratified by class for classification.
    Folds(usize),
    /// Expanding-window folds over a time column: fold k trains on the
    /// first k of `folds + 1` time-ordered blocks and validates on the next.
    Time { column: String, folds: usize },
}

/// How training rows are split from hold-out rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Split {
    None,
    Random(f64),
    Stratified(f64),
    Time { column: String, fraction: f64 },
}

impl Split {
    pub fn describe(&self) -> String {
        match self {
            Split::None => "none".into(),
            Split::Random(f) => format!("random:{f}"),
            Split::Stratified(f) => format!("stratified:{f}"),
            Split::Time { column, fraction } => format!("time:{column}:{fraction}"),
        }
    }
}

/// A per-column override list: `'median'` or `'age:median,income:constant:0'`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerColumn {
    pub all: Option<String>,
    pub columns: BTreeMap<String, String>,
}

impl PerColumn {
    fn parse(text: &str, known: &[&str]) -> PerColumn {
        let mut out = PerColumn::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.split_once(':') {
                // `constant:0` and `hash:64` are whole specs, not `column:spec`.
                Some((head, _)) if known.contains(&head.to_ascii_lowercase().as_str()) => {
                    out.all = Some(item.to_string());
                }
                Some((col, spec)) => {
                    out.columns
                        .insert(col.trim().to_string(), spec.trim().to_string());
                }
                None => out.all = Some(item.to_string()),
            }
        }
        out
    }

    fn for_column(&self, name: &str) -> Option<&str> {
        self.columns
            .get(name)
            .or(self.all.as_ref())
            .map(String::as_str)
    }
}

/// Parsed options for one training run.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub algorithm: Algorithm,
    pub task: Option<Task>,
    pub label: Option<String>,
    /// A column of per-row training weights.
    pub weight: Option<String>,
    pub exclude: Vec<String>,
    pub features: Option<Vec<String>>,
    pub split: Option<Split>,
    pub seed: u64,
    pub impute: PerColumn,
    pub scale: PerColumn,
    pub encode: PerColumn,
    pub max_categories: usize,
    pub balanced: bool,
    pub l2: Option<f64>,
    pub l1: Option<f64>,
    pub max_iter: Option<usize>,
    pub tol: Option<f64>,
    pub k: usize,
    pub expression: Option<String>,
    /// Split-conformal prediction intervals at this level (regression).
    pub interval: Option<f64>,
    /// Calibrate probabilities: `isotonic` or `platt` (binary classification).
    pub calibrate: Option<String>,
    /// Hyperparameter search over list-valued options.
    pub search: Option<Search>,
    /// Cross-validation of each candidate (default 3 folds when searching).
    pub cv: Option<Cv>,
    /// Tree-model hyperparameters (`gbdt`).
    pub trees: TreeOptions,
    /// Keep a snapshot of the training rows (default true).
    pub snapshot: bool,
    /// Every option as given, for the version's recorded params.
    pub given: BTreeMap<String, String>,
}

fn parse_cv(text: &str) -> Result<Cv> {
    let bad = || {
        SqlStateError::bad_argument(format!(
            "option cv must be a number of folds (2 to 20) or time:<column>:<folds>, got '{text}'"
        ))
    };
    let folds = |v: &str| -> Result<usize> {
        match v.trim().parse::<usize>() {
            Ok(k) if (2..=20).contains(&k) => Ok(k),
            _ => Err(bad()),
        }
    };
    match text.trim().split(':').collect::<Vec<_>>().as_slice() {
        [k] => Ok(Cv::Folds(folds(k)?)),
        ["time", column, k] if !column.trim().is_empty() => Ok(Cv::Time {
            column: column.trim().to_string(),
            folds: folds(k)?,
        }),
        _ => Err(bad()),
    }
}

impl TrainOptions {
    /// Options with list-valued hyperparameters: every candidate is parsed
    /// (so a bad value fails before any data is read); the first one stands
    /// for the whole set until the search picks the best.
    fn parse_search(
        given: &BTreeMap<String, String>,
        lists: Vec<(String, Vec<String>)>,
    ) -> Result<TrainOptions> {
        let method = given
            .get("search")
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_else(|| "grid".into());
        if method != "grid" && method != "random" {
            return Err(SqlStateError::bad_argument(format!(
                "option search must be grid or random, got '{method}'"
            )));
        }
        if lists.is_empty() {
            return Err(SqlStateError::bad_argument(
                "option search needs at least one list-valued hyperparameter, e.g. max_depth = '3,6,9'",
            ));
        }
        // The grid, in order: the last list varies fastest.
        let mut varying: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
        for (key, values) in &lists {
            varying = varying
                .into_iter()
                .flat_map(|partial| {
                    values.iter().map(move |v| {
                        let mut next = partial.clone();
                        next.insert(key.clone(), v.clone());
                        next
                    })
                })
                .collect();
        }
        if varying.len() > 1000 {
            return Err(SqlStateError::bad_argument(format!(
                "the search grid has {} candidates; at most 1000",
                varying.len()
            )));
        }
        let seed = given
            .get("seed")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(42);
        if method == "random" && varying.len() > RANDOM_CANDIDATES {
            let mut rng = crate::kernels::optimize::SplitMix(seed ^ 0x5EA2C4);
            for i in (1..varying.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                varying.swap(i, j);
            }
            varying.truncate(RANDOM_CANDIDATES);
        }
        let candidates: Vec<BTreeMap<String, String>> = varying
            .iter()
            .map(|v| {
                let mut c = given.clone();
                c.remove("search");
                c.extend(v.clone());
                c
            })
            .collect();
        let mut parsed = candidates
            .iter()
            .map(TrainOptions::parse)
            .collect::<Result<Vec<_>>>()?;
        let mut first = parsed.swap_remove(0);
        first.given = given.clone();
        first.cv = Some(first.cv.unwrap_or(Cv::Folds(3)));
        first.search = Some(Search {
            method,
            candidates,
            varying,
        });
        Ok(first)
    }
}

fn number(key: &str, value: &str) -> Result<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            SqlStateError::bad_argument(format!("option {key} must be a number, got '{value}'"))
        })
}

fn non_negative(key: &str, value: &str) -> Result<f64> {
    let v = number(key, value)?;
    if v < 0.0 {
        return Err(SqlStateError::bad_argument(format!(
            "option {key} must be at least 0, got {value}"
        )));
    }
    Ok(v)
}

fn count(key: &str, value: &str, min: usize) -> Result<usize> {
    let v = value.trim().parse::<usize>().map_err(|_| {
        SqlStateError::bad_argument(format!(
            "option {key} must be a whole number, got '{value}'"
        ))
    })?;
    if v < min {
        return Err(SqlStateError::bad_argument(format!(
            "option {key} must be at least {min}, got {v}"
        )));
    }
    Ok(v)
}

fn fraction(key: &str, text: &str) -> Result<f64> {
    let f = number(key, text)?;
    if !(f > 0.0 && f < 1.0) {
        return Err(SqlStateError::bad_argument(format!(
            "option split: the hold-out fraction must be between 0 and 1, got {text}"
        )));
    }
    Ok(f)
}

fn parse_split(value: &str) -> Result<Split> {
    let parts: Vec<&str> = value.split(':').map(str::trim).collect();
    match parts.as_slice() {
        [kind] if kind.eq_ignore_ascii_case("none") => Ok(Split::None),
        [kind, f] if kind.eq_ignore_ascii_case("random") => {
            Ok(Split::Random(fraction("split", f)?))
        }
        [kind, f] if kind.eq_ignore_ascii_case("stratified") => {
            Ok(Split::Stratified(fraction("split", f)?))
        }
        [kind, column, f] if kind.eq_ignore_ascii_case("time") => Ok(Split::Time {
            column: column.to_string(),
            fraction: fraction("split", f)?,
        }),
        _ => Err(SqlStateError::bad_argument(format!(
            "option split must be random:F, stratified:F, time:<column>:F or none, got '{value}'"
        ))),
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl TrainOptions {
    /// Parses and validates `given` (keys are case-insensitive).
    pub fn parse(given: &BTreeMap<String, String>) -> Result<TrainOptions> {
        let given: BTreeMap<String, String> = given
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let lists: Vec<(String, Vec<String>)> = given
            .iter()
            .filter(|(k, v)| SEARCHABLE.contains(&k.as_str()) && v.contains(','))
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.split(',').map(|x| x.trim().to_string()).collect(),
                )
            })
            .collect();
        if given.contains_key("search") || !lists.is_empty() {
            return Self::parse_search(&given, lists);
        }
        let algorithm = match given.get("algorithm") {
            Some(a) => Algorithm::parse(a)?,
            None => {
                return Err(
                    SqlStateError::bad_argument("option algorithm is required").with_hint(format!(
                        "e.g. algorithm = 'logistic'; available: {}",
                        Algorithm::ALL.join(", ")
                    )),
                );
            }
        };
        let valid: Vec<&str> = COMMON
            .iter()
            .chain(algorithm.own_options())
            .copied()
            .collect();
        for key in given.keys() {
            if !valid.contains(&key.as_str()) {
                return Err(SqlStateError::bad_argument(format!(
                    "unknown option \"{key}\" for algorithm {}",
                    algorithm.name()
                ))
                .with_hint(format!("valid options: {}", valid.join(", "))));
            }
        }
        let task = match given.get("task") {
            Some(t) => Some(Task::parse(t).ok_or_else(|| {
                SqlStateError::bad_argument(format!(
                    "option task must be classification, regression, clustering or anomaly, got '{t}'"
                ))
            })?),
            None => None,
        };
        if let (Some(t), Some(implied)) = (task, algorithm.task())
            && t != implied
        {
            return Err(SqlStateError::bad_argument(format!(
                "algorithm {} is for {}, not {}",
                algorithm.name(),
                implied.name(),
                t.name()
            )));
        }
        let mut options = TrainOptions {
            algorithm,
            task: task.or(algorithm.task()),
            label: given.get("label").map(|s| s.trim().to_string()),
            weight: given.get("weight").map(|s| s.trim().to_string()),
            exclude: given.get("exclude").map(|s| list(s)).unwrap_or_default(),
            features: given.get("features").map(|s| list(s)),
            split: given.get("split").map(|s| parse_split(s)).transpose()?,
            seed: match given.get("seed") {
                Some(s) => s.trim().parse::<u64>().map_err(|_| {
                    SqlStateError::bad_argument(format!(
                        "option seed must be a whole number, got '{s}'"
                    ))
                })?,
                None => 42,
            },
            impute: given
                .get("impute")
                .map(|s| PerColumn::parse(s, &["constant"]))
                .unwrap_or_default(),
            scale: given
                .get("scale")
                .map(|s| PerColumn::parse(s, &[]))
                .unwrap_or_default(),
            encode: given
                .get("encode")
                .map(|s| PerColumn::parse(s, &["hash", "onehot"]))
                .unwrap_or_default(),
            max_categories: match given.get("max_categories") {
                Some(v) => count("max_categories", v, 2)?,
                None => 20,
            },
            balanced: match given.get("class_weight").map(|s| s.to_ascii_lowercase()) {
                None => false,
                Some(s) if s == "balanced" => true,
                Some(s) if s == "none" => false,
                Some(s) => {
                    return Err(SqlStateError::bad_argument(format!(
                        "option class_weight must be 'balanced' or 'none', got '{s}'"
                    )));
                }
            },
            l2: given.get("l2").map(|v| non_negative("l2", v)).transpose()?,
            l1: given.get("l1").map(|v| non_negative("l1", v)).transpose()?,
            max_iter: given
                .get("max_iter")
                .map(|v| count("max_iter", v, 1))
                .transpose()?,
            tol: given
                .get("tol")
                .map(|v| non_negative("tol", v))
                .transpose()?,
            k: match given.get("k") {
                Some(v) => count("k", v, 1)?,
                None => 8,
            },
            expression: given.get("expression").cloned(),
            trees: TreeOptions::parse(algorithm, &given)?,
            search: None,
            cv: match given.get("cv") {
                Some(v) => Some(parse_cv(v)?),
                None => None,
            },
            interval: match given.get("interval") {
                Some(v) => {
                    let level = number("interval", v)?;
                    if !(level > 0.0 && level < 1.0) {
                        return Err(SqlStateError::bad_argument(format!(
                            "option interval must be a coverage level between 0 and 1, e.g. 0.9, got {v}"
                        )));
                    }
                    Some(level)
                }
                None => None,
            },
            calibrate: match given
                .get("calibrate")
                .map(|v| v.trim().to_ascii_lowercase())
            {
                Some(v) if v == "isotonic" || v == "platt" => Some(v),
                Some(v) => {
                    return Err(SqlStateError::bad_argument(format!(
                        "option calibrate must be isotonic or platt, got '{v}'"
                    )));
                }
                None => None,
            },
            snapshot: match given.get("snapshot").map(|v| v.trim().to_ascii_lowercase()) {
                None => true,
                Some(v) if v == "true" => true,
                Some(v) if v == "false" => false,
                Some(v) => {
                    return Err(SqlStateError::bad_argument(format!(
                        "option snapshot must be true or false, got '{v}'"
                    )));
                }
            },
            given: given.clone(),
        };
        if algorithm == Algorithm::SqlRule && options.expression.is_none() {
            return Err(SqlStateError::bad_argument(
                "option expression is required for algorithm sql_rule",
            )
            .with_hint("e.g. expression = 'CASE WHEN support_calls > 3 THEN 0.9 ELSE 0.1 END'"));
        }
        if algorithm == Algorithm::Lasso && options.l1 == Some(0.0) {
            return Err(SqlStateError::bad_argument(
                "option l1 must be positive for lasso; use algorithm linear for no penalty",
            ));
        }
        // Validate per-column specs now rather than mid-training.
        for spec in options
            .impute
            .all
            .iter()
            .chain(options.impute.columns.values())
        {
            if parse_impute(spec)? == Impute::Keep && !algorithm.is_tree() {
                return Err(SqlStateError::bad_argument(format!(
                    "option impute: none keeps missing values, which only tree models accept; algorithm {} needs mean, median, mode or constant",
                    algorithm.name()
                )));
            }
        }
        for spec in options
            .scale
            .all
            .iter()
            .chain(options.scale.columns.values())
        {
            parse_scale(spec)?;
        }
        for spec in options
            .encode
            .all
            .iter()
            .chain(options.encode.columns.values())
        {
            parse_encode(spec, options.max_categories)?;
        }
        if options.task == Some(Task::Clustering) {
            options.label = None;
        }
        if options.task == Some(Task::Anomaly) && algorithm != Algorithm::IsolationForest {
            return Err(SqlStateError::bad_argument(format!(
                "algorithm {} cannot detect anomalies; use algorithm isolation_forest",
                algorithm.name()
            )));
        }
        Ok(options)
    }

    /// Whether this algorithm learns from a numeric matrix.
    pub fn uses_matrix(&self) -> bool {
        !matches!(self.algorithm, Algorithm::Baseline | Algorithm::SqlRule)
    }

    /// The preprocessing plan of one feature.
    pub fn column_plan(&self, name: &str, kind: FeatureKind) -> Result<ColumnPlan> {
        let default_scale = match self.algorithm {
            Algorithm::Logistic
            | Algorithm::Linear
            | Algorithm::Ridge
            | Algorithm::Lasso
            | Algorithm::KMeans => Scale::Standard,
            _ => Scale::None,
        };
        let impute = match self.impute.for_column(name) {
            Some(spec) => parse_impute(spec)?,
            // Random thresholds have no learned side for a missing value:
            // isolation forests see the median (or the mode) instead.
            None if self.algorithm == Algorithm::IsolationForest => match kind {
                FeatureKind::Numeric | FeatureKind::Temporal => Impute::Median,
                FeatureKind::Boolean | FeatureKind::Categorical => Impute::Mode,
            },
            None if self.algorithm.is_tree() => Impute::Keep,
            None => match kind {
                FeatureKind::Numeric | FeatureKind::Temporal => Impute::Mean,
                FeatureKind::Boolean | FeatureKind::Categorical => Impute::Mode,
            },
        };
        let scale = match self.scale.for_column(name) {
            Some(spec) => parse_scale(spec)?,
            None if kind == FeatureKind::Boolean => Scale::None,
            None => default_scale,
        };
        let encode = match self.encode.for_column(name) {
            Some(spec) => parse_encode(spec, self.max_categories)?,
            None if self.algorithm.is_tree() => Encode::Ordinal,
            None => Encode::OneHot {
                max_categories: self.max_categories,
            },
        };
        Ok(ColumnPlan {
            impute,
            scale,
            encode,
        })
    }

    /// Columns named in per-column options, to check they exist.
    pub fn named_columns(&self) -> Vec<&str> {
        self.impute
            .columns
            .keys()
            .chain(self.scale.columns.keys())
            .chain(self.encode.columns.keys())
            .map(String::as_str)
            .collect()
    }
}

fn parse_impute(spec: &str) -> Result<Impute> {
    let lower = spec.to_ascii_lowercase();
    match lower.as_str() {
        "mean" => Ok(Impute::Mean),
        "median" => Ok(Impute::Median),
        "mode" | "most_frequent" => Ok(Impute::Mode),
        "none" | "keep" => Ok(Impute::Keep),
        _ => match spec.split_once(':') {
            Some((head, value)) if head.eq_ignore_ascii_case("constant") => {
                Ok(Impute::Constant(value.to_string()))
            }
            _ => Err(SqlStateError::bad_argument(format!(
                "option impute: expected mean, median, mode, constant:<value> or none (trees), got '{spec}'"
            ))),
        },
    }
}

fn parse_scale(spec: &str) -> Result<Scale> {
    match spec.to_ascii_lowercase().as_str() {
        "none" => Ok(Scale::None),
        "standard" => Ok(Scale::Standard),
        "minmax" => Ok(Scale::MinMax),
        "robust" => Ok(Scale::Robust),
        _ => Err(SqlStateError::bad_argument(format!(
            "option scale: expected standard, minmax, robust or none, got '{spec}'"
        ))),
    }
}

fn parse_encode(spec: &str, max_categories: usize) -> Result<Encode> {
    let lower = spec.to_ascii_lowercase();
    let mut parts = lower.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("onehot"), None, _) => Ok(Encode::OneHot { max_categories }),
        (Some("onehot"), Some(n), None) => Ok(Encode::OneHot {
            max_categories: count("encode onehot", n, 2)?,
        }),
        (Some("hash"), Some(n), None) => Ok(Encode::Hash {
            buckets: count("encode hash", n, 1)?,
        }),
        (Some("ordinal"), None, _) => Ok(Encode::Ordinal),
        (Some("target"), None, _) => Ok(Encode::Target),
        _ => Err(SqlStateError::bad_argument(format!(
            "option encode: expected onehot, onehot:<max>, hash:<buckets>, target or ordinal, got '{spec}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Result<TrainOptions> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TrainOptions::parse(&map)
    }

    #[test]
    fn unknown_options_name_the_valid_ones() {
        let err = opts(&[("algorithm", "logistic"), ("label", "y"), ("depth", "3")])
            .expect_err("unknown");
        assert_eq!(err.code, "22023");
        assert!(err.message.contains("\"depth\""));
        assert!(err.hint.as_deref().is_some_and(|h| h.contains("l2")));
    }

    #[test]
    fn per_column_specs_parse() {
        let o = opts(&[
            ("algorithm", "logistic"),
            ("label", "y"),
            ("impute", "median,usage:constant:0"),
            ("encode", "city:hash:64"),
        ])
        .expect("valid");
        assert_eq!(
            o.column_plan("age", FeatureKind::Numeric)
                .expect("plan")
                .impute,
            Impute::Median
        );
        assert_eq!(
            o.column_plan("usage", FeatureKind::Numeric)
                .expect("plan")
                .impute,
            Impute::Constant("0".into())
        );
        assert_eq!(
            o.column_plan("city", FeatureKind::Categorical)
                .expect("plan")
                .encode,
            Encode::Hash { buckets: 64 }
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(opts(&[("algorithm", "logistic"), ("l2", "-1")]).is_err());
        assert!(opts(&[("algorithm", "logistic"), ("split", "random:1.5")]).is_err());
        assert!(opts(&[("algorithm", "kmeans"), ("k", "0")]).is_err());
        assert!(opts(&[("algorithm", "sql_rule")]).is_err());
        assert!(opts(&[("algorithm", "logistic"), ("task", "regression")]).is_err());
        assert_eq!(
            opts(&[("algorithm", "ets")]).expect_err("later").code,
            "0A000"
        );
        assert!(opts(&[("algorithm", "isolation_forest"), ("sample_size", "1")]).is_err());
        assert!(opts(&[("algorithm", "gbdt"), ("task", "anomaly")]).is_err());
        assert!(opts(&[("algorithm", "gbdt"), ("learning_rate", "0")]).is_err());
        assert!(opts(&[("algorithm", "gbdt"), ("monotone", "x:2")]).is_err());
        assert!(opts(&[("algorithm", "gbdt"), ("objective", "poisson")]).is_err());
        assert!(opts(&[("algorithm", "linear"), ("impute", "none")]).is_err());
    }

    #[test]
    fn forest_options_default_to_full_trees_and_sqrt_features() {
        let o = opts(&[("algorithm", "random_forest")]).expect("valid");
        assert_eq!(
            (o.trees.trees, o.trees.max_depth, o.trees.min_rows_per_leaf),
            (100, usize::MAX, 1)
        );
        assert_eq!(o.trees.split_features.count(25), 5);
        let o = opts(&[("algorithm", "random_forest"), ("colsample", "0.5")]).expect("valid");
        assert_eq!(o.trees.split_features.count(25), 12);
        assert!(opts(&[("algorithm", "decision_tree"), ("trees", "5")]).is_err());
    }

    #[test]
    fn tree_options_have_spec_defaults_and_parse() {
        let o = opts(&[
            ("algorithm", "gbdt"),
            ("monotone", "fee:-1, age:1"),
            ("objective", "quantile:0.9"),
        ])
        .expect("valid");
        assert_eq!(
            (
                o.trees.rounds,
                o.trees.max_depth,
                o.trees.min_rows_per_leaf,
                o.trees.max_bins
            ),
            (100, 6, 20, 255)
        );
        assert_eq!(
            o.trees.monotone,
            vec![("fee".to_string(), -1), ("age".to_string(), 1)]
        );
        assert_eq!(o.trees.objective, TreeObjective::Quantile(0.9));
        let plan = o.column_plan("x", FeatureKind::Numeric).expect("plan");
        assert_eq!((plan.impute, plan.scale), (Impute::Keep, Scale::None));
        assert_eq!(
            o.column_plan("c", FeatureKind::Categorical)
                .expect("plan")
                .encode,
            Encode::Ordinal
        );
    }
}

/// Objectives of a tree model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TreeObjective {
    /// Log-loss for classifiers, squared error for regression.
    Default,
    Huber(f64),
    Quantile(f64),
}

/// Hyperparameters of the tree models, with SPEC §3.3's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeOptions {
    pub rounds: usize,
    pub learning_rate: f64,
    pub max_depth: usize,
    pub min_rows_per_leaf: usize,
    pub l2: f64,
    pub subsample: f64,
    pub colsample: f64,
    pub max_bins: usize,
    pub early_stopping: usize,
    /// (column, +1 or -1).
    pub monotone: Vec<(String, i8)>,
    pub objective: TreeObjective,
    /// Trees of a random forest.
    pub trees: usize,
    /// Features tried per split in a random forest.
    pub split_features: SplitFeatures,
    /// Rows per isolation tree (ψ).
    pub sample_size: usize,
}

/// How many features a random forest tries at each split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SplitFeatures {
    All,
    Sqrt,
    Log2,
    Fraction(f64),
}

impl SplitFeatures {
    /// The count for `n` features (at least 1).
    pub fn count(self, n: usize) -> usize {
        let k = match self {
            SplitFeatures::All => n as f64,
            SplitFeatures::Sqrt => (n as f64).sqrt(),
            SplitFeatures::Log2 => (n as f64).log2(),
            SplitFeatures::Fraction(f) => n as f64 * f,
        };
        (k.floor() as usize).clamp(1, n.max(1))
    }
}

fn unit_interval(key: &str, value: &str) -> Result<f64> {
    let v = number(key, value)?;
    if !(v > 0.0 && v <= 1.0) {
        return Err(SqlStateError::bad_argument(format!(
            "option {key} must be in (0, 1], got {value}"
        )));
    }
    Ok(v)
}

impl TreeOptions {
    fn parse(algorithm: Algorithm, given: &BTreeMap<String, String>) -> Result<TreeOptions> {
        let get = |k: &str| given.get(k).map(String::as_str);
        // SPEC §3.3 defaults: gbdt depth 6, 20 rows per leaf; forests and
        // single trees grow until leaves are pure (one row per leaf).
        let (default_depth, default_leaf) = match algorithm {
            Algorithm::Gbdt => (6, 20),
            _ => (usize::MAX, 1),
        };
        let forest = algorithm == Algorithm::RandomForest;
        let split_features = match get("colsample").map(|s| s.trim().to_ascii_lowercase()) {
            None if forest => SplitFeatures::Sqrt,
            None => SplitFeatures::All,
            Some(s) if forest && s == "sqrt" => SplitFeatures::Sqrt,
            Some(s) if forest && s == "log2" => SplitFeatures::Log2,
            Some(s) if forest => SplitFeatures::Fraction(unit_interval("colsample", &s)?),
            Some(_) => SplitFeatures::All,
        };
        let monotone = match get("monotone") {
            None => vec![],
            Some(spec) => list(spec)
                .into_iter()
                .map(|item| match item.rsplit_once(':') {
                    Some((col, "1" | "+1")) => Ok((col.trim().to_string(), 1)),
                    Some((col, "-1")) => Ok((col.trim().to_string(), -1)),
                    _ => Err(SqlStateError::bad_argument(format!(
                        "option monotone: expected column:1 or column:-1, got '{item}'"
                    ))),
                })
                .collect::<Result<Vec<_>>>()?,
        };
        let objective = match get("objective").map(|s| s.trim().to_ascii_lowercase()) {
            None => TreeObjective::Default,
            Some(o) => match o.split_once(':') {
                _ if o == "squared" || o == "logloss" || o == "default" => TreeObjective::Default,
                _ if o == "huber" => TreeObjective::Huber(1.0),
                None if o == "quantile" => TreeObjective::Quantile(0.5),
                Some(("huber", d)) => {
                    TreeObjective::Huber(non_negative("objective huber delta", d)?.max(1e-12))
                }
                Some(("quantile", a)) => {
                    TreeObjective::Quantile(unit_interval("objective quantile", a)?.min(1.0 - 1e-9))
                }
                _ => {
                    return Err(SqlStateError::bad_argument(format!(
                        "option objective must be squared, huber[:delta] or quantile[:alpha], got '{o}'"
                    )));
                }
            },
        };
        Ok(TreeOptions {
            rounds: get("rounds")
                .map(|v| count("rounds", v, 1))
                .transpose()?
                .unwrap_or(100),
            learning_rate: get("learning_rate")
                .map(|v| unit_interval("learning_rate", v))
                .transpose()?
                .unwrap_or(0.1),
            max_depth: get("max_depth")
                .map(|v| count("max_depth", v, 1))
                .transpose()?
                .unwrap_or(default_depth),
            min_rows_per_leaf: get("min_rows_per_leaf")
                .map(|v| count("min_rows_per_leaf", v, 1))
                .transpose()?
                .unwrap_or(default_leaf),
            l2: get("l2")
                .map(|v| non_negative("l2", v))
                .transpose()?
                .unwrap_or(1.0),
            subsample: get("subsample")
                .map(|v| unit_interval("subsample", v))
                .transpose()?
                .unwrap_or(1.0),
            colsample: match get("colsample") {
                Some(v) if !forest => unit_interval("colsample", v)?,
                _ => 1.0,
            },
            max_bins: get("max_bins")
                .map(|v| count("max_bins", v, 2))
                .transpose()?
                .unwrap_or(255)
                .min(255),
            early_stopping: get("early_stopping")
                .map(|v| count("early_stopping", v, 0))
                .transpose()?
                .unwrap_or(0),
            monotone,
            objective,
            trees: get("trees")
                .map(|v| count("trees", v, 1))
                .transpose()?
                .unwrap_or(100),
            sample_size: get("sample_size")
                .map(|v| count("sample_size", v, 2))
                .transpose()?
                .unwrap_or(256),
            split_features,
        })
    }
}
