//! The statements that change roles and privileges, parsed by Quarry
//! (sqlparser reads PostgreSQL's `CREATE USER` as Snowflake's and has no
//! `ON MODEL`):
//!
//! ```sql
//! CREATE ROLE | USER | GROUP name [[WITH] option ...]
//! ALTER ROLE | USER name [[WITH] option ...] | RENAME TO new
//! DROP ROLE | USER | GROUP [IF EXISTS] name [, ...]
//! GRANT role [, ...] TO role [, ...] [WITH ADMIN OPTION]
//! REVOKE [ADMIN OPTION FOR] role [, ...] FROM role [, ...]
//! GRANT { privilege [, ...] | ALL [PRIVILEGES] } ON
//!     { [TABLE] name [, ...] | ALL TABLES IN SCHEMA s [, ...]
//!     | SCHEMA s [, ...] | MODEL m [, ...] }
//!     TO grantee [, ...] [WITH GRANT OPTION]
//! REVOKE [GRANT OPTION FOR] ... ON ... FROM grantee [, ...] [CASCADE | RESTRICT]
//! ALTER { TABLE | VIEW | MATERIALIZED VIEW | SCHEMA | MODEL } name OWNER TO role
//! ```
//!
//! `option` is PostgreSQL's: `SUPERUSER`, `LOGIN`, `CREATEROLE`, `INHERIT`
//! and their `NO` forms, `[ENCRYPTED] PASSWORD 'text' | NULL`, `IN ROLE`;
//! `CREATEDB`, `REPLICATION`, `BYPASSRLS`, `CONNECTION LIMIT` and `VALID
//! UNTIL` are accepted and not enforced (a notice says so). A grantee is a
//! role, `PUBLIC`, `CURRENT_USER` or `SESSION_USER`.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::store::RoleAttributes;
use super::{ObjectKind, Privilege};
use crate::dialect::QuarryDialect;
use crate::error::{Result, SqlStateError, sqlstate};

/// A statement about roles or privileges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessStatement {
    CreateRole {
        name: String,
        /// `CREATE USER`: it logs in unless told `NOLOGIN`.
        user: bool,
        attributes: RoleAttributes,
        /// `IN ROLE`: roles it becomes a member of.
        in_roles: Vec<String>,
        /// `ROLE`: roles that become its members.
        members: Vec<String>,
        /// Options accepted and not enforced, for a notice.
        ignored: Vec<String>,
    },
    AlterRole {
        name: String,
        attributes: RoleAttributes,
        ignored: Vec<String>,
    },
    RenameRole {
        name: String,
        new: String,
    },
    DropRole {
        names: Vec<String>,
        if_exists: bool,
    },
    GrantRole {
        roles: Vec<String>,
        members: Vec<String>,
        admin: bool,
    },
    RevokeRole {
        roles: Vec<String>,
        members: Vec<String>,
        admin_only: bool,
    },
    Grant {
        privileges: Privileges,
        on: On,
        grantees: Vec<String>,
        grant_option: bool,
    },
    Revoke {
        privileges: Privileges,
        on: On,
        grantees: Vec<String>,
        grant_option_only: bool,
    },
    AlterOwner {
        kind: OwnedKind,
        name: ObjectName,
        owner: String,
    },
    /// `CREATE SECRET name`: a key the server makes and never shows.
    CreateSecret {
        name: String,
    },
    DropSecret {
        names: Vec<String>,
        if_exists: bool,
    },
}

impl AccessStatement {
    /// Its command tag, as PostgreSQL's.
    pub fn tag(&self) -> &'static str {
        match self {
            AccessStatement::CreateRole { .. } => "CREATE ROLE",
            AccessStatement::AlterRole { .. } | AccessStatement::RenameRole { .. } => "ALTER ROLE",
            AccessStatement::DropRole { .. } => "DROP ROLE",
            AccessStatement::GrantRole { .. } => "GRANT ROLE",
            AccessStatement::RevokeRole { .. } => "REVOKE ROLE",
            AccessStatement::Grant { .. } => "GRANT",
            AccessStatement::Revoke { .. } => "REVOKE",
            AccessStatement::AlterOwner { kind, .. } => kind.tag(),
            AccessStatement::CreateSecret { .. } => "CREATE SECRET",
            AccessStatement::DropSecret { .. } => "DROP SECRET",
        }
    }
}

/// What `ALTER ... OWNER TO` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnedKind {
    Table,
    View,
    MaterializedView,
    Schema,
    Model,
}

impl OwnedKind {
    fn tag(self) -> &'static str {
        match self {
            OwnedKind::Table => "ALTER TABLE",
            OwnedKind::View => "ALTER VIEW",
            OwnedKind::MaterializedView => "ALTER MATERIALIZED VIEW",
            OwnedKind::Schema => "ALTER SCHEMA",
            OwnedKind::Model => "ALTER MODEL",
        }
    }
}

/// The privileges a `GRANT` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Privileges {
    All,
    Some(Vec<Privilege>),
}

impl Privileges {
    /// The privileges on `kind` meant; `0LP01` for one that does not exist
    /// on it (`GRANT PREDICT ON TABLE`), as PostgreSQL's.
    pub fn on(&self, kind: ObjectKind) -> Result<Vec<Privilege>> {
        match self {
            Privileges::All => Ok(kind.privileges().to_vec()),
            Privileges::Some(list) => {
                for p in list {
                    if !kind.privileges().contains(p) {
                        let noun = match kind {
                            ObjectKind::Relation => "relation",
                            ObjectKind::Schema => "schema",
                            ObjectKind::Model => "model",
                            ObjectKind::Secret => "secret",
                        };
                        return Err(SqlStateError::new(
                            sqlstate::INVALID_GRANT_OPERATION,
                            format!("invalid privilege type {} for {noun}", p.name()),
                        )
                        .with_hint(format!(
                            "a {noun} takes {}",
                            kind.privileges()
                                .iter()
                                .map(|p| p.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
                Ok(list.clone())
            }
        }
    }
}

/// The objects a `GRANT` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum On {
    Tables(Vec<ObjectName>),
    AllTablesInSchema(Vec<String>),
    Schemas(Vec<String>),
    Models(Vec<String>),
    Secrets(Vec<String>),
}

impl On {
    pub fn kind(&self) -> ObjectKind {
        match self {
            On::Tables(_) | On::AllTablesInSchema(_) => ObjectKind::Relation,
            On::Schemas(_) => ObjectKind::Schema,
            On::Models(_) => ObjectKind::Model,
            On::Secrets(_) => ObjectKind::Secret,
        }
    }
}

/// Whether `words` (a statement's first words, upper case) start one of
/// these statements.
pub fn is_access(words: &[&str]) -> bool {
    matches!(
        words,
        ["CREATE" | "ALTER" | "DROP", "ROLE" | "USER" | "GROUP", ..]
            | ["CREATE" | "DROP", "SECRET", ..]
            | ["GRANT" | "REVOKE", ..]
    )
}

/// Whether `sql` is `ALTER ... OWNER TO ...` (checked on the whole text:
/// its owner clause comes last).
fn is_owner_change(words: &[String]) -> bool {
    let words = match words.iter().rposition(|w| w != ";") {
        Some(last) => &words[..=last],
        None => return false,
    };
    words.len() >= 5
        && words[0] == "ALTER"
        && matches!(
            words[1].as_str(),
            "TABLE" | "VIEW" | "MATERIALIZED" | "SCHEMA" | "MODEL"
        )
        && words[words.len() - 3] == "OWNER"
        && words[words.len() - 2] == "TO"
}

/// What `CREATE ROLE`/`ALTER ROLE` say after the name.
struct RoleOptions {
    attributes: RoleAttributes,
    /// `IN ROLE`: the roles the new one joins.
    in_roles: Vec<String>,
    /// `ROLE`: the roles that join the new one.
    members: Vec<String>,
    /// Options accepted and ignored (`CREATEDB`...), for a notice.
    ignored: Vec<String>,
}

fn syntax(e: impl std::fmt::Display) -> SqlStateError {
    let text = e.to_string();
    let text = text.trim_start_matches("sql parser error: ");
    SqlStateError::new(sqlstate::SYNTAX_ERROR, format!("syntax error: {text}"))
}

/// A name as PostgreSQL folds it: unquoted to lower case.
fn fold(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

struct Words<'a> {
    parser: Parser<'a>,
}

impl Words<'_> {
    /// The next word, upper case, without taking it.
    fn peek(&self) -> Option<String> {
        match &self.parser.peek_token().token {
            Token::Word(w) => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn take(&mut self, word: &str) -> bool {
        if self.peek().as_deref() == Some(word) {
            self.parser.next_token();
            return true;
        }
        false
    }

    fn expect(&mut self, word: &str) -> Result<()> {
        if self.take(word) {
            return Ok(());
        }
        Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            format!(
                "syntax error at or near \"{}\": expected {word}",
                self.parser.peek_token().token
            ),
        ))
    }

    /// Back to `checkpoint`, an index `parser.index()` gave. `prev_token`
    /// steps over whitespace to the token before, so it can step past a
    /// checkpoint that sits on whitespace; one `next_token` comes back.
    fn rewind(&mut self, checkpoint: usize) {
        while self.parser.index() > checkpoint {
            self.parser.prev_token();
        }
        if self.parser.index() < checkpoint {
            self.parser.next_token();
        }
    }

    fn name(&mut self) -> Result<String> {
        self.parser
            .parse_identifier()
            .map(|i| fold(&i))
            .map_err(syntax)
    }

    fn names(&mut self) -> Result<Vec<String>> {
        let mut out = vec![self.name()?];
        while self.parser.consume_token(&Token::Comma) {
            out.push(self.name()?);
        }
        Ok(out)
    }

    fn object_names(&mut self) -> Result<Vec<ObjectName>> {
        let mut out = vec![self.parser.parse_object_name(false).map_err(syntax)?];
        while self.parser.consume_token(&Token::Comma) {
            out.push(self.parser.parse_object_name(false).map_err(syntax)?);
        }
        Ok(out)
    }

    /// A grantee: a role, or `PUBLIC`, `CURRENT_USER`, `SESSION_USER`,
    /// `CURRENT_ROLE` (kept upper case, resolved when it runs).
    fn grantee(&mut self) -> Result<String> {
        self.take("GROUP");
        if let Some(word) = self.peek()
            && matches!(
                word.as_str(),
                "PUBLIC" | "CURRENT_USER" | "SESSION_USER" | "CURRENT_ROLE"
            )
            && !matches!(&self.parser.peek_token().token, Token::Word(w) if w.quote_style.is_some())
        {
            self.parser.next_token();
            return Ok(word);
        }
        self.name()
    }

    fn grantees(&mut self) -> Result<Vec<String>> {
        let mut out = vec![self.grantee()?];
        while self.parser.consume_token(&Token::Comma) {
            out.push(self.grantee()?);
        }
        Ok(out)
    }

    fn end(&mut self) -> Result<()> {
        while self.parser.consume_token(&Token::SemiColon) {}
        match self.parser.peek_token().token {
            Token::EOF => Ok(()),
            other => Err(SqlStateError::new(
                sqlstate::SYNTAX_ERROR,
                format!("syntax error at or near \"{other}\""),
            )),
        }
    }

    /// Role options up to the end, as `CREATE ROLE` and `ALTER ROLE` take
    /// them.
    fn role_options(&mut self, creating: bool) -> Result<RoleOptions> {
        let mut attributes = RoleAttributes::default();
        let (mut in_roles, mut members, mut ignored) = (Vec::new(), Vec::new(), Vec::new());
        self.take("WITH");
        while let Some(word) = self.peek() {
            self.parser.next_token();
            match word.as_str() {
                "SUPERUSER" => attributes.superuser = Some(true),
                "NOSUPERUSER" => attributes.superuser = Some(false),
                "LOGIN" => attributes.login = Some(true),
                "NOLOGIN" => attributes.login = Some(false),
                "CREATEROLE" => attributes.create_role = Some(true),
                "NOCREATEROLE" => attributes.create_role = Some(false),
                "INHERIT" => attributes.inherit = Some(true),
                "NOINHERIT" => attributes.inherit = Some(false),
                "CREATEDB" | "NOCREATEDB" | "REPLICATION" | "NOREPLICATION" | "BYPASSRLS"
                | "NOBYPASSRLS" => ignored.push(word),
                "ENCRYPTED" | "UNENCRYPTED" | "PASSWORD" => {
                    if word != "PASSWORD" {
                        self.expect("PASSWORD")?;
                    }
                    if self.take("NULL") {
                        attributes.password = Some(None);
                    } else {
                        let text = self.parser.parse_literal_string().map_err(syntax)?;
                        attributes.password = Some(Some(text));
                    }
                }
                "CONNECTION" => {
                    self.expect("LIMIT")?;
                    self.parser.parse_number_value().map_err(syntax)?;
                    ignored.push("CONNECTION LIMIT".into());
                }
                "VALID" => {
                    self.expect("UNTIL")?;
                    self.parser.parse_literal_string().map_err(syntax)?;
                    ignored.push("VALID UNTIL".into());
                }
                "SYSID" => {
                    self.parser.parse_number_value().map_err(syntax)?;
                    ignored.push("SYSID".into());
                }
                "IN" if creating => {
                    if !self.take("ROLE") {
                        self.expect("GROUP")?;
                    }
                    in_roles.extend(self.names()?);
                }
                "ROLE" | "USER" if creating => members.extend(self.names()?),
                "ADMIN" if creating => members.extend(self.names()?),
                _ => {
                    return Err(SqlStateError::new(
                        sqlstate::SYNTAX_ERROR,
                        format!("syntax error at or near \"{word}\": unrecognized role option"),
                    ));
                }
            }
            self.take("WITH");
        }
        self.end()?;
        Ok(RoleOptions {
            attributes,
            in_roles,
            members,
            ignored,
        })
    }

    /// `privilege [(columns)] [, ...]` or `ALL [PRIVILEGES]`, up to `ON`.
    fn privileges(&mut self) -> Result<Privileges> {
        if self.take("ALL") {
            self.take("PRIVILEGES");
            return Ok(Privileges::All);
        }
        let mut list = Vec::new();
        loop {
            let token = self.parser.next_token();
            let Token::Word(w) = &token.token else {
                return Err(syntax(format!(
                    "expected a privilege, found {}",
                    token.token
                )));
            };
            let privilege = Privilege::parse(&w.value).ok_or_else(|| {
                SqlStateError::new(
                    sqlstate::SYNTAX_ERROR,
                    format!("unrecognized privilege type \"{}\"", w.value),
                )
            })?;
            if self.parser.peek_token().token == Token::LParen {
                return Err(SqlStateError::unsupported(
                    "column privileges are not supported; grant on the table, or on a view of the columns",
                ));
            }
            list.push(privilege);
            if !self.parser.consume_token(&Token::Comma) {
                break;
            }
        }
        Ok(Privileges::Some(list))
    }

    fn on(&mut self) -> Result<On> {
        if self.take("ALL") {
            self.expect("TABLES")?;
            self.expect("IN")?;
            self.expect("SCHEMA")?;
            return Ok(On::AllTablesInSchema(self.names()?));
        }
        if self.take("SCHEMA") {
            return Ok(On::Schemas(self.names()?));
        }
        if self.take("MODEL") {
            return Ok(On::Models(self.names()?));
        }
        if self.take("SECRET") {
            return Ok(On::Secrets(self.names()?));
        }
        self.take("TABLE");
        Ok(On::Tables(self.object_names()?))
    }
}

/// Parses `sql` when it is one of these statements; `Ok(None)` otherwise.
pub fn parse(sql: &str, words: &[String]) -> Result<Option<AccessStatement>> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let owner = is_owner_change(words);
    if !is_access(&w) && !owner {
        return Ok(None);
    }
    let dialect = QuarryDialect::default();
    let parser = Parser::new(&dialect).try_with_sql(sql).map_err(syntax)?;
    let mut p = Words { parser };
    let first = p.peek().unwrap_or_default();
    p.parser.next_token();
    let statement = match first.as_str() {
        "CREATE" if w.get(1) == Some(&"SECRET") => {
            p.parser.next_token();
            let name = p.name()?;
            p.end()?;
            AccessStatement::CreateSecret { name }
        }
        "DROP" if w.get(1) == Some(&"SECRET") => {
            p.parser.next_token();
            let if_exists = p.parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            let names = p.names()?;
            p.end()?;
            AccessStatement::DropSecret { names, if_exists }
        }
        "CREATE" => {
            let kind = p.peek().unwrap_or_default();
            p.parser.next_token();
            let name = p.name()?;
            let RoleOptions {
                attributes,
                in_roles,
                members,
                ignored,
            } = p.role_options(true)?;
            AccessStatement::CreateRole {
                name,
                user: kind == "USER",
                attributes,
                in_roles,
                members,
                ignored,
            }
        }
        "DROP" => {
            p.parser.next_token();
            let if_exists = p.parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            let names = p.names()?;
            p.end()?;
            AccessStatement::DropRole { names, if_exists }
        }
        "ALTER" if owner => {
            let kind = match p.peek().as_deref() {
                Some("TABLE") => OwnedKind::Table,
                Some("VIEW") => OwnedKind::View,
                Some("SCHEMA") => OwnedKind::Schema,
                Some("MODEL") => OwnedKind::Model,
                _ => {
                    p.expect("MATERIALIZED")?;
                    OwnedKind::MaterializedView
                }
            };
            p.parser.next_token();
            let name = p.parser.parse_object_name(false).map_err(syntax)?;
            p.expect("OWNER")?;
            p.expect("TO")?;
            let owner = p.grantee()?;
            p.end()?;
            AccessStatement::AlterOwner { kind, name, owner }
        }
        "ALTER" => {
            p.parser.next_token();
            let name = p.name()?;
            if p.take("RENAME") {
                p.expect("TO")?;
                let new = p.name()?;
                p.end()?;
                AccessStatement::RenameRole { name, new }
            } else {
                let RoleOptions {
                    attributes,
                    ignored,
                    ..
                } = p.role_options(false)?;
                AccessStatement::AlterRole {
                    name,
                    attributes,
                    ignored,
                }
            }
        }
        "GRANT" => {
            let checkpoint = p.parser.index();
            let privileges = p.privileges();
            if privileges.is_ok() && p.take("ON") {
                let privileges = privileges?;
                let on = p.on()?;
                p.expect("TO")?;
                let grantees = p.grantees()?;
                let grant_option = p.take("WITH");
                if grant_option {
                    p.expect("GRANT")?;
                    p.expect("OPTION")?;
                }
                p.end()?;
                AccessStatement::Grant {
                    privileges,
                    on,
                    grantees,
                    grant_option,
                }
            } else {
                // GRANT role [, ...] TO role [, ...]
                p.rewind(checkpoint);
                let roles = p.names()?;
                p.expect("TO")?;
                let members = p.grantees()?;
                let admin = p.take("WITH");
                if admin {
                    p.expect("ADMIN")?;
                    p.expect("OPTION")?;
                }
                p.end()?;
                AccessStatement::GrantRole {
                    roles,
                    members,
                    admin,
                }
            }
        }
        "REVOKE" => {
            let option_only = {
                let grant = p.peek().as_deref() == Some("GRANT");
                let admin = p.peek().as_deref() == Some("ADMIN");
                if grant || admin {
                    p.parser.next_token();
                    p.expect("OPTION")?;
                    p.expect("FOR")?;
                }
                grant || admin
            };
            let checkpoint = p.parser.index();
            let privileges = p.privileges();
            let statement = if privileges.is_ok() && p.take("ON") {
                let privileges = privileges?;
                let on = p.on()?;
                p.expect("FROM")?;
                let grantees = p.grantees()?;
                AccessStatement::Revoke {
                    privileges,
                    on,
                    grantees,
                    grant_option_only: option_only,
                }
            } else {
                p.rewind(checkpoint);
                let roles = p.names()?;
                p.expect("FROM")?;
                let members = p.grantees()?;
                AccessStatement::RevokeRole {
                    roles,
                    members,
                    admin_only: option_only,
                }
            };
            if !p.take("CASCADE") {
                p.take("RESTRICT");
            }
            p.end()?;
            statement
        }
        _ => return Ok(None),
    };
    Ok(Some(statement))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> AccessStatement {
        let words = crate::statements::leading_words(sql, usize::MAX);
        parse(sql, &words).expect("parses").expect("is one")
    }

    #[test]
    fn roles_and_users() {
        assert_eq!(
            parsed("CREATE USER Alice WITH PASSWORD 'pw' CREATEDB IN ROLE analyst"),
            AccessStatement::CreateRole {
                name: "alice".into(),
                user: true,
                attributes: RoleAttributes {
                    password: Some(Some("pw".into())),
                    ..RoleAttributes::default()
                },
                in_roles: vec!["analyst".into()],
                members: vec![],
                ignored: vec!["CREATEDB".into()],
            }
        );
        assert_eq!(
            parsed("ALTER ROLE \"Bob\" NOLOGIN PASSWORD NULL"),
            AccessStatement::AlterRole {
                name: "Bob".into(),
                attributes: RoleAttributes {
                    login: Some(false),
                    password: Some(None),
                    ..RoleAttributes::default()
                },
                ignored: vec![],
            }
        );
        assert_eq!(
            parsed("alter user a rename to b"),
            AccessStatement::RenameRole {
                name: "a".into(),
                new: "b".into()
            }
        );
        assert_eq!(
            parsed("DROP ROLE IF EXISTS a, b;"),
            AccessStatement::DropRole {
                names: vec!["a".into(), "b".into()],
                if_exists: true
            }
        );
    }

    #[test]
    fn grants_of_privileges_and_of_roles() {
        assert_eq!(
            parsed("GRANT SELECT, INSERT ON TABLE s.t, u TO analyst, PUBLIC WITH GRANT OPTION"),
            AccessStatement::Grant {
                privileges: Privileges::Some(vec![Privilege::Select, Privilege::Insert]),
                on: On::Tables(vec![
                    ObjectName::from(vec![Ident::new("s"), Ident::new("t")]),
                    ObjectName::from(vec![Ident::new("u")]),
                ]),
                grantees: vec!["analyst".into(), "PUBLIC".into()],
                grant_option: true,
            }
        );
        assert_eq!(
            parsed("GRANT PREDICT, DEPLOY ON MODEL churn TO scorer"),
            AccessStatement::Grant {
                privileges: Privileges::Some(vec![Privilege::Predict, Privilege::Deploy]),
                on: On::Models(vec!["churn".into()]),
                grantees: vec!["scorer".into()],
                grant_option: false,
            }
        );
        assert_eq!(
            parsed("GRANT analyst TO alice, bob"),
            AccessStatement::GrantRole {
                roles: vec!["analyst".into()],
                members: vec!["alice".into(), "bob".into()],
                admin: false
            }
        );
        assert_eq!(
            parsed("REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA sales FROM analyst CASCADE"),
            AccessStatement::Revoke {
                privileges: Privileges::All,
                on: On::AllTablesInSchema(vec!["sales".into()]),
                grantees: vec!["analyst".into()],
                grant_option_only: false,
            }
        );
        assert_eq!(
            parsed("REVOKE analyst FROM alice"),
            AccessStatement::RevokeRole {
                roles: vec!["analyst".into()],
                members: vec!["alice".into()],
                admin_only: false
            }
        );
        assert_eq!(
            parsed("ALTER TABLE t OWNER TO alice"),
            AccessStatement::AlterOwner {
                kind: OwnedKind::Table,
                name: ObjectName::from(vec![Ident::new("t")]),
                owner: "alice".into()
            }
        );
    }

    #[test]
    fn bad_statements_are_syntax_errors_and_others_are_left_alone() {
        let bad = |sql: &str| {
            let words = crate::statements::leading_words(sql, usize::MAX);
            parse(sql, &words).expect_err(sql).code
        };
        assert_eq!(bad("CREATE ROLE r WITH FLY"), "42601");
        assert_eq!(bad("GRANT SELECT ON t"), "42601");
        assert_eq!(bad("GRANT SELEC ON t TO r"), "42601");
        let words = crate::statements::leading_words("ALTER TABLE t RENAME TO u", usize::MAX);
        assert!(
            parse("ALTER TABLE t RENAME TO u", &words)
                .expect("parses")
                .is_none()
        );
        assert_eq!(
            Privileges::Some(vec![Privilege::Predict])
                .on(ObjectKind::Relation)
                .expect_err("not on tables")
                .code,
            "0LP01"
        );
    }
}
