//! Parse: a statement's text made ready to bind, for the extended protocol
//! and a simple query alike: the connection's cached statement when the
//! same text was prepared before, else parsed, planned when DataFusion plans
//! it (a `COPY ... FROM STDIN` is checked instead), and cached when its plan
//! may be kept. Also what Describe answers: parameter types and result
//! columns.

use std::sync::Arc;

use async_trait::async_trait;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::api::stmt::QueryParser;
use pgwire::api::{ClientInfo, Type};
use pgwire::error::PgWireResult;

use super::commands::{Command, copy_in, show_name};
use super::connection::{Connection, connection};
use super::models;
use super::prepared::{Names, Parser, Prepared, Stmt, returns_rows};
use datafusion::logical_expr::LogicalPlan;

use crate::error::{
    IntoSqlError, Result, SqlStateError, classify, sqlstate, to_pgwire, to_pgwire_in,
};
use crate::server::reuse::{self, Reuse, Validity};
use crate::server::stream;
use crate::session::Session;

impl Parser {
    /// One statement, ready to bind: the connection's cached one when the
    /// same text (with the same declared parameter types) was prepared at the
    /// current validity, else parsed and planned (and cached when its plan
    /// may be kept). `None` for an empty statement.
    pub async fn prepare(
        &self,
        connection: &Connection,
        sql: &str,
        types: &[Option<Type>],
    ) -> Result<Option<Prepared>> {
        let validity = Validity::now(&connection.session, self.state.catalog.store());
        if let Some(prepared) = connection.statements.get(sql, types, validity) {
            return Ok(Some(prepared));
        }
        let mut statements = self.parse_all(sql)?;
        if statements.len() > 1 {
            return Err(SqlStateError::new(
                sqlstate::SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        match statements.pop() {
            None => Ok(None),
            Some(stmt) => self
                .prepare_parsed(connection, sql, types, validity, stmt)
                .await
                .map(Some),
        }
    }

    /// Plans a parsed statement, caching it in the connection when its plan
    /// may be kept.
    pub(super) async fn prepare_parsed(
        &self,
        connection: &Connection,
        sql: &str,
        types: &[Option<Type>],
        validity: Validity,
        stmt: Stmt,
    ) -> Result<Prepared> {
        let session = &connection.session;
        // Taken before planning: a change made meanwhile plans it again.
        let names = Names::now(session, &self.state.catalog);
        let stmt = match stmt {
            Stmt::Model(model) => {
                return Ok(Prepared::new(
                    Stmt::Model(model),
                    Arc::from(sql),
                    None,
                    None,
                    names,
                ));
            }
            Stmt::Df(stmt) => stmt,
        };
        let plan = match Command::of(&stmt) {
            Some(command) => {
                if let Command::Copy(copy) = command
                    && copy.is_from_stdin()
                {
                    copy_in(&self.state, session, &copy)?;
                }
                None
            }
            None => {
                let planner = session.plan_state();
                match super::planner::statement_to_plan(&planner, &stmt).await {
                    Ok(plan) => Some(executed_plan(session, plan).await?),
                    Err(e) => {
                        if let Some(broken) =
                            self.state.catalog.unloadable_named(&planner, &stmt).await
                        {
                            return Err(broken);
                        }
                        return Err(self.locate(&planner, sql, classify(&e)).await);
                    }
                }
            }
        };
        let reuse = plan.as_ref().and_then(reuse::assess).map(Reuse::new);
        let origins = match &plan {
            Some(plan) if super::prepared::returns_rows(plan) => {
                crate::server::origins::resolve(session, self.state.catalog.definitions(), plan)
                    .await
            }
            _ => None,
        };
        let prepared =
            Prepared::new(Stmt::Df(stmt), Arc::from(sql), plan, reuse, names).with_origins(origins);
        if prepared.reuse.is_some() {
            connection
                .statements
                .put(sql, types, validity, prepared.clone());
        }
        Ok(prepared)
    }

    /// The columns `stmt` returns, described for results in `format`; empty
    /// when it returns no rows. Shared, not copied: a portal's Describe
    /// answers from it at every execution.
    pub(super) fn result_fields(
        &self,
        stmt: &Prepared,
        format: &Format,
    ) -> PgWireResult<Arc<Vec<FieldInfo>>> {
        if let Stmt::Model(model) = stmt.stmt.as_ref() {
            let schema = models::result_schema(model);
            return stream::fields(&schema, format, None);
        }
        if let Stmt::Df(df) = stmt.stmt.as_ref()
            && let Some(Command::Show(variable)) = Command::of(df)
        {
            let name = show_name(variable);
            let columns: Vec<String> = if name == "all" {
                vec!["name".into(), "setting".into()]
            } else {
                vec![name]
            };
            return Ok(Arc::new(
                columns
                    .into_iter()
                    .map(|c| {
                        FieldInfo::new(
                            c,
                            None,
                            None,
                            Type::TEXT,
                            pgwire::api::results::FieldFormat::Text,
                        )
                    })
                    .collect(),
            ));
        }
        match &stmt.plan {
            Some(plan) if returns_rows(plan) => {
                let schema = plan.schema().inner();
                stmt.derived.fields.fields(schema, format, None)
            }
            _ => Ok(Arc::new(Vec::new())),
        }
    }
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let connection = connection(client)?;
        self.prepare(&connection, sql, types)
            .await
            .map_err(|e| to_pgwire_in(e, sql))
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        let Some(plan) = &stmt.plan else {
            return Ok(vec![]);
        };
        stmt.derived
            .wire_types(plan)
            .map_err(|e| to_pgwire(classify(&e)))
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let fields = self.result_fields(stmt, column_format.unwrap_or(&Format::UnifiedText))?;
        Ok(fields.as_ref().clone())
    }
}

/// `EXECUTE name (args)` as the plan it runs: the `PREPARE`d plan of the
/// session with the arguments bound, so that Describe reports its columns
/// (the extended protocol sent DataRows after a RowDescription of none) and
/// the plan is made again, like any other, when names or models change.
/// Any other plan is returned as it is.
pub(super) async fn executed_plan(
    session: &Arc<Session>,
    plan: LogicalPlan,
) -> Result<LogicalPlan> {
    let LogicalPlan::Statement(datafusion::logical_expr::Statement::Execute(execute)) = &plan
    else {
        return Ok(plan);
    };
    let Some(prepared) = session.prepared_statement(&execute.name) else {
        return Err(SqlStateError::new(
            sqlstate::INVALID_SQL_STATEMENT_NAME,
            format!("prepared statement \"{}\" does not exist", execute.name),
        ));
    };
    let values = execute
        .parameters
        .iter()
        .map(|e| match e {
            datafusion::logical_expr::Expr::Literal(value, _) => Ok(value.clone()),
            other => Err(SqlStateError::unsupported(format!(
                "EXECUTE arguments must be constants, got {other}"
            ))),
        })
        .collect::<Result<Vec<_>>>()?;
    // Planned again from its text, as PostgreSQL revalidates a cached plan:
    // the relations it names are looked up as they are now.
    let planner = session.plan_state();
    let input = match super::planner::statement_to_plan(&planner, &prepared)
        .await
        .sql_err()?
    {
        LogicalPlan::Statement(datafusion::logical_expr::Statement::Prepare(p)) => p.input,
        other => Arc::new(other),
    };
    input.as_ref().clone().with_param_values(values).sql_err()
}
