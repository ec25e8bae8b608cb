//! `SELECT * FROM ml_trace_subject('customers.customer_id', 42)`: where a
//! data subject's rows are, for an access request (GDPR article 15).
//!
//! Looked in: every managed table with a column of the key's name; every
//! snapshot (training sets included) with a column whose recorded lineage
//! is the key column; the prediction log and the feedback of every model
//! whose policy `key` is the key column's name. One row per place, with
//! the rows that hold the subject (0 included: where it looked is part of
//! the answer). The call is one query: each place is a branch of a union
//! of counts, so tables are checked for `SELECT` as in any query.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, TableReference};
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, Expr, LogicalPlan, LogicalPlanBuilder, cast,
    ident, lit,
};
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Args, Param, Params};
use quarry_udfs::functions::relation::RelationFunction;

use super::Governance;
use crate::catalog::RelName;
use crate::error::SqlStateError;

pub const NAME: &str = "ml_trace_subject";

#[derive(Debug)]
pub struct TraceSubjectUdtf {
    governance: Arc<Governance>,
}

impl TraceSubjectUdtf {
    pub fn new(governance: &Arc<Governance>) -> Self {
        TraceSubjectUdtf {
            governance: governance.clone(),
        }
    }
}

impl TableFunctionSpec for TraceSubjectUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        Param::value(
            "key",
            "Text: the column that identifies a person, 'table.column' or 'schema.table.column'.",
        ),
        Param::value(
            "value",
            "The person's key (compared as text: 42 and '42' are the same subject).",
        ),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Governance", description: None },
            "Where a data subject's rows are, for an access request: one row per place looked in, with kind ('table', 'snapshot', 'prediction_log' or 'feedback'), object (the table, snapshot@version or model), column_name (the column that holds the key there) and rows (how many rows hold the subject, 0 included). Places: every managed table with a column of the key's name; every snapshot, training snapshots included, with a column whose lineage (ml_lineage) is the key column; the prediction log and feedback of every model whose policy key (ml_set_policy) has the key column's name. Values are compared as text. Rows reached only through other columns (a table keyed by e-mail address) are not found: trace each key. Superusers and members of auditor only, and SELECT on each table as in any query. Errors: 42P01 unknown table; 42703 unknown column; 42501 without the role or a privilege; 22023 for a NULL or non-constant value.",
            "SELECT * FROM ml_trace_subject(key, value)",
        )
        .with_sql_example(
r#"```sql
> SELECT kind, object, column_name, rows FROM ml_trace_subject('customers.customer_id', 42)
  WHERE kind = 'table' ORDER BY object;
+-------+-------------------------+-------------+------+
| kind  | object                  | column_name | rows |
+-------+-------------------------+-------------+------+
| table | public.customers        | customer_id | 1    |
| table | public.customers_recent | customer_id | 0    |
+-------+-------------------------+-------------+------+
```"#,
        )
    }
}

/// A place a subject's rows may be.
struct Place {
    kind: &'static str,
    object: String,
    column: String,
    plan: LogicalPlan,
    /// Rows of this model only (the logs).
    model: Option<String>,
}

impl TraceSubjectUdtf {
    fn places(
        &self,
        table: &RelName,
        column: &str,
    ) -> std::result::Result<Vec<Place>, SqlStateError> {
        let catalog = self
            .governance
            .catalog
            .upgrade()
            .ok_or_else(|| SqlStateError::internal("the catalog is gone"))?;
        let scan = |name: &RelName| -> std::result::Result<Option<LogicalPlan>, SqlStateError> {
            let Some(provider) = catalog.relation_provider(name) else {
                return Ok(None);
            };
            let reference = TableReference::partial(name.schema.clone(), name.name.clone());
            Ok(Some(
                LogicalPlanBuilder::scan(reference, provider_as_source(provider), None)
                    .and_then(LogicalPlanBuilder::build)
                    .map_err(|e| SqlStateError::internal(e.to_string()))?,
            ))
        };
        let mut places = Vec::new();
        let store = self.governance.registry.store();
        for row in store.relations()? {
            if !row.kind.is_managed() {
                continue;
            }
            let name = RelName::new(row.schema_name.clone(), row.name.clone());
            let has = catalog
                .relation_schema(&name)
                .is_some_and(|s| s.field_with_name(column).is_ok());
            if has && let Some(plan) = scan(&name)? {
                places.push(Place {
                    kind: "table",
                    object: format!("{}.{}", name.schema, name.name),
                    column: column.to_string(),
                    plan,
                    model: None,
                });
            }
        }
        // Snapshots holding the key column, by their recorded lineage.
        let source = format!("{}.{}", table.schema, table.name);
        let snapshots: Vec<(String, i64, String)> = store.with_conn(|conn| {
            let mut stmt = conn.prepare(
                "SELECT l.object, l.version, substr(l.used_as, 8)
                 FROM ml_column_lineage l
                 JOIN ml_snapshot_versions s ON s.name = l.object AND s.version = l.version
                 WHERE l.object_kind = 'snapshot' AND l.source_table = ?1
                   AND l.source_column = ?2 AND l.used_as LIKE 'column %'
                 ORDER BY l.object, l.version",
            )?;
            stmt.query_map(rusqlite::params![source, column], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect()
        })?;
        for (name, version, snapshot_column) in snapshots {
            let table = self
                .governance
                .registry
                .snapshots
                .table(&name, Some(version))?;
            let object = format!("{name}@{version}");
            let plan = LogicalPlanBuilder::scan(
                TableReference::bare(object.clone()),
                provider_as_source(Arc::new(table)),
                None,
            )
            .and_then(LogicalPlanBuilder::build)
            .map_err(|e| SqlStateError::internal(e.to_string()))?;
            places.push(Place {
                kind: "snapshot",
                object,
                column: snapshot_column,
                plan,
                model: None,
            });
        }
        // The logs of models keyed by this column.
        for (model, policy) in self.governance.registry.policies()? {
            if policy.get("key").and_then(|k| k.as_str()) != Some(column) {
                continue;
            }
            for (kind, log) in [
                ("prediction_log", crate::serving::log::TABLE),
                ("feedback", crate::serving::feedback::TABLE),
            ] {
                if let Some(plan) = scan(&RelName::new("public", log))? {
                    places.push(Place {
                        kind,
                        object: model.clone(),
                        column: "key".into(),
                        plan,
                        model: Some(model.clone()),
                    });
                }
            }
        }
        Ok(places)
    }
}

impl RelationFunction for TraceSubjectUdtf {
    fn plan(&self, mut args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let df = SqlStateError::into_df;
        let key = args.text(0)?;
        let value = match args.value(1) {
            Some(Expr::Literal(v, _)) if !v.is_null() => v.to_string(),
            _ => {
                return Err(df(SqlStateError::bad_argument(format!(
                    "{NAME}: value must be a constant that is not NULL"
                ))));
            }
        };
        args.at_most(2)?;
        let config = ctx.context_provider().options();
        let user = quarry_udfs::session_info::user(config);
        let acl = self.governance.access.acl().map_err(df)?;
        acl.require_role(&user, crate::access::AUDITOR, "trace a data subject")
            .map_err(df)?;
        let (table, column) =
            super::ml_tag::column_of(NAME, &key, &config.catalog.default_schema).map_err(df)?;
        let catalog = self
            .governance
            .catalog
            .upgrade()
            .ok_or_else(|| df(SqlStateError::internal("the catalog is gone")))?;
        match catalog.relation_schema(&table) {
            None => {
                return Err(df(SqlStateError::new(
                    crate::error::sqlstate::UNDEFINED_TABLE,
                    format!("relation \"{table}\" does not exist"),
                )));
            }
            Some(s) if s.field_with_name(&column).is_err() => {
                return Err(df(SqlStateError::new(
                    crate::error::sqlstate::UNDEFINED_COLUMN,
                    format!("column \"{column}\" of relation \"{table}\" does not exist"),
                )));
            }
            Some(_) => {}
        }
        // Each place's matching rows as (kind, object, column, 1), and each
        // place once with 0 (so a place without the subject is listed),
        // summed per place. (Counting in each branch instead would put a
        // global aggregate under the literal columns, and a filter on
        // them, pushed below it, would turn a 0 into a row.)
        let places = self.places(&table, &column).map_err(df)?;
        let zeros: Vec<Vec<Expr>> = places
            .iter()
            .map(|p| {
                vec![
                    lit(p.kind),
                    lit(p.object.clone()),
                    lit(p.column.clone()),
                    lit(0i64),
                ]
            })
            .collect();
        if zeros.is_empty() {
            // Only a view or an external table has the column: no rows.
            return LogicalPlanBuilder::empty(false)
                .project(vec![
                    lit(ScalarValue::Utf8(None)).alias("kind"),
                    lit(ScalarValue::Utf8(None)).alias("object"),
                    lit(ScalarValue::Utf8(None)).alias("column_name"),
                    lit(ScalarValue::Int64(None)).alias("rows"),
                ])?
                .build();
        }
        let mut plan = LogicalPlanBuilder::values(zeros)?.project(vec![
            ident("column1").alias("kind"),
            ident("column2").alias("object"),
            ident("column3").alias("column_name"),
            ident("column4").alias("hit"),
        ])?;
        for place in places {
            let mut matches = cast(ident(&place.column), DataType::Utf8).eq(lit(value.clone()));
            if let Some(model) = &place.model {
                matches = matches.and(ident("model").eq(lit(model.clone())));
            }
            let branch = LogicalPlanBuilder::from(place.plan)
                .filter(matches)?
                .project(vec![
                    lit(place.kind).alias("kind"),
                    lit(place.object).alias("object"),
                    lit(place.column).alias("column_name"),
                    lit(1i64).alias("hit"),
                ])?
                .build()?;
            plan = plan.union(branch)?;
        }
        plan.aggregate(
            vec![ident("kind"), ident("object"), ident("column_name")],
            vec![sum(ident("hit")).alias("rows")],
        )?
        .build()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_compare_as_their_text() {
        use datafusion::common::ScalarValue;
        assert_eq!(ScalarValue::Int64(Some(42)).to_string(), "42");
        assert_eq!(ScalarValue::Utf8(Some("42".into())).to_string(), "42");
    }
}
