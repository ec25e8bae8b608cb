//! `ml_predict_interval(model, feature, ...)`: a regressor's prediction
//! interval, struct(lower, upper), from the split-conformal bounds fitted at
//! training (`interval = 0.9`). Features are matched by name as for
//! `ml_predict`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

use super::{Batch, ModelOutput};
use crate::error::SqlStateError;
use crate::model::LoadedModel;

pub const NAME: &str = "ml_predict_interval";

fn fields() -> Fields {
    Fields::from(vec![
        Field::new("lower", DataType::Float64, true),
        Field::new("upper", DataType::Float64, true),
    ])
}

#[user_doc(
    doc_section(label = "Machine learning"),
    description = "Prediction interval of a regressor trained with OPTIONS (interval = level): struct(lower, upper) = prediction ∓ q, where q is the split-conformal half-width fitted on the hold-out rows (the ⌈(n+1)·level⌉-th smallest absolute residual), so new values fall inside with probability at least level on data like the training data. Errors: 22023 when the model has no intervals (not trained with interval) or features do not match; 42704 unknown model.",
    syntax_example = "ml_predict_interval(model, feature [, feature ...])",
    sql_example = r#"```sql
> SELECT round(ml_predict('price', sqft, bedrooms)) AS price,
         round(ml_predict_interval('price', sqft, bedrooms)['lower']) AS low,
         round(ml_predict_interval('price', sqft, bedrooms)['upper']) AS high
  FROM house_prices ORDER BY house_id LIMIT 1;
+--------+--------+--------+
| price  | low    | high   |
+--------+--------+--------+
| 223149 | 117715 | 328584 |
+--------+--------+--------+
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
pub struct PredictIntervalUdf;

impl ModelOutput for PredictIntervalUdf {
    const NAME: &'static str = NAME;

    fn output_type(&self, model: &LoadedModel) -> Result<DataType, SqlStateError> {
        if model.envelope.conformal().is_none() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: model {}@{} has no prediction intervals",
                model.name, model.version
            ))
            .with_hint(
                "train a regressor with OPTIONS (interval = 0.9, ...) to fit conformal bounds",
            ));
        }
        Ok(DataType::Struct(fields()))
    }

    fn evaluate(&self, model: &LoadedModel, batch: Batch) -> Result<ArrayRef> {
        let (lower, upper) = model.predict_interval(&batch.features)?;
        let out = StructArray::try_new(
            fields(),
            vec![
                Arc::new(Float64Array::from(lower)),
                Arc::new(Float64Array::from(upper)),
            ],
            None,
        )?;
        Ok(Arc::new(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
