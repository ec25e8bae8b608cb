//! A subquery in `ORDER BY`: `ORDER BY CASE WHEN x IN (SELECT ...) THEN 0
//! ELSE 1 END` (Grafana's table list sorts the tables on the search path
//! first so).
//!
//! DataFusion plans subqueries in projections, filters and joins, not in a
//! sort ("subquery can only be used in Projection, Filter, ..."). A query
//! sorted by one is read as the same query with each such key computed as a
//! column of its own, sorted outside and the extra columns left out:
//!
//! ```sql
//! SELECT a, b FROM t ORDER BY f(SELECT ...), 1 LIMIT 5
//! -- is
//! SELECT quarry_sorted.a, quarry_sorted.b
//! FROM (SELECT a, b, f(SELECT ...) AS quarry_sort_1 FROM t) quarry_sorted
//! ORDER BY quarry_sorted.quarry_sort_1, 1 LIMIT 5
//! ```
//!
//! The subquery in the select list is then planned as any other (the
//! select-list rewrite of `IN`/`EXISTS`, `subquery_predicates`, runs
//! after). Only a plain `SELECT` whose items each have a distinct name (a
//! column or an alias) and no `DISTINCT` is read so; anything else is left to
//! fail as before.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, OrderByKind, Query, Select, SelectItem, SetExpr, Visit, Visitor, VisitorMut,
};

use super::rewrite::sql_statement;

/// Rewrites every query of a statement sorted by a subquery.
pub(super) struct SortSubqueries;

impl VisitorMut for SortSubqueries {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(rewritten) = sorted_outside(query) {
            *query = rewritten;
        }
        ControlFlow::Continue(())
    }
}

/// The alias the inner query takes.
const INNER: &str = "quarry_sorted";

fn sorted_outside(query: &Query) -> Option<Query> {
    let order_by = query.order_by.as_ref()?;
    let OrderByKind::Expressions(keys) = &order_by.kind else {
        return None;
    };
    if !keys.iter().any(|k| has_subquery(&k.expr)) || query.with.is_some() {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if select.distinct.is_some() || select.into.is_some() {
        return None;
    }
    let names = output_names(select)?;

    let mut inner: Select = select.as_ref().clone();
    let mut outer_keys = keys.clone();
    for (i, key) in outer_keys.iter_mut().enumerate() {
        let by_output = match &key.expr {
            Expr::Value(_) => true,
            Expr::Identifier(ident) => names.contains(&normalized(ident)),
            _ => false,
        };
        if by_output {
            continue;
        }
        let hidden = format!("quarry_sort_{}", i + 1);
        inner.projection.push(SelectItem::ExprWithAlias {
            expr: key.expr.clone(),
            alias: Ident::new(&hidden),
        });
        key.expr = Expr::CompoundIdentifier(vec![Ident::new(INNER), Ident::new(hidden)]);
    }
    let columns: Vec<String> = names
        .iter()
        .map(|n| format!("{INNER}.{}", Ident::with_quote('"', n)))
        .collect();
    let text = format!("SELECT {} FROM ({inner}) {INNER}", columns.join(", "));
    let datafusion::sql::sqlparser::ast::Statement::Query(outer) = sql_statement(&text).ok()?
    else {
        return None;
    };
    let mut outer = *outer;
    let mut order_by = order_by.clone();
    order_by.kind = OrderByKind::Expressions(outer_keys);
    outer.order_by = Some(order_by);
    outer.limit_clause = query.limit_clause.clone();
    outer.fetch = query.fetch.clone();
    outer.locks = query.locks.clone();
    Some(outer)
}

/// An identifier as the name it stands for: folded to lower case unless
/// quoted, as PostgreSQL (and DataFusion's planner) read one.
fn normalized(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// The name of each select item (its alias, or the column it is), if all
/// have one and no two share it.
fn output_names(select: &Select) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for item in &select.projection {
        let name = match item {
            SelectItem::ExprWithAlias { alias, .. } => normalized(alias),
            SelectItem::UnnamedExpr(Expr::Identifier(ident)) => normalized(ident),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => normalized(parts.last()?),
            _ => return None,
        };
        if names.contains(&name) {
            return None;
        }
        names.push(name);
    }
    Some(names)
}

/// Whether `expr` holds a subquery (`IN (SELECT ...)`, `EXISTS`, a scalar
/// subquery).
fn has_subquery(expr: &Expr) -> bool {
    struct Finder;
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
    }
    expr.visit(&mut Finder).is_break()
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::VisitMut;

    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = sql_statement(sql).expect("parses");
        let _ = VisitMut::visit(&mut statement, &mut SortSubqueries);
        statement.to_string()
    }

    #[test]
    fn a_key_with_a_subquery_is_computed_inside_and_sorted_outside() {
        assert_eq!(
            rewritten(
                "SELECT a AS x, t.b FROM t ORDER BY CASE WHEN a IN (SELECT c FROM u) THEN 0 ELSE 1 END, 1 LIMIT 3"
            ),
            "SELECT quarry_sorted.\"x\", quarry_sorted.\"b\" FROM (SELECT a AS x, t.b, \
             CASE WHEN a IN (SELECT c FROM u) THEN 0 ELSE 1 END AS quarry_sort_1 FROM t) quarry_sorted \
             ORDER BY quarry_sorted.quarry_sort_1, 1 LIMIT 3"
        );
    }

    #[test]
    fn names_are_read_as_the_planner_reads_them() {
        assert_eq!(
            rewritten(r#"SELECT Name, a AS "X" FROM t ORDER BY x, (SELECT 1)"#),
            "SELECT quarry_sorted.\"name\", quarry_sorted.\"X\" FROM (SELECT Name, a AS \"X\", \
             x AS quarry_sort_1, (SELECT 1) AS quarry_sort_2 FROM t) quarry_sorted \
             ORDER BY quarry_sorted.quarry_sort_1, quarry_sorted.quarry_sort_2"
        );
    }

    #[test]
    fn other_queries_are_left_alone() {
        for sql in [
            "SELECT a FROM t ORDER BY a",
            "SELECT DISTINCT a FROM t ORDER BY (SELECT 1)",
            "SELECT a + 1 FROM t ORDER BY (SELECT 1)",
            "SELECT * FROM t ORDER BY (SELECT 1)",
            "SELECT a, a FROM t ORDER BY (SELECT 1)",
            "SELECT a, A FROM t ORDER BY (SELECT 1)",
            "SELECT a INTO TEMPORARY t2 FROM t ORDER BY (SELECT 1)",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
