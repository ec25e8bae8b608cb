//! The training profile of a model version: a compact summary of every
//! feature and of the predictions, kept with the version so drift can be
//! measured later without the training data.
//!
//! | kind        | summary                                                        |
//! |-------------|----------------------------------------------------------------|
//! | numeric     | count, nulls, mean, sd, min, max, 101 quantiles (p0..p100, linear interpolation); every distinct value with its count when there are at most 1000, else 1001 quantiles |
//! | categorical | count, nulls, distinct, the 100 most frequent levels with counts, the rest as `other` |

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use serde_json::{Value as Json, json};

use super::schema::Values;
use crate::kernels::quantile::quantile_sorted;

const TOP_LEVELS: usize = 100;
/// Up to this many distinct values, the profile keeps every value's count.
const EXACT_VALUES: usize = 1000;
/// Otherwise it keeps this many quantile steps (1001 quantiles).
const FINE_STEPS: usize = 1000;

fn numeric(name: &str, values: impl Iterator<Item = Option<f64>>) -> Json {
    let mut present = Vec::new();
    let mut nulls = 0usize;
    for v in values {
        match v {
            // -0.0 and 0.0 are one value, as in numpy.
            Some(x) if x.is_finite() => present.push(x + 0.0),
            _ => nulls += 1,
        }
    }
    let n = present.len();
    let mean = present.iter().sum::<f64>() / n.max(1) as f64;
    let sd = (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n.max(1) as f64).sqrt();
    present.sort_unstable_by(f64::total_cmp);
    let grid = |steps: usize| -> Vec<f64> {
        if n == 0 {
            return Vec::new();
        }
        (0..=steps)
            .filter_map(|q| quantile_sorted(&present, q as f64 / steps as f64))
            .collect()
    };
    let quantiles = grid(100);
    // The reference distribution for drift: exact when it is small.
    let mut values: Vec<f64> = Vec::new();
    let mut counts: Vec<u64> = Vec::new();
    for &x in &present {
        if values.last() == Some(&x) {
            if let Some(c) = counts.last_mut() {
                *c += 1;
            }
        } else {
            if values.len() == EXACT_VALUES {
                break;
            }
            values.push(x);
            counts.push(1);
        }
    }
    let exact = counts.iter().sum::<u64>() == n as u64;
    let mut profile = json!({
        "name": name,
        "kind": "numeric",
        "count": n,
        "nulls": nulls,
        "mean": if n > 0 { json!(mean) } else { Json::Null },
        "sd": if n > 0 { json!(sd) } else { Json::Null },
        "min": quantiles.first(),
        "max": quantiles.last(),
        "quantiles": quantiles,
    });
    if exact {
        profile["cdf"] = json!({ "values": values, "counts": counts });
    } else {
        profile["fine_quantiles"] = json!(grid(FINE_STEPS));
    }
    profile
}

fn categorical<'a>(name: &str, values: impl Iterator<Item = Option<&'a str>>) -> Json {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut nulls = 0usize;
    for v in values {
        match v {
            Some(s) => *counts.entry(s).or_default() += 1,
            None => nulls += 1,
        }
    }
    let distinct = counts.len();
    let mut levels: Vec<(&str, usize)> = counts.into_iter().collect();
    levels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let other: usize = levels.iter().skip(TOP_LEVELS).map(|l| l.1).sum();
    let count: usize = levels.iter().map(|l| l.1).sum();
    json!({
        "name": name,
        "kind": "categorical",
        "count": count,
        "nulls": nulls,
        "distinct": distinct,
        "top": levels.iter().take(TOP_LEVELS).map(|(l, c)| json!([l, c])).collect::<Vec<_>>(),
        "other": other,
    })
}

/// Profile of one feature's training values.
pub fn profile(name: &str, values: &Values) -> Json {
    match values {
        Values::Number(v) => numeric(name, v.iter()),
        Values::Text(v) => categorical(name, v.iter()),
        Values::TextView(v) => categorical(name, v.iter()),
    }
}

/// Profile of an array of predictions (numbers, or classes of any type).
pub fn profile_array(name: &str, array: &ArrayRef) -> Json {
    match array.data_type() {
        t if t.is_numeric() => match cast(array, &DataType::Float64) {
            Ok(a) => numeric(name, a.as_primitive::<Float64Type>().iter()),
            Err(_) => json!({ "name": name }),
        },
        _ => match cast(array, &DataType::Utf8) {
            Ok(a) => categorical(name, a.as_string::<i32>().iter()),
            Err(_) => json!({ "name": name }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray};

    #[test]
    fn numeric_profile_has_numpy_quantiles() {
        let v = Values::Number(Float64Array::from(vec![
            Some(1.0),
            Some(2.0),
            None,
            Some(3.0),
            Some(4.0),
        ]));
        let p = profile("x", &v);
        assert_eq!(p["nulls"], 1);
        assert_eq!(p["count"], 4);
        // numpy.quantile([1,2,3,4], 0.5) == 2.5
        assert_eq!(p["quantiles"][50], 2.5);
        assert_eq!(p["quantiles"][100], 4.0);
    }

    #[test]
    fn categorical_profile_counts_levels() {
        let v = Values::Text(StringArray::from(vec![
            Some("a"),
            Some("b"),
            Some("a"),
            None,
        ]));
        let p = profile("c", &v);
        assert_eq!(p["distinct"], 2);
        assert_eq!(p["top"][0], json!(["a", 2]));
        assert_eq!(p["nulls"], 1);
    }

    #[test]
    fn small_profiles_keep_every_value() {
        let xs: Vec<f64> = (0..5000).map(|i| f64::from(i % 7)).collect();
        let p = profile("x", &Values::Number(Float64Array::from(xs)));
        assert_eq!(
            p["cdf"]["values"],
            json!([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        assert_eq!(p["cdf"]["counts"][0], 715);
        assert!(p.get("fine_quantiles").is_none());
        let ys: Vec<f64> = (0..5000).map(f64::from).collect();
        let p = profile("y", &Values::Number(Float64Array::from(ys)));
        assert!(p.get("cdf").is_none());
        assert_eq!(p["fine_quantiles"].as_array().map(Vec::len), Some(1001));
        assert_eq!(p["fine_quantiles"][1000], 4999.0);
    }

    #[test]
    fn selected_quantiles_equal_sorted_quantiles() {
        let mut rng = crate::kernels::rng::SplitMix(8);
        for n in [1usize, 2, 3, 7, 100, 1001] {
            let xs: Vec<f64> = (0..n).map(|_| (rng.uniform() * 20.0).round()).collect();
            let p = profile("x", &Values::Number(Float64Array::from(xs.clone())));
            let mut sorted = xs.clone();
            sorted.sort_by(f64::total_cmp);
            for q in 0..=100 {
                let pos = q as f64 / 100.0 * (n - 1) as f64;
                let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                let want = sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64);
                let got = p["quantiles"][q].as_f64().expect("quantile");
                assert!(
                    (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                    "n {n} q {q}"
                );
            }
            assert_eq!(p["min"].as_f64(), Some(sorted[0]));
            assert_eq!(p["max"].as_f64(), Some(sorted[n - 1]));
        }
    }
}
