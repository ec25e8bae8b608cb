//! `ml_approve(model, version, role [, note])`: a member of `role` signs
//! off `model@version` for production (`registry::approvals`).

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{
    Documentation, ScalarFunctionArgs, Signature, TypeSignature, Volatility,
};
use datafusion::scalar::ScalarValue;
use datafusion_macros::user_doc;

use super::{Action, literal, text};
use crate::error::SqlStateError;
use crate::registry::Registry;
use crate::registry::approvals::Decision;

pub const NAME: &str = "ml_approve";

#[user_doc(
    doc_section(label = "Model registry"),
    description = "Records that role approves a model version for production, with a note; the caller must be a member of the role and hold APPROVE on the model. A model whose policy has approvals_required (ml_set_policy) cannot be deployed to production (ml_deploy) until the latest decision of every listed role on that version is an approval. Returns what is still missing. Decisions are rows of ml_approvals. Errors: 42704 unknown model, version or role; 42501 without APPROVE or membership; 22023 when the policy does not list the role.",
    syntax_example = "ml_approve(model, version, role [, note])",
    sql_example = r#"```sql
> SELECT ml_approve('price', 1, 'risk', 'back-tested on last year''s sales');
+----------------------------------------------------------+
| ml_approve                                               |
+----------------------------------------------------------+
| price@1 approved for risk; every required approval is in |
+----------------------------------------------------------+
```"#,
    argument(name = "model", description = "Model name."),
    argument(name = "version", description = "Version number."),
    argument(
        name = "role",
        description = "The role approving, one of the policy's approvals_required."
    ),
    argument(name = "note", description = "Why: kept with the decision.")
)]
#[derive(Debug, Default)]
pub struct ApproveUdf;

impl Action for ApproveUdf {
    const NAME: &'static str = NAME;

    fn signature() -> Signature {
        decision_signature()
    }

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        decide(NAME, Decision::Approved, registry, args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// (model, version, role [, note]).
pub(super) fn decision_signature() -> Signature {
    let base = vec![DataType::Utf8, DataType::Int64, DataType::Utf8];
    let mut with_note = base.clone();
    with_note.push(DataType::Utf8);
    Signature::one_of(
        vec![TypeSignature::Exact(base), TypeSignature::Exact(with_note)],
        Volatility::Volatile,
    )
}

/// `ml_approve` and `ml_reject`: checks the caller, records the decision
/// and says what production still waits for.
pub(super) fn decide(
    function: &str,
    decision: Decision,
    registry: &Registry,
    args: &ScalarFunctionArgs,
) -> Result<String, SqlStateError> {
    let text_at = |i: usize, what: &str| -> Result<String, SqlStateError> {
        text(literal(function, &args.args, i)?)
            .ok_or_else(|| SqlStateError::bad_argument(format!("{function}: {what} must be text")))
    };
    let model = text_at(0, "model")?;
    let version = match literal(function, &args.args, 1)? {
        ScalarValue::Int64(Some(v)) if *v > 0 && *v <= i64::from(u32::MAX) => *v as u32,
        other => {
            return Err(SqlStateError::arg(
                function,
                "version",
                "must be a positive integer",
                other,
            ));
        }
    };
    let role = text_at(2, "role")?;
    let note = match args.args.get(3) {
        Some(_) => text_at(3, "note")?,
        None => String::new(),
    };
    // An unknown model or version is 42704 before any privilege check.
    registry.version_exists(&crate::registry::normalize(&model), version)?;
    crate::access::require_approver(&args.config_options, &model, &role)?;
    let user = quarry_udfs::session_info::user(&args.config_options);
    let missing = registry.decide(&model, version, &role, decision, &note, &user)?;
    let name = crate::registry::normalize(&model);
    let verdict = decision.as_str();
    Ok(match (decision, missing.is_empty()) {
        (Decision::Approved, true) => {
            format!("{name}@{version} {verdict} for {role}; every required approval is in")
        }
        (Decision::Approved, false) => format!(
            "{name}@{version} {verdict} for {role}; still missing: {}",
            missing.join(", ")
        ),
        (Decision::Rejected, _) => format!(
            "{name}@{version} {verdict} for {role}; it cannot go to production until {role} approves it"
        ),
    })
}
