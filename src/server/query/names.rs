//! Relation names in statements, resolved as PostgreSQL resolves them:
//! against the session's current schema (`search_path`), unquoted parts
//! folded to lower case.

use datafusion::common::TableReference;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName};

use crate::catalog::{CATALOG_NAME, RelName};
use crate::error::{Result, SqlStateError, sqlstate};
use crate::session::Session;

/// An identifier as PostgreSQL folds it: quoted as written, else lower case.
pub(super) fn folded(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// Resolves a name against the session's current schema.
pub(super) fn rel_name(session: &Session, name: &TableReference) -> Result<RelName> {
    let default_schema = session.default_schema();
    let resolved = name.clone().resolve(CATALOG_NAME, &default_schema);
    Ok(RelName::new(
        resolved.schema.to_string(),
        resolved.table.to_string(),
    ))
}

/// A relation a statement names (`t`, `s.t` or `db.s.t`), resolved against
/// the session's current schema.
pub(super) fn object_name(session: &Session, name: &ObjectName) -> Result<RelName> {
    rel_name(session, &table_reference(name)?)
}

/// The reference a relation's name makes (`t`, `s.t` or `db.s.t`), its
/// parts folded; the database part is kept for DataFusion to check.
pub(super) fn table_reference(name: &ObjectName) -> Result<TableReference> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(folded)
        .collect();
    Ok(match parts.as_slice() {
        [t] => TableReference::bare(t.as_str()),
        [s, t] => TableReference::partial(s.as_str(), t.as_str()),
        [c, s, t] => TableReference::full(c.as_str(), s.as_str(), t.as_str()),
        _ => {
            return Err(SqlStateError::new(
                sqlstate::SYNTAX_ERROR,
                format!("improper relation name (too many dotted names): {name}"),
            ));
        }
    })
}

/// The last part of a name (a schema's, in `CREATE SCHEMA` and `DROP SCHEMA`).
pub(super) fn object_name_last(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(folded)
        .unwrap_or_default()
}
