//! `ml_deploy(model, version [, alias])`: points an alias (default
//! `production`) at a version. A bare model name resolves to its production
//! version, so this is how a version goes live; queries already planned keep
//! the version they resolved.

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{
    Documentation, ScalarFunctionArgs, Signature, TypeSignature, Volatility,
};
use datafusion::scalar::ScalarValue;
use datafusion_macros::user_doc;

use super::{Action, literal, text};
use crate::error::SqlStateError;
use crate::registry::Registry;

pub const NAME: &str = "ml_deploy";

#[user_doc(
    doc_section(label = "Model registry"),
    description = "Points an alias (default production) at a model version and records the deployment. A bare model name in ml_predict resolves to the production version. Returns a message naming the version and the one it replaced. Errors: 42704 unknown model or version; 22023 for a bad alias or non-constant arguments.",
    syntax_example = "ml_deploy(model, version [, alias])",
    sql_example = r#"```sql
> SELECT ml_deploy('calls_rule', 2);
+---------------------------------------------------+
| ml_deploy                                         |
+---------------------------------------------------+
| calls_rule@2 is now production (was calls_rule@1) |
+---------------------------------------------------+
```"#,
    argument(name = "model", description = "Model name."),
    argument(name = "version", description = "Version number to deploy."),
    argument(
        name = "alias",
        description = "Alias to move, default 'production' (e.g. 'challenger')."
    )
)]
#[derive(Debug, Default)]
pub struct DeployUdf;

impl Action for DeployUdf {
    const NAME: &'static str = NAME;

    fn signature() -> Signature {
        Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64, DataType::Utf8]),
            ],
            Volatility::Volatile,
        )
    }

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        let model = text(literal(NAME, &args.args, 0)?)
            .ok_or_else(|| SqlStateError::bad_argument("ml_deploy: model must be text"))?;
        let version = match literal(NAME, &args.args, 1)? {
            ScalarValue::Int64(Some(v)) if *v > 0 && *v <= i64::from(u32::MAX) => *v as u32,
            other => {
                return Err(SqlStateError::arg(
                    NAME,
                    "version",
                    "must be a positive integer",
                    other,
                ));
            }
        };
        let alias = match args.args.get(2) {
            Some(_) => text(literal(NAME, &args.args, 2)?)
                .ok_or_else(|| SqlStateError::bad_argument("ml_deploy: alias must be text"))?,
            None => "production".to_string(),
        };
        crate::access::require_model(
            &args.config_options,
            &model,
            crate::access::Privilege::Deploy,
        )?;
        let user = quarry_udfs::session_info::user(&args.config_options);
        let previous = registry.deploy(&model, version, &alias, &user)?;
        let name = crate::registry::normalize(&model);
        Ok(match previous {
            Some(p) if p != version => {
                format!("{name}@{version} is now {alias} (was {name}@{p})")
            }
            Some(_) => format!("{name}@{version} was already {alias}"),
            None => format!("{name}@{version} is now {alias}"),
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
