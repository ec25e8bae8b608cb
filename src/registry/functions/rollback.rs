//! `ml_rollback(model)`: moves the production alias back to the version it
//! pointed at before the last deploy.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::scalar::ScalarValue;
use datafusion_macros::user_doc;

use super::{literal, text};
use crate::error::SqlStateError;
use crate::registry::Registry;

pub const NAME: &str = "ml_rollback";

#[user_doc(
    doc_section(label = "Model registry"),
    description = "Moves a model's production alias back to the version it pointed at before the last deploy, and records the rollback. Errors: 42704 unknown model; 55000 when there is no earlier production version.",
    syntax_example = "ml_rollback(model)",
    sql_example = r#"```sql
> SELECT ml_rollback('calls_rule');
+-------------------------------------------------------------------+
| ml_rollback(Utf8("calls_rule"))                                   |
+-------------------------------------------------------------------+
| calls_rule: production is back on calls_rule@1 (was calls_rule@2) |
+-------------------------------------------------------------------+
```"#,
    argument(name = "model", description = "Model name.")
)]
#[derive(Debug)]
pub struct RollbackUdf {
    registry: Arc<Registry>,
    signature: Signature,
}

impl RollbackUdf {
    pub fn new(registry: Arc<Registry>) -> Self {
        RollbackUdf {
            registry,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Volatile),
        }
    }
}

impl PartialEq for RollbackUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.registry, &other.registry)
    }
}

impl Eq for RollbackUdf {}

impl std::hash::Hash for RollbackUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        NAME.hash(state);
    }
}

impl ScalarUDFImpl for RollbackUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let run = || -> std::result::Result<String, SqlStateError> {
            let model = text(literal(NAME, &args.args, 0)?)
                .ok_or_else(|| SqlStateError::bad_argument("ml_rollback: model must be text"))?;
            let user = quarry_udfs::session_info::user(&args.config_options);
            let (from, to) = self.registry.rollback(&model, &user)?;
            let name = crate::registry::normalize(&model);
            Ok(format!(
                "{name}: production is back on {name}@{to} (was {name}@{from})"
            ))
        };
        let message = run().map_err(SqlStateError::into_df)?;
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(message))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
