//! `ml_unarchive(model, version)`: brings an archived version back to
//! `staged`, deployable again.

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Documentation, ScalarFunctionArgs, Signature, Volatility};
use datafusion_macros::user_doc;

use super::Action;
use crate::error::SqlStateError;
use crate::registry::Registry;

pub const NAME: &str = "ml_unarchive";

#[user_doc(
    doc_section(label = "Model registry"),
    description = "Brings an archived model version back: its status becomes staged and it can be deployed again. Recorded in ml_deployments (action unarchive). A version that is not archived is left as it is. Needs DEPLOY on the model. Errors: 42704 unknown model or version; 42501 without DEPLOY.",
    syntax_example = "ml_unarchive(model, version)",
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
> SELECT ml_unarchive('price', 1);
+-------------------------+
| ml_unarchive            |
+-------------------------+
| price@1 is not archived |
+-------------------------+
```"#,
    argument(name = "model", description = "Model name."),
    argument(name = "version", description = "The archived version.")
)]
#[derive(Debug, Default)]
pub struct UnarchiveUdf;

impl Action for UnarchiveUdf {
    const NAME: &'static str = NAME;

    fn signature() -> Signature {
        Signature::exact(vec![DataType::Utf8, DataType::Int64], Volatility::Volatile)
    }

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        super::archive::archive(NAME, registry, args, false)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
