//! `ml_mask_email(email)`: an address with its local part hidden.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::error::SqlStateError;
use crate::functions::features::as_text;

pub const NAME: &str = "ml_mask_email";

/// What stands for the hidden characters: always three, so the mask does
/// not tell how long the hidden part was.
const HIDDEN: &str = "***";

#[user_doc(
    doc_section(label = "Privacy"),
    description = "An e-mail address with its local part hidden: the first character, then ***, then @ and the domain (alice.smith@example.com gives a***@example.com). The domain is kept, so per-provider analysis still works; the mask is always three characters, whatever the length hidden. Text without exactly one @ followed by a domain is hidden whole (***). NULL gives NULL.",
    syntax_example = "ml_mask_email(email)",
    sql_example = r#"```sql
> SELECT ml_mask_email('alice.smith@example.com'), ml_mask_email('not an address');
+------------------+---------------+
| ml_mask_email    | ml_mask_email |
+------------------+---------------+
| a***@example.com | ***           |
+------------------+---------------+
```"#,
    argument(name = "email", description = "The address, as text.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MaskEmailUdf {
    signature: Signature,
}

impl MaskEmailUdf {
    pub fn new() -> Self {
        MaskEmailUdf {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl Default for MaskEmailUdf {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes the masked form of `email` into `out`.
pub fn mask_email(email: &str, out: &mut String) {
    let email = email.trim();
    let parsed = email.split_once('@').filter(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@') && domain.contains('.')
    });
    match parsed {
        Some((local, domain)) => {
            out.extend(local.chars().next());
            out.push_str(HIDDEN);
            out.push('@');
            out.push_str(domain);
        }
        None => out.push_str(HIDDEN),
    }
}

impl ScalarUDFImpl for MaskEmailUdf {
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
        let n = args.number_rows;
        let values = args.args[0].to_array(n)?;
        let text = as_text(NAME, "email", &values).map_err(SqlStateError::into_df)?;
        let text = text.as_string::<i32>();
        let mut out = StringBuilder::with_capacity(n, text.value_data().len());
        let mut buf = String::new();
        for i in 0..n {
            if text.is_null(i) {
                out.append_null();
                continue;
            }
            buf.clear();
            mask_email(text.value(i), &mut buf);
            out.append_value(&buf);
        }
        let array = out.finish();
        Ok(match &args.args[0] {
            ColumnarValue::Scalar(_) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
            }
            ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(array)),
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(email: &str) -> String {
        let mut out = String::new();
        mask_email(email, &mut out);
        out
    }

    #[test]
    fn keeps_the_first_character_and_the_domain() {
        assert_eq!(masked("alice.smith@example.com"), "a***@example.com");
        assert_eq!(masked(" b@mail.co.uk "), "b***@mail.co.uk");
        // The length hidden does not show.
        assert_eq!(
            masked("x@example.com").len(),
            masked("xyzzy@example.com").len()
        );
        assert_eq!(masked("élodie@exemple.fr"), "é***@exemple.fr");
    }

    #[test]
    fn hides_whatever_is_not_an_address() {
        for text in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b@c.com",
            "a@localhost",
        ] {
            assert_eq!(masked(text), "***", "{text}");
        }
    }
}
