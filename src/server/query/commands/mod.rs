//! The statements the front end runs itself, without a DataFusion plan:
//! settings, transaction blocks, COPY, and DDL against the persistent
//! catalog.

pub(super) mod copy;

use std::sync::Arc;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    AlterTableOperation, CopySource, CopyTarget, Expr as SqlExpr, ObjectType, RenameTableNameKind,
    Set, Statement, Value,
};
use futures::{SinkExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyResponse, Response, Tag};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::startup::ParameterStatus;

use super::QueryHandler;
use super::connection::{Client, format_options, notice, options_of};
use super::names::{object_name, object_name_last};
use super::run::execute_stream;
use crate::error::{IntoSqlError, Result, SqlStateError, from_pgwire, sqlstate};
use crate::server::copy::CopySpec;
use crate::server::copy_out;
use crate::server::stream::text_rows;
use crate::session::{QueryControl, Session, TxBlock, lock};
use copy::{CopySlot, copy_in};

/// What a statement asks the front end to do.
pub(in crate::server::query) enum Kind {
    /// DataFusion plans and runs it.
    Planned,
    /// Handled by the front end without a plan.
    Command,
}

pub(in crate::server::query) fn kind(stmt: &DfStatement) -> Kind {
    match stmt {
        DfStatement::Statement(s) => match s.as_ref() {
            Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Copy { .. }
            | Statement::AlterTable(_)
            | Statement::Discard { .. }
            | Statement::Deallocate { .. }
            | Statement::Truncate(_)
            | Statement::Drop { .. }
            | Statement::CreateSchema { .. }
            | Statement::CreateIndex(_)
            | Statement::Reset(_)
            | Statement::Comment { .. }
            | Statement::Analyze(_)
            | Statement::Vacuum(_) => Kind::Command,
            _ => Kind::Planned,
        },
        DfStatement::Reset(_) => Kind::Command,
        _ => Kind::Planned,
    }
}

/// Commands that change tables, schemas or the catalog.
pub(in crate::server::query) fn alters_data(stmt: &DfStatement) -> bool {
    matches!(stmt, DfStatement::Statement(s) if matches!(
        s.as_ref(),
        Statement::Copy { .. }
            | Statement::AlterTable(_)
            | Statement::Truncate(_)
            | Statement::Drop { .. }
            | Statement::CreateSchema { .. }
            | Statement::CreateIndex(_)
            | Statement::Comment { .. }
    ))
}

pub(in crate::server::query) fn is_tx_end(stmt: &DfStatement) -> bool {
    matches!(stmt, DfStatement::Statement(s) if matches!(s.as_ref(), Statement::Commit { .. } | Statement::Rollback { .. }))
}

impl QueryHandler {
    pub(super) async fn command<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        stmt: &DfStatement,
        control: &QueryControl,
    ) -> Result<Response> {
        let stmt = match stmt {
            DfStatement::Statement(s) => s.as_ref(),
            DfStatement::Reset(r) => {
                let name = match r {
                    datafusion::sql::parser::ResetStatement::Variable(name) => name.to_string(),
                };
                self.set_var(client, session, &name, None).await?;
                return Ok(Response::Execution(Tag::new("RESET")));
            }
            _ => {
                return Err(SqlStateError::new(
                    sqlstate::INTERNAL_ERROR,
                    "not a command",
                ));
            }
        };
        match stmt {
            Statement::Set(set) => self.set(client, session, set).await,
            Statement::Reset(reset) => {
                match &reset.reset {
                    datafusion::sql::sqlparser::ast::Reset::ALL => session.reset_all()?,
                    datafusion::sql::sqlparser::ast::Reset::ConfigurationParameter(name) => {
                        self.set_var(client, session, &name.to_string(), None)
                            .await?;
                    }
                }
                Ok(Response::Execution(Tag::new("RESET")))
            }
            Statement::ShowVariable { variable } => {
                let lower = show_name(variable);
                if lower == "all" {
                    let rows = session
                        .all_vars()
                        .into_iter()
                        .map(|(k, v)| vec![Some(k), Some(v)])
                        .collect();
                    return Ok(Response::Query(
                        text_rows(&["name", "setting"], rows).map_err(from_pgwire)?,
                    ));
                }
                let (column, value) = session.show(&lower)?;
                Ok(Response::Query(
                    text_rows(&[&column], vec![vec![Some(value)]]).map_err(from_pgwire)?,
                ))
            }
            Statement::StartTransaction { .. } => {
                let already_open = {
                    let mut tx = lock(&session.tx);
                    let open = matches!(*tx, TxBlock::Open { .. });
                    if !open {
                        *tx = TxBlock::Open { writes: 0 };
                    }
                    open
                };
                if already_open {
                    client
                        .feed(notice(
                            "WARNING",
                            "25001",
                            "there is already a transaction in progress",
                        ))
                        .await
                        .map_err(|e| from_pgwire(e.into()))?;
                }
                Ok(Response::TransactionStart(Tag::new("BEGIN")))
            }
            Statement::Commit { .. }
            | Statement::Rollback {
                savepoint: None, ..
            } => {
                let rollback = matches!(stmt, Statement::Rollback { .. });
                let failed = client.transaction_status() == TransactionStatus::Error;
                let previous = std::mem::take(&mut *lock(&session.tx));
                match previous {
                    TxBlock::None if client.transaction_status() == TransactionStatus::Idle => {
                        client
                            .feed(notice(
                                "WARNING",
                                "25P01",
                                "there is no transaction in progress",
                            ))
                            .await
                            .map_err(|e| from_pgwire(e.into()))?;
                    }
                    TxBlock::Open { writes } if rollback && writes > 0 => {
                        client
                            .feed(notice(
                                "WARNING",
                                "25000",
                                format!(
                                    "{writes} statement(s) in this transaction block were already committed; \
                                     Quarry commits each statement when it completes"
                                ),
                            ))
                            .await
                            .map_err(|e| from_pgwire(e.into()))?;
                    }
                    _ => {}
                }
                let tag = if rollback || failed {
                    "ROLLBACK"
                } else {
                    "COMMIT"
                };
                Ok(Response::TransactionEnd(Tag::new(tag)))
            }
            Statement::Rollback {
                savepoint: Some(_), ..
            } => Ok(Response::Execution(Tag::new("ROLLBACK"))),
            Statement::Savepoint { .. } => Ok(Response::Execution(Tag::new("SAVEPOINT"))),
            Statement::ReleaseSavepoint { .. } => Ok(Response::Execution(Tag::new("RELEASE"))),
            Statement::Discard { .. } => {
                session.reset_all()?;
                Ok(Response::Execution(Tag::new("DISCARD ALL")))
            }
            Statement::Deallocate { .. } => Ok(Response::Execution(Tag::new("DEALLOCATE"))),
            Statement::Comment { .. } => Ok(Response::Execution(Tag::new("COMMENT"))),
            Statement::Analyze(_) => Ok(Response::Execution(Tag::new("ANALYZE"))),
            Statement::Vacuum(_) => Ok(Response::Execution(Tag::new("VACUUM"))),
            Statement::CreateIndex(_) => {
                client
                    .feed(notice(
                        "NOTICE",
                        "00000",
                        "Quarry stores tables in a columnar format and needs no indexes; CREATE INDEX does nothing",
                    ))
                    .await
                    .map_err(|e| from_pgwire(e.into()))?;
                Ok(Response::Execution(Tag::new("CREATE INDEX")))
            }
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => {
                let name = match schema_name {
                    datafusion::sql::sqlparser::ast::SchemaName::Simple(n)
                    | datafusion::sql::sqlparser::ast::SchemaName::NamedAuthorization(n, _) => {
                        object_name_last(n)
                    }
                    datafusion::sql::sqlparser::ast::SchemaName::UnnamedAuthorization(i) => {
                        i.value.to_lowercase()
                    }
                };
                self.state
                    .catalog
                    .create_schema(&name, *if_not_exists)
                    .await?;
                session.wrote();
                Ok(Response::Execution(Tag::new("CREATE SCHEMA")))
            }
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => {
                let tag = match object_type {
                    ObjectType::Table | ObjectType::View => {
                        let view = *object_type == ObjectType::View;
                        for name in names {
                            let rel = object_name(session, name)?;
                            self.state
                                .catalog
                                .drop_relation(&rel, view, *if_exists)
                                .await?;
                        }
                        if view { "DROP VIEW" } else { "DROP TABLE" }
                    }
                    ObjectType::Schema => {
                        for name in names {
                            self.state
                                .catalog
                                .drop_schema(&object_name_last(name), *if_exists, *cascade)
                                .await?;
                        }
                        "DROP SCHEMA"
                    }
                    ObjectType::Index => {
                        if !*if_exists {
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
                session.wrote();
                Ok(Response::Execution(Tag::new(tag)))
            }
            Statement::AlterTable(alter) => {
                let [AlterTableOperation::RenameTable { table_name }] = alter.operations.as_slice()
                else {
                    return Err(SqlStateError::unsupported(
                        "ALTER TABLE supports only RENAME TO; recreate the table with CREATE TABLE AS to change columns",
                    ));
                };
                let from = object_name(session, &alter.name)?;
                let target = match table_name {
                    RenameTableNameKind::As(n) | RenameTableNameKind::To(n) => n,
                };
                // PostgreSQL renames within the schema; a qualified target must match it.
                let mut to = object_name(session, target)?;
                if target.0.len() == 1 {
                    to.schema = from.schema.clone();
                }
                self.state
                    .catalog
                    .rename(&from, &to, alter.if_exists)
                    .await?;
                session.wrote();
                Ok(Response::Execution(Tag::new("ALTER TABLE")))
            }
            Statement::Truncate(t) => {
                for target in &t.table_names {
                    let rel = object_name(session, &target.name)?;
                    self.state.catalog.truncate(&rel).await?;
                }
                session.wrote();
                Ok(Response::Execution(Tag::new("TRUNCATE TABLE")))
            }
            Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                ..
            } => match (to, target) {
                (false, CopyTarget::Stdin) => {
                    let copy = copy_in(&self.state, session, stmt)?;
                    let ncols = copy.columns();
                    let slot = client
                        .session_extensions()
                        .get_or_insert_with(CopySlot::default);
                    *lock(&slot.0) = Some(copy);
                    session.wrote();
                    Ok(Response::CopyIn(CopyResponse::new(
                        0,
                        ncols,
                        stream::empty(),
                    )))
                }
                (false, _) => Err(SqlStateError::unsupported(
                    "COPY FROM a file or program is not supported; use COPY ... FROM STDIN (psql \\copy)",
                )),
                (true, CopyTarget::File { filename }) => {
                    let source_sql = match source {
                        CopySource::Table { table_name, .. } => table_name.to_string(),
                        CopySource::Query(q) => format!("({q})"),
                    };
                    let format = options
                        .iter()
                        .find_map(|o| match o {
                            datafusion::sql::sqlparser::ast::CopyOption::Format(f) => {
                                Some(f.value.to_uppercase())
                            }
                            _ => None,
                        })
                        .unwrap_or_else(|| {
                            if filename.ends_with(".parquet") {
                                "PARQUET".into()
                            } else if filename.ends_with(".json") {
                                "JSON".into()
                            } else {
                                "CSV".into()
                            }
                        });
                    let header = options.iter().any(|o| {
                        matches!(o, datafusion::sql::sqlparser::ast::CopyOption::Header(true))
                    });
                    let mut sql = format!(
                        "COPY {source_sql} TO '{}' STORED AS {format}",
                        filename.replace('\'', "''")
                    );
                    if format == "CSV" {
                        sql.push_str(&format!(" OPTIONS ('format.has_header' '{header}')"));
                    }
                    let statements = self.parser.parse(&sql)?;
                    let Some(copy) = statements.into_iter().next() else {
                        return Err(SqlStateError::new(sqlstate::INTERNAL_ERROR, "empty COPY"));
                    };
                    let state = session.ctx.state();
                    let plan = state.statement_to_plan(copy.clone()).await.sql_err()?;
                    self.run_plan(client, session, &copy, plan, &Format::UnifiedText, control)
                        .await
                }
                (true, CopyTarget::Stdout) => {
                    let spec = CopySpec::from_options(options, legacy_options)?;
                    let query = match source {
                        CopySource::Table {
                            table_name,
                            columns,
                        } if columns.is_empty() => {
                            format!("SELECT * FROM {table_name}")
                        }
                        CopySource::Table {
                            table_name,
                            columns,
                        } => format!(
                            "SELECT {} FROM {table_name}",
                            columns
                                .iter()
                                .map(|c| c.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        CopySource::Query(q) => q.to_string(),
                    };
                    let Some(select) = self.parser.parse(&query)?.into_iter().next() else {
                        return Err(SqlStateError::new(
                            sqlstate::INTERNAL_ERROR,
                            "empty COPY query",
                        ));
                    };
                    let stream = control
                        .run(async {
                            let plan = session
                                .plan_state()
                                .statement_to_plan(select)
                                .await
                                .sql_err()?;
                            execute_stream(session, plan).await
                        })
                        .await?;
                    let response =
                        copy_out::copy_out(stream, spec, format_options(client), control.clone())
                            .map_err(from_pgwire)?;
                    Ok(Response::CopyOut(response))
                }
                (true, _) => Err(SqlStateError::unsupported(
                    "COPY TO PROGRAM is not supported; use COPY ... TO STDOUT or TO 'file'",
                )),
            },
            other => Err(SqlStateError::unsupported(format!(
                "statement not supported: {other}"
            ))),
        }
    }

    async fn set<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        set: &Set,
    ) -> Result<Response> {
        match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = variable.to_string();
                self.set_var(client, session, &name, set_value_text(values).as_deref())
                    .await?;
            }
            Set::MultipleAssignments { assignments } => {
                for a in assignments {
                    let name = a.name.to_string();
                    let value = set_value_text(std::slice::from_ref(&a.value));
                    self.set_var(client, session, &name, value.as_deref())
                        .await?;
                }
            }
            Set::SetTimeZone { value, .. } => {
                let value = set_value_text(std::slice::from_ref(value));
                self.set_var(client, session, "TimeZone", value.as_deref())
                    .await?;
            }
            Set::SetNames { charset_name, .. } => {
                self.set_var(
                    client,
                    session,
                    "client_encoding",
                    Some(&charset_name.value),
                )
                .await?;
            }
            Set::SetNamesDefault {} => {
                self.set_var(client, session, "client_encoding", None)
                    .await?;
            }
            Set::SetTransaction { .. } => {}
            Set::SetSessionAuthorization(_) | Set::SetRole { .. } => {
                return Err(SqlStateError::unsupported(
                    "changing the session user is not supported; reconnect as the other user",
                ));
            }
            other => {
                return Err(SqlStateError::unsupported(format!(
                    "{other} is not supported"
                )));
            }
        }
        Ok(Response::Execution(Tag::new("SET")))
    }

    async fn set_var<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        name: &str,
        value: Option<&str>,
    ) -> Result<()> {
        let name = name.trim_matches('"');
        let report = session.set(name, value)?;
        // Settings the row encoder reads from the connection metadata.
        let lower = match name.to_ascii_lowercase().as_str() {
            "time zone" => "timezone".to_string(),
            other => other.to_string(),
        };
        if matches!(
            lower.as_str(),
            "datestyle" | "intervalstyle" | "bytea_output" | "extra_float_digits" | "timezone"
        ) && let Some(v) = session.var(&lower)
        {
            client.metadata_mut().insert(lower.clone(), v);
            let options = options_of(client.metadata());
            client.session_extensions().insert(options);
        }
        if let Some((k, v)) = report {
            client
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    k, v,
                )))
                .await
                .map_err(|e| from_pgwire(e.into()))?;
        }
        Ok(())
    }
}

fn set_value_text(values: &[SqlExpr]) -> Option<String> {
    let parts: Vec<String> = values
        .iter()
        .map(|v| match v {
            SqlExpr::Value(v) => match &v.value {
                Value::SingleQuotedString(s)
                | Value::DoubleQuotedString(s)
                | Value::EscapedStringLiteral(s) => s.clone(),
                Value::Number(n, _) => n.to_string(),
                Value::Boolean(b) => {
                    if *b {
                        "on".into()
                    } else {
                        "off".into()
                    }
                }
                other => other.to_string(),
            },
            SqlExpr::Identifier(i) => i.value.clone(),
            SqlExpr::UnaryOp { op, expr } => format!("{op}{expr}"),
            other => other.to_string(),
        })
        .collect();
    let text = parts.join(", ");
    if text.eq_ignore_ascii_case("default") {
        None
    } else {
        Some(text)
    }
}

/// The parameter a `SHOW` names: multi-word forms map to their parameter,
/// dotted names (`datafusion.execution.batch_size`) are joined back.
pub(in crate::server::query) fn show_name(
    variable: &[datafusion::sql::sqlparser::ast::Ident],
) -> String {
    let words: Vec<String> = variable
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    match words.join(" ").as_str() {
        "transaction isolation level" => "transaction_isolation".into(),
        "time zone" => "timezone".into(),
        "session authorization" => "session_authorization".into(),
        _ => words.join("."),
    }
}
