//! `ml_predict_proba(model, feature, ...)`: a classifier's probabilities.
//!
//! | classes | returns                                                   |
//! |---------|-----------------------------------------------------------|
//! | two     | DOUBLE PRECISION: the probability of the positive (second) class |
//! | more    | DOUBLE PRECISION[]: one probability per class, in `DESCRIBE MODEL` order |
//!
//! Features are matched by name as for `ml_predict`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::error::SqlStateError;
use crate::functions::scoring::{bind, feature_arrays, load, pin};
use crate::model::ModelStore;

pub const NAME: &str = "ml_predict_proba";

#[user_doc(
    doc_section(label = "Machine learning"),
    description = "Class probabilities of a classifier: the positive-class probability for a binary model (its second class in DESCRIBE MODEL order, e.g. true), or an array with one probability per class. Errors: 22023 when the model is not a classifier or features do not match; 42704 unknown model.",
    syntax_example = "ml_predict_proba(model, feature [, feature ...])",
    sql_example = r#"```sql
> SELECT customer_id, round(ml_predict_proba('churn', age, plan, monthly_fee), 3) AS risk
  FROM customers_recent ORDER BY risk DESC LIMIT 1;
+-------------+-------+
| customer_id | risk  |
+-------------+-------+
| 104417      | 0.981 |
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
#[derive(Debug)]
pub struct PredictProbaUdf {
    store: Arc<dyn ModelStore>,
    signature: Signature,
}

impl PredictProbaUdf {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        PredictProbaUdf {
            store,
            signature: Signature::variadic_any(Volatility::Stable),
        }
    }
}

impl PartialEq for PredictProbaUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

impl Eq for PredictProbaUdf {}

impl std::hash::Hash for PredictProbaUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        NAME.hash(state);
    }
}

impl ScalarUDFImpl for PredictProbaUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Err(SqlStateError::new(
            crate::error::sqlstate::INTERNAL_ERROR,
            "ml_predict_proba: return_field_from_args is used",
        )
        .into_df())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let model = load(
            self.store.as_ref(),
            NAME,
            args.scalar_arguments.first().copied().flatten(),
        )
        .map_err(SqlStateError::into_df)?;
        bind(NAME, &model, &args.arg_fields[1..]).map_err(SqlStateError::into_df)?;
        let t = model.proba_type().map_err(SqlStateError::into_df)?;
        Ok(Arc::new(Field::new(NAME, t, true)))
    }

    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        pin(self.store.as_ref(), args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let reference = match &args.args[0] {
            ColumnarValue::Scalar(v) => Some(v.clone()),
            ColumnarValue::Array(_) => None,
        };
        let model =
            load(self.store.as_ref(), NAME, reference.as_ref()).map_err(SqlStateError::into_df)?;
        let order = bind(NAME, &model, &args.arg_fields[1..]).map_err(SqlStateError::into_df)?;
        let inputs = feature_arrays(
            &args.args[1..],
            &args.arg_fields[1..],
            &order,
            args.number_rows,
        )?;
        let out = model
            .predict_proba(&inputs)
            .map_err(SqlStateError::into_df)?;
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
