//! Pure numeric kernels on slices: no Arrow, no DataFusion. Each is unit-tested
//! against values computed by hand or by NumPy/scikit-learn.

pub mod bootstrap;
pub mod calibration;
pub mod drift;
pub mod hash;
pub mod ks;
pub mod linalg;
pub mod metrics;
pub mod optimize;
pub mod parallel;
pub mod quantile;
pub mod rng;
pub mod spc;
pub mod special;
pub mod stationarity;
pub mod tree;
