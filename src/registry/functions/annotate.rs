//! `ml_annotate(model, field, text)`: what people know about a model that
//! its metadata cannot say (`registry::documentation`).

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Documentation, ScalarFunctionArgs, Signature, Volatility};
use datafusion_macros::user_doc;

use super::{Action, literal, text};
use crate::access::Privilege;
use crate::error::SqlStateError;
use crate::registry::{Registry, documentation};

pub const NAME: &str = "ml_annotate";

#[user_doc(
    doc_section(label = "Model documentation"),
    description = "Records a field of a model's documentation, shown in its card (ml_model_card): purpose, legal_basis, rationale (why this algorithm), limitations, bias_mitigation, owner or ops_owner (handing the model to operations). Annotating a field again replaces what the card shows; every text stays in the history. Needs TRAIN on the model (its owner holds it). Errors: 42704 unknown model; 42501 without TRAIN; 22023 for another field or an empty text.",
    syntax_example = "ml_annotate(model, field, text)",
    sql_example = r#"```sql
> SELECT ml_annotate('price', 'purpose', 'Suggest a listing price to agents; they set the final one.');
+--------------------------+
| ml_annotate              |
+--------------------------+
| price: purpose annotated |
+--------------------------+
```"#,
    argument(name = "model", description = "Model name."),
    argument(
        name = "field",
        description = "purpose, legal_basis, rationale, limitations, bias_mitigation, owner or ops_owner."
    ),
    argument(name = "text", description = "What to record.")
)]
#[derive(Debug, Default)]
pub struct AnnotateUdf;

impl Action for AnnotateUdf {
    const NAME: &'static str = NAME;

    fn signature() -> Signature {
        Signature::exact(
            vec![DataType::Utf8, DataType::Utf8, DataType::Utf8],
            Volatility::Volatile,
        )
    }

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        let text_at = |i: usize, what: &str| -> Result<String, SqlStateError> {
            text(literal(NAME, &args.args, i)?)
                .ok_or_else(|| SqlStateError::bad_argument(format!("{NAME}: {what} must be text")))
        };
        let model = crate::registry::normalize(&text_at(0, "model")?);
        let field = text_at(1, "field")?.to_lowercase();
        let note = text_at(2, "text")?;
        documentation::check_field(NAME, &field)?;
        if note.trim().is_empty() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: text must not be empty"
            )));
        }
        registry.require_exists(&model)?;
        crate::access::require_model(&args.config_options, &model, Privilege::Train)?;
        let user = quarry_udfs::session_info::user(&args.config_options);
        registry
            .store()
            .with_conn(|c| documentation::annotate(c, &model, &field, &note, &user))?;
        Ok(format!("{model}: {field} annotated"))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
