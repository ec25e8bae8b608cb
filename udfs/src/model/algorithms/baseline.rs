//! The `baseline` model: the majority class (with the class priors as its
//! probabilities) for classification, the mean for regression. It reads no
//! feature, so any model that does not beat it learned nothing.

use serde::{Deserialize, Serialize};

use super::hyper::{Hyper, Hyperparameters};
use super::{Algorithm, FitInput, FitReport, Fitted, Inputs, Payload, Rows, Scores};
use crate::error::SqlStateError;
use crate::model::schema::{Result, Task};

/// Majority class with class priors, or the mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub class: Option<usize>,
    pub priors: Vec<f64>,
    pub mean: f64,
}

/// The `baseline` algorithm.
#[derive(Debug)]
pub struct BaselineModel;

pub const BASELINE: BaselineModel = BaselineModel;

impl Algorithm for BaselineModel {
    fn name(&self) -> &'static str {
        "baseline"
    }

    fn options(&self) -> &'static [Hyper] {
        &[]
    }

    fn inputs(&self) -> Inputs {
        Inputs::COLUMNS
    }

    fn needs_features(&self) -> bool {
        false
    }

    fn check(&self, _hyper: &Hyperparameters<'_>) -> Result<()> {
        Ok(())
    }

    fn fit(&self, input: &FitInput<'_>, _out: &mut FitReport) -> Result<Payload> {
        Ok(Payload::Baseline(match input.task {
            Task::Classification => {
                let mut counts = vec![0usize; input.class_count];
                input.classes.iter().for_each(|&c| counts[c] += 1);
                let total = input.classes.len().max(1) as f64;
                let class = counts
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
                    .map(|(i, _)| i);
                Baseline {
                    class,
                    priors: counts.iter().map(|&c| c as f64 / total).collect(),
                    mean: 0.0,
                }
            }
            Task::Regression => Baseline {
                class: None,
                priors: vec![],
                mean: input.numbers.iter().sum::<f64>() / input.numbers.len().max(1) as f64,
            },
            Task::Clustering | Task::Anomaly => {
                return Err(SqlStateError::bad_argument("baseline models need a label"));
            }
        }))
    }
}

impl Fitted for Baseline {
    fn score(&self, rows: &Rows<'_>) -> Result<Scores> {
        let n = rows.len();
        let priors = &self.priors;
        Ok(match rows.task {
            Task::Classification if priors.len() > 2 => Scores::Classes(
                priors
                    .iter()
                    .copied()
                    .cycle()
                    .take(n * priors.len())
                    .collect(),
                priors.len(),
            ),
            Task::Classification => Scores::Values(vec![priors.get(1).copied().unwrap_or(0.0); n]),
            _ => Scores::Values(vec![self.mean; n]),
        })
    }
}
