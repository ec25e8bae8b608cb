//! Training options: parsed strictly, with defaults per algorithm.
//!
//! Options arrive as text (`CREATE MODEL ... OPTIONS (l2 = 0.5)`) or JSON
//! (`ml_train(..., '{"l2": 0.5}')`); both become a key → text map here. An
//! unknown key, or a value of the wrong form, is an error that names what is
//! valid. The options every algorithm takes are [`COMMON`]; each algorithm
//! lists its own hyperparameters ([`Hyper`](crate::model::algorithms::Hyper), `model::algorithms`), and the
//! option tables of the docs are generated from both lists ([`markdown`]).

mod search;

use std::collections::BTreeMap;

pub use search::{RANDOM_CANDIDATES, Search};

use super::algorithms::hyper::{Hyperparameters, count, list, number};
use super::algorithms::{self, Algorithm, Inputs, Missing};
use super::preprocess::{ColumnPlan, Encode, Impute, Scale};
use super::schema::{FeatureKind, Result, Task};
use crate::error::SqlStateError;

/// An option every algorithm takes: its name, the values it takes and its
/// default, as the docs show them.
#[derive(Debug, Clone, Copy)]
pub struct CommonOption {
    pub name: &'static str,
    pub values: &'static str,
    pub default: &'static str,
}

/// Columns one source column may encode into (`onehot:N`, `hash:N`,
/// `max_categories`): each is a feature column of every training row.
const MAX_COLUMNS: usize = 65_536;

const fn common(name: &'static str, values: &'static str, default: &'static str) -> CommonOption {
    CommonOption {
        name,
        values,
        default,
    }
}

/// The options every algorithm takes.
pub const COMMON: &[CommonOption] = &[
    common(
        "task",
        "`classification`, `regression`, `clustering`, `anomaly`",
        "from the algorithm and the label type",
    ),
    common("algorithm", "one of the algorithms below", "required"),
    common(
        "label",
        "label column (not for `kmeans`); for `isolation_forest` optional: known anomalies (boolean or non-zero), never a feature, only used to report ROC AUC",
        "required",
    ),
    common("exclude", "comma-separated columns to leave out", "none"),
    common(
        "features",
        "comma-separated columns to use",
        "every other column",
    ),
    common(
        "split",
        "`random:F`, `stratified:F`, `time:<column>:F`, `none`",
        "`stratified:0.2` (classification), `random:0.2` (regression), `none` (k-means, isolation forest)",
    ),
    common("seed", "whole number", "42"),
    common(
        "impute",
        "`mean`, `median`, `mode`, `constant:<value>`, `none` (trees: missing values are routed by the tree); per column `col:median`",
        "per algorithm (below)",
    ),
    common(
        "scale",
        "`standard`, `minmax`, `robust`, `none`; per column",
        "per algorithm (below); booleans are never scaled",
    ),
    common(
        "encode",
        "`onehot`, `hash:N`, `ordinal`, `target` (smoothed mean label, m = 10; training rows encoded out of 5 folds); per column `city:hash:64`",
        "per algorithm (below)",
    ),
    common(
        "max_categories",
        "one-hot levels kept, including `other`",
        "20",
    ),
    common("class_weight", "`balanced`, `none`", "none"),
    common(
        "weight",
        "a numeric column of per-row training weights (never a feature; NULL leaves the row out; negative is an error); multiplies `class_weight`",
        "none",
    ),
    common(
        "reweigh",
        "a column of group membership (e.g. `gender`), classification only: Kamiran–Calders reweighing, each training row's weight × P(group)·P(class) / P(group, class) on the training rows, so group and label are independent in the weighted data; not a feature unless `features` lists it; the version records the weights and each group's positive rate and TPR on the evaluation rows for this model and for one trained without them (`fairness` in its params, and the model card)",
        "none",
    ),
    common(
        "interval",
        "a level in (0, 1), e.g. `0.9`: regressors; split-conformal bounds fitted on the hold-out rows, served by `ml_predict_interval`",
        "none",
    ),
    common(
        "calibrate",
        "`isotonic`, `platt`: binary classifiers; fitted on the hold-out rows, then `ml_predict_proba` and `ml_predict` use the calibrated probability (explanations stay in the raw margin)",
        "none",
    ),
    common(
        "search",
        "`grid`, `random`: try every combination of the list-valued hyperparameters (`max_depth = '3,6,9'`, `l2 = '0.1,1,10'`), or 10 of them at random (seeded); a list alone implies `grid`. Each candidate is cross-validated on the training split (ROC AUC for binary, accuracy for multi-class, RMSE for regression), the best mean is refitted on the whole training split; per-fold scores are in `ml_training_info` and the version's params (`cv`, `selected`)",
        "none",
    ),
    common(
        "cv",
        "`N` (2–20 folds, stratified for classification) or `time:<column>:N` (expanding windows: fold k trains on the first k of N + 1 time-ordered blocks and validates on the next); with `search`, defaults to 3. Preprocessing is fitted once on the training split, not per fold",
        "none",
    ),
    common(
        "snapshot",
        "`true`, `all`, `false`: keep the training rows as the next version of snapshot `training:<model>` (read them back with `ml_snapshot_read`; `ml_snapshots` links the snapshot and the model version). `true` keeps the columns the model used (features, label, weight and time-split columns), `all` every column of the query; DROP MODEL removes the snapshot unless `KEEP SNAPSHOTS`",
        "`true`",
    ),
    common(
        "log_sample_rate",
        "0 to 1: the share of keys (or rows) whose predictions are logged to `ml_prediction_log`; sets the model's policy as `ml_set_policy` does",
        "the policy's (none: no logging)",
    ),
    common(
        "key",
        "the column that identifies whom a prediction is about, for the prediction log (sampling hashes it)",
        "the policy's",
    ),
];

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
    pub algorithm: &'static dyn Algorithm,
    pub task: Option<Task>,
    pub label: Option<String>,
    /// A column of per-row training weights.
    pub weight: Option<String>,
    /// A column of group membership to reweigh by (Kamiran–Calders).
    pub reweigh: Option<String>,
    pub exclude: Vec<String>,
    pub features: Option<Vec<String>>,
    pub split: Option<Split>,
    pub seed: u64,
    pub impute: PerColumn,
    pub scale: PerColumn,
    pub encode: PerColumn,
    pub max_categories: usize,
    pub balanced: bool,
    /// Split-conformal prediction intervals at this level (regression).
    pub interval: Option<f64>,
    /// Calibrate probabilities: `isotonic` or `platt` (binary classification).
    pub calibrate: Option<String>,
    /// Hyperparameter search over list-valued options.
    pub search: Option<Search>,
    /// Cross-validation of each candidate (default 3 folds when searching).
    pub cv: Option<Cv>,
    /// Keep a snapshot of the training rows (default true).
    pub snapshot: bool,
    /// Keep every column of the query in it, not only the ones used.
    pub snapshot_all_columns: bool,
    /// The policy keys the options set (`log_sample_rate`, `key`), as a
    /// JSON object for `ml_set_policy`.
    pub policy: Option<String>,
    /// Every option as given (keys lowercased): the algorithm's
    /// hyperparameters are read from here, and the version records them.
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

impl TrainOptions {
    /// Parses and validates `given` (keys are case-insensitive).
    pub fn parse(given: &BTreeMap<String, String>) -> Result<TrainOptions> {
        let given: BTreeMap<String, String> = given
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let lists: Vec<(String, Vec<String>)> = given
            .iter()
            .filter(|(k, v)| search::searchable(k) && v.contains(','))
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.split(',').map(|x| x.trim().to_string()).collect(),
                )
            })
            .collect();
        if given.contains_key("search") || !lists.is_empty() {
            return search::parse(&given, lists);
        }
        let algorithm = match given.get("algorithm") {
            Some(a) => algorithms::parse(a)?,
            None => {
                return Err(
                    SqlStateError::bad_argument("option algorithm is required").with_hint(format!(
                        "e.g. algorithm = 'logistic'; available: {}",
                        algorithms::names().join(", ")
                    )),
                );
            }
        };
        let valid: Vec<&str> = COMMON
            .iter()
            .map(|o| o.name)
            .chain(algorithm.options().iter().map(|h| h.name))
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
            reweigh: given.get("reweigh").map(|s| s.trim().to_string()),
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
                Some(v) => count("max_categories", v, 2, MAX_COLUMNS)?,
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
            interval: None,
            calibrate: None,
            search: None,
            cv: None,
            snapshot: true,
            snapshot_all_columns: false,
            policy: None,
            given,
        };
        // The algorithm's own options, before the rest of the common ones.
        algorithm.check(&options.hyper())?;
        let given = &options.given;
        options.cv = given.get("cv").map(|v| parse_cv(v)).transpose()?;
        options.interval = match given.get("interval") {
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
        };
        options.policy = {
            let mut policy = serde_json::Map::new();
            if let Some(v) = given.get("log_sample_rate") {
                let rate = number("log_sample_rate", v)?;
                if !(0.0..=1.0).contains(&rate) {
                    return Err(SqlStateError::option(
                        "log_sample_rate",
                        "must be a number from 0 to 1",
                        v,
                    ));
                }
                policy.insert("log_sample_rate".into(), serde_json::json!(rate));
            }
            if let Some(k) = given.get("key") {
                if k.trim().is_empty() {
                    return Err(SqlStateError::option("key", "must name a column", "''"));
                }
                policy.insert("key".into(), serde_json::json!(k.trim()));
            }
            (!policy.is_empty()).then(|| serde_json::Value::Object(policy).to_string())
        };
        options.calibrate = match given
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
        };
        (options.snapshot, options.snapshot_all_columns) =
            match given.get("snapshot").map(|v| v.trim().to_ascii_lowercase()) {
                None => (true, false),
                Some(v) if v == "true" => (true, false),
                Some(v) if v == "all" => (true, true),
                Some(v) if v == "false" => (false, false),
                Some(v) => {
                    return Err(SqlStateError::bad_argument(format!(
                        "option snapshot must be true, all or false, got '{v}'"
                    )));
                }
            };
        // Validate per-column specs now rather than mid-training.
        for spec in options
            .impute
            .all
            .iter()
            .chain(options.impute.columns.values())
        {
            if parse_impute(spec)? == Impute::Keep && !algorithm.inputs().routes_missing {
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
        if options.task == Some(Task::Anomaly) && algorithm.task() != Some(Task::Anomaly) {
            let detectors: Vec<&str> = algorithms::ALL
                .iter()
                .filter(|a| a.task() == Some(Task::Anomaly))
                .map(|a| a.name())
                .collect();
            return Err(SqlStateError::bad_argument(format!(
                "algorithm {} cannot detect anomalies; use algorithm {}",
                algorithm.name(),
                detectors.join(" or ")
            )));
        }
        Ok(options)
    }

    /// Parses options given as pairs (tests).
    #[cfg(test)]
    pub(crate) fn of(pairs: &[(&str, &str)]) -> Result<TrainOptions> {
        TrainOptions::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The algorithm's hyperparameters, as given.
    pub fn hyper(&self) -> Hyperparameters<'_> {
        Hyperparameters(&self.given)
    }

    /// Whether this algorithm learns from a numeric matrix.
    pub fn uses_matrix(&self) -> bool {
        self.algorithm.inputs().matrix
    }

    /// The preprocessing plan of one feature.
    pub fn column_plan(&self, name: &str, kind: FeatureKind) -> Result<ColumnPlan> {
        let inputs = self.algorithm.inputs();
        let impute = match self.impute.for_column(name) {
            Some(spec) => parse_impute(spec)?,
            None => match (inputs.missing, kind) {
                (Missing::Keep, _) => Impute::Keep,
                (_, FeatureKind::Boolean | FeatureKind::Categorical) => Impute::Mode,
                (Missing::Median, _) => Impute::Median,
                (Missing::Mean, _) => Impute::Mean,
            },
        };
        let scale = match self.scale.for_column(name) {
            Some(spec) => parse_scale(spec)?,
            None if kind == FeatureKind::Boolean => Scale::None,
            None => inputs.scale,
        };
        let encode = match self.encode.for_column(name) {
            Some(spec) => parse_encode(spec, self.max_categories)?,
            None if inputs.ordinal => Encode::Ordinal,
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
            max_categories: count("encode onehot", n, 2, MAX_COLUMNS)?,
        }),
        (Some("hash"), Some(n), None) => Ok(Encode::Hash {
            buckets: count("encode hash", n, 1, MAX_COLUMNS)?,
        }),
        (Some("ordinal"), None, _) => Ok(Encode::Ordinal),
        (Some("target"), None, _) => Ok(Encode::Target),
        _ => Err(SqlStateError::bad_argument(format!(
            "option encode: expected onehot, onehot:<max>, hash:<buckets>, target or ordinal, got '{spec}'"
        ))),
    }
}

/// An algorithm's preprocessing defaults, in words.
fn defaults_text(inputs: Inputs) -> String {
    if !inputs.matrix {
        return "reads the columns as they are (no preprocessing).".into();
    }
    let impute = match inputs.missing {
        Missing::Keep => "missing values kept (each split routes them)",
        Missing::Median => "missing values filled with the median (numbers) or the mode",
        Missing::Mean => "missing values filled with the mean (numbers) or the mode",
    };
    let scale = match inputs.scale {
        Scale::None => "numbers as they are",
        Scale::Standard => "numbers standardized",
        Scale::MinMax => "numbers scaled to [0, 1]",
        Scale::Robust => "numbers centred on the median, scaled by the IQR",
    };
    let encode = if inputs.ordinal {
        "categories as ordinal codes"
    } else {
        "categories one-hot"
    };
    format!("{impute}; {scale}; {encode}.")
}

/// The option tables of `CREATE MODEL`, in Markdown: the options every
/// algorithm takes, then each algorithm's hyperparameters.
pub fn markdown() -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = String::from("| option | values | default |\n|---|---|---|\n");
    for o in COMMON {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            o.name,
            cell(o.values),
            cell(o.default)
        ));
    }
    for a in algorithms::ALL {
        out.push_str(&format!("\n`{}`: {}", a.name(), defaults_text(a.inputs())));
        if a.options().is_empty() {
            out.push_str(" No hyperparameters.\n");
            continue;
        }
        out.push_str("\n\n| option | values | default |\n|---|---|---|\n");
        for h in a.options() {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                h.name,
                cell(&h.values_text()),
                cell(&h.default_text())
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Result<TrainOptions> {
        TrainOptions::of(pairs)
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
    fn tree_models_keep_missing_values_and_use_ordinal_codes() {
        let o = opts(&[("algorithm", "gbdt")]).expect("valid");
        let plan = o.column_plan("x", FeatureKind::Numeric).expect("plan");
        assert_eq!((plan.impute, plan.scale), (Impute::Keep, Scale::None));
        assert_eq!(
            o.column_plan("c", FeatureKind::Categorical)
                .expect("plan")
                .encode,
            Encode::Ordinal
        );
        let o = opts(&[("algorithm", "isolation_forest")]).expect("valid");
        let plan = o.column_plan("x", FeatureKind::Numeric).expect("plan");
        assert_eq!(plan.impute, Impute::Median);
    }

    #[test]
    fn the_docs_list_every_option_of_every_algorithm() {
        let md = markdown();
        for o in COMMON {
            assert!(md.contains(&format!("| `{}` |", o.name)), "{}", o.name);
        }
        for a in algorithms::ALL {
            assert!(md.contains(&format!("`{}`", a.name())), "{}", a.name());
            for h in a.options() {
                assert!(md.contains(&format!("| `{}` |", h.name)), "{}", h.name);
            }
        }
    }
}
