//! Table functions whose arguments are relations.
//!
//! SPEC §3: a `relation` argument is a table name or a query in text, and in a
//! table function also a bare name or a parenthesized subquery:
//! `FROM ml_predict('churn', (SELECT ...))`. DataFusion plans table-function
//! arguments as scalar expressions, where a multi-column subquery is an error,
//! so [`RelationArgsPlanner`] (a DataFusion `RelationPlanner`) sees these calls
//! first and either
//!
//! - plans the whole call itself ([`RelationFunction`]): relation arguments
//!   become logical plans planned in the enclosing query's context (its CTEs
//!   are visible), so nothing is re-parsed; or
//! - for a function that keeps its relation as SQL text (training records the
//!   query it ran), rewrites a bare name or subquery argument to its SQL text
//!   and hands the call back to DataFusion's table-function path.

use std::collections::HashMap;
use std::fmt::Debug;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::sqlparser::ast::{
    self, FunctionArg, FunctionArgExpr, ObjectName, Query, TableAlias, TableFactor, Value,
    ValueWithSpan, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::params::{Arg, Args, Params};
use crate::error::{SqlStateError, sqlstate};

/// A table function that plans itself from planned arguments. What it is
/// called and takes is static ([`super::definition::TableFunctionSpec`]); the planner keeps it
/// with its [`Params`].
pub trait RelationFunction: Debug + Send + Sync {
    /// The plan of the call. Output columns are qualified by the call's alias,
    /// or by the function name when it has none.
    fn plan(&self, args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan>;
}

/// Whether `expr` is quoted text that names a model at a relation position
/// that accepts one.
fn names_model(params: &Params, position: usize, expr: &ast::Expr) -> bool {
    params.names_model(position) && is_model_text(expr)
}

fn is_model_text(expr: &ast::Expr) -> bool {
    matches!(expr, ast::Expr::Value(v) if matches!(&v.value, Value::SingleQuotedString(text) if !is_query_text(text)))
}

/// The relation planner for Quarry's table functions.
#[derive(Debug, Default)]
pub struct RelationArgsPlanner {
    planned: HashMap<&'static str, (Params, Arc<dyn RelationFunction>)>,
    /// Functions (by name) whose relation arguments, at these positions, are
    /// rewritten to SQL text.
    textual: HashMap<&'static str, Vec<usize>>,
}

impl RelationArgsPlanner {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_function(
        mut self,
        name: &'static str,
        params: Params,
        function: Arc<dyn RelationFunction>,
    ) -> Self {
        self.planned.insert(name, (params, function));
        self
    }

    pub fn with_textual(mut self, name: &'static str, positions: Vec<usize>) -> Self {
        self.textual.insert(name, positions);
        self
    }
}

fn function_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [part] => part.as_ident().map(|i| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_ascii_lowercase()
            }
        }),
        _ => None,
    }
}

impl RelationPlanner for RelationArgsPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        ctx: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = &relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let Some(function) = function_name(name) else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        if let Some((name, (params, function))) = self.planned.get_key_value(function.as_str()) {
            return plan_call(name, params, function.as_ref(), relation, ctx);
        }
        if let Some(positions) = self.textual.get(function.as_str()) {
            return Ok(RelationPlanning::Original(Box::new(textualize(
                relation, positions,
            )?)));
        }
        Ok(RelationPlanning::Original(Box::new(relation)))
    }
}

fn plan_call(
    name: &'static str,
    params: &Params,
    function: &dyn RelationFunction,
    relation: TableFactor,
    ctx: &mut dyn RelationPlannerContext,
) -> Result<RelationPlanning> {
    let TableFactor::Table {
        args: Some(args),
        alias,
        ..
    } = relation
    else {
        return Ok(RelationPlanning::Original(Box::new(relation)));
    };
    let mut positional = Vec::new();
    let mut named = Vec::new();
    for arg in args.args {
        match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => {
                let position = positional.len();
                positional.push(
                    if params.is_relation(position) && !names_model(params, position, &expr) {
                        Arg::Relation(ctx.plan(derived(relation_query(name, position, expr)?))?)
                    } else {
                        Arg::Value(ctx.sql_to_expr(expr, &DFSchema::empty())?)
                    },
                );
            }
            FunctionArg::Named {
                name: arg_name,
                arg: FunctionArgExpr::Expr(expr),
                ..
            } => {
                let value = ctx.sql_to_expr(expr, &DFSchema::empty())?;
                named.push((ctx.normalize_ident(arg_name), value));
            }
            // `name => value` in a FROM clause parses with the name as an expression.
            FunctionArg::ExprNamed {
                name: ast::Expr::Identifier(arg_name),
                arg: FunctionArgExpr::Expr(expr),
                ..
            } => {
                let value = ctx.sql_to_expr(expr, &DFSchema::empty())?;
                named.push((ctx.normalize_ident(arg_name), value));
            }
            other => {
                return Err(SqlStateError::bad_argument(format!(
                    "{name}: unsupported argument {other}; pass values, or name => value"
                ))
                .into_df());
            }
        }
    }
    let plan = function.plan(Args::new(name, *params, positional, named), ctx)?;
    let plan = match alias {
        Some(_) => plan,
        None => LogicalPlanBuilder::from(plan).alias(name)?.build()?,
    };
    Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
        plan, alias,
    ))))
}

fn derived(query: Query) -> TableFactor {
    TableFactor::Derived {
        lateral: false,
        subquery: Box::new(query),
        alias: None::<TableAlias>,
        sample: None,
    }
}

/// Rewrites the relation arguments at `positions` to SQL text literals.
fn textualize(relation: TableFactor, positions: &[usize]) -> Result<TableFactor> {
    let TableFactor::Table {
        name,
        alias,
        args: Some(mut args),
        with_hints,
        version,
        with_ordinality,
        partitions,
        json_path,
        sample,
        index_hints,
    } = relation
    else {
        return Ok(relation);
    };
    let function = function_name(&name).unwrap_or_default();
    let mut position = 0;
    for arg in args.args.iter_mut() {
        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg {
            if positions.contains(&position) && !is_text(expr) {
                let query = relation_query(&function, position, expr.clone())?;
                *expr = ast::Expr::Value(ValueWithSpan::from(Value::SingleQuotedString(
                    query.to_string(),
                )));
            }
            position += 1;
        }
    }
    Ok(TableFactor::Table {
        name,
        alias,
        args: Some(args),
        with_hints,
        version,
        with_ordinality,
        partitions,
        json_path,
        sample,
        index_hints,
    })
}

fn is_text(expr: &ast::Expr) -> bool {
    matches!(expr, ast::Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)))
}

/// The query a relation argument stands for: a parenthesized subquery, a bare
/// or qualified table name, or text holding either.
fn relation_query(function: &str, position: usize, expr: ast::Expr) -> Result<Query> {
    let bad = |what: String| {
        SqlStateError::bad_argument(format!(
            "{function}: argument {} (relation) must be a table name, a query starting with SELECT or WITH, \
             or a parenthesized subquery; {what}",
            position + 1
        ))
        .into_df()
    };
    match expr {
        ast::Expr::Subquery(query) => Ok(*query),
        ast::Expr::Nested(inner) => relation_query(function, position, *inner),
        ast::Expr::Identifier(ident) => Ok(select_all(ObjectName::from(vec![ident]))),
        ast::Expr::CompoundIdentifier(parts) => Ok(select_all(ObjectName::from(parts))),
        ast::Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(text),
            ..
        }) => parse_relation_text(&text).map_err(|e| bad(format!("'{text}' does not parse: {e}"))),
        other => Err(bad(format!("got {other}"))),
    }
}

fn select_all(name: ObjectName) -> Query {
    let sql = format!("SELECT * FROM {name}");
    // A name that came out of the parser always prints back as a valid name.
    #[allow(clippy::expect_used)]
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map(|q| *q)
        .expect("a parsed object name prints as valid SQL")
}

fn starts_query(parser: &Parser) -> bool {
    match &parser.peek_token().token {
        Token::LParen => true,
        Token::Word(w) => matches!(w.keyword, Keyword::SELECT | Keyword::WITH | Keyword::VALUES),
        _ => false,
    }
}

/// Whether relation text is a query (rather than a name).
pub fn is_query_text(text: &str) -> bool {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .is_ok_and(|p| starts_query(&p))
}

/// Parses a relation given as text: a query, or a (possibly qualified) name.
pub fn parse_relation_text(text: &str) -> std::result::Result<Query, String> {
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| e.to_string())?;
    let is_query = starts_query(&parser);
    let query = if is_query {
        *parser.parse_query().map_err(|e| e.to_string())?
    } else {
        let name = parser.parse_object_name(false).map_err(|e| e.to_string())?;
        if name.0.iter().any(|p| p.as_ident().is_none()) {
            return Err("not a table name".into());
        }
        select_all(name)
    };
    while parser.consume_token(&Token::SemiColon) {}
    match parser.peek_token().token {
        Token::EOF => Ok(query),
        other => Err(format!("unexpected {other} after the relation")),
    }
}

pub use super::relation_functions;

/// Turns relation arguments given as a bare name or as text into subqueries,
/// before the statement is planned.
///
/// DataFusion resolves the tables a statement reads before planning it, by
/// walking its AST; a name inside a table-function argument is not a table
/// reference there, so a host calls this first and the relation is resolved
/// like any other. `functions` lists function names and the positions of
/// their relation arguments ([`relation_functions`] plus the host's own).
/// Text that does not parse is left for the planner to report.
pub fn expand_relation_arguments(statement: &mut ast::Statement, functions: &[(&str, Vec<usize>)]) {
    let model_text = super::model_positions();
    struct Expand<'a>(&'a [(&'a str, Vec<usize>)], &'a [(&'static str, usize)]);
    impl VisitorMut for Expand<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            let TableFactor::Table {
                name,
                args: Some(args),
                ..
            } = factor
            else {
                return ControlFlow::Continue(());
            };
            let Some(function) = function_name(name) else {
                return ControlFlow::Continue(());
            };
            let Some((_, positions)) = self.0.iter().find(|(n, _)| *n == function) else {
                return ControlFlow::Continue(());
            };
            let mut position = 0;
            for arg in args.args.iter_mut() {
                if let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg {
                    let names_model =
                        self.1.contains(&(function.as_str(), position)) && is_model_text(expr);
                    if positions.contains(&position)
                        && !names_model
                        && !matches!(expr, ast::Expr::Subquery(_))
                        && let Ok(query) = relation_query(&function, position, expr.clone())
                    {
                        *expr = ast::Expr::Subquery(Box::new(query));
                    }
                    position += 1;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Expand(functions, &model_text));
}

/// The column a table function's plan collects its result rows in, as a
/// list of structs, before [`list_rows`] unnests them.
pub const LIST_COLUMN: &str = "__quarry_metrics";

/// A column by name, without parsing the name as `relation.column`.
pub fn column(name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::new_unqualified(name))
}

/// One row per element of the list of structs in [`LIST_COLUMN`], with the
/// struct's `fields` as columns, after the optional segment column.
pub fn list_rows(
    plan: LogicalPlanBuilder,
    segment: Option<&str>,
    fields: &[&str],
) -> Result<LogicalPlan> {
    let mut columns: Vec<Expr> = segment.map(column).into_iter().collect();
    for field in fields {
        columns.push(get_field(column(LIST_COLUMN), *field).alias(*field));
    }
    plan.unnest_column(LIST_COLUMN)?.project(columns)?.build()
}

/// Every column of `plan`, as it is: the input columns a table function's
/// output passes through.
pub fn passthrough(plan: &LogicalPlan) -> Vec<Expr> {
    plan.schema()
        .iter()
        .map(|(qualifier, field)| {
            Expr::Column(datafusion::common::Column::new(
                qualifier.cloned(),
                field.name(),
            ))
        })
        .collect()
}

/// Finds a column of `plan` by name, exactly or else case-insensitively.
pub fn find_column(plan: &LogicalPlan, name: &str) -> Option<Expr> {
    let schema = plan.schema();
    let pick = |exact: bool| {
        schema.iter().find(|(_, f)| {
            if exact {
                f.name() == name
            } else {
                f.name().eq_ignore_ascii_case(name)
            }
        })
    };
    pick(true)
        .or_else(|| pick(false))
        .map(|(qualifier, field)| {
            Expr::Column(datafusion::common::Column::new(
                qualifier.cloned(),
                field.name(),
            ))
        })
}

/// A column of `input` by name, checked to be numeric (22023 / 42804).
pub fn numeric_column(
    function: &str,
    input: &LogicalPlan,
    name: &str,
) -> Result<Expr, SqlStateError> {
    let column = find_column(input, name).ok_or_else(|| unknown_column(function, name))?;
    let data_type = column
        .get_type(input.schema().as_ref())
        .map_err(SqlStateError::internal)?;
    if !data_type.is_numeric() {
        return Err(SqlStateError::new(
            sqlstate::DATATYPE_MISMATCH,
            format!("{function}: column {name} must be numeric, got {data_type}"),
        ));
    }
    Ok(column)
}

/// 42703 for a column the relation does not have.
pub fn unknown_column(function: &str, name: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::UNDEFINED_COLUMN,
        format!("{function}: the relation has no column {name}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_text_is_a_query_or_a_name() {
        assert_eq!(
            parse_relation_text("customers").expect("name").to_string(),
            "SELECT * FROM customers"
        );
        assert_eq!(
            parse_relation_text("public.Customers;")
                .expect("qualified")
                .to_string(),
            "SELECT * FROM public.Customers"
        );
        assert_eq!(
            parse_relation_text("SELECT 1;").expect("query").to_string(),
            "SELECT 1"
        );
        assert!(parse_relation_text("(SELECT 1) UNION ALL (SELECT 2)").is_ok());
        assert!(parse_relation_text("customers; DROP TABLE x").is_err());
        assert!(parse_relation_text("").is_err());
        assert!(parse_relation_text("1 + 1").is_err());
    }
}
