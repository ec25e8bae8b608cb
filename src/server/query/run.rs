//! Running a logical plan: DDL against the persistent catalog, writes with
//! their row counts, everything else streamed to the client.

use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use futures::StreamExt;
use pgwire::api::ClientInfo;
use pgwire::api::portal::Format;
use pgwire::api::results::{Response, Tag};

use super::QueryHandler;
use super::connection::{Client, format_options};
use super::names::rel_name;
use crate::error::{IntoSqlError, Result, SqlStateError, from_pgwire, sqlstate};
use crate::server::reuse;
use crate::server::stream::{FieldsCache, query_response};
use crate::session::{QueryControl, Session};

impl QueryHandler {
    /// Runs a planned statement: DDL against the catalog, everything else in
    /// DataFusion with the result streamed under `control`.
    ///
    /// No plan of a session or transaction statement (`SET`, `RESET`,
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, `DEALLOCATE`) or of `CREATE SCHEMA` and
    /// `DROP` comes here: those statements are commands (`commands::Command`),
    /// run before DataFusion would plan them.
    pub(crate) async fn run_plan<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        stmt: &DfStatement,
        plan: LogicalPlan,
        format: &Format,
        control: &QueryControl,
    ) -> Result<Response> {
        let catalog = &self.state.catalog;
        let plan = match crate::governance::ml_erase_subject::find(&plan) {
            Some(erasure) => super::erasure::run(session, catalog, plan, &erasure, control).await?,
            None => plan,
        };
        if let Some(change) = super::dml::row_change(&plan) {
            return super::dml::run(client, session, change, format, control).await;
        }
        if let Some(declaration) = super::cursor::declaration(&plan) {
            return super::cursor::declare(session, declaration, stmt.to_string(), control).await;
        }
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(cmd)) => {
                let materialized = super::planner::materialized_query(stmt);
                let is_ctas = materialized.is_some()
                    || matches!(stmt, DfStatement::Statement(s) if matches!(s.as_ref(), Statement::CreateTable(c) if c.query.is_some()));
                if let DfStatement::Statement(s) = stmt
                    && let Statement::CreateTable(create) = s.as_ref()
                    && let Some(parameters) = super::planner::storage_parameters(create)
                {
                    crate::server::query::connection::feed(
                        client,
                        crate::server::query::connection::notice(
                            "NOTICE",
                            crate::error::sqlstate::SUCCESSFUL_COMPLETION,
                            format!("storage parameters are ignored: {parameters}"),
                        ),
                    )
                    .await?;
                }
                let input = match crate::compat::colnames::created_names(stmt) {
                    Some(names) => named_columns(cmd.input.as_ref().clone(), &names)?,
                    None => cmd.input.as_ref().clone(),
                };
                let schema = Arc::new(input.schema().as_arrow().clone());
                let constraints = (!cmd.constraints.is_empty()).then(|| cmd.constraints.clone());
                // The sequences of its SERIAL columns come with it.
                let sequences = crate::catalog::sequence::named_by_defaults(
                    cmd.column_defaults.iter().map(|(_, e)| e),
                );
                crate::catalog::sequence::create_missing(
                    catalog.store(),
                    &sequences,
                    &session.default_schema(),
                )?;
                if cmd.temporary {
                    let name = temp_name(&cmd.name)?;
                    let rows = control
                        .run(async {
                            let df = session.ctx.execute_logical_plan(input).await.sql_err()?;
                            let batches = df.collect().await.sql_err()?;
                            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                            let mut table =
                                datafusion::datasource::MemTable::try_new(schema, vec![batches])
                                    .sql_err()?;
                            if let Some(c) = constraints {
                                table = table.with_constraints(c);
                            }
                            let table = table.with_column_defaults(
                                cmd.column_defaults.iter().cloned().collect(),
                            );
                            session.local.create(
                                &name,
                                Arc::new(table),
                                cmd.or_replace,
                                cmd.if_not_exists,
                            )?;
                            session.relations_changed();
                            Ok(rows)
                        })
                        .await?;
                    return Ok(Response::Execution(if is_ctas {
                        Tag::new("SELECT").with_rows(rows)
                    } else {
                        Tag::new("CREATE TABLE")
                    }));
                }
                let name = rel_name(session, &cmd.name)?;
                let checks = session.checks();
                checks.schema(&name.schema, crate::access::Privilege::Create)?;
                if cmd.or_replace {
                    checks.relation_owner(catalog, &session.block, &name)?;
                }
                let rows = control
                    .run(async {
                        let df = session.ctx.execute_logical_plan(input).await.sql_err()?;
                        let stream = df.execute_stream().await.sql_err()?;
                        catalog
                            .create_table(
                                &name,
                                crate::catalog::Columns {
                                    schema,
                                    constraints,
                                    defaults: &cmd.column_defaults,
                                },
                                Some(stream),
                                cmd.if_not_exists,
                                cmd.or_replace,
                                materialized.as_deref(),
                                &session.block,
                            )
                            .await
                    })
                    .await?;
                session.relations_changed();
                Ok(Response::Execution(if is_ctas {
                    Tag::new("SELECT").with_rows(rows as usize)
                } else {
                    Tag::new("CREATE TABLE")
                }))
            }
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(mut cmd)) => {
                let name = rel_name(session, &cmd.name)?;
                let checks = session.checks();
                checks.role(
                    crate::access::READ_SERVER_FILES,
                    "create an external table over files on the server",
                )?;
                checks.schema(&name.schema, crate::access::Privilege::Create)?;
                // Stored whole, so a restart plans the same table.
                if let DfStatement::CreateExternalTable(parsed) = stmt {
                    cmd.definition = Some(crate::catalog::definition::external_table_sql(parsed));
                }
                let state = session.ctx.state();
                control
                    .run(catalog.create_external(&state, &name, &cmd, &session.block))
                    .await?;
                session.relations_changed();
                Ok(Response::Execution(Tag::new("CREATE TABLE")))
            }
            LogicalPlan::Ddl(DdlStatement::CreateView(view)) => {
                let definition = view.definition.clone().unwrap_or_else(|| stmt.to_string());
                if view.temporary {
                    let name = temp_name(&view.name)?;
                    let table = datafusion::datasource::ViewTable::new(
                        view.input.as_ref().clone(),
                        Some(definition),
                    );
                    session
                        .local
                        .create(&name, Arc::new(table), view.or_replace, false)?;
                    session.relations_changed();
                    return Ok(Response::Execution(Tag::new("CREATE VIEW")));
                }
                let name = rel_name(session, &view.name)?;
                let checks = session.checks();
                checks.schema(&name.schema, crate::access::Privilege::Create)?;
                if view.or_replace {
                    checks.relation_owner(catalog, &session.block, &name)?;
                }
                catalog
                    .create_view(
                        &name,
                        view.input.as_ref().clone(),
                        definition,
                        view.or_replace,
                        &session.block,
                    )
                    .await?;
                session.relations_changed();
                Ok(Response::Execution(Tag::new("CREATE VIEW")))
            }
            LogicalPlan::Ddl(DdlStatement::CreateCatalog(_)) => Err(SqlStateError::unsupported(
                "CREATE DATABASE is not supported: Quarry serves one database; use CREATE SCHEMA",
            )),
            LogicalPlan::Ddl(other) => Err(SqlStateError::unsupported(format!(
                "{} is not supported",
                other.name()
            ))),
            LogicalPlan::Dml(dml) => {
                let op = dml.op.clone();
                let (input, target) = (dml.input.clone(), dml.target.schema());
                let table = dml.table_name.to_string();
                // Rows written to a managed table are staged in an open
                // block; any other target commits now.
                let staged = datafusion::datasource::source_as_provider(&dml.target)
                    .is_ok_and(|p| crate::catalog::table::as_managed(&p).is_some());
                let rows = counted(session, LogicalPlan::Dml(dml), control)
                    .await
                    .map_err(|e| not_null_named(e, &input, &target, &table))?;
                if !staged {
                    session.wrote();
                }
                let tag = match op {
                    datafusion::logical_expr::WriteOp::Insert(_) => Tag::new("INSERT").with_oid(0),
                    datafusion::logical_expr::WriteOp::Delete => Tag::new("DELETE"),
                    datafusion::logical_expr::WriteOp::Update => Tag::new("UPDATE"),
                    datafusion::logical_expr::WriteOp::Ctas => Tag::new("SELECT"),
                    _ => Tag::new("MERGE"),
                };
                Ok(Response::Execution(tag.with_rows(rows as usize)))
            }
            LogicalPlan::Copy(copy) => {
                catalog.check_outside_data_dir(&copy.output_url, "COPY TO")?;
                let rows = counted(session, LogicalPlan::Copy(copy), control).await?;
                Ok(Response::Execution(
                    Tag::new("COPY").with_rows(rows as usize),
                ))
            }
            LogicalPlan::Statement(datafusion::logical_expr::Statement::Prepare(p)) => {
                let name = p.name.clone();
                session
                    .ctx
                    .execute_logical_plan(LogicalPlan::Statement(
                        datafusion::logical_expr::Statement::Prepare(p),
                    ))
                    .await
                    .sql_err()?;
                // Statements that EXECUTE it are planned again.
                session.prepared(&name, Arc::new(stmt.clone()));
                Ok(Response::Execution(Tag::new("PREPARE")))
            }
            LogicalPlan::Statement(datafusion::logical_expr::Statement::Deallocate(d)) => {
                let name = d.name.clone();
                session
                    .ctx
                    .execute_logical_plan(LogicalPlan::Statement(
                        datafusion::logical_expr::Statement::Deallocate(d),
                    ))
                    .await
                    .sql_err()?;
                session.deallocated(Some(&name));
                Ok(Response::Execution(Tag::new("DEALLOCATE")))
            }
            // PREPARE/EXECUTE in SQL keep their plans in the context's state.
            plan @ LogicalPlan::Statement(_) => {
                let stream = control
                    .run(async {
                        let df = session.ctx.execute_logical_plan(plan).await.sql_err()?;
                        df.execute_stream().await.sql_err()
                    })
                    .await?;
                respond(client, stream, format, control, None)
            }
            plan => {
                let origins =
                    crate::server::origins::resolve(session, catalog.definitions(), &plan).await;
                let stream = control.run(execute_stream(session, plan)).await?;
                let fields =
                    FieldsCache::named(crate::compat::colnames::names(stmt)).with_origins(origins);
                respond(client, stream, format, control, Some(&fields))
            }
        }
    }
}

/// The name of a temporary relation: unqualified, or in `pg_temp`.
fn temp_name(name: &datafusion::common::TableReference) -> Result<String> {
    match name.schema() {
        None | Some(crate::catalog::local::TEMP_SCHEMA) => Ok(name.table().to_string()),
        Some(_) => Err(SqlStateError::new(
            "42P16",
            "cannot create temporary relation in non-temporary schema",
        )),
    }
}

/// `input` with its columns called `names` (where `Some`): the columns
/// `CREATE TABLE ... AS` makes are named as PostgreSQL names them, and, as
/// there, two may not share a name.
fn named_columns(input: LogicalPlan, names: &[Option<String>]) -> Result<LogicalPlan> {
    let columns = input.schema().columns();
    if columns.len() != names.len() {
        return Ok(input);
    }
    let mut seen = std::collections::HashSet::new();
    let mut exprs = Vec::with_capacity(columns.len());
    for (column, name) in columns.into_iter().zip(names) {
        let name = name.clone().unwrap_or_else(|| column.name.clone());
        if !seen.insert(name.clone()) {
            return Err(SqlStateError::new(
                crate::error::sqlstate::DUPLICATE_COLUMN,
                format!("column \"{name}\" specified more than once"),
            )
            .with_hint("give one of them a name with AS"));
        }
        exprs.push(datafusion::logical_expr::Expr::Column(column).alias(name));
    }
    datafusion::logical_expr::LogicalPlanBuilder::from(input)
        .project(exprs)
        .and_then(|b| b.build())
        .sql_err()
}

/// Streams a physical plan's rows under `control`, holding `checkout`
/// until the stream ends.
pub(super) fn stream<C>(
    client: &C,
    task: Arc<TaskContext>,
    physical: Arc<dyn ExecutionPlan>,
    checkout: reuse::Checkout,
    format: &Format,
    control: &QueryControl,
    fields: &FieldsCache,
) -> Result<Response>
where
    C: ClientInfo,
{
    let stream = datafusion::physical_plan::execute_stream(physical, task).sql_err()?;
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        stream.schema(),
        stream.map(move |batch| {
            let _held = &checkout;
            batch
        }),
    ));
    respond(client, stream, format, control, Some(fields))
}

/// Answers with `batches`, streamed under `control` in `format` and the
/// connection's DateStyle; `fields`, when given, holds the statement's row
/// descriptions.
pub(super) fn respond<C: ClientInfo>(
    client: &C,
    batches: SendableRecordBatchStream,
    format: &Format,
    control: &QueryControl,
    fields: Option<&FieldsCache>,
) -> Result<Response> {
    let response = query_response(
        batches,
        format,
        Some(format_options(client)),
        control.clone(),
        fields,
    )
    .map_err(from_pgwire)?;
    Ok(Response::Query(response))
}

/// Answers with the rows of one batch.
pub(super) fn respond_batch<C: ClientInfo>(
    client: &C,
    batch: RecordBatch,
    format: &Format,
    control: &QueryControl,
    fields: Option<&FieldsCache>,
) -> Result<Response> {
    let schema = batch.schema();
    let batches = MemoryStream::try_new(vec![batch], schema, None).sql_err()?;
    respond(client, Box::pin(batches), format, control, fields)
}

/// Plans `plan` physically and starts it, with the session's reusable state.
pub(super) async fn execute_stream(
    session: &Arc<Session>,
    plan: LogicalPlan,
) -> Result<datafusion::execution::SendableRecordBatchStream> {
    let planner = session.plan_state();
    let physical = planner.create_physical_plan(&plan).await.sql_err()?;
    datafusion::physical_plan::execute_stream(physical, planner.task.clone()).sql_err()
}

/// Runs a plan that writes (DML, COPY) and answers one count column: the
/// rows it wrote.
async fn counted(session: &Arc<Session>, plan: LogicalPlan, control: &QueryControl) -> Result<u64> {
    let df = session.ctx.execute_logical_plan(plan).await.sql_err()?;
    let batches = control.run(async { df.collect().await.sql_err() }).await?;
    Ok(batches
        .iter()
        .filter_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .map(|a| a.values().iter().sum::<u64>())
        })
        .sum())
}

/// A NOT NULL violation of a write, named as PostgreSQL names it: the
/// table's column, not the input's (DataFusion says "Column 'column1'", the
/// name of a VALUES column, or "invalid batch column at '0'"). The input's
/// columns are the table's, in order.
fn not_null_named(
    e: SqlStateError,
    input: &LogicalPlan,
    target: &datafusion::arrow::datatypes::SchemaRef,
    table: &str,
) -> SqlStateError {
    if e.code != sqlstate::NOT_NULL_VIOLATION {
        return e;
    }
    let quoted = |after: &str| {
        let rest = e.message.split(after).nth(1)?;
        rest.split_once('\'').map(|(name, _)| name.to_string())
    };
    // The named column is an output of the input, or (a VALUES list) what
    // one of its outputs reads.
    let by_name = |name: String| {
        input
            .schema()
            .fields()
            .iter()
            .position(|f| *f.name() == name)
            .or_else(|| match input {
                LogicalPlan::Projection(p) => p.expr.iter().position(|e| {
                    matches!(e.clone().unalias(), datafusion::logical_expr::Expr::Column(c) if c.name == name)
                }),
                _ => None,
            })
    };
    let position = quoted("Column '")
        .and_then(by_name)
        .or_else(|| quoted("column at '").and_then(|n| n.parse::<usize>().ok()));
    match position.and_then(|i| target.fields().get(i)) {
        Some(field) => SqlStateError::new(
            sqlstate::NOT_NULL_VIOLATION,
            format!(
                "null value in column \"{}\" of relation \"{table}\" violates not-null constraint",
                field.name()
            ),
        ),
        None => e,
    }
}
