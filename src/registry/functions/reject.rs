//! `ml_reject(model, version, role [, note])`: a member of `role` refuses
//! `model@version` for production (`registry::approvals`).

use datafusion::logical_expr::{Documentation, ScalarFunctionArgs, Signature};
use datafusion_macros::user_doc;

use super::Action;
use super::approve::{decide, decision_signature};
use crate::error::SqlStateError;
use crate::registry::Registry;
use crate::registry::approvals::Decision;

pub const NAME: &str = "ml_reject";

#[user_doc(
    doc_section(label = "Model registry"),
    description = "Records that role rejects a model version for production, with a note; the caller must be a member of the role and hold APPROVE on the model. The latest decision of each role counts: the version cannot be deployed to production until the role approves it again (ml_approve). Decisions are rows of ml_approvals. Errors as ml_approve.",
    syntax_example = "ml_reject(model, version, role [, note])",
    sql_example = r#"```sql
> SELECT ml_reject('price', 1, 'risk', 'intervals too wide above 3000 sqft');
+------------------------------------------------------------------------------+
| ml_reject                                                                    |
+------------------------------------------------------------------------------+
| price@1 rejected for risk; it cannot go to production until risk approves it |
+------------------------------------------------------------------------------+
```"#,
    argument(name = "model", description = "Model name."),
    argument(name = "version", description = "Version number."),
    argument(
        name = "role",
        description = "The role deciding, one of the policy's approvals_required."
    ),
    argument(name = "note", description = "Why: kept with the decision.")
)]
#[derive(Debug, Default)]
pub struct RejectUdf;

impl Action for RejectUdf {
    const NAME: &'static str = NAME;

    fn signature() -> Signature {
        decision_signature()
    }

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        decide(NAME, Decision::Rejected, registry, args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
