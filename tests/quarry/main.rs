//! Quarry's integration tests: one binary, real servers, real clients.
//!
//! Every test starts a server in-process on port 0 with its own data directory
//! (`harness`), except the crash tests, which run the real `quarry` binary so
//! they can kill it.

mod harness;

mod auth;
mod copy;
mod crash;
mod docs;
mod errors;
mod explain;
mod metrics;
mod ml;
mod persistence;
mod quality;
mod reuse;
mod session;
mod slt;
mod trees;
mod wire;
