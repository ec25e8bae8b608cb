//! Statements to logical plans: DataFusion's planner, with what Quarry
//! plans itself in front of it. Every plan a statement gets is made here.

use datafusion::error::Result as DfResult;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;

use super::dml;

/// `stmt`'s plan. `CREATE TEMP TABLE` is planned as the table it makes
/// (DataFusion refuses the word; `run` keeps it in the session); `DECLARE`
/// as the cursor `cursor` opens; row changes as `dml` plans them;
/// everything else by DataFusion.
pub(super) async fn statement_to_plan(
    state: &SessionState,
    stmt: &DfStatement,
) -> DfResult<LogicalPlan> {
    if let DfStatement::Statement(statement) = stmt
        && let Statement::CreateTable(create) = statement.as_ref()
        && create.temporary
    {
        let mut permanent = create.clone();
        permanent.temporary = false;
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(Statement::CreateTable(
                permanent,
            ))))
            .await?;
        return Ok(match plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(mut cmd)) => {
                cmd.temporary = true;
                LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(cmd))
            }
            other => other,
        });
    }
    if let DfStatement::Statement(statement) = stmt
        && let Some(declared) = super::cursor::plan(state, statement).await
    {
        return declared.map_err(crate::error::SqlStateError::into_df);
    }
    dml::statement_to_plan(state, stmt).await
}
