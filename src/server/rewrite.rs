//! Rewrites of catalog queries that client libraries send and DataFusion cannot
//! plan as written. Applied after datafusion-pg-catalog's own rewrites.
//!
//! | pattern (only over `pg_catalog` / `information_schema` tables) | rewrite |
//! |---|---|
//! | scalar subquery returning one non-aggregated column, e.g. SQLAlchemy's `(SELECT json_build_object(...) FROM pg_sequence WHERE seqrelid = a.attrelid)` | the column wrapped in `max(...)`: DataFusion only decorrelates aggregated scalar subqueries; over catalog tables the subquery has at most one row, so the answer is the same |
//!
//! | scalar subquery over `pg_sequence`, `pg_attrdef` or `pg_collation` (SQLAlchemy's identity, default and collation columns) | `NULL::text`: Quarry relations have no sequences, column defaults or non-default collations, so these are NULL for every Quarry column; DataFusion cannot plan them inside the `CASE` they come in |
//!
//! User queries are not rewritten otherwise, with two exceptions that give
//! names as PostgreSQL gives them: bare columns in a struct literal
//! (`NameStructFields`) and casts of a column in a select list
//! (`NameCastColumns`). A subquery over user tables keeps its meaning and,
//! if DataFusion cannot plan it, its error.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, Query, SelectItem, SetExpr, Statement, TableFactor, VisitorMut,
};

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "first_value",
    "last_value",
    "json_agg",
    "jsonb_agg",
];

fn is_catalog_table(name: &ObjectName) -> bool {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    match parts.as_slice() {
        [table] => table.starts_with("pg_"),
        [.., schema, _] => schema == "pg_catalog" || schema == "information_schema",
        [] => false,
    }
}

fn reads_only_catalog(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    !select.from.is_empty()
        && select.from.iter().all(|t| {
            std::iter::once(&t.relation)
                .chain(t.joins.iter().map(|j| &j.relation))
                .all(|f| matches!(f, TableFactor::Table { name, .. } if is_catalog_table(name)))
        })
}

/// Catalog tables with no rows about Quarry's own relations.
const EMPTY_FOR_QUARRY: &[&str] = &["pg_sequence", "pg_attrdef", "pg_collation"];

fn reads_empty_catalog(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    select.from.iter().any(|t| {
        std::iter::once(&t.relation)
            .chain(t.joins.iter().map(|j| &j.relation))
            .any(|f| match f {
                TableFactor::Table { name, .. } => {
                    name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| {
                        EMPTY_FOR_QUARRY.contains(&i.value.to_ascii_lowercase().as_str())
                    })
                }
                _ => false,
            })
    })
}

fn null_text() -> Expr {
    Expr::Cast {
        kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
        expr: Box::new(Expr::value(datafusion::sql::sqlparser::ast::Value::Null)),
        data_type: datafusion::sql::sqlparser::ast::DataType::Text,
        array: false,
        format: None,
    }
}

fn is_aggregate(expr: &Expr) -> bool {
    match expr {
        Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| AGGREGATES.contains(&i.value.to_ascii_lowercase().as_str())),
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => is_aggregate(inner),
        _ => false,
    }
}

fn wrap_in_max(expr: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("max")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(expr))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// In a struct literal that names some fields (`struct(age, fee * 12 AS
/// yearly_fee)`), a bare column keeps its column name, as a column does in a
/// select list; DataFusion would call it `c0`. Feature matching by name
/// (SPEC §3.4) relies on it.
struct NameStructFields;

impl VisitorMut for NameStructFields {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Struct { values, fields } = expr else {
            return ControlFlow::Continue(());
        };
        if !fields.is_empty() || !values.iter().any(|v| matches!(v, Expr::Named { .. })) {
            return ControlFlow::Continue(());
        }
        for value in values.iter_mut() {
            let Some(name) = column_name(value) else {
                continue;
            };
            let inner = std::mem::replace(
                value,
                Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into()),
            );
            *value = Expr::Named {
                expr: Box::new(inner),
                name,
            };
        }
        ControlFlow::Continue(())
    }
}

/// An unnamed select item that casts a column (`id::text`, `CAST(t.x AS
/// REAL)`) is named after the column, as PostgreSQL names it. DataFusion
/// names it `t.id`, which clashes with the column itself: `SELECT id::text
/// FROM t ORDER BY id` failed ("projections require unique expression
/// names", apache/datafusion#13558), and `CREATE TABLE ... AS SELECT
/// id::text` made a column called `t.id`. With the name, `ORDER BY id`
/// sorts by the cast value, as in PostgreSQL. A name another item of the
/// list already has (an alias, a column, or another such cast) is left
/// alone: DataFusion would find it ambiguous.
struct NameCastColumns;

impl VisitorMut for NameCastColumns {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        // `ORDER BY b.id` beside an item named `id` is ambiguous to
        // DataFusion (the sort column is added to the projection), so names
        // that ORDER BY qualifies are left alone.
        let mut qualified = std::collections::HashSet::new();
        if let Some(order_by) = &query.order_by {
            let _ = datafusion::sql::sqlparser::ast::visit_expressions(order_by, |e| {
                if let Expr::CompoundIdentifier(parts) = e
                    && let Some(last) = parts.last()
                {
                    qualified.insert(last.value.to_lowercase());
                }
                ControlFlow::<()>::Continue(())
            });
        }
        name_cast_columns(query.body.as_mut(), &qualified);
        ControlFlow::Continue(())
    }
}

fn name_cast_columns(body: &mut SetExpr, qualified: &std::collections::HashSet<String>) {
    match body {
        SetExpr::Select(select) => {
            let mut names = std::collections::HashMap::<String, usize>::new();
            for item in &select.projection {
                let name = match item {
                    SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
                    // A column of the same name makes the name ambiguous in
                    // DataFusion: `SELECT id::text, id ... ORDER BY 2`.
                    SelectItem::UnnamedExpr(expr) => column_name(expr)
                        .or_else(|| cast_column(expr))
                        .map(|ident| ident.value.to_lowercase()),
                    _ => None,
                };
                if let Some(name) = name {
                    *names.entry(name).or_default() += 1;
                }
            }
            for item in select.projection.iter_mut() {
                let SelectItem::UnnamedExpr(expr) = item else {
                    continue;
                };
                let Some(alias) = cast_column(expr) else {
                    continue;
                };
                let name = alias.value.to_lowercase();
                if names.get(&name) != Some(&1) || qualified.contains(&name) {
                    continue;
                }
                let expr = std::mem::replace(
                    expr,
                    Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
                );
                *item = SelectItem::ExprWithAlias { expr, alias };
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_cast_columns(left, qualified);
            name_cast_columns(right, qualified);
        }
        _ => {}
    }
}

/// The name of a bare column (`id`, `t.id`): its last identifier.
fn column_name(expr: &Expr) -> Option<Ident> {
    match expr {
        Expr::Identifier(ident) => Some(ident.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().cloned(),
        _ => None,
    }
}

/// The column a cast (or casts, in parentheses or not) is of.
fn cast_column(expr: &Expr) -> Option<Ident> {
    fn column(expr: &Expr) -> Option<Ident> {
        match expr {
            Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => column(inner),
            _ => column_name(expr),
        }
    }
    match expr {
        Expr::Cast { expr, .. } => column(expr),
        Expr::Nested(inner) => cast_column(inner),
        _ => None,
    }
}

struct AggregateCatalogSubqueries;

impl VisitorMut for AggregateCatalogSubqueries {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Subquery(query) = expr else {
            return ControlFlow::Continue(());
        };
        if !reads_only_catalog(query) {
            return ControlFlow::Continue(());
        }
        if reads_empty_catalog(query) {
            *expr = null_text();
            return ControlFlow::Continue(());
        }
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        if select.projection.len() != 1 || !select.group_by_is_empty() {
            return ControlFlow::Continue(());
        }
        let item = &mut select.projection[0];
        let inner = match item {
            SelectItem::UnnamedExpr(e) => e,
            SelectItem::ExprWithAlias { expr, .. } => expr,
            _ => return ControlFlow::Continue(()),
        };
        if !is_aggregate(inner) {
            let taken = std::mem::replace(
                inner,
                Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
            );
            *inner = wrap_in_max(taken);
        }
        ControlFlow::Continue(())
    }
}

trait GroupByExt {
    fn group_by_is_empty(&self) -> bool;
}

impl GroupByExt for datafusion::sql::sqlparser::ast::Select {
    fn group_by_is_empty(&self) -> bool {
        match &self.group_by {
            datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) => e.is_empty(),
            datafusion::sql::sqlparser::ast::GroupByExpr::All(_) => false,
        }
    }
}

/// Applies the catalog-query rewrites to `statement`.
pub fn rewrite(statement: &mut Statement) {
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(
        statement,
        &mut AggregateCatalogSubqueries,
    );
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut NameStructFields);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut NameCastColumns);
    let mut functions = quarry_udfs::functions::relation::relation_functions();
    functions.extend(crate::registry::functions::textual_relations());
    quarry_udfs::functions::relation::expand_relation_arguments(statement, &functions);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::QuarryDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut stmt = Parser::parse_sql(&QuarryDialect::default(), sql)
            .expect("parses")
            .remove(0);
        rewrite(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn struct_literals_keep_column_names() {
        assert_eq!(
            rewritten("SELECT struct(t.age, fee * 12 AS yearly) FROM t"),
            "SELECT STRUCT(t.age AS age, fee * 12 AS yearly) FROM t"
        );
        assert_eq!(
            rewritten("SELECT struct(age, fee) FROM t"),
            "SELECT STRUCT(age, fee) FROM t"
        );
    }

    #[test]
    fn casts_of_columns_are_named_after_the_column() {
        assert_eq!(
            rewritten("SELECT id::text, CAST(t.x AS REAL), (y)::INT::TEXT, z FROM t ORDER BY id"),
            "SELECT id::TEXT AS id, CAST(t.x AS REAL) AS x, (y)::INT::TEXT AS y, z FROM t ORDER BY id"
        );
        // In subqueries and both sides of a UNION too.
        assert_eq!(
            rewritten(
                "SELECT s.id FROM (SELECT id::text FROM t UNION ALL SELECT id::text FROM u) AS s"
            ),
            "SELECT s.id FROM (SELECT id::TEXT AS id FROM t UNION ALL SELECT id::TEXT AS id FROM u) AS s"
        );
    }

    #[test]
    fn cast_names_that_would_repeat_are_left_alone() {
        for sql in [
            "SELECT id::TEXT, id::INT FROM t",
            "SELECT id::TEXT, 1 AS id FROM t",
            "SELECT id + 1, 'a'::TEXT, lower(id::TEXT) FROM t",
            "SELECT id::TEXT, t.id FROM t",
            "SELECT a.id::TEXT, b.v FROM a JOIN b ON a.id = b.id ORDER BY b.id",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }

    #[test]
    fn relation_arguments_become_subqueries() {
        assert_eq!(
            rewritten("SELECT * FROM ml_predict('m', customers) AS p"),
            "SELECT * FROM ml_predict('m', (SELECT * FROM customers)) AS p"
        );
        assert_eq!(
            rewritten("SELECT * FROM ml_predict('m', 'SELECT a FROM t')"),
            "SELECT * FROM ml_predict('m', (SELECT a FROM t))"
        );
    }

    #[test]
    fn wraps_catalog_scalar_subqueries() {
        let out = rewritten(
            "SELECT a.attname, (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = a.attrelid) FROM pg_attribute a",
        );
        assert!(out.contains("(SELECT max(c.relname) FROM"), "{out}");
    }

    #[test]
    fn catalog_tables_without_quarry_rows_become_null() {
        let out = rewritten(
            "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid) END FROM pg_attribute a",
        );
        assert!(out.contains("THEN NULL::TEXT"), "{out}");
    }

    #[test]
    fn leaves_user_queries_alone() {
        let sql = "SELECT (SELECT o.total FROM orders o WHERE o.id = c.id) FROM customers c";
        assert_eq!(rewritten(sql), sql);
    }

    #[test]
    fn leaves_aggregates_alone() {
        let sql = "SELECT (SELECT count(*) FROM pg_class) AS n";
        assert_eq!(rewritten(sql), sql);
    }
}
