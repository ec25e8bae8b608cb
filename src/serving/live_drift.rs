//! Drift of the logged inputs, counted as they are written: per model
//! version, each feature's values of the current UTC day binned against the
//! version's training profile, so `/metrics` and the dashboard read a PSI
//! per feature without a query. The log writer calls [`LiveDrift::observe`]
//! on its own low-priority thread; a reader takes the lock only to compute
//! PSIs from counts.
//!
//! The PSIs equal `ml_monitor`'s for the same day (and `ml_drift`'s on the
//! same values): same references, same bins ([`Binned`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use quarry_udfs::functions::drift::binned::{Binned, Comparable};
use quarry_udfs::functions::drift::findings::Thresholds;
use quarry_udfs::model::ModelRef;
use quarry_udfs::model::schema::FeatureKind;
use serde_json::Value as Json;

use super::log::Entry;
use crate::registry::Registry;
use crate::sync::lock;

const DAY_US: i64 = 86_400_000_000;

/// A version's features and their binned training references.
#[derive(Debug)]
struct References {
    features: HashMap<String, (usize, FeatureKind, Binned)>,
    names: Vec<String>,
}

#[derive(Debug)]
struct Tracked {
    /// `None` when the version has no usable profile.
    references: Option<Arc<References>>,
    /// The UTC day counted (days since the epoch).
    day: i64,
    counts: Vec<Vec<u64>>,
}

/// One feature's PSI today.
#[derive(Debug, Clone, PartialEq)]
pub struct FeaturePsi {
    pub model: String,
    pub version: u32,
    pub feature: String,
    pub psi: f64,
    pub drifted: bool,
}

#[derive(Debug)]
pub struct LiveDrift {
    registry: Arc<Registry>,
    tracked: Mutex<HashMap<(String, u32), Tracked>>,
}

impl LiveDrift {
    pub fn new(registry: Arc<Registry>) -> Self {
        LiveDrift {
            registry,
            tracked: Mutex::new(HashMap::new()),
        }
    }

    fn references(&self, model: &ModelRef) -> Option<Arc<References>> {
        let profile = self.registry_profile(model)?;
        let loaded = quarry_udfs::ModelStore::load(self.registry.as_ref(), model).ok()?;
        let bins = Thresholds::default().bins;
        let profiles = profile.get("features")?.as_array()?;
        let mut features = HashMap::new();
        let mut names = Vec::new();
        for feature in &loaded.envelope.features {
            let Some(binned) = profiles
                .iter()
                .find(|p| p.get("name").and_then(Json::as_str) == Some(feature.name.as_str()))
                .and_then(|p| Binned::of_profile(p, bins))
            else {
                continue;
            };
            features.insert(feature.name.clone(), (names.len(), feature.kind, binned));
            names.push(feature.name.clone());
        }
        Some(Arc::new(References { features, names }))
    }

    fn registry_profile(&self, model: &ModelRef) -> Option<Json> {
        quarry_udfs::ModelStore::profile(self.registry.as_ref(), model).ok()
    }

    /// Counts the inputs of entries about to be written.
    pub fn observe(&self, entries: &[Entry]) {
        for entry in entries {
            let key = (entry.model.clone(), entry.version);
            let day = entry.at_us.div_euclid(DAY_US);
            let references = {
                let tracked = lock(&self.tracked);
                tracked.get(&key).map(|t| t.references.clone())
            };
            let references = match references {
                Some(r) => r,
                None => {
                    let model = ModelRef {
                        name: entry.model.clone(),
                        version: entry.version,
                    };
                    let r = self.references(&model);
                    lock(&self.tracked).entry(key.clone()).or_insert(Tracked {
                        references: r.clone(),
                        day,
                        counts: Vec::new(),
                    });
                    r
                }
            };
            let Some(references) = references else {
                continue;
            };
            // Convert outside the lock; count under it.
            let columns: Vec<(usize, &Binned, Comparable)> = entry
                .feature_names
                .iter()
                .zip(&entry.features)
                .filter_map(|(name, array)| {
                    let (i, kind, binned) = references.features.get(name)?;
                    let values = Comparable::of(array, *kind, binned.is_numeric()).ok()?;
                    Some((*i, binned, values))
                })
                .collect();
            let mut tracked = lock(&self.tracked);
            let Some(t) = tracked.get_mut(&key) else {
                continue;
            };
            if day < t.day {
                continue;
            }
            if day > t.day || t.counts.is_empty() {
                t.day = day;
                t.counts = references
                    .names
                    .iter()
                    .map(|n| references.features[n].2.counts())
                    .collect();
            }
            for (i, binned, values) in &columns {
                for row in 0..entry.rows() {
                    binned.add_row(&mut t.counts[*i], values, row);
                }
            }
        }
    }

    /// Each tracked version's PSI per feature over today's logged inputs
    /// (versions `keep` accepts; a day that has passed is not reported).
    pub fn psi(&self, now_us: i64, keep: impl Fn(&ModelRef) -> bool) -> Vec<FeaturePsi> {
        let today = now_us.div_euclid(DAY_US);
        let threshold = Thresholds::default().psi;
        let tracked = lock(&self.tracked);
        let mut out = Vec::new();
        for ((model, version), t) in tracked.iter() {
            let Some(references) = &t.references else {
                continue;
            };
            let reference = ModelRef {
                name: model.clone(),
                version: *version,
            };
            if t.day != today || t.counts.is_empty() || !keep(&reference) {
                continue;
            }
            for (i, name) in references.names.iter().enumerate() {
                if let Some(psi) = references.features[name].2.psi(&t.counts[i]) {
                    out.push(FeaturePsi {
                        model: model.clone(),
                        version: *version,
                        feature: name.clone(),
                        psi,
                        drifted: psi > threshold,
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (&a.model, a.version, &a.feature).cmp(&(&b.model, b.version, &b.feature))
        });
        out
    }
}
