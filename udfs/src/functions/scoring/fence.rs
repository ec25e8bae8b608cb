//! Scoring stays above the relation it scores: a physical plan rule that
//! puts a [`ScoringFence`] under every projection calling a model.
//!
//! DataFusion's physical `ProjectionPushdown` moves any projection that
//! narrows its input below a sort, a filter or into the scan, judging it by
//! its width, not its cost. For `ml_explain(m, (SELECT … ORDER BY … LIMIT 1))`
//! that explained every row of the table and kept one (52 s in a debug
//! build for one row of a 50-tree forest), and
//! `SELECT ml_predict(…) FROM t ORDER BY x LIMIT 10` scored every row. The
//! fence refuses to swap with a projection, so the relation's filters, sort
//! and limit run first; `EXPLAIN` shows it as `ScoringFence`.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
};

/// Whether `expr` calls a model.
fn scores(expr: &Arc<dyn PhysicalExpr>) -> bool {
    expr.exists(|e| {
        Ok(e.downcast_ref::<ScalarFunctionExpr>()
            .is_some_and(|f| super::MODEL_SCALARS.contains(&f.name())))
    })
    .unwrap_or(false)
}

/// Puts a [`ScoringFence`] under each projection that scores. Runs first,
/// before any rule moves projections.
#[derive(Debug, Default)]
pub struct FenceScoring;

impl PhysicalOptimizerRule for FenceScoring {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(projection) = node.downcast_ref::<ProjectionExec>() else {
                return Ok(Transformed::no(node));
            };
            let input = projection.input();
            if input.is::<ScoringFence>() || !projection.expr().iter().any(|e| scores(&e.expr)) {
                return Ok(Transformed::no(node));
            }
            let fenced: Arc<dyn ExecutionPlan> = Arc::new(ScoringFence::new(input.clone()));
            #[expect(deprecated)]
            let node = node.with_new_children(vec![fenced])?;
            Ok(Transformed::yes(node))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fence_scoring"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Passes its input through unchanged; a projection cannot move below it.
#[derive(Debug)]
pub struct ScoringFence {
    input: Arc<dyn ExecutionPlan>,
}

impl ScoringFence {
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        ScoringFence { input }
    }
}

impl DisplayAs for ScoringFence {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ScoringFence")
    }
}

impl ExecutionPlan for ScoringFence {
    fn name(&self) -> &str {
        "ScoringFence"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(ScoringFence::new(input))),
            _ => Err(crate::error::SqlStateError::internal("ScoringFence has one input").into_df()),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}
