//! Pure numeric kernels on slices: no Arrow, no DataFusion. Each is unit-tested
//! against values computed by hand or by NumPy/scikit-learn.

pub mod bootstrap;
pub mod calibration;
pub mod drift;
pub mod ks;
pub mod linalg;
pub mod metrics;
pub mod optimize;
pub mod spc;
pub mod stationarity;
pub mod tree;
