//! `ml_predict_proba(model, feature, ...)`: a classifier's probabilities.
//!
//! | classes | returns                                                   |
//! |---------|-----------------------------------------------------------|
//! | two     | DOUBLE PRECISION: the probability of the positive (second) class |
//! | more    | DOUBLE PRECISION[]: one probability per class, in `DESCRIBE MODEL` order |
//!
//! Features are matched by name as for `ml_predict`.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::{Batch, Logged, ModelOutput};
use crate::error::SqlStateError;
use crate::model::LoadedModel;

pub const NAME: &str = "ml_predict_proba";

#[user_doc(
    doc_section(label = "Machine learning"),
    description = "Class probabilities of a classifier: the positive-class probability for a binary model (its second class in DESCRIBE MODEL order, e.g. true), or an array with one probability per class. Errors: 22023 when the model is not a classifier or features do not match; 42704 unknown model.",
    syntax_example = "ml_predict_proba(model, feature [, feature ...])",
    sql_example = r#"```sql
> SELECT customer_id, round(ml_predict_proba('churn', age, plan, monthly_fee, tenure_months, support_calls, region), 3) AS risk
  FROM customers_recent ORDER BY risk DESC, customer_id LIMIT 1;
+-------------+-------+
| customer_id | risk  |
+-------------+-------+
| 101546      | 0.939 |
+-------------+-------+
```"#,
    argument(
        name = "model",
        description = "Model reference: 'name', 'name@3' or 'name@alias'."
    ),
    argument(
        name = "feature",
        description = "Feature values, matched by column name; or one struct(expr AS name, ...)."
    )
)]
#[derive(Debug, Default)]
pub struct PredictProbaUdf;

impl ModelOutput for PredictProbaUdf {
    const NAME: &'static str = NAME;

    fn output_type(&self, model: &LoadedModel) -> Result<DataType, SqlStateError> {
        model.proba_type()
    }

    fn evaluate(&self, model: &LoadedModel, batch: Batch) -> Result<ArrayRef> {
        Ok(model.predict_proba(&batch.features)?)
    }

    fn evaluate_logged(&self, model: &LoadedModel, batch: Batch) -> Result<Logged> {
        let (result, prediction, probability) = model.predict_proba_scored(&batch.features)?;
        Ok(Logged {
            result,
            prediction,
            probability,
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
