//! What scoring tells the host about the predictions it made: the host's
//! [`PredictionSink`] counts every scoring call for live metrics and keeps a
//! sample of rows in its prediction log, as the model's policy says.
//!
//! Scoring only hands over the arrays it already has (reference-counted, no
//! copy) and the time the call took; sampling, turning rows into log
//! records and writing them is the sink's business, off the scoring path
//! where it can be. A cluster worker without a log uses [`NoSink`].
//!
//! Sampling is by a stable hash of the model's key column ([`key_hashes`]),
//! so one customer is either always logged or never, on every server and
//! after every restart.

use std::fmt::Debug;
use std::time::Duration;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};

use super::{LoadedModel, ModelRef};

/// The name of the hidden scoring argument that carries the key column
/// (the policy's `key`), so a logged row says whom it was about. It is not
/// a feature: binding skips it.
pub const KEY_ARG: &str = "__quarry_key";

/// What a model's policy says about logging its predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPolicy {
    /// The share of keys (or rows, without a key) whose predictions are
    /// logged; 0 when the policy only names the key (for traffic splits).
    pub sample_rate: f64,
    /// The column that identifies whom a prediction is about.
    pub key: Option<String>,
}

/// One scoring call: a batch of rows scored with one model version.
pub struct Scored<'a> {
    pub model: &'a LoadedModel,
    /// The scoring function (`ml_predict`, `ml_predict_proba`, ..., `rest`).
    pub function: &'static str,
    /// The features in model order (when logging).
    pub features: &'a [ArrayRef],
    /// The key column, when the call carried one.
    pub key: Option<&'a ArrayRef>,
    /// The prediction of each row, in `ml_predict`'s type (when logging).
    pub prediction: Option<&'a ArrayRef>,
    /// The positive-class (or, for several classes, the predicted class's)
    /// probability, for a classifier (when logging).
    pub probability: Option<&'a ArrayRef>,
    /// The model's logging policy, as [`PredictionSink::policy`] gave it;
    /// `None`: count the call, log nothing.
    pub policy: Option<&'a LogPolicy>,
    pub rows: usize,
    /// Wall time of the call.
    pub elapsed: Duration,
    pub user: &'a str,
    /// The statement (or HTTP request) the call served.
    pub request: u64,
    /// The arm of a routed call (`production`, the challenger's alias,
    /// `shadow`); `None` when the call named a version or alias itself.
    pub arm: Option<&'a str>,
}

/// Where scoring reports its calls; implemented by the host.
pub trait PredictionSink: Send + Sync + Debug {
    /// The logging policy of a model version, `None` when it neither logs
    /// nor names a key.
    /// Called once per scoring call: implementations keep it cheap.
    fn policy(&self, model: &ModelRef) -> Option<LogPolicy>;

    /// A scoring call finished. Must not block: a full log queue drops
    /// (and counts) rows rather than wait.
    fn record(&self, scored: &Scored<'_>);

    /// A scoring call failed (bad input): counted as an error.
    fn failed(&self, model: &ModelRef, function: &'static str);
}

/// A sink that keeps nothing (hosts without a log, unit tests).
#[derive(Debug, Default)]
pub struct NoSink;

impl LogPolicy {
    /// Whether calls are logged at all.
    pub fn logs(&self) -> bool {
        self.sample_rate > 0.0
    }
}

impl PredictionSink for NoSink {
    fn policy(&self, _model: &ModelRef) -> Option<LogPolicy> {
        None
    }

    fn record(&self, _scored: &Scored<'_>) {}

    fn failed(&self, _model: &ModelRef, _function: &'static str) {}
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    // FNV's low bits mix poorly for short keys.
    mix(h)
}

/// splitmix64's finalizer.
pub(crate) fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A stable hash of each key: integers by their 64-bit value (so an `int`
/// and a `bigint` key hash alike), text by its UTF-8 bytes, anything else
/// by its text form. `None` for a NULL key. The same on every platform and
/// release: sampling and traffic splits depend on it.
pub fn key_hashes(keys: &ArrayRef) -> Vec<Option<u64>> {
    let ints = match keys.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => cast(keys, &DataType::Int64).ok(),
        _ => None,
    };
    if let Some(ints) = ints {
        let ints = ints.as_primitive::<Int64Type>();
        return (0..ints.len())
            .map(|i| ints.is_valid(i).then(|| fnv(&ints.value(i).to_le_bytes())))
            .collect();
    }
    let text = match keys.data_type() {
        DataType::Utf8 => keys.clone(),
        _ => match cast(keys, &DataType::Utf8) {
            Ok(t) => t,
            Err(_) => return vec![None; keys.len()],
        },
    };
    let text = text.as_string::<i32>();
    (0..text.len())
        .map(|i| text.is_valid(i).then(|| fnv(text.value(i).as_bytes())))
        .collect()
}

/// Where a hash falls in [0, 1): a key is sampled when this is below the rate.
pub fn unit(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// Which rows of a call a policy logs: by key when there is one (a NULL
/// key is logged at the rate by its row's position), else by row.
pub fn sampled(policy: &LogPolicy, key: Option<&ArrayRef>, rows: usize, request: u64) -> Vec<bool> {
    if policy.sample_rate >= 1.0 {
        return vec![true; rows];
    }
    if policy.sample_rate <= 0.0 {
        return vec![false; rows];
    }
    // A row without a key: by the request and its position, hashed from a
    // buffer on the stack (this runs per row).
    let by_row = |i: usize| {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&request.to_le_bytes());
        bytes[8..].copy_from_slice(&(i as u64).to_le_bytes());
        unit(fnv(&bytes))
    };
    match key {
        Some(keys) => key_hashes(keys)
            .into_iter()
            .enumerate()
            .map(|(i, h)| h.map_or_else(|| by_row(i), unit) < policy.sample_rate)
            .collect(),
        None => (0..rows).map(|i| by_row(i) < policy.sample_rate).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int32Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn integer_keys_hash_alike_whatever_their_width() {
        let narrow: ArrayRef = Arc::new(Int32Array::from(vec![Some(7), None, Some(-1)]));
        let wide: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), None, Some(-1)]));
        assert_eq!(key_hashes(&narrow), key_hashes(&wide));
        assert_eq!(key_hashes(&narrow)[1], None);
    }

    #[test]
    fn hashes_are_stable_across_releases() {
        // Sampling and traffic splits must not move when the code is rebuilt:
        // these values are part of the contract.
        let text: ArrayRef = Arc::new(StringArray::from(vec!["customer-1"]));
        let int: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        // (FNV-1a 64 then splitmix64's finalizer, computed independently in Python.)
        assert_eq!(key_hashes(&text)[0], Some(0x2cb0_0644_b7ae_349b));
        assert_eq!(key_hashes(&int)[0], Some(0x5ca6_bbcb_b1e8_5355));
    }

    #[test]
    fn sampling_follows_the_rate_and_the_key() {
        let keys: ArrayRef = Arc::new(Int64Array::from_iter_values(0..100_000));
        let policy = LogPolicy {
            sample_rate: 0.1,
            key: Some("id".into()),
        };
        let first = sampled(&policy, Some(&keys), 100_000, 1);
        let share = first.iter().filter(|&&s| s).count() as f64 / 100_000.0;
        assert!((share - 0.1).abs() < 0.005, "{share}");
        // Another call (another request) samples the same keys.
        assert_eq!(first, sampled(&policy, Some(&keys), 100_000, 2));
        let all = LogPolicy {
            sample_rate: 1.0,
            key: None,
        };
        assert!(sampled(&all, None, 5, 1).into_iter().all(|s| s));
    }
}
