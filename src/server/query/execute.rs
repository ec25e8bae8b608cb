//! Execute: runs one prepared statement, whichever protocol sent it. Model
//! statements and the commands the front end runs itself go their own way;
//! everything else runs from its plan, kept (see `reuse`), made at Parse, or
//! made now.

use std::sync::Arc;

use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use pgwire::api::portal::Format;
use pgwire::api::results::Response;
use pgwire::messages::response::TransactionStatus;

use super::QueryHandler;
use super::commands::Command;
use super::connection::Client;
use super::prepared::{Prepared, Stmt};
use super::run::{respond_batch, stream};
use crate::error::{IntoSqlError, Result, SqlStateError, sqlstate};
use crate::server::reuse::{self, Validity};
use crate::session::{QueryControl, Session};

impl QueryHandler {
    /// Runs one statement. Messages other than the response (ParameterStatus,
    /// notices) are fed to `client` directly.
    ///
    /// Every path but a query with a kept plan awaits a boxed future: an
    /// async fn's state is as large as the largest future it awaits, and
    /// `do_query`'s box is filled with a copy of that whole state on every
    /// statement. Inline, the DDL and planning futures made that copy
    /// ~40% of a `SELECT 1`'s instructions.
    pub(super) async fn execute<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        prepared: &Prepared,
        params: Option<&ParamValues>,
        format: &Format,
        control: &QueryControl,
    ) -> Result<Response> {
        let stmt = match prepared.stmt.as_ref() {
            Stmt::Df(stmt) => stmt,
            Stmt::Model(model) => {
                if client.transaction_status() == TransactionStatus::Error {
                    return Err(aborted());
                }
                session.block.begin_statement(&self.state.catalog);
                return Box::pin(self.model_statement(client, session, model, format, control))
                    .await;
            }
        };
        let command = Command::of(stmt);
        if client.transaction_status() == TransactionStatus::Error
            && !command.is_some_and(|c| c.accepted_in_failed_transaction())
        {
            return Err(aborted());
        }
        if command.as_ref().is_none_or(Command::reads_data) {
            session.block.begin_statement(&self.state.catalog);
        }
        match command {
            Some(command) => {
                let alters_data = command.alters_data();
                let response =
                    Box::pin(self.command(client, session, command, format, control)).await;
                if alters_data {
                    self.state.catalog.store().advance();
                }
                response
            }
            None => {
                let current = prepared
                    .current_plan(session, &self.state.catalog, stmt, control)
                    .await?;
                if let (Some(reuse), Some(plan)) = (&prepared.reuse, &current) {
                    let validity = Validity::now(session, self.state.catalog.store());
                    match reuse.checkout(plan.get(), params, validity).sql_err()? {
                        reuse::Plan::Row(batch) => {
                            let fields = Some(&prepared.derived.fields);
                            return respond_batch(client, batch, format, control, fields);
                        }
                        reuse::Plan::Kept(physical, checkout) => {
                            let task = session.task();
                            return stream(
                                client,
                                task,
                                physical,
                                checkout,
                                format,
                                control,
                                &prepared.derived.fields,
                            );
                        }
                        reuse::Plan::Build(generic, mut checkout) => {
                            let planner = session.plan_state();
                            let physical = Box::pin(control.run(async {
                                planner.create_physical_plan(&generic).await.sql_err()
                            }))
                            .await?;
                            checkout.keep(&physical);
                            let task = planner.task.clone();
                            return stream(
                                client,
                                task,
                                physical,
                                checkout,
                                format,
                                control,
                                &prepared.derived.fields,
                            );
                        }
                        reuse::Plan::Fresh => {}
                    }
                }
                let plan = match current {
                    Some(plan) => plan.cloned(),
                    None => {
                        let planner = session.plan_state();
                        Box::pin(control.run(async {
                            super::planner::statement_to_plan(&planner, stmt)
                                .await
                                .sql_err()
                        }))
                        .await?
                    }
                };
                let plan = match params {
                    Some(p) => plan.with_param_values(p.clone()).sql_err()?,
                    None => plan,
                };
                let writes = matches!(
                    plan,
                    LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_)
                ) || super::dml::row_change(&plan).is_some();
                let response =
                    Box::pin(self.run_plan(client, session, stmt, plan, format, control)).await;
                if writes {
                    // The store advanced when the write committed; advance
                    // again now that the catalog's memory shows it too, so no
                    // plan made in between outlives this statement.
                    self.state.catalog.store().advance();
                }
                response
            }
        }
    }
}

/// What a failed transaction block answers to anything but its end.
fn aborted() -> SqlStateError {
    SqlStateError::new(
        sqlstate::IN_FAILED_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}
