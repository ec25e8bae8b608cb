//! Running the statements of `access::statements`, with PostgreSQL's
//! rules for who may: roles are made, changed and dropped by superusers
//! and `CREATEROLE` roles (only a superuser touches a superuser), a role
//! may change its own password, role membership is granted by those or by
//! a member `WITH ADMIN OPTION`, privileges by the object's owner, a
//! superuser or a holder `WITH GRANT OPTION`, and ownership is given away
//! by the owner to a role it is a member of.

use crate::catalog::{Catalog, RelName};
use crate::error::{Result, SqlStateError, sqlstate};

use super::statements::{AccessStatement, On, OwnedKind};
use super::store::{self, Target};
use super::{Access, Acl, Object, ObjectKind, PUBLIC};

/// What a statement needs of the server around it.
pub struct Context<'a> {
    pub access: &'a Access,
    pub catalog: &'a Catalog,
    pub registry: &'a crate::registry::Registry,
    /// The session's user.
    pub user: &'a str,
    /// Its default schema, for unqualified table names.
    pub schema: &'a str,
    pub block: &'a crate::catalog::staging::Block,
}

/// What ran: the command tag and notices to send first.
pub struct Done {
    pub tag: &'static str,
    pub notices: Vec<String>,
}

fn denied(what: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::INSUFFICIENT_PRIVILEGE,
        format!("permission denied to {what}"),
    )
}

/// A grantee as written: `PUBLIC`, the session's user, or a role.
fn grantee(name: &str, user: &str) -> String {
    match name {
        "PUBLIC" => PUBLIC.to_string(),
        "CURRENT_USER" | "SESSION_USER" | "CURRENT_ROLE" => user.to_string(),
        other => other.to_string(),
    }
}

/// `42501` unless `user` may create, change or drop role `target`.
fn manage_role(acl: &Acl, user: &str, target: Option<&str>, what: &str) -> Result<()> {
    if acl.is_superuser(user) {
        return Ok(());
    }
    let creates = acl.role(user).is_some_and(|r| r.create_role);
    let target_super = target.is_some_and(|t| acl.is_superuser(t));
    if creates && !target_super {
        return Ok(());
    }
    Err(denied(what).with_detail(if target_super {
        "Only superusers may change superuser roles.".to_string()
    } else {
        "Only roles with the CREATEROLE attribute may do this.".to_string()
    }))
}

/// Runs `statement` for `ctx.user`.
pub fn run(ctx: &Context<'_>, statement: &AccessStatement) -> Result<Done> {
    let acl = ctx.access.acl()?;
    let store = ctx.access.store();
    let user = ctx.user;
    let mut notices = Vec::new();
    match statement {
        AccessStatement::CreateRole {
            name,
            user: is_user,
            attributes,
            in_roles,
            members,
            ignored,
        } => {
            manage_role(&acl, user, None, "create role")?;
            if attributes.superuser == Some(true) && !acl.is_superuser(user) {
                return Err(denied("create role").with_detail(
                    "Only superusers may create roles with the SUPERUSER attribute.",
                ));
            }
            store::create_role(store, name, attributes, *is_user, in_roles, user)?;
            for member in members {
                store::grant_membership(store, name, member, user, false)?;
            }
            notices.extend(not_enforced(ignored));
        }
        AccessStatement::AlterRole {
            name,
            attributes,
            ignored,
        } => {
            let only_password = attributes.superuser.is_none()
                && attributes.login.is_none()
                && attributes.create_role.is_none()
                && attributes.inherit.is_none();
            if !(only_password && name == user) {
                manage_role(&acl, user, Some(name), "alter role")?;
                if attributes.superuser.is_some() && !acl.is_superuser(user) {
                    return Err(denied("alter role")
                        .with_detail("Only superusers may change the SUPERUSER attribute."));
                }
            }
            if name == ctx.access.bootstrap()
                && (attributes.superuser == Some(false) || attributes.login == Some(false))
            {
                return Err(SqlStateError::new(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    format!("the bootstrap superuser \"{name}\" keeps SUPERUSER and LOGIN"),
                )
                .with_hint(
                    "it is set by --superuser; start the server with another to retire it",
                ));
            }
            store::alter_role(store, name, attributes)?;
            notices.extend(not_enforced(ignored));
        }
        AccessStatement::RenameRole { name, new } => {
            manage_role(&acl, user, Some(name), "rename role")?;
            if name == user {
                return Err(SqlStateError::unsupported("session user cannot be renamed"));
            }
            if name == ctx.access.bootstrap() || name.starts_with("pg_") {
                return Err(SqlStateError::new(
                    sqlstate::RESERVED_NAME,
                    format!("role \"{name}\" cannot be renamed"),
                ));
            }
            if new.starts_with("pg_") || new == PUBLIC {
                return Err(SqlStateError::new(
                    sqlstate::RESERVED_NAME,
                    format!("role name \"{new}\" is reserved"),
                ));
            }
            store::rename_role(store, name, new)?;
        }
        AccessStatement::DropRole { names, if_exists } => {
            for name in names {
                if acl.role(name).is_none() {
                    if *if_exists {
                        notices.push(format!("role \"{name}\" does not exist, skipping"));
                        continue;
                    }
                    return Err(SqlStateError::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!("role \"{name}\" does not exist"),
                    ));
                }
                manage_role(&acl, user, Some(name), "drop role")?;
                if name == user {
                    return Err(SqlStateError::new(
                        "55006",
                        "current user cannot be dropped",
                    ));
                }
                if name == ctx.access.bootstrap()
                    || name.starts_with("pg_")
                    || name == super::AUDITOR
                {
                    return Err(SqlStateError::new(
                        sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!(
                            "cannot drop role {name} because it is required by the database system"
                        ),
                    ));
                }
                store::drop_role(store, name)?;
            }
        }
        AccessStatement::CreateSecret { name } => {
            super::secrets::create(store, name, user)?;
        }
        AccessStatement::DropSecret { names, if_exists } => {
            for name in names {
                if !super::secrets::exists(store, name)? {
                    if *if_exists {
                        notices.push(format!("secret \"{name}\" does not exist, skipping"));
                        continue;
                    }
                    return Err(super::secrets::unknown(name));
                }
                acl.require_owner(
                    user,
                    Object {
                        kind: ObjectKind::Secret,
                        key: name,
                        name,
                    },
                )?;
                super::secrets::drop(store, name)?;
            }
        }
        AccessStatement::GrantRole {
            roles,
            members,
            admin,
        } => {
            for role in roles {
                may_admin(&acl, user, role)?;
                for member in members {
                    let member = grantee(member, user);
                    if member == PUBLIC {
                        return Err(SqlStateError::new(
                            sqlstate::INVALID_GRANT_OPERATION,
                            "role \"public\" cannot have members granted to it; grant the privileges to PUBLIC",
                        ));
                    }
                    if acl.is_member(role, &member) {
                        return Err(SqlStateError::new(
                            sqlstate::INVALID_GRANT_OPERATION,
                            format!("role \"{member}\" is a member of role \"{role}\""),
                        ));
                    }
                    store::grant_membership(store, role, &member, user, *admin)?;
                }
            }
        }
        AccessStatement::RevokeRole { roles, members, .. } => {
            for role in roles {
                may_admin(&acl, user, role)?;
                for member in members {
                    let member = grantee(member, user);
                    if !store::revoke_membership(store, role, &member)? {
                        notices.push(format!(
                            "role \"{member}\" has not been granted membership in role \"{role}\" by role \"{user}\""
                        ));
                    }
                }
            }
        }
        AccessStatement::Grant {
            privileges,
            on,
            grantees,
            grant_option,
        } => {
            let (privileges, targets) = grantable(ctx, &acl, privileges, on)?;
            let grantees: Vec<String> = grantees.iter().map(|g| grantee(g, user)).collect();
            store::grant(store, &targets, &privileges, &grantees, user, *grant_option)?;
        }
        AccessStatement::Revoke {
            privileges,
            on,
            grantees,
            grant_option_only,
        } => {
            let (privileges, targets) = grantable(ctx, &acl, privileges, on)?;
            let grantees: Vec<String> = grantees.iter().map(|g| grantee(g, user)).collect();
            store::revoke(store, &targets, &privileges, &grantees, *grant_option_only)?;
        }
        AccessStatement::AlterOwner { kind, name, owner } => {
            let owner = grantee(owner, user);
            let (target, display) = match kind {
                OwnedKind::Schema | OwnedKind::Model => {
                    let on = if *kind == OwnedKind::Schema {
                        On::Schemas(vec![object_text(name)])
                    } else {
                        On::Models(vec![object_text(name)])
                    };
                    targets(ctx, &on)?.remove(0)
                }
                _ => targets(ctx, &On::Tables(vec![name.clone()]))?.remove(0),
            };
            acl.require_owner(
                user,
                Object {
                    kind: target.kind,
                    key: &target.key,
                    name: &display,
                },
            )?;
            if !acl.is_superuser(user) && !acl.is_member(user, &owner) {
                return Err(denied(&format!("change the owner of {display}"))
                    .with_detail(format!("must be able to SET ROLE \"{owner}\"")));
            }
            store::set_owner(store, target.kind, &target.key, &owner)?;
        }
    }
    Ok(Done {
        tag: statement.tag(),
        notices,
    })
}

fn not_enforced(ignored: &[String]) -> Option<String> {
    (!ignored.is_empty()).then(|| {
        format!(
            "{} accepted and not enforced: Quarry has one database and no replication",
            ignored.join(", ")
        )
    })
}

/// `42501` unless `user` may grant or revoke membership in `role`.
fn may_admin(acl: &Acl, user: &str, role: &str) -> Result<()> {
    if acl.role(role).is_none() {
        return Err(SqlStateError::new(
            sqlstate::UNDEFINED_OBJECT,
            format!("role \"{role}\" does not exist"),
        ));
    }
    if acl.is_superuser(user) {
        return Ok(());
    }
    if acl.is_superuser(role) {
        return Err(denied(&format!("grant role \"{role}\""))
            .with_detail("Only superusers may grant superuser roles."));
    }
    let admin = acl
        .memberships()
        .iter()
        .any(|m| m.role == role && m.member == user && m.admin);
    if admin || acl.role(user).is_some_and(|r| r.create_role) {
        return Ok(());
    }
    Err(
        denied(&format!("grant role \"{role}\"")).with_detail(format!(
            "Only roles with the ADMIN option on role \"{role}\" may grant this role."
        )),
    )
}

/// The privileges and objects a `GRANT` or `REVOKE` names, once `ctx.user`
/// is known to be allowed to grant each privilege on each object (its
/// owner, a superuser, or a holder `WITH GRANT OPTION`); 42501 otherwise.
fn grantable(
    ctx: &Context<'_>,
    acl: &Acl,
    privileges: &super::statements::Privileges,
    on: &On,
) -> Result<(Vec<super::Privilege>, Vec<Target>)> {
    let kind = on.kind();
    let privileges = privileges.on(kind)?;
    let targets = targets(ctx, on)?;
    for (target, name) in &targets {
        for p in &privileges {
            if !acl.may_grant(ctx.user, kind, &target.key, *p) {
                return Err(super::denied(
                    Object {
                        kind,
                        key: &target.key,
                        name,
                    },
                    *p,
                    ctx.user,
                )
                .with_hint("only its owner, a superuser or a holder WITH GRANT OPTION may grant or revoke it"));
            }
        }
    }
    Ok((privileges, targets.into_iter().map(|(t, _)| t).collect()))
}

fn object_text(name: &datafusion::sql::sqlparser::ast::ObjectName) -> String {
    name.0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| match i.quote_style {
            Some(_) => i.value.clone(),
            None => i.value.to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The objects `on` names, with their names for people; `42P01`/`3F000`/
/// `42704` for one that does not exist.
fn targets(ctx: &Context<'_>, on: &On) -> Result<Vec<(Target, String)>> {
    let mut out = Vec::new();
    match on {
        On::Tables(names) => {
            for name in names {
                let rel = rel_name(ctx, name)?;
                let id = ctx.catalog.relation_id(&rel, ctx.block).ok_or_else(|| {
                    SqlStateError::new(
                        sqlstate::UNDEFINED_TABLE,
                        format!("relation \"{rel}\" does not exist"),
                    )
                })?;
                out.push((
                    Target {
                        kind: ObjectKind::Relation,
                        key: id,
                    },
                    rel.to_string(),
                ));
            }
        }
        On::AllTablesInSchema(schemas) => {
            for schema in schemas {
                if !ctx.catalog.schema_exists(schema) {
                    return Err(no_schema(schema));
                }
                for (name, id) in ctx.catalog.relations_in(schema) {
                    out.push((
                        Target {
                            kind: ObjectKind::Relation,
                            key: id,
                        },
                        RelName::new(schema.clone(), name).to_string(),
                    ));
                }
            }
        }
        On::Schemas(schemas) => {
            for schema in schemas {
                if !ctx.catalog.schema_exists(schema) {
                    return Err(no_schema(schema));
                }
                out.push((
                    Target {
                        kind: ObjectKind::Schema,
                        key: schema.clone(),
                    },
                    schema.clone(),
                ));
            }
        }
        On::Secrets(secrets) => {
            for name in secrets {
                if !super::secrets::exists(ctx.access.store(), name)? {
                    return Err(super::secrets::unknown(name));
                }
                out.push((
                    Target {
                        kind: ObjectKind::Secret,
                        key: name.clone(),
                    },
                    name.clone(),
                ));
            }
        }
        On::Models(models) => {
            for model in models {
                let name = crate::registry::normalize(model);
                if !ctx.registry.model_exists(&name)? {
                    return Err(SqlStateError::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!("model \"{name}\" does not exist"),
                    ));
                }
                out.push((
                    Target {
                        kind: ObjectKind::Model,
                        key: name.clone(),
                    },
                    name,
                ));
            }
        }
    }
    Ok(out)
}

fn no_schema(schema: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::INVALID_SCHEMA_NAME,
        format!("schema \"{schema}\" does not exist"),
    )
}

fn rel_name(
    ctx: &Context<'_>,
    name: &datafusion::sql::sqlparser::ast::ObjectName,
) -> Result<RelName> {
    let text = object_text(name);
    let parts: Vec<&str> = text.split('.').collect();
    Ok(match parts.as_slice() {
        [table] => RelName::new(ctx.schema, *table),
        [schema, table] => RelName::new(*schema, *table),
        [_, schema, table] => RelName::new(*schema, *table),
        _ => {
            return Err(SqlStateError::new(
                sqlstate::SYNTAX_ERROR,
                format!("improper relation name (too many dotted names): {text}"),
            ));
        }
    })
}
