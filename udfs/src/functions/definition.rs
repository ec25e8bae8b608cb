//! One definition per SQL function, and what is derived from the lists of
//! them.
//!
//! Each family's `mod.rs` lists its functions as [`Definition`]s, one line
//! each; a host registers the lists it is given ([`register`]) and everything
//! else is read off the same lists, so nothing is kept in sync by hand:
//!
//! | derived | from |
//! |---------|------|
//! | registration: scalars, aggregates, DataFusion table functions by name | the builders |
//! | the relation planner's table functions and their relation positions | [`TableFunctionSpec::PARAMS`] |
//! | the statement rewrite's relation and model positions ([`relation_positions`], [`model_positions`], [`textual_positions`]) | the same |
//! | the reference of table functions ([`table_docs`]) | [`TableFunctionSpec::documentation`] |
//! | the scalars a kept plan depends on through the registry ([`registry_bound`]) | [`Definition::ModelScalar`] |
//!
//! Helper aggregates and scalars behind a table function are not listed:
//! its plan holds them directly (`Expr::AggregateFunction` and
//! `Expr::ScalarFunction` carry the function itself), so they are not
//! registered and SQL cannot call them.
//!
//! `D` is what the functions are built over: [`crate::Services`] for this
//! crate, the model registry for the server's own functions.

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::error::Result;
use datafusion::logical_expr::{
    AggregateUDF, AggregateUDFImpl, Documentation, DocumentationBuilder, ScalarUDF, ScalarUDFImpl,
};
use datafusion::prelude::SessionContext;

use super::params::Params;
use super::relation::{RelationArgsPlanner, RelationFunction};

/// What a table function is before it is built: its name, its parameters
/// and its reference entry.
pub trait TableFunctionSpec {
    const NAME: &'static str;
    const PARAMS: Params;

    /// The reference entry but for its arguments, which come from
    /// [`Self::PARAMS`].
    fn doc() -> DocumentationBuilder;

    fn documentation() -> Documentation {
        Self::PARAMS.document(Self::doc()).build()
    }
}

type Build<D, T> = Box<dyn Fn(&D) -> T + Send + Sync>;

/// A table function's definition: static facts and how to build it.
pub struct Table<D, F: ?Sized> {
    pub name: &'static str,
    pub params: Params,
    pub documentation: fn() -> Documentation,
    build: Build<D, Arc<F>>,
}

impl<D, F: ?Sized> Table<D, F> {
    pub fn build(&self, deps: &D) -> Arc<F> {
        (self.build)(deps)
    }

    fn facts(&self) -> Facts {
        Facts {
            name: self.name,
            params: self.params,
            documentation: self.documentation,
            textual: false,
        }
    }
}

/// One SQL function.
pub enum Definition<D> {
    Scalar(Build<D, ScalarUDF>),
    /// A scalar that resolves a model reference when the query is planned:
    /// a host that keeps plans must drop them when the registry changes.
    ModelScalar(&'static str, Build<D, ScalarUDF>),
    Aggregate(Build<D, AggregateUDF>),
    /// A table function that plans itself from planned arguments.
    Table(Table<D, dyn RelationFunction>),
    /// A DataFusion table function whose relation arguments reach it as SQL
    /// text (it records the query it runs).
    TextTable(Table<D, dyn TableFunctionImpl>),
}

impl<D: 'static> Definition<D> {
    pub fn scalar<F: ScalarUDFImpl + 'static>(build: fn(&D) -> F) -> Self {
        Definition::Scalar(Box::new(move |d| ScalarUDF::new_from_impl(build(d))))
    }

    pub fn model_scalar<F: ScalarUDFImpl + 'static>(
        name: &'static str,
        build: fn(&D) -> F,
    ) -> Self {
        Definition::ModelScalar(name, Box::new(move |d| ScalarUDF::new_from_impl(build(d))))
    }

    pub fn aggregate<F: AggregateUDFImpl + 'static>(build: fn(&D) -> F) -> Self {
        Definition::Aggregate(Box::new(move |d| AggregateUDF::new_from_impl(build(d))))
    }

    pub fn table<F: TableFunctionSpec + RelationFunction + 'static>(build: fn(&D) -> F) -> Self {
        Definition::Table(Table {
            name: F::NAME,
            params: F::PARAMS,
            documentation: F::documentation,
            build: Box::new(move |d| Arc::new(build(d)) as Arc<dyn RelationFunction>),
        })
    }

    pub fn text_table<F: TableFunctionSpec + TableFunctionImpl + 'static>(
        build: fn(&D) -> F,
    ) -> Self {
        Definition::TextTable(Table {
            name: F::NAME,
            params: F::PARAMS,
            documentation: F::documentation,
            build: Box::new(move |d| Arc::new(build(d)) as Arc<dyn TableFunctionImpl>),
        })
    }
}

/// Registers `definitions`, built over `deps`, into `ctx`: scalars,
/// aggregates and DataFusion table functions by name, and the table
/// functions that plan themselves in one relation planner, which also turns
/// the relation arguments of the host's `textual` table functions (name,
/// positions; [`textual_positions`] of their definitions) into SQL text.
pub fn register<D>(
    ctx: &SessionContext,
    deps: &D,
    definitions: &[Definition<D>],
    textual: &[(&'static str, Vec<usize>)],
) -> Result<()> {
    let mut planner = RelationArgsPlanner::new();
    let mut planned = !textual.is_empty();
    for definition in definitions {
        match definition {
            Definition::Scalar(build) | Definition::ModelScalar(_, build) => {
                ctx.register_udf(build(deps));
            }
            Definition::Aggregate(build) => ctx.register_udaf(build(deps)),
            Definition::Table(table) => {
                planner = planner.with_function(table.name, table.params, table.build(deps));
                planned = true;
            }
            Definition::TextTable(table) => ctx.register_udtf(table.name, table.build(deps)),
        }
    }
    if planned {
        for (name, positions) in textual {
            planner = planner.with_textual(name, positions.clone());
        }
        ctx.register_relation_planner(Arc::new(planner))?;
    }
    Ok(())
}

/// What is known of a table function without building it.
struct Facts {
    name: &'static str,
    params: Params,
    documentation: fn() -> Documentation,
    /// Its relation arguments reach it as SQL text.
    textual: bool,
}

fn tables<D>(definitions: &[Definition<D>]) -> impl Iterator<Item = Facts> + '_ {
    definitions.iter().filter_map(|d| {
        let (t, textual) = match d {
            Definition::Table(t) => (t.facts(), false),
            Definition::TextTable(t) => (t.facts(), true),
            _ => return None,
        };
        Some(Facts { textual, ..t })
    })
}

/// The reference entries of the table functions (DataFusion keeps none).
pub fn table_docs<D>(definitions: &[Definition<D>]) -> Vec<(&'static str, Documentation)> {
    tables(definitions)
        .map(|t| (t.name, (t.documentation)()))
        .collect()
}

/// Table functions that plan their relation arguments, and the positions.
pub fn relation_positions<D>(definitions: &[Definition<D>]) -> Vec<(&'static str, Vec<usize>)> {
    positions(definitions, false)
}

/// Table functions whose relation arguments reach them as SQL text, and
/// the positions.
pub fn textual_positions<D>(definitions: &[Definition<D>]) -> Vec<(&'static str, Vec<usize>)> {
    positions(definitions, true)
}

fn positions<D>(definitions: &[Definition<D>], textual: bool) -> Vec<(&'static str, Vec<usize>)> {
    tables(definitions)
        .filter(|t| t.textual == textual)
        .map(|t| (t.name, t.params.relation_positions()))
        .filter(|(_, positions)| !positions.is_empty())
        .collect()
}

/// Positions where quoted text names a model rather than a relation.
pub fn model_positions<D>(definitions: &[Definition<D>]) -> Vec<(&'static str, usize)> {
    tables(definitions)
        .flat_map(|t| {
            t.params
                .relation_positions()
                .into_iter()
                .filter(move |&p| t.params.names_model(p))
                .map(move |p| (t.name, p))
        })
        .collect()
}

/// The scalars that resolve a model when planned.
pub fn registry_bound<D>(definitions: &[Definition<D>]) -> Vec<&'static str> {
    definitions
        .iter()
        .filter_map(|d| match d {
            Definition::ModelScalar(name, _) => Some(*name),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::error::SqlStateError;
    use crate::model::{LoadedModel, ModelRef, ModelStore};
    use crate::{Services, functions};

    #[derive(Debug)]
    struct NoModels;

    impl ModelStore for NoModels {
        fn resolve(&self, reference: &str) -> Result<ModelRef, SqlStateError> {
            Err(SqlStateError::bad_argument(format!("no model {reference}")))
        }

        fn load(&self, model: &ModelRef) -> Result<Arc<LoadedModel>, SqlStateError> {
            Err(SqlStateError::bad_argument(format!("no model {model}")))
        }
    }

    fn registered() -> SessionContext {
        let ctx = SessionContext::new();
        let services = Services::unlogged(Arc::new(NoModels));
        crate::register_all(&ctx, &services, &[]).expect("registers");
        ctx
    }

    #[test]
    fn helpers_behind_table_functions_are_not_registered() {
        let state = registered().state();
        let hidden: Vec<&String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .filter(|name| name.starts_with("__quarry"))
            .collect();
        assert!(hidden.is_empty(), "callable helpers: {hidden:?}");
    }

    #[test]
    fn every_function_is_named_ml_and_defined_once() {
        let state = registered().state();
        let ours = functions::all().len();
        let tables = table_docs(&functions::all());
        let names: HashSet<&str> = tables.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names.len(),
            tables.len(),
            "a table function is listed twice"
        );
        let registered = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .filter(|name| name.starts_with("ml_"))
            .count();
        assert_eq!(registered + tables.len(), ours);
        assert!(names.iter().all(|name| name.starts_with("ml_")));
    }

    #[test]
    fn registry_bound_scalars_are_the_scoring_ones() {
        assert_eq!(
            *functions::REGISTRY_BOUND,
            [
                "ml_predict",
                "ml_predict_proba",
                "ml_predict_interval",
                "ml_predict_arm"
            ]
        );
    }
}
