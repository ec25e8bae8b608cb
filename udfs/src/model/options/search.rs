//! Hyperparameter search: `search = 'grid'|'random'` over the hyperparameters
//! given as comma-separated lists (`max_depth = '3,6,9'`).
//!
//! | given                        | candidates |
//! |------------------------------|------------|
//! | lists, `search` unset or `grid` | every combination, the last list varying fastest (at most 1000) |
//! | lists, `search = 'random'`   | at most [`RANDOM_CANDIDATES`] of them, drawn with the seed |
//! | `search` without a list      | an error                                         |
//!
//! Every candidate is parsed as a whole option set up front, so a bad value
//! fails before any data is read. Cross-validation then picks one
//! (`train::search`).

use std::collections::BTreeMap;

use super::{Cv, TrainOptions};
use crate::error::SqlStateError;
use crate::kernels::rng::SplitMix;
use crate::model::algorithms;
use crate::model::schema::Result;

/// The most candidates a search grid may have.
const MAX_CANDIDATES: usize = 1000;

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

/// Whether a list of values for `key` makes a search: every hyperparameter
/// some algorithm takes as a number.
pub(super) fn searchable(key: &str) -> bool {
    algorithms::ALL
        .iter()
        .flat_map(|a| a.options())
        .any(|h| h.name == key && h.searchable())
}

/// Options with list-valued hyperparameters: every candidate is parsed
/// (so a bad value fails before any data is read); the first one stands
/// for the whole set until the search picks the best.
pub(super) fn parse(
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
    // Counted before it is built: lists of a thousand values each would
    // otherwise build a billion candidates to refuse them.
    let size = lists
        .iter()
        .try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()))
        .unwrap_or(usize::MAX);
    if size > MAX_CANDIDATES {
        return Err(SqlStateError::bad_argument(format!(
            "the search grid has {} candidates; at most {MAX_CANDIDATES}",
            if size == usize::MAX {
                "too many".to_string()
            } else {
                size.to_string()
            }
        )));
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
    let seed = given
        .get("seed")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(42);
    if method == "random" && varying.len() > RANDOM_CANDIDATES {
        SplitMix(seed ^ 0x5EA2C4).shuffle(&mut varying);
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
