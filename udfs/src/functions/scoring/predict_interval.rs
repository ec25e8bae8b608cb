//! `ml_predict_interval(model, feature, ...)`: a regressor's prediction
//! interval, struct(lower, upper), from the split-conformal bounds fitted at
//! training (`interval = 0.9`). Features are matched by name as for
//! `ml_predict`.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
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
  FROM house_prices LIMIT 1;
+--------+--------+--------+
| price  | low    | high   |
+--------+--------+--------+
| 412300 | 351880 | 472720 |
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
#[derive(Debug)]
pub struct PredictIntervalUdf {
    store: Arc<dyn ModelStore>,
    signature: Signature,
}

impl PredictIntervalUdf {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        PredictIntervalUdf {
            store,
            signature: Signature::variadic_any(Volatility::Stable),
        }
    }
}

impl PartialEq for PredictIntervalUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

impl Eq for PredictIntervalUdf {}

impl std::hash::Hash for PredictIntervalUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        NAME.hash(state);
    }
}

impl ScalarUDFImpl for PredictIntervalUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(fields()))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let model = load(
            self.store.as_ref(),
            NAME,
            args.scalar_arguments.first().copied().flatten(),
        )
        .map_err(SqlStateError::into_df)?;
        bind(NAME, &model, &args.arg_fields[1..]).map_err(SqlStateError::into_df)?;
        if model.envelope.conformal().is_none() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: model {}@{} has no prediction intervals",
                model.name, model.version
            ))
            .with_hint(
                "train a regressor with OPTIONS (interval = 0.9, ...) to fit conformal bounds",
            )
            .into_df());
        }
        Ok(Arc::new(Field::new(NAME, DataType::Struct(fields()), true)))
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
        let (lower, upper) = model
            .predict_interval(&inputs)
            .map_err(SqlStateError::into_df)?;
        let out = StructArray::try_new(
            fields(),
            vec![
                Arc::new(Float64Array::from(lower)),
                Arc::new(Float64Array::from(upper)),
            ],
            None,
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
