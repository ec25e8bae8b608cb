//! PSI against a training profile from bin counts alone, for data that
//! arrives a batch at a time: the prediction log's inputs, read by
//! `ml_monitor` and counted live for Prometheus.
//!
//! `ml_drift` keeps every current value (KS needs them); PSI needs only how
//! many fall in each of the reference's bins, so a [`Binned`] reference and a
//! vector of counts per feature is all the state there is, and the PSI equals
//! `ml_drift`'s `psi` row on the same values (same edges, same floor, same
//! `other` level for categories).

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit};
use datafusion::arrow::error::ArrowError;
use serde_json::Value as Json;

use super::findings::{Levels, Profiled, profiled};
use crate::kernels::drift::{categorical, psi};
use crate::model::schema::FeatureKind;

/// A column in the form a profile compares: numbers (booleans as 0/1, times
/// as epoch seconds) or text, as `ml_drift` projects features.
#[derive(Debug)]
pub enum Comparable {
    Numbers(Float64Array),
    Texts(StringArray),
}

impl Comparable {
    /// `array`, a feature of `kind`, made comparable with a profile
    /// of numbers (`numeric`) or of categories.
    pub fn of(
        array: &ArrayRef,
        kind: FeatureKind,
        numeric: bool,
    ) -> Result<Comparable, ArrowError> {
        if !numeric {
            return Ok(Comparable::Texts(
                cast(array, &DataType::Utf8)?.as_string::<i32>().clone(),
            ));
        }
        let numbers = match (kind, array.data_type()) {
            (FeatureKind::Temporal, data_type) => {
                let tz = match data_type {
                    DataType::Timestamp(_, tz) => tz.clone(),
                    _ => None,
                };
                let seconds = cast(array, &DataType::Timestamp(TimeUnit::Second, tz))?;
                cast(&cast(&seconds, &DataType::Int64)?, &DataType::Float64)?
            }
            _ => cast(array, &DataType::Float64)?,
        };
        Ok(Comparable::Numbers(
            numbers.as_primitive::<Float64Type>().clone(),
        ))
    }
}

/// A feature's training reference, binned as `ml_drift` bins it.
#[derive(Debug, Clone)]
pub enum Binned {
    Numeric {
        edges: Vec<f64>,
        reference: Vec<f64>,
    },
    Categorical {
        levels: Levels,
        index: HashMap<String, usize>,
    },
}

impl Binned {
    /// The reference of one feature's (or the prediction's) training profile
    /// in `bins` bins; `None` when the profile holds no values.
    pub fn of_profile(profile: &Json, bins: usize) -> Option<Binned> {
        match profiled(profile)? {
            Profiled::Numeric(reference) => {
                let edges = reference.edges(bins);
                let proportions = reference.proportions(&edges);
                Some(Binned::Numeric {
                    edges,
                    reference: proportions,
                })
            }
            Profiled::Categorical(levels) => {
                let index = levels
                    .top
                    .iter()
                    .enumerate()
                    .map(|(i, (level, _))| (level.clone(), i))
                    .collect();
                Some(Binned::Categorical { levels, index })
            }
            Profiled::Empty { .. } => None,
        }
    }

    pub fn is_numeric(&self) -> bool {
        matches!(self, Binned::Numeric { .. })
    }

    /// Zeroed counts: one per bin, or per top level and `other`.
    pub fn counts(&self) -> Vec<u64> {
        match self {
            Binned::Numeric { edges, .. } => vec![0; edges.len() + 1],
            Binned::Categorical { levels, .. } => vec![0; levels.top.len() + 1],
        }
    }

    /// Counts a number (NaN is skipped, as NULL is).
    pub fn add_number(&self, counts: &mut [u64], v: f64) {
        if let Binned::Numeric { edges, .. } = self
            && !v.is_nan()
        {
            counts[edges.partition_point(|e| *e < v)] += 1;
        }
    }

    /// Counts a category.
    pub fn add_category(&self, counts: &mut [u64], level: &str) {
        if let Binned::Categorical { levels, index } = self {
            counts[index.get(level).copied().unwrap_or(levels.top.len())] += 1;
        }
    }

    /// Counts row `i` of `values` (a NULL is skipped).
    pub fn add_row(&self, counts: &mut [u64], values: &Comparable, i: usize) {
        match values {
            Comparable::Numbers(a) if a.is_valid(i) => self.add_number(counts, a.value(i)),
            Comparable::Texts(a) if a.is_valid(i) => self.add_category(counts, a.value(i)),
            _ => {}
        }
    }

    /// PSI of the counted values; `None` when nothing was counted.
    pub fn psi(&self, counts: &[u64]) -> Option<f64> {
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return None;
        }
        match self {
            Binned::Numeric { reference, .. } => {
                let current: Vec<f64> = counts.iter().map(|&c| c as f64 / n as f64).collect();
                Some(psi(reference, &current))
            }
            Binned::Categorical { levels, .. } => {
                let mut table: Vec<[u64; 2]> = levels
                    .top
                    .iter()
                    .zip(counts)
                    .map(|((_, r), &c)| [*r, c])
                    .collect();
                let other = [levels.other, counts[levels.top.len()]];
                if other != [0, 0] {
                    table.push(other);
                }
                categorical(&table).map(|(psi, _)| psi)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::drift::findings::{Thresholds, categorical_findings, numeric_findings};
    use crate::kernels::drift::Reference;
    use serde_json::json;

    #[test]
    fn numeric_psi_equals_ml_drift_psi() {
        let training: Vec<f64> = (0..2000).map(|i| (i % 97) as f64 * 1.5).collect();
        let mut sorted = training.clone();
        sorted.sort_by(f64::total_cmp);
        let profile = crate::model::profile::profile_array(
            "x",
            &(std::sync::Arc::new(datafusion::arrow::array::Float64Array::from(training))
                as datafusion::arrow::array::ArrayRef),
        );
        let binned = Binned::of_profile(&profile, 10).expect("a numeric profile");
        let current: Vec<f64> = (0..500).map(|i| (i % 31) as f64 * 3.0 + 7.0).collect();
        let mut counts = binned.counts();
        for v in &current {
            binned.add_number(&mut counts, *v);
        }
        binned.add_number(&mut counts, f64::NAN);
        let mut current_sorted = current.clone();
        current_sorted.sort_by(f64::total_cmp);
        let Some(Profiled::Numeric(reference)) = profiled(&profile) else {
            panic!("numeric profile expected");
        };
        let findings = numeric_findings(Some(&reference), &current_sorted, &Thresholds::default());
        let expected = findings[0].value.expect("a PSI");
        let got = binned.psi(&counts).expect("a PSI");
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        assert!(got > 0.1, "the shifted sample drifts: {got}");
        // Exact counts against the same sample give PSI 0.
        let same = Binned::Numeric {
            edges: Reference::of_sorted(&sorted).edges(10),
            reference: Reference::of_sorted(&sorted)
                .proportions(&Reference::of_sorted(&sorted).edges(10)),
        };
        let mut c = same.counts();
        for v in &sorted {
            same.add_number(&mut c, *v);
        }
        assert!(same.psi(&c).expect("a PSI").abs() < 1e-12);
    }

    #[test]
    fn categorical_psi_pools_unseen_levels_as_other() {
        let profile = json!({"kind": "categorical", "top": [["a", 60], ["b", 30]], "other": 10});
        let binned = Binned::of_profile(&profile, 10).expect("a categorical profile");
        let mut counts = binned.counts();
        for level in ["a", "a", "b", "z", "z", "z"] {
            binned.add_category(&mut counts, level);
        }
        assert_eq!(counts, vec![2, 1, 3]);
        let Some(Profiled::Categorical(levels)) = profiled(&profile) else {
            panic!("categorical profile expected");
        };
        let current = vec![
            ("a".to_string(), 2),
            ("b".to_string(), 1),
            ("z".to_string(), 3),
        ];
        let expected = categorical_findings(&levels, &current, &Thresholds::default())[1]
            .value
            .expect("a PSI");
        let got = binned.psi(&counts).expect("a PSI");
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        assert_eq!(binned.psi(&binned.counts()), None);
    }
}
