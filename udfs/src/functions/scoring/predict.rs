//! `ml_predict(model, feature, ...)`: a model's prediction for each row.
//!
//! | model task     | returns                                      |
//! |----------------|----------------------------------------------|
//! | classification | the predicted class, in the label's type     |
//! | regression     | DOUBLE PRECISION                             |
//! | clustering     | the cluster number (INTEGER, from 0)         |
//!
//! Features are matched to the model's inputs by name: a column keeps its
//! name, an expression is named with `struct(expr AS name, ...)`. NULL inputs
//! follow the model's imputation; unseen categories go to `other`. The model
//! reference (`'churn'`, `'churn@3'`, `'churn@challenger'`) is resolved to one
//! version when the query is planned.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::{Batch, Logged, ModelOutput};
use crate::error::SqlStateError;
use crate::model::LoadedModel;

pub const NAME: &str = "ml_predict";

#[user_doc(
    doc_section(label = "Machine learning"),
    description = "Scores rows with a trained model: the predicted class (in the label's type) for a classifier, a number for a regression model, the cluster number for k-means. Features are matched to the model's inputs by name. Errors: 42704 unknown model or version; 22023 when features are missing or unknown (the message lists both sides) or the model argument is not a text literal; 42804 when a feature's value cannot be converted to the trained type.",
    syntax_example = "ml_predict(model, feature [, feature ...])",
    sql_example = r#"```sql
> SELECT customer_id, ml_predict('churn', age, plan, monthly_fee, tenure_months, support_calls, region) AS churn
  FROM customers_recent ORDER BY customer_id LIMIT 2;
+-------------+-------+
| customer_id | churn |
+-------------+-------+
| 100001      | t     |
| 100002      | f     |
+-------------+-------+
```"#,
    argument(
        name = "model",
        description = "Model reference: 'name' (its production version, else the latest), 'name@3' or 'name@alias'."
    ),
    argument(
        name = "feature",
        description = "Feature values, matched by column name; or one struct(expr AS name, ...)."
    )
)]
#[derive(Debug, Default)]
pub struct PredictUdf;

impl ModelOutput for PredictUdf {
    const NAME: &'static str = NAME;

    fn output_type(&self, model: &LoadedModel) -> Result<DataType, SqlStateError> {
        Ok(model.output_type())
    }

    fn evaluate(&self, model: &LoadedModel, batch: Batch) -> Result<ArrayRef> {
        Ok(model.predict(&batch.features)?)
    }

    fn evaluate_logged(&self, model: &LoadedModel, batch: Batch) -> Result<Logged> {
        let (prediction, probability) = model.predict_scored(&batch.features)?;
        Ok(Logged {
            result: prediction.clone(),
            prediction,
            probability,
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
