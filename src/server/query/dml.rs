//! `UPDATE`, `DELETE` and `MERGE` of managed tables, with `RETURNING`,
//! `UPDATE ... FROM` and `DELETE ... USING`; and `INSERT ... RETURNING`.
//!
//! DataFusion's planner has no `RETURNING`, `FROM` or `USING` for these and
//! hands a provider only the conjuncts it could read off the plan (a
//! subquery turned into a join would be lost). So the statement is planned
//! here as the query it is: `SELECT <position>, <new values> FROM <table>
//! [, <from>] WHERE <condition>`, over the table seen with a position column
//! (`catalog::rewrite::Positions`). That query carries everything SQL allows
//! in a `WHERE` (joins, subqueries, parameters); its rows say which rows
//! change and to what. The plan is a [`RowChange`] node over that query, so
//! Parse, Describe and Bind treat it as any plan (parameter types, result
//! columns for `RETURNING`), and `run` executes it: the query, then the
//! copy-on-write of the files it touched (`catalog::rewrite::apply`).
//!
//! An `INSERT ... RETURNING` is DataFusion's `INSERT` plan (its casts and
//! defaults) with the returned columns computed over the inserted rows, run
//! by the same node: its rows are written as any insert's.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, DFSchemaRef, ResolvedTableReference};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{
    Expr, ExprSchemable, Extension, LogicalPlan, LogicalPlanBuilder, Projection,
    Statement as PlanStatement, TableScan, TableScanBuilder, UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::prelude::col;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, Delete, Expr as SqlExpr, FromTable, Ident, ObjectName, SelectItem, Statement,
    TableFactor, TableWithJoins, Update, UpdateTableFromKind,
};
use pgwire::api::portal::Format;
use pgwire::api::results::{Response, Tag};

use super::connection::Client;
use super::names::folded;
use super::run::{execute_stream, respond};
use crate::catalog::local::{FrontCatalogs, Pinned};
use crate::catalog::rewrite::{Changes, POSITION, Positions, apply};
use crate::catalog::table::{TableData, as_managed};
use crate::error::{IntoSqlError, Result, SqlStateError, sqlstate};
use crate::session::{QueryControl, Session};

/// `DELETE`, `UPDATE`, `MERGE` or `INSERT ... RETURNING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum ChangeKind {
    Delete,
    Update,
    Merge,
    Insert,
}

impl ChangeKind {
    fn verb(self) -> &'static str {
        match self {
            ChangeKind::Delete => "DELETE",
            ChangeKind::Update => "UPDATE",
            ChangeKind::Merge => "MERGE",
            ChangeKind::Insert => "INSERT",
        }
    }

    /// The command tag before its row count.
    fn tag(self) -> &'static str {
        match self {
            ChangeKind::Insert => "INSERT 0",
            other => other.verb(),
        }
    }

    /// Columns of its query before the table's: the position of a changed
    /// row (none for an insert; and the action for a merge).
    fn offset(self) -> usize {
        match self {
            ChangeKind::Insert => 0,
            ChangeKind::Merge => 2,
            _ => 1,
        }
    }
}

/// The plan of an `UPDATE` or `DELETE` of a managed table: its query
/// (`input`: the position of each changed row, then, for an `UPDATE` or a
/// `RETURNING`, one column per table column, then the `RETURNING` columns).
#[derive(Debug, Clone)]
pub struct RowChange {
    pub kind: ChangeKind,
    table: Positions,
    input: LogicalPlan,
    /// Whether `input` has the table's columns after the position.
    values: bool,
    /// The `RETURNING` columns (none without one).
    schema: DFSchemaRef,
    /// The privileges it takes on its table: its kind's, or for a `MERGE`
    /// those of its clauses' actions.
    needs: Vec<crate::access::Privilege>,
    /// The table's name, for a denial.
    table_name: String,
}

impl RowChange {
    fn data(&self) -> &Arc<TableData> {
        self.table.data()
    }

    /// Whether it answers rows (it has a `RETURNING`).
    pub fn returns_rows(&self) -> bool {
        !self.schema.fields().is_empty()
    }
}

impl PartialEq for RowChange {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.data().id == other.data().id && self.input == other.input
    }
}

impl Eq for RowChange {}

impl Hash for RowChange {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.data().id.hash(state);
        self.input.hash(state);
    }
}

impl PartialOrd for RowChange {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for RowChange {
    fn name(&self) -> &str {
        "RowChange"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} {}", self.kind.verb(), self.data().id)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> DfResult<Self> {
        Ok(RowChange {
            input: inputs.swap_remove(0),
            ..self.clone()
        })
    }
}

/// The row change `plan` is, if it is one.
pub(super) fn row_change(plan: &LogicalPlan) -> Option<&RowChange> {
    match plan {
        LogicalPlan::Extension(ext) => ext.node.as_any().downcast_ref::<RowChange>(),
        _ => None,
    }
}

/// `stmt`'s plan: an `UPDATE`, `DELETE` or `INSERT ... RETURNING` of a
/// managed table planned here, anything else by DataFusion.
pub(super) async fn statement_to_plan(
    state: &SessionState,
    stmt: &DfStatement,
) -> DfResult<LogicalPlan> {
    let DfStatement::Statement(statement) = stmt else {
        return state.statement_to_plan(stmt.clone()).await;
    };
    if let Statement::Merge(merge) = statement.as_ref() {
        return plan_merge(state, merge)
            .await
            .map_err(SqlStateError::into_df);
    }
    if let Some(target) = Target::of(statement) {
        let target = target.map_err(SqlStateError::into_df)?;
        // A temporary table (in memory) changes as DataFusion changes it.
        if target.returning.is_none()
            && target.others.is_empty()
            && is_memory_table(state, target.name).await
        {
            return state.statement_to_plan(stmt.clone()).await;
        }
        return plan(state, target).await.map_err(SqlStateError::into_df);
    }
    if let Statement::Insert(insert) = statement.as_ref() {
        let plain;
        let insert = match &insert.on {
            None => insert,
            Some(on) => {
                plain = without_conflicts(state, insert, on)
                    .await
                    .map_err(SqlStateError::into_df)?;
                &plain
            }
        };
        return match &insert.returning {
            Some(returning) => plan_insert(state, insert, returning)
                .await
                .map_err(SqlStateError::into_df),
            None => {
                state
                    .statement_to_plan(DfStatement::Statement(Box::new(Statement::Insert(
                        insert.clone(),
                    ))))
                    .await
            }
        };
    }
    // `PREPARE p AS UPDATE ...`: the parameters' types as DataFusion reads
    // them, over the plan made here.
    if let Statement::Prepare {
        name,
        data_types,
        statement: inner,
    } = statement.as_ref()
        && (Target::of(inner).is_some() || matches!(inner.as_ref(), Statement::Merge(_)))
    {
        let placeholder = Statement::Prepare {
            name: name.clone(),
            data_types: data_types.clone(),
            statement: Box::new(
                crate::server::rewrite::sql_statement("SELECT 1")
                    .map_err(|e| DataFusionError::Plan(e.to_string()))?,
            ),
        };
        let planned = state
            .statement_to_plan(DfStatement::Statement(Box::new(placeholder)))
            .await?;
        let LogicalPlan::Statement(PlanStatement::Prepare(mut prepare)) = planned else {
            return Err(DataFusionError::Plan(
                "PREPARE planned into something else".into(),
            ));
        };
        let input = match (Target::of(inner), inner.as_ref()) {
            (Some(target), _) => plan(state, target.map_err(SqlStateError::into_df)?).await,
            (None, Statement::Merge(merge)) => plan_merge(state, merge).await,
            (None, _) => unreachable!("checked above"),
        }
        .map_err(SqlStateError::into_df)?;
        if prepare.fields.is_empty() {
            let found = input.get_parameter_fields()?;
            prepare.fields = (1..=found.len())
                .filter_map(|i| found.get(&format!("${i}")).cloned().flatten())
                .collect();
        }
        prepare.input = Arc::new(input);
        return Ok(LogicalPlan::Statement(PlanStatement::Prepare(prepare)));
    }
    state.statement_to_plan(stmt.clone()).await
}

/// What an `UPDATE` or `DELETE` says, read off its syntax.
struct Target<'s> {
    kind: ChangeKind,
    name: &'s ObjectName,
    alias: Option<&'s Ident>,
    relation: &'s TableWithJoins,
    /// `FROM` of an `UPDATE`, `USING` of a `DELETE`.
    others: &'s [TableWithJoins],
    assignments: Vec<(String, &'s SqlExpr)>,
    selection: Option<&'s SqlExpr>,
    returning: Option<&'s [SelectItem]>,
}

impl<'s> Target<'s> {
    /// The change `statement` makes, if it is an `UPDATE` or `DELETE`.
    fn of(statement: &'s Statement) -> Option<Result<Target<'s>>> {
        match statement {
            Statement::Delete(delete) => Some(Target::of_delete(delete)),
            Statement::Update(update) => Some(Target::of_update(update)),
            _ => None,
        }
    }

    fn of_delete(delete: &'s Delete) -> Result<Target<'s>> {
        if !delete.tables.is_empty() || delete.limit.is_some() || !delete.order_by.is_empty() {
            return Err(SqlStateError::new(
                sqlstate::SYNTAX_ERROR,
                "DELETE takes one table, without ORDER BY or LIMIT",
            ));
        }
        let tables = match &delete.from {
            FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
        };
        let [relation] = tables.as_slice() else {
            return Err(SqlStateError::new(
                sqlstate::SYNTAX_ERROR,
                "DELETE takes one table; name others in USING",
            ));
        };
        let (name, alias) = table_of(relation, "DELETE")?;
        Ok(Target {
            kind: ChangeKind::Delete,
            name,
            alias,
            relation,
            others: delete.using.as_deref().unwrap_or_default(),
            assignments: Vec::new(),
            selection: delete.selection.as_ref(),
            returning: delete.returning.as_deref(),
        })
    }

    fn of_update(update: &'s Update) -> Result<Target<'s>> {
        if update.limit.is_some() || !update.order_by.is_empty() || update.or.is_some() {
            return Err(SqlStateError::new(
                sqlstate::SYNTAX_ERROR,
                "UPDATE takes no ORDER BY, LIMIT or OR clause",
            ));
        }
        let (name, alias) = table_of(&update.table, "UPDATE")?;
        let mut assignments = Vec::with_capacity(update.assignments.len());
        for a in &update.assignments {
            let AssignmentTarget::ColumnName(column) = &a.target else {
                return Err(SqlStateError::unsupported(
                    "UPDATE ... SET (a, b) = (...) is not supported; assign each column",
                ));
            };
            let column = last_ident(column);
            if assignments.iter().any(|(c, _)| *c == column) {
                return Err(SqlStateError::new(
                    sqlstate::SYNTAX_ERROR,
                    format!("multiple assignments to same column \"{column}\""),
                ));
            }
            assignments.push((column, &a.value));
        }
        let others = match &update.from {
            Some(UpdateTableFromKind::BeforeSet(t) | UpdateTableFromKind::AfterSet(t)) => {
                t.as_slice()
            }
            None => &[],
        };
        Ok(Target {
            kind: ChangeKind::Update,
            name,
            alias,
            relation: &update.table,
            others,
            assignments,
            selection: update.selection.as_ref(),
            returning: update.returning.as_deref(),
        })
    }

    /// The name the statement's expressions call the table by.
    fn qualifier(&self) -> String {
        match self.alias {
            Some(alias) => quoted(&folded(alias)),
            None => self.name.to_string(),
        }
    }
}

fn table_of<'s>(
    relation: &'s TableWithJoins,
    what: &str,
) -> Result<(&'s ObjectName, Option<&'s Ident>)> {
    match &relation.relation {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } if relation.joins.is_empty() => Ok((name, alias.as_ref().map(|a| &a.name))),
        _ => Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            format!("{what} takes a table name; join other relations in its FROM or USING"),
        )),
    }
}

fn last_ident(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(folded)
        .unwrap_or_default()
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The relation `name` names in the session of `state`, with the name
/// resolved (`None`: nothing has that name).
async fn relation(
    state: &SessionState,
    name: &ObjectName,
) -> Result<(ResolvedTableReference, Option<Arc<dyn TableProvider>>)> {
    let options = state.config_options();
    let resolved = super::names::table_reference(name)?.resolve(
        &options.catalog.default_catalog,
        &options.catalog.default_schema,
    );
    let schema = state
        .catalog_list()
        .catalog(&resolved.catalog)
        .and_then(|c| c.schema(&resolved.schema));
    let provider = match &schema {
        Some(schema) => schema.table(&resolved.table).await.sql_err()?,
        None => None,
    };
    Ok((resolved, provider))
}

/// The managed table `name` names, for a `verb` of its rows: its resolved
/// name and data.
async fn changed_table(
    state: &SessionState,
    name: &ObjectName,
    verb: &str,
) -> Result<(ResolvedTableReference, Arc<TableData>)> {
    let (resolved, provider) = relation(state, name).await?;
    let Some(provider) = provider else {
        return Err(SqlStateError::new(
            sqlstate::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        ));
    };
    let Some(managed) = as_managed(&provider) else {
        return Err(
            if provider.table_type() == datafusion::datasource::TableType::View
                && (provider.as_ref() as &dyn std::any::Any)
                    .is::<datafusion::datasource::ViewTable>()
            {
                SqlStateError::new(
                    sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("cannot {} view \"{}\"", verb.to_lowercase(), resolved.table),
                )
                .with_detail(
                    "Views are not automatically updatable in Quarry; change the tables they read.",
                )
            } else {
                SqlStateError::unsupported(format!(
                    "cannot {} \"{}\": only Quarry's own tables can be changed, not external or system tables",
                    verb.to_lowercase(),
                    resolved.table
                ))
            },
        );
    };
    managed.check_writable(&resolved.table)?;
    Ok((resolved, managed.data().clone()))
}

/// `sql`, the query of a change of table `resolved`, planned with that
/// name meaning `positions`; and the state it was planned with.
async fn plan_over(
    state: &SessionState,
    resolved: &ResolvedTableReference,
    positions: &Positions,
    sql: &str,
    verb: &str,
) -> Result<(LogicalPlan, SessionState)> {
    let query = crate::server::rewrite::sql_statement(sql)
        .map_err(|e| SqlStateError::internal(format!("planning {verb}: {e}")))?;
    let overlay = Arc::new(FrontCatalogs::new(
        state.catalog_list().clone(),
        &resolved.catalog,
        Arc::new(Pinned {
            schema: resolved.schema.to_string(),
            table: resolved.table.to_string(),
            provider: Arc::new(positions.clone()),
        }),
    ));
    let mut planner = state.clone();
    planner.register_catalog_list(overlay);
    let input = planner
        .statement_to_plan(DfStatement::Statement(Box::new(query)))
        .await
        .sql_err()?;
    Ok((input, planner))
}

async fn plan(state: &SessionState, target: Target<'_>) -> Result<LogicalPlan> {
    let verb = target.kind.verb();
    let (resolved, data) = changed_table(state, target.name, verb).await?;
    let positions = Positions::new(data.clone());
    let table_schema = data.schema.clone();
    for (column, _) in &target.assignments {
        if table_schema.field_with_name(column).is_err() {
            return Err(no_column(column, &resolved.table));
        }
    }

    // The query: positions, then the table's columns (new values for an
    // UPDATE, old ones for a DELETE ... RETURNING).
    let qualifier = target.qualifier();
    let values = target.kind == ChangeKind::Update || target.returning.is_some();
    let mut select = vec![format!("{qualifier}.{}", quoted(POSITION))];
    if values {
        for field in table_schema.fields() {
            let value = match target.assignments.iter().find(|(c, _)| c == field.name()) {
                Some((_, expr)) => expr.to_string(),
                None => format!("{qualifier}.{}", quoted(field.name())),
            };
            select.push(format!("{value} AS {}", quoted(field.name())));
        }
    }
    let mut from = vec![target.relation.to_string()];
    from.extend(target.others.iter().map(ToString::to_string));
    let mut sql = format!("SELECT {} FROM {}", select.join(", "), from.join(", "));
    if let Some(selection) = target.selection {
        sql.push_str(&format!(" WHERE {selection}"));
    }
    let (mut input, planner) = plan_over(state, &resolved, &positions, &sql, verb).await?;
    if target.kind == ChangeKind::Update {
        input = typed_values(input, &table_schema, 1)?;
    }
    let mut schema = Arc::new(DFSchema::empty());
    if let Some(returning) = target.returning {
        let alias = match target.alias {
            Some(alias) => folded(alias),
            None => resolved.table.to_string(),
        };
        (input, schema) = with_returning(&planner, input, &alias, returning, &table_schema)?;
    }
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(RowChange {
            kind: target.kind,
            table: positions,
            input,
            values,
            schema,
            needs: vec![match target.kind {
                ChangeKind::Delete => crate::access::Privilege::Delete,
                _ => crate::access::Privilege::Update,
            }],
            table_name: crate::catalog::RelName::new(
                resolved.schema.as_ref(),
                resolved.table.as_ref(),
            )
            .to_string(),
        }),
    }))
}

/// `MERGE INTO target USING source ON condition WHEN ...`: planned as one
/// query over the source left-joined to the target with positions. Each
/// source row's action is the first `WHEN` clause whose kind (`MATCHED`:
/// the join found a target row; `NOT MATCHED`: it did not) and condition
/// hold; the query answers the target row's position, that action
/// (`rewrite::merge_action`), and the row an `UPDATE` or `INSERT` writes.
/// The changes are then written as an `UPDATE`'s are.
async fn plan_merge(
    state: &SessionState,
    merge: &datafusion::sql::sqlparser::ast::Merge,
) -> Result<LogicalPlan> {
    use crate::catalog::rewrite::merge_action;
    use datafusion::sql::sqlparser::ast::{MergeAction, MergeClauseKind, MergeInsertKind, Parens};
    let TableFactor::Table {
        name,
        alias,
        args: None,
        ..
    } = &merge.table
    else {
        return Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            "MERGE INTO takes a table name",
        ));
    };
    if merge.output.is_some() {
        return Err(SqlStateError::unsupported(
            "MERGE ... OUTPUT is not supported",
        ));
    }
    let (resolved, data) = changed_table(state, name, "MERGE").await?;
    let positions = Positions::new(data.clone());
    let fields = data.schema.fields();
    let qualifier = match alias {
        Some(alias) => quoted(&folded(&alias.name)),
        None => name.to_string(),
    };
    let position = format!("{qualifier}.{}", quoted(POSITION));
    let column_index = |column: &str| -> Result<usize> {
        fields
            .iter()
            .position(|f| f.name() == column)
            .ok_or_else(|| no_column(column, &resolved.table))
    };
    // In a WHEN NOT MATCHED clause only the source's columns are visible,
    // so PostgreSQL reads an unqualified name there as the source's (dbt's
    // merge writes `VALUES ("id", "name")`); here both sides are joined.
    let source = source_qualifier(&merge.source);
    let mut clauses: Vec<WhenClause> = Vec::new();
    for clause in &merge.clauses {
        let matched = match clause.clause_kind {
            MergeClauseKind::Matched => true,
            MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget => false,
            MergeClauseKind::NotMatchedBySource => {
                return Err(SqlStateError::unsupported(
                    "WHEN NOT MATCHED BY SOURCE is not supported (PostgreSQL 17's); \
                     DELETE the target rows the source lacks separately",
                ));
            }
        };
        let mut when = format!("{position} IS {}NULL", if matched { "NOT " } else { "" });
        if let Some(predicate) = &clause.predicate {
            let predicate = match (matched, &source) {
                (false, Some(source)) => of_source(predicate, source),
                _ => predicate.clone(),
            };
            when = format!("{when} AND ({predicate})");
        }
        let misplaced = |what: &str| {
            SqlStateError::new(
                sqlstate::SYNTAX_ERROR,
                format!(
                    "{what} is not allowed in a WHEN {} clause",
                    if matched { "MATCHED" } else { "NOT MATCHED" }
                ),
            )
        };
        let (action, row) = match &clause.action {
            MergeAction::Update(update) => {
                if !matched {
                    return Err(misplaced("UPDATE"));
                }
                if update.update_predicate.is_some() || update.delete_predicate.is_some() {
                    return Err(SqlStateError::unsupported(
                        "UPDATE ... WHERE / DELETE WHERE in MERGE is Oracle's; \
                         put the condition after WHEN MATCHED AND",
                    ));
                }
                let mut row: Vec<Option<String>> = fields
                    .iter()
                    .map(|f| Some(format!("{qualifier}.{}", quoted(f.name()))))
                    .collect();
                for assignment in &update.assignments {
                    let AssignmentTarget::ColumnName(column) = &assignment.target else {
                        return Err(SqlStateError::unsupported(
                            "SET (a, b) = (...) in MERGE is not supported; assign each column",
                        ));
                    };
                    row[column_index(&last_ident(column))?] = Some(assignment.value.to_string());
                }
                (merge_action::UPDATE, row)
            }
            MergeAction::Delete { .. } => {
                if !matched {
                    return Err(misplaced("DELETE"));
                }
                (merge_action::DELETE, vec![None; fields.len()])
            }
            MergeAction::Insert(insert) => {
                if matched {
                    return Err(misplaced("INSERT"));
                }
                if insert.insert_predicate.is_some() {
                    return Err(SqlStateError::unsupported(
                        "INSERT ... WHERE in MERGE is Oracle's; put the condition after WHEN NOT MATCHED AND",
                    ));
                }
                let MergeInsertKind::Values(values) = &insert.kind else {
                    return Err(SqlStateError::unsupported(
                        "INSERT ROW in MERGE is BigQuery's; list the VALUES",
                    ));
                };
                let [
                    Parens {
                        content: values, ..
                    },
                ] = values.rows.as_slice()
                else {
                    return Err(SqlStateError::new(
                        sqlstate::SYNTAX_ERROR,
                        "the INSERT of a MERGE takes one row of VALUES",
                    ));
                };
                let columns: Vec<usize> = if insert.columns.is_empty() {
                    (0..values.len().min(fields.len())).collect()
                } else {
                    insert
                        .columns
                        .iter()
                        .map(|c| column_index(&last_ident(c)))
                        .collect::<Result<_>>()?
                };
                if values.len() != columns.len() {
                    return Err(SqlStateError::new(
                        sqlstate::SYNTAX_ERROR,
                        format!(
                            "INSERT has {} expressions than target columns",
                            if values.len() > columns.len() {
                                "more"
                            } else {
                                "fewer"
                            }
                        ),
                    ));
                }
                // A column left out takes its DEFAULT, else NULL.
                let mut row: Vec<Option<String>> = fields
                    .iter()
                    .map(|f| {
                        f.metadata()
                            .get(crate::catalog::table::DEFAULT_KEY)
                            .cloned()
                    })
                    .collect();
                for (&i, value) in columns.iter().zip(values) {
                    let default = matches!(value, SqlExpr::Identifier(id)
                        if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("default"));
                    if !default {
                        let value = match &source {
                            Some(source) => of_source(value, source),
                            None => value.clone(),
                        };
                        row[i] = Some(value.to_string());
                    }
                }
                (merge_action::INSERT, row)
            }
        };
        clauses.push(WhenClause { when, action, row });
    }
    let mut select = vec![
        format!("{position} AS {}", quoted(POSITION)),
        format!(
            "{} AS __quarry_action",
            case_of(
                &clauses,
                |c| Some(c.action.to_string()),
                &merge_action::NOTHING.to_string()
            )
        ),
    ];
    for (i, field) in fields.iter().enumerate() {
        select.push(format!(
            "{} AS {}",
            case_of(&clauses, |c| c.row[i].clone(), "NULL"),
            quoted(field.name())
        ));
    }
    let sql = format!(
        "SELECT {} FROM {} LEFT JOIN {} ON {}",
        select.join(", "),
        merge.source,
        merge.table,
        merge.on
    );
    let (input, _) = plan_over(state, &resolved, &positions, &sql, "MERGE").await?;
    let input = typed_values(input, &data.schema, 2)?;
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(RowChange {
            kind: ChangeKind::Merge,
            table: positions,
            input,
            values: true,
            schema: Arc::new(DFSchema::empty()),
            needs: clauses
                .iter()
                .map(|c| match c.action {
                    merge_action::UPDATE => crate::access::Privilege::Update,
                    merge_action::DELETE => crate::access::Privilege::Delete,
                    _ => crate::access::Privilege::Insert,
                })
                .collect(),
            table_name: crate::catalog::RelName::new(
                resolved.schema.as_ref(),
                resolved.table.as_ref(),
            )
            .to_string(),
        }),
    }))
}

/// The name a `MERGE`'s source is referred to by: its alias, else its
/// table's name; `None` for a source without one.
fn source_qualifier(source: &TableFactor) -> Option<Ident> {
    match source {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            Some(a.name.clone())
        }
        TableFactor::Table { name, .. } => name.0.last()?.as_ident().cloned(),
        _ => None,
    }
}

/// Bare words that are values, not columns (`VALUES (current_timestamp)`).
const SPECIAL_NAMES: &[&str] = &[
    "current_timestamp",
    "current_date",
    "current_time",
    "localtime",
    "localtimestamp",
    "current_user",
    "session_user",
    "user",
    "current_role",
    "current_catalog",
    "current_schema",
];

/// `expr` with each unqualified column name qualified with `source`.
fn of_source(expr: &SqlExpr, source: &Ident) -> SqlExpr {
    use datafusion::sql::sqlparser::ast::{VisitMut, VisitorMut};
    struct Qualify<'a>(&'a Ident);
    impl VisitorMut for Qualify<'_> {
        type Break = ();
        fn pre_visit_query(
            &mut self,
            _query: &mut datafusion::sql::sqlparser::ast::Query,
        ) -> std::ops::ControlFlow<()> {
            // A subquery's names are its own.
            std::ops::ControlFlow::Break(())
        }
        fn post_visit_expr(&mut self, expr: &mut SqlExpr) -> std::ops::ControlFlow<()> {
            if let SqlExpr::Identifier(ident) = expr
                && (ident.quote_style.is_some()
                    || !SPECIAL_NAMES.contains(&ident.value.to_ascii_lowercase().as_str()))
            {
                *expr = SqlExpr::CompoundIdentifier(vec![self.0.clone(), ident.clone()]);
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut qualified = expr.clone();
    if qualified.visit(&mut Qualify(source)).is_break() {
        // A subquery: left as written.
        return expr.clone();
    }
    qualified
}

/// PostgreSQL's error for a column the changed table lacks.
fn no_column(column: &str, table: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::UNDEFINED_COLUMN,
        format!("column \"{column}\" of relation \"{table}\" does not exist"),
    )
}

/// One `WHEN` clause of a `MERGE`, as SQL text.
struct WhenClause {
    /// When it applies to a source row.
    when: String,
    /// What it does (`rewrite::merge_action`).
    action: i64,
    /// The row it writes, by column (`None`: NULL).
    row: Vec<Option<String>>,
}

/// `CASE` over the clauses, in order: `value` of the first that applies.
fn case_of(
    clauses: &[WhenClause],
    value: impl Fn(&WhenClause) -> Option<String>,
    otherwise: &str,
) -> String {
    let mut case = String::from("CASE");
    for clause in clauses {
        let then = value(clause).unwrap_or_else(|| "NULL".to_string());
        case.push_str(&format!(" WHEN {} THEN {then}", clause.when));
    }
    format!("{case} ELSE {otherwise} END")
}

/// `input` (the rows changed, called `alias`) followed by the `RETURNING`
/// columns, and those columns' schema.
fn with_returning(
    planner: &SessionState,
    input: LogicalPlan,
    alias: &str,
    returning: &[SelectItem],
    table_schema: &datafusion::arrow::datatypes::SchemaRef,
) -> Result<(LogicalPlan, DFSchemaRef)> {
    let aliased = LogicalPlanBuilder::from(input)
        .alias(alias)
        .sql_err()?
        .build()
        .sql_err()?;
    // The changed rows pass through under names of their own, so that the
    // returned columns may take any name.
    let mut exprs: Vec<Expr> = aliased
        .schema()
        .columns()
        .into_iter()
        .enumerate()
        .map(|(i, c)| Expr::Column(c).alias(format!("{POSITION}_{i}")))
        .collect();
    let first_returned = exprs.len();
    for item in returning {
        exprs.extend(returned(
            planner,
            item,
            alias,
            aliased.schema(),
            table_schema,
        )?);
    }
    let input = LogicalPlanBuilder::from(aliased)
        .project(exprs)
        .sql_err()?
        .build()
        .sql_err()?;
    let fields: Vec<_> = input.schema().fields()[first_returned..]
        .iter()
        .map(|f| (None, f.clone()))
        .collect();
    let schema = Arc::new(DFSchema::new_with_metadata(fields, Default::default()).sql_err()?);
    Ok((input, schema))
}

/// An `INSERT ... ON CONFLICT` as the plain `INSERT` it is when nothing can
/// conflict. Quarry's tables have no unique indexes, so, as in PostgreSQL
/// on a table without any, `ON CONFLICT DO NOTHING` without a target never
/// fires, and a conflict target names no index (`42P10`). A table that
/// declares a key PostgreSQL would enforce is refused (`0A000`): Quarry
/// does not enforce it, and cannot find the conflicting rows honestly.
async fn without_conflicts(
    state: &SessionState,
    insert: &datafusion::sql::sqlparser::ast::Insert,
    on: &datafusion::sql::sqlparser::ast::OnInsert,
) -> Result<datafusion::sql::sqlparser::ast::Insert> {
    use datafusion::sql::sqlparser::ast::{OnConflict, OnConflictAction, OnInsert, TableObject};
    let keyed = match &insert.table {
        TableObject::TableName(name) => match managed_table(state, name).await? {
            Some((_, provider)) => provider.constraints().is_some_and(|c| !c.is_empty()),
            None => false,
        },
        _ => false,
    };
    if keyed {
        return Err(SqlStateError::unsupported(
            "INSERT ... ON CONFLICT is not supported on a table with a declared key: Quarry does not enforce keys",
        )
        .with_hint("insert into a staging table, then DELETE the keys it has and INSERT its rows"));
    }
    match on {
        OnInsert::OnConflict(OnConflict {
            conflict_target: None,
            action: OnConflictAction::DoNothing,
        }) => {
            let mut plain = insert.clone();
            plain.on = None;
            Ok(plain)
        }
        OnInsert::OnConflict(_) => Err(SqlStateError::new(
            "42P10",
            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
        )),
        OnInsert::DuplicateKeyUpdate(_) => Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            "ON DUPLICATE KEY UPDATE is MySQL's; use UPDATE and INSERT",
        )),
        _ => Err(SqlStateError::unsupported(
            "this INSERT ... ON clause is not supported",
        )),
    }
}

/// Whether `name` names an in-memory table (a session's temporary table).
async fn is_memory_table(state: &SessionState, name: &ObjectName) -> bool {
    matches!(relation(state, name).await, Ok((_, Some(p)))
        if (p.as_ref() as &dyn std::any::Any).is::<datafusion::datasource::MemTable>())
}

/// The managed table `name` names, with its provider; `None` when it
/// names another kind of relation, or nothing.
async fn managed_table(
    state: &SessionState,
    name: &ObjectName,
) -> Result<Option<(Arc<TableData>, Arc<dyn TableProvider>)>> {
    let (_, provider) = relation(state, name).await?;
    Ok(provider.and_then(|p| as_managed(&p).map(|m| (m.data().clone(), p.clone()))))
}

/// `INSERT ... RETURNING` into a managed table: DataFusion's plan of the
/// `INSERT` without it, its rows followed by the returned columns.
async fn plan_insert(
    state: &SessionState,
    insert: &datafusion::sql::sqlparser::ast::Insert,
    returning: &[SelectItem],
) -> Result<LogicalPlan> {
    if insert.overwrite {
        return Err(SqlStateError::unsupported(
            "INSERT OVERWRITE ... RETURNING is not supported",
        ));
    }
    let mut stripped = insert.clone();
    stripped.returning = None;
    // DataFusion refuses an alias; only RETURNING (planned here) reads it.
    stripped.table_alias = None;
    let planned = state
        .statement_to_plan(DfStatement::Statement(Box::new(Statement::Insert(
            stripped,
        ))))
        .await
        .sql_err()?;
    let LogicalPlan::Dml(dml) = planned else {
        return Err(SqlStateError::internal(
            "an INSERT planned into something else",
        ));
    };
    let provider = source_as_provider(&dml.target).sql_err()?;
    let Some(managed) = as_managed(&provider) else {
        return Err(SqlStateError::unsupported(format!(
            "INSERT ... RETURNING into \"{}\" is not supported: only Quarry's own tables",
            dml.table_name
        )));
    };
    let table_schema = managed.data().schema.clone();
    let alias = match &insert.table_alias {
        Some(a) => folded(&a.alias),
        None => dml.table_name.table().to_string(),
    };
    let (input, schema) = with_returning(
        state,
        dml.input.as_ref().clone(),
        &alias,
        returning,
        &table_schema,
    )?;
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(RowChange {
            kind: ChangeKind::Insert,
            table: Positions::new(managed.data().clone()),
            input,
            values: true,
            schema,
            needs: vec![crate::access::Privilege::Insert],
            table_name: dml.table_name.to_string(),
        }),
    }))
}

/// The `UPDATE` (or `MERGE`) query with each new value, after its first
/// `skip` columns, cast to its column's type (and a bare parameter typed
/// as the column), as an `INSERT` casts.
fn typed_values(
    input: LogicalPlan,
    table: &datafusion::arrow::datatypes::SchemaRef,
    skip: usize,
) -> Result<LogicalPlan> {
    let LogicalPlan::Projection(projection) = input else {
        return Err(SqlStateError::internal(
            "an UPDATE's query is not a projection",
        ));
    };
    let input_schema = projection.input.schema().clone();
    let mut exprs = projection.expr;
    for (expr, field) in exprs.iter_mut().skip(skip).zip(table.fields()) {
        let Expr::Alias(alias) = expr else { continue };
        let mut value = (*alias.expr).clone();
        if let Expr::Placeholder(p) = &mut value
            && p.field.is_none()
        {
            p.field = Some(field.clone());
        }
        let value = value.cast_to(field.data_type(), &input_schema).sql_err()?;
        *expr = value.alias(field.name());
    }
    Ok(LogicalPlan::Projection(
        Projection::try_new(exprs, projection.input).sql_err()?,
    ))
}

/// The expressions one `RETURNING` item stands for, over `schema` (the
/// changed rows, called `alias`).
fn returned(
    planner: &SessionState,
    item: &SelectItem,
    alias: &str,
    schema: &DFSchemaRef,
    table: &datafusion::arrow::datatypes::SchemaRef,
) -> Result<Vec<Expr>> {
    let named = |expr: &SqlExpr, name: String| -> Result<Expr> {
        let mut subquery = false;
        let _ = datafusion::sql::sqlparser::ast::visit_expressions(expr, |e| {
            subquery |= matches!(
                e,
                SqlExpr::Subquery(_) | SqlExpr::Exists { .. } | SqlExpr::InSubquery { .. }
            );
            std::ops::ControlFlow::<()>::Continue(())
        });
        if subquery {
            return Err(SqlStateError::unsupported(format!(
                "RETURNING {expr}: a subquery in RETURNING is not supported; \
                 return the changed row's columns and join afterwards"
            )));
        }
        let planned = planner
            .create_logical_expr(&expr.to_string(), schema)
            .sql_err()?;
        Ok(planned.alias(name))
    };
    match item {
        SelectItem::UnnamedExpr(expr) => {
            Ok(vec![named(expr, crate::compat::colnames::expr_name(expr))?])
        }
        SelectItem::ExprWithAlias { expr, alias } => Ok(vec![named(expr, folded(alias))?]),
        SelectItem::ExprWithAliases { .. } => Err(SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            "a RETURNING item takes one alias",
        )),
        SelectItem::Wildcard(_) => Ok(table
            .fields()
            .iter()
            .map(|f| col(datafusion::common::Column::new(Some(alias), f.name())))
            .collect()),
        SelectItem::QualifiedWildcard(kind, _) => {
            let named_alias = kind.to_string();
            if named_alias.trim_matches('"').to_lowercase() != alias.to_lowercase() {
                return Err(SqlStateError::unsupported(format!(
                    "RETURNING {named_alias}.* names another relation; only the changed table's columns can be returned"
                )));
            }
            Ok(table
                .fields()
                .iter()
                .map(|f| col(datafusion::common::Column::new(Some(alias), f.name())))
                .collect())
        }
    }
}

/// Runs a planned [`RowChange`]: its query over the files the session sees
/// now, then the rewrite of the files it touched. Answers the command tag
/// with the rows changed, or the `RETURNING` rows.
pub(super) async fn run<C: Client>(
    client: &mut C,
    session: &Arc<Session>,
    change: &RowChange,
    format: &Format,
    control: &QueryControl,
) -> Result<Response> {
    let (rows, returned) = apply_change(session, change, control).await?;
    let data = change.data().clone();
    if !change.returns_rows() {
        return Ok(Response::Execution(
            Tag::new(change.kind.tag()).with_rows(rows as usize),
        ));
    }
    let skip = change.kind.offset()
        + if change.values {
            data.schema.fields().len()
        } else {
            0
        };
    let schema = Arc::new(change.schema.as_arrow().clone());
    let batches = returned
        .into_iter()
        .map(|b| {
            datafusion::arrow::array::RecordBatch::try_new(
                schema.clone(),
                b.columns()[skip..].to_vec(),
            )
            .map_err(SqlStateError::internal)
        })
        .collect::<Result<Vec<_>>>()?;
    let stream = MemoryStream::try_new(batches, schema, None).sql_err()?;
    let mut response = respond(client, Box::pin(stream), format, control, None)?;
    if let Response::Query(q) = &mut response {
        q.set_command_tag(change.kind.tag());
    }
    Ok(response)
}

/// Runs a planned [`RowChange`] without answering a client: the privilege
/// checks, its query and the rewrite (run again after a lost race outside
/// a block). Returns the rows changed and the query's batches.
pub(super) async fn apply_change(
    session: &Arc<Session>,
    change: &RowChange,
    control: &QueryControl,
) -> Result<(u64, Vec<datafusion::arrow::array::RecordBatch>)> {
    let data = change.data().clone();
    let acl = session.access.acl()?;
    for privilege in &change.needs {
        acl.require(
            &session.current_user(),
            crate::access::Object {
                kind: crate::access::ObjectKind::Relation,
                key: &data.id,
                name: &change.table_name,
            },
            *privilege,
        )?;
    }
    let in_block = session.block.is_open();
    let mut attempt = 0;
    let (rows, returned) = loop {
        attempt += 1;
        match change_once(session, change, control).await {
            // Outside a block the statement is its own transaction: when
            // another write removed a file it rewrote first, it runs again
            // on the newer rows, as PostgreSQL's READ COMMITTED re-reads a
            // row another transaction updated.
            Err(e)
                if !in_block
                    && e.code == sqlstate::SERIALIZATION_FAILURE
                    && attempt < AUTOCOMMIT_ATTEMPTS =>
            {
                tracing::debug!(table = %data.id, attempt, "row change lost a race; running it again");
            }
            other => break other?,
        }
    };
    if !session.block.is_open() {
        session.wrote();
    }
    Ok((rows, returned))
}

/// How long a row change waits for another transaction's change of the
/// same table before it gives up as deadlocked.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// How often a row change outside a transaction block is run again after
/// losing a race to another write of the same files.
const AUTOCOMMIT_ATTEMPTS: usize = 8;

/// One run of a row change: its query over the files the session sees now,
/// then the rewrite of the files it touched. Returns the rows changed and
/// the query's batches (for `RETURNING`).
async fn change_once(
    session: &Arc<Session>,
    change: &RowChange,
    control: &QueryControl,
) -> Result<(u64, Vec<datafusion::arrow::array::RecordBatch>)> {
    let data = change.data().clone();
    if change.kind == ChangeKind::Insert {
        return control
            .run(async {
                let stream = execute_stream(session, change.input.clone()).await?;
                let batches: Vec<_> = futures::TryStreamExt::try_collect(stream).await.sql_err()?;
                let changes = Changes::inserted(&batches, &data.schema)?;
                let rows = changes.rows();
                apply(&data, Arc::from(Vec::new()), changes, &session.block).await?;
                Ok((rows, batches))
            })
            .await;
    }
    // Waits for the table's other row changes, so two never rewrite the
    // same file from one snapshot; a block keeps the lock to its end, as
    // PostgreSQL keeps row locks, so a second block's change waits and then
    // reads what the first committed (READ COMMITTED) instead of failing.
    let _turn = if session.block.holds(&data.id) {
        None
    } else {
        let guard = control.run(data.lock_rewrites(LOCK_PATIENCE)).await?;
        session.block.hold(&data.id, guard)
    };
    let files: Arc<[crate::catalog::store::DataFile]> =
        data.visible_in(Some(&session.block)).files.into();
    let bound = provider_as_source(Arc::new(change.table.bound(files.clone())));
    let input = change
        .input
        .clone()
        .transform_up_with_subqueries(|node| match node {
            LogicalPlan::TableScan(scan)
                if source_as_provider(&scan.source).is_ok_and(|p| {
                    (p.as_ref() as &dyn std::any::Any)
                        .downcast_ref::<Positions>()
                        .is_some_and(|p| p.data().id == data.id)
                }) =>
            {
                let TableScan {
                    table_name,
                    projection,
                    filters,
                    fetch,
                    ..
                } = scan;
                let scan = TableScanBuilder::new(table_name, bound.clone())
                    .with_projection(projection)
                    .with_filters(filters)
                    .with_fetch(fetch)
                    .build()?;
                Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
            }
            other => Ok(Transformed::no(other)),
        })
        .map_err(SqlStateError::internal)?
        .data;
    let values = (change.kind == ChangeKind::Update).then(|| data.schema.clone());
    control
        .run(async {
            let stream = execute_stream(session, input).await?;
            let batches: Vec<_> = futures::TryStreamExt::try_collect(stream).await.sql_err()?;
            let (changes, kept) = match change.kind {
                ChangeKind::Merge => (Changes::merged(&batches, &data.schema)?, Vec::new()),
                _ => Changes::collect(batches, values.as_ref())?,
            };
            let rows = changes.rows();
            apply(&data, files, changes, &session.block).await?;
            Ok((rows, kept))
        })
        .await
}
