//! Where scoring functions find models: a trait the host implements.
//!
//! The server implements it over its registry; a cluster worker could
//! implement it over an object store. References resolve to a concrete
//! `name@version` when a query is planned, so a query finishes on the version
//! it started with even if a deploy switches the alias meanwhile.

use std::sync::Arc;

use super::artifact::LoadedModel;
use super::schema::Result;

/// A concrete model version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelRef {
    pub name: String,
    pub version: u32,
}

/// A model name as written to its stored form: lower case, unless quoted
/// (`"Churn"`), which keeps it exactly, as PostgreSQL identifiers do.
pub fn normalize_name(name: &str) -> String {
    let t = name.trim();
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        t[1..t.len() - 1].replace("\"\"", "\"")
    } else {
        t.to_lowercase()
    }
}

/// A stored model name as it must be written to mean itself: quoted when
/// lower-casing would change it.
pub fn quote_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.chars().any(|c| c.is_uppercase() || c == '"') || name.trim() != name {
        std::borrow::Cow::Owned(format!("\"{}\"", name.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

impl ModelRef {
    /// Parses `name@N`, the pinned form; anything else is `None`.
    pub fn parse_pinned(reference: &str) -> Option<ModelRef> {
        let (name, version) = reference.rsplit_once('@')?;
        let version = version.parse::<u32>().ok()?;
        Some(ModelRef {
            name: normalize_name(name),
            version,
        })
    }
}

impl std::fmt::Display for ModelRef {
    /// The pinned reference, which [`ModelRef::parse_pinned`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", quote_name(&self.name), self.version)
    }
}

/// Resolves model references and loads artifacts.
pub trait ModelStore: Send + Sync + std::fmt::Debug {
    /// `'name'` (production alias, else latest), `'name@3'`, `'name@alias'`.
    fn resolve(&self, reference: &str) -> Result<ModelRef>;

    /// How a bare model name splits its rows now ([`super::route`]):
    /// `None` for a pinned or aliased reference, or when production serves
    /// every row.
    fn route(&self, _reference: &str) -> Result<Option<super::route::Route>> {
        Ok(None)
    }

    /// The loaded artifact of a version; implementations cache it.
    fn load(&self, model: &ModelRef) -> Result<Arc<LoadedModel>>;

    /// The training profile kept with a version (`model::profile`), for
    /// drift checks without the training data.
    fn profile(&self, model: &ModelRef) -> Result<serde_json::Value> {
        Err(crate::error::SqlStateError::unsupported(format!(
            "model {model}: this model store keeps no training profiles"
        )))
    }
    /// Whether the session whose configuration is `config` may read what
    /// `model` learned without scoring with it (its feature importance,
    /// its training profile): a store that keeps privileges answers as it
    /// answers for scoring, `42501` when not. Functions that score plan
    /// `ml_predict` calls, which are checked where they are planned.
    fn authorize_read(
        &self,
        _config: &datafusion::config::ConfigOptions,
        _model: &ModelRef,
    ) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_references_parse() {
        assert_eq!(
            ModelRef::parse_pinned("Churn@12"),
            Some(ModelRef {
                name: "churn".into(),
                version: 12
            })
        );
        assert_eq!(ModelRef::parse_pinned("churn@production"), None);
        // A quoted name keeps its case, and writes back quoted.
        let mixed = ModelRef {
            name: "Churn Model".into(),
            version: 2,
        };
        assert_eq!(mixed.to_string(), "\"Churn Model\"@2");
        assert_eq!(ModelRef::parse_pinned(&mixed.to_string()), Some(mixed));
        assert_eq!(ModelRef::parse_pinned("churn"), None);
    }
}
