//! `ml_predict_arm(model, key)`: which arm of a model's traffic split
//! serves a key: `production`, or the alias that takes a share
//! (`ml_deploy(model, version, 'challenger', 0.2)`). The same hash as the
//! scoring paths use ([`crate::model::route`]), so
//! `SELECT ml_predict(...), ml_predict_arm('churn', customer_id)` names the
//! version each row was scored with. Pinned when the query is planned, as
//! the scoring functions are.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::{model_reference, pin};
use crate::Services;
use crate::model::ModelStore;
use crate::model::route::{PRODUCTION, Route};

pub const NAME: &str = "ml_predict_arm";

#[user_doc(
    doc_section(label = "Machine learning"),
    description = "The arm of a model's traffic split that serves a key: 'production', or the alias that takes a share of the traffic (ml_deploy(model, version, 'challenger', 0.2)). Scoring with the bare model name routes each row by the same hash of its key (the policy's key column), so this names the version each row was scored with; a NULL key, or a model without a split, is 'production'. The split is the one when the query was planned. Errors: 42704 unknown model; 22023 when the model is not a text literal.",
    syntax_example = "ml_predict_arm(model, key)",
    sql_example = r#"```sql
> SELECT ml_predict_arm('churn', customer_id) AS arm, count(*) AS customers
  FROM customers_recent GROUP BY arm;
+------------+-----------+
| arm        | customers |
+------------+-----------+
| production | 10000     |
+------------+-----------+
```"#,
    argument(name = "model", description = "Model name (a bare name: its split)."),
    argument(
        name = "key",
        description = "The row's key: the value of the model's key column."
    )
)]
#[derive(Debug)]
pub struct PredictArmUdf {
    store: Arc<dyn ModelStore>,
    signature: Signature,
}

impl PredictArmUdf {
    pub fn new(services: &Services) -> Self {
        PredictArmUdf {
            store: services.models.clone(),
            signature: Signature::any(2, Volatility::Stable),
        }
    }
}

impl PartialEq for PredictArmUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

impl Eq for PredictArmUdf {}

impl std::hash::Hash for PredictArmUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        NAME.hash(state);
    }
}

impl ScalarUDFImpl for PredictArmUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        pin(self.store.as_ref(), args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let reference = match &args.args[0] {
            ColumnarValue::Scalar(v) => model_reference(NAME, Some(v))?,
            ColumnarValue::Array(_) => model_reference(NAME, None)?,
        };
        let route = match Route::parse(&reference) {
            Some(route) => Some(route),
            None => {
                // Not split when planned (or an explicit version): every
                // row is production's, once the model is known to exist.
                self.store.resolve(&reference)?;
                None
            }
        };
        let rows = args.number_rows;
        let arms: ArrayRef = match &route {
            None => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                PRODUCTION, rows,
            ))),
            Some(route) => {
                let keys = args.args[1].to_array(rows)?;
                let to_challenger = route.to_challenger(Some(&keys), rows);
                Arc::new(StringArray::from_iter_values(
                    to_challenger.iter().map(|&c| route.arm(c)),
                ))
            }
        };
        Ok(ColumnarValue::Array(arms))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arm_needs_a_text_model() {
        let e = model_reference(NAME, None).expect_err("not a literal");
        assert_eq!(e.code, crate::error::sqlstate::INVALID_PARAMETER_VALUE);
    }
}
