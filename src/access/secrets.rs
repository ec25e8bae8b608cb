//! Secrets: keys the server makes, keeps and never shows, for
//! `ml_pseudonymize` (HMAC-SHA-256 of a value under a secret).
//!
//! `CREATE SECRET name` draws 32 bytes from the operating system's random
//! source and stores them in the catalog; no statement or function reads
//! them back. The creator owns the secret; others use it with `GRANT USAGE
//! ON SECRET name TO role`. A secret is never changed: rotating one is
//! making a new one (`CREATE SECRET customers_2027`) and moving the views
//! that pseudonymize to it, so pseudonyms made under the old one stay
//! reproducible until it is dropped. `DROP SECRET` makes every pseudonym
//! made with it unlinkable for good (the key is gone).
//!
//! The key sits in the catalog file (`catalog.db`), readable by whoever
//! can read the data directory, as the data itself is.

use rusqlite::{OptionalExtension, params};

use super::ObjectKind;
use crate::catalog::store::{Store, store_err};
use crate::error::{Result, SqlStateError, sqlstate};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS secrets (
    name       TEXT PRIMARY KEY,
    key        BLOB NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"#;

/// A secret name as stored: unquoted names fold to lower case upstream.
fn no_secret(name: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::UNDEFINED_OBJECT,
        format!("secret \"{name}\" does not exist"),
    )
    .with_hint("CREATE SECRET name makes one")
}

/// `CREATE SECRET name`, owned by `owner`.
pub fn create(store: &Store, name: &str, owner: &str) -> Result<()> {
    let key: [u8; 32] = rand::random();
    store.with_checked_tx(|tx| {
        let exists = tx
            .query_row("SELECT 1 FROM secrets WHERE name = ?1", [name], |_| Ok(()))
            .optional()
            .map_err(store_err)?
            .is_some();
        if exists {
            return Err(SqlStateError::new(
                sqlstate::DUPLICATE_OBJECT,
                format!("secret \"{name}\" already exists"),
            )
            .with_hint("a secret never changes: rotate by creating one under a new name"));
        }
        tx.execute(
            "INSERT INTO secrets (name, key, created_by) VALUES (?1, ?2, ?3)",
            params![name, key.as_slice(), owner],
        )
        .map_err(store_err)?;
        tx.execute(
            "INSERT OR REPLACE INTO owners (object_kind, object, owner) VALUES (?1, ?2, ?3)",
            params![ObjectKind::Secret.key(), name, owner],
        )
        .map_err(store_err)?;
        Ok(())
    })?;
    store.acl_changed();
    Ok(())
}

/// Whether secret `name` exists.
pub fn exists(store: &Store, name: &str) -> Result<bool> {
    store.with_conn(|c| {
        Ok(
            c.query_row("SELECT 1 FROM secrets WHERE name = ?1", [name], |_| Ok(()))
                .optional()?
                .is_some(),
        )
    })
}

/// `DROP SECRET name`: the key, its owner and its grants go in one
/// transaction. `false` when it did not exist.
pub fn drop(store: &Store, name: &str) -> Result<bool> {
    let gone = store.with_checked_tx(|tx| {
        let n = tx
            .execute("DELETE FROM secrets WHERE name = ?1", [name])
            .map_err(store_err)?;
        crate::catalog::store::forget_object(tx, ObjectKind::Secret.key(), name)?;
        Ok(n > 0)
    })?;
    store.acl_changed();
    Ok(gone)
}

/// The key of secret `name`, for `ml_pseudonymize` only; 42704 when there
/// is none.
pub fn key(store: &Store, name: &str) -> Result<Vec<u8>> {
    store
        .with_conn(|c| {
            c.query_row("SELECT key FROM secrets WHERE name = ?1", [name], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()
        })?
        .ok_or_else(|| no_secret(name))
}

/// 42704 for an unknown secret.
pub fn unknown(name: &str) -> SqlStateError {
    no_secret(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_made_once_and_dropped_with_its_grants() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("catalog.db")).expect("store");
        super::super::store::ensure_schema(&store).expect("schema");
        create(&store, "s1", "alice").expect("create");
        create(&store, "s2", "alice").expect("create");
        let (k1, k2) = (
            key(&store, "s1").expect("k1"),
            key(&store, "s2").expect("k2"),
        );
        assert_eq!(k1.len(), 32);
        assert_ne!(k1, k2);
        assert_eq!(
            create(&store, "s1", "bob").expect_err("twice").code,
            sqlstate::DUPLICATE_OBJECT
        );
        assert_eq!(key(&store, "s1").expect("unchanged"), k1);
        assert!(drop(&store, "s1").expect("drop"));
        assert!(!drop(&store, "s1").expect("again"));
        assert_eq!(
            key(&store, "s1").expect_err("gone").code,
            sqlstate::UNDEFINED_OBJECT
        );
        assert!(exists(&store, "s2").expect("exists"));
    }
}
