//! How a bare model name splits its traffic between versions.
//!
//! `production` serves every row unless another alias of the model carries
//! a traffic share F (`ml_deploy(model, version, 'challenger', 0.2)`): then
//! a row goes to that alias's version when its key's arm hash falls below F.
//! The hash is of the model's key column (the policy's `key`), salted with
//! the model's name, so one customer is always in the same arm, on every
//! server and after every restart, and the arms of two models (or the
//! prediction log's sample) are independent. A row without a key (the
//! query has no key column, or it is NULL) goes to production: an arm that
//! could change from one call to the next would make the A/B comparison
//! meaningless. A `shadow` alias scores every row too, for the log only.
//!
//! A query is planned with the route as it is then, written into the
//! model argument ([`Route`]'s text form, `churn@1+challenger=2:0.2`), so
//! a deploy switches new queries atomically and queries in flight finish
//! on the versions they planned with.

use std::fmt;

use datafusion::arrow::array::ArrayRef;

use super::serving::{fnv, key_hashes, mix, unit};
use super::store::{ModelRef, normalize_name, quote_name};

/// The arm of the rows production serves.
pub const PRODUCTION: &str = "production";
/// The alias whose version scores every row for the log only.
pub const SHADOW: &str = "shadow";

/// A share of traffic held by an alias other than production.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub alias: String,
    pub version: u32,
    /// In (0, 1].
    pub traffic: f64,
}

/// The versions a bare model name routes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    pub production: u32,
    pub challenger: Option<Split>,
    pub shadow: Option<u32>,
}

impl Route {
    /// The production version.
    pub fn production_ref(&self) -> ModelRef {
        self.version(self.production)
    }

    /// `version` of this route's model.
    pub fn version(&self, version: u32) -> ModelRef {
        ModelRef {
            name: self.name.clone(),
            version,
        }
    }

    /// Whether rows can go elsewhere than production (or be shadowed).
    pub fn splits(&self) -> bool {
        self.challenger.is_some() || self.shadow.is_some()
    }

    /// Parses the routed form [`Route`] displays; `None` for anything else.
    pub fn parse(reference: &str) -> Option<Route> {
        let (name, rest) = reference.rsplit_once('@')?;
        let mut parts = rest.split('+');
        let production = parts.next()?.parse::<u32>().ok()?;
        let mut route = Route {
            name: normalize_name(name),
            production,
            challenger: None,
            shadow: None,
        };
        let mut any = false;
        for part in parts {
            any = true;
            let (alias, target) = part.split_once('=')?;
            if alias == SHADOW {
                route.shadow = Some(target.parse().ok()?);
            } else {
                let (version, traffic) = target.split_once(':')?;
                route.challenger = Some(Split {
                    alias: alias.to_string(),
                    version: version.parse().ok()?,
                    traffic: traffic.parse().ok()?,
                });
            }
        }
        any.then_some(route)
    }

    /// For each row, whether the challenger serves it (by its key; a row
    /// without one stays with production).
    pub fn to_challenger(&self, keys: Option<&ArrayRef>, rows: usize) -> Vec<bool> {
        let (Some(split), Some(keys)) = (&self.challenger, keys) else {
            return vec![false; rows];
        };
        let salt = fnv(self.name.as_bytes());
        key_hashes(keys)
            .into_iter()
            .map(|h| h.is_some_and(|h| arm_unit(h, salt) < split.traffic))
            .collect()
    }

    /// The arm of a row: production's or the challenger's alias.
    pub fn arm(&self, challenger: bool) -> &str {
        match (&self.challenger, challenger) {
            (Some(split), true) => &split.alias,
            _ => PRODUCTION,
        }
    }
}

/// Where a key falls for the arm split, in [0, 1): the key's hash mixed
/// with the model's, so it is independent of the log's sample (which uses
/// the key's hash alone) and of other models' splits.
fn arm_unit(key_hash: u64, salt: u64) -> f64 {
    unit(mix(key_hash ^ salt))
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", quote_name(&self.name), self.production)?;
        if let Some(s) = &self.challenger {
            write!(f, "+{}={}:{}", s.alias, s.version, s.traffic)?;
        }
        if let Some(v) = self.shadow {
            write!(f, "+{SHADOW}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};

    use super::*;

    fn route(traffic: f64) -> Route {
        Route {
            name: "churn".into(),
            production: 1,
            challenger: Some(Split {
                alias: "challenger".into(),
                version: 2,
                traffic,
            }),
            shadow: Some(3),
        }
    }

    #[test]
    fn the_text_form_reads_back() {
        let r = route(0.2);
        assert_eq!(r.to_string(), "churn@1+challenger=2:0.2+shadow=3");
        assert_eq!(Route::parse(&r.to_string()), Some(r));
        // Plain references are not routes.
        assert_eq!(Route::parse("churn@1"), None);
        assert_eq!(Route::parse("churn"), None);
        assert_eq!(Route::parse("churn@production"), None);
        let quoted = Route {
            name: "Churn Model".into(),
            ..route(0.5)
        };
        assert_eq!(Route::parse(&quoted.to_string()), Some(quoted));
    }

    #[test]
    fn the_challenger_gets_its_share_by_key() {
        let keys: ArrayRef = Arc::new(Int64Array::from_iter_values(0..100_000));
        for traffic in [0.05, 0.2, 0.5] {
            let arms = route(traffic).to_challenger(Some(&keys), 100_000);
            let share = arms.iter().filter(|&&c| c).count() as f64 / 100_000.0;
            assert!((share - traffic).abs() < 0.01, "{traffic}: {share}");
            // The same keys, the same arms.
            assert_eq!(arms, route(traffic).to_challenger(Some(&keys), 100_000));
        }
        // A larger share keeps every key of a smaller one (a ramp-up moves
        // keys in one direction only).
        let small = route(0.1).to_challenger(Some(&keys), 100_000);
        let large = route(0.3).to_challenger(Some(&keys), 100_000);
        assert!(small.iter().zip(&large).all(|(s, l)| !s || *l));
    }

    #[test]
    fn arms_are_independent_of_the_log_sample_and_of_other_models() {
        let keys: ArrayRef = Arc::new(Int64Array::from_iter_values(0..100_000));
        let arms = route(0.2).to_challenger(Some(&keys), 100_000);
        let sampled: Vec<bool> = key_hashes(&keys)
            .into_iter()
            .map(|h| unit(h.expect("a key")) < 0.2)
            .collect();
        let both = arms
            .iter()
            .zip(&sampled)
            .filter(|(a, s)| **a && **s)
            .count();
        // Independent: about 0.2 × 0.2 of the keys are in both.
        assert!((both as f64 / 100_000.0 - 0.04).abs() < 0.005, "{both}");
        let other = Route {
            name: "other".into(),
            ..route(0.2)
        };
        let other_arms = other.to_challenger(Some(&keys), 100_000);
        let same = arms
            .iter()
            .zip(&other_arms)
            .filter(|(a, b)| **a && **b)
            .count();
        assert!((same as f64 / 100_000.0 - 0.04).abs() < 0.005, "{same}");
    }

    #[test]
    fn rows_without_a_key_stay_with_production() {
        let keys: ArrayRef = Arc::new(StringArray::from(vec![None::<&str>; 50]));
        assert!(route(1.0).to_challenger(Some(&keys), 50).iter().all(|c| !c));
        assert!(route(1.0).to_challenger(None, 50).iter().all(|c| !c));
        let keys: ArrayRef = Arc::new(StringArray::from(vec![Some("a"); 3]));
        assert!(route(1.0).to_challenger(Some(&keys), 3).iter().all(|c| *c));
        assert_eq!(route(1.0).arm(true), "challenger");
        assert_eq!(route(1.0).arm(false), PRODUCTION);
    }
}
