//! k-means clustering (`kmeans`): k-means++ seeding, then Lloyd iterations,
//! minimizing Σᵢ ‖xᵢ − c(xᵢ)‖² over the standardized features, as
//! scikit-learn's `KMeans(init='k-means++', n_init=1)`.
//!
//! `ml_predict` is the number of the nearest centre (from 0). With fewer
//! distinct rows than k, there are fewer clusters. Metrics: inertia (the
//! objective) and the silhouette of a sample of at most about 2,000 rows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::hyper::{Hyper, Hyperparameters};
use super::{Algorithm, FitInput, FitReport, Fitted, Inputs, Payload, Rows, Scores};
use crate::error::SqlStateError;
use crate::kernels::linalg::Matrix;
use crate::kernels::metrics;
use crate::kernels::optimize::{self, nearest};
use crate::model::schema::{Result, Task};

/// `k × width` centres.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    pub centroids: Vec<f64>,
    pub k: usize,
}

/// The `kmeans` algorithm.
#[derive(Debug)]
pub struct KMeansClustering;

pub const KMEANS: KMeansClustering = KMeansClustering;

const K: Hyper = Hyper::count("k", 1, 8, "clusters (at most the training rows)").at_most(100_000);
const MAX_ITER: Hyper = Hyper::count("max_iter", 1, 300, "Lloyd iterations at most");
const TOL: Hyper = Hyper::non_negative("tol", 1e-4, "stop when the centres move less than this");

impl Algorithm for KMeansClustering {
    fn name(&self) -> &'static str {
        "kmeans"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["k_means"]
    }

    fn task(&self) -> Option<Task> {
        Some(Task::Clustering)
    }

    fn options(&self) -> &'static [Hyper] {
        &[K, MAX_ITER, TOL]
    }

    fn inputs(&self) -> Inputs {
        Inputs::LINEAR
    }

    fn check(&self, hyper: &Hyperparameters<'_>) -> Result<()> {
        hyper.check_numbers(self.options())
    }

    fn fit(&self, input: &FitInput<'_>, out: &mut FitReport) -> Result<Payload> {
        let x = input.matrix()?;
        let hyper = &input.hyper;
        let k = hyper.count(&K)?;
        if k > x.rows {
            return Err(SqlStateError::option(
                "k",
                format_args!("must be at most the number of training rows ({})", x.rows),
                k,
            ));
        }
        let max_iter = hyper.count(&MAX_ITER)?;
        let tol = hyper.number(&TOL)?;
        out.param("k", k);
        out.param("max_iter", max_iter);
        let fit = optimize::kmeans(x, k, max_iter, tol, input.seed, input.ctx.threads);
        out.param("iterations", fit.iterations);
        Ok(Payload::KMeans(KMeans {
            centroids: fit.centroids,
            k: k.min(x.rows).max(1),
        }))
    }
}

impl Fitted for KMeans {
    fn score(&self, rows: &Rows<'_>) -> Result<Scores> {
        let m = rows.matrix()?;
        Ok(Scores::Clusters(
            (0..m.rows)
                .map(|i| nearest(m.row(i), &self.centroids, self.k).0 as i32)
                .collect(),
        ))
    }

    fn unsupervised_metrics(&self, x: &Matrix, out: &mut BTreeMap<String, f64>) {
        let mut labels = Vec::with_capacity(x.rows);
        let mut inertia = 0.0;
        for i in 0..x.rows {
            let (c, d) = nearest(x.row(i), &self.centroids, self.k);
            labels.push(c);
            inertia += d;
        }
        out.insert("inertia".into(), inertia);
        let sample: Vec<usize> = (0..x.rows).step_by((x.rows / 2000).max(1)).collect();
        let xs = x.select_rows(&sample);
        let ls: Vec<usize> = sample.iter().map(|&i| labels[i]).collect();
        if let Some(s) = metrics::silhouette(&xs.data, xs.cols, &ls, self.k) {
            out.insert("silhouette".into(), s);
        }
    }
}
