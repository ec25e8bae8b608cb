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
use functions::relation::RelationFunction;

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
    ctx.register_udf(ScalarUDF::from(
        functions::scoring::predict::PredictUdf::new(services.models.clone()),
    ));
    ctx.register_udf(ScalarUDF::from(
        functions::scoring::predict_proba::PredictProbaUdf::new(services.models.clone()),
    ));
    ctx.register_udf(ScalarUDF::from(
        functions::scoring::predict_interval::PredictIntervalUdf::new(services.models.clone()),
    ));
    ctx.register_udf(functions::scoring::explain::row_function(
        services.models.clone(),
    ));
    ctx.register_udaf(functions::evaluation::bootstrap_function());
    for curve in functions::evaluation::curve::curve_functions() {
        ctx.register_udaf(curve);
    }
    functions::metrics::register(ctx);
    functions::drift::register(ctx);
    functions::features::register(ctx);
    ctx.register_udf(functions::monitoring::control_chart::chart_function());
    ctx.register_udf(functions::monitoring::stationarity::stationarity_function());
    ctx.register_udaf(functions::quality::profile::profile_aggregate());
    ctx.register_udaf(functions::quality::validate::sample_aggregate());
    ctx.register_udaf(functions::quality::outliers::spread_aggregate());
    let mut planner = functions::relation::RelationArgsPlanner::new();
    for function in table_functions(services.models.clone()) {
        planner = planner.with_function(function);
    }
    for (name, positions) in textual_relations {
        planner = planner.with_textual(name, positions.clone());
    }
    ctx.register_relation_planner(Arc::new(planner))?;
    Ok(())
}

/// Every table function of this crate, built over `models`: the one list the
/// planner, the relation-argument rewrite and the docs are derived from.
pub fn table_functions(models: Arc<dyn ModelStore>) -> Vec<Arc<dyn RelationFunction>> {
    use functions::*;
    vec![
        Arc::new(scoring::predict_table::PredictTable::new(models.clone())),
        Arc::new(scoring::explain::ExplainTable::new(models.clone())),
        Arc::new(scoring::feature_importance::FeatureImportance::new(
            models.clone(),
        )),
        Arc::new(evaluation::evaluate::Evaluate::new(models.clone())),
        Arc::new(evaluation::compare::Compare::new(models.clone())),
        Arc::new(evaluation::roc_curve::RocCurve::new(models.clone())),
        Arc::new(evaluation::pr_curve::PrCurve::new(models.clone())),
        Arc::new(evaluation::lift_curve::LiftCurve::new(models.clone())),
        Arc::new(evaluation::fairness::Fairness::new(models.clone())),
        Arc::new(evaluation::residuals::Residuals::new(models.clone())),
        Arc::new(drift::ml_drift::Drift::new(models)),
        Arc::new(quality::profile::Profile),
        Arc::new(quality::validate::Validate),
        Arc::new(quality::outliers::Outliers),
        Arc::new(monitoring::control_chart::ControlChart),
        Arc::new(monitoring::stationarity::Stationarity),
        Arc::new(features::asof_join::AsofJoin),
    ]
}

/// Documentation of the table functions, which DataFusion does not carry.
pub fn table_function_docs() -> Vec<(&'static str, Documentation)> {
    table_functions(Arc::new(functions::relation::NoModels))
        .iter()
        .map(|f| (f.name(), f.docs()))
        .collect()
}
