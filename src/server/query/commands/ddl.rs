//! DDL the front end runs against the persistent catalog itself, before
//! DataFusion would: `CREATE SCHEMA`, `DROP`, `ALTER TABLE ... RENAME`,
//! `TRUNCATE`; and `CREATE INDEX`, accepted with a notice (Quarry keeps no
//! indexes). `CREATE TABLE` and `CREATE VIEW` are planned by DataFusion and
//! run in `run`.

use datafusion::sql::sqlparser::ast::{
    AlterTable, AlterTableOperation, CommentObject, Expr, ObjectName, ObjectType,
    RenameTableNameKind, SchemaName, SequenceOptions, TruncateTableTarget, UnaryOperator, Value,
};
use pgwire::api::results::Response;

use std::sync::Arc;

use datafusion::datasource::TableType;

use super::done;
use crate::catalog::Catalog;
use crate::catalog::local::TEMP_SCHEMA;
use crate::catalog::store::RelationKind;
use crate::error::{Result, SqlStateError, sqlstate};
use crate::server::query::connection::{Client, feed, notice};
use crate::server::query::names::{object_name, object_name_last};
use crate::session::Session;

pub(super) async fn create_schema(
    catalog: &Catalog,
    session: &Session,
    name: &SchemaName,
    if_not_exists: bool,
) -> Result<Response> {
    let name = match name {
        SchemaName::Simple(n) | SchemaName::NamedAuthorization(n, _) => object_name_last(n),
        SchemaName::UnnamedAuthorization(i) => i.value.to_lowercase(),
    };
    if !(if_not_exists && catalog.schema_exists(&name)) {
        session.checks().superuser("create schema")?;
    }
    catalog
        .create_schema(&name, if_not_exists, Some(&session.current_user()))
        .await?;
    session.wrote();
    done("CREATE SCHEMA")
}

pub(super) async fn drop(
    catalog: &Catalog,
    session: &Session,
    object_type: ObjectType,
    if_exists: bool,
    cascade: bool,
    names: &[ObjectName],
) -> Result<Response> {
    let tag = match object_type {
        ObjectType::Table | ObjectType::View | ObjectType::MaterializedView => {
            let (kind, tag) = match object_type {
                ObjectType::Table => (RelationKind::Table, "DROP TABLE"),
                ObjectType::View => (RelationKind::View, "DROP VIEW"),
                _ => (RelationKind::Materialized, "DROP MATERIALIZED VIEW"),
            };
            for name in names {
                if kind != RelationKind::Materialized
                    && drop_local(session, name, kind == RelationKind::View)?
                {
                    continue;
                }
                let rel = object_name(session, name)?;
                session
                    .checks()
                    .relation_owner(catalog, &session.block, &rel)?;
                catalog
                    .drop_relation(&rel, kind, if_exists, &session.block)
                    .await?;
            }
            session.relations_changed();
            tag
        }
        ObjectType::Schema => {
            for name in names {
                let schema = object_name_last(name);
                if catalog.schema_exists(&schema) {
                    session.checks().schema_owner(&schema)?;
                }
                catalog.drop_schema(&schema, if_exists, cascade).await?;
            }
            session.wrote();
            "DROP SCHEMA"
        }
        ObjectType::Sequence => {
            for name in names {
                let rel = object_name(session, name)?;
                if !catalog.store().drop_sequence(&rel.schema, &rel.name)? && !if_exists {
                    return Err(SqlStateError::new(
                        sqlstate::UNDEFINED_TABLE,
                        format!("sequence \"{}\" does not exist", rel.name),
                    ));
                }
            }
            session.wrote();
            "DROP SEQUENCE"
        }
        ObjectType::Index => {
            if !if_exists {
                return Err(SqlStateError::new(
                    sqlstate::UNDEFINED_OBJECT,
                    "index does not exist: Quarry keeps no indexes",
                ));
            }
            "DROP INDEX"
        }
        other => {
            return Err(SqlStateError::unsupported(format!(
                "DROP {other} is not supported"
            )));
        }
    };
    done(tag)
}

/// `ALTER TABLE ... RENAME TO`, the one form supported.
pub(super) async fn alter_table<C: Client>(
    client: &mut C,
    catalog: &Catalog,
    session: &Session,
    alter: &AlterTable,
) -> Result<Response> {
    // `ADD PRIMARY KEY` / `UNIQUE` / `FOREIGN KEY` (pgbench's and ORMs'
    // schema scripts): Quarry keeps no indexes and enforces no keys; the
    // statement is accepted and says so.
    if !alter.operations.is_empty()
        && alter
            .operations
            .iter()
            .all(|o| matches!(o, AlterTableOperation::AddConstraint { .. }))
    {
        let rel = object_name(session, &alter.name)?;
        session
            .checks()
            .relation_owner(catalog, &session.block, &rel)?;
        if catalog.managed_in(&rel, &session.block).is_err() && !alter.if_exists {
            return Err(SqlStateError::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation \"{rel}\" does not exist"),
            ));
        }
        feed(
            client,
            notice(
                "NOTICE",
                sqlstate::SUCCESSFUL_COMPLETION,
                "Quarry keeps no indexes and does not enforce keys; the constraint is not added",
            ),
        )
        .await?;
        return done("ALTER TABLE");
    }
    let [AlterTableOperation::RenameTable { table_name }] = alter.operations.as_slice() else {
        return Err(SqlStateError::unsupported(
            "ALTER TABLE supports only RENAME TO; recreate the table with CREATE TABLE AS to change columns",
        ));
    };
    let target = match table_name {
        RenameTableNameKind::As(n) | RenameTableNameKind::To(n) => n,
    };
    if let Some(name) = local_name(&alter.name)
        && let Some(relation) = session.local.get(&name)
    {
        let to = object_name_last(target);
        session.local.create(&to, relation, false, false)?;
        session.local.remove(&name);
        session.relations_changed();
        return done("ALTER TABLE");
    }
    let from = object_name(session, &alter.name)?;
    session
        .checks()
        .relation_owner(catalog, &session.block, &from)?;
    // PostgreSQL renames within the schema; a qualified target must match it.
    let mut to = object_name(session, target)?;
    if target.0.len() == 1 {
        to.schema = from.schema.clone();
    }
    catalog
        .rename(&from, &to, alter.if_exists, &session.block)
        .await?;
    session.relations_changed();
    done("ALTER TABLE")
}

pub(super) async fn truncate(
    catalog: &Catalog,
    session: &Session,
    targets: &[TruncateTableTarget],
) -> Result<Response> {
    for target in targets {
        if let Some(name) = local_name(&target.name)
            && let Some(table) = session.local.get(&name)
        {
            if table.table_type() == TableType::View {
                return Err(wrong_type(&name, "a table"));
            }
            let empty = datafusion::datasource::MemTable::try_new(table.schema(), vec![vec![]])
                .map_err(|e| crate::error::classify(&e))?;
            session.local.create(&name, Arc::new(empty), true, false)?;
            session.relations_changed();
            continue;
        }
        let rel = object_name(session, &target.name)?;
        session.checks().relation(
            catalog,
            &session.block,
            &rel,
            crate::access::Privilege::Truncate,
        )?;
        catalog.truncate(&rel, &session.block).await?;
    }
    done("TRUNCATE TABLE")
}

/// The name of a session's temporary relation `name` would be: the name
/// itself, or one in `pg_temp`.
fn local_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [_] => Some(object_name_last(name)),
        [schema, _]
            if schema
                .as_ident()
                .is_some_and(|s| s.value.eq_ignore_ascii_case(TEMP_SCHEMA)) =>
        {
            Some(object_name_last(name))
        }
        _ => None,
    }
}

/// Drops the session's temporary relation `name`, if it has one; a view
/// dropped as a table (or the other way) is refused as in PostgreSQL.
fn drop_local(session: &Session, name: &ObjectName, view: bool) -> Result<bool> {
    let Some(local) = local_name(name) else {
        return Ok(false);
    };
    let Some(relation) = session.local.get(&local) else {
        return Ok(false);
    };
    let is_view = relation.table_type() == TableType::View;
    if is_view != view {
        return Err(wrong_type(&local, if view { "a view" } else { "a table" }));
    }
    let dropped = session.local.remove(&local);
    session.relations_changed();
    Ok(dropped)
}

fn wrong_type(name: &str, expected: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::WRONG_OBJECT_TYPE,
        format!("\"{name}\" is not {expected}"),
    )
}

/// `OPTIMIZE [TABLE] t`: compacts the table's small files now.
pub(super) async fn optimize<C: Client>(
    client: &mut C,
    catalog: &Catalog,
    session: &Session,
    name: &ObjectName,
) -> Result<Response> {
    let rel = object_name(session, name)?;
    session
        .checks()
        .relation_owner(catalog, &session.block, &rel)?;
    let text = match catalog.optimize(&rel).await? {
        Some(done) => format!(
            "{rel}: {} small files merged into {}",
            done.merged, done.written
        ),
        None => format!("{rel}: fewer than two small files, nothing to merge"),
    };
    feed(
        client,
        notice("NOTICE", sqlstate::SUCCESSFUL_COMPLETION, &text),
    )
    .await?;
    session.wrote();
    done("OPTIMIZE")
}

/// `VACUUM [t]`: deletes files past the retention.
pub(super) async fn vacuum(
    catalog: &Catalog,
    session: &Session,
    name: Option<&ObjectName>,
) -> Result<Response> {
    let rel = name.map(|n| object_name(session, n)).transpose()?;
    match &rel {
        Some(rel) => session
            .checks()
            .relation_owner(catalog, &session.block, rel)?,
        // Every table: PostgreSQL skips those the user does not own; here
        // only a superuser vacuums them all.
        None => session.checks().superuser("VACUUM every table")?,
    }
    catalog.vacuum(rel.as_ref())?;
    done("VACUUM")
}

pub(super) async fn create_index<C: Client>(client: &mut C) -> Result<Response> {
    feed(
        client,
        notice(
            "NOTICE",
            sqlstate::SUCCESSFUL_COMPLETION,
            "Quarry stores tables in a columnar format and needs no indexes; CREATE INDEX does nothing",
        ),
    )
    .await?;
    done("CREATE INDEX")
}

/// `COMMENT ON TABLE | VIEW | COLUMN name IS 'text' | NULL`: stored for
/// `pg_description`, `obj_description` and `col_description`. Comments on
/// other objects (a schema, an extension: what `pg_dump` writes) are
/// accepted with a notice saying they are not kept.
pub(super) async fn comment<C: Client>(
    client: &mut C,
    catalog: &Catalog,
    session: &Session,
    object_type: CommentObject,
    target: &ObjectName,
    text: Option<&str>,
    if_exists: bool,
) -> Result<Response> {
    let (relation, column, view) = match object_type {
        CommentObject::Table => (target.clone(), None, false),
        CommentObject::View => (target.clone(), None, true),
        CommentObject::Column => {
            let Some((column, table)) = target.0.split_last() else {
                return Err(SqlStateError::new(
                    sqlstate::SYNTAX_ERROR,
                    "COMMENT ON COLUMN needs a column",
                ));
            };
            if table.is_empty() {
                return Err(SqlStateError::new(
                    sqlstate::SYNTAX_ERROR,
                    "column name must be qualified",
                ));
            }
            let column = object_name_last(&ObjectName(vec![column.clone()]));
            (ObjectName(table.to_vec()), Some(column), false)
        }
        other => {
            feed(
                client,
                notice(
                    "NOTICE",
                    sqlstate::SUCCESSFUL_COMPLETION,
                    format!("comments on a {other} are not kept; Quarry keeps those of tables, views and columns"),
                ),
            )
            .await?;
            return done("COMMENT");
        }
    };
    let name = object_name(session, &relation)?;
    session
        .checks()
        .relation_owner(catalog, &session.block, &name)?;
    match catalog
        .comment(&name, view, column.as_deref(), text, &session.block)
        .await
    {
        Err(e) if if_exists && e.code == sqlstate::UNDEFINED_TABLE => {}
        other => other?,
    }
    session.relations_changed();
    done("COMMENT")
}

/// `CREATE SEQUENCE [IF NOT EXISTS] name [INCREMENT [BY] n] [START [WITH]
/// n]`; other options (bounds, cache, cycle) are accepted with a notice
/// saying they are not applied.
pub(super) async fn create_sequence<C: Client>(
    client: &mut C,
    catalog: &Catalog,
    session: &Session,
    name: &ObjectName,
    if_not_exists: bool,
    options: &[SequenceOptions],
) -> Result<Response> {
    let number = |e: &Expr, what: &str| -> Result<i64> {
        let (negative, e) = match e {
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => (true, expr.as_ref()),
            other => (false, other),
        };
        match e {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n.parse::<i64>().ok(),
                _ => None,
            },
            _ => None,
        }
        .map(|n| if negative { -n } else { n })
        .ok_or_else(|| {
            SqlStateError::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("{what} must be an integer, got {e}"),
            )
        })
    };
    let (mut start, mut increment) = (None, 1);
    for option in options {
        match option {
            SequenceOptions::StartWith(e, _) => start = Some(number(e, "START")?),
            SequenceOptions::IncrementBy(e, _) => increment = number(e, "INCREMENT")?,
            SequenceOptions::Cache(_) => {}
            other => {
                feed(
                    client,
                    notice(
                        "NOTICE",
                        sqlstate::SUCCESSFUL_COMPLETION,
                        format!("sequence option {other} is not applied"),
                    ),
                )
                .await?;
            }
        }
    }
    if increment == 0 {
        return Err(SqlStateError::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            "INCREMENT must not be zero",
        ));
    }
    let rel = object_name(session, name)?;
    if !catalog.schema_exists(&rel.schema) {
        return Err(SqlStateError::new(
            sqlstate::INVALID_SCHEMA_NAME,
            format!("schema \"{}\" does not exist", rel.schema),
        ));
    }
    session
        .checks()
        .schema(&rel.schema, crate::access::Privilege::Create)?;
    let created =
        catalog
            .store()
            .create_sequence(&rel.schema, &rel.name, start.unwrap_or(1), increment)?;
    if !created && !if_not_exists {
        return Err(SqlStateError::new(
            sqlstate::DUPLICATE_TABLE,
            format!("relation \"{}\" already exists", rel.name),
        ));
    }
    done("CREATE SEQUENCE")
}

/// `CREATE SEQUENCE` text with its options in the order sqlparser reads
/// them (`INCREMENT`, `MINVALUE`, `MAXVALUE`, `START`, `CACHE`, `CYCLE`);
/// PostgreSQL takes them in any order, and `pg_dump` writes `START` first.
/// `None` for other statements.
pub(in crate::server::query) fn sequence_options_in_order(sql: &str) -> Option<String> {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let at = match upper.as_slice() {
        [c, s, ..] if c == "CREATE" && s == "SEQUENCE" => 2,
        [c, t, s, ..] if c == "CREATE" && (t == "TEMP" || t == "TEMPORARY") && s == "SEQUENCE" => 3,
        _ => return None,
    };
    // The name (after IF NOT EXISTS), then clauses.
    let mut start = at;
    if upper.get(start).is_some_and(|w| w == "IF") {
        start += 3;
    }
    start += 1;
    let rank = |i: usize| -> Option<usize> {
        let w = upper[i].trim_end_matches(';');
        let next = upper.get(i + 1).map(|w| w.trim_end_matches(';'));
        Some(match (w, next) {
            ("AS", _) => 0,
            ("INCREMENT", _) => 1,
            ("MINVALUE", _) | ("NO", Some("MINVALUE")) => 2,
            ("MAXVALUE", _) | ("NO", Some("MAXVALUE")) => 3,
            ("START", _) => 4,
            ("CACHE", _) => 5,
            ("CYCLE", _) | ("NO", Some("CYCLE")) => 6,
            ("OWNED", _) => 7,
            _ => return None,
        })
    };
    let mut clauses: Vec<(usize, Vec<&str>)> = Vec::new();
    let mut i = start;
    while i < words.len() {
        match rank(i) {
            Some(r) => clauses.push((r, vec![words[i]])),
            None => match clauses.last_mut() {
                Some((_, c)) => c.push(words[i]),
                None => return None,
            },
        }
        // `NO MINVALUE` and the like: the second word belongs to the clause.
        if upper[i] == "NO" && i + 1 < words.len() {
            i += 1;
            if let Some((_, c)) = clauses.last_mut() {
                c.push(words[i]);
            }
        }
        i += 1;
    }
    clauses.sort_by_key(|(r, _)| *r);
    let mut out: Vec<&str> = words[..start.min(words.len())].to_vec();
    for (_, c) in &clauses {
        out.extend(c);
    }
    Some(out.join(" "))
}

/// `VACUUM [FULL] [FREEZE] [VERBOSE] [ANALYZE] [t]` (PostgreSQL's older
/// spelling, which pgbench sends) as `VACUUM [t]`: sqlparser reads no
/// option words, and Quarry's `VACUUM` (deleting files past the retention)
/// has no use for them. `None` for other statements.
pub(in crate::server::query) fn vacuum_without_options(sql: &str) -> Option<String> {
    let words: Vec<&str> = sql.split_whitespace().collect();
    if !words.first()?.eq_ignore_ascii_case("vacuum") {
        return None;
    }
    let options = words[1..]
        .iter()
        .take_while(|w| {
            ["full", "freeze", "verbose", "analyze", "analyse"]
                .contains(&w.trim_end_matches(';').to_ascii_lowercase().as_str())
        })
        .count();
    if options == 0 {
        return None;
    }
    let mut kept = vec![words[0]];
    kept.extend(&words[1 + options..]);
    Some(kept.join(" "))
}

/// `sql` with each dollar-quoted comment (`COMMENT ON ... IS $tag$text$tag$`,
/// as dbt's `persist_docs` writes them) as an ordinary quoted string, which
/// is all sqlparser reads there; `None` when there is none. The rest of the
/// text is kept byte for byte.
pub(in crate::server::query) fn comment_literals_quoted(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};
    if !sql.contains('$') || !sql.to_ascii_lowercase().contains("comment") {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    // Byte offset of each line's start, for the tokens' (line, column).
    let lines: Vec<usize> = std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |at: Location| -> Option<usize> {
        let line = *lines.get(usize::try_from(at.line).ok()?.checked_sub(1)?)?;
        let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
        let rest = sql.get(line..)?;
        Some(
            line + rest
                .char_indices()
                .nth(column)
                .map_or(rest.len(), |(i, _)| i),
        )
    };
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut changed = false;
    let mut after_is = false;
    for token in &tokens {
        match &token.token {
            Token::Whitespace(_) => continue,
            Token::DollarQuotedString(quoted) if after_is => {
                let (start, end) = (offset(token.span.start)?, offset(token.span.end)?);
                out.push_str(sql.get(copied..start)?);
                out.push('\'');
                out.push_str(&quoted.value.replace('\'', "''"));
                out.push('\'');
                copied = end;
                changed = true;
            }
            _ => {}
        }
        after_is = matches!(&token.token, Token::Word(w) if w.keyword == Keyword::IS);
    }
    if !changed {
        return None;
    }
    out.push_str(sql.get(copied..)?);
    Some(out)
}

#[cfg(test)]
mod comment_literal_tests {
    use super::comment_literals_quoted;

    #[test]
    fn dollar_quoted_comments_become_quoted_strings() {
        assert_eq!(
            comment_literals_quoted(
                "comment on table t is $dbt$it's \"done\"$dbt$;\ncomment on column t.a is $$x$$ -- 'q''s'"
            )
            .as_deref(),
            Some("comment on table t is 'it''s \"done\"';\ncomment on column t.a is 'x' -- 'q''s'")
        );
        assert_eq!(comment_literals_quoted("SELECT $$a$$"), None);
        assert_eq!(comment_literals_quoted("COMMENT ON TABLE t IS 'x'"), None);
    }
}
