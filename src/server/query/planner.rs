//! Statements to logical plans: DataFusion's planner, with what Quarry
//! plans itself in front of it. Every plan a statement gets is made here.

use datafusion::error::Result as DfResult;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    ColumnDef, ColumnOption, ColumnOptionDef, CreateTable, DataType, OnCommit, SetExpr, Statement,
};

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
        && !create.temporary
        && (create.on_commit.is_some() || create.global.is_some())
    {
        return Err(crate::error::SqlStateError::new(
            "42P16",
            "LOCAL, GLOBAL and ON COMMIT can only be used on temporary tables",
        )
        .into_df());
    }
    if let DfStatement::Statement(statement) = stmt
        && let Statement::CreateTable(create) = statement.as_ref()
        && let Some(commit) = &create.on_commit
        && !matches!(commit, OnCommit::PreserveRows)
    {
        let clause = match commit {
            OnCommit::DeleteRows => "ON COMMIT DELETE ROWS",
            _ => "ON COMMIT DROP",
        };
        return Err(crate::error::SqlStateError::unsupported(format!(
            "{clause}: a temporary table keeps its rows to the end of the session"
        ))
        .into_df());
    }
    if let DfStatement::Statement(statement) = stmt
        && let Statement::CreateTable(create) = statement.as_ref()
        && (create.temporary
            || create.global.is_some()
            || create.on_commit.is_some()
            || has_serials(create)
            || storage_parameters(create).is_some()
            || !nullable_keys(create).is_empty())
    {
        let mut permanent = create.clone();
        permanent.temporary = false;
        // `LOCAL` (and PostgreSQL's deprecated `GLOBAL`) is noise, and `ON
        // COMMIT PRESERVE ROWS` what a temporary table does anyway (Tableau
        // writes both).
        permanent.global = None;
        permanent.on_commit = None;
        serials_as_defaults(&mut permanent);
        keys_not_null(&mut permanent);
        // Storage parameters (`WITH (fillfactor = 100)`, as pgbench and
        // ORMs write them) tune PostgreSQL's heap; `run` says they are
        // ignored.
        if storage_parameters(create).is_some() {
            permanent.table_options = datafusion::sql::sqlparser::ast::CreateTableOptions::None;
        }
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(Statement::CreateTable(
                permanent,
            ))))
            .await?;
        return Ok(match plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(mut cmd)) => {
                cmd.temporary = create.temporary;
                LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(cmd))
            }
            other => other,
        });
    }
    // `SELECT ... INTO TEMPORARY TABLE t` makes a temporary table (DataFusion
    // plans a permanent one; Tableau probes with this).
    if let DfStatement::Statement(statement) = stmt
        && let Statement::Query(query) = statement.as_ref()
        && let SetExpr::Select(select) = query.body.as_ref()
        && select.into.as_ref().is_some_and(|into| into.temporary)
    {
        let plan = state.statement_to_plan(stmt.clone()).await?;
        return Ok(match plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(mut cmd)) => {
                cmd.temporary = true;
                LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(cmd))
            }
            other => other,
        });
    }
    if let DfStatement::Statement(statement) = stmt
        && let Statement::CreateView(view) = statement.as_ref()
        && view.materialized
    {
        return materialized(state, view)
            .await
            .map_err(crate::error::SqlStateError::into_df);
    }
    if let DfStatement::Statement(statement) = stmt
        && let Some(declared) = super::cursor::plan(state, statement).await
    {
        return declared.map_err(crate::error::SqlStateError::into_df);
    }
    dml::statement_to_plan(state, stmt).await
}

/// `CREATE MATERIALIZED VIEW name AS query`, planned as the `CREATE TABLE
/// name AS query` it starts as; `run` keeps the query with the table, for
/// `REFRESH MATERIALIZED VIEW`.
async fn materialized(
    state: &SessionState,
    view: &datafusion::sql::sqlparser::ast::CreateView,
) -> crate::error::Result<LogicalPlan> {
    use crate::error::{IntoSqlError, SqlStateError, sqlstate};
    if view.or_replace || view.temporary {
        return Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            "a materialized view cannot be OR REPLACE or TEMPORARY",
        ));
    }
    if !view.columns.is_empty() {
        return Err(SqlStateError::unsupported(
            "a column list on CREATE MATERIALIZED VIEW is not supported; alias the query's columns",
        ));
    }
    let sql = format!(
        "CREATE TABLE {}{} AS {}",
        if view.if_not_exists {
            "IF NOT EXISTS "
        } else {
            ""
        },
        view.name,
        view.query
    );
    let ctas = crate::server::rewrite::sql_statement(&sql)
        .map_err(|e| SqlStateError::internal(format!("planning a materialized view: {e}")))?;
    state
        .statement_to_plan(DfStatement::Statement(Box::new(ctas)))
        .await
        .sql_err()
}

/// The query of a `CREATE MATERIALIZED VIEW`, if `stmt` is one.
pub(super) fn materialized_query(stmt: &DfStatement) -> Option<String> {
    match stmt {
        DfStatement::Statement(s) => match s.as_ref() {
            Statement::CreateView(view) if view.materialized => Some(view.query.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// The integer type a `SERIAL`-like column type stands for, if it is one.
fn serial_type(column: &ColumnDef) -> Option<DataType> {
    let DataType::Custom(name, modifiers) = &column.data_type else {
        return None;
    };
    if !modifiers.is_empty() {
        return None;
    }
    match name.to_string().to_ascii_lowercase().as_str() {
        "serial" | "serial4" => Some(DataType::Int(None)),
        "bigserial" | "serial8" => Some(DataType::BigInt(None)),
        "smallserial" | "serial2" => Some(DataType::SmallInt(None)),
        _ => None,
    }
}

fn is_identity(option: &ColumnOption) -> bool {
    matches!(
        option,
        ColumnOption::Generated {
            generation_expr: None,
            ..
        } | ColumnOption::Identity(_)
    )
}

fn has_serials(create: &CreateTable) -> bool {
    create
        .columns
        .iter()
        .any(|c| serial_type(c).is_some() || c.options.iter().any(|o| is_identity(&o.option)))
}

/// `id SERIAL` (and `BIGSERIAL`, `SMALLSERIAL`, `GENERATED ... AS
/// IDENTITY`) as PostgreSQL defines it: an integer column, NOT NULL, with
/// `DEFAULT nextval('<table>_<column>_seq')`; `run` creates the sequence
/// with the table.
fn serials_as_defaults(create: &mut CreateTable) {
    let table = create
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(super::names::folded)
        .unwrap_or_default();
    for column in &mut create.columns {
        let serial = serial_type(column);
        let identity = column.options.iter().any(|o| is_identity(&o.option));
        if serial.is_none() && !identity {
            continue;
        }
        if let Some(integer) = serial {
            column.data_type = integer;
        }
        column.options.retain(|o| !is_identity(&o.option));
        let name = super::names::folded(&column.name);
        let sequence = crate::catalog::sequence::serial_sequence(&table, &name);
        let default = crate::server::rewrite::sql_expr(&format!(
            "nextval('{}')",
            sequence.replace('\'', "''")
        ));
        if let Ok(default) = default {
            column.options.push(ColumnOptionDef {
                name: None,
                option: ColumnOption::Default(default),
            });
        }
        if !column
            .options
            .iter()
            .any(|o| matches!(o.option, ColumnOption::NotNull))
        {
            column.options.push(ColumnOptionDef {
                name: None,
                option: ColumnOption::NotNull,
            });
        }
    }
}

/// The columns of `create`'s primary key not declared `NOT NULL`, by
/// position. PostgreSQL makes a key's columns `NOT NULL`; DataFusion keeps
/// them nullable.
fn nullable_keys(create: &CreateTable) -> Vec<usize> {
    use datafusion::sql::sqlparser::ast::{Expr, TableConstraint};
    let mut named: Vec<String> = Vec::new();
    for constraint in &create.constraints {
        if let TableConstraint::PrimaryKey(key) = constraint {
            for column in &key.columns {
                if let Expr::Identifier(ident) = &column.column.expr {
                    named.push(super::names::folded(ident));
                }
            }
        }
    }
    create
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            let keyed = c
                .options
                .iter()
                .any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)))
                || named.contains(&super::names::folded(&c.name));
            keyed
                && !c
                    .options
                    .iter()
                    .any(|o| matches!(o.option, ColumnOption::NotNull))
        })
        .map(|(i, _)| i)
        .collect()
}

/// `create` with its primary key's columns `NOT NULL`, as PostgreSQL makes
/// them (a NULL key is refused with `23502`, and catalogs say so).
fn keys_not_null(create: &mut CreateTable) {
    for i in nullable_keys(create) {
        create.columns[i].options.push(ColumnOptionDef {
            name: None,
            option: ColumnOption::NotNull,
        });
    }
}

/// The storage parameters of a `CREATE TABLE ... WITH (...)`, as text.
pub(super) fn storage_parameters(create: &CreateTable) -> Option<String> {
    match &create.table_options {
        datafusion::sql::sqlparser::ast::CreateTableOptions::With(options)
            if !options.is_empty() =>
        {
            Some(
                options
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        }
        _ => None,
    }
}
