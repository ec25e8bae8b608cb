//! One histogram tree learner for every tree model (issue 4): quantile
//! binning, per-node gradient histograms with the subtraction trick, exact
//! best splits with L2 regularisation, learned missing-value directions and
//! exact monotone constraints; trees stored as flat arrays for scoring.
//!
//! Written here rather than taken from a crate: `reference/ml-libs.md`
//! measured forust-ml and perpetual leaking monotone constraints, perpetual 2
//! not building on stable Rust, smartcore's and linfa's forests 12× and 30×
//! slower than scikit-learn, and LightGBM bindings needing a C++ toolchain.

pub mod bins;
pub mod flat;
pub mod forest;
pub mod gbdt;
pub mod grow;
pub mod isolation;
pub mod shap;
