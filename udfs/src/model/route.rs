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

use datafusion::arrow::array::{Array, ArrayRef, UInt32Array};
use datafusion::arrow::compute::{interleave, take};
use datafusion::arrow::error::ArrowError;

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

    /// A batch's `rows` divided between the arms by their keys.
    pub fn divide(&self, keys: Option<&ArrayRef>, rows: usize) -> ArmRows {
        let to_challenger = self.to_challenger(keys, rows);
        let mut parts = Vec::with_capacity(2);
        let mut place = vec![(0usize, 0usize); rows];
        for challenger in [false, true] {
            let picked: Vec<u32> = (0..rows as u32)
                .filter(|&i| to_challenger[i as usize] == challenger)
                .collect();
            if picked.is_empty() {
                continue;
            }
            for (j, &i) in picked.iter().enumerate() {
                place[i as usize] = (parts.len(), j);
            }
            parts.push((challenger, UInt32Array::from(picked)));
        }
        ArmRows {
            to_challenger,
            parts,
            place,
        }
    }
}

/// A batch's rows divided between production and the challenger: each
/// arm scores its own rows ([`ArmRows::take`]) and the answers go back in
/// row order ([`ArmRows::merge`]). Every scoring path (SQL and REST)
/// divides alike.
#[derive(Debug)]
pub struct ArmRows {
    /// Per row: whether the challenger serves it.
    pub to_challenger: Vec<bool>,
    /// The arms with rows, production first: whether it is the
    /// challenger, and its rows.
    parts: Vec<(bool, UInt32Array)>,
    /// Per row: its arm's part and its place in that part's answer.
    place: Vec<(usize, usize)>,
}

impl ArmRows {
    /// Whether each arm with rows is the challenger, in part order.
    pub fn arms(&self) -> impl Iterator<Item = bool> + '_ {
        self.parts.iter().map(|(challenger, _)| *challenger)
    }

    /// How many rows part `part` has.
    pub fn rows(&self, part: usize) -> usize {
        self.parts[part].1.len()
    }

    /// The rows of part `part` of `columns` (the columns themselves when
    /// that arm serves every row).
    pub fn take(&self, part: usize, columns: &[ArrayRef]) -> Result<Vec<ArrayRef>, ArrowError> {
        let indices = &self.parts[part].1;
        if indices.len() == self.place.len() {
            return Ok(columns.to_vec());
        }
        columns.iter().map(|c| take(c, indices, None)).collect()
    }

    /// Each part's answers (in part order) back in row order.
    pub fn merge(&self, answers: &[ArrayRef]) -> Result<ArrayRef, ArrowError> {
        if let [one] = answers {
            return Ok(one.clone());
        }
        let refs: Vec<&dyn Array> = answers.iter().map(|a| a.as_ref()).collect();
        interleave(&refs, &self.place)
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
    fn each_arm_takes_its_rows_and_the_answers_go_back_in_order() -> Result<(), ArrowError> {
        let keys: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1000));
        let divided = route(0.3).divide(Some(&keys), 1000);
        assert_eq!(divided.arms().collect::<Vec<_>>(), vec![false, true]);
        assert_eq!(divided.rows(0) + divided.rows(1), 1000);
        // Each arm answers with its rows' keys; merged, every row has its own.
        let answers = (0..2)
            .map(|part| Ok(divided.take(part, std::slice::from_ref(&keys))?.remove(0)))
            .collect::<Result<Vec<_>, ArrowError>>()?;
        for (part, challenger) in divided.arms().enumerate() {
            let taken = answers[part].as_any().downcast_ref::<Int64Array>();
            let taken = taken.map(|a| a.values().to_vec()).unwrap_or_default();
            assert!(
                taken
                    .iter()
                    .all(|&k| divided.to_challenger[k as usize] == challenger)
            );
        }
        assert_eq!(&divided.merge(&answers)?, &keys);
        // Without keys production serves every row, and takes them whole.
        let whole = route(0.3).divide(None, 5);
        assert_eq!(whole.arms().collect::<Vec<_>>(), vec![false]);
        let column: ArrayRef = Arc::new(Int64Array::from_iter_values(0..5));
        let taken = whole.take(0, std::slice::from_ref(&column))?;
        assert!(Arc::ptr_eq(&taken[0], &column));
        assert!(Arc::ptr_eq(&whole.merge(&taken)?, &column));
        Ok(())
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
