//! `ml_pseudonymize(value, secret)`: HMAC-SHA-256 of a value's text under a
//! server-held secret (`access::secrets`), as 64 hex digits.
//!
//! The same value under the same secret always gives the same pseudonym,
//! so pseudonymized tables still join and group by the subject; without
//! the key, a pseudonym cannot be linked back by hashing guessed values
//! (what a plain SHA-256 of an e-mail address allows). Using a secret takes
//! `USAGE` on it (its owner and superusers hold it), checked when the
//! statement is planned (`access::analyzer`), so a view that pseudonymizes
//! uses its owner's: readers of the view need no access to the key.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;
use hmac::{KeyInit, Mac};

use crate::catalog::store::Store;
use crate::error::SqlStateError;

pub const NAME: &str = "ml_pseudonymize";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

#[user_doc(
    doc_section(label = "Privacy"),
    description = "A pseudonym for a value: the HMAC-SHA-256 of its text under a secret the server holds (CREATE SECRET name; the key is never shown), as 64 lowercase hex digits. Stable for one secret, so pseudonymized tables still join and group by the subject; different across secrets; not reversible, and not linkable by hashing guessed values without the key. Rotate by creating a new secret. Using a secret takes USAGE on it (GRANT USAGE ON SECRET s TO r); in a view, the view owner's. NULL gives NULL. Errors: 42704 unknown secret; 42501 without USAGE; 22023 when the secret is not a text constant.",
    syntax_example = "ml_pseudonymize(value, secret)",
    sql_example = r#"```sql
> SELECT length(ml_pseudonymize('alice@example.com', 'demo_key')) AS hex_digits,
         ml_pseudonymize('alice@example.com', 'demo_key')
           = ml_pseudonymize('alice@example.com', 'demo_key') AS stable;
+------------+--------+
| hex_digits | stable |
+------------+--------+
| 64         | t      |
+------------+--------+
```"#,
    argument(
        name = "value",
        description = "Any value with a text form (an e-mail address, a customer id)."
    ),
    argument(
        name = "secret",
        description = "The name of a secret made with CREATE SECRET, as a text constant."
    )
)]
#[derive(Debug)]
pub struct PseudonymizeUdf {
    store: Arc<Store>,
    signature: Signature,
}

impl PseudonymizeUdf {
    pub fn new(store: Arc<Store>) -> Self {
        PseudonymizeUdf {
            store,
            signature: Signature::any(2, Volatility::Stable),
        }
    }
}

impl PartialEq for PseudonymizeUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

impl Eq for PseudonymizeUdf {}

impl std::hash::Hash for PseudonymizeUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        NAME.hash(state);
    }
}

/// The secret a call names: its second argument, a text constant.
pub fn secret_name(value: &ScalarValue) -> Option<&str> {
    value.try_as_str().flatten()
}

/// Writes the HMAC-SHA-256 of `text` under `key` as hex into `out`.
pub fn pseudonym(key: &[u8], text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(text.as_bytes());
    for byte in mac.finalize().into_bytes() {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0f)] as char);
    }
}

impl ScalarUDFImpl for PseudonymizeUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let secret = match &args.args[1] {
            ColumnarValue::Scalar(v) => secret_name(v),
            ColumnarValue::Array(_) => None,
        }
        .ok_or_else(|| {
            SqlStateError::bad_argument(format!(
                "{NAME}: secret must be a text constant naming a secret (CREATE SECRET)"
            ))
            .into_df()
        })?;
        let key = super::secrets::key(&self.store, secret).map_err(SqlStateError::into_df)?;
        let values = args.args[0].to_array(n)?;
        let text = quarry_udfs::functions::features::as_text(NAME, "value", &values)
            .map_err(SqlStateError::into_df)?;
        let text = text.as_string::<i32>();
        let mut out = StringBuilder::with_capacity(n, n * 64);
        let mut buf = String::with_capacity(64);
        for i in 0..n {
            if text.is_null(i) {
                out.append_null();
                continue;
            }
            buf.clear();
            pseudonym(&key, text.value(i), &mut buf);
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

    #[test]
    fn matches_rfc_4231() {
        // RFC 4231, test case 2: key "Jefe".
        let mut out = String::new();
        pseudonym(b"Jefe", "what do ya want for nothing?", &mut out);
        assert_eq!(
            out,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn stable_per_key_and_different_across_keys() {
        let run = |key: &[u8], text: &str| {
            let mut out = String::new();
            pseudonym(key, text, &mut out);
            out
        };
        assert_eq!(run(b"k1", "alice"), run(b"k1", "alice"));
        assert_ne!(run(b"k1", "alice"), run(b"k2", "alice"));
        assert_ne!(run(b"k1", "alice"), run(b"k1", "bob"));
    }
}
