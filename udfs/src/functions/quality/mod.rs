//! Data quality: profiles, rule checks and outliers of a relation.

pub mod outliers;
pub mod profile;
pub mod validate;
