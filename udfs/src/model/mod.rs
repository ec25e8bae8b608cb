//! Models: what they consume, how they are fitted, stored and scored.
//!
//! | module       | holds |
//! |--------------|-------|
//! | `algorithms` | one module per model family: options, fit, scoring, explanation |
//! | `options`    | the options every algorithm takes, and the option tables of the docs |
//! | `train`      | the training run, phase by phase, from rows to a fitted, evaluated model |
//! | `preprocess` | the preprocessing a model carries (fitted on training rows, replayed when scoring) |
//! | `artifact`   | the stored form of a model and the loaded form that scores Arrow arrays |
//! | `explain`    | per-row explanations, summed back into input features |
//! | `profile`    | the training profile a model keeps for drift checks |
//! | `schema`     | features, labels, tasks |
//! | `store`      | where scoring functions find models |
//! | `serving`    | what scoring reports to the host: live metrics and the prediction log |
//!
//! Scoring needs only an artifact, so any process that registers these
//! functions (a cluster worker included) can score a model it can read.

pub mod algorithms;
pub mod artifact;
pub mod explain;
pub mod lime;
pub mod options;
pub mod preprocess;
pub mod profile;
pub mod route;
pub mod schema;
pub mod serving;
pub mod store;
pub mod train;

#[cfg(test)]
mod golden;

pub use algorithms::{Algorithm, Payload};
pub use artifact::{Envelope, LoadedModel};
pub use options::TrainOptions;
pub use schema::{Feature, FeatureKind, Label, Task};
pub use store::{ModelRef, ModelStore};
pub use train::{TrainContext, TrainedModel, train};
