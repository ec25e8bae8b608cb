//! Preprocessing that is part of a model: fit on the training rows only,
//! stored in the artifact, replayed exactly when scoring.
//!
//! | step      | fit on training rows                       | at scoring                          |
//! |-----------|--------------------------------------------|-------------------------------------|
//! | impute    | mean / median / mode / constant            | NULL → that value                   |
//! | scale     | standard (mean, population sd), minmax, robust (median, IQR) | (x − center) / scale |
//! | onehot    | the most frequent levels, at most `max_categories` including `other` | unseen levels → `other` (or no column when every level fitted) |
//! | hash:N    | nothing                                    | FNV-1a(level) mod N → one of N columns |
//! | ordinal   | sorted levels                              | index; unseen → number of levels    |
//! | target    | smoothed mean label per level (m = 10)     | unseen → the overall mean           |
//!
//! Target encoding learns from the label, so a training row encoded with
//! its own label leaks it to the learner (hold-out AUC 0.736 against 0.761
//! for hashing on the demo churn data, while the training rows scored
//! 0.788). The training rows of the matrix a model learns from are therefore
//! encoded out of fold ([`Preprocessor::encode_targets_out_of_fold`]): each
//! by the levels' means over the other folds, as scikit-learn's
//! `TargetEncoder.fit_transform` cross-fits. The stored step, which scoring
//! replays, is the encoding fitted on every training row.
//!
//! A zero scale (a constant column) becomes 1, as in scikit-learn.
//!
//! This module is the stored contract: [`Step`] and [`Preprocessor`] are
//! serialized into every artifact, so their variants and fields only ever
//! grow at the end. How the steps are fitted lives here too; how they are
//! replayed on rows being scored, with the lookup tables that make that
//! fast, is `replay`.

mod replay;

use std::collections::HashMap;

use datafusion::arrow::array::Array;
use serde::{Deserialize, Serialize};

use super::schema::{Feature, FeatureKind, Result, Values};
use crate::error::SqlStateError;
use crate::kernels::linalg::Matrix;
use crate::kernels::quantile::quantile_sorted;
use crate::kernels::rng::SplitMix;

/// How missing values of a column are filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Impute {
    /// Missing stays missing (NaN), for models that route it themselves (trees);
    /// a missing category becomes the unseen-level code.
    Keep,
    Mean,
    Median,
    Mode,
    Constant(String),
}

/// How a numeric column is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scale {
    None,
    Standard,
    MinMax,
    Robust,
}

/// How a categorical column becomes numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encode {
    OneHot { max_categories: usize },
    Hash { buckets: usize },
    Ordinal,
    Target,
}

/// Preprocessing choices for one column (from options and algorithm defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnPlan {
    pub impute: Impute,
    pub scale: Scale,
    pub encode: Encode,
}

/// The fitted preprocessing of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// `((x, or fill when NULL) − center) / scale`.
    Number { fill: f64, center: f64, scale: f64 },
    /// One column per level (plus `other` when some levels were folded).
    OneHot {
        levels: Vec<String>,
        other: bool,
        fill: Option<String>,
    },
    Hash {
        buckets: usize,
        fill: Option<String>,
    },
    Ordinal {
        levels: Vec<String>,
        fill: Option<String>,
        center: f64,
        scale: f64,
    },
    Target {
        levels: Vec<String>,
        values: Vec<f64>,
        default: f64,
        fill: Option<String>,
    },
}

impl Step {
    pub fn width(&self) -> usize {
        match self {
            Step::Number { .. } | Step::Ordinal { .. } | Step::Target { .. } => 1,
            Step::OneHot { levels, other, .. } => levels.len() + usize::from(*other),
            Step::Hash { buckets, .. } => *buckets,
        }
    }
}

/// Fitted preprocessing for all features; `steps[i]` belongs to feature `i`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub steps: Vec<Step>,
}

fn mode_f64(values: &[f64]) -> f64 {
    let mut counts: HashMap<u64, (usize, f64)> = HashMap::new();
    for &v in values {
        counts.entry(v.to_bits()).or_insert((0, v)).0 += 1;
    }
    counts
        .into_values()
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map_or(0.0, |(_, v)| v)
}

fn bad_option(feature: &str, message: String) -> SqlStateError {
    SqlStateError::bad_argument(format!("feature \"{feature}\": {message}"))
}

/// How far a level's mean label is shrunk towards the overall mean: as if
/// this many rows at the overall mean were added (scikit-learn's
/// `TargetEncoder(smooth=10)`).
pub const TARGET_SMOOTHING: f64 = 10.0;

/// Folds of the out-of-fold target encoding (scikit-learn's `cv=5`).
pub const TARGET_FOLDS: usize = 5;

/// A level's encoding from its label sum `s` over `n` rows.
fn smoothed(s: f64, n: f64, prior: f64) -> f64 {
    (s + TARGET_SMOOTHING * prior) / (n + TARGET_SMOOTHING)
}

/// Level counts of a text column over `rows`, most frequent first (ties by name).
fn level_counts(
    values: &datafusion::arrow::array::StringArray,
    rows: &[usize],
) -> Vec<(String, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for &i in rows {
        if values.is_valid(i) {
            *counts.entry(values.value(i)).or_default() += 1;
        }
    }
    let mut out: Vec<(String, usize)> = counts
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

impl Preprocessor {
    /// Fits one step per feature on the training `rows`. `target` is the
    /// numeric label (for target encoding), aligned with all rows.
    pub fn fit(
        features: &[Feature],
        columns: &[Values],
        plans: &[ColumnPlan],
        rows: &[usize],
        target: Option<&[f64]>,
    ) -> Result<Preprocessor> {
        let mut steps = Vec::with_capacity(features.len());
        for ((feature, column), plan) in features.iter().zip(columns).zip(plans) {
            let step = match (feature.kind, column) {
                (
                    FeatureKind::Numeric | FeatureKind::Boolean | FeatureKind::Temporal,
                    Values::Number(v),
                ) => {
                    let mut present: Vec<f64> = rows
                        .iter()
                        .filter(|&&i| v.is_valid(i))
                        .map(|&i| v.value(i))
                        .filter(|x| x.is_finite())
                        .collect();
                    present.sort_by(f64::total_cmp);
                    let fill = match &plan.impute {
                        Impute::Keep => f64::NAN,
                        Impute::Mean => present.iter().sum::<f64>() / present.len().max(1) as f64,
                        Impute::Median => quantile_sorted(&present, 0.5).unwrap_or(0.0),
                        Impute::Mode => mode_f64(&present),
                        Impute::Constant(c) => c.trim().parse::<f64>().map_err(|_| {
                            bad_option(
                                &feature.name,
                                format!("impute constant must be a number, got {c:?}"),
                            )
                        })?,
                    };
                    // Scale statistics include the imputed values, as a pipeline
                    // of imputer then scaler computes them.
                    let missing = if fill.is_nan() {
                        0
                    } else {
                        rows.len() - present.len()
                    };
                    let (center, scale) = match plan.scale {
                        Scale::None => (0.0, 1.0),
                        Scale::Standard => {
                            let n = (present.len() + missing).max(1) as f64;
                            let mean = (present.iter().sum::<f64>() + fill * missing as f64) / n;
                            let var = (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
                                + missing as f64 * (fill - mean).powi(2))
                                / n;
                            (mean, var.sqrt())
                        }
                        Scale::MinMax => {
                            let lo = present.first().copied().unwrap_or(0.0).min(if missing > 0 {
                                fill
                            } else {
                                f64::INFINITY
                            });
                            let hi = present.last().copied().unwrap_or(0.0).max(if missing > 0 {
                                fill
                            } else {
                                f64::NEG_INFINITY
                            });
                            (lo, hi - lo)
                        }
                        Scale::Robust => {
                            let mut all = present.clone();
                            all.extend(std::iter::repeat_n(fill, missing));
                            all.sort_by(f64::total_cmp);
                            let q = |q| quantile_sorted(&all, q).unwrap_or(0.0);
                            (q(0.5), q(0.75) - q(0.25))
                        }
                    };
                    let scale = if scale.is_finite() && scale.abs() > 0.0 {
                        scale
                    } else {
                        1.0
                    };
                    Step::Number {
                        fill,
                        center,
                        scale,
                    }
                }
                (FeatureKind::Categorical, Values::Text(v)) => {
                    let counts = level_counts(v, rows);
                    let fill = match &plan.impute {
                        Impute::Constant(c) => Some(c.clone()),
                        Impute::Keep => None,
                        // Mean and median make no sense for text: the most frequent level.
                        _ => counts.first().map(|(k, _)| k.clone()),
                    };
                    match plan.encode {
                        Encode::OneHot { max_categories } => {
                            let max = max_categories.max(1);
                            let (levels, other) = if counts.len() > max {
                                (
                                    counts
                                        .iter()
                                        .take(max - 1)
                                        .map(|(k, _)| k.clone())
                                        .collect(),
                                    true,
                                )
                            } else {
                                (
                                    counts.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
                                    false,
                                )
                            };
                            let mut levels = levels;
                            levels.sort();
                            Step::OneHot {
                                levels,
                                other,
                                fill,
                            }
                        }
                        Encode::Hash { buckets } => Step::Hash {
                            buckets: buckets.max(1),
                            fill,
                        },
                        Encode::Ordinal => {
                            let mut levels: Vec<String> =
                                counts.into_iter().map(|(k, _)| k).collect();
                            levels.sort();
                            let n = levels.len().max(1) as f64;
                            // Centre and scale the index like a standard-scaled number
                            // when scaling is on, so ordinal codes do not dominate.
                            let (center, scale) = match plan.scale {
                                Scale::None => (0.0, 1.0),
                                _ => ((n - 1.0) / 2.0, ((n * n - 1.0) / 12.0).sqrt().max(1.0)),
                            };
                            Step::Ordinal {
                                levels,
                                fill,
                                center,
                                scale,
                            }
                        }
                        Encode::Target => {
                            let Some(y) = target else {
                                return Err(bad_option(
                                    &feature.name,
                                    "target encoding needs a numeric or binary label".into(),
                                ));
                            };
                            let mut sums: HashMap<&str, (f64, f64)> = HashMap::new();
                            let mut total = (0.0f64, 0.0f64);
                            for &i in rows {
                                let key = if v.is_valid(i) {
                                    v.value(i)
                                } else {
                                    fill.as_deref().unwrap_or("")
                                };
                                let e = sums.entry(key).or_default();
                                e.0 += y[i];
                                e.1 += 1.0;
                                total.0 += y[i];
                                total.1 += 1.0;
                            }
                            let prior = total.0 / total.1.max(1.0);
                            let mut pairs: Vec<(String, f64)> = sums
                                .into_iter()
                                .map(|(k, (s, n))| (k.to_string(), smoothed(s, n, prior)))
                                .collect();
                            pairs.sort_by(|a, b| a.0.cmp(&b.0));
                            Step::Target {
                                levels: pairs.iter().map(|p| p.0.clone()).collect(),
                                values: pairs.iter().map(|p| p.1).collect(),
                                default: prior,
                                fill,
                            }
                        }
                    }
                }
                _ => {
                    return Err(SqlStateError::internal(format!(
                        "feature {} has mismatched values",
                        feature.name
                    )));
                }
            };
            steps.push(step);
        }
        Ok(Preprocessor { steps })
    }

    /// Re-encodes the target-encoded columns of the `train` rows of `matrix`
    /// (made by [`Preprocessor::transform`] from `columns`) out of fold: the
    /// training rows are dealt into [`TARGET_FOLDS`] folds in an order
    /// shuffled by `seed`, and a row's value is its level's smoothed mean
    /// label over the other folds (the other folds' mean for a level they do
    /// not have). Other rows keep the encoding fitted on all training rows,
    /// the one scoring uses.
    pub fn encode_targets_out_of_fold(
        &self,
        columns: &[Values],
        train: &[usize],
        target: &[f64],
        seed: u64,
        matrix: &mut Matrix,
    ) {
        let folds = TARGET_FOLDS.min(train.len());
        if folds < 2 || !self.steps.iter().any(|s| matches!(s, Step::Target { .. })) {
            return;
        }
        let mut order: Vec<usize> = (0..train.len()).collect();
        SplitMix(seed ^ 0x7461_7267_6574_5f63).shuffle(&mut order);
        let mut fold_of = vec![0usize; train.len()];
        for (k, &position) in order.iter().enumerate() {
            fold_of[position] = k % folds;
        }
        let mut offset = 0;
        for (step, column) in self.steps.iter().zip(columns) {
            if let Step::Target { fill, .. } = step {
                // Label sum and count per level, in total and per fold.
                let mut levels: HashMap<&str, Vec<(f64, f64)>> = HashMap::new();
                let mut per_fold = vec![(0.0f64, 0.0f64); folds + 1];
                for (position, &i) in train.iter().enumerate() {
                    let (k, y) = (fold_of[position], target[i]);
                    for slot in [k, folds] {
                        per_fold[slot].0 += y;
                        per_fold[slot].1 += 1.0;
                    }
                    if let Some(level) = replay::text_at(column, i, fill) {
                        let sums = levels
                            .entry(level)
                            .or_insert_with(|| vec![(0.0, 0.0); folds + 1]);
                        for slot in [k, folds] {
                            sums[slot].0 += y;
                            sums[slot].1 += 1.0;
                        }
                    }
                }
                let total = per_fold[folds];
                for (position, &i) in train.iter().enumerate() {
                    let k = fold_of[position];
                    let rest = (total.0 - per_fold[k].0, total.1 - per_fold[k].1);
                    let prior = rest.0 / rest.1.max(1.0);
                    let value = match replay::text_at(column, i, fill).and_then(|l| levels.get(l)) {
                        Some(sums) => {
                            smoothed(sums[folds].0 - sums[k].0, sums[folds].1 - sums[k].1, prior)
                        }
                        None => prior,
                    };
                    matrix.data[i * matrix.cols + offset] = value;
                }
            }
            offset += step.width();
        }
    }

    /// Width of the numeric matrix.
    pub fn width(&self) -> usize {
        self.steps.iter().map(Step::width).sum()
    }

    /// Names of the matrix columns, e.g. `age`, `city=Paris`, `city=other`.
    pub fn output_names(&self, features: &[Feature]) -> Vec<String> {
        let mut names = Vec::with_capacity(self.width());
        for (f, step) in features.iter().zip(&self.steps) {
            match step {
                Step::Number { .. } | Step::Ordinal { .. } | Step::Target { .. } => {
                    names.push(f.name.clone())
                }
                Step::OneHot { levels, other, .. } => {
                    names.extend(levels.iter().map(|l| format!("{}={l}", f.name)));
                    if *other {
                        names.push(format!("{}=other", f.name));
                    }
                }
                Step::Hash { buckets, .. } => {
                    names.extend((0..*buckets).map(|b| format!("{}#{b}", f.name)));
                }
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray, StringViewArray};

    fn numeric(name: &str) -> Feature {
        Feature {
            name: name.into(),
            kind: FeatureKind::Numeric,
            data_type: "Float64".into(),
        }
    }

    fn text(name: &str) -> Feature {
        Feature {
            name: name.into(),
            kind: FeatureKind::Categorical,
            data_type: "Utf8".into(),
        }
    }

    #[test]
    fn standard_scaling_matches_sklearn_pipeline() {
        // SimpleImputer(mean) then StandardScaler on [1, NULL, 3]: fill 2,
        // mean 2, population sd sqrt(2/3).
        let col = Values::Number(Float64Array::from(vec![Some(1.0), None, Some(3.0)]));
        let plan = ColumnPlan {
            impute: Impute::Mean,
            scale: Scale::Standard,
            encode: Encode::OneHot { max_categories: 20 },
        };
        let p = Preprocessor::fit(
            &[numeric("x")],
            std::slice::from_ref(&col),
            &[plan],
            &[0, 1, 2],
            None,
        )
        .expect("fit");
        let m = p.transform(&[col]);
        let sd = (2.0f64 / 3.0).sqrt();
        assert!((m.data[0] + 1.0 / sd).abs() < 1e-12);
        assert_eq!(m.data[1], 0.0);
        assert!((m.data[2] - 1.0 / sd).abs() < 1e-12);
    }

    #[test]
    fn onehot_folds_rare_levels_into_other_and_unseen_go_there() {
        let col = Values::Text(StringArray::from(vec!["a", "a", "b", "b", "c", "d"]));
        let plan = ColumnPlan {
            impute: Impute::Mode,
            scale: Scale::None,
            encode: Encode::OneHot { max_categories: 3 },
        };
        let p = Preprocessor::fit(&[text("t")], &[col], &[plan], &[0, 1, 2, 3, 4, 5], None)
            .expect("fit");
        assert_eq!(p.output_names(&[text("t")]), vec!["t=a", "t=b", "t=other"]);
        let m = p.transform(&[Values::Text(StringArray::from(vec![
            Some("b"),
            Some("zzz"),
            None,
        ]))]);
        assert_eq!(m.row(0), &[0.0, 1.0, 0.0]);
        assert_eq!(m.row(1), &[0.0, 0.0, 1.0]);
        // NULL is imputed with the mode ("a").
        assert_eq!(m.row(2), &[1.0, 0.0, 0.0]);
    }

    #[test]
    fn linear_shortcut_equals_matrix_product() {
        let num = Values::Number(Float64Array::from(vec![
            Some(1.0),
            None,
            Some(5.0),
            Some(2.0),
        ]));
        let cat = Values::Text(StringArray::from(vec![
            Some("x"),
            Some("y"),
            None,
            Some("q"),
        ]));
        let plans = vec![
            ColumnPlan {
                impute: Impute::Median,
                scale: Scale::Robust,
                encode: Encode::OneHot { max_categories: 20 },
            },
            ColumnPlan {
                impute: Impute::Mode,
                scale: Scale::None,
                encode: Encode::Hash { buckets: 4 },
            },
        ];
        let features = [numeric("n"), text("c")];
        let cols = vec![num, cat];
        let p = Preprocessor::fit(&features, &cols, &plans, &[0, 1, 2, 3], None).expect("fit");
        let coef: Vec<f64> = (0..p.width()).map(|i| 0.5 + i as f64).collect();
        let m = p.transform(&cols);
        let mut fast = Vec::new();
        p.linear(&cols, &coef, 0.25, &mut fast);
        for (i, f) in fast.iter().enumerate() {
            let slow: f64 = 0.25 + m.row(i).iter().zip(&coef).map(|(a, b)| a * b).sum::<f64>();
            assert!((f - slow).abs() < 1e-12);
        }
        // Non-finite values are imputed like NULLs, with and without NULLs.
        for num in [
            vec![Some(f64::NAN), Some(3.0), Some(f64::INFINITY), Some(2.0)],
            vec![Some(f64::NAN), None, Some(f64::NEG_INFINITY), Some(2.0)],
        ] {
            let cat = StringArray::from(vec![Some("x"), Some("y"), None, Some("q")]);
            let odd = vec![Values::Number(Float64Array::from(num)), Values::Text(cat)];
            let m = p.transform(&odd);
            p.linear(&odd, &coef, 0.25, &mut fast);
            for (i, f) in fast.iter().enumerate() {
                let slow: f64 = 0.25 + m.row(i).iter().zip(&coef).map(|(a, b)| a * b).sum::<f64>();
                assert!((f - slow).abs() < 1e-12, "row {i}: {f} vs {slow}");
            }
        }
    }

    #[test]
    fn onehot_over_string_views_matches_plain_strings() {
        // Few and many levels, short (inline in a view) and long names.
        for count in [3usize, 40, 150] {
            let names: Vec<String> = (0..count)
                .map(|k| {
                    if k % 3 == 0 {
                        format!("a fairly long level name {k}")
                    } else {
                        format!("l{k}")
                    }
                })
                .collect();
            let train: Vec<Option<&str>> = names
                .iter()
                .flat_map(|n| [Some(n.as_str()), Some(n.as_str())])
                .chain([None])
                .collect();
            let train = Values::Text(StringArray::from(train));
            let plans = vec![ColumnPlan {
                impute: Impute::Mode,
                scale: Scale::None,
                // Every level kept: 150 levels reach the hashed lookups.
                encode: Encode::OneHot {
                    max_categories: 200,
                },
            }];
            let rows: Vec<usize> = (0..train.len()).collect();
            let p = Preprocessor::fit(
                &[text("c")],
                std::slice::from_ref(&train),
                &plans,
                &rows,
                None,
            )
            .expect("fit");
            let score: Vec<Option<String>> = names
                .iter()
                .map(|n| Some(n.clone()))
                .chain([
                    None,
                    Some("unseen".into()),
                    Some("an unseen name longer than twelve".into()),
                    Some(String::new()),
                ])
                .collect();
            let plain = Values::Text(StringArray::from(score.clone()));
            let views = Values::TextView(StringViewArray::from(score));
            let coef: Vec<f64> = (0..p.width()).map(|i| 0.25 + i as f64).collect();
            let m = p.transform(std::slice::from_ref(&plain));
            let (mut a, mut b) = (Vec::new(), Vec::new());
            p.linear(std::slice::from_ref(&plain), &coef, 0.5, &mut a);
            p.linear(std::slice::from_ref(&views), &coef, 0.5, &mut b);
            for i in 0..a.len() {
                let slow: f64 = 0.5 + m.row(i).iter().zip(&coef).map(|(x, c)| x * c).sum::<f64>();
                assert_eq!(a[i].to_bits(), slow.to_bits(), "{count} levels, row {i}");
                assert_eq!(
                    b[i].to_bits(),
                    slow.to_bits(),
                    "{count} levels, view row {i}"
                );
            }
        }
    }

    #[test]
    fn linear_shortcut_for_onehot_matches_the_matrix() {
        let train = Values::Text(StringArray::from(vec![
            Some("a"),
            Some("a"),
            Some("b"),
            Some("c"),
            None,
        ]));
        let features = [text("c")];
        for (max_categories, impute) in [
            (2, Impute::Mode),
            (20, Impute::Mode),
            (2, Impute::Keep),
            (20, Impute::Constant("zz".into())),
        ] {
            let plans = vec![ColumnPlan {
                impute: impute.clone(),
                scale: Scale::None,
                encode: Encode::OneHot { max_categories },
            }];
            let p = Preprocessor::fit(
                &features,
                std::slice::from_ref(&train),
                &plans,
                &[0, 1, 2, 3, 4],
                None,
            )
            .expect("fit");
            let score = Values::Text(StringArray::from(vec![
                Some("a"),
                Some("b"),
                Some("c"),
                Some("unseen"),
                None,
            ]));
            let coef: Vec<f64> = (0..p.width()).map(|i| -1.5 + i as f64).collect();
            let m = p.transform(std::slice::from_ref(&score));
            let mut fast = Vec::new();
            p.linear(std::slice::from_ref(&score), &coef, 0.5, &mut fast);
            for (i, f) in fast.iter().enumerate() {
                let slow: f64 = 0.5 + m.row(i).iter().zip(&coef).map(|(a, b)| a * b).sum::<f64>();
                assert_eq!(
                    f.to_bits(),
                    slow.to_bits(),
                    "{max_categories} {impute:?} row {i}"
                );
            }
        }
    }

    /// scikit-learn's `TargetEncoder(smooth=10)` on the rows of
    /// `tests/fixtures/target_encoding.json` (scripts/fixtures/target_encoding.py):
    /// the levels, their labels, its encodings and its cross-fitted values.
    fn sklearn_fixture() -> (Values, Vec<f64>, serde_json::Value) {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/target_encoding.json");
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
        let levels: Vec<&str> = fixture["levels"]
            .as_array()
            .expect("levels")
            .iter()
            .map(|v| v.as_str().expect("level"))
            .collect();
        let labels: Vec<f64> = fixture["labels"]
            .as_array()
            .expect("labels")
            .iter()
            .map(|v| {
                if v.as_bool().expect("label") {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        (Values::Text(StringArray::from(levels)), labels, fixture)
    }

    fn target_plan() -> ColumnPlan {
        ColumnPlan {
            impute: Impute::Mode,
            scale: Scale::None,
            encode: Encode::Target,
        }
    }

    #[test]
    fn target_encoding_equals_scikit_learns_target_encoder() {
        let (column, y, fixture) = sklearn_fixture();
        let rows: Vec<usize> = (0..y.len()).collect();
        let p = Preprocessor::fit(
            &[text("level")],
            &[column],
            &[target_plan()],
            &rows,
            Some(&y),
        )
        .expect("fit");
        let Step::Target {
            levels,
            values,
            default,
            ..
        } = &p.steps[0]
        else {
            panic!("a target step: {:?}", p.steps[0]);
        };
        let prior = fixture["sklearn_prior"].as_f64().expect("prior");
        assert!((default - prior).abs() < 1e-12, "{default} vs {prior}");
        let categories = fixture["sklearn_categories"]
            .as_array()
            .expect("categories");
        let encodings = fixture["sklearn_encodings"].as_array().expect("encodings");
        assert_eq!(levels.len(), categories.len());
        for (category, expected) in categories.iter().zip(encodings) {
            let category = category.as_str().expect("category");
            let at = levels
                .iter()
                .position(|l| l == category)
                .expect("level fitted");
            let expected = expected.as_f64().expect("encoding");
            assert!(
                (values[at] - expected).abs() < 1e-12,
                "{category}: {} vs scikit-learn {expected}",
                values[at]
            );
        }
    }

    #[test]
    fn training_rows_are_target_encoded_without_their_own_label() {
        let (column, y, fixture) = sklearn_fixture();
        let n = y.len();
        // Rows 0..2500 train; the rest are a hold-out, encoded as when scoring.
        let train: Vec<usize> = (0..2500).collect();
        let fit = |y: &[f64]| {
            let p = Preprocessor::fit(
                &[text("level")],
                std::slice::from_ref(&column),
                &[target_plan()],
                &train,
                Some(y),
            )
            .expect("fit");
            let full = p.transform(std::slice::from_ref(&column));
            let mut oof = full.clone();
            p.encode_targets_out_of_fold(std::slice::from_ref(&column), &train, y, 42, &mut oof);
            (full, oof)
        };
        let (full, oof) = fit(&y);
        assert_eq!(
            &oof.data[2500..],
            &full.data[2500..],
            "hold-out rows keep the full encoding"
        );
        assert!(oof.data[..2500] != full.data[..2500]);
        // A row's own label does not move its value (it moves other folds').
        for row in [0, 17, 1234, 2499] {
            let mut flipped = y.clone();
            flipped[row] = 1.0 - flipped[row];
            let (_, again) = fit(&flipped);
            assert_eq!(again.data[row], oof.data[row], "row {row}");
            let moved = (0..2500).filter(|&i| again.data[i] != oof.data[i]).count();
            assert!(moved > 0, "the flip reaches the other folds");
        }
        // Cross-fitting moves values off the full encoding about as far as
        // scikit-learn's does (its folds differ, so not row for row).
        let (full_all, oof_all) = {
            let rows: Vec<usize> = (0..n).collect();
            let p = Preprocessor::fit(
                &[text("level")],
                std::slice::from_ref(&column),
                &[target_plan()],
                &rows,
                Some(&y),
            )
            .expect("fit");
            let full = p.transform(std::slice::from_ref(&column));
            let mut oof = full.clone();
            p.encode_targets_out_of_fold(std::slice::from_ref(&column), &rows, &y, 0, &mut oof);
            (full, oof)
        };
        let sklearn: Vec<f64> = fixture["sklearn_cross_fitted"]
            .as_array()
            .expect("cross fitted")
            .iter()
            .map(|v| v.as_f64().expect("value"))
            .collect();
        let spread = |values: &[f64]| {
            values
                .iter()
                .zip(&full_all.data)
                .map(|(a, b)| (a - b).abs())
                .sum::<f64>()
                / n as f64
        };
        let (ours, theirs) = (spread(&oof_all.data), spread(&sklearn));
        assert!(
            (ours / theirs - 1.0).abs() < 0.15,
            "mean |out-of-fold - full|: ours {ours}, scikit-learn {theirs}"
        );
    }
}
