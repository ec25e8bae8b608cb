//! Column-level lineage: which stored columns each output column of a plan
//! comes from, and which columns the plan reads at all (in filters, joins,
//! groupings). Worked out from the logical plan when a model version or a
//! snapshot is made, and kept in `ml_column_lineage` beside it, so
//! `ml_lineage` answers from what was true then, whatever happened to the
//! tables since.
//!
//! The walk follows columns by position through projections, filters,
//! sorts, limits, joins, unions, aggregates and windows; an expression
//! takes the sources of every column it refers to. A node it does not know
//! (an extension that changes the columns) conservatively gives each of
//! its columns every column read beneath it.

use std::collections::BTreeSet;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan};
use rusqlite::{Transaction, params};

/// A stored column: (`schema.table`, column).
pub type Source = (String, String);

/// One row of `ml_column_lineage` before it is stored: what the object
/// uses the column as (`feature age`, `label`, `column age`, `read`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Use {
    pub used_as: String,
    pub table: String,
    pub column: String,
}

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ml_column_lineage (
    object_kind   TEXT NOT NULL,
    object        TEXT NOT NULL,
    version       INTEGER NOT NULL,
    used_as       TEXT NOT NULL,
    source_table  TEXT NOT NULL,
    source_column TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ml_column_lineage_object ON ml_column_lineage (object_kind, object);
CREATE INDEX IF NOT EXISTS ml_column_lineage_source ON ml_column_lineage (source_table, source_column);
"#;

/// The table a scan names, qualified with `default_schema`.
fn qualified(reference: &datafusion::common::TableReference, default_schema: &str) -> String {
    format!(
        "{}.{}",
        reference.schema().unwrap_or(default_schema),
        reference.table()
    )
}

/// Per output column of `plan`, the stored columns it comes from.
pub fn outputs(plan: &LogicalPlan, default_schema: &str) -> Vec<BTreeSet<Source>> {
    let width = plan.schema().fields().len();
    let mut sources = match plan {
        LogicalPlan::TableScan(scan) => match view_of(scan) {
            // A view's columns come from what it reads, in its order.
            Some(view) => {
                let inner = outputs(&view, default_schema);
                match &scan.projection {
                    Some(p) => p.iter().filter_map(|i| inner.get(*i).cloned()).collect(),
                    None => inner,
                }
            }
            None => {
                let table = qualified(&scan.table_name, default_schema);
                scan.projected_schema
                    .fields()
                    .iter()
                    .map(|f| BTreeSet::from([(table.clone(), f.name().clone())]))
                    .collect()
            }
        },
        LogicalPlan::Projection(p) => {
            let input = outputs(&p.input, default_schema);
            p.expr
                .iter()
                .map(|e| referenced(e, &p.input, &input, default_schema))
                .collect()
        }
        LogicalPlan::Aggregate(a) => {
            let input = outputs(&a.input, default_schema);
            a.group_expr
                .iter()
                .chain(&a.aggr_expr)
                .map(|e| referenced(e, &a.input, &input, default_schema))
                .collect()
        }
        LogicalPlan::Window(w) => {
            let input = outputs(&w.input, default_schema);
            let mut out = input.clone();
            out.extend(
                w.window_expr
                    .iter()
                    .map(|e| referenced(e, &w.input, &input, default_schema)),
            );
            out
        }
        LogicalPlan::Join(j) => {
            let left = outputs(&j.left, default_schema);
            let right = outputs(&j.right, default_schema);
            match j.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => left,
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => right,
                _ => left.into_iter().chain(right).collect(),
            }
        }
        LogicalPlan::Union(u) => {
            let mut out: Vec<BTreeSet<Source>> = vec![BTreeSet::new(); width];
            for input in &u.inputs {
                for (slot, sources) in out.iter_mut().zip(outputs(input, default_schema)) {
                    slot.extend(sources);
                }
            }
            out
        }
        other => {
            // Filters, sorts, limits, aliases, repartitions, distincts and
            // markers keep their input's columns in place.
            let inputs = other.inputs();
            match inputs.as_slice() {
                [input] if input.schema().fields().len() == width => outputs(input, default_schema),
                _ => Vec::new(),
            }
        }
    };
    if sources.len() != width {
        // Not followed: each column may come from anything read below.
        let all: BTreeSet<Source> = read(plan, default_schema);
        sources = vec![all; width];
    }
    sources
}

/// The sources of the columns `e` refers to, in `input`'s columns; a
/// subquery in it adds what the subquery reads.
fn referenced(
    e: &Expr,
    input: &LogicalPlan,
    sources: &[BTreeSet<Source>],
    default_schema: &str,
) -> BTreeSet<Source> {
    let mut out = BTreeSet::new();
    for column in e.column_refs() {
        if let Ok(i) = input.schema().index_of_column(column)
            && let Some(s) = sources.get(i)
        {
            out.extend(s.iter().cloned());
        }
    }
    let _ = e.apply(|e| {
        match e {
            Expr::ScalarSubquery(q) => out.extend(read(&q.subquery, default_schema)),
            Expr::Exists(q) => out.extend(read(&q.subquery.subquery, default_schema)),
            Expr::InSubquery(q) => out.extend(read(&q.subquery.subquery, default_schema)),
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// Every stored column `plan` reads, subqueries included.
pub fn read(plan: &LogicalPlan, default_schema: &str) -> BTreeSet<Source> {
    let mut out = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            match view_of(scan) {
                Some(view) => out.extend(read(&view, default_schema)),
                None => {
                    let table = qualified(&scan.table_name, default_schema);
                    for f in scan.projected_schema.fields() {
                        out.insert((table.clone(), f.name().clone()));
                    }
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// The plan of the view a scan reads, when it reads one.
fn view_of(scan: &datafusion::logical_expr::TableScan) -> Option<LogicalPlan> {
    let provider = datafusion::datasource::source_as_provider(&scan.source).ok()?;
    let any: &dyn std::any::Any = provider.as_ref();
    any.downcast_ref::<datafusion::datasource::ViewTable>()
        .map(|v| v.logical_plan().clone())
}

/// What an object made from `plan` uses: each output column `name_of`
/// names (`Some("feature age")`; `None` leaves it out) with its sources,
/// then every other column read as `read`.
pub fn uses(
    plan: &LogicalPlan,
    default_schema: &str,
    name_of: impl Fn(&str) -> Option<String>,
) -> Vec<Use> {
    let mut out = BTreeSet::new();
    let mut used = BTreeSet::new();
    for (field, sources) in plan
        .schema()
        .fields()
        .iter()
        .zip(outputs(plan, default_schema))
    {
        let Some(used_as) = name_of(field.name()) else {
            continue;
        };
        for (table, column) in sources {
            used.insert((table.clone(), column.clone()));
            out.insert(Use {
                used_as: used_as.clone(),
                table,
                column,
            });
        }
    }
    for (table, column) in read(plan, default_schema) {
        if !used.contains(&(table.clone(), column.clone())) {
            out.insert(Use {
                used_as: "read".into(),
                table,
                column,
            });
        }
    }
    out.into_iter().collect()
}

/// Stores `uses` of (`kind`, `object`, `version`) in `tx`.
pub fn insert(
    tx: &Transaction<'_>,
    kind: &str,
    object: &str,
    version: i64,
    uses: &[Use],
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO ml_column_lineage (object_kind, object, version, used_as, source_table, source_column)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for u in uses {
        stmt.execute(params![kind, object, version, u.used_as, u.table, u.column])?;
    }
    Ok(())
}

/// The recorded lineage of model `model` version `version`.
pub fn of_version(
    conn: &rusqlite::Connection,
    model: &str,
    version: i64,
) -> rusqlite::Result<Vec<Use>> {
    let mut stmt = conn.prepare(
        "SELECT used_as, source_table, source_column FROM ml_column_lineage
         WHERE object_kind = 'model' AND object = ?1 AND version = ?2
         ORDER BY used_as, source_table, source_column",
    )?;
    stmt.query_map(params![model, version], |r| {
        Ok(Use {
            used_as: r.get(0)?,
            table: r.get(1)?,
            column: r.get(2)?,
        })
    })?
    .collect()
}

/// Forgets the lineage of every version of (`kind`, `object`) in `tx`.
pub fn delete(tx: &Transaction<'_>, kind: &str, object: &str) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM ml_column_lineage WHERE object_kind = ?1 AND object = ?2",
        params![kind, object],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn plan(sql: &str) -> LogicalPlan {
        let ctx = SessionContext::new();
        ctx.sql(
            "CREATE TABLE customers (id INT, age INT, email TEXT, region TEXT, churned BOOLEAN)",
        )
        .await
        .expect("table");
        ctx.sql("CREATE TABLE orders (customer_id INT, amount DOUBLE)")
            .await
            .expect("table");
        ctx.state().create_logical_plan(sql).await.expect("plan")
    }

    fn names(sources: &BTreeSet<Source>) -> Vec<String> {
        sources
            .iter()
            .map(|(t, c)| format!("{}.{c}", t.rsplit('.').next().unwrap_or(t)))
            .collect()
    }

    #[tokio::test]
    async fn columns_are_followed_through_expressions_joins_and_aggregates() {
        let p = plan(
            "SELECT c.age * 2 AS age2, sum(o.amount) AS spend, c.churned \
             FROM customers c JOIN orders o ON c.id = o.customer_id \
             WHERE c.region = 'north' GROUP BY c.age, c.churned",
        )
        .await;
        let out = outputs(&p, "public");
        assert_eq!(out.len(), 3);
        assert_eq!(names(&out[0]), vec!["customers.age"]);
        assert_eq!(names(&out[1]), vec!["orders.amount"]);
        assert_eq!(names(&out[2]), vec!["customers.churned"]);
        let all = names(&read(&p, "public"));
        for column in ["customers.id", "customers.region", "orders.customer_id"] {
            assert!(all.contains(&column.to_string()), "{all:?}");
        }
        let uses = uses(&p, "public", |name| match name {
            "churned" => Some("label".into()),
            "age2" => Some("feature age2".into()),
            _ => None,
        });
        let labels: Vec<String> = uses
            .iter()
            .map(|u| format!("{} {}", u.used_as, u.column))
            .collect();
        assert!(labels.contains(&"label churned".to_string()), "{labels:?}");
        assert!(
            labels.contains(&"feature age2 age".to_string()),
            "{labels:?}"
        );
        assert!(labels.contains(&"read region".to_string()), "{labels:?}");
        // An output left out (spend) leaves its sources as read.
        assert!(labels.contains(&"read amount".to_string()), "{labels:?}");
        assert!(!labels.contains(&"read age".to_string()), "{labels:?}");
    }

    #[tokio::test]
    async fn views_are_followed_to_their_tables() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE customers (id INT, age INT, email TEXT)")
            .await
            .expect("table");
        ctx.sql("CREATE VIEW masked AS SELECT id, age + 1 AS older, upper(email) AS mail FROM customers")
            .await
            .expect("view");
        let p = ctx
            .state()
            .create_logical_plan("SELECT mail, older FROM masked WHERE id > 3")
            .await
            .expect("plan");
        let out = outputs(&p, "public");
        assert_eq!(names(&out[0]), vec!["customers.email"]);
        assert_eq!(names(&out[1]), vec!["customers.age"]);
        assert_eq!(
            names(&read(&p, "public")),
            vec!["customers.age", "customers.email", "customers.id"]
        );
    }

    #[tokio::test]
    async fn unions_and_subqueries_take_every_branch() {
        let p = plan(
            "SELECT age AS x FROM customers UNION ALL \
             SELECT CAST(amount AS INT) FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE email IS NULL)",
        )
        .await;
        let out = outputs(&p, "public");
        assert_eq!(names(&out[0]), vec!["customers.age", "orders.amount"]);
        let all = names(&read(&p, "public"));
        assert!(all.contains(&"customers.email".to_string()), "{all:?}");
    }
}
