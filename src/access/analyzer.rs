//! The privilege check of every statement's plan, before anything runs.
//!
//! An analyzer rule (it runs on every logical plan a session executes:
//! queries, the inputs of `INSERT ... SELECT`, `CREATE TABLE AS`, `COPY
//! (query) TO`, cursors, table functions' relation arguments, which are
//! planned into the same plan) walks the plan with the session's user:
//!
//! - a scan of a stored relation needs `SELECT` on it and `USAGE` on its
//!   schema;
//! - an `INSERT`, `UPDATE` or `DELETE` DataFusion plans needs that
//!   privilege on its target;
//! - a view is checked as PostgreSQL checks one: the user needs `SELECT` on
//!   the view, and what the view reads is checked with its owner's
//!   privileges. A stored view's plan carries a [`ViewOwner`] marker for
//!   this, which the rule removes, so no later rule sees it.
//!
//! Temporary relations (the session's own), system tables and the catalogs
//! (`pg_catalog`, `information_schema`) are not checked here, but for the
//! audit log and its verification, which need the `auditor` role. A superuser's
//! plan is only cleared of markers.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchemaRef, Result, TableReference};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore, WriteOp};
use datafusion::optimizer::AnalyzerRule;

use super::{Access, Acl, Object, ObjectKind, Privilege};
use crate::catalog::staging::Block;
use crate::catalog::{Catalog, RelName};

/// The model a reference (`churn`, `churn@3`, `churn@production`) names.
pub fn model_of(reference: &str) -> String {
    let name = reference
        .rsplit_once('@')
        .map_or(reference, |(name, _)| name);
    crate::registry::normalize(name)
}

/// Marks the plan of a stored view: what it reads is checked with its
/// owner's privileges.
#[derive(Debug, Clone)]
pub struct ViewOwner {
    /// The view's relation id.
    pub id: String,
    /// Its name, for errors.
    pub name: String,
    pub input: LogicalPlan,
}

impl ViewOwner {
    /// `input`, the plan of view `id`, marked.
    pub fn wrap(id: &str, name: &RelName, input: LogicalPlan) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(ViewOwner {
                id: id.to_string(),
                name: name.to_string(),
                input,
            }),
        })
    }
}

impl PartialEq for ViewOwner {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.input == other.input
    }
}

impl Eq for ViewOwner {}

impl Hash for ViewOwner {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
        self.input.hash(state);
    }
}

impl PartialOrd for ViewOwner {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.id.partial_cmp(&other.id)
    }
}

impl UserDefinedLogicalNodeCore for ViewOwner {
    fn name(&self) -> &str {
        "ViewOwner"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ViewOwner: {}", self.name)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        Ok(ViewOwner {
            id: self.id.clone(),
            name: self.name.clone(),
            input: inputs.swap_remove(0),
        })
    }
}

/// The analyzer rule.
#[derive(Debug)]
pub struct Privileges {
    access: Arc<Access>,
    catalog: std::sync::Weak<Catalog>,
}

impl Privileges {
    pub fn new(access: Arc<Access>, catalog: &Arc<Catalog>) -> Self {
        Privileges {
            access,
            catalog: Arc::downgrade(catalog),
        }
    }
}

/// What a check needs while it walks.
struct Walk<'a> {
    acl: &'a Acl,
    catalog: Option<&'a Catalog>,
    block: Option<Arc<Block>>,
    schema: &'a str,
}

impl AnalyzerRule for Privileges {
    fn name(&self) -> &str {
        "quarry_privileges"
    }

    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let user = quarry_udfs::session_info::user(config);
        let acl = self.access.acl().map_err(|e| e.into_df())?;
        let catalog = self.catalog.upgrade();
        let walk = Walk {
            acl: &acl,
            catalog: catalog.as_deref(),
            block: Block::of(config),
            schema: &config.catalog.default_schema,
        };
        // Internal statements (no user) and superusers pass; their plans
        // lose the markers all the same.
        let checked = !user.is_empty() && !acl.is_superuser(&user);
        walk.plan(plan, checked.then_some(user.as_str()))
    }
}

impl Walk<'_> {
    /// `plan` without view markers, each node checked for `user` (`None`:
    /// nothing to check).
    fn plan(&self, plan: LogicalPlan, user: Option<&str>) -> Result<LogicalPlan> {
        if let LogicalPlan::Extension(ext) = &plan
            && let Some(view) = ext.node.as_any().downcast_ref::<ViewOwner>()
        {
            let owner = self.acl.owner(ObjectKind::Relation, &view.id).to_string();
            let inner = match user {
                Some(user) => {
                    self.require(user, &view.id, &view.name, Privilege::Select)?;
                    (!self.acl.is_superuser(&owner)).then_some(owner.as_str())
                }
                None => None,
            };
            return self.plan(view.input.clone(), inner);
        }
        if let Some(user) = user {
            self.node(&plan, user)?;
        }
        let plan = plan
            .map_children(|child| self.plan(child, user).map(Transformed::yes))?
            .data;
        plan.map_subqueries(|sub| self.plan(sub, user).map(Transformed::yes))
            .map(|t| t.data)
    }

    fn node(&self, plan: &LogicalPlan, user: &str) -> Result<()> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                if let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source) {
                    let any: &dyn std::any::Any = provider.as_ref();
                    if crate::audit::table::is_audit(any) {
                        self.acl
                            .require_role(user, super::AUDITOR, "read the audit log")
                            .map_err(|e| e.into_df())?;
                    }
                }
                if let Some((id, name)) = self.relation(&scan.table_name, &scan.source) {
                    self.require(user, &id, &name.to_string(), Privilege::Select)?;
                    self.usage(user, &name.schema)?;
                }
            }
            LogicalPlan::Dml(dml) => {
                let privilege = match dml.op {
                    WriteOp::Insert(_) | WriteOp::Ctas => Privilege::Insert,
                    WriteOp::Update => Privilege::Update,
                    WriteOp::Delete => Privilege::Delete,
                    WriteOp::Truncate => Privilege::Truncate,
                    // A write kind this version does not know: the most
                    // general write privilege rather than none.
                    _ => Privilege::Update,
                };
                if let Some((id, name)) = self.relation(&dml.table_name, &dml.target) {
                    self.require(user, &id, &name.to_string(), privilege)?;
                    self.usage(user, &name.schema)?;
                }
            }
            _ => {}
        }
        // Scoring and explaining: PREDICT on the model, whether the call
        // is written in SQL or planned by a table function (ml_predict's
        // table form, ml_evaluate, the curves...: they score with these).
        plan.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::ScalarFunction(f) = e
                    && quarry_udfs::functions::scoring::MODEL_SCALARS.contains(&f.name())
                    && let Some(Expr::Literal(value, _)) = f.args.first()
                    && let Some(reference) = value.try_as_str().flatten()
                {
                    let model = model_of(reference);
                    self.acl
                        .require(
                            user,
                            Object {
                                kind: ObjectKind::Model,
                                key: &model,
                                name: &model,
                            },
                            Privilege::Predict,
                        )
                        .map_err(|e| e.into_df())?;
                }
                if let Expr::ScalarFunction(f) = e
                    && f.name() == super::pseudonymize::NAME
                {
                    self.secret(user, f.args.get(1))?;
                }
                Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
            })
        })?;
        Ok(())
    }

    /// `USAGE` on the secret an `ml_pseudonymize` call names. The name
    /// must be a constant here, where the plan is checked: an expression
    /// that only becomes one later would pass unchecked. An unknown secret
    /// is left to the call (42704).
    fn secret(&self, user: &str, arg: Option<&Expr>) -> Result<()> {
        let name = match arg {
            Some(Expr::Literal(value, _)) => super::pseudonymize::secret_name(value),
            _ => None,
        }
        .ok_or_else(|| {
            crate::error::SqlStateError::bad_argument(format!(
                "{}: secret must be a text constant naming a secret (CREATE SECRET)",
                super::pseudonymize::NAME
            ))
            .into_df()
        })?;
        if !self.acl.known(ObjectKind::Secret, name) {
            return Ok(());
        }
        self.acl
            .require(
                user,
                Object {
                    kind: ObjectKind::Secret,
                    key: name,
                    name,
                },
                Privilege::Usage,
            )
            .map_err(|e| e.into_df())
    }

    /// The stored relation a scan or write reads: its id and name; `None`
    /// for the session's temporary relations, system tables and catalogs.
    fn relation(
        &self,
        reference: &TableReference,
        source: &Arc<dyn datafusion::logical_expr::TableSource>,
    ) -> Option<(String, RelName)> {
        let name = RelName::new(reference.schema().unwrap_or(self.schema), reference.table());
        if let Ok(provider) = datafusion::datasource::source_as_provider(source) {
            let any: &dyn std::any::Any = provider.as_ref();
            if any.is::<datafusion::datasource::MemTable>() {
                return None;
            }
            if let Some(table) = crate::catalog::table::as_managed(&provider) {
                // A snapshot's rows (`ml_snapshot_read`) are no relation:
                // that function checks who may read them.
                let id = &table.data().id;
                if id.starts_with("snapshot:") {
                    return None;
                }
                return Some((id.clone(), name));
            }
        }
        let catalog = self.catalog?;
        let id = match &self.block {
            Some(block) => catalog.relation_id(&name, block),
            None => catalog.relation_id(&name, &Block::default()),
        }?;
        Some((id, name))
    }

    fn require(&self, user: &str, id: &str, name: &str, privilege: Privilege) -> Result<()> {
        self.acl
            .require(
                user,
                Object {
                    kind: ObjectKind::Relation,
                    key: id,
                    name,
                },
                privilege,
            )
            .map_err(|e| e.into_df())
    }

    fn usage(&self, user: &str, schema: &str) -> Result<()> {
        self.acl
            .require(
                user,
                Object {
                    kind: ObjectKind::Schema,
                    key: schema,
                    name: schema,
                },
                Privilege::Usage,
            )
            .map_err(|e| e.into_df())
    }
}
