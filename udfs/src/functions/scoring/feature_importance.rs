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
    DocSection, Documentation, DocumentationBuilder, Expr, LogicalPlan, LogicalPlanBuilder, lit,
};
use datafusion::scalar::ScalarValue;

use super::pinned_model;
use crate::Services;
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Arg, MODEL, text_literal};
use crate::functions::params::{Args, Params};
use crate::functions::relation::RelationFunction;
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
pub struct FeatureImportanceUdtf {
    store: Arc<dyn ModelStore>,
}

impl FeatureImportanceUdtf {
    pub fn new(services: &Services) -> Self {
        FeatureImportanceUdtf {
            store: services.models.clone(),
        }
    }
}

impl TableFunctionSpec for FeatureImportanceUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[MODEL]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Explanation", description: None },
            "Global importance of each input feature: rank, mean_abs_shap (mean |contribution| of ml_explain over up to 500 evaluation rows, measured at training), gain (share of the total split gain, trees only) and splits (trees only). Rows are ordered by rank. Models trained before explanations existed report NULL mean_abs_shap. Errors: 42704 unknown model; 0A000 for models without explanations (kmeans, isolation_forest, baseline, sql_rule).",
            "SELECT * FROM ml_feature_importance(model)",
        )
        .with_sql_example(
r#"```sql
> SELECT feature, rank, round(mean_abs_shap, 3) AS shap, round(gain, 3) AS gain
  FROM ml_feature_importance('churn') ORDER BY rank LIMIT 2;
+---------------+------+-------+-------+
| feature       | rank | shap  | gain  |
+---------------+------+-------+-------+
| tenure_months | 1    | 0.616 | 0.447 |
| monthly_fee   | 2    | 0.354 | 0.202 |
+---------------+------+-------+-------+
```"#,
        )
    }
}

impl RelationFunction for FeatureImportanceUdtf {
    fn plan(&self, mut args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        args.refuse_named()?;
        let reference = match (args.len(), args.take(0)) {
            (1, Some(Arg::Value(e))) => text_literal(&e).map(str::to_string),
            _ => None,
        }
        .ok_or_else(|| {
            SqlStateError::bad_argument(format!(
                "{NAME}: expected (model), the model as a text literal such as 'churn'"
            ))
        })?;
        let (pinned, model) = pinned_model(self.store.as_ref(), &reference)?;
        self.store
            .authorize_read(ctx.context_provider().options(), &pinned)?;
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
