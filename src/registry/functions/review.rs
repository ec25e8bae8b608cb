//! `ml_review(model, note)`: the periodic review of a model is done; the
//! next is due a year later (`registry::documentation`).

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Documentation, ScalarFunctionArgs, Signature, Volatility};
use datafusion_macros::user_doc;

use super::{Action, literal, text};
use crate::access::Privilege;
use crate::error::SqlStateError;
use crate::registry::{Registry, documentation};

pub const NAME: &str = "ml_review";

#[user_doc(
    doc_section(label = "Model documentation"),
    description = "Records a review of a model (what was checked and found) and returns when the next is due: one year later. Until a model's first review, its review is due one year after it was created. Reviews are listed in its card (ml_model_card); overdue models in ml_reviews_due. Needs APPROVE on the model (its owner holds it). Errors: 42704 unknown model; 42501 without APPROVE; 22023 for an empty note.",
    syntax_example = "ml_review(model, note)",
    sql_example = r#"```sql
> SELECT left(ml_review('price', 'Residuals still centred; no drift in sqft.'), 25) AS next_review;
+---------------------------+
| next_review               |
+---------------------------+
| price: next review due 20 |
+---------------------------+
```"#,
    argument(name = "model", description = "Model name."),
    argument(name = "note", description = "What the review checked and found.")
)]
#[derive(Debug, Default)]
pub struct ReviewUdf;

impl Action for ReviewUdf {
    const NAME: &'static str = NAME;

    fn signature() -> Signature {
        Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Volatile)
    }

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        let text_at = |i: usize, what: &str| -> Result<String, SqlStateError> {
            text(literal(NAME, &args.args, i)?)
                .ok_or_else(|| SqlStateError::bad_argument(format!("{NAME}: {what} must be text")))
        };
        let model = crate::registry::normalize(&text_at(0, "model")?);
        let note = text_at(1, "note")?;
        if note.trim().is_empty() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: note must not be empty"
            )));
        }
        registry.require_exists(&model)?;
        crate::access::require_model(&args.config_options, &model, Privilege::Approve)?;
        let user = quarry_udfs::session_info::user(&args.config_options);
        let due = registry
            .store()
            .with_conn(|c| documentation::review(c, &model, &note, &user))?;
        Ok(format!("{model}: next review due {due}"))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
