//! `ml_deploy(model, version [, alias [, traffic]])`: points an alias
//! (default `production`) at a version. A bare model name resolves to its
//! production version, so this is how a version goes live; queries already
//! planned keep the version they resolved. With `traffic`, the alias takes
//! that share of a bare name's rows, by a hash of the key
//! (`quarry_udfs::model::route`); the alias `shadow` scores every row for
//! the prediction log only.

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
    description = "Points an alias (default production) at a model version and records the deployment. A bare model name in every scoring path (ml_predict and its table form, ml_predict_proba, ml_predict_interval, the REST endpoint) resolves to the production version; with traffic F, the alias (e.g. challenger) takes a share F of those rows instead, chosen by a hash of the model's key column (ml_set_policy key), so one customer always meets the same version, on every server and after restarts; rows without a key stay with production. The alias shadow scores every row with its version for the prediction log only (alias shadow in the log), never returned. The arm of each row is in ml_predict_arm, the table form's arm column and the log's alias column. Traffic 0 ends a split; without traffic an alias keeps its share. A query keeps the versions it was planned with. Returns a message naming the version and the one it replaced. Errors: 42704 unknown model or version; 22023 for a bad alias, a traffic outside [0, 1] or on production or shadow, or non-constant arguments; 55000 for an archived version, a split without production or without a policy key, or a second alias with traffic; 42804 when the version predicts another type than production; 42501 without DEPLOY on the model or, for production, the approvals its policy requires.",
    syntax_example = "ml_deploy(model, version [, alias [, traffic]])",
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
        description = "Alias to move, default 'production' (e.g. 'challenger', 'shadow')."
    ),
    argument(
        name = "traffic",
        description = "The share of the bare name's rows this alias takes, between 0 and 1 (e.g. 0.2); 0 ends the split."
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
                TypeSignature::Exact(vec![
                    DataType::Utf8,
                    DataType::Int64,
                    DataType::Utf8,
                    DataType::Float64,
                ]),
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
        let traffic = match args.args.get(3) {
            None => None,
            Some(_) => Some(match literal(NAME, &args.args, 3)? {
                ScalarValue::Float64(Some(t)) => *t,
                ScalarValue::Int64(Some(t)) => *t as f64,
                other => {
                    return Err(SqlStateError::arg(
                        NAME,
                        "traffic",
                        "must be a share between 0 and 1",
                        other,
                    ));
                }
            }),
        };
        crate::access::require_model(
            &args.config_options,
            &model,
            crate::access::Privilege::Deploy,
        )?;
        let user = quarry_udfs::session_info::user(&args.config_options);
        let previous = registry.deploy(&model, version, &alias, traffic, &user)?;
        let name = crate::registry::normalize(&model);
        let share = match traffic {
            // Percent to four places: 0.2 × 100 is 20.000000000000004.
            Some(t) if t > 0.0 => format!(" with {}% of the traffic", (t * 1e6).round() / 1e4),
            Some(_) => " with no traffic share".to_string(),
            None => String::new(),
        };
        Ok(match previous {
            Some(p) if p != version => {
                format!("{name}@{version} is now {alias}{share} (was {name}@{p})")
            }
            Some(_) => format!("{name}@{version} was already {alias}{share}"),
            None => format!("{name}@{version} is now {alias}{share}"),
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
