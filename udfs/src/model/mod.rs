//! Models: what they consume, how they are fitted, stored and scored.
//!
//! Scoring needs only an artifact, so any process that registers these
//! functions (a cluster worker included) can score a model it can read.

pub mod artifact;
pub mod explain;
pub mod options;
pub mod preprocess;
pub mod profile;
pub mod schema;
pub mod store;
pub mod train;

#[cfg(test)]
mod golden;

pub use artifact::{Envelope, LoadedModel, Payload};
pub use options::{Algorithm, TrainOptions};
pub use schema::{Feature, FeatureKind, Label, Task};
pub use store::{ModelRef, ModelStore};
pub use train::{TrainContext, TrainedModel, train};
