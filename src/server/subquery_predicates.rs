//! `x [NOT] IN (subquery)` and `[NOT] EXISTS (subquery)` in a select list.
//!
//! DataFusion plans these predicates only as filters (a `WHERE` conjunct,
//! which it turns into a semi join); in a select list (`SELECT x IN (SELECT
//! ...)`, Grafana's older table list, ORMs' `exists()` columns) it stopped
//! with an internal "physical plan does not support" error. They are read as
//! the counting scalar subqueries DataFusion does decorrelate, keeping SQL's
//! three-valued answer:
//!
//! - `EXISTS (q)` is `(SELECT count(*) ...q's FROM and WHERE...) > 0` for a
//!   plain `SELECT` (correlated or not), else a count of `q`'s rows;
//! - `x IN (q)` is true when a row of `q` equals `x`, false when none does
//!   and none is NULL (or `q` is empty), and NULL otherwise, as PostgreSQL
//!   answers. `q` is read as a derived table, so it may not refer to the
//!   outer query (that stays unsupported); `x` may.
//!
//! The rewritten item keeps PostgreSQL's column name (`exists`, `?column?`,
//! `case`...) through an internal alias (`colnames::duplicate_alias`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Query, SelectItem, SetExpr, VisitMut, VisitorMut};

use super::rewrite::{named_as_postgres, select_lists_mut, sql_expr};

/// Rewrites the select lists of every query in a statement.
pub(super) struct SubqueryPredicates;

impl VisitorMut for SubqueryPredicates {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let mut lists = Vec::new();
        select_lists_mut(&mut query.body, &mut lists);
        for list in lists {
            for (i, item) in list.iter_mut().enumerate() {
                let expr = match item {
                    SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                    _ => continue,
                };
                let name = crate::compat::colnames::expr_name(expr);
                let mut predicates = Predicates::default();
                let _ = expr.visit(&mut predicates);
                if predicates.rewrote {
                    named_as_postgres(item, i, &name);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Rewrites the predicates of one expression, not those of the queries
/// nested in it (each is rewritten as a query of its own).
#[derive(Default)]
struct Predicates {
    /// How many nested queries the visit is inside.
    depth: usize,
    rewrote: bool,
}

impl VisitorMut for Predicates {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        let text = match expr {
            Expr::Exists { subquery, negated } => {
                let counted = format!("{} > 0", count_of(subquery));
                Some(if *negated {
                    format!("NOT ({counted})")
                } else {
                    counted
                })
            }
            Expr::InSubquery {
                expr: needle,
                subquery,
                negated,
            } => {
                let rows = format!("({subquery}) AS __quarry_in(v)");
                let membership = format!(
                    "CASE WHEN (SELECT count(*) FROM {rows} WHERE __quarry_in.v = ({needle})) > 0 \
                     THEN true \
                     WHEN (SELECT count(*) FROM {rows}) = 0 THEN false \
                     WHEN ({needle}) IS NULL THEN CAST(NULL AS BOOLEAN) \
                     WHEN (SELECT count(*) FROM {rows} WHERE __quarry_in.v IS NULL) > 0 \
                     THEN CAST(NULL AS BOOLEAN) \
                     ELSE false END"
                );
                Some(if *negated {
                    format!("NOT ({membership})")
                } else {
                    format!("({membership})")
                })
            }
            _ => None,
        };
        if let Some(text) = text
            && let Ok(rewritten) = sql_expr(&text)
        {
            *expr = rewritten;
            self.rewrote = true;
        }
        ControlFlow::Continue(())
    }
}

/// A scalar subquery counting the rows of `query`: a plain `SELECT` keeps
/// its `FROM` and `WHERE` (so a correlated one is decorrelated), anything
/// else is counted as a derived table.
fn count_of(query: &Query) -> String {
    if let SetExpr::Select(select) = query.body.as_ref()
        && query.with.is_none()
        && query.order_by.is_none()
        && query.limit_clause.is_none()
        && query.fetch.is_none()
        && select.distinct.is_none()
        && select.having.is_none()
        && super::rewrite::GroupByExt::group_by_is_empty(select.as_ref())
        && !select.projection.iter().any(has_aggregate)
    {
        let mut counting = query.clone();
        if let SetExpr::Select(select) = counting.body.as_mut() {
            select.projection = vec![SelectItem::UnnamedExpr(
                sql_expr("count(*)")
                    .unwrap_or_else(|_| Expr::value(datafusion::sql::sqlparser::ast::Value::Null)),
            )];
        }
        return format!("({counting})");
    }
    format!("(SELECT count(*) FROM ({query}) AS __quarry_exists)")
}

/// Whether a select item calls an aggregate (which would make the plain
/// count a count of groups).
fn has_aggregate(item: &SelectItem) -> bool {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
            super::rewrite::is_aggregate(e)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::QuarryDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::new(&QuarryDialect::default())
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statement())
            .expect("parsed");
        let _ = statement.visit(&mut SubqueryPredicates);
        statement.to_string()
    }

    #[test]
    fn exists_in_a_select_list_is_a_count() {
        let sql = rewritten("SELECT EXISTS (SELECT 1 FROM t WHERE t.a = u.b) FROM u");
        assert!(
            sql.contains("(SELECT count(*) FROM t WHERE t.a = u.b) > 0"),
            "{sql}"
        );
        assert!(sql.contains("__quarry_dup1__exists"), "{sql}");
    }

    #[test]
    fn in_keeps_three_valued_logic() {
        let sql = rewritten("SELECT x NOT IN (SELECT y FROM t) AS missing FROM u");
        assert!(sql.contains("NOT (CASE WHEN"), "{sql}");
        assert!(sql.contains("IS NULL THEN CAST(NULL AS BOOLEAN)"), "{sql}");
        assert!(sql.ends_with("AS missing FROM u"), "{sql}");
    }

    #[test]
    fn filters_and_nested_queries_are_left_alone() {
        let sql = "SELECT a FROM t WHERE a IN (SELECT b FROM u)";
        assert_eq!(rewritten(sql), sql);
    }
}
