//! Statements Quarry parses itself, before DataFusion sees the text: those
//! it adds to SQL, and PostgreSQL's `REFRESH MATERIALIZED VIEW`, which
//! sqlparser does not read:
//!
//! ```sql
//! CREATE [OR REPLACE] MODEL name OPTIONS (key = value, ...) AS <query>
//! DROP MODEL [IF EXISTS] name
//! SHOW MODELS
//! DESCRIBE MODEL name
//! REFRESH MATERIALIZED VIEW [CONCURRENTLY] name [WITH DATA]
//! ```
//!
//! The query of `CREATE MODEL` is ordinary SQL, planned by DataFusion.

use std::collections::BTreeMap;

use crate::dialect::QuarryDialect;
use datafusion::sql::sqlparser::ast::{Expr, Ident, ObjectName, Query, UnaryOperator, Value};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{Result, SqlStateError, sqlstate};

/// A statement Quarry parses itself.
#[derive(Debug, Clone)]
pub enum QuarryStatement {
    /// `REFRESH MATERIALIZED VIEW`.
    Refresh {
        name: ObjectName,
        concurrently: bool,
    },
    CreateModel {
        name: String,
        or_replace: bool,
        /// `IF NOT EXISTS`: an existing model is left as it is (a NOTICE).
        if_not_exists: bool,
        options: BTreeMap<String, String>,
        query: Box<Query>,
    },
    DropModel {
        name: String,
        if_exists: bool,
        /// `KEEP SNAPSHOTS`: the model's training snapshots outlive it.
        keep_snapshots: bool,
    },
    ShowModels,
    DescribeModel {
        name: String,
    },
    /// Roles and privileges (`access::statements`).
    Access(crate::access::statements::AccessStatement),
}

impl std::fmt::Display for QuarryStatement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuarryStatement::CreateModel {
                name,
                or_replace,
                if_not_exists,
                options,
                query,
            } => {
                write!(
                    f,
                    "CREATE {}MODEL {}{name} OPTIONS (",
                    if *or_replace { "OR REPLACE " } else { "" },
                    if *if_not_exists { "IF NOT EXISTS " } else { "" }
                )?;
                let opts: Vec<String> = options
                    .iter()
                    .map(|(k, v)| format!("{k} = '{}'", v.replace('\'', "''")))
                    .collect();
                write!(f, "{}) AS {query}", opts.join(", "))
            }
            QuarryStatement::DropModel {
                name,
                if_exists,
                keep_snapshots,
            } => {
                write!(
                    f,
                    "DROP MODEL {}{name}{}",
                    if *if_exists { "IF EXISTS " } else { "" },
                    if *keep_snapshots {
                        " KEEP SNAPSHOTS"
                    } else {
                        ""
                    }
                )
            }
            QuarryStatement::ShowModels => f.write_str("SHOW MODELS"),
            QuarryStatement::Refresh { name, concurrently } => write!(
                f,
                "REFRESH MATERIALIZED VIEW {}{name}",
                if *concurrently { "CONCURRENTLY " } else { "" }
            ),
            QuarryStatement::DescribeModel { name } => write!(f, "DESCRIBE MODEL {name}"),
            // Only the command: the text may hold a password.
            QuarryStatement::Access(statement) => f.write_str(statement.tag()),
        }
    }
}

fn syntax(e: impl std::fmt::Display) -> SqlStateError {
    let text = e.to_string();
    let text = text.trim_start_matches("sql parser error: ");
    SqlStateError::new(sqlstate::SYNTAX_ERROR, format!("syntax error: {text}"))
}

/// The leading words of `sql`, upper-cased, skipping whitespace and comments.
pub(crate) fn leading_words(sql: &str, n: usize) -> Vec<String> {
    let dialect = QuarryDialect::default();
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        return vec![];
    };
    tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .take(n)
        .map(|t| match t {
            Token::Word(w) => w.value.to_uppercase(),
            other => other.to_string(),
        })
        .collect()
}

/// The statements of a simple-query text that holds more than one, each
/// as its own text (without its `;`); `None` for one statement. Quarry's
/// own statements (`GRANT`, `CREATE MODEL`...) are parsed one text at a
/// time, so `GRANT a TO b; GRANT c TO b` is taken apart here first. Split
/// at the semicolons the tokenizer finds between statements, so one inside
/// a string, identifier or comment does not count.
pub(crate) fn split_statements(sql: &str) -> Option<Vec<&str>> {
    let body = sql.trim_end().trim_end_matches(';');
    if !body.contains(';') {
        return None;
    }
    let mut parts = Vec::new();
    let mut from = 0;
    for (token, at, _) in located_tokens(sql)? {
        if token == Token::SemiColon {
            parts.push(&sql[from..at]);
            from = at + 1;
        }
    }
    parts.push(&sql[from..]);
    let parts: Vec<&str> = parts.into_iter().filter(|p| !p.trim().is_empty()).collect();
    (parts.len() > 1).then_some(parts)
}

/// The tokens of `sql` with the byte range of each; `None` when it does
/// not tokenize.
pub(crate) fn located_tokens(sql: &str) -> Option<Vec<(Token, usize, usize)>> {
    let dialect = QuarryDialect::default();
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .ok()?;
    // Byte offset of each line's start: locations are (line, char column).
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |line: u64, column: u64| -> Option<usize> {
        let start = *line_starts.get(usize::try_from(line).ok()?.checked_sub(1)?)?;
        let chars = usize::try_from(column).ok()?.checked_sub(1)?;
        let within = sql[start..]
            .char_indices()
            .nth(chars)
            .map_or(sql.len() - start, |(i, _)| i);
        Some(start + within)
    };
    tokens
        .into_iter()
        .map(|t| {
            let start = offset(t.span.start.line, t.span.start.column)?;
            let end = offset(t.span.end.line, t.span.end.column)?;
            Some((t.token, start, end))
        })
        .collect()
}

/// Parses `sql` when it is a statement Quarry parses itself; `Ok(None)`
/// otherwise.
pub fn parse(sql: &str) -> Result<Option<QuarryStatement>> {
    let words = leading_words(sql, 4);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    if crate::access::statements::is_access(&w) {
        return Ok(crate::access::statements::parse(sql, &words)?.map(QuarryStatement::Access));
    }
    if matches!(
        w.as_slice(),
        [
            "ALTER",
            "TABLE" | "VIEW" | "MATERIALIZED" | "SCHEMA" | "MODEL",
            ..
        ]
    ) {
        let all = leading_words(sql, usize::MAX);
        if let Some(statement) = crate::access::statements::parse(sql, &all)? {
            return Ok(Some(QuarryStatement::Access(statement)));
        }
    }
    let is_model = matches!(
        w.as_slice(),
        ["CREATE", "MODEL", ..]
            | ["CREATE", "OR", "REPLACE", "MODEL"]
            | ["DROP", "MODEL", ..]
            | ["SHOW", "MODELS", ..]
            | ["DESCRIBE" | "DESC", "MODEL", ..]
            | ["REFRESH", "MATERIALIZED", ..]
    );
    if !is_model {
        return Ok(None);
    }
    let dialect = QuarryDialect::default();
    let mut parser = Parser::new(&dialect).try_with_sql(sql).map_err(syntax)?;
    let statement = match w.as_slice() {
        ["CREATE", ..] => {
            parser.expect_keyword(Keyword::CREATE).map_err(syntax)?;
            let or_replace = parser.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
            expect_word(&mut parser, "MODEL")?;
            let if_not_exists =
                parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
            if or_replace && if_not_exists {
                return Err(SqlStateError::new(
                    sqlstate::SYNTAX_ERROR,
                    "CREATE OR REPLACE MODEL and IF NOT EXISTS cannot be used together",
                ));
            }
            let name = model_name(&parser.parse_object_name(false).map_err(syntax)?)?;
            let mut options = BTreeMap::new();
            if parser.parse_keyword(Keyword::OPTIONS) {
                parser.expect_token(&Token::LParen).map_err(syntax)?;
                if !parser.consume_token(&Token::RParen) {
                    loop {
                        let key = parser
                            .parse_identifier()
                            .map_err(syntax)?
                            .value
                            .to_lowercase();
                        parser.expect_token(&Token::Eq).map_err(syntax)?;
                        let value = option_value(&key, parser.parse_expr().map_err(syntax)?)?;
                        if options.insert(key.clone(), value).is_some() {
                            return Err(SqlStateError::bad_argument(format!(
                                "option {key} is given twice"
                            )));
                        }
                        if parser.consume_token(&Token::Comma) {
                            continue;
                        }
                        parser.expect_token(&Token::RParen).map_err(syntax)?;
                        break;
                    }
                }
            }
            parser.expect_keyword(Keyword::AS).map_err(syntax)?;
            let mut query = parser.parse_query().map_err(syntax)?;
            if sql.len() > crate::complexity::SHORT_STATEMENT {
                crate::complexity::guard_query(&mut query)?;
            }
            QuarryStatement::CreateModel {
                name,
                or_replace,
                if_not_exists,
                options,
                query,
            }
        }
        ["DROP", ..] => {
            parser.expect_keyword(Keyword::DROP).map_err(syntax)?;
            expect_word(&mut parser, "MODEL")?;
            let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            let name = model_name(&parser.parse_object_name(false).map_err(syntax)?)?;
            let keep_snapshots = parse_word(&mut parser, "KEEP");
            if keep_snapshots {
                expect_word(&mut parser, "SNAPSHOTS")?;
            }
            QuarryStatement::DropModel {
                name,
                if_exists,
                keep_snapshots,
            }
        }
        ["REFRESH", ..] => {
            parser.next_token();
            expect_word(&mut parser, "MATERIALIZED")?;
            expect_word(&mut parser, "VIEW")?;
            let concurrently = parse_word(&mut parser, "CONCURRENTLY");
            let name = parser.parse_object_name(false).map_err(syntax)?;
            if parse_word(&mut parser, "WITH") {
                if parse_word(&mut parser, "NO") {
                    return Err(SqlStateError::unsupported(
                        "REFRESH ... WITH NO DATA is not supported: a materialized view always holds its rows",
                    ));
                }
                expect_word(&mut parser, "DATA")?;
            }
            QuarryStatement::Refresh { name, concurrently }
        }
        ["SHOW", ..] => {
            parser.expect_keyword(Keyword::SHOW).map_err(syntax)?;
            expect_word(&mut parser, "MODELS")?;
            QuarryStatement::ShowModels
        }
        _ => {
            parser.next_token();
            expect_word(&mut parser, "MODEL")?;
            let mut name = model_name(&parser.parse_object_name(false).map_err(syntax)?)?;
            // `name@3` or `name@production`, as everywhere else.
            if parser.consume_token(&Token::AtSign) {
                let token = parser.next_token();
                let suffix = match &token.token {
                    Token::Number(n, _) => n.clone(),
                    Token::Word(w) => w.value.to_lowercase(),
                    other => {
                        return Err(SqlStateError::new(
                            sqlstate::SYNTAX_ERROR,
                            format!(
                                "syntax error at or near \"{other}\": expected a version number or an alias after @"
                            ),
                        ));
                    }
                };
                name = format!("{name}@{suffix}");
            }
            QuarryStatement::DescribeModel { name }
        }
    };
    while parser.consume_token(&Token::SemiColon) {}
    let rest = parser.peek_token();
    if rest.token != Token::EOF {
        return Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            format!(
                "syntax error at or near \"{}\": send this statement on its own",
                rest.token
            ),
        ));
    }
    Ok(Some(statement))
}

/// Consumes the next token when it is `word` (any case).
fn parse_word(parser: &mut Parser<'_>, word: &str) -> bool {
    match &parser.peek_token().token {
        Token::Word(w) if w.value.eq_ignore_ascii_case(word) => {
            parser.next_token();
            true
        }
        _ => false,
    }
}

fn expect_word(parser: &mut Parser<'_>, word: &str) -> Result<()> {
    let token = parser.next_token();
    match &token.token {
        Token::Word(w) if w.value.eq_ignore_ascii_case(word) => Ok(()),
        other => Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            format!("syntax error: expected {word}, found {other}"),
        )),
    }
}

fn model_name(name: &ObjectName) -> Result<String> {
    let parts: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
    match parts.as_slice() {
        // The registry normalizes names as PostgreSQL does identifiers: a
        // quoted one keeps its case, so it stays quoted until then.
        [ident] => Ok(if ident.quote_style.is_some() {
            format!("\"{}\"", ident.value.replace('"', "\"\""))
        } else {
            ident.value.to_lowercase()
        }),
        _ => Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            format!("model names are not schema-qualified: {name}"),
        )),
    }
}

fn option_value(key: &str, expr: Expr) -> Result<String> {
    match expr {
        Expr::Value(v) => match v.value {
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::EscapedStringLiteral(s) => Ok(s),
            Value::Number(n, _) => Ok(n.to_string()),
            Value::Boolean(b) => Ok(b.to_string()),
            other => Err(SqlStateError::bad_argument(format!(
                "option {key}: expected text, a number or a boolean, got {other}"
            ))),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => Ok(format!("-{}", option_value(key, *expr)?)),
        Expr::Identifier(ident) => Ok(ident.value),
        other => Err(SqlStateError::bad_argument(format!(
            "option {key}: expected text, a number or a boolean, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_at_semicolons_between_them() {
        assert_eq!(split_statements("GRANT a TO b;"), None);
        assert_eq!(
            split_statements("GRANT a TO b; GRANT c TO b;\n"),
            Some(vec!["GRANT a TO b", " GRANT c TO b"])
        );
        assert_eq!(
            split_statements("SELECT ';é' AS \"x;\" -- a;b\n; CREATE USER é"),
            Some(vec!["SELECT ';é' AS \"x;\" -- a;b\n", " CREATE USER é"])
        );
    }

    #[test]
    fn parses_create_model_with_options() {
        let stmt = parse(
            "CREATE OR REPLACE MODEL Churn OPTIONS (algorithm = 'logistic', l2 = 0.5, label = churned, seed = -1) \
             AS SELECT * FROM customers;",
        )
        .expect("parses")
        .expect("model statement");
        let QuarryStatement::CreateModel {
            name,
            or_replace,
            if_not_exists,
            options,
            query,
        } = stmt
        else {
            panic!("create model expected");
        };
        assert_eq!(name, "churn");
        assert!(or_replace && !if_not_exists);
        assert_eq!(options["algorithm"], "logistic");
        assert_eq!(options["l2"], "0.5");
        assert_eq!(options["label"], "churned");
        assert_eq!(options["seed"], "-1");
        assert_eq!(query.to_string(), "SELECT * FROM customers");
    }

    #[test]
    fn recognises_the_other_statements() {
        assert!(matches!(
            parse("show models").expect("ok"),
            Some(QuarryStatement::ShowModels)
        ));
        assert!(matches!(
            parse("DROP MODEL IF EXISTS m").expect("ok"),
            Some(QuarryStatement::DropModel {
                if_exists: true,
                ..
            })
        ));
        assert!(matches!(
            parse("DROP MODEL m KEEP SNAPSHOTS").expect("ok"),
            Some(QuarryStatement::DropModel {
                if_exists: false,
                keep_snapshots: true,
                ..
            })
        ));
        assert!(parse("DROP MODEL m KEEP").is_err());
        for (sql, name) in [
            ("DESCRIBE MODEL churn@2", "churn@2"),
            ("describe model Churn@Production", "churn@production"),
            ("DESCRIBE MODEL \"Churn\"@1", "\"Churn\"@1"),
        ] {
            match parse(sql).expect("parses") {
                Some(QuarryStatement::DescribeModel { name: got }) => {
                    assert_eq!(got, name, "{sql}")
                }
                other => panic!("{sql}: {other:?}"),
            }
        }
        assert!(parse("DESCRIBE MODEL churn@").is_err());
        assert!(matches!(
            parse("CREATE MODEL IF NOT EXISTS \"Churn\" AS SELECT 1").expect("ok"),
            Some(QuarryStatement::CreateModel { if_not_exists: true, ref name, .. }) if name == "\"Churn\""
        ));
        assert!(parse("CREATE OR REPLACE MODEL IF NOT EXISTS m AS SELECT 1").is_err());
        assert!(matches!(
            parse("describe model m").expect("ok"),
            Some(QuarryStatement::DescribeModel { .. })
        ));
        assert!(parse("SELECT 1").expect("ok").is_none());
        assert!(parse("CREATE TABLE model (x INT)").expect("ok").is_none());
    }

    #[test]
    fn syntax_errors_are_42601() {
        assert_eq!(
            parse("CREATE MODEL m OPTIONS (x) AS SELECT 1")
                .expect_err("bad")
                .code,
            "42601"
        );
        assert_eq!(parse("CREATE MODEL m AS").expect_err("bad").code, "42601");
        assert_eq!(parse("DROP MODEL a.b").expect_err("bad").code, "42601");
    }
}
