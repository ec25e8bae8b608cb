//! Quarry's SQL functions, one per file.

pub mod compare;
pub mod evaluate;
pub mod evaluation;
pub mod explain;
pub mod feature_importance;
pub mod metrics;
pub mod predict;
pub mod predict_proba;
pub mod predict_table;
pub mod relation;
pub mod scoring;
