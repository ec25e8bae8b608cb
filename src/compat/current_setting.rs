//! `current_setting(name [, missing_ok])`: a setting of the session, as
//! `SHOW name` gives it (Grafana reads `search_path` with it to list tables).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use crate::error::{SqlStateError, sqlstate};

/// A session's settings by name (`None`: no such setting).
pub type Settings = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub struct CurrentSetting {
    settings: Settings,
    signature: Signature,
}

impl CurrentSetting {
    pub fn new(settings: Settings) -> Self {
        CurrentSetting {
            settings,
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
                ],
                Volatility::Stable,
            ),
        }
    }

    fn value(&self, name: &str, missing_ok: bool) -> Result<Option<String>> {
        match (self.settings)(name) {
            Some(v) => Ok(Some(v)),
            None if missing_ok => Ok(None),
            None => Err(SqlStateError::new(
                sqlstate::UNDEFINED_PARAMETER,
                format!("unrecognized configuration parameter \"{name}\""),
            )
            .into_df()),
        }
    }
}

impl fmt::Debug for CurrentSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurrentSetting")
    }
}

impl PartialEq for CurrentSetting {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.settings, &other.settings)
    }
}

impl Eq for CurrentSetting {}

impl std::hash::Hash for CurrentSetting {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "current_setting".hash(state);
    }
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let missing_ok = match args.args.get(1) {
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(b))) => b.unwrap_or(false),
            Some(ColumnarValue::Array(_)) => {
                return Err(SqlStateError::unsupported(
                    "current_setting's missing_ok must be a constant",
                )
                .into_df());
            }
            _ => false,
        };
        match &args.args[0] {
            ColumnarValue::Scalar(s) => {
                let value = match s {
                    ScalarValue::Utf8(Some(name)) => self.value(name, missing_ok)?,
                    _ => None,
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(value)))
            }
            ColumnarValue::Array(names) => {
                let names = names.as_string::<i32>();
                let mut out = StringBuilder::with_capacity(names.len(), names.len() * 8);
                for name in names.iter() {
                    match name {
                        Some(name) => out.append_option(self.value(name, missing_ok)?),
                        None => out.append_null(),
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_known_settings_and_refuses_others_unless_missing_is_ok() {
        let f = CurrentSetting::new(Arc::new(|name| {
            (name == "search_path").then(|| "\"$user\", public".to_string())
        }));
        assert_eq!(
            f.value("search_path", false).expect("known").as_deref(),
            Some("\"$user\", public")
        );
        assert_eq!(f.value("nope", true).expect("missing ok"), None);
        let err = f.value("nope", false).expect_err("unknown");
        assert!(
            err.to_string()
                .contains("unrecognized configuration parameter")
        );
    }
}
