//! Result columns named as PostgreSQL names them.
//!
//! DataFusion names an unaliased expression by its text (`Int64(1)`,
//! `count(*)`, `upper(t.name)`); PostgreSQL by the rule of its parser's
//! `FigureColname`: a column reference by the column, a function call by the
//! function (`count`, `upper`, `coalesce`), a cast by what it casts (or the
//! type, `int4`, for a constant), `CASE` by its `ELSE` result's name or
//! `case`, and anything else (constants, operators) as `?column?`. Clients
//! read these names (pandas' column labels, an ORM's attribute names, psql's
//! headers), so the top-level select list of a query is named PostgreSQL's
//! way in its row description. Only the description changes: the plan keeps
//! DataFusion's names, so two columns may share a name as in PostgreSQL
//! (`SELECT count(a), count(b)`), and anything that matches columns by name
//! inside the query is unaffected. An explicit alias always wins.

use std::sync::Arc;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    DataType, Expr, ObjectName, Query, SelectItem, SetExpr, Statement, TimezoneInfo,
};

/// The PostgreSQL name of each result column of `stmt`, where it differs
/// from DataFusion's (`None`: keep DataFusion's). `None` for a statement
/// without a plain select list (not a query, or one with `*`).
pub fn names(stmt: &DfStatement) -> Option<Arc<[Option<String>]>> {
    match statement(stmt)? {
        Statement::Query(query) => query_names(query),
        _ => None,
    }
}

/// The name PostgreSQL gives a result column that is `expr`, unaliased
/// (`?column?` when nothing names it).
pub fn expr_name(expr: &Expr) -> String {
    figure(expr).0
}

/// The PostgreSQL names of the columns `CREATE TABLE ... AS <query>` makes,
/// where they differ from DataFusion's.
pub fn created_names(stmt: &DfStatement) -> Option<Arc<[Option<String>]>> {
    match statement(stmt)? {
        // Columns listed in the statement name themselves.
        Statement::CreateTable(create) if create.columns.is_empty() => {
            query_names(create.query.as_deref()?)
        }
        Statement::CreateView(view) if view.materialized && view.columns.is_empty() => {
            query_names(&view.query)
        }
        _ => None,
    }
}

fn statement(stmt: &DfStatement) -> Option<&Statement> {
    match stmt {
        DfStatement::Statement(statement) => Some(statement),
        _ => None,
    }
}

/// The prefix of a name the server's rewrites give a select item that
/// must not be called by its PostgreSQL name inside the query (it would
/// clash with a column `ORDER BY` names): the result column is called by
/// what follows the prefix.
pub const HIDDEN_NAME: &str = "__quarry_as__";

/// The prefix of the name the server's rewrites give the second and later
/// of select items DataFusion would name alike (`SELECT NULL, NULL`, which
/// it refuses and PostgreSQL answers with two `?column?`):
/// `__quarry_dup<n>__<PostgreSQL's name>`, the result column called by
/// what follows.
const DUPLICATE_NAME: &str = "__quarry_dup";

/// The name the `n`th select item, a duplicate PostgreSQL calls `name`, is
/// given inside the query.
pub fn duplicate_alias(n: usize, name: &str) -> String {
    format!("{DUPLICATE_NAME}{n}__{name}")
}

/// The result name behind a name the rewrites gave, if `alias` is one.
fn hidden(alias: &str) -> Option<&str> {
    if let Some(name) = alias.strip_prefix(HIDDEN_NAME) {
        return Some(name);
    }
    let rest = alias.strip_prefix(DUPLICATE_NAME)?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    (digits > 0).then_some(())?;
    rest[digits..].strip_prefix("__")
}

fn query_names(query: &Query) -> Option<Arc<[Option<String>]>> {
    let select = first_select(&query.body)?;
    let mut out = Vec::with_capacity(select.projection.len());
    for item in &select.projection {
        match item {
            SelectItem::UnnamedExpr(expr) => out.push(match expr {
                // DataFusion names a column by itself already.
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) => None,
                other => Some(figure(other).0),
            }),
            SelectItem::ExprWithAlias { alias, .. } => {
                out.push(hidden(&alias.value).map(str::to_string))
            }
            // A wildcard's columns are not known here.
            _ => return None,
        }
    }
    out.iter().any(Option::is_some).then(|| out.into())
}

/// The select that names a query's columns: the first of a set operation.
fn first_select(body: &SetExpr) -> Option<&datafusion::sql::sqlparser::ast::Select> {
    match body {
        SetExpr::Select(select) => Some(select),
        SetExpr::Query(query) => first_select(&query.body),
        SetExpr::SetOperation { left, .. } => first_select(left),
        _ => None,
    }
}

/// How sure a name is, as in PostgreSQL: a column or function name beats a
/// type or keyword name, which beats `?column?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    Unknown,
    Weak,
    Strong,
}

fn last_part(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map_or_else(|| "?column?".to_string(), ident)
}

fn ident(i: &datafusion::sql::sqlparser::ast::Ident) -> String {
    // Unquoted identifiers fold to lower case, as PostgreSQL's do.
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// `FigureColnameInternal`: a name and how sure it is.
fn figure(expr: &Expr) -> (String, Strength) {
    use Strength::*;
    match expr {
        Expr::Identifier(i) => (ident(i), Strong),
        Expr::CompoundIdentifier(parts) => parts
            .last()
            .map_or(("?column?".into(), Unknown), |i| (ident(i), Strong)),
        Expr::Nested(inner) => figure(inner),
        Expr::Function(f) => (last_part(&f.name), Strong),
        Expr::Cast {
            expr, data_type, ..
        } => {
            let (name, strength) = figure(expr);
            if strength > Unknown {
                return (name, strength);
            }
            (type_name(data_type), Weak)
        }
        Expr::TypedString(typed) => (type_name(&typed.data_type), Weak),
        Expr::Case { else_result, .. } => match else_result.as_deref().map(figure) {
            Some((name, Strong)) => (name, Strong),
            _ => ("case".into(), Weak),
        },
        Expr::Array(_) => ("array".into(), Weak),
        Expr::Exists { .. } => ("exists".into(), Weak),
        Expr::Subquery(query) => match first_select(&query.body).and_then(|s| s.projection.first())
        {
            Some(SelectItem::ExprWithAlias { alias, .. }) => (ident(alias), Strong),
            Some(SelectItem::UnnamedExpr(e)) => figure(e),
            _ => ("?column?".into(), Unknown),
        },
        Expr::Extract { .. } => ("extract".into(), Strong),
        Expr::Substring { .. } => ("substring".into(), Strong),
        Expr::Trim { .. } => ("btrim".into(), Strong),
        Expr::Position { .. } => ("position".into(), Strong),
        Expr::Overlay { .. } => ("overlay".into(), Strong),
        Expr::Ceil { .. } => ("ceil".into(), Strong),
        Expr::Floor { .. } => ("floor".into(), Strong),
        Expr::AtTimeZone { .. } => ("timezone".into(), Strong),
        Expr::Interval(_) => ("interval".into(), Weak),
        _ => ("?column?".into(), Unknown),
    }
}

/// The name PostgreSQL gives a cast's result when there is nothing else to
/// name it by: its type's internal name.
fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::SmallInt(_) | DataType::Int2(_) => "int2".into(),
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "int4".into(),
        DataType::BigInt(_) | DataType::Int8(_) => "int8".into(),
        DataType::Real | DataType::Float4 => "float4".into(),
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 => "float8".into(),
        DataType::Float(_) => "float8".into(),
        DataType::Boolean | DataType::Bool => "bool".into(),
        DataType::Text => "text".into(),
        DataType::Varchar(_) | DataType::CharacterVarying(_) => "varchar".into(),
        DataType::Char(_) | DataType::Character(_) => "bpchar".into(),
        DataType::Date => "date".into(),
        DataType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => {
            "timestamptz".into()
        }
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Time(..) => "time".into(),
        DataType::Interval { .. } => "interval".into(),
        DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_) => "numeric".into(),
        DataType::Bytea => "bytea".into(),
        DataType::JSON => "json".into(),
        DataType::JSONB => "jsonb".into(),
        DataType::Uuid => "uuid".into(),
        DataType::Array(inner) => match inner {
            datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(t, _)
            | datafusion::sql::sqlparser::ast::ArrayElemTypeDef::AngleBracket(t)
            | datafusion::sql::sqlparser::ast::ArrayElemTypeDef::Parenthesis(t) => type_name(t),
            datafusion::sql::sqlparser::ast::ArrayElemTypeDef::None => "?column?".into(),
        },
        DataType::Custom(name, _) => last_part(name),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(sql: &str) -> Vec<Option<String>> {
        let stmt = datafusion::sql::parser::DFParser::parse_sql_with_dialect(
            sql,
            &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        )
        .expect("parses")
        .pop_front()
        .expect("a statement");
        names(&stmt).map(|n| n.to_vec()).unwrap_or_default()
    }

    fn some(names: &[&str]) -> Vec<Option<String>> {
        names
            .iter()
            .map(|n| (!n.is_empty()).then(|| n.to_string()))
            .collect()
    }

    // Each expected name is what PostgreSQL 15 calls the column.
    #[test]
    fn expressions_are_named_as_postgresql_names_them() {
        assert_eq!(
            named("SELECT 1, count(*), upper('a'), COALESCE(x, 2), x + 1 FROM t"),
            some(&["?column?", "count", "upper", "coalesce", "?column?"])
        );
        assert_eq!(
            named("SELECT x::text, 1::int, '2024-01-01'::date, CAST(y AS bigint) FROM t"),
            some(&["x", "int4", "date", "y"])
        );
        assert_eq!(
            named(
                "SELECT CASE WHEN a THEN 1 ELSE b END, CASE WHEN a THEN 1 END, (SELECT max(z) FROM u) FROM t"
            ),
            some(&["b", "case", "max"])
        );
        assert_eq!(
            named("SELECT a, t.b, now(), EXTRACT(year FROM d), DATE '2024-01-01' FROM t"),
            some(&["", "", "now", "extract", "date"])
        );
        assert_eq!(
            named("SELECT a AS one, count(*) AS n FROM t"),
            Vec::<Option<String>>::new()
        );
        assert_eq!(
            named("SELECT *, count(*) FROM t"),
            Vec::<Option<String>>::new()
        );
        assert_eq!(
            named("SELECT sum(x) FROM t UNION ALL SELECT 1"),
            some(&["sum"])
        );
        assert_eq!(named("SELECT \"Upper\"(x) FROM t"), some(&["Upper"]));
    }
}
