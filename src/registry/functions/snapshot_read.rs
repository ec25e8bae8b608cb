//! `SELECT * FROM ml_snapshot_read(name [, version])`: the rows of a
//! snapshot version, exactly as `ml_snapshot` stored them.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder, Expr};
use datafusion::scalar::ScalarValue;
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Param, Params};

use super::text_arg;
use crate::error::SqlStateError;
use crate::registry::Registry;

pub const NAME: &str = "ml_snapshot_read";

/// The `ml_snapshot_read` table function.
#[derive(Debug)]
pub struct SnapshotReadUdtf {
    registry: Arc<Registry>,
}

impl SnapshotReadUdtf {
    pub fn new(registry: Arc<Registry>) -> Self {
        SnapshotReadUdtf { registry }
    }
}

impl TableFunctionSpec for SnapshotReadUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        Param::value("name", "The snapshot's name."),
        Param::value("version", "Optional version number (default: the latest).").optional(),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Features", description: None },
            "The rows of a snapshot version, exactly as ml_snapshot stored them: the latest version, or the one given. Training snapshots are named 'training:<model>'; ml_snapshots lists every version with its sha256, the query it came from and, for training snapshots, the model version. Errors: 42704 for an unknown snapshot or version; 22023 for a version that is not a positive integer.",
            "SELECT * FROM ml_snapshot_read(name [, version])",
        )
        .with_sql_example(
r#"```sql
> SELECT count(*) FROM ml_snapshot_read('churn_features', 1);
+-------+
| count |
+-------+
| 50000 |
+-------+
```"#,
        )
    }
}

impl TableFunctionImpl for SnapshotReadUdtf {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if !(1..=2).contains(&exprs.len()) {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: expected (name [, version]), got {} arguments",
                exprs.len()
            ))
            .into_df());
        }
        let name = text_arg(NAME, exprs, 0, "name").map_err(SqlStateError::into_df)?;
        let version = match exprs.get(1) {
            None => None,
            Some(Expr::Literal(v, _)) => match v.cast_to(&DataType::Int64) {
                Ok(ScalarValue::Int64(Some(n))) if n > 0 => Some(n),
                _ => {
                    return Err(SqlStateError::arg(
                        NAME,
                        "version",
                        "must be a positive integer",
                        v,
                    )
                    .into_df());
                }
            },
            Some(other) => {
                return Err(
                    SqlStateError::arg(NAME, "version", "must be a constant", other).into_df(),
                );
            }
        };
        if let Some((creator, model)) = self
            .registry
            .snapshots
            .creator(&name, version)
            .map_err(SqlStateError::into_df)?
        {
            crate::access::require_snapshot(
                args.session().config_options(),
                &name,
                &creator,
                model.as_deref(),
            )
            .map_err(SqlStateError::into_df)?;
        }
        let table = self
            .registry
            .snapshots
            .table(&name, version)
            .map_err(SqlStateError::into_df)?;
        Ok(Arc::new(table))
    }
}
