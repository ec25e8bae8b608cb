//! Quarry's SQL functions, one per file.

pub mod compare;
pub mod control_chart;
pub mod curves;
pub mod drift;
pub mod evaluate;
pub mod evaluation;
pub mod explain;
pub mod fairness;
pub mod feature_importance;
pub mod features;
pub mod lift_curve;
pub mod metrics;
pub mod outliers;
pub mod pr_curve;
pub mod predict;
pub mod predict_interval;
pub mod predict_proba;
pub mod predict_table;
pub mod profile;
pub mod relation;
pub mod residuals;
pub mod roc_curve;
pub mod scoring;
pub mod series;
pub mod stationarity;
pub mod validate;
