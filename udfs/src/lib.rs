//! Quarry's SQL functions as a DataFusion extension.
//!
//! Everything here registers into any [`SessionContext`]: no networking, no server
//! state, so a worker of a DataFusion cluster can register the same functions.

pub mod error;

use datafusion::error::Result;
use datafusion::prelude::SessionContext;

pub use error::{SqlStateError, sqlstate};

/// Registers every Quarry function into `ctx`.
pub fn register_all(_ctx: &SessionContext) -> Result<()> {
    Ok(())
}
