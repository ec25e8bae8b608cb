//! What the audit log keeps of a statement's text: the text with literal
//! secrets replaced, and the objects it names.
//!
//! Both are worked out by the log's writer thread, off the statement's
//! path, from the text alone (a kept plan or a statement that failed to
//! plan is audited the same way).

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName, Statement, TableFactor,
    Value, Visit, Visitor,
};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::dialect::QuarryDialect;
use crate::statements::{QuarryStatement, located_tokens, split_statements};

/// What replaces a secret.
pub const REDACTED: &str = "'********'";

/// Words that, before a string literal, make it a secret: `PASSWORD
/// 'x'`, an option `'aws.secret_access_key' 'x'`, `token = 'x'`.
const SECRET_WORDS: &[&str] = &[
    "password",
    "secret",
    "token",
    "credential",
    "access_key",
    "private_key",
    "api_key",
];

fn names_a_secret(token: &Token) -> bool {
    let text = match token {
        Token::Word(w) => w.value.to_lowercase(),
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.to_lowercase(),
        _ => return false,
    };
    SECRET_WORDS.iter().any(|w| text.contains(w))
}

fn is_string(token: &Token) -> bool {
    matches!(
        token,
        Token::SingleQuotedString(_)
            | Token::EscapedStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::DollarQuotedString(_)
            | Token::UnicodeStringLiteral(_)
    )
}

/// `sql` with every string literal that follows a word naming a secret
/// (optionally with `=` between) replaced by [`REDACTED`]. Text that does
/// not tokenize is kept only up to its first quote: what follows might be
/// a secret the tokenizer could not delimit.
pub fn redact(sql: &str) -> String {
    let Some(tokens) = located_tokens(sql) else {
        return match sql.find(['\'', '$']) {
            Some(at) => format!("{}{REDACTED} (not tokenized)", &sql[..at]),
            None => sql.to_string(),
        };
    };
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut before: Option<&Token> = None;
    let mut before_eq: Option<&Token> = None;
    for (token, start, end) in &tokens {
        if matches!(token, Token::Whitespace(_)) {
            continue;
        }
        let secret = is_string(token)
            && (before.is_some_and(names_a_secret)
                || (matches!(before, Some(Token::Eq)) && before_eq.is_some_and(names_a_secret)));
        if secret {
            out.push_str(&sql[copied..*start]);
            out.push_str(REDACTED);
            copied = *end;
        }
        before_eq = before;
        before = Some(token);
    }
    out.push_str(&sql[copied..]);
    out
}

/// The relations, models and columns `sql` names: tables and views it
/// reads or writes, the model of `CREATE`/`DROP`/`DESCRIBE MODEL`, and the
/// first text argument of each `ml_*` call (a model, a relation or a
/// `table.column`). Sorted, without repeats; empty for text that does not
/// parse.
pub fn objects(sql: &str) -> Vec<String> {
    let mut found = Found::default();
    let parts = split_statements(sql).unwrap_or_else(|| vec![sql]);
    for part in parts {
        match crate::statements::parse(part) {
            Ok(Some(statement)) => found.quarry(&statement),
            Ok(None) => {
                if let Ok(statements) = Parser::parse_sql(&QuarryDialect::default(), part) {
                    for s in &statements {
                        found.statement(s);
                    }
                }
            }
            Err(_) => {}
        }
    }
    found
        .relations
        .difference(&found.functions)
        .cloned()
        .chain(found.named)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[derive(Default)]
struct Found {
    relations: BTreeSet<String>,
    /// Names of table functions called (the visitor reports them as
    /// relations too).
    functions: BTreeSet<String>,
    /// Objects named by text arguments and Quarry's statements.
    named: BTreeSet<String>,
}

impl Found {
    fn quarry(&mut self, statement: &QuarryStatement) {
        match statement {
            QuarryStatement::CreateModel { name, query, .. } => {
                self.named.insert(name.clone());
                let _ = query.visit(self);
            }
            QuarryStatement::DropModel { name, .. } | QuarryStatement::DescribeModel { name } => {
                self.named.insert(name.clone());
            }
            QuarryStatement::Refresh { name, .. } => {
                self.relations.insert(object_name(name));
            }
            QuarryStatement::ShowModels | QuarryStatement::Access(_) => {}
        }
    }

    fn statement(&mut self, statement: &Statement) {
        let _ = statement.visit(self);
    }

    fn text_argument(&mut self, args: &[FunctionArg]) {
        if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) = args.first()
            && let Value::SingleQuotedString(s) = &v.value
        {
            self.named.insert(s.clone());
        }
    }
}

fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) if ident.quote_style.is_some() => ident.value.clone(),
            Some(ident) => ident.value.to_lowercase(),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

impl Visitor for Found {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        self.relations.insert(object_name(relation));
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = factor
        {
            let function = object_name(name);
            if function.starts_with("ml_") {
                self.text_argument(&args.args);
            }
            // A relation passed by name: `ml_profile(customers)`.
            for arg in &args.args {
                if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                    match e {
                        Expr::Identifier(i) => {
                            self.named.insert(i.value.to_lowercase());
                        }
                        Expr::CompoundIdentifier(parts) => {
                            let parts: Vec<String> =
                                parts.iter().map(|i| i.value.to_lowercase()).collect();
                            self.named.insert(parts.join("."));
                        }
                        _ => {}
                    }
                }
            }
            self.functions.insert(function);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr
            && object_name(&f.name).starts_with("ml_")
            && let FunctionArguments::List(list) = &f.args
        {
            self.text_argument(&list.args);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_secret_options_are_replaced() {
        assert_eq!(
            redact("CREATE USER alice PASSWORD 'hunter2' VALID UNTIL '2030-01-01'"),
            "CREATE USER alice PASSWORD '********' VALID UNTIL '2030-01-01'"
        );
        assert_eq!(
            redact("ALTER ROLE bob WITH ENCRYPTED PASSWORD 'SCRAM-SHA-256$4096:abc'"),
            "ALTER ROLE bob WITH ENCRYPTED PASSWORD '********'"
        );
        assert_eq!(
            redact(
                "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://b/t' \
                 OPTIONS ('aws.access_key_id' 'AKIA', 'aws.secret_access_key' 'wJal')"
            ),
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://b/t' \
             OPTIONS ('aws.access_key_id' '********', 'aws.secret_access_key' '********')"
        );
        assert_eq!(
            redact("SELECT * FROM t WHERE token = 'abc' AND name = 'x'"),
            "SELECT * FROM t WHERE token = '********' AND name = 'x'"
        );
        // Nothing to hide: the text as it came, comments and all.
        let plain = "SELECT 'password' AS word -- a comment\nFROM t";
        assert_eq!(redact(plain), plain);
        // Text that does not tokenize is cut at its first quote.
        assert_eq!(
            redact("ALTER USER x PASSWORD 'unterminated"),
            "ALTER USER x PASSWORD '********' (not tokenized)"
        );
    }

    #[test]
    fn non_ascii_text_keeps_its_characters() {
        assert_eq!(
            redact("SELECT 'é' ; CREATE USER ü PASSWORD 'ß'"),
            "SELECT 'é' ; CREATE USER ü PASSWORD '********'"
        );
    }

    #[test]
    fn objects_are_relations_models_and_text_arguments() {
        assert_eq!(
            objects("SELECT c.id FROM customers c JOIN Sales.Orders o ON c.id = o.id"),
            vec!["customers", "sales.orders"]
        );
        assert_eq!(
            objects("SELECT ml_predict('churn', age, plan) FROM customers_recent"),
            vec!["churn", "customers_recent"]
        );
        assert_eq!(
            objects("SELECT * FROM ml_profile(customers); SELECT * FROM ml_drift('churn', recent)"),
            vec!["churn", "customers", "recent"]
        );
        assert_eq!(
            objects("CREATE MODEL m OPTIONS (label = 'y') AS SELECT * FROM train_set"),
            vec!["m", "train_set"]
        );
        assert_eq!(
            objects("INSERT INTO log SELECT * FROM staging"),
            vec!["log", "staging"]
        );
        assert_eq!(
            objects("SELECT ml_tag('customers.email', 'pii')"),
            vec!["customers.email"]
        );
        assert!(objects("SELECT 1").is_empty());
        assert!(objects("not sql at all").is_empty());
    }
}
