//! The roles and privileges as clients read them: `pg_roles` (and
//! `pg_authid`, `pg_user`, which are made from it), `pg_auth_members`,
//! psql's `\du`, and `has_table_privilege`, `has_schema_privilege` and
//! `has_any_column_privilege` answering from the real rules (Metabase and
//! DBeaver ask them before listing what a user may read).
//!
//! ```sql
//! SELECT has_table_privilege('alice', 'public.orders', 'SELECT');
//! SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = 'alice';
//! ```

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use super::{Access, ObjectKind, Privilege};
use crate::catalog::live::LiveRows;
use crate::catalog::staging::Block;
use crate::catalog::{Catalog, RelName};
use crate::error::{SqlStateError, sqlstate};

/// The system table behind `pg_roles`.
pub const ROLES: &str = "pg_roles";
/// The system table behind `pg_auth_members`.
pub const AUTH_MEMBERS: &str = "pg_auth_members";

/// `pg_roles`: one row per role.
#[derive(Debug)]
pub struct Roles {
    access: Arc<Access>,
    schema: SchemaRef,
}

impl Roles {
    pub fn new(access: Arc<Access>) -> Self {
        let b = |n: &str| Field::new(n, DataType::Boolean, false);
        Roles {
            access,
            schema: Arc::new(Schema::new(vec![
                Field::new("rolname", DataType::Utf8, false),
                b("rolsuper"),
                b("rolinherit"),
                b("rolcreaterole"),
                b("rolcreatedb"),
                b("rolcanlogin"),
                b("rolreplication"),
                Field::new("rolconnlimit", DataType::Int32, false),
                Field::new("rolpassword", DataType::Utf8, true),
                Field::new(
                    "rolvaliduntil",
                    DataType::Timestamp(
                        datafusion::arrow::datatypes::TimeUnit::Microsecond,
                        Some("UTC".into()),
                    ),
                    true,
                ),
                b("rolbypassrls"),
                Field::new(
                    "rolconfig",
                    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                    true,
                ),
                Field::new("oid", DataType::Int32, false),
            ])),
        }
    }
}

#[async_trait]
impl LiveRows for Roles {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, _state: &dyn Session) -> DfResult<RecordBatch> {
        let acl = self.access.acl().map_err(|e| e.into_df())?;
        let mut roles: Vec<_> = acl.roles().collect();
        roles.sort_by_key(|r| r.oid);
        let n = roles.len();
        let flags = |f: &dyn Fn(&super::Role) -> bool| -> ArrayRef {
            let mut b = BooleanBuilder::with_capacity(n);
            for r in &roles {
                b.append_value(f(r));
            }
            Arc::new(b.finish())
        };
        let names: ArrayRef = Arc::new(StringArray::from_iter_values(
            roles.iter().map(|r| r.name.as_str()),
        ));
        let passwords: ArrayRef = Arc::new(StringArray::from_iter(
            roles.iter().map(|r| r.has_password.then_some("********")),
        ));
        let oids: ArrayRef = Arc::new(Int32Array::from_iter_values(
            roles
                .iter()
                .map(|r| i32::try_from(r.oid).unwrap_or(i32::MAX)),
        ));
        let columns: Vec<ArrayRef> = vec![
            names,
            flags(&|r| r.superuser),
            flags(&|r| r.inherit),
            flags(&|r| r.create_role || r.superuser),
            flags(&|r| r.superuser),
            flags(&|r| r.login),
            flags(&|r| r.superuser),
            Arc::new(Int32Array::from(vec![-1; n])),
            passwords,
            datafusion::arrow::array::new_null_array(self.schema.field(9).data_type(), n),
            flags(&|r| r.superuser),
            datafusion::arrow::array::new_null_array(self.schema.field(11).data_type(), n),
            oids,
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// `pg_auth_members`: one row per membership, by role oid.
#[derive(Debug)]
pub struct AuthMembers {
    access: Arc<Access>,
    schema: SchemaRef,
}

impl AuthMembers {
    pub fn new(access: Arc<Access>) -> Self {
        AuthMembers {
            access,
            schema: Arc::new(Schema::new(vec![
                Field::new("roleid", DataType::Int32, false),
                Field::new("member", DataType::Int32, false),
                Field::new("grantor", DataType::Int32, false),
                Field::new("admin_option", DataType::Boolean, false),
            ])),
        }
    }
}

#[async_trait]
impl LiveRows for AuthMembers {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, _state: &dyn Session) -> DfResult<RecordBatch> {
        let acl = self.access.acl().map_err(|e| e.into_df())?;
        let oid = |name: &str| {
            acl.role(name)
                .map_or(0, |r| i32::try_from(r.oid).unwrap_or(i32::MAX))
        };
        let rows = acl.memberships();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|m| oid(&m.role)),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|m| oid(&m.member)),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|m| oid(&m.grantor)),
            )),
            Arc::new(datafusion::arrow::array::BooleanArray::from_iter(
                rows.iter().map(|m| Some(m.admin)),
            )),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// What a `has_*_privilege` function asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Asked {
    Table,
    AnyColumn,
    Schema,
}

/// `has_table_privilege`, `has_any_column_privilege`,
/// `has_schema_privilege`: `([user,] object, privileges)`, true when the
/// user holds any of the comma-separated privileges (`WITH GRANT OPTION`
/// asks for the option). An object given by oid is answered for a
/// superuser only (NULL otherwise): names are what clients pass.
#[derive(Debug)]
pub struct HasPrivilege {
    name: &'static str,
    asked: Asked,
    access: Arc<Access>,
    catalog: Weak<Catalog>,
    signature: Signature,
}

impl PartialEq for HasPrivilege {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for HasPrivilege {}

impl std::hash::Hash for HasPrivilege {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl HasPrivilege {
    pub fn new(asked: Asked, access: Arc<Access>, catalog: &Arc<Catalog>) -> Self {
        let name = match asked {
            Asked::Table => "has_table_privilege",
            Asked::AnyColumn => "has_any_column_privilege",
            Asked::Schema => "has_schema_privilege",
        };
        HasPrivilege {
            name,
            asked,
            access,
            catalog: Arc::downgrade(catalog),
            signature: Signature::one_of(
                vec![TypeSignature::Any(2), TypeSignature::Any(3)],
                Volatility::Stable,
            ),
        }
    }

    /// The answer for one row: `None` for an object given by oid.
    fn answer(
        &self,
        user: &str,
        object: &str,
        privileges: &str,
        schema: &str,
        block: Option<&Block>,
    ) -> crate::error::Result<Option<bool>> {
        let acl = self.access.acl()?;
        if acl.role(user).is_none() {
            return Err(SqlStateError::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("role \"{user}\" does not exist"),
            ));
        }
        let mut wanted = Vec::new();
        for part in privileges.split(',') {
            let part = part.trim();
            let (word, option) = match part.to_ascii_uppercase().strip_suffix(" WITH GRANT OPTION")
            {
                Some(w) => (w.trim().to_string(), true),
                None => (part.to_ascii_uppercase(), false),
            };
            let privilege = Privilege::parse(&word).ok_or_else(|| {
                SqlStateError::bad_argument(format!("unrecognized privilege type: \"{part}\""))
            })?;
            wanted.push((privilege, option));
        }
        let (kind, key) = match self.asked {
            Asked::Schema => {
                let name = identifier_parts(object)?.pop().unwrap_or_default();
                (ObjectKind::Schema, name)
            }
            Asked::Table | Asked::AnyColumn => {
                if object.trim().chars().all(|c| c.is_ascii_digit()) && !object.trim().is_empty() {
                    return Ok(acl.is_superuser(user).then_some(true));
                }
                let parts = identifier_parts(object)?;
                let name = match parts.as_slice() {
                    [table] => RelName::new(schema, table.as_str()),
                    [.., s, table] => RelName::new(s.as_str(), table.as_str()),
                    [] => {
                        return Err(SqlStateError::new(
                            sqlstate::UNDEFINED_TABLE,
                            format!("relation \"{object}\" does not exist"),
                        ));
                    }
                };
                let catalog = self.catalog.upgrade();
                let default = Block::default();
                let id = catalog
                    .as_deref()
                    .and_then(|c| c.relation_id(&name, block.unwrap_or(&default)));
                match id {
                    Some(id) => (ObjectKind::Relation, id),
                    // The session's temporary relations, system tables and
                    // catalogs: readable by all.
                    None if catalog.as_deref().is_some_and(|c| c.is_known(&name)) => {
                        return Ok(Some(true));
                    }
                    None => {
                        return Err(SqlStateError::new(
                            sqlstate::UNDEFINED_TABLE,
                            format!("relation \"{name}\" does not exist"),
                        ));
                    }
                }
            }
        };
        Ok(Some(wanted.iter().any(|(p, option)| {
            if *option {
                acl.may_grant(user, kind, &key, *p)
            } else {
                acl.allowed(user, kind, &key, *p)
            }
        })))
    }
}

/// The parts of a possibly quoted, possibly qualified name
/// (`"My Schema".orders`), folded as PostgreSQL folds them.
fn identifier_parts(text: &str) -> crate::error::Result<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    let mut current = String::new();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            c if quoted => current.push(c),
            c => current.extend(c.to_lowercase()),
        }
    }
    if quoted {
        return Err(SqlStateError::bad_argument(format!(
            "invalid name syntax: {text}"
        )));
    }
    parts.push(current);
    Ok(parts)
}

impl ScalarUDFImpl for HasPrivilege {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = if scalar { 1 } else { args.number_rows };
        let texts = args
            .args
            .iter()
            .map(|a| {
                let array = a.to_array(n)?;
                datafusion::arrow::compute::cast(&array, &DataType::Utf8)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let texts: Vec<&StringArray> = texts
            .iter()
            .map(|a| {
                a.as_any().downcast_ref::<StringArray>().ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal("cast to text".into())
                })
            })
            .collect::<DfResult<_>>()?;
        let config = args.config_options.as_ref();
        let session_user = quarry_udfs::session_info::user(config);
        let schema = config.catalog.default_schema.clone();
        let block = Block::of(config);
        let mut out = BooleanBuilder::with_capacity(n);
        for row in 0..n {
            let value = |i: usize| {
                let a = texts[i];
                (!a.is_null(row)).then(|| a.value(row))
            };
            let (user, object, privileges) = if texts.len() == 3 {
                (value(0), value(1), value(2))
            } else {
                (Some(session_user.as_str()), value(0), value(1))
            };
            match (user, object, privileges) {
                (Some(user), Some(object), Some(privileges)) => {
                    let answer = self
                        .answer(user, object, privileges, &schema, block.as_deref())
                        .map_err(|e| e.into_df())?;
                    out.append_option(answer);
                }
                _ => out.append_null(),
            }
        }
        crate::compat::shaped(Arc::new(out.finish()), scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::identifier_parts;

    #[test]
    fn names_split_and_fold_as_postgresql_reads_them() {
        assert_eq!(
            identifier_parts("\"My \"\"Schema\"\".x\".Orders").expect("parses"),
            ["My \"Schema\".x", "orders"]
        );
        assert_eq!(identifier_parts("t").expect("parses"), ["t"]);
        assert!(identifier_parts("\"open").is_err());
    }
}
