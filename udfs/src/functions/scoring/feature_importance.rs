//! `SELECT * FROM ml_feature_importance(model)`: global importance of each
//! input feature, from what the model stored when it was trained.
//!
//! | column        | meaning |
//! |---------------|---------|
//! | feature       | input feature |
//! | rank          | 1 = most important (by mean_abs_shap, then gain) |
//! | mean_abs_shap | mean \|contribution\| over up to 500 evaluation rows, in the units of `ml_explain` |
//! | gain          | share of the total split gain (trees; NULL for linear models) |
//! | splits        | splits on the feature (trees; NULL for linear models) |

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, Expr, LogicalPlan, LogicalPlanBuilder, lit,
};
use datafusion::scalar::ScalarValue;

use crate::error::SqlStateError;
use crate::functions::relation::{Arg, Call, RelationFunction};
use crate::model::ModelStore;

pub const NAME: &str = "ml_feature_importance";

/// One output row before ranking.
struct Importance {
    feature: String,
    shap: Option<f64>,
    gain: Option<f64>,
    splits: Option<i64>,
}

#[derive(Debug)]
pub struct FeatureImportance {
    store: Arc<dyn ModelStore>,
}

impl FeatureImportance {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        FeatureImportance { store }
    }

    pub fn documentation() -> Documentation {
        Documentation::builder(
            DocSection { include: true, label: "Explanation", description: None },
            "Global importance of each input feature: rank, mean_abs_shap (mean |contribution| of ml_explain over up to 500 evaluation rows, measured at training), gain (share of the total split gain, trees only) and splits (trees only). Rows are ordered by rank. Models trained before explanations existed report NULL mean_abs_shap. Errors: 42704 unknown model; 0A000 for models without explanations (kmeans, isolation_forest, baseline, sql_rule).",
            "SELECT * FROM ml_feature_importance(model)",
        )
        .with_sql_example(
            "```sql\n> SELECT feature, rank, round(mean_abs_shap, 3) AS shap, round(gain, 3) AS gain\n  FROM ml_feature_importance('churn') LIMIT 2;\n+---------------+------+-------+-------+\n| feature       | rank | shap  | gain  |\n+---------------+------+-------+-------+\n| support_calls | 1    | 0.612 | 0.348 |\n| tenure_months | 2    | 0.455 | 0.291 |\n+---------------+------+-------+-------+\n```",
        )
        .with_argument("model", "Model reference: 'name', 'name@3' or 'name@alias'.")
        .build()
    }
}

impl RelationFunction for FeatureImportance {
    fn docs(&self) -> Documentation {
        Self::documentation()
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn is_relation(&self, _position: usize) -> bool {
        false
    }

    fn plan(&self, call: Call, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let bad = |msg: String| SqlStateError::bad_argument(msg).into_df();
        if let Some((name, _)) = call.named.first() {
            return Err(bad(format!(
                "{NAME}: unknown named argument {name}; it takes (model)"
            )));
        }
        let reference = match call.args.as_slice() {
            [
                Arg::Value(Expr::Literal(
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::Utf8View(Some(s))
                    | ScalarValue::LargeUtf8(Some(s)),
                    _,
                )),
            ] => s.clone(),
            _ => {
                return Err(bad(format!(
                    "{NAME}: expected (model), the model as a text literal such as 'churn'"
                )));
            }
        };
        let pinned = self
            .store
            .resolve(&reference)
            .map_err(SqlStateError::into_df)?;
        let model = self.store.load(&pinned).map_err(SqlStateError::into_df)?;
        model.explainable().map_err(|mut e| {
            e.message = e.message.replace("ml_explain", NAME);
            e.into_df()
        })?;
        let names: Vec<String> = model.features().iter().map(|f| f.name.clone()).collect();
        let shap = model
            .envelope
            .mean_abs_contribution()
            .map(|(v, _)| v.to_vec());
        let gains = model.feature_importance();
        let total_gain: f64 = gains.iter().flatten().map(|g| g.1).sum();
        let mut rows: Vec<Importance> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let gain = gains.as_ref().and_then(|g| g.get(i));
                Importance {
                    feature: name.clone(),
                    shap: shap.as_ref().and_then(|s| s.get(i).copied()),
                    gain: gain.map(|g| {
                        if total_gain > 0.0 {
                            g.1 / total_gain
                        } else {
                            0.0
                        }
                    }),
                    splits: gain.map(|g| g.2 as i64),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            let key = |r: &Importance| {
                (
                    r.shap.unwrap_or(f64::NEG_INFINITY),
                    r.gain.unwrap_or(f64::NEG_INFINITY),
                )
            };
            let (ka, kb) = (key(a), key(b));
            kb.0.total_cmp(&ka.0)
                .then(kb.1.total_cmp(&ka.1))
                .then(a.feature.cmp(&b.feature))
        });
        let values: Vec<Vec<Expr>> = rows
            .into_iter()
            .enumerate()
            .map(|(rank, r)| {
                vec![
                    lit(r.feature),
                    lit(rank as i64 + 1),
                    lit(ScalarValue::Float64(r.shap)),
                    lit(ScalarValue::Float64(r.gain)),
                    lit(ScalarValue::Int64(r.splits)),
                ]
            })
            .collect();
        let plan = LogicalPlanBuilder::values(values)?.build()?;
        let names = ["feature", "rank", "mean_abs_shap", "gain", "splits"];
        let columns: Vec<Expr> = plan
            .schema()
            .columns()
            .into_iter()
            .zip(names)
            .map(|(c, name)| Expr::Column(c).alias(name))
            .collect();
        LogicalPlanBuilder::from(plan).project(columns)?.build()
    }
}
