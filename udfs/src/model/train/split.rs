//! Phase 2: which rows train and which are held out, and the folds of
//! cross-validation. Every draw is seeded (`kernels::rng`), so a seed means
//! the same split in every release.
//!
//! | `split`           | hold-out rows                                           |
//! |-------------------|---------------------------------------------------------|
//! | `random:F`        | a shuffled F of the rows                                |
//! | `stratified:F`    | a shuffled F of each class's rows (the classification default, F = 0.2) |
//! | `time:<col>:F`    | the latest F by `col` (NULL sorts first); the earliest held-out time is the cut-off the leakage check uses |
//! | `none`            | none: metrics are measured on the training rows (clustering and anomaly default) |
//!
//! | `cv`              | folds over the training rows                            |
//! |-------------------|---------------------------------------------------------|
//! | `N`               | N folds, each class's rows dealt round-robin after a shuffle |
//! | `time:<col>:N`    | expanding windows: fold k fits on the first k of N + 1 time-ordered blocks and validates on the next |
//!
//! Row lists come back ascending, so a split does not depend on the order
//! the shuffle left them in.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, ArrayRef};

use super::columns::Columns;
use crate::error::SqlStateError;
use crate::kernels::rng::SplitMix;
use crate::model::options::{Cv, Split};
use crate::model::schema::{FeatureKind, Result, Task, Values, values};

/// The training and hold-out rows of a run.
pub(super) struct Rows {
    pub split: Split,
    pub train: Vec<usize>,
    pub test: Vec<usize>,
    /// The earliest held-out time of a time split.
    pub cutoff: Option<f64>,
}

/// Splits the rows that can train as `split` says (or the task's default).
pub(super) fn split(
    columns: &Columns,
    split: Option<&Split>,
    time: Option<(&str, &ArrayRef)>,
    seed: u64,
) -> Result<Rows> {
    let split = split.cloned().unwrap_or(match columns.task {
        Task::Classification => Split::Stratified(0.2),
        Task::Regression => Split::Random(0.2),
        Task::Clustering | Task::Anomaly => Split::None,
    });
    let time = match time {
        Some((name, array)) => Some(time_of(name, array)?),
        None => None,
    };
    let (train, test, cutoff) = split_rows(
        &split,
        &columns.keep,
        columns.class_of.as_deref(),
        time.as_deref(),
        seed,
    );
    if train.is_empty() {
        return Err(SqlStateError::bad_data(
            "no rows are left for training after the split",
        ));
    }
    Ok(Rows {
        split,
        train,
        test,
        cutoff,
    })
}

fn split_rows(
    split: &Split,
    keep: &[usize],
    class_of: Option<&[Option<usize>]>,
    time: Option<&[f64]>,
    seed: u64,
) -> (Vec<usize>, Vec<usize>, Option<f64>) {
    let mut rng = SplitMix(seed);
    let take_test = |rows: &mut Vec<usize>, f: f64| -> (Vec<usize>, Vec<usize>) {
        let n_test = ((rows.len() as f64) * f).round() as usize;
        let test = rows[..n_test].to_vec();
        let train = rows[n_test..].to_vec();
        (train, test)
    };
    let (mut train, mut test, cutoff) = match split {
        Split::None => (keep.to_vec(), vec![], None),
        Split::Random(f) => {
            let mut rows = keep.to_vec();
            rng.shuffle(&mut rows);
            let (a, b) = take_test(&mut rows, *f);
            (a, b, None)
        }
        Split::Stratified(f) => {
            let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for &i in keep {
                let c = class_of.and_then(|c| c[i]).unwrap_or(0);
                by_class.entry(c).or_default().push(i);
            }
            let (mut train, mut test) = (Vec::new(), Vec::new());
            for rows in by_class.values_mut() {
                rng.shuffle(rows);
                let (a, b) = take_test(rows, *f);
                train.extend(a);
                test.extend(b);
            }
            (train, test, None)
        }
        Split::Time { fraction, .. } => {
            let t = time.unwrap_or(&[]);
            let mut rows = keep.to_vec();
            rows.sort_by(|&a, &b| t[a].total_cmp(&t[b]).then(a.cmp(&b)));
            let n_test = ((rows.len() as f64) * fraction).round() as usize;
            let split_at = rows.len() - n_test;
            let test = rows[split_at..].to_vec();
            let cutoff = test.first().map(|&i| t[i]);
            (rows[..split_at].to_vec(), test, cutoff)
        }
    };
    train.sort_unstable();
    test.sort_unstable();
    (train, test, cutoff)
}

/// A temporal or numeric column as numbers (NULL sorts first).
pub(super) fn time_of(name: &str, array: &ArrayRef) -> Result<Vec<f64>> {
    let n = array.len();
    let v = values(name, array, FeatureKind::Temporal)
        .or_else(|_| values(name, array, FeatureKind::Numeric))?;
    let Values::Number(v) = v else {
        return Err(SqlStateError::bad_argument(format!(
            "column {name} must be a date, timestamp or number to order rows by time"
        )));
    };
    Ok((0..n)
        .map(|i| {
            if v.is_valid(i) {
                v.value(i)
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect())
}

/// (fit rows, validation rows) of each fold over the training rows.
pub(super) fn cv_folds(
    cv: &Cv,
    rows: &[usize],
    class_of: Option<&[Option<usize>]>,
    time: Option<&[f64]>,
    seed: u64,
) -> Vec<(Vec<usize>, Vec<usize>)> {
    match cv {
        Cv::Folds(k) => {
            // Shuffle, then deal each class's rows round-robin: stratified.
            let mut order = rows.to_vec();
            SplitMix(seed ^ 0xC0FFEE).shuffle(&mut order);
            if let Some(c) = class_of {
                order.sort_by_key(|&i| c[i].unwrap_or(0));
            }
            let mut fold_of = vec![0usize; order.len()];
            for (pos, f) in fold_of.iter_mut().enumerate() {
                *f = pos % k;
            }
            (0..*k)
                .map(|f| {
                    let (mut fit, mut check) = (Vec::new(), Vec::new());
                    for (pos, &row) in order.iter().enumerate() {
                        if fold_of[pos] == f {
                            check.push(row);
                        } else {
                            fit.push(row);
                        }
                    }
                    fit.sort_unstable();
                    check.sort_unstable();
                    (fit, check)
                })
                .collect()
        }
        Cv::Time { folds, .. } => {
            let t = time.unwrap_or(&[]);
            let mut order = rows.to_vec();
            order.sort_by(|&a, &b| t[a].total_cmp(&t[b]).then(a.cmp(&b)));
            let blocks = folds + 1;
            let edge = |b: usize| b * order.len() / blocks;
            (1..blocks)
                .map(|b| {
                    (
                        order[..edge(b)].to_vec(),
                        order[edge(b)..edge(b + 1)].to_vec(),
                    )
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cv_folds_are_stratified_and_time_folds_expand() {
        let rows: Vec<usize> = (0..100).collect();
        let class_of: Vec<Option<usize>> =
            (0..100).map(|i| Some(usize::from(i % 4 == 0))).collect();
        let folds = cv_folds(&Cv::Folds(5), &rows, Some(&class_of), None, 1);
        assert_eq!(folds.len(), 5);
        let mut seen = vec![0; 100];
        for (fit, check) in &folds {
            assert_eq!(fit.len() + check.len(), 100);
            assert_eq!(check.len(), 20);
            // 25% positives overall: 5 of each validation fold.
            assert_eq!(check.iter().filter(|&&i| class_of[i] == Some(1)).count(), 5);
            for &i in check {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&s| s == 1), "every row validated once");
        let time: Vec<f64> = (0..100).map(|i| f64::from(100 - i)).collect();
        let folds = cv_folds(
            &Cv::Time {
                column: "t".into(),
                folds: 3,
            },
            &rows,
            None,
            Some(&time),
            1,
        );
        assert_eq!(folds.len(), 3);
        for (k, (fit, check)) in folds.iter().enumerate() {
            assert_eq!(fit.len(), 25 * (k + 1));
            assert_eq!(check.len(), 25);
            // Every training row is earlier than every validation row.
            let latest_fit = fit.iter().map(|&i| time[i]).fold(f64::MIN, f64::max);
            let earliest_check = check.iter().map(|&i| time[i]).fold(f64::MAX, f64::min);
            assert!(latest_fit < earliest_check);
        }
    }

    #[test]
    fn stratified_split_keeps_class_balance() {
        let keep: Vec<usize> = (0..100).collect();
        let classes: Vec<Option<usize>> = (0..100).map(|i| Some(usize::from(i < 10))).collect();
        let (_train, test, _) = split_rows(&Split::Stratified(0.2), &keep, Some(&classes), None, 1);
        assert_eq!(test.len(), 20);
        assert_eq!(test.iter().filter(|&&i| i < 10).count(), 2);
    }

    #[test]
    fn time_split_holds_out_the_latest_rows() {
        let keep: Vec<usize> = (0..10).collect();
        let t: Vec<f64> = (0..10).map(|i| (10 - i) as f64).collect();
        let (train, test, cutoff) = split_rows(
            &Split::Time {
                column: "t".into(),
                fraction: 0.3,
            },
            &keep,
            None,
            Some(&t),
            1,
        );
        assert_eq!(test, vec![0, 1, 2]);
        assert_eq!(train.len(), 7);
        assert_eq!(cutoff, Some(8.0));
    }
}
