//! The access rules in the store: roles are `users` rows, memberships
//! `role_members`, grants `privileges`, owners `owners` (tables created
//! with the catalog's, `catalog::store`). Every change is one SQLite
//! transaction and advances the store's ACL epoch.

use std::collections::HashMap;

use pgwire::api::auth::sasl::scram::{SCRAM_ITERATIONS, gen_salted_password};
use rusqlite::{OptionalExtension, Transaction, params};

use super::{
    AUDITOR, Acl, Grant, Membership, ObjectKind, PUBLIC, Privilege, READ_SERVER_FILES, Role,
    WRITE_SERVER_FILES,
};
use crate::catalog::store::{Store, store_err};
use crate::error::{Result, SqlStateError, sqlstate};

/// PostgreSQL numbers the bootstrap superuser 10 and others from 16384.
const BOOTSTRAP_OID: i64 = 10;
const FIRST_OID: i64 = 16384;

/// Makes the predefined roles and PostgreSQL's default grant (`USAGE` on
/// schema `public` to `PUBLIC`), once: a later `REVOKE` of it stays.
pub fn ensure_schema(store: &Store) -> Result<()> {
    store.execute_batch(super::secrets::SCHEMA)?;
    store.with_checked_tx(|tx| {
        for role in [READ_SERVER_FILES, WRITE_SERVER_FILES, AUDITOR] {
            tx.execute(
                "INSERT OR IGNORE INTO users (name, superuser, login) VALUES (?1, 0, 0)",
                [role],
            )
            .map_err(store_err)?;
        }
        let done: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'acl_defaults'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(store_err)?;
        if done.is_none() {
            tx.execute(
                "INSERT OR IGNORE INTO privileges (object_kind, object, privilege, grantee, grantor)
                 VALUES ('schema', 'public', 'USAGE', ?1, '')",
                [PUBLIC],
            )
            .map_err(store_err)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('acl_defaults', '1')",
                [],
            )
            .map_err(store_err)?;
        }
        Ok(())
    })?;
    store.acl_changed();
    Ok(())
}

/// Every rule, read in one go.
pub fn load(store: &Store, bootstrap: &str) -> Result<Acl> {
    store.with_conn(|c| {
        let mut roles = HashMap::new();
        let mut stmt = c.prepare(
            "SELECT rowid, name, superuser, login, create_role, inherit, salted_password IS NOT NULL
             FROM users",
        )?;
        for row in stmt.query_map([], |r| {
            let name: String = r.get(1)?;
            let rowid: i64 = r.get(0)?;
            Ok(Role {
                oid: if name == bootstrap {
                    BOOTSTRAP_OID
                } else {
                    FIRST_OID + rowid
                },
                name,
                superuser: r.get::<_, i64>(2)? != 0,
                login: r.get::<_, i64>(3)? != 0,
                create_role: r.get::<_, i64>(4)? != 0,
                inherit: r.get::<_, i64>(5)? != 0,
                has_password: r.get(6)?,
            })
        })? {
            let role = row?;
            roles.insert(role.name.clone(), role);
        }
        let memberships = c
            .prepare("SELECT role, member, grantor, admin_option FROM role_members")?
            .query_map([], |r| {
                Ok(Membership {
                    role: r.get(0)?,
                    member: r.get(1)?,
                    grantor: r.get(2)?,
                    admin: r.get::<_, i64>(3)? != 0,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut grants: HashMap<(ObjectKind, String), Vec<Grant>> = HashMap::new();
        let mut stmt = c.prepare(
            "SELECT object_kind, object, privilege, grantee, grantor, grantable FROM privileges",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)? != 0,
            ))
        })?;
        for row in rows {
            let (kind, object, privilege, grantee, grantor, grantable) = row?;
            let (Some(kind), Some(privilege)) =
                (ObjectKind::from_key(&kind), Privilege::parse(&privilege))
            else {
                continue;
            };
            grants.entry((kind, object)).or_default().push(Grant {
                privilege,
                grantee,
                grantor,
                grantable,
            });
        }
        let mut owners = HashMap::new();
        // A model's owner is who created it (`ml_models.created_by`),
        // unless `ALTER MODEL ... OWNER TO` recorded another.
        let registry: bool = c.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'ml_models'",
            [],
            |r| r.get(0),
        )?;
        if registry {
            let mut stmt = c.prepare("SELECT name, created_by FROM ml_models")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (name, owner) = row?;
                owners.insert((ObjectKind::Model, name), owner);
            }
        }
        let mut stmt = c.prepare("SELECT object_kind, object, owner FROM owners")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (kind, object, owner) = row?;
            if let Some(kind) = ObjectKind::from_key(&kind) {
                owners.insert((kind, object), owner);
            }
        }
        Ok(Acl {
            roles,
            memberships,
            grants,
            owners,
            bootstrap: bootstrap.to_string(),
        })
    })
}

/// What `CREATE ROLE` / `ALTER ROLE` set; `None` leaves an attribute as
/// it is (or at its default, for a new role).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleAttributes {
    pub superuser: Option<bool>,
    pub login: Option<bool>,
    pub create_role: Option<bool>,
    pub inherit: Option<bool>,
    /// `Some(None)`: `PASSWORD NULL`.
    pub password: Option<Option<String>>,
}

fn salted(password: &str) -> (Vec<u8>, Vec<u8>) {
    let salt: [u8; 16] = rand::random();
    let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
    (salt.to_vec(), salted)
}

fn role_exists(tx: &Transaction<'_>, name: &str) -> Result<bool> {
    tx.query_row("SELECT 1 FROM users WHERE name = ?1", [name], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
        .map_err(store_err)
}

fn no_role(name: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::UNDEFINED_OBJECT,
        format!("role \"{name}\" does not exist"),
    )
}

/// `CREATE ROLE`: `42710` when the name is taken.
pub fn create_role(
    store: &Store,
    name: &str,
    attributes: &RoleAttributes,
    login_default: bool,
    in_roles: &[String],
    grantor: &str,
) -> Result<()> {
    if name.eq_ignore_ascii_case(PUBLIC) || name.starts_with("pg_") {
        return Err(SqlStateError::new(
            sqlstate::RESERVED_NAME,
            format!("role name \"{name}\" is reserved"),
        ));
    }
    store.with_checked_tx(|tx| {
        if role_exists(tx, name)? {
            return Err(SqlStateError::new(
                sqlstate::DUPLICATE_OBJECT,
                format!("role \"{name}\" already exists"),
            ));
        }
        let (salt, salted) = match attributes.password.clone().flatten() {
            Some(p) => {
                let (salt, salted) = salted(&p);
                (Some(salt), Some(salted))
            }
            None => (None, None),
        };
        tx.execute(
            "INSERT INTO users (name, salt, salted_password, superuser, login, create_role, inherit)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                name,
                salt,
                salted,
                attributes.superuser.unwrap_or(false),
                attributes.login.unwrap_or(login_default),
                attributes.create_role.unwrap_or(false),
                attributes.inherit.unwrap_or(true),
            ],
        )
        .map_err(store_err)?;
        for role in in_roles {
            add_member(tx, role, name, grantor, false)?;
        }
        Ok(())
    })?;
    store.acl_changed();
    Ok(())
}

/// `ALTER ROLE ... [WITH] attributes`.
pub fn alter_role(store: &Store, name: &str, attributes: &RoleAttributes) -> Result<()> {
    store.with_checked_tx(|tx| {
        if !role_exists(tx, name)? {
            return Err(no_role(name));
        }
        let set = |column: &str, value: Option<bool>| -> Result<()> {
            if let Some(v) = value {
                tx.execute(
                    &format!("UPDATE users SET {column} = ?2 WHERE name = ?1"),
                    params![name, v],
                )
                .map_err(store_err)?;
            }
            Ok(())
        };
        set("superuser", attributes.superuser)?;
        set("login", attributes.login)?;
        set("create_role", attributes.create_role)?;
        set("inherit", attributes.inherit)?;
        if let Some(password) = &attributes.password {
            let (salt, salted) = match password {
                Some(p) => {
                    let (salt, salted) = salted(p);
                    (Some(salt), Some(salted))
                }
                None => (None, None),
            };
            tx.execute(
                "UPDATE users SET salt = ?2, salted_password = ?3 WHERE name = ?1",
                params![name, salt, salted],
            )
            .map_err(store_err)?;
        }
        Ok(())
    })?;
    store.acl_changed();
    Ok(())
}

/// `ALTER ROLE name RENAME TO new`: memberships, grants and ownerships
/// follow. PostgreSQL clears an MD5 password here; SCRAM's salted password
/// does not depend on the name, so it is kept.
pub fn rename_role(store: &Store, name: &str, new: &str) -> Result<()> {
    store.with_checked_tx(|tx| {
        if !role_exists(tx, name)? {
            return Err(no_role(name));
        }
        if role_exists(tx, new)? {
            return Err(SqlStateError::new(
                sqlstate::DUPLICATE_OBJECT,
                format!("role \"{new}\" already exists"),
            ));
        }
        for sql in [
            "UPDATE users SET name = ?2 WHERE name = ?1",
            "UPDATE role_members SET role = ?2 WHERE role = ?1",
            "UPDATE role_members SET member = ?2 WHERE member = ?1",
            "UPDATE privileges SET grantee = ?2 WHERE grantee = ?1",
            "UPDATE privileges SET grantor = ?2 WHERE grantor = ?1",
            "UPDATE owners SET owner = ?2 WHERE owner = ?1",
        ] {
            tx.execute(sql, params![name, new]).map_err(store_err)?;
        }
        Ok(())
    })?;
    store.acl_changed();
    Ok(())
}

/// `DROP ROLE`: refused (`2BP01`) while it owns anything, as PostgreSQL's;
/// its memberships and grants go with it. `false` when there was none.
pub fn drop_role(store: &Store, name: &str) -> Result<bool> {
    let dropped = store.with_checked_tx(|tx| {
        if !role_exists(tx, name)? {
            return Ok(false);
        }
        let count = |sql: &str| -> Result<i64> {
            tx.query_row(sql, [name], |r| r.get(0)).map_err(store_err)
        };
        let owned = count("SELECT count(*) FROM owners WHERE owner = ?1")?;
        let granted = count("SELECT count(*) FROM privileges WHERE grantee = ?1")?;
        if owned > 0 || granted > 0 {
            let mut detail = Vec::new();
            if owned > 0 {
                detail.push(format!("owner of {owned} object(s)"));
            }
            if granted > 0 {
                detail.push(format!("{granted} privilege(s) granted to it"));
            }
            return Err(SqlStateError::new(
                sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                format!("role \"{name}\" cannot be dropped because some objects depend on it"),
            )
            .with_detail(detail.join("; "))
            .with_hint("REVOKE its privileges, and drop what it owns or give it to another role with ALTER ... OWNER TO"));
        }
        for sql in [
            "DELETE FROM role_members WHERE role = ?1 OR member = ?1",
            "DELETE FROM users WHERE name = ?1",
        ] {
            tx.execute(sql, [name]).map_err(store_err)?;
        }
        Ok(true)
    })?;
    store.acl_changed();
    Ok(dropped)
}

fn add_member(
    tx: &Transaction<'_>,
    role: &str,
    member: &str,
    grantor: &str,
    admin: bool,
) -> Result<()> {
    for name in [role, member] {
        if !role_exists(tx, name)? {
            return Err(no_role(name));
        }
    }
    tx.execute(
        "INSERT INTO role_members (role, member, grantor, admin_option) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (role, member) DO UPDATE SET admin_option = max(admin_option, excluded.admin_option)",
        params![role, member, grantor, admin],
    )
    .map_err(store_err)?;
    Ok(())
}

/// `GRANT role TO member`.
pub fn grant_membership(
    store: &Store,
    role: &str,
    member: &str,
    grantor: &str,
    admin: bool,
) -> Result<()> {
    store.with_checked_tx(|tx| add_member(tx, role, member, grantor, admin))?;
    store.acl_changed();
    Ok(())
}

/// `REVOKE role FROM member`; `false` when it was not a member.
pub fn revoke_membership(store: &Store, role: &str, member: &str) -> Result<bool> {
    let n = store.with_checked_tx(|tx| {
        for name in [role, member] {
            if !role_exists(tx, name)? {
                return Err(no_role(name));
            }
        }
        tx.execute(
            "DELETE FROM role_members WHERE role = ?1 AND member = ?2",
            params![role, member],
        )
        .map_err(store_err)
    })?;
    store.acl_changed();
    Ok(n > 0)
}

/// One object a `GRANT` or `REVOKE` names.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: ObjectKind,
    pub key: String,
}

/// `GRANT privileges ON targets TO grantees`, in one transaction.
pub fn grant(
    store: &Store,
    targets: &[Target],
    privileges: &[Privilege],
    grantees: &[String],
    grantor: &str,
    grantable: bool,
) -> Result<()> {
    store.with_checked_tx(|tx| {
        for grantee in grantees {
            if grantee != PUBLIC && !role_exists(tx, grantee)? {
                return Err(no_role(grantee));
            }
        }
        for t in targets {
            for p in privileges {
                for grantee in grantees {
                    tx.execute(
                        "INSERT INTO privileges (object_kind, object, privilege, grantee, grantor, grantable)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (object_kind, object, privilege, grantee)
                         DO UPDATE SET grantable = max(grantable, excluded.grantable)",
                        params![t.kind.key(), t.key, p.name(), grantee, grantor, grantable],
                    )
                    .map_err(store_err)?;
                }
            }
        }
        Ok(())
    })?;
    store.acl_changed();
    Ok(())
}

/// `REVOKE [GRANT OPTION FOR] privileges ON targets FROM grantees`.
pub fn revoke(
    store: &Store,
    targets: &[Target],
    privileges: &[Privilege],
    grantees: &[String],
    grant_option_only: bool,
) -> Result<()> {
    store.with_checked_tx(|tx| {
        for grantee in grantees {
            if grantee != PUBLIC && !role_exists(tx, grantee)? {
                return Err(no_role(grantee));
            }
        }
        let sql = if grant_option_only {
            "UPDATE privileges SET grantable = 0
             WHERE object_kind = ?1 AND object = ?2 AND privilege = ?3 AND grantee = ?4"
        } else {
            "DELETE FROM privileges
             WHERE object_kind = ?1 AND object = ?2 AND privilege = ?3 AND grantee = ?4"
        };
        for t in targets {
            for p in privileges {
                for grantee in grantees {
                    tx.execute(sql, params![t.kind.key(), t.key, p.name(), grantee])
                        .map_err(store_err)?;
                }
            }
        }
        Ok(())
    })?;
    store.acl_changed();
    Ok(())
}

/// `ALTER ... OWNER TO role`, or recording the creator of an object made
/// outside the catalog's own commit (a model).
pub fn set_owner(store: &Store, kind: ObjectKind, key: &str, owner: &str) -> Result<()> {
    store.with_checked_tx(|tx| {
        if !role_exists(tx, owner)? {
            return Err(no_role(owner));
        }
        tx.execute(
            "INSERT OR REPLACE INTO owners (object_kind, object, owner) VALUES (?1, ?2, ?3)",
            params![kind.key(), key, owner],
        )
        .map_err(store_err)?;
        Ok(())
    })?;
    store.acl_changed();
    Ok(())
}

/// An object gone outside the catalog's commit (a model dropped): its
/// owner and grants go.
pub fn forget(store: &Store, kind: ObjectKind, key: &str) -> Result<()> {
    store.with_checked_tx(|tx| crate::catalog::store::forget_object(tx, kind.key(), key))?;
    store.acl_changed();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("catalog.db")).expect("store");
        ensure_schema(&store).expect("schema");
        (dir, store)
    }

    #[test]
    fn roles_memberships_and_grants_round_trip() {
        let (_dir, store) = store();
        let attrs = RoleAttributes {
            password: Some(Some("pw".into())),
            ..RoleAttributes::default()
        };
        create_role(
            &store,
            "analyst",
            &RoleAttributes::default(),
            false,
            &[],
            "q",
        )
        .expect("role");
        create_role(&store, "alice", &attrs, true, &["analyst".into()], "q").expect("user");
        grant(
            &store,
            &[Target {
                kind: ObjectKind::Relation,
                key: "t1".into(),
            }],
            &[Privilege::Select],
            &["analyst".into()],
            "q",
            false,
        )
        .expect("grant");
        let acl = load(&store, "quarry").expect("load");
        let alice = acl.role("alice").expect("alice");
        assert!(alice.login && alice.has_password && !alice.superuser);
        assert!(!acl.role("analyst").expect("analyst").login);
        assert!(acl.allowed("alice", ObjectKind::Relation, "t1", Privilege::Select));
        assert!(acl.allowed("alice", ObjectKind::Schema, "public", Privilege::Usage));
        rename_role(&store, "analyst", "analysts").expect("rename");
        let acl = load(&store, "quarry").expect("load");
        assert!(acl.allowed("alice", ObjectKind::Relation, "t1", Privilege::Select));
        assert!(revoke_membership(&store, "analysts", "alice").expect("revoke"));
        let acl = load(&store, "quarry").expect("load");
        assert!(!acl.allowed("alice", ObjectKind::Relation, "t1", Privilege::Select));
    }

    #[test]
    fn an_owner_cannot_be_dropped_and_names_are_unique() {
        let (_dir, store) = store();
        create_role(&store, "bob", &RoleAttributes::default(), true, &[], "q").expect("bob");
        let taken = create_role(&store, "bob", &RoleAttributes::default(), true, &[], "q")
            .expect_err("taken");
        assert_eq!(taken.code, sqlstate::DUPLICATE_OBJECT);
        set_owner(&store, ObjectKind::Model, "churn", "bob").expect("owner");
        let err = drop_role(&store, "bob").expect_err("owns a model");
        assert_eq!(err.code, sqlstate::DEPENDENT_OBJECTS_STILL_EXIST);
        forget(&store, ObjectKind::Model, "churn").expect("forget");
        assert!(drop_role(&store, "bob").expect("drop"));
        assert!(!drop_role(&store, "bob").expect("gone"));
    }

    #[test]
    fn the_default_usage_on_public_is_granted_once() {
        let (_dir, store) = store();
        revoke(
            &store,
            &[Target {
                kind: ObjectKind::Schema,
                key: "public".into(),
            }],
            &[Privilege::Usage],
            &[PUBLIC.into()],
            false,
        )
        .expect("revoke");
        ensure_schema(&store).expect("again");
        let acl = load(&store, "quarry").expect("load");
        assert!(!acl.allowed("nobody", ObjectKind::Schema, "public", Privilege::Usage));
    }
}
