//! Where a result column comes from: the table OID and column number in its
//! row description.
//!
//! PostgreSQL's `RowDescription` names, for a column that is a plain
//! reference to a table's column, that table's OID and the column's number
//! (`attnum`); anything else gets zeros. Clients read them: DBeaver and
//! pgJDBC's `ResultSetMetaData.getTableName`/`isAutoIncrement` map a result
//! back to its table, an editable grid needs to know which table to update.
//! The OIDs must be the ones the session's own `pg_class` shows, so they are
//! looked up there (`Session::relation_oid`), and the column number is the
//! column's position in its table, as `pg_attribute.attnum` counts it.
//!
//! A column is traced down the plan through projections that only rename,
//! filters, sorts, limits, joins, subquery aliases and `GROUP BY` keys, to a
//! table scan, as PostgreSQL's parser traces `resorigtbl` through
//! subqueries. Expressions, aggregates and set operations have no origin.

use std::sync::Arc;

use datafusion::common::TableReference;
use datafusion::logical_expr::{Distinct, Expr, JoinType, LogicalPlan};

use crate::catalog::local::TEMP_SCHEMA;
use crate::session::Session;

/// A result column's table (OID) and column number (1-based).
pub type Origin = (u32, i16);

/// The origin of each result column of `plan`, where it has one; `None`
/// when no column has one.
pub async fn resolve(
    session: &Session,
    definitions: u64,
    plan: &LogicalPlan,
) -> Option<Arc<[Option<Origin>]>> {
    let traced: Vec<_> = (0..plan.schema().fields().len())
        .map(|i| trace(plan, i))
        .collect();
    if traced.iter().all(Option::is_none) {
        return None;
    }
    let (catalog, default_schema) = {
        let state = session.ctx.state_ref();
        let state = state.read();
        let options = &state.config_options().catalog;
        (
            options.default_catalog.clone(),
            options.default_schema.clone(),
        )
    };
    let mut origins = Vec::with_capacity(traced.len());
    for column in traced {
        let origin = match column {
            Some((table, attnum)) => {
                let (schema, name) = match table.schema() {
                    None if session.local.get(table.table()).is_some() => {
                        (TEMP_SCHEMA.to_string(), table.table().to_string())
                    }
                    _ => {
                        let resolved = table.clone().resolve(&catalog, &default_schema);
                        (resolved.schema.to_string(), resolved.table.to_string())
                    }
                };
                session
                    .relation_oid(definitions, &schema, &name)
                    .await
                    .map(|oid| (oid, attnum))
            }
            None => None,
        };
        origins.push(origin);
    }
    origins
        .iter()
        .any(Option::is_some)
        .then(|| Arc::from(origins))
}

/// The table and column number output column `i` of `plan` is a plain
/// reference to, if it is one.
fn trace(plan: &LogicalPlan, i: usize) -> Option<(TableReference, i16)> {
    match plan {
        LogicalPlan::Projection(projection) => {
            let input = &projection.input;
            column_of(input, projection.expr.get(i)?).and_then(|j| trace(input, j))
        }
        LogicalPlan::Filter(filter) => trace(&filter.input, i),
        LogicalPlan::Sort(sort) => trace(&sort.input, i),
        LogicalPlan::Limit(limit) => trace(&limit.input, i),
        LogicalPlan::SubqueryAlias(alias) => trace(&alias.input, i),
        LogicalPlan::Repartition(repartition) => trace(&repartition.input, i),
        LogicalPlan::Distinct(Distinct::All(input)) => trace(input, i),
        LogicalPlan::Window(window) if i < window.input.schema().fields().len() => {
            trace(&window.input, i)
        }
        LogicalPlan::Aggregate(aggregate) => {
            let input = &aggregate.input;
            column_of(input, aggregate.group_expr.get(i)?).and_then(|j| trace(input, j))
        }
        LogicalPlan::Join(join) => {
            let left = join.left.schema().fields().len();
            match join.join_type {
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => {
                    trace(&join.right, i)
                }
                _ if i < left => trace(&join.left, i),
                JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                    trace(&join.right, i - left)
                }
                _ => None,
            }
        }
        LogicalPlan::TableScan(scan) => {
            let column = match &scan.projection {
                Some(projection) => *projection.get(i)?,
                None => i,
            };
            let attnum = i16::try_from(column + 1).ok()?;
            Some((scan.table_name.clone(), attnum))
        }
        _ => None,
    }
}

/// The position in `input`'s output of the column `expr` is (renamed or
/// not).
fn column_of(input: &LogicalPlan, expr: &Expr) -> Option<usize> {
    match expr.clone().unalias_nested().data {
        Expr::Column(column) => input.schema().index_of_column(&column).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    async fn traced(sql: &str) -> Vec<Option<(String, i16)>> {
        let ctx = SessionContext::new();
        for (name, columns) in [("t", ["a", "b", "c"]), ("u", ["x", "y", "z"])] {
            let schema = Arc::new(Schema::new(
                columns
                    .iter()
                    .map(|c| Field::new(*c, DataType::Int64, true))
                    .collect::<Vec<_>>(),
            ));
            let table = MemTable::try_new(schema, vec![vec![]]).expect("table");
            ctx.register_table(name, Arc::new(table))
                .expect("registered");
        }
        let plan = ctx.state().create_logical_plan(sql).await.expect("planned");
        (0..plan.schema().fields().len())
            .map(|i| trace(&plan, i).map(|(t, n)| (t.table().to_string(), n)))
            .collect()
    }

    fn at(table: &str, n: i16) -> Option<(String, i16)> {
        Some((table.to_string(), n))
    }

    #[tokio::test]
    async fn plain_columns_name_their_table_and_position() {
        assert_eq!(
            traced("SELECT c, a AS renamed, a + 1, 'k' FROM t WHERE b > 0 ORDER BY a LIMIT 3")
                .await,
            vec![at("t", 3), at("t", 1), None, None]
        );
        assert_eq!(
            traced("SELECT * FROM t").await,
            vec![at("t", 1), at("t", 2), at("t", 3)]
        );
    }

    #[tokio::test]
    async fn traced_through_joins_subqueries_and_group_keys() {
        assert_eq!(
            traced("SELECT u.z, t.b FROM t JOIN u ON t.a = u.x").await,
            vec![at("u", 3), at("t", 2)]
        );
        assert_eq!(
            traced("SELECT s.v FROM (SELECT b AS v FROM t) s").await,
            vec![at("t", 2)]
        );
        assert_eq!(
            traced("SELECT b, count(*) FROM t GROUP BY b").await,
            vec![at("t", 2), None]
        );
        assert_eq!(
            traced("SELECT a FROM t UNION ALL SELECT x FROM u").await,
            vec![None]
        );
    }
}
