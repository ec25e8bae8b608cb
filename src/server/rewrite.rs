//! Rewrites of catalog queries that client libraries send and DataFusion cannot
//! plan as written. Applied after datafusion-pg-catalog's own rewrites.
//!
//! | pattern (only over `pg_catalog` / `information_schema` tables) | rewrite |
//! |---|---|
//! | scalar subquery returning one non-aggregated column, e.g. SQLAlchemy's `(SELECT json_build_object(...) FROM pg_sequence WHERE seqrelid = a.attrelid)` | the column wrapped in `max(...)`: DataFusion only decorrelates aggregated scalar subqueries; over catalog tables the subquery has at most one row, so the answer is the same |
//!
//! | scalar subquery over `pg_sequence`, `pg_attrdef` or `pg_collation` (SQLAlchemy's identity, default and collation columns) | `NULL::text`: Quarry relations have no sequences, column defaults or non-default collations, so these are NULL for every Quarry column; DataFusion cannot plan them inside the `CASE` they come in |
//!
//! User queries are never rewritten: a subquery over user tables keeps its
//! meaning and, if DataFusion cannot plan it, its error.

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
            let name = match value {
                Expr::Identifier(ident) => ident.clone(),
                Expr::CompoundIdentifier(parts) => match parts.last() {
                    Some(last) => last.clone(),
                    None => continue,
                },
                _ => continue,
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
