//! Data quality: profiles, rule checks and outliers of a relation.

pub mod outliers;
pub mod profile;
pub mod validate;

use crate::Services;
use crate::functions::definition::Definition;

/// The data quality functions.
pub fn functions() -> Vec<Definition<Services>> {
    vec![
        Definition::table(|_| profile::ProfileUdtf),
        Definition::table(|_| validate::ValidateUdtf),
        Definition::table(|_| outliers::OutliersUdtf),
    ]
}
