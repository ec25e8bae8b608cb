//! `SELECT * FROM ml_lift_curve(model, relation [, bins [, segment]])` →
//! bin, rows, positives, positive_rate, lift, cumulative_gain, cumulative_lift. The computation is in `curves.rs`.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{DocSection, Documentation, LogicalPlan};

use crate::functions::evaluation::curve::{Curve, plan_curve};
use crate::functions::relation::{Call, RelationFunction};
use crate::model::ModelStore;

pub const NAME: &str = "ml_lift_curve";

#[derive(Debug)]
pub struct LiftCurve {
    store: Arc<dyn ModelStore>,
}

impl LiftCurve {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        LiftCurve { store }
    }

    pub fn documentation() -> Documentation {
        Documentation::builder(
            DocSection { include: true, label: "Evaluation", description: None },
            "Lift table of a binary classifier on labelled rows: rows sorted by descending score and cut into bins equal groups (default 10, deciles); per bin: bin (1 = highest scores), rows, positives, positive_rate, lift (positive_rate over the overall rate), cumulative_gain (share of all positives captured so far) and cumulative_lift. Tied scores that straddle a bin boundary are shared evenly, so ties never depend on row order. With segment, one table per value of that column (it comes first). Errors: 42704 unknown model; 22023 for a model that is not a binary classifier, a relation without its label or features, a bad bins value or an unknown segment column.",
            "SELECT * FROM ml_lift_curve(model, relation [, bins [, segment]])",
        )
        .with_argument("model", "A binary classifier: 'name', 'name@3' or 'name@alias'.")
        .with_argument("relation", "Labelled rows: a table name, a parenthesized subquery, or text holding a name or a query.")
        .with_argument("bins", "How many points (roc, pr; 0 = all) or groups (lift); also bins => n.")
        .with_argument("segment", "Optional column name: one curve per value; also segment => 'col'.")
        .build()
    }
}

impl RelationFunction for LiftCurve {
    fn docs(&self) -> Documentation {
        Self::documentation()
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn is_relation(&self, position: usize) -> bool {
        position == 1
    }

    fn plan(&self, call: Call, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        plan_curve(NAME, Curve::Lift, self.store.as_ref(), call, ctx)
    }
}
