//! `SELECT * FROM ml_roc_curve(model, relation [, bins [, segment]])` →
//! threshold, fpr, tpr. The computation is in `curves.rs`.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{DocSection, Documentation, LogicalPlan};

use crate::functions::evaluation::curve::{Curve, plan_curve};
use crate::functions::relation::{Call, RelationFunction};
use crate::model::ModelStore;

pub const NAME: &str = "ml_roc_curve";

#[derive(Debug)]
pub struct RocCurve {
    store: Arc<dyn ModelStore>,
}

impl RocCurve {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        RocCurve { store }
    }

    pub fn documentation() -> Documentation {
        Documentation::builder(
            DocSection { include: true, label: "Evaluation", description: None },
            "Points of the ROC curve of a binary classifier on labelled rows: threshold (rows scoring at or above it are predicted positive), fpr, tpr; the first point is (Infinity, 0, 0). bins (default 100) keeps about that many thresholds evenly spaced in rows, always the last; 0 keeps every distinct score (as scikit-learn roc_curve with drop_intermediate=False). With segment, one curve per value of that column (it comes first). Errors: 42704 unknown model; 22023 for a model that is not a binary classifier, a relation without its label or features, a bad bins value or an unknown segment column.",
            "SELECT * FROM ml_roc_curve(model, relation [, bins [, segment]])",
        )
        .with_argument("model", "A binary classifier: 'name', 'name@3' or 'name@alias'.")
        .with_argument("relation", "Labelled rows: a table name, a parenthesized subquery, or text holding a name or a query.")
        .with_argument("bins", "How many points (roc, pr; 0 = all) or groups (lift); also bins => n.")
        .with_argument("segment", "Optional column name: one curve per value; also segment => 'col'.")
        .build()
    }
}

impl RelationFunction for RocCurve {
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
        plan_curve(NAME, Curve::Roc, self.store.as_ref(), call, ctx)
    }
}
