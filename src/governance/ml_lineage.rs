//! `SELECT * FROM ml_lineage(target)`: where a model's data came from, or
//! where a table's data went.
//!
//! For a model: per version, each feature's and the label's stored source
//! columns, the other columns its training query read, the training
//! snapshot, the query, who trained it and when. For a table or
//! `table.column`: every model version, snapshot and view that uses it.
//! Model versions and snapshots answer from the lineage recorded when they
//! were made (`governance::lineage`); views from their plans now.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder, Expr};
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Param, Params};

use super::{Governance, ident};
use crate::access::{Checks, Privilege};
use crate::catalog::RelName;
use crate::catalog::staging::Block;
use crate::error::{SqlStateError, sqlstate};

pub const NAME: &str = "ml_lineage";

#[derive(Debug)]
pub struct LineageUdtf {
    governance: Arc<Governance>,
}

impl LineageUdtf {
    pub fn new(governance: &Arc<Governance>) -> Self {
        LineageUdtf {
            governance: governance.clone(),
        }
    }
}

impl TableFunctionSpec for LineageUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[Param::value(
        "target",
        "A model name; or a table, 'table.column' or 'schema.table.column'.",
    )]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Governance", description: None },
            "Lineage, column by column. For a model: one row per version and source column, used_as 'feature <name>', 'label' or 'read' (a column the training query read without passing it on: filters, joins), with the training snapshot (name@version, NULL when none was kept), the training query, who trained it and when; views are followed to their tables. For a table or a column: every model version (kind 'model'), snapshot ('snapshot') and view ('view') that uses it, with how. Columns: kind, object, version, used_as, source_table, source_column, snapshot, query, created_by, created_at. Model versions and snapshots answer from what was recorded when they were made, so a later change to the tables does not rewrite their history. Needs PREDICT on the model, or SELECT on the table. Errors: 42704 for a name that is neither a model nor a table; 42501 without the privilege.",
            "SELECT * FROM ml_lineage(target)",
        )
        .with_sql_example(
r#"```sql
> SELECT version, used_as, source_table, source_column FROM ml_lineage('price') ORDER BY used_as;
+---------+------------------+---------------------+-----------------------+
| version | used_as          | source_table        | source_column         |
+---------+------------------+---------------------+-----------------------+
| 1       | feature bedrooms | public.house_prices | bedrooms              |
| 1       | feature sqft     | public.house_prices | sqft                  |
| 1       | label            | public.house_prices | price                 |
| 1       | read             | public.house_prices | bathrooms             |
| 1       | read             | public.house_prices | condition             |
| 1       | read             | public.house_prices | distance_to_center_km |
| 1       | read             | public.house_prices | has_garage            |
| 1       | read             | public.house_prices | house_id              |
| 1       | read             | public.house_prices | lot_sqft              |
| 1       | read             | public.house_prices | neighborhood          |
| 1       | read             | public.house_prices | year_built            |
+---------+------------------+---------------------+-----------------------+
```"#,
        )
    }
}

/// One output row.
#[derive(Debug, Default)]
struct Row {
    kind: String,
    object: String,
    version: Option<i64>,
    used_as: String,
    source_table: String,
    source_column: String,
    snapshot: Option<String>,
    query: Option<String>,
    created_by: Option<String>,
    created_at: Option<String>,
}

fn schema() -> SchemaRef {
    let text = |n: &str, nullable| Field::new(n, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("kind", false),
        text("object", false),
        Field::new("version", DataType::Int64, true),
        text("used_as", false),
        text("source_table", false),
        text("source_column", false),
        text("snapshot", true),
        text("query", true),
        text("created_by", true),
        text("created_at", true),
    ]))
}

fn batch(rows: &[Row]) -> std::result::Result<RecordBatch, SqlStateError> {
    let s = |f: &dyn Fn(&Row) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let o = |f: &dyn Fn(&Row) -> Option<&str>| -> ArrayRef {
        Arc::new(StringArray::from_iter(rows.iter().map(f)))
    };
    RecordBatch::try_new(
        schema(),
        vec![
            s(&|r| &r.kind),
            s(&|r| &r.object),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.version))),
            s(&|r| &r.used_as),
            s(&|r| &r.source_table),
            s(&|r| &r.source_column),
            o(&|r| r.snapshot.as_deref()),
            o(&|r| r.query.as_deref()),
            o(&|r| r.created_by.as_deref()),
            o(&|r| r.created_at.as_deref()),
        ],
    )
    .map_err(SqlStateError::internal)
}

impl LineageUdtf {
    fn model_rows(&self, name: &str) -> std::result::Result<Vec<Row>, SqlStateError> {
        self.governance.registry.store().with_conn(|conn| {
            let mut stmt = conn.prepare(
                "SELECT l.version, l.used_as, l.source_table, l.source_column,
                        (SELECT s.name || '@' || s.version FROM ml_snapshot_versions s
                         WHERE s.model = l.object AND s.model_version = l.version),
                        v.training_query, v.created_by, v.created_at
                 FROM ml_column_lineage l
                 JOIN ml_model_versions v ON v.model = l.object AND v.version = l.version
                 WHERE l.object_kind = 'model' AND l.object = ?1
                 ORDER BY l.version, l.used_as, l.source_table, l.source_column",
            )?;
            stmt.query_map([name], |r| {
                Ok(Row {
                    kind: "model".into(),
                    object: name.to_string(),
                    version: r.get(0)?,
                    used_as: r.get(1)?,
                    source_table: r.get(2)?,
                    source_column: r.get(3)?,
                    snapshot: r.get(4)?,
                    query: r.get(5)?,
                    created_by: r.get(6)?,
                    created_at: r.get(7)?,
                })
            })?
            .collect()
        })
    }

    fn source_rows(
        &self,
        state: &datafusion::execution::SessionState,
        table: &str,
        column: Option<&str>,
    ) -> std::result::Result<Vec<Row>, SqlStateError> {
        let mut rows: Vec<Row> = self.governance.registry.store().with_conn(|conn| {
            let mut stmt = conn.prepare(
                "SELECT l.object_kind, l.object, l.version, l.used_as, l.source_table, l.source_column,
                        CASE WHEN l.object_kind = 'model' THEN
                            (SELECT ts.name || '@' || ts.version FROM ml_snapshot_versions ts
                             WHERE ts.model = l.object AND ts.model_version = l.version) END,
                        coalesce(v.training_query, s.query),
                        coalesce(v.created_by, s.created_by),
                        coalesce(v.created_at, s.created_at)
                 FROM ml_column_lineage l
                 LEFT JOIN ml_model_versions v
                   ON l.object_kind = 'model' AND v.model = l.object AND v.version = l.version
                 LEFT JOIN ml_snapshot_versions s
                   ON l.object_kind = 'snapshot' AND s.name = l.object AND s.version = l.version
                 WHERE l.source_table = ?1 AND (?2 IS NULL OR l.source_column = ?2)
                 ORDER BY l.object_kind, l.object, l.version, l.used_as, l.source_column",
            )?;
            stmt.query_map(rusqlite::params![table, column], |r| {
                Ok(Row {
                    kind: r.get(0)?,
                    object: r.get(1)?,
                    version: r.get(2)?,
                    used_as: r.get(3)?,
                    source_table: r.get(4)?,
                    source_column: r.get(5)?,
                    snapshot: r.get(6)?,
                    query: r.get(7)?,
                    created_by: r.get(8)?,
                    created_at: r.get(9)?,
                })
            })?
            .collect()
        })?;
        if let Some(catalog) = self.governance.catalog.upgrade() {
            for (name, plan, definition) in catalog.views() {
                let plan = state.optimize(&plan).unwrap_or(plan);
                let uses =
                    super::lineage::uses(&plan, &name.schema, |c| Some(format!("column {c}")));
                for u in uses {
                    if u.table == table && column.is_none_or(|c| c == u.column) {
                        rows.push(Row {
                            kind: "view".into(),
                            object: name.to_string(),
                            version: None,
                            used_as: u.used_as,
                            source_table: u.table,
                            source_column: u.column,
                            snapshot: None,
                            query: definition.clone(),
                            created_by: None,
                            created_at: None,
                        });
                    }
                }
            }
        }
        Ok(rows)
    }

    /// The stored table and column `target` names: `table`, `table.column`,
    /// `schema.table` or `schema.table.column`.
    fn resolve(
        &self,
        target: &str,
        default_schema: &str,
    ) -> std::result::Result<(RelName, Option<String>), SqlStateError> {
        let catalog = self
            .governance
            .catalog
            .upgrade()
            .ok_or_else(|| SqlStateError::internal("the catalog is gone"))?;
        let parts: Vec<String> = target.split('.').map(ident).collect();
        let exists = |n: &RelName| catalog.relation_id(n, &Block::default()).is_some();
        let candidates: Vec<(RelName, Option<String>)> = match parts.as_slice() {
            [t] => vec![(RelName::new(default_schema, t.as_str()), None)],
            [a, b] => vec![
                (RelName::new(default_schema, a.as_str()), Some(b.clone())),
                (RelName::new(a.as_str(), b.as_str()), None),
            ],
            [s, t, c] => vec![(RelName::new(s.as_str(), t.as_str()), Some(c.clone()))],
            _ => Vec::new(),
        };
        candidates
            .into_iter()
            .find(|(n, _)| exists(n))
            .ok_or_else(|| {
                SqlStateError::new(
                    sqlstate::UNDEFINED_OBJECT,
                    format!("{NAME}: \"{target}\" is neither a model nor a table"),
                )
                .with_hint("name a model, a table, 'table.column' or 'schema.table.column'")
            })
    }
}

impl TableFunctionImpl for LineageUdtf {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let target = match args.exprs() {
            [Expr::Literal(v, _)] => crate::registry::functions::text(v),
            _ => None,
        }
        .ok_or_else(|| {
            SqlStateError::bad_argument(format!(
                "{NAME}: expected (target), a model or 'table.column' as a text literal"
            ))
            .into_df()
        })?;
        let state = args
            .session()
            .as_any()
            .downcast_ref::<datafusion::execution::SessionState>()
            .ok_or_else(|| {
                SqlStateError::internal(format!("{NAME}: no session state")).into_df()
            })?;
        let config = args.session().config_options();
        let checks = Checks {
            access: &self.governance.access,
            user: quarry_udfs::session_info::user(config),
        };
        let run = || -> std::result::Result<Vec<Row>, SqlStateError> {
            let model = crate::registry::normalize(&target);
            if self.governance.registry.model_exists(&model)? {
                checks.model(&model, Privilege::Predict)?;
                return self.model_rows(&model);
            }
            let (table, column) = self.resolve(&target, &config.catalog.default_schema)?;
            let catalog = self
                .governance
                .catalog
                .upgrade()
                .ok_or_else(|| SqlStateError::internal("the catalog is gone"))?;
            checks.relation(&catalog, &Block::default(), &table, Privilege::Select)?;
            self.source_rows(
                state,
                &format!("{}.{}", table.schema, table.name),
                column.as_deref(),
            )
        };
        let rows = run().map_err(SqlStateError::into_df)?;
        let batch = batch(&rows).map_err(SqlStateError::into_df)?;
        Ok(Arc::new(MemTable::try_new(schema(), vec![vec![batch]])?))
    }
}
