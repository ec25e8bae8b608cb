//! LIME: a local linear surrogate of any model around one row (Ribeiro,
//! Singh and Guestrin, "Why should I trust you?", 2016), in the form of the
//! `lime` package's tabular explainer with `discretize_continuous=False`.
//!
//! For a row x, [`SAMPLES`] rows are drawn from the training distribution
//! kept in the version's profile: a numeric feature from a normal with the
//! training mean and standard deviation, a boolean one as true with its
//! training share, a categorical one from its training frequencies (the
//! levels beyond the profile's top ones as an unseen level), a timestamp
//! like a number of seconds. The first sample is x itself. Each sample is
//! represented as the surrogate sees it: a numeric or timestamp feature
//! scaled, (z − mean) / sd; a boolean or categorical one as 1 where it
//! equals x's value, else 0. A sample's weight is `lime`'s kernel,
//! √exp(−d² / w²), d the Euclidean distance to x's representation and
//! w = 0.75 √features. The model scores every sample (the positive-class
//! probability of a binary classifier, the probability of x's predicted
//! class for several classes, the value of a regressor or anomaly score),
//! and a weighted ridge regression (α = 1, `lime`'s `Ridge()`) of those
//! outputs on the representations is the surrogate.
//!
//! The explanation is additive like the others: `base` is the surrogate's
//! intercept (its output at the training means with no categorical match)
//! and a feature's contribution is its coefficient times x's value in the
//! representation, so base + Σ contributions is the surrogate at x, which
//! approximates the model's output there. For a linear regressor the
//! surrogate is the model itself, and the contributions are the exact
//! coef × (x − training mean) (up to the ridge's shrinkage).
//!
//! Draws come from `SplitMix`, seeded from the seed and the row's values,
//! so a row gets the same explanation in any batch, on any thread count.
//! Written here: the `lime` crate space has nothing maintained for tabular
//! surrogates, and the work is sampling plus a small linear solve.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit};
use serde_json::Value as Json;

use super::artifact::LoadedModel;
use super::explain::Explained;
use super::schema::{FeatureKind, Result, Task};
use crate::error::SqlStateError;
use crate::kernels::linalg::cholesky_solve;
use crate::kernels::rng::SplitMix;

/// Samples drawn per explained row (`lime`'s default).
pub const SAMPLES: usize = 5000;
/// The ridge penalty of the surrogate (`lime`'s `Ridge(alpha=1)`).
const ALPHA: f64 = 1.0;
/// The level a categorical sample takes for the training levels the
/// profile does not list one by one: unseen by the model.
const OTHER_LEVEL: &str = "\u{0}other";

/// How one feature is drawn and represented.
#[derive(Debug, Clone, PartialEq)]
enum Draw {
    /// Normal(mean, sd); represented scaled. Timestamps are seconds.
    Number { mean: f64, sd: f64, seconds: bool },
    /// True with probability `share`; represented as a match of x.
    Flag { share: f64 },
    /// Levels with cumulative shares; represented as a match of x.
    Levels {
        levels: Vec<String>,
        cumulative: Vec<f64>,
    },
}

/// The sampling distribution of every feature of a model version.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampler {
    draws: Vec<Draw>,
    samples: usize,
    seed: u64,
}

impl Sampler {
    /// From the version's training profile (`model::profile`), one entry
    /// per feature in model order.
    pub fn from_profile(
        model: &LoadedModel,
        profile: &Json,
        samples: usize,
        seed: u64,
    ) -> Result<Sampler> {
        let entries = profile["features"].as_array().ok_or_else(|| {
            SqlStateError::unsupported(format!(
                "ml_explain: model {} has no training profile to draw LIME samples from (trained before profiles were kept)",
                model.name
            ))
        })?;
        let draws = model
            .features()
            .iter()
            .map(|f| {
                let entry = entries
                    .iter()
                    .find(|e| e["name"].as_str() == Some(f.name.as_str()))
                    .ok_or_else(|| {
                        SqlStateError::internal(format!(
                            "the training profile has no feature {}",
                            f.name
                        ))
                    })?;
                let number = |key: &str| entry[key].as_f64().unwrap_or(0.0);
                Ok(match (f.kind, entry["kind"].as_str()) {
                    (FeatureKind::Boolean, _) => Draw::Flag {
                        share: number("mean").clamp(0.0, 1.0),
                    },
                    (_, Some("categorical")) => {
                        let mut levels = Vec::new();
                        let mut counts = Vec::new();
                        for pair in entry["top"].as_array().into_iter().flatten() {
                            levels.push(pair[0].as_str().unwrap_or_default().to_string());
                            counts.push(pair[1].as_f64().unwrap_or(0.0));
                        }
                        let other = number("other");
                        if other > 0.0 {
                            levels.push(OTHER_LEVEL.to_string());
                            counts.push(other);
                        }
                        let total: f64 = counts.iter().sum();
                        let mut sum = 0.0;
                        let cumulative = counts
                            .iter()
                            .map(|c| {
                                sum += c / total.max(f64::MIN_POSITIVE);
                                sum
                            })
                            .collect();
                        Draw::Levels { levels, cumulative }
                    }
                    _ => Draw::Number {
                        mean: number("mean"),
                        sd: number("sd"),
                        seconds: f.kind == FeatureKind::Temporal,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Sampler {
            draws,
            samples: samples.max(2),
            seed,
        })
    }
}

/// What the surrogate explains for a model: checked before sampling.
pub fn check(model: &LoadedModel) -> Result<()> {
    if model.task() == Task::Clustering {
        return Err(SqlStateError::unsupported(
            "ml_explain: method 'lime' needs a numeric output, and a cluster number is not one",
        ));
    }
    Ok(())
}

/// LIME explanations of every row of `inputs` (arrays in feature order).
pub fn explain(model: &LoadedModel, sampler: &Sampler, inputs: &[ArrayRef]) -> Result<Explained> {
    check(model)?;
    let rows = inputs.first().map_or(0, |a| a.len());
    let p = sampler.draws.len();
    let mut explained = Explained {
        base: Vec::with_capacity(rows),
        contributions: Vec::with_capacity(rows * p),
        features: p,
    };
    for row in 0..rows {
        let (base, contributions) = explain_row(model, sampler, inputs, row)?;
        explained.base.push(base);
        explained.contributions.extend(contributions);
    }
    Ok(explained)
}

/// One feature's value in row `row` of its input, as a number (NaN when
/// NULL or not a number) and as text.
fn value_of(array: &ArrayRef, row: usize, draw: &Draw) -> Result<(f64, Option<String>)> {
    let one = array.slice(row, 1);
    if one.is_null(0) {
        return Ok((f64::NAN, None));
    }
    match draw {
        Draw::Levels { .. } => {
            let text = cast(&one, &DataType::Utf8).map_err(SqlStateError::internal)?;
            Ok((f64::NAN, Some(text.as_string::<i32>().value(0).to_string())))
        }
        Draw::Number { seconds: true, .. } => {
            let ts = cast(&one, &DataType::Timestamp(TimeUnit::Second, None))
                .and_then(|t| cast(&t, &DataType::Int64))
                .map_err(SqlStateError::internal)?;
            Ok((
                ts.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .value(0) as f64,
                None,
            ))
        }
        _ => {
            let x = cast(&one, &DataType::Float64).map_err(SqlStateError::internal)?;
            Ok((x.as_primitive::<Float64Type>().value(0), None))
        }
    }
}

/// The seed of a row: the sampler's seed and the row's values, so a row
/// draws the same samples wherever it is.
fn row_seed(seed: u64, values: &[(f64, Option<String>)]) -> u64 {
    let mut h = crate::kernels::hash::fnv1a_extend(0xcbf2_9ce4_8422_2325, &seed.to_le_bytes());
    for (x, text) in values {
        h = crate::kernels::hash::fnv1a_extend(h, &x.to_bits().to_le_bytes());
        if let Some(t) = text {
            h = crate::kernels::hash::fnv1a_extend(h, t.as_bytes());
        }
        h = crate::kernels::hash::fnv1a_extend(h, &[0xff]);
    }
    h
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut SplitMix) -> f64 {
    let u1 = rng.uniform().max(f64::MIN_POSITIVE);
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn explain_row(
    model: &LoadedModel,
    sampler: &Sampler,
    inputs: &[ArrayRef],
    row: usize,
) -> Result<(f64, Vec<f64>)> {
    let (n, p) = (sampler.samples, sampler.draws.len());
    let x: Vec<(f64, Option<String>)> = inputs
        .iter()
        .zip(&sampler.draws)
        .map(|(a, d)| value_of(a, row, d))
        .collect::<Result<_>>()?;
    let mut rng = SplitMix(row_seed(sampler.seed, &x));
    // Representations: row-major n × p; x's is row 0's.
    let mut z = vec![0.0; n * p];
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(p);
    for (j, draw) in sampler.draws.iter().enumerate() {
        // Sample 0 is x as given (NULLs and all).
        let original = take(
            inputs[j].as_ref(),
            &datafusion::arrow::array::UInt32Array::from(vec![row as u32]),
            None,
        )
        .map_err(SqlStateError::internal)?;
        let drawn: ArrayRef = match draw {
            Draw::Number { mean, sd, seconds } => {
                let scale = if *sd > 0.0 { *sd } else { 1.0 };
                let xv = x[j].0;
                z[j] = if xv.is_finite() {
                    (xv - mean) / scale
                } else {
                    0.0
                };
                let mut values = Vec::with_capacity(n - 1);
                for s in 1..n {
                    let e = normal(&mut rng);
                    z[s * p + j] = if *sd > 0.0 { e } else { 0.0 };
                    values.push(mean + e * if *sd > 0.0 { *sd } else { 0.0 });
                }
                if *seconds {
                    let secs: Int64Array = values.iter().map(|v| Some(v.round() as i64)).collect();
                    cast(
                        &(Arc::new(secs) as ArrayRef),
                        &DataType::Timestamp(TimeUnit::Second, None),
                    )
                    .map_err(SqlStateError::internal)?
                } else {
                    Arc::new(Float64Array::from(values))
                }
            }
            Draw::Flag { share } => {
                let xv = x[j].0;
                z[j] = 1.0;
                let mut values = Vec::with_capacity(n - 1);
                for s in 1..n {
                    let v = if rng.uniform() < *share { 1.0 } else { 0.0 };
                    z[s * p + j] = f64::from(u8::from(xv.is_finite() && (v == 1.0) == (xv != 0.0)));
                    values.push(v);
                }
                Arc::new(Float64Array::from(values))
            }
            Draw::Levels { levels, cumulative } => {
                z[j] = 1.0;
                let mine = x[j].1.as_deref();
                let mut values: Vec<&str> = Vec::with_capacity(n - 1);
                for s in 1..n {
                    let u = rng.uniform();
                    let k = cumulative
                        .partition_point(|c| *c <= u)
                        .min(levels.len().saturating_sub(1));
                    let level = levels.get(k).map_or(OTHER_LEVEL, String::as_str);
                    z[s * p + j] = f64::from(u8::from(Some(level) == mine));
                    values.push(level);
                }
                Arc::new(StringArray::from(values))
            }
        };
        let original = match draw {
            Draw::Levels { .. } => cast(&original, &DataType::Utf8),
            Draw::Number { seconds: true, .. } => {
                cast(&original, &DataType::Timestamp(TimeUnit::Second, None))
            }
            _ => cast(&original, &DataType::Float64),
        }
        .map_err(SqlStateError::internal)?;
        let column = datafusion::arrow::compute::concat(&[original.as_ref(), drawn.as_ref()])
            .map_err(SqlStateError::internal)?;
        columns.push(column);
    }
    let y = outputs(model, &columns)?;
    // lime's kernel on the distance to x's representation.
    let width = 0.75 * (p as f64).sqrt();
    let weights: Vec<f64> = (0..n)
        .map(|s| {
            let d2: f64 = (0..p).map(|j| (z[s * p + j] - z[j]).powi(2)).sum();
            (-d2 / (width * width)).exp().sqrt()
        })
        .collect();
    let (intercept, coef) = weighted_ridge(&z, &y, &weights, n, p, ALPHA);
    let contributions = (0..p).map(|j| coef[j] * z[j]).collect();
    Ok((intercept, contributions))
}

/// The output the surrogate fits, per sample.
fn outputs(model: &LoadedModel, columns: &[ArrayRef]) -> Result<Vec<f64>> {
    let floats = |a: &ArrayRef| -> Vec<f64> {
        let a = a.as_primitive::<Float64Type>();
        (0..a.len())
            .map(|i| if a.is_valid(i) { a.value(i) } else { f64::NAN })
            .collect()
    };
    if model.task() != Task::Classification {
        let predicted = model.predict(columns)?;
        let predicted = cast(&predicted, &DataType::Float64).map_err(SqlStateError::internal)?;
        return Ok(floats(&predicted));
    }
    let proba = model.predict_proba(columns)?;
    if let DataType::Float64 = proba.data_type() {
        return Ok(floats(&proba));
    }
    // Several classes: the probability of x's predicted class.
    let list = proba.as_list::<i32>();
    let values = list.values().as_primitive::<Float64Type>();
    let k = list.value_length(0).max(1) as usize;
    let all = values.values();
    let first = &all[..k];
    let class = (0..k)
        .max_by(|&a, &b| first[a].total_cmp(&first[b]))
        .unwrap_or(0);
    Ok((0..list.len()).map(|s| all[s * k + class]).collect())
}

/// Weighted ridge regression with an unpenalized intercept (scikit-learn's
/// `Ridge(alpha).fit(z, y, sample_weight=w)`): centres on the weighted
/// means, solves (Zᵀ W Z + αI) β = Zᵀ W y. Samples whose output is not a
/// number are left out.
fn weighted_ridge(
    z: &[f64],
    y: &[f64],
    w: &[f64],
    n: usize,
    p: usize,
    alpha: f64,
) -> (f64, Vec<f64>) {
    let keep: Vec<usize> = (0..n).filter(|&s| y[s].is_finite()).collect();
    let total: f64 = keep.iter().map(|&s| w[s]).sum();
    if total <= 0.0 {
        return (f64::NAN, vec![f64::NAN; p]);
    }
    let mut zm = vec![0.0; p];
    let mut ym = 0.0;
    for &s in &keep {
        for j in 0..p {
            zm[j] += w[s] * z[s * p + j];
        }
        ym += w[s] * y[s];
    }
    zm.iter_mut().for_each(|v| *v /= total);
    ym /= total;
    let mut a = vec![0.0; p * p];
    let mut b = vec![0.0; p];
    for &s in &keep {
        let ws = w[s];
        let yc = y[s] - ym;
        for j in 0..p {
            let zj = z[s * p + j] - zm[j];
            b[j] += ws * zj * yc;
            for k in 0..=j {
                a[j * p + k] += ws * zj * (z[s * p + k] - zm[k]);
            }
        }
    }
    for j in 0..p {
        for k in 0..j {
            a[k * p + j] = a[j * p + k];
        }
        a[j * p + j] += alpha;
    }
    if cholesky_solve(&a, &mut b, p).is_none() {
        return (f64::NAN, vec![f64::NAN; p]);
    }
    let intercept = ym - (0..p).map(|j| b[j] * zm[j]).sum::<f64>();
    (intercept, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ridge_recovers_an_exact_linear_function() {
        // y = 3 + 2 z0 - z1 on a grid; with α → 0 the fit is exact.
        let (n, p) = (50, 2);
        let mut z = Vec::new();
        let mut y = Vec::new();
        for s in 0..n {
            let (a, b) = ((s % 7) as f64 - 3.0, (s % 5) as f64 * 0.5);
            z.extend([a, b]);
            y.push(3.0 + 2.0 * a - b);
        }
        let w: Vec<f64> = (0..n).map(|s| 0.5 + (s % 3) as f64).collect();
        let (c, beta) = weighted_ridge(&z, &y, &w, n, p, 1e-12);
        assert!((c - 3.0).abs() < 1e-9, "{c}");
        assert!(
            (beta[0] - 2.0).abs() < 1e-9 && (beta[1] + 1.0).abs() < 1e-9,
            "{beta:?}"
        );
        // α shrinks the slopes towards 0.
        let (_, shrunk) = weighted_ridge(&z, &y, &w, n, p, 100.0);
        assert!(shrunk[0].abs() < 2.0 && shrunk[0] > 0.0);
    }

    #[test]
    fn the_kernel_and_normal_draws_are_lime_s() {
        // Box–Muller draws: mean 0, variance 1 over many draws.
        let mut rng = SplitMix(7);
        let draws: Vec<f64> = (0..200_000).map(|_| normal(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.01,
            "{mean} {var}"
        );
        // The same values seed the same draws; different values others.
        let a = row_seed(42, &[(1.0, None), (f64::NAN, Some("x".into()))]);
        assert_eq!(
            a,
            row_seed(42, &[(1.0, None), (f64::NAN, Some("x".into()))])
        );
        assert_ne!(
            a,
            row_seed(42, &[(1.0, None), (f64::NAN, Some("y".into()))])
        );
        assert_ne!(
            a,
            row_seed(43, &[(1.0, None), (f64::NAN, Some("x".into()))])
        );
    }
}
