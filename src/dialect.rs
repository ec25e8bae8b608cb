//! The SQL dialect Quarry parses: PostgreSQL's, plus the typeless struct
//! literal `struct(expr AS name, ...)` that SPEC §3.4 uses to name scoring
//! features. sqlparser enables that literal only for BigQuery-like dialects,
//! so this wraps [`PostgreSqlDialect`] and forwards everything else to it;
//! `dialect()` reports PostgreSQL so the parser's dialect checks behave as
//! for plain PostgreSQL.

use std::any::TypeId;

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Statement, visit_relations};
use datafusion::sql::sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use crate::error::{SqlStateError, sqlstate};

#[derive(Debug, Default, Clone, Copy)]
pub struct QuarryDialect {
    pg: PostgreSqlDialect,
}

macro_rules! forward {
    ($($name:ident),* $(,)?) => {
        $(fn $name(&self) -> bool { self.pg.$name() })*
    };
}

impl Dialect for QuarryDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<PostgreSqlDialect>()
    }

    fn supports_struct_literal(&self) -> bool {
        true
    }

    /// `OPTIMIZE [TABLE] t` compacts a table's small files.
    fn supports_optimize_table(&self) -> bool {
        true
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.pg.identifier_quote_style(identifier)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.pg.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.pg.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.pg.is_identifier_part(ch)
    }

    fn is_reserved_for_identifier(&self, kw: Keyword) -> bool {
        self.pg.is_reserved_for_identifier(kw)
    }

    fn is_custom_operator_part(&self, ch: char) -> bool {
        self.pg.is_custom_operator_part(ch)
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        self.pg.get_next_precedence(parser)
    }

    fn prec_value(&self, prec: Precedence) -> u8 {
        self.pg.prec_value(prec)
    }

    forward!(
        supports_unicode_string_literal,
        supports_filter_during_aggregation,
        supports_group_by_expr,
        allow_extract_custom,
        allow_extract_single_quotes,
        supports_create_index_with_clause,
        supports_explain_with_utility_options,
        supports_listen_notify,
        supports_factorial_operator,
        supports_bitwise_shift_operators,
        supports_comment_on,
        supports_load_extension,
        supports_named_fn_args_with_colon_operator,
        supports_named_fn_args_with_expr_name,
        supports_empty_projections,
        supports_nested_comments,
        supports_string_escape_constant,
        supports_numeric_literal_underscores,
        supports_array_typedef_with_brackets,
        supports_geometric_types,
        supports_set_names,
        supports_alter_column_type_using,
        supports_notnull_operator,
        supports_interval_options,
        supports_insert_table_alias,
        supports_create_table_like_parenthesized,
        supports_select_wildcard_with_alias,
        supports_comma_separated_trim,
        supports_xml_expressions,
        supports_comment_optimizer_hint,
    );
}

/// PostgreSQL's fully reserved key words (its SQL key words appendix):
/// they cannot name a relation unless quoted. sqlparser reads any word as a
/// table name, so `SELECT FROM WHERE` looked for a table called `where`.
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both",
    "case", "cast", "check", "collate", "column", "constraint", "create", "current_catalog",
    "current_date", "current_role", "current_time", "current_timestamp", "current_user",
    "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false", "fetch",
    "for", "foreign", "from", "grant", "group", "having", "in", "initially", "intersect", "into",
    "lateral", "leading", "limit", "localtime", "localtimestamp", "not", "null", "offset", "on",
    "only", "or", "order", "placing", "primary", "references", "returning", "select",
    "session_user", "some", "symmetric", "system_user", "table", "then", "to", "trailing",
    "true", "union", "unique", "user", "using", "variadic", "when", "where", "window", "with",
];

/// Whether `word` (lower case) is one of PostgreSQL's reserved key words.
pub fn is_reserved(word: &str) -> bool {
    RESERVED.contains(&word)
}

/// Refuses a relation named by an unquoted reserved word, as PostgreSQL's
/// grammar does: 42601 `syntax error at or near "WHERE"`, at the word.
pub fn check_relation_names(statement: &Statement) -> Result<(), SqlStateError> {
    let found = visit_relations(statement, |name| {
        for part in &name.0 {
            if let Some(ident) = part.as_ident()
                && ident.quote_style.is_none()
                && RESERVED.contains(&ident.value.to_lowercase().as_str())
            {
                return ControlFlow::Break(ident.clone());
            }
        }
        ControlFlow::Continue(())
    });
    match found {
        ControlFlow::Break(ident) => {
            let e = SqlStateError::new(
                sqlstate::SYNTAX_ERROR,
                format!("syntax error at or near \"{}\"", ident.value),
            );
            let start = ident.span.start;
            Err(if start.line > 0 {
                e.with_location(start.line, start.column)
            } else {
                e
            })
        }
        ControlFlow::Continue(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> String {
        Parser::parse_sql(&QuarryDialect::default(), sql).expect("parses")[0].to_string()
    }

    #[test]
    fn struct_literals_name_their_fields() {
        assert_eq!(
            parse("SELECT struct(a + 1 AS x, b AS y)"),
            "SELECT STRUCT(a + 1 AS x, b AS y)"
        );
    }

    #[test]
    fn postgres_syntax_still_parses() {
        assert_eq!(
            parse("SELECT x::int, 'a' || 'b', $1 FROM t WHERE y ~ 'z'"),
            "SELECT x::INT, 'a' || 'b', $1 FROM t WHERE y ~ 'z'"
        );
        assert_eq!(parse("SELECT 3 !"), "SELECT 3!");
    }
}
