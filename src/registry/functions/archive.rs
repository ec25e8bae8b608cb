//! `ml_archive(model, version)`: retires a version. It keeps its artifact,
//! metadata, lineage and metrics (`DESCRIBE MODEL`, the card and
//! `name@N` scoring still work) but holds no alias and cannot be deployed
//! until `ml_unarchive`.

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Documentation, ScalarFunctionArgs, Signature, Volatility};
use datafusion_macros::user_doc;

use super::{Action, literal, text};
use crate::error::SqlStateError;
use crate::registry::Registry;

pub const NAME: &str = "ml_archive";

#[user_doc(
    doc_section(label = "Model registry"),
    description = "Archives a model version: its status becomes archived (ml_model_versions), it keeps its artifact, metadata, lineage and metrics, is scored only by an explicit 'name@N', and cannot be deployed (55000) until ml_unarchive. The change is recorded in ml_deployments (action archive). Archiving an archived version changes nothing. Needs DEPLOY on the model. Errors: 42704 unknown model or version; 55000 for a version an alias points at (deploy another version there first); 42501 without DEPLOY.",
    syntax_example = "ml_archive(model, version)",
    sql_example = r#"```sql
> SELECT ml_archive('price', 1);
+---------------------+
| ml_archive          |
+---------------------+
| price@1 is archived |
+---------------------+
> SELECT ml_unarchive('price', 1);
+-------------------------+
| ml_unarchive            |
+-------------------------+
| price@1 is staged again |
+-------------------------+
```"#,
    argument(name = "model", description = "Model name."),
    argument(name = "version", description = "The version to archive.")
)]
#[derive(Debug, Default)]
pub struct ArchiveUdf;

impl Action for ArchiveUdf {
    const NAME: &'static str = NAME;

    fn signature() -> Signature {
        Signature::exact(vec![DataType::Utf8, DataType::Int64], Volatility::Volatile)
    }

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        archive(NAME, registry, args, true)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// `ml_archive` (`archive`) and `ml_unarchive`: the arguments, the
/// privilege, the change, the answer.
pub(super) fn archive(
    function: &str,
    registry: &Registry,
    args: &ScalarFunctionArgs,
    archive: bool,
) -> Result<String, SqlStateError> {
    let model = text(literal(function, &args.args, 0)?)
        .ok_or_else(|| SqlStateError::bad_argument(format!("{function}: model must be text")))?;
    let version = match literal(function, &args.args, 1)? {
        datafusion::scalar::ScalarValue::Int64(Some(v)) if *v > 0 && *v <= i64::from(u32::MAX) => {
            *v as u32
        }
        other => {
            return Err(SqlStateError::arg(
                function,
                "version",
                "must be a positive integer",
                other,
            ));
        }
    };
    crate::access::require_model(
        &args.config_options,
        &model,
        crate::access::Privilege::Deploy,
    )?;
    let user = quarry_udfs::session_info::user(&args.config_options);
    let changed = registry.set_archived(&model, version, archive, &user)?;
    let name = crate::registry::normalize(&model);
    Ok(match (archive, changed) {
        (true, true) => format!("{name}@{version} is archived"),
        (true, false) => format!("{name}@{version} was already archived"),
        (false, true) => format!("{name}@{version} is staged again"),
        (false, false) => format!("{name}@{version} is not archived"),
    })
}
