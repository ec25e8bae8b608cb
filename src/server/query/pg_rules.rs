//! datafusion-pg-catalog's statement rewrites, applied so that they cannot
//! change what a query over the user's own tables means.
//!
//! Its `PostgresCompatibilityParser` serves the catalog queries of client
//! tools: it swaps known tool queries token by token, then runs a list of
//! rules over every statement. One of those rules,
//! `RemoveSubqueryFromProjection`, replaces any correlated scalar subquery in
//! a select list with NULL and stamps `LIMIT 1` on the others: right for the
//! catalog lookups it was written for, silently wrong for `SELECT x, (SELECT
//! max(y) FROM b WHERE b.k = a.k) FROM a` (every row NULL; uncorrelated, the
//! `LIMIT 1` kept DataFusion from decorrelating it and hid PostgreSQL's
//! "more than one row" error). So a statement that reads no catalog relation
//! gets every rule but that one, and keeps its subqueries; a statement over
//! `pg_catalog` or `information_schema` goes through the whole parser as
//! before.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{Statement, visit_relations};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_pg_catalog::sql::rules::{
    AliasDuplicatedProjectionRewrite, CurrentUserVariableToSessionUserFunctionCall,
    FixArrayLiteral, FixVersionColumnName, PrependUnqualifiedPgTableName,
    ResolveUnqualifiedIdentifier, RewriteArrayAnyAllOperation, RewritePgCatalogOperator,
    RewriteRegCastToSubquery, SqlStatementRewriteRule, StripCallableQualifier, StripCollate,
};

use crate::server::rewrite::is_catalog_table;

pub struct Compat {
    /// The whole parser, for statements over catalog relations.
    full: PostgresCompatibilityParser,
    /// Its rules in its order, without `RemoveSubqueryFromProjection`
    /// (datafusion-pg-catalog 0.19's list; check it when upgrading).
    rules: Vec<Arc<dyn SqlStatementRewriteRule>>,
}

impl Default for Compat {
    fn default() -> Self {
        Compat {
            full: PostgresCompatibilityParser::new(),
            rules: vec![
                Arc::new(AliasDuplicatedProjectionRewrite),
                Arc::new(ResolveUnqualifiedIdentifier),
                Arc::new(RewriteArrayAnyAllOperation),
                Arc::new(PrependUnqualifiedPgTableName),
                Arc::new(StripCallableQualifier),
                Arc::new(FixArrayLiteral),
                Arc::new(CurrentUserVariableToSessionUserFunctionCall),
                Arc::new(StripCollate),
                Arc::new(RewritePgCatalogOperator),
                Arc::new(RewriteRegCastToSubquery::new()),
                Arc::new(FixVersionColumnName),
            ],
        }
    }
}

/// Whether `statement` names a `pg_catalog` or `information_schema`
/// relation (or a bare `pg_*` one, which resolves to the catalog).
pub fn reads_catalog(statement: &Statement) -> bool {
    visit_relations(statement, |name| {
        if is_catalog_table(name) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// `sql` with what keeps the parser's list of tool queries from
/// replacing a query Quarry can answer. Grafana's table list reads the
/// `search_path` with `current_setting`; the list, written before that
/// function existed, swaps the lookup for `''` (no table is ever listed).
/// The two-argument form means the same and matches no entry.
fn unblocked(sql: &str) -> std::borrow::Cow<'_, str> {
    const READ: &str = "current_setting('search_path')";
    if !sql.to_ascii_lowercase().contains(READ) {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.to_ascii_lowercase().find(READ) {
        out.push_str(&rest[..at]);
        out.push_str("current_setting('search_path', false)");
        rest = &rest[at + READ.len()..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// `'pg_class'::regclass` (a catalog relation named without its schema) as
/// `'pg_catalog.pg_class'::regclass`. PostgreSQL searches `pg_catalog`
/// first; datafusion-pg-catalog's rewrite of the cast looks for an
/// unqualified name in the current schema only, where it finds nothing
/// (pgJDBC's `getTables` joins `pg_description` on
/// `classoid = 'pg_class'::regclass`).
fn catalog_regclasses(sql: &str) -> std::borrow::Cow<'_, str> {
    const CAST: &str = "'::regclass";
    let lower = sql.to_ascii_lowercase();
    if !lower.contains(CAST) {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 32);
    let mut copied = 0;
    let mut from = 0;
    while let Some(at) = lower[from..].find(CAST).map(|i| i + from) {
        from = at + CAST.len();
        // The quoted name before the cast.
        let Some(open) = lower[..at].rfind('\'') else {
            continue;
        };
        let name = &lower[open + 1..at];
        if name.contains('.')
            || !datafusion_pg_catalog::pg_catalog::PG_CATALOG_TABLES.contains(&name)
        {
            continue;
        }
        out.push_str(&sql[copied..=open]);
        out.push_str("pg_catalog.");
        copied = open + 1;
    }
    out.push_str(&sql[copied..]);
    std::borrow::Cow::Owned(out)
}

impl Compat {
    /// `sql` read as PostgreSQL, each statement rewritten for DataFusion.
    /// Also returns the statements as sqlparser alone read them, when it
    /// could (callers read names the rewrites lose from them).
    pub fn parse(
        &self,
        sql: &str,
    ) -> (Result<Vec<Statement>, ParserError>, Option<Vec<Statement>>) {
        let plain = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statements())
            .ok();
        match &plain {
            Some(statements) if !statements.iter().any(reads_catalog) => {
                let rewritten = statements
                    .iter()
                    .cloned()
                    .map(|s| self.rewrite(s))
                    .collect();
                (Ok(rewritten), plain)
            }
            _ => (self.full.parse(&catalog_regclasses(&unblocked(sql))), plain),
        }
    }

    /// One parsed statement rewritten (see the module doc).
    pub fn rewrite(&self, statement: Statement) -> Statement {
        if reads_catalog(&statement) {
            return self.full.rewrite(statement);
        }
        self.rules
            .iter()
            .fold(statement, |statement, rule| rule.rewrite(statement))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let (statements, _) = Compat::default().parse(sql);
        statements.expect("parses").remove(0).to_string()
    }

    #[test]
    fn catalog_relations_cast_to_regclass_are_found_in_pg_catalog() {
        assert_eq!(
            catalog_regclasses(
                "SELECT 'pg_class'::regclass, 'mine'::regclass, 'pg_catalog.pg_type'::REGCLASS"
            ),
            "SELECT 'pg_catalog.pg_class'::regclass, 'mine'::regclass, 'pg_catalog.pg_type'::REGCLASS"
        );
        assert_eq!(catalog_regclasses("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn subqueries_over_user_tables_keep_their_meaning() {
        assert_eq!(
            rewritten("SELECT x, (SELECT max(b.y) FROM b WHERE b.k = a.k) FROM a"),
            "SELECT x, (SELECT max(b.y) FROM b WHERE b.k = a.k) FROM a"
        );
        assert_eq!(
            rewritten("SELECT (SELECT y FROM b) FROM a"),
            "SELECT (SELECT y FROM b) FROM a"
        );
    }

    #[test]
    fn catalog_queries_still_get_every_rule() {
        // The catalog's lookup keeps the LIMIT 1 stamp it relies on.
        let sql = "SELECT (SELECT nspname FROM pg_catalog.pg_namespace) FROM pg_catalog.pg_class";
        assert!(rewritten(sql).contains("LIMIT 1"), "{}", rewritten(sql));
        // Rules that user queries need still apply to them.
        assert_eq!(rewritten("SELECT current_user"), "SELECT session_user");
    }
}
