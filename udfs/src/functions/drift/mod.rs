//! Drift statistics as SQL aggregates over `(value, is_current)`, one file
//! per function, and `ml_drift`, which applies them to every column.
//!
//! Each aggregate takes the reference and the current sample unioned, with a
//! flag saying which side a row is on (true = current), so one GROUP BY gives
//! drift per month or per segment, and partial states merge across
//! partitions ([`state::Sides`]). NULL values and NULL flags are skipped; a
//! statistic with an empty side is NULL. Definitions are in
//! [`crate::kernels::drift`] and SPEC §3.6.

pub mod chi2_pvalue;
pub mod js_divergence;
pub mod ks_pvalue;
pub mod ks_stat;
pub mod ml_drift;
pub mod psi;
pub mod state;
pub mod wasserstein;

use datafusion::prelude::SessionContext;

use crate::error::SqlStateError;
use crate::functions::metrics::add;

/// Default number of PSI / JS bins (deciles).
pub const DEFAULT_BINS: usize = 10;
/// Most bins a caller may ask for.
pub const MAX_BINS: usize = 1000;

/// The `bins` constant of PSI and JS divergence: a whole number in 2..=1000.
pub fn check_bins(function: &str, constants: &[f64]) -> Result<(), SqlStateError> {
    match constants {
        [] => Ok(()),
        [b] if b.fract() == 0.0 && (2.0..=MAX_BINS as f64).contains(b) => Ok(()),
        [b, ..] => Err(SqlStateError::bad_argument(format!(
            "{function}: bins must be a whole number from 2 to {MAX_BINS}, got {b}"
        ))),
    }
}

pub fn bins(constants: &[f64]) -> usize {
    constants.first().map_or(DEFAULT_BINS, |&b| b as usize)
}

/// Registers the drift aggregates (and the hidden one behind `ml_drift`).
pub fn register(ctx: &SessionContext) {
    add::<psi::Psi>(ctx);
    add::<js_divergence::JsDivergence>(ctx);
    add::<ks_stat::KsStat>(ctx);
    add::<ks_pvalue::KsPvalue>(ctx);
    add::<wasserstein::Wasserstein>(ctx);
    add::<chi2_pvalue::Chi2Pvalue>(ctx);
    ctx.register_udaf(ml_drift::drift_aggregate());
}
