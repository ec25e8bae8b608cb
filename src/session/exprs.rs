//! What the analyzer rules of `checked` and `unknown` share: rewriting the
//! expressions of one plan node, typed against the node's input.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};

/// Rewrites each expression of `plan` bottom-up with `rewrite`, which types
/// sub-expressions against the node's input schema (its inputs' joined, or
/// its own for leaves: a scan's filters, VALUES); names are kept, so result
/// columns are called what they were. A node with no `candidate`
/// expression is returned after one walk, without its names saved or its
/// schema looked up (nearly every catalog query, `SELECT 1`).
pub(super) fn rewrite_node(
    plan: LogicalPlan,
    candidate: impl Fn(&Expr) -> bool,
    rewrite: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    let mut any = false;
    plan.apply_expressions(|e| {
        any = candidate(e);
        Ok(if any {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    if !any {
        return Ok(Transformed::no(plan));
    }
    let inputs = plan.inputs();
    let schema: Arc<DFSchema> = match inputs.as_slice() {
        [] => plan.schema().clone(),
        [one] => one.schema().clone(),
        [first, rest @ ..] => {
            let mut merged = first.schema().as_ref().clone();
            for other in rest {
                merged.merge(other.schema());
            }
            Arc::new(merged)
        }
    };
    let preserver = NamePreserver::new(&plan);
    plan.map_expressions(|e| {
        let saved = preserver.save(&e);
        let rewritten = e.transform_up(|e| rewrite(e, &schema))?;
        Ok(if rewritten.transformed {
            rewritten.update_data(|e| saved.restore(e))
        } else {
            rewritten
        })
    })
}
