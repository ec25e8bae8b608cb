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

pub const NAME: &str = "ml_predict";

#[user_doc(
    doc_section(label = "Machine learning"),
    description = "Scores rows with a trained model: the predicted class (in the label's type) for a classifier, a number for a regression model, the cluster number for k-means. Features are matched to the model's inputs by name. Errors: 42704 unknown model or version; 22023 when features are missing or unknown (the message lists both sides) or the model argument is not a text literal; 42804 when a feature's value cannot be converted to the trained type.",
    syntax_example = "ml_predict(model, feature [, feature ...])",
    sql_example = r#"```sql
> SELECT customer_id, ml_predict('churn', age, plan, monthly_fee) AS churn
  FROM customers_recent LIMIT 2;
+-------------+-------+
| customer_id | churn |
+-------------+-------+
| 100001      | f     |
| 100002      | t     |
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
#[derive(Debug)]
pub struct PredictUdf {
    store: Arc<dyn ModelStore>,
    signature: Signature,
}

impl PredictUdf {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        PredictUdf {
            store,
            signature: Signature::variadic_any(Volatility::Stable),
        }
    }
}

impl PartialEq for PredictUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

impl Eq for PredictUdf {}

impl std::hash::Hash for PredictUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        NAME.hash(state);
    }
}

impl ScalarUDFImpl for PredictUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Err(SqlStateError::new(
            crate::error::sqlstate::INTERNAL_ERROR,
            "ml_predict: return_field_from_args is used",
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
        Ok(Arc::new(Field::new(NAME, model.output_type(), true)))
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
        let out = model.predict(&inputs).map_err(SqlStateError::into_df)?;
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
