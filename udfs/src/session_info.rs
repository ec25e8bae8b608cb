//! Who is running a statement, carried in the session's configuration so
//! functions (here or on a cluster worker) can read it without server state.
//! Clients cannot change it: `SET` only reaches `datafusion.*` settings.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;

extensions_options! {
    /// Quarry's per-session facts.
    pub struct SessionInfo {
        /// The authenticated user.
        pub user: String, default = String::new()
    }
}

impl ConfigExtension for SessionInfo {
    const PREFIX: &'static str = "quarry";
}

/// The session's user, from a function's configuration.
pub fn user(config: &datafusion::config::ConfigOptions) -> String {
    config
        .extensions
        .get::<SessionInfo>()
        .map(|i| i.user.clone())
        .unwrap_or_default()
}
