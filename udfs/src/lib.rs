//! Quarry's SQL functions as a DataFusion extension.
//!
//! Everything here registers into any [`SessionContext`]: no networking, no
//! server state. Functions that need models get a [`ModelStore`] injected, so a
//! worker of a DataFusion cluster registers the same functions over its own
//! store and scores the same immutable artifacts.

pub mod error;
pub mod functions;
pub mod kernels;
pub mod model;
pub mod session_info;

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use error::{SqlStateError, sqlstate};
pub use model::{ModelRef, ModelStore};

/// What functions may depend on, injected by the host.
#[derive(Debug, Clone)]
pub struct Services {
    pub models: Arc<dyn ModelStore>,
}

/// Registers every Quarry function into `ctx`. Server-side table functions
/// whose relation arguments stay SQL text are named in `textual_relations`
/// (function name, positions of its relation arguments) so that they accept a
/// bare name or a parenthesized subquery too.
pub fn register_all(
    ctx: &SessionContext,
    services: &Services,
    textual_relations: &[(&'static str, Vec<usize>)],
) -> Result<()> {
    ctx.register_udf(ScalarUDF::from(functions::predict::PredictUdf::new(
        services.models.clone(),
    )));
    ctx.register_udf(ScalarUDF::from(
        functions::predict_proba::PredictProbaUdf::new(services.models.clone()),
    ));
    ctx.register_udf(ScalarUDF::from(
        functions::predict_interval::PredictIntervalUdf::new(services.models.clone()),
    ));
    ctx.register_udf(functions::explain::row_function(services.models.clone()));
    ctx.register_udaf(functions::evaluation::bootstrap_function());
    for curve in functions::curves::curve_functions() {
        ctx.register_udaf(curve);
    }
    functions::metrics::register(ctx);
    let mut planner = functions::relation::RelationArgsPlanner::new()
        .with_function(Arc::new(functions::predict_table::PredictTable::new(
            services.models.clone(),
        )))
        .with_function(Arc::new(functions::explain::ExplainTable::new(
            services.models.clone(),
        )))
        .with_function(Arc::new(
            functions::feature_importance::FeatureImportance::new(services.models.clone()),
        ))
        .with_function(Arc::new(functions::evaluate::Evaluate::new(
            services.models.clone(),
        )))
        .with_function(Arc::new(functions::compare::Compare::new(
            services.models.clone(),
        )))
        .with_function(Arc::new(functions::roc_curve::RocCurve::new(
            services.models.clone(),
        )))
        .with_function(Arc::new(functions::pr_curve::PrCurve::new(
            services.models.clone(),
        )))
        .with_function(Arc::new(functions::lift_curve::LiftCurve::new(
            services.models.clone(),
        )))
        .with_function(Arc::new(functions::fairness::Fairness::new(
            services.models.clone(),
        )))
        .with_function(Arc::new(functions::residuals::Residuals::new(
            services.models.clone(),
        )));
    for (name, positions) in textual_relations {
        planner = planner.with_textual(name, positions.clone());
    }
    ctx.register_relation_planner(Arc::new(planner))?;
    Ok(())
}

/// Documentation of the table functions, which DataFusion does not carry.
pub fn table_function_docs() -> Vec<(&'static str, Documentation)> {
    vec![
        (
            functions::predict_table::NAME,
            functions::predict_table::PredictTable::documentation(),
        ),
        (
            functions::explain::NAME,
            functions::explain::ExplainTable::documentation(),
        ),
        (
            functions::evaluate::NAME,
            functions::evaluate::Evaluate::documentation(),
        ),
        (
            functions::compare::NAME,
            functions::compare::Compare::documentation(),
        ),
        (
            functions::roc_curve::NAME,
            functions::roc_curve::RocCurve::documentation(),
        ),
        (
            functions::pr_curve::NAME,
            functions::pr_curve::PrCurve::documentation(),
        ),
        (
            functions::lift_curve::NAME,
            functions::lift_curve::LiftCurve::documentation(),
        ),
        (
            functions::fairness::NAME,
            functions::fairness::Fairness::documentation(),
        ),
        (
            functions::residuals::NAME,
            functions::residuals::Residuals::documentation(),
        ),
        (
            functions::feature_importance::NAME,
            functions::feature_importance::FeatureImportance::documentation(),
        ),
    ]
}
