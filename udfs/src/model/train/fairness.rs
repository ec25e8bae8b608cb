//! Bias mitigation at training (`reweigh = '<group column>'`) and the
//! fairness it is recorded with.
//!
//! Kamiran and Calders' reweighing ("Data preprocessing techniques for
//! classification without discrimination", 2012): each training row of
//! group g and class c is weighted by P(g)·P(c) / P(g, c), the
//! probabilities counted (with the rows' other weights) on the training
//! rows. In the weighted rows group and class are independent, so a model
//! fitted on them sees no association between the two to learn. It changes
//! no row and no label; it cannot remove what the other features say about
//! the group (a proxy such as a postcode).
//!
//! What it did is measured, not assumed: a second model is fitted with the
//! same options and without the reweighing, and both are scored on the
//! evaluation rows (the hold-out, or the training rows without one). Per
//! group: rows, positive rate (share predicted positive) and TPR (share of
//! actual positives predicted positive), before and after; overall, the
//! largest gap in positive rate (statistical parity difference), the
//! smallest ratio of positive rates (disparate impact; the 4/5 rule reads
//! it) and the largest gap in TPR (equal opportunity) — `ml_fairness`'s
//! definitions, for binary classifiers. A multi-class model records the
//! weights only.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

/// The reweighing of one run: the factor of each (group, class).
#[derive(Debug, Clone, PartialEq)]
pub struct Reweighing {
    pub factors: BTreeMap<(Option<String>, usize), f64>,
}

impl Reweighing {
    /// Counts groups and classes over `train` (weighted by `weights`) and
    /// returns the factor of each (group, class) seen.
    pub fn fit(
        groups: &[Option<String>],
        class_of: &[Option<usize>],
        train: &[usize],
        weights: &[f64],
    ) -> Reweighing {
        let mut joint: BTreeMap<(Option<String>, usize), f64> = BTreeMap::new();
        let mut by_group: BTreeMap<Option<String>, f64> = BTreeMap::new();
        let mut by_class: BTreeMap<usize, f64> = BTreeMap::new();
        let mut total = 0.0;
        for &i in train {
            let Some(c) = class_of[i] else { continue };
            let w = weights[i];
            *joint.entry((groups[i].clone(), c)).or_default() += w;
            *by_group.entry(groups[i].clone()).or_default() += w;
            *by_class.entry(c).or_default() += w;
            total += w;
        }
        let factors = joint
            .into_iter()
            .map(|((g, c), n_gc)| {
                let factor = if n_gc > 0.0 {
                    by_group[&g] * by_class[&c] / (total * n_gc)
                } else {
                    1.0
                };
                ((g, c), factor)
            })
            .collect();
        Reweighing { factors }
    }

    /// The factor of a row (1 for a pair the training rows never had).
    pub fn factor(&self, group: &Option<String>, class: Option<usize>) -> f64 {
        class
            .and_then(|c| self.factors.get(&(group.clone(), c)))
            .copied()
            .unwrap_or(1.0)
    }

    /// The weights as recorded: one entry per (group, class).
    pub fn to_json(&self, classes: &[String]) -> Json {
        Json::Array(
            self.factors
                .iter()
                .map(|((g, c), w)| {
                    json!({
                        "group": g,
                        "class": classes.get(*c).cloned().unwrap_or_else(|| c.to_string()),
                        "weight": w,
                    })
                })
                .collect(),
        )
    }
}

/// One group's outcomes on the evaluation rows.
#[derive(Debug, Clone, Default, PartialEq)]
struct Outcomes {
    n: usize,
    predicted_positive: usize,
    actual_positive: usize,
    true_positive: usize,
}

impl Outcomes {
    fn positive_rate(&self) -> Option<f64> {
        (self.n > 0).then(|| self.predicted_positive as f64 / self.n as f64)
    }

    fn tpr(&self) -> Option<f64> {
        (self.actual_positive > 0).then(|| self.true_positive as f64 / self.actual_positive as f64)
    }
}

/// Each group's outcomes of a binary classifier's predicted classes.
fn outcomes(
    groups: &[Option<String>],
    actual: &[Option<usize>],
    rows: &[usize],
    predicted: &[Option<usize>],
) -> BTreeMap<Option<String>, Outcomes> {
    let mut by_group: BTreeMap<Option<String>, Outcomes> = BTreeMap::new();
    for (k, &i) in rows.iter().enumerate() {
        let (Some(y), Some(p)) = (actual[i], predicted[k]) else {
            continue;
        };
        let o = by_group.entry(groups[i].clone()).or_default();
        o.n += 1;
        o.predicted_positive += usize::from(p == 1);
        o.actual_positive += usize::from(y == 1);
        o.true_positive += usize::from(y == 1 && p == 1);
    }
    by_group
}

/// The gaps across groups: statistical parity difference, disparate
/// impact, equal opportunity difference.
fn gaps(by_group: &BTreeMap<Option<String>, Outcomes>) -> Json {
    let spread = |values: Vec<f64>| -> Option<(f64, f64)> {
        let min = values.iter().copied().reduce(f64::min)?;
        let max = values.iter().copied().reduce(f64::max)?;
        Some((min, max))
    };
    let rates = spread(
        by_group
            .values()
            .filter_map(Outcomes::positive_rate)
            .collect(),
    );
    let tprs = spread(by_group.values().filter_map(Outcomes::tpr).collect());
    json!({
        "positive_rate_diff": rates.map(|(lo, hi)| hi - lo),
        "positive_rate_ratio": rates.and_then(|(lo, hi)| (hi > 0.0).then(|| lo / hi)),
        "tpr_diff": tprs.map(|(lo, hi)| hi - lo),
    })
}

/// The fairness record of a reweighed binary classifier: `before` are the
/// predicted classes of the model fitted without the reweighing, `after`
/// those of the reweighed one, both over `rows`.
pub fn report(
    groups: &[Option<String>],
    actual: &[Option<usize>],
    rows: &[usize],
    before: &[Option<usize>],
    after: &[Option<usize>],
) -> Json {
    let b = outcomes(groups, actual, rows, before);
    let a = outcomes(groups, actual, rows, after);
    let per_group: Vec<Json> = a
        .iter()
        .map(|(g, after)| {
            let before = b.get(g).cloned().unwrap_or_default();
            json!({
                "group": g,
                "n": after.n,
                "positive_rate_before": before.positive_rate(),
                "positive_rate_after": after.positive_rate(),
                "tpr_before": before.tpr(),
                "tpr_after": after.tpr(),
            })
        })
        .collect();
    json!({
        "groups": per_group,
        "before": gaps(&b),
        "after": gaps(&a),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    /// Kamiran and Calders' own example shape: group a is mostly positive,
    /// group b mostly negative. After reweighing, the weighted positive
    /// share is the same in both groups (and equals the overall share).
    #[test]
    fn reweighing_makes_group_and_class_independent() {
        // a: 3 positive, 1 negative; b: 1 positive, 3 negative; plus one
        // row of b with no label (left out).
        let groups = vec![
            g("a"),
            g("a"),
            g("a"),
            g("a"),
            g("b"),
            g("b"),
            g("b"),
            g("b"),
            g("b"),
        ];
        let class_of = vec![
            Some(1),
            Some(1),
            Some(1),
            Some(0),
            Some(1),
            Some(0),
            Some(0),
            Some(0),
            None,
        ];
        let weights = vec![1.0; 9];
        let train: Vec<usize> = (0..9).collect();
        let r = Reweighing::fit(&groups, &class_of, &train, &weights);
        // P(a) = 1/2, P(+) = 1/2, P(a, +) = 3/8 -> 2/3; P(a, -) = 1/8 -> 2.
        assert!((r.factor(&g("a"), Some(1)) - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.factor(&g("a"), Some(0)) - 2.0).abs() < 1e-12);
        assert!((r.factor(&g("b"), Some(1)) - 2.0).abs() < 1e-12);
        assert!((r.factor(&g("b"), Some(0)) - 2.0 / 3.0).abs() < 1e-12);
        for group in ["a", "b"] {
            let (mut pos, mut all) = (0.0, 0.0);
            for i in 0..8 {
                if groups[i] == g(group) {
                    let w = r.factor(&groups[i], class_of[i]);
                    all += w;
                    if class_of[i] == Some(1) {
                        pos += w;
                    }
                }
            }
            assert!((pos / all - 0.5).abs() < 1e-12, "{group}: {}", pos / all);
        }
        // The total weight is kept: sum of factors over rows = rows.
        let total: f64 = (0..8).map(|i| r.factor(&groups[i], class_of[i])).sum();
        assert!((total - 8.0).abs() < 1e-12);
    }

    #[test]
    fn existing_weights_count_and_null_is_a_group() {
        let groups = vec![None, None, g("x"), g("x")];
        let class_of = vec![Some(1), Some(0), Some(1), Some(0)];
        // Row 0 counts twice: P(NULL) = 3/5, P(+) = 3/5, P(NULL, +) = 2/5.
        let weights = vec![2.0, 1.0, 1.0, 1.0];
        let r = Reweighing::fit(&groups, &class_of, &[0, 1, 2, 3], &weights);
        assert!((r.factor(&None, Some(1)) - (3.0 / 5.0) * (3.0 / 5.0) / (2.0 / 5.0)).abs() < 1e-12);
        assert_eq!(r.factor(&g("unseen"), Some(1)), 1.0);
    }

    #[test]
    fn the_report_measures_parity_and_opportunity_per_group() {
        let groups = vec![g("a"), g("a"), g("b"), g("b")];
        let actual = vec![Some(1), Some(0), Some(1), Some(0)];
        let rows = [0, 1, 2, 3];
        // Before: a always positive, b never. After: both predict the truth.
        let before = vec![Some(1), Some(1), Some(0), Some(0)];
        let after = vec![Some(1), Some(0), Some(1), Some(0)];
        let r = report(&groups, &actual, &rows, &before, &after);
        assert_eq!(r["before"]["positive_rate_diff"], json!(1.0));
        assert_eq!(r["before"]["positive_rate_ratio"], json!(0.0));
        assert_eq!(r["before"]["tpr_diff"], json!(1.0));
        assert_eq!(r["after"]["positive_rate_diff"], json!(0.0));
        assert_eq!(r["after"]["positive_rate_ratio"], json!(1.0));
        assert_eq!(r["groups"][1]["group"], json!("b"));
        assert_eq!(r["groups"][1]["tpr_before"], json!(0.0));
        assert_eq!(r["groups"][1]["tpr_after"], json!(1.0));
    }
}
