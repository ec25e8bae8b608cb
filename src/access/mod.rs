//! Who may do what: roles, their memberships, owners and granted
//! privileges, as PostgreSQL keeps them, and the checks every path that
//! reads or writes data makes.
//!
//! A role is a row of the store's `users` table (a user is a role that can
//! log in); a role is a member of others (`GRANT analyst TO alice`) and,
//! when it inherits (the default), holds their privileges too, and so does
//! everyone through `PUBLIC`. Every relation, schema and model has an owner
//! (its creator; the bootstrap superuser for objects older than roles), who
//! holds every privilege on it and alone may grant them, drop or alter it.
//! A superuser passes every check.
//!
//! | module       | holds |
//! |--------------|-------|
//! | this one     | [`Acl`], the rules in memory, and [`Access`], its cache |
//! | `store`      | the SQLite tables behind them |
//! | `statements` | `CREATE/ALTER/DROP ROLE/USER`, `GRANT`, `REVOKE` parsed |
//! | `commands`   | those statements run |
//! | `analyzer`   | the check of every logical plan (tables, views, writes) |
//! | `catalogs`   | `pg_roles`, `pg_auth_members`, `has_*_privilege` |
//!
//! The rules are read from the store once per change
//! ([`crate::catalog::store::Store::acl_epoch`]), so a check is a few hash
//! lookups and a superuser's none.

pub mod analyzer;
pub mod catalogs;
pub mod commands;
pub mod pseudonymize;
pub mod secrets;
pub mod statements;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::catalog::store::Store;
use crate::error::{Result, SqlStateError, sqlstate};
use crate::sync::{read, write};

/// The pseudo-role every role is a member of.
pub const PUBLIC: &str = "public";

/// Predefined roles, as PostgreSQL's: members may read or write files on
/// the server's disk (`COPY ... FROM/TO 'file'`, `CREATE EXTERNAL TABLE`).
pub const READ_SERVER_FILES: &str = "pg_read_server_files";
pub const WRITE_SERVER_FILES: &str = "pg_write_server_files";
/// Members may read the audit log.
pub const AUDITOR: &str = "auditor";

/// What a privilege is granted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    /// A table, view, materialized view or external table (by relation id).
    Relation,
    Schema,
    Model,
    /// A key for `ml_pseudonymize` (`CREATE SECRET`).
    Secret,
}

impl ObjectKind {
    pub fn key(self) -> &'static str {
        match self {
            ObjectKind::Relation => "relation",
            ObjectKind::Schema => "schema",
            ObjectKind::Model => "model",
            ObjectKind::Secret => "secret",
        }
    }

    pub fn from_key(key: &str) -> Option<ObjectKind> {
        Some(match key {
            "relation" => ObjectKind::Relation,
            "schema" => ObjectKind::Schema,
            "model" => ObjectKind::Model,
            "secret" => ObjectKind::Secret,
            _ => return None,
        })
    }

    /// The privileges that exist on this kind of object (`ALL` grants
    /// these).
    pub fn privileges(self) -> &'static [Privilege] {
        use Privilege::*;
        match self {
            ObjectKind::Relation => &[
                Select, Insert, Update, Delete, Truncate, References, Trigger,
            ],
            ObjectKind::Schema => &[Usage, Create],
            ObjectKind::Model => &[Predict, Train, Deploy, Approve],
            ObjectKind::Secret => &[Usage],
        }
    }
}

/// A privilege, as `GRANT` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    Truncate,
    References,
    Trigger,
    Usage,
    Create,
    Predict,
    Train,
    Deploy,
    Approve,
}

impl Privilege {
    pub fn name(self) -> &'static str {
        use Privilege::*;
        match self {
            Select => "SELECT",
            Insert => "INSERT",
            Update => "UPDATE",
            Delete => "DELETE",
            Truncate => "TRUNCATE",
            References => "REFERENCES",
            Trigger => "TRIGGER",
            Usage => "USAGE",
            Create => "CREATE",
            Predict => "PREDICT",
            Train => "TRAIN",
            Deploy => "DEPLOY",
            Approve => "APPROVE",
        }
    }

    pub fn parse(word: &str) -> Option<Privilege> {
        use Privilege::*;
        Some(match word.to_ascii_uppercase().as_str() {
            "SELECT" => Select,
            "INSERT" => Insert,
            "UPDATE" => Update,
            "DELETE" => Delete,
            "TRUNCATE" => Truncate,
            "REFERENCES" => References,
            "TRIGGER" => Trigger,
            "USAGE" => Usage,
            "CREATE" => Create,
            "PREDICT" => Predict,
            "TRAIN" => Train,
            "DEPLOY" => Deploy,
            "APPROVE" => Approve,
            _ => return None,
        })
    }

    /// PostgreSQL's letter for it in an ACL item (`relacl`, `\dp`); the
    /// model privileges take letters PostgreSQL does not use.
    pub fn letter(self) -> char {
        use Privilege::*;
        match self {
            Select => 'r',
            Insert => 'a',
            Update => 'w',
            Delete => 'd',
            Truncate => 'D',
            References => 'x',
            Trigger => 't',
            Usage => 'U',
            Create => 'C',
            Predict => 'p',
            Train => 'n',
            Deploy => 'y',
            Approve => 'v',
        }
    }
}

/// A role's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub oid: i64,
    pub superuser: bool,
    pub login: bool,
    pub create_role: bool,
    pub inherit: bool,
    pub has_password: bool,
}

/// One granted privilege.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub privilege: Privilege,
    pub grantee: String,
    pub grantor: String,
    pub grantable: bool,
}

/// One role membership: `member` is in `role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub role: String,
    pub member: String,
    pub grantor: String,
    pub admin: bool,
}

/// The rules at one moment.
#[derive(Debug, Default)]
pub struct Acl {
    pub(crate) roles: HashMap<String, Role>,
    pub(crate) memberships: Vec<Membership>,
    pub(crate) grants: HashMap<(ObjectKind, String), Vec<Grant>>,
    pub(crate) owners: HashMap<(ObjectKind, String), String>,
    /// Owns what no owner was recorded for.
    pub(crate) bootstrap: String,
}

/// What a check is about: an object, as the error names it.
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    pub kind: ObjectKind,
    /// Its key: a relation's id, a schema's or model's name.
    pub key: &'a str,
    /// Its name for people (`sales.orders`).
    pub name: &'a str,
}

impl Object<'_> {
    fn noun(&self) -> &'static str {
        match self.kind {
            ObjectKind::Relation => "table",
            ObjectKind::Schema => "schema",
            ObjectKind::Model => "model",
            ObjectKind::Secret => "secret",
        }
    }
}

impl Acl {
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    pub fn memberships(&self) -> &[Membership] {
        &self.memberships
    }

    pub fn is_superuser(&self, user: &str) -> bool {
        self.roles.get(user).is_some_and(|r| r.superuser)
    }

    /// `user` and every role whose privileges it holds: the roles it is a
    /// member of, through roles that inherit, and `PUBLIC`.
    pub fn roles_of(&self, user: &str) -> HashSet<String> {
        let mut held: HashSet<String> = HashSet::from([user.to_string(), PUBLIC.to_string()]);
        let mut next = vec![user.to_string()];
        while let Some(role) = next.pop() {
            let inherits = self.roles.get(&role).is_none_or(|r| r.inherit);
            if !inherits {
                continue;
            }
            for m in self.memberships.iter().filter(|m| m.member == role) {
                if held.insert(m.role.clone()) {
                    next.push(m.role.clone());
                }
            }
        }
        held
    }

    /// Whether `user` is `role` or a member of it, inheriting or not (what
    /// `SET ROLE` and predefined roles ask).
    pub fn is_member(&self, user: &str, role: &str) -> bool {
        if user == role {
            return true;
        }
        let mut seen = HashSet::from([user.to_string()]);
        let mut next = vec![user.to_string()];
        while let Some(r) = next.pop() {
            for m in self.memberships.iter().filter(|m| m.member == r) {
                if m.role == role {
                    return true;
                }
                if seen.insert(m.role.clone()) {
                    next.push(m.role.clone());
                }
            }
        }
        false
    }

    /// The owner of an object.
    pub fn owner(&self, kind: ObjectKind, key: &str) -> &str {
        self.owners
            .get(&(kind, key.to_string()))
            .map_or(self.bootstrap.as_str(), String::as_str)
    }

    pub fn grants(&self, kind: ObjectKind, key: &str) -> &[Grant] {
        self.grants
            .get(&(kind, key.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// Whether the object has a recorded owner (a secret exists).
    pub fn known(&self, kind: ObjectKind, key: &str) -> bool {
        self.owners.contains_key(&(kind, key.to_string()))
    }

    /// Whether `user` owns the object, itself or through a role it
    /// inherits.
    pub fn owns(&self, user: &str, kind: ObjectKind, key: &str) -> bool {
        self.is_superuser(user) || self.roles_of(user).contains(self.owner(kind, key))
    }

    /// Whether `user` holds `privilege` on the object.
    pub fn allowed(&self, user: &str, kind: ObjectKind, key: &str, privilege: Privilege) -> bool {
        if self.is_superuser(user) {
            return true;
        }
        let held = self.roles_of(user);
        held.contains(self.owner(kind, key))
            || self
                .grants(kind, key)
                .iter()
                .any(|g| g.privilege == privilege && held.contains(&g.grantee))
    }

    /// Whether `user` may grant `privilege` on the object: its owner, a
    /// superuser, or one granted it `WITH GRANT OPTION`.
    pub fn may_grant(&self, user: &str, kind: ObjectKind, key: &str, privilege: Privilege) -> bool {
        if self.owns(user, kind, key) {
            return true;
        }
        let held = self.roles_of(user);
        self.grants(kind, key)
            .iter()
            .any(|g| g.privilege == privilege && g.grantable && held.contains(&g.grantee))
    }

    /// `42501` unless `user` holds `privilege` on `object`.
    pub fn require(&self, user: &str, object: Object<'_>, privilege: Privilege) -> Result<()> {
        if self.allowed(user, object.kind, object.key, privilege) {
            return Ok(());
        }
        Err(denied(object, privilege, user))
    }

    /// `42501` unless `user` owns `object` (to drop, alter or comment on it).
    pub fn require_owner(&self, user: &str, object: Object<'_>) -> Result<()> {
        if self.owns(user, object.kind, object.key) {
            return Ok(());
        }
        Err(SqlStateError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("must be owner of {} {}", object.noun(), object.name),
        )
        .with_detail(format!(
            "{} is owned by {}",
            object.name,
            self.owner(object.kind, object.key)
        )))
    }

    /// `42501` unless `user` is a superuser or a member of `role` (a
    /// predefined role such as `pg_read_server_files`).
    pub fn require_role(&self, user: &str, role: &str, doing: &str) -> Result<()> {
        if self.is_superuser(user) || self.is_member(user, role) {
            return Ok(());
        }
        Err(SqlStateError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("permission denied to {doing}"),
        )
        .with_detail(format!(
            "Only roles with the SUPERUSER attribute or with privileges of the \"{role}\" role may {doing}."
        )))
    }
}

/// PostgreSQL's `permission denied for table t`, naming the privilege.
pub fn denied(object: Object<'_>, privilege: Privilege, user: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::INSUFFICIENT_PRIVILEGE,
        format!(
            "permission denied for {} {}: {} privilege required",
            object.noun(),
            object.name,
            privilege.name()
        ),
    )
    .with_hint(format!(
        "the object's owner or a superuser can run GRANT {} ON {}{} TO {}",
        privilege.name(),
        match object.kind {
            ObjectKind::Relation => "",
            ObjectKind::Schema => "SCHEMA ",
            ObjectKind::Model => "MODEL ",
            ObjectKind::Secret => "SECRET ",
        },
        object.name,
        user
    ))
}

/// The rules, read again from the store after each change.
#[derive(Debug)]
pub struct Access {
    store: Arc<Store>,
    bootstrap: String,
    current: RwLock<(u64, Arc<Acl>)>,
}

impl Access {
    /// The rules of `store`, whose objects without a recorded owner belong
    /// to `bootstrap` (the configured superuser).
    pub fn new(store: Arc<Store>, bootstrap: &str) -> Result<Arc<Access>> {
        store::ensure_schema(&store)?;
        let epoch = store.acl_epoch();
        let acl = store::load(&store, bootstrap)?;
        Ok(Arc::new(Access {
            store,
            bootstrap: bootstrap.to_string(),
            current: RwLock::new((epoch, Arc::new(acl))),
        }))
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The rules now.
    pub fn acl(&self) -> Result<Arc<Acl>> {
        let epoch = self.store.acl_epoch();
        {
            let current = read(&self.current);
            if current.0 == epoch {
                return Ok(current.1.clone());
            }
        }
        let acl = Arc::new(store::load(&self.store, &self.bootstrap)?);
        let mut current = write(&self.current);
        if current.0 < epoch {
            *current = (epoch, acl.clone());
        }
        Ok(acl)
    }
}

/// The server's [`Access`] in a session's configuration, where functions
/// (`ml_deploy`, `ml_train`...) find it. Not a setting.
#[derive(Debug, Clone)]
pub struct AccessExtension(pub Arc<Access>);

quarry_udfs::config_handle!(AccessExtension, "quarry_access");

/// The rules and the user of the session whose configuration is `config`;
/// `None` where nothing is checked: an internal statement (no user) or a
/// bare context without rules.
fn session_rules(config: &datafusion::config::ConfigOptions) -> Result<Option<(Arc<Acl>, String)>> {
    let Some(access) = config.extensions.get::<AccessExtension>() else {
        return Ok(None);
    };
    let user = quarry_udfs::session_info::user(config);
    if user.is_empty() {
        return Ok(None);
    }
    Ok(Some((access.0.acl()?, user)))
}

/// `42501` unless the user of the session whose configuration is `config`
/// holds `privilege` on model `model` (a reference such as `churn@2`
/// names model `churn`). Passes for internal statements (no user) and
/// where no rules are configured (a bare context).
pub fn require_model(
    config: &datafusion::config::ConfigOptions,
    model: &str,
    privilege: Privilege,
) -> Result<()> {
    let Some((acl, user)) = session_rules(config)? else {
        return Ok(());
    };
    let model = analyzer::model_of(model);
    acl.require(
        &user,
        Object {
            kind: ObjectKind::Model,
            key: &model,
            name: &model,
        },
        privilege,
    )
}

/// Deciding for `role` on `model` (`ml_approve`, `ml_reject`) as the
/// session's user: `APPROVE` on the model, and membership in `role` itself
/// (a superuser too must be a member: a sign-off speaks for the role).
pub fn require_approver(
    config: &datafusion::config::ConfigOptions,
    model: &str,
    role: &str,
) -> Result<()> {
    require_model(config, model, Privilege::Approve)?;
    let Some((acl, user)) = session_rules(config)? else {
        return Ok(());
    };
    if acl.role(role).is_none() {
        return Err(SqlStateError::new(
            sqlstate::UNDEFINED_OBJECT,
            format!("role \"{role}\" does not exist"),
        ));
    }
    if !acl.is_member(&user, role) {
        return Err(SqlStateError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("permission denied to decide for role {role}: {user} is not a member of it"),
        )
        .with_hint(format!(
            "GRANT {role} TO {user} makes {user} one of its approvers"
        )));
    }
    Ok(())
}

/// Reading snapshot `name` (`ml_snapshot_read`) as the session's user. A
/// snapshot is a copy of rows its creator could read, so it is readable
/// by its creator (and members of the creator's role), by superusers and,
/// for a model's training snapshot, by holders of `TRAIN` on that model
/// (who may retrain from it). `42501` for anyone else.
pub fn require_snapshot(
    config: &datafusion::config::ConfigOptions,
    name: &str,
    creator: &str,
    model: Option<&str>,
) -> Result<()> {
    let Some((acl, user)) = session_rules(config)? else {
        return Ok(());
    };
    let trains = model.is_some_and(|m| {
        let m = analyzer::model_of(m);
        acl.allowed(&user, ObjectKind::Model, &m, Privilege::Train)
    });
    if acl.is_superuser(&user) || acl.is_member(&user, creator) || trains {
        return Ok(());
    }
    Err(SqlStateError::new(
        sqlstate::INSUFFICIENT_PRIVILEGE,
        format!("permission denied for snapshot {name}"),
    )
    .with_hint(format!(
        "a snapshot is readable by its creator ({creator}), superusers{}",
        match model {
            Some(m) => format!(" and roles with TRAIN on model {m}"),
            None => String::new(),
        }
    )))
}

/// Training `model` as the session's user: `TRAIN` on it when it exists
/// (its owner holds it); a new model takes `CREATE` on the session's
/// schema, as a new table does (PostgreSQL 15's rule: only the schema's
/// owner and those granted CREATE), and its creator owns it. The data it
/// reads is checked as any query's.
pub fn require_training(
    config: &datafusion::config::ConfigOptions,
    registry: &crate::registry::Registry,
    model: &str,
) -> Result<()> {
    if registry.model_exists(model)? {
        return require_model(config, model, Privilege::Train);
    }
    let Some((acl, user)) = session_rules(config)? else {
        return Ok(());
    };
    require_new_model(&acl, &user, &config.catalog.default_schema)
}

/// `CREATE` on `schema`, which a new model takes.
pub fn require_new_model(acl: &Acl, user: &str, schema: &str) -> Result<()> {
    acl.require(
        user,
        Object {
            kind: ObjectKind::Schema,
            key: schema,
            name: schema,
        },
        Privilege::Create,
    )
    .map_err(|e| {
        e.with_hint(format!(
            "a new model takes CREATE on schema {schema}, as a new table does: GRANT CREATE ON SCHEMA {schema} TO {user}"
        ))
    })
}

/// The checks of the statements that name what they act on (DDL, `COPY`,
/// `TRUNCATE`, row changes), for one user.
pub struct Checks<'a> {
    pub access: &'a Access,
    pub user: String,
}

impl Checks<'_> {
    fn acl(&self) -> Result<Arc<Acl>> {
        self.access.acl()
    }

    /// `privilege` on the stored relation `name` (nothing to check for a
    /// temporary or system relation, or none: the statement's own error
    /// follows), and `USAGE` on its schema.
    pub fn relation(
        &self,
        catalog: &crate::catalog::Catalog,
        block: &crate::catalog::staging::Block,
        name: &crate::catalog::RelName,
        privilege: Privilege,
    ) -> Result<()> {
        let Some(id) = catalog.relation_id(name, block) else {
            return Ok(());
        };
        let acl = self.acl()?;
        let display = name.to_string();
        acl.require(
            &self.user,
            Object {
                kind: ObjectKind::Relation,
                key: &id,
                name: &display,
            },
            privilege,
        )?;
        self.schema_with(&acl, &name.schema, Privilege::Usage)
    }

    /// Ownership of the stored relation `name` (to drop, alter, comment on,
    /// vacuum or refresh it).
    pub fn relation_owner(
        &self,
        catalog: &crate::catalog::Catalog,
        block: &crate::catalog::staging::Block,
        name: &crate::catalog::RelName,
    ) -> Result<()> {
        let Some(id) = catalog.relation_id(name, block) else {
            return Ok(());
        };
        let display = name.to_string();
        self.acl()?.require_owner(
            &self.user,
            Object {
                kind: ObjectKind::Relation,
                key: &id,
                name: &display,
            },
        )
    }

    /// `privilege` on schema `schema` (`CREATE` to make relations in it).
    pub fn schema(&self, schema: &str, privilege: Privilege) -> Result<()> {
        self.schema_with(self.acl()?.as_ref(), schema, privilege)
    }

    fn schema_with(&self, acl: &Acl, schema: &str, privilege: Privilege) -> Result<()> {
        if matches!(schema, "pg_catalog" | "information_schema" | "pg_temp") {
            return Ok(());
        }
        acl.require(
            &self.user,
            Object {
                kind: ObjectKind::Schema,
                key: schema,
                name: schema,
            },
            privilege,
        )
    }

    /// Ownership of schema `schema` (to drop it).
    pub fn schema_owner(&self, schema: &str) -> Result<()> {
        self.acl()?.require_owner(
            &self.user,
            Object {
                kind: ObjectKind::Schema,
                key: schema,
                name: schema,
            },
        )
    }

    /// `privilege` on model `model`.
    pub fn model(&self, model: &str, privilege: Privilege) -> Result<()> {
        self.acl()?.require(
            &self.user,
            Object {
                kind: ObjectKind::Model,
                key: model,
                name: model,
            },
            privilege,
        )
    }

    /// A superuser only (`CREATE SCHEMA`: PostgreSQL's database `CREATE`,
    /// which the database owner holds).
    pub fn superuser(&self, doing: &str) -> Result<()> {
        if self.acl()?.is_superuser(&self.user) {
            return Ok(());
        }
        Err(SqlStateError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("permission denied to {doing}"),
        )
        .with_detail("only a superuser may, in Quarry's one database"))
    }

    /// A superuser or a member of `role` (`pg_read_server_files`...).
    pub fn role(&self, role: &str, doing: &str) -> Result<()> {
        self.acl()?.require_role(&self.user, role, doing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, superuser: bool, inherit: bool) -> (String, Role) {
        (
            name.to_string(),
            Role {
                name: name.to_string(),
                superuser,
                login: true,
                inherit,
                ..Role::default()
            },
        )
    }

    fn member(role: &str, member: &str) -> Membership {
        Membership {
            role: role.into(),
            member: member.into(),
            grantor: "quarry".into(),
            admin: false,
        }
    }

    fn acl() -> Acl {
        let mut acl = Acl {
            roles: HashMap::from([
                role("quarry", true, true),
                role("analyst", false, true),
                role("alice", false, true),
                role("bob", false, false),
                role("carol", false, true),
            ]),
            memberships: vec![member("analyst", "alice"), member("analyst", "bob")],
            bootstrap: "quarry".into(),
            ..Acl::default()
        };
        acl.grants.insert(
            (ObjectKind::Relation, "t1".into()),
            vec![Grant {
                privilege: Privilege::Select,
                grantee: "analyst".into(),
                grantor: "quarry".into(),
                grantable: false,
            }],
        );
        acl.owners
            .insert((ObjectKind::Relation, "t2".into()), "carol".into());
        acl
    }

    #[test]
    fn privileges_come_from_grants_membership_and_ownership() {
        let acl = acl();
        let (t1, t2) = (ObjectKind::Relation, ObjectKind::Relation);
        assert!(acl.allowed("alice", t1, "t1", Privilege::Select));
        assert!(!acl.allowed("alice", t1, "t1", Privilege::Insert));
        // bob is a member of analyst but does not inherit.
        assert!(!acl.allowed("bob", t1, "t1", Privilege::Select));
        assert!(acl.is_member("bob", "analyst"));
        // The owner holds everything; a superuser too.
        assert!(acl.allowed("carol", t2, "t2", Privilege::Delete));
        assert!(acl.allowed("quarry", t2, "t2", Privilege::Delete));
        assert!(!acl.allowed("alice", t2, "t2", Privilege::Select));
        // Unrecorded owners are the bootstrap superuser.
        assert_eq!(acl.owner(ObjectKind::Schema, "public"), "quarry");
    }

    #[test]
    fn public_grants_reach_everyone() {
        let mut acl = acl();
        acl.grants.insert(
            (ObjectKind::Schema, "public".into()),
            vec![Grant {
                privilege: Privilege::Usage,
                grantee: PUBLIC.into(),
                grantor: "quarry".into(),
                grantable: false,
            }],
        );
        assert!(acl.allowed("bob", ObjectKind::Schema, "public", Privilege::Usage));
        assert!(!acl.allowed("bob", ObjectKind::Schema, "public", Privilege::Create));
    }

    #[test]
    fn a_denial_names_the_privilege_and_the_object() {
        let acl = acl();
        let err = acl
            .require(
                "alice",
                Object {
                    kind: ObjectKind::Relation,
                    key: "t2",
                    name: "orders",
                },
                Privilege::Update,
            )
            .expect_err("denied");
        assert_eq!(err.code, sqlstate::INSUFFICIENT_PRIVILEGE);
        assert_eq!(
            err.message,
            "permission denied for table orders: UPDATE privilege required"
        );
    }

    #[test]
    fn membership_cycles_end() {
        let mut acl = acl();
        acl.memberships.push(member("alice", "analyst"));
        assert!(acl.roles_of("alice").contains("analyst"));
        assert!(acl.is_member("analyst", "alice"));
    }
}
