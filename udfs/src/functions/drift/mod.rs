//! Drift statistics as SQL aggregates over `(value, is_current)`, one file
//! per function, and `ml_drift`, which applies them to every column.
//!
//! Each aggregate takes the reference and the current sample unioned, with a
//! flag saying which side a row is on (true = current), so one GROUP BY gives
//! drift per month or per segment, and partial states merge across
//! partitions ([`state::Sides`]). NULL values and NULL flags are skipped; a
//! statistic with an empty side is NULL. Definitions are in
//! [`crate::kernels::drift`] and SPEC §3.6.

pub mod binned;
pub mod chi2_pvalue;
pub mod findings;
pub mod js_divergence;
pub mod ks_pvalue;
pub mod ks_stat;
pub mod ml_drift;
pub mod psi;
pub mod state;
pub mod wasserstein;

use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::Definition;
use crate::functions::metrics::metric;
use crate::kernels::drift::{binned_unsorted, categorical};
use state::{Either, Sides};

/// Default number of PSI / JS bins (deciles).
pub const DEFAULT_BINS: usize = 10;
/// Most bins a caller may ask for.
pub const MAX_BINS: usize = 1000;

/// The `bins` constant of PSI and JS divergence: a whole number in 2..=1000.
pub fn check_bins(function: &str, constants: &[f64]) -> Result<(), SqlStateError> {
    match constants {
        [] => Ok(()),
        [b] if b.fract() == 0.0 && (2.0..=MAX_BINS as f64).contains(b) => Ok(()),
        [b, ..] => Err(SqlStateError::arg(
            function,
            "bins",
            format!("must be a whole number from 2 to {MAX_BINS}"),
            b,
        )),
    }
}

pub fn bins(constants: &[f64]) -> usize {
    constants.first().map_or(DEFAULT_BINS, |&b| b as usize)
}

/// (PSI, Jensen-Shannon divergence) of the two sides, over the reference's
/// quantile bins for numbers or per category; None when a side is empty.
pub fn divergences(state: &mut Sides<Either>, constants: &[f64]) -> Option<(f64, f64)> {
    if !state.numeric {
        return categorical(&state.counts);
    }
    let (reference, current) = state.unsorted();
    if reference.is_empty() || current.is_empty() {
        return None;
    }
    Some(binned_unsorted(reference, current, bins(constants)))
}

/// The drift functions.
pub fn functions() -> Vec<Definition<Services>> {
    vec![
        metric::<psi::PsiUdaf>(),
        metric::<js_divergence::JsDivergenceUdaf>(),
        metric::<ks_stat::KsStatUdaf>(),
        metric::<ks_pvalue::KsPvalueUdaf>(),
        metric::<wasserstein::WassersteinUdaf>(),
        metric::<chi2_pvalue::Chi2PvalueUdaf>(),
        Definition::table(ml_drift::DriftUdtf::new),
    ]
}
