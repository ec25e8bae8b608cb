//! Reusing the plans of repeated statements.
//!
//! Planning dominates a short statement: of a `SELECT 1` round trip, DataFusion's
//! logical optimizer, physical planner and physical optimizer took about three
//! quarters of the server's time, and a prepared single-row `ml_predict` was
//! planned again at every execution. Two levels keep that work:
//!
//! - a connection's **statement cache** (kept with the connection's state
//!   by the query front end) maps the text of a statement (and the parameter
//!   types its client declared) to the parsed statement and logical plan, so an unnamed statement sent again (psycopg, JDBC, tokio-postgres and
//!   every simple query do this) is neither parsed nor planned again;
//! - a statement's **kept plan**: for a read-only query that only reads managed
//!   and system tables and whose functions are deterministic (or depend only on
//!   the model registry), the optimized physical plan is kept and run again
//!   after [`reset_plan_states`]. Parameters that appear only in the select
//!   list become `__quarry_param_<n>()` calls that read the values bound for
//!   the running execution; a query with a parameter anywhere else (a filter,
//!   a limit) is planned per execution with its values, so row-group pruning
//!   still sees them. A kept SELECT without FROM is not run as a plan at
//!   all: its select list is evaluated on the one row (`OneRow`).
//!
//! Both are valid for one [`Validity`]: a `SET` changes the session generation,
//! and every write to the catalog, a table, the model registry or a snapshot
//! advances the store's epoch (`Store::epoch`). Physical operators that carry
//! state between executions (joins and top-k sorts with dynamic filters,
//! aggregates with min/max dynamic filters) are never kept.
//!
//! [`reset_plan_states`]: datafusion::physical_plan::execution_plan::reset_plan_states

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, NullArray, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::expr::{ScalarFunction, WindowFunctionDefinition};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

use crate::catalog::live::LiveTable;
use crate::catalog::store::Store;
use crate::catalog::table::ManagedTable;
use crate::registry::system_tables::SystemTable;
use crate::session::Session;
use crate::sync::lock;

/// The session generation and store epoch a plan was made in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub session: u64,
    pub epoch: u64,
}

impl Validity {
    /// The validity of plans made now in `session`.
    pub fn now(session: &Session, store: &Store) -> Validity {
        Validity {
            session: session.generation(),
            epoch: store.epoch(),
        }
    }
}

/// Whether `plan` may be kept, and the types of its parameters (`$1, $2, ...`)
/// if it may.
pub fn assess(plan: &LogicalPlan) -> Option<Vec<DataType>> {
    if !matches!(
        plan,
        LogicalPlan::Projection(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::Aggregate(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::Distinct(_)
            | LogicalPlan::Union(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Values(_)
            | LogicalPlan::EmptyRelation(_)
            | LogicalPlan::TableScan(_)
            | LogicalPlan::Join(_)
    ) {
        return None;
    }
    let mut keep = true;
    let walked = plan.apply_with_subqueries(|node| {
        keep &= match node {
            LogicalPlan::TableScan(scan) => source_as_provider(&scan.source)
                .map(|p| p.is::<ManagedTable>() || p.is::<LiveTable<SystemTable>>())
                .unwrap_or(false),
            LogicalPlan::Extension(_)
            | LogicalPlan::RecursiveQuery(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::DescribeTable(_) => false,
            _ => true,
        };
        if !keep {
            return Ok(TreeNodeRecursion::Stop);
        }
        let in_select_list = matches!(node, LogicalPlan::Projection(_));
        node.apply_expressions(|e| {
            e.apply(|e| {
                keep &= match e {
                    Expr::Placeholder(_) => in_select_list,
                    Expr::ScalarFunction(f) => deterministic(&f.func),
                    Expr::AggregateFunction(f) => {
                        f.func.signature().volatility == Volatility::Immutable
                    }
                    Expr::WindowFunction(w) => match &w.fun {
                        WindowFunctionDefinition::AggregateUDF(f) => {
                            f.signature().volatility == Volatility::Immutable
                        }
                        WindowFunctionDefinition::WindowUDF(f) => {
                            f.signature().volatility == Volatility::Immutable
                        }
                    },
                    _ => true,
                };
                Ok(if keep {
                    TreeNodeRecursion::Continue
                } else {
                    TreeNodeRecursion::Stop
                })
            })
        })
    });
    if walked.is_err() || !keep {
        return None;
    }
    let types = super::params::inferred(plan).ok()?;
    Some(
        types
            .into_iter()
            .map(|(_, t)| t.unwrap_or(DataType::Utf8))
            .collect(),
    )
}

/// Immutable, or stable only through the model registry, whose changes
/// advance the store's epoch.
fn deterministic(f: &ScalarUDF) -> bool {
    match f.signature().volatility {
        Volatility::Immutable => true,
        Volatility::Stable => quarry_udfs::functions::REGISTRY_BOUND.contains(&f.name()),
        Volatility::Volatile => false,
    }
}

/// Whether every operator of a physical plan can run again after
/// [`reset_plan_states`]: operators known to keep no state between
/// executions, none producing a dynamic filter (top-k sorts, min/max
/// aggregates), no joins.
fn rerunnable(plan: &dyn ExecutionPlan) -> bool {
    let known = matches!(
        plan.name(),
        "ProjectionExec"
            | "FilterExec"
            | "CoalesceBatchesExec"
            | "CoalescePartitionsExec"
            | "RepartitionExec"
            | "PlaceholderRowExec"
            | "EmptyExec"
            | "GlobalLimitExec"
            | "LocalLimitExec"
            | "UnionExec"
            | "SortPreservingMergeExec"
            | "DataSourceExec"
            | "CooperativeExec"
            | "BoundedWindowAggExec"
            | "WindowAggExec"
            | "SortExec"
            | "AggregateExec"
    );
    known
        && plan.dynamic_expressions_produced().is_empty()
        && plan.children().iter().all(|c| rerunnable(c.as_ref()))
}

/// The values bound for the execution that holds a kept plan.
#[derive(Debug, Default)]
pub struct Bound(Mutex<Vec<ScalarValue>>);

/// `__quarry_param_<n>()`: the value bound to `$n` for the running execution.
#[derive(Debug)]
struct Param {
    name: String,
    index: usize,
    data_type: DataType,
    bound: Arc<Bound>,
    signature: Signature,
}

impl PartialEq for Param {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index && Arc::ptr_eq(&self.bound, &other.bound)
    }
}

impl Eq for Param {}

impl Hash for Param {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.index.hash(state);
        Arc::as_ptr(&self.bound).hash(state);
    }
}

impl ScalarUDFImpl for Param {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(self.data_type.clone())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let value = lock(&self.bound.0).get(self.index).cloned();
        match value {
            Some(v) => Ok(ColumnarValue::Scalar(v)),
            None => datafusion::common::internal_err!("parameter ${} is not bound", self.index + 1),
        }
    }
}

/// `plan` with each `$n` replaced by a call reading `bound`, names kept.
fn generic(plan: LogicalPlan, types: &[DataType], bound: &Arc<Bound>) -> DfResult<LogicalPlan> {
    if types.is_empty() {
        return Ok(plan);
    }
    let calls: HashMap<String, Expr> = types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let udf = ScalarUDF::new_from_impl(Param {
                name: format!("__quarry_param_{}", i + 1),
                index: i,
                data_type: t.clone(),
                bound: bound.clone(),
                // Volatile: the optimizer folds stable functions into
                // constants at plan time.
                signature: Signature::nullary(Volatility::Volatile),
            });
            (
                format!("${}", i + 1),
                Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(udf), vec![])),
            )
        })
        .collect();
    plan.transform_up_with_subqueries(|node| {
        let names = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let name = names.save(&e);
            let replaced = e.transform_up(|e| match e {
                Expr::Placeholder(p) => match calls.get(&p.id) {
                    Some(call) => Ok(Transformed::yes(call.clone())),
                    None => Ok(Transformed::no(Expr::Placeholder(p))),
                },
                other => Ok(Transformed::no(other)),
            })?;
            Ok(if replaced.transformed {
                replaced.update_data(|e| name.restore(e))
            } else {
                replaced
            })
        })?
        .map_data(|p| p.recompute_schema())
    })
    .map(|t| t.data)
}

/// Casts bound values to the types the kept plan was made for.
fn conform(values: &ParamValues, types: &[DataType]) -> Option<Vec<ScalarValue>> {
    let ParamValues::List(list) = values else {
        return None;
    };
    if list.len() != types.len() {
        return None;
    }
    list.iter()
        .zip(types)
        .map(|(v, t)| {
            // A value with extension metadata needs the literal path.
            if v.metadata().is_some_and(|m| !m.is_empty()) {
                return None;
            }
            let s = v.value();
            if s.data_type() == *t {
                Some(s.clone())
            } else if s.is_null() {
                ScalarValue::try_from(t).ok()
            } else {
                s.cast_to(t).ok()
            }
        })
        .collect()
}

enum Slot {
    Empty,
    Kept(Kept),
    /// Checked out by a running execution.
    Busy,
    /// The physical plan has operators that cannot run twice.
    Never,
}

struct Kept {
    validity: Validity,
    plan: Arc<dyn ExecutionPlan>,
    row: Option<Arc<OneRow>>,
    bound: Arc<Bound>,
}

/// The kept plan of a SELECT without FROM: a projection over the one empty
/// row of a `PlaceholderRowExec`. Its expressions are evaluated on that row
/// directly, literals once. Running the plan again re-created both operators,
/// registered their metrics (formatting a name for every expression) and
/// timed each poll: about a fifth of the server's CPU for a `SELECT 1` round
/// trip, more than evaluating the expressions. Parameters and the model
/// functions of a single-row `ml_predict(...)` are evaluated at each
/// execution, as they were in the plan.
struct OneRow {
    input: RecordBatch,
    columns: Vec<Column>,
    schema: SchemaRef,
    /// The row itself when every column is a literal.
    constant: Option<RecordBatch>,
}

enum Column {
    Literal(ArrayRef),
    Evaluated(Arc<dyn PhysicalExpr>),
}

impl OneRow {
    fn of(plan: &Arc<dyn ExecutionPlan>) -> Option<OneRow> {
        let projection = plan.downcast_ref::<ProjectionExec>()?;
        let input = projection.input();
        input.downcast_ref::<PlaceholderRowExec>()?;
        if input.output_partitioning().partition_count() != 1
            || plan.output_partitioning().partition_count() != 1
        {
            return None;
        }
        // The row PlaceholderRowExec produces: a null per column, if any.
        let input_schema = input.schema();
        let nulls = input_schema
            .fields()
            .iter()
            .map(|_| Arc::new(NullArray::new(1)) as ArrayRef)
            .collect();
        let input = RecordBatch::try_new_with_options(
            input_schema,
            nulls,
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )
        .ok()?;
        let columns = projection
            .expr()
            .iter()
            .map(|p| match p.expr.downcast_ref::<Literal>() {
                Some(literal) => literal
                    .value()
                    .to_array_of_size(1)
                    .ok()
                    .map(Column::Literal),
                None => Some(Column::Evaluated(p.expr.clone())),
            })
            .collect::<Option<Vec<_>>>()?;
        let mut row = OneRow {
            input,
            columns,
            schema: projection.schema(),
            constant: None,
        };
        if row.columns.iter().all(|c| matches!(c, Column::Literal(_))) {
            row.constant = Some(row.evaluate().ok()?);
        }
        Some(row)
    }

    fn evaluate(&self) -> DfResult<RecordBatch> {
        if let Some(batch) = &self.constant {
            return Ok(batch.clone());
        }
        let columns = self
            .columns
            .iter()
            .map(|c| match c {
                Column::Literal(array) => Ok(array.clone()),
                Column::Evaluated(e) => e.evaluate(&self.input)?.into_array(1),
            })
            .collect::<DfResult<Vec<_>>>()?;
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )?)
    }
}

/// What a statement keeps of its plan between executions.
pub struct Reuse {
    types: Vec<DataType>,
    slot: Mutex<Slot>,
}

impl std::fmt::Debug for Reuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reuse").field("types", &self.types).finish()
    }
}

/// A statement's plan checked out for one execution. Dropping it (when the
/// result stream ends or is dropped) hands the plan, if there is one, to the
/// next execution.
pub struct Checkout {
    home: Arc<Reuse>,
    validity: Validity,
    bound: Arc<Bound>,
    plan: Option<Arc<dyn ExecutionPlan>>,
    row: Option<Arc<OneRow>>,
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let mut slot = lock(&self.home.slot);
        if matches!(*slot, Slot::Busy) {
            *slot = match self.plan.take() {
                Some(plan) => Slot::Kept(Kept {
                    validity: self.validity,
                    plan,
                    row: self.row.take(),
                    bound: self.bound.clone(),
                }),
                None => Slot::Empty,
            };
        }
    }
}

impl Checkout {
    /// Keeps `plan`, planned from [`Plan::Build`]'s logical plan, for the next
    /// executions if it can run again.
    pub fn keep(&mut self, plan: &Arc<dyn ExecutionPlan>) {
        if rerunnable(plan.as_ref()) {
            self.plan = Some(plan.clone());
            self.row = OneRow::of(plan).map(Arc::new);
        } else {
            *lock(&self.home.slot) = Slot::Never;
        }
    }
}

/// How to get the physical plan of one execution.
pub enum Plan {
    /// A kept plan, ready to run; the checkout must live as long as it runs.
    Kept(Arc<dyn ExecutionPlan>, Checkout),
    /// The result of a kept SELECT without FROM, evaluated.
    Row(RecordBatch),
    /// Plan this logical plan, offer the result to [`Checkout::keep`], and
    /// keep the checkout as long as it runs.
    Build(LogicalPlan, Checkout),
    /// Plan as usual.
    Fresh,
}

impl Reuse {
    pub fn new(types: Vec<DataType>) -> Arc<Self> {
        Arc::new(Reuse {
            types,
            slot: Mutex::new(Slot::Empty),
        })
    }

    /// The plan for an execution with `values` bound, valid at `validity`.
    pub fn checkout(
        self: &Arc<Self>,
        logical: &LogicalPlan,
        values: Option<&ParamValues>,
        validity: Validity,
    ) -> DfResult<Plan> {
        let bound_values = match values {
            Some(v) => match conform(v, &self.types) {
                Some(b) => b,
                None => return Ok(Plan::Fresh),
            },
            None if self.types.is_empty() => vec![],
            None => return Ok(Plan::Fresh),
        };
        let previous = {
            let mut slot = lock(&self.slot);
            match std::mem::replace(&mut *slot, Slot::Busy) {
                Slot::Kept(k) => Some(k),
                Slot::Empty => None,
                // Another execution of this statement is still running (a
                // portal fetched in parts), or the plan cannot be kept.
                other @ (Slot::Busy | Slot::Never) => {
                    *slot = other;
                    return Ok(Plan::Fresh);
                }
            }
        };
        if let Some(kept) = previous.filter(|k| k.validity == validity) {
            *lock(&kept.bound.0) = bound_values;
            if let Some(row) = &kept.row {
                let result = row.evaluate();
                // Hands the plan back before any error is returned.
                drop(Checkout {
                    home: self.clone(),
                    validity,
                    bound: kept.bound.clone(),
                    row: kept.row.clone(),
                    plan: Some(kept.plan),
                });
                return result.map(Plan::Row);
            }
            let run =
                datafusion::physical_plan::execution_plan::reset_plan_states(kept.plan.clone());
            let checkout = Checkout {
                home: self.clone(),
                validity,
                bound: kept.bound,
                plan: Some(kept.plan),
                row: None,
            };
            return Ok(Plan::Kept(run?, checkout));
        }
        let bound = Arc::new(Bound(Mutex::new(bound_values)));
        let checkout = Checkout {
            home: self.clone(),
            validity,
            bound: bound.clone(),
            plan: None,
            row: None,
        };
        let logical = generic(logical.clone(), &self.types, &bound)?;
        Ok(Plan::Build(logical, checkout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::SessionContext;

    /// `OneRow` answers what running the plan answers, for literal and
    /// evaluated columns, and only for a projection over the one row.
    #[tokio::test]
    async fn one_row_matches_running_the_plan() {
        let ctx = SessionContext::new();
        for sql in [
            "SELECT 1",
            "SELECT 1 AS a, 'x' || 'y' AS b, NULL AS c, 2.5 * 4 AS d",
            "SELECT CAST(NULL AS INT) AS n, [1, 2, 3] AS l, abs(-3) AS a",
            "SELECT to_hex(255) AS h, DATE '2024-03-05' + 1 AS d, NOT true AS b",
        ] {
            let df = ctx.sql(sql).await.expect("plans");
            let plan = df.create_physical_plan().await.expect("physical");
            let row = OneRow::of(&plan).unwrap_or_else(|| panic!("no OneRow for {sql}"));
            let task = ctx.task_ctx();
            let ran = datafusion::physical_plan::collect(plan, task)
                .await
                .expect("runs");
            let evaluated = row.evaluate().expect("evaluates");
            assert_eq!(evaluated.schema(), ran[0].schema(), "{sql}");
            assert_eq!(
                pretty_format_batches(&[evaluated])
                    .expect("formats")
                    .to_string(),
                pretty_format_batches(&ran).expect("formats").to_string(),
                "{sql}"
            );
        }
        for sql in [
            "SELECT 1 FROM (VALUES (1), (2)) AS t(a)",
            "SELECT * FROM (VALUES (1)) AS t(a)",
        ] {
            let plan = ctx
                .sql(sql)
                .await
                .expect("plans")
                .create_physical_plan()
                .await
                .expect("physical");
            assert!(OneRow::of(&plan).is_none(), "{sql}");
        }
    }
}
