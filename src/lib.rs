//! Quarry: a PostgreSQL-wire query server for data mining on Apache DataFusion.
//!
//! The binary is a thin wrapper around [`server::Server`]; tests start the same
//! server in-process on port 0.

pub mod access;
pub mod audit;
pub mod catalog;
pub mod compat;
pub mod complexity;
pub mod config;
pub mod demo;
pub mod dialect;
pub mod docs;
pub mod error;
pub mod governance;
pub mod lifecycle;
pub mod registry;
pub mod server;
pub mod serving;
pub mod session;
pub mod statements;
pub mod sync;
pub mod usage;

pub use config::Config;
pub use server::Server;
