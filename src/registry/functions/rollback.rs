//! `ml_rollback(model)`: moves the production alias back to the version it
//! pointed at before the last deploy.

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Documentation, ScalarFunctionArgs, Signature, Volatility};
use datafusion_macros::user_doc;

use super::{Action, literal, text};
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
| ml_rollback                                                       |
+-------------------------------------------------------------------+
| calls_rule: production is back on calls_rule@1 (was calls_rule@2) |
+-------------------------------------------------------------------+
```"#,
    argument(name = "model", description = "Model name.")
)]
#[derive(Debug, Default)]
pub struct RollbackUdf;

impl Action for RollbackUdf {
    const NAME: &'static str = NAME;

    fn signature() -> Signature {
        Signature::exact(vec![DataType::Utf8], Volatility::Volatile)
    }

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        let model = text(literal(NAME, &args.args, 0)?)
            .ok_or_else(|| SqlStateError::bad_argument("ml_rollback: model must be text"))?;
        crate::access::require_model(
            &args.config_options,
            &model,
            crate::access::Privilege::Deploy,
        )?;
        let user = quarry_udfs::session_info::user(&args.config_options);
        let (from, to) = registry.rollback(&model, &user)?;
        let name = crate::registry::normalize(&model);
        Ok(format!(
            "{name}: production is back on {name}@{to} (was {name}@{from})"
        ))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
