//! Quarry's SQL functions as a DataFusion extension.
//!
//! Everything here registers into any [`SessionContext`]: no networking, no
//! server state. Functions that need models get a [`ModelStore`] injected, so a
//! worker of a DataFusion cluster registers the same functions over its own
//! store and scores the same immutable artifacts.

pub mod control;
pub mod error;
pub mod functions;
pub mod kernels;
pub mod model;
pub mod session_info;

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion::prelude::SessionContext;

pub use error::{SqlStateError, sqlstate};
pub use model::{ModelRef, ModelStore};

/// What functions may depend on, injected by the host.
#[derive(Debug, Clone)]
pub struct Services {
    pub models: Arc<dyn ModelStore>,
    /// Where scoring reports its calls ([`model::serving`]).
    pub sink: Arc<dyn model::serving::PredictionSink>,
}

impl Services {
    /// Scoring over `models`, reporting nothing.
    pub fn unlogged(models: Arc<dyn ModelStore>) -> Self {
        Services {
            models,
            sink: Arc::new(model::serving::NoSink),
        }
    }
}

/// Registers every Quarry function into `ctx`. Server-side table functions
/// whose relation arguments stay SQL text are named in `textual_relations`
/// (function name, positions of its relation arguments; see
/// [`functions::definition::textual_positions`]) so that they accept a bare
/// name or a parenthesized subquery too.
pub fn register_all(
    ctx: &SessionContext,
    services: &Services,
    textual_relations: &[(&'static str, Vec<usize>)],
) -> Result<()> {
    functions::definition::register(ctx, services, &functions::all(), textual_relations)
}

/// Documentation of the table functions, which DataFusion does not carry.
pub fn table_function_docs() -> Vec<(&'static str, Documentation)> {
    functions::definition::table_docs(&functions::all())
}
