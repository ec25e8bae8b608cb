//! Sequences: `CREATE SEQUENCE`, `nextval`, `setval`, and the `SERIAL`,
//! `BIGSERIAL` and identity columns ORMs and `pgbench -i` declare, which are
//! a column with `DEFAULT nextval('<table>_<column>_seq')`, as in
//! PostgreSQL.
//!
//! A sequence's last value lives in the store; `nextval` over a batch of n
//! rows takes n values in one store transaction (one SQLite write per
//! statement, not per row). As in PostgreSQL, values are never handed out
//! twice and never given back: a rolled-back insert leaves a gap.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use super::store::Store;
use crate::error::{Result, SqlStateError, sqlstate};

/// The sequence a `SERIAL` column `column` of table `table` gets.
pub fn serial_sequence(table: &str, column: &str) -> String {
    format!("{table}_{column}_seq")
}

/// A sequence name as `nextval` takes it (`'name'` or `'schema.name'`),
/// resolved against `default_schema`.
pub fn resolve(text: &str, default_schema: &str) -> (String, String) {
    let unquote = |s: &str| {
        let s = s.trim();
        match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\"\"", "\""),
            None => s.to_lowercase(),
        }
    };
    match text.split_once('.') {
        Some((schema, name)) => (unquote(schema), unquote(name)),
        None => (default_schema.to_string(), unquote(text)),
    }
}

/// The sequences the `nextval('...')` defaults among `defaults` name.
pub fn named_by_defaults<'e>(defaults: impl IntoIterator<Item = &'e Expr>) -> Vec<String> {
    defaults
        .into_iter()
        .filter_map(|e| match e {
            Expr::ScalarFunction(f) if f.name() == "nextval" => match f.args.as_slice() {
                [Expr::Literal(ScalarValue::Utf8(Some(name)), _)] => Some(name.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn missing(schema: &str, name: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::UNDEFINED_TABLE,
        format!("relation \"{schema}.{name}\" does not exist"),
    )
}

/// `nextval(sequence)`: the sequence's next value, one per row.
#[derive(Debug)]
pub struct NextVal {
    store: Arc<Store>,
    signature: Signature,
}

impl NextVal {
    pub fn new(store: Arc<Store>) -> Self {
        NextVal {
            store,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Volatile),
        }
    }
}

impl PartialEq for NextVal {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

impl Eq for NextVal {}

impl std::hash::Hash for NextVal {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "nextval".hash(state);
    }
}

impl ScalarUDFImpl for NextVal {
    fn name(&self) -> &str {
        "nextval"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let default_schema = args.config_options.catalog.default_schema.clone();
        let rows = args.number_rows;
        let name = match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))) => name.clone(),
            ColumnarValue::Scalar(_) => return Ok(ColumnarValue::Scalar(ScalarValue::Int64(None))),
            ColumnarValue::Array(names) => {
                // One sequence per call is what defaults and queries use.
                let names = names.as_string::<i32>();
                let first = (0..names.len()).find(|&i| names.is_valid(i));
                match first {
                    Some(i) if names.iter().flatten().all(|n| n == names.value(i)) => {
                        names.value(i).to_string()
                    }
                    Some(_) => {
                        return Err(SqlStateError::unsupported(
                            "nextval over several sequences in one call is not supported",
                        )
                        .into_df());
                    }
                    None => return Ok(ColumnarValue::Scalar(ScalarValue::Int64(None))),
                }
            }
        };
        let (schema, sequence) = resolve(&name, &default_schema);
        let (first, step) = self
            .store
            .next_values(&schema, &sequence, rows as u64)
            .map_err(SqlStateError::into_df)?
            .ok_or_else(|| missing(&schema, &sequence).into_df())?;
        let values = Int64Array::from_iter_values((0..rows as i64).map(|i| first + i * step));
        Ok(ColumnarValue::Array(Arc::new(values)))
    }
}

/// `setval(sequence, value [, is_called])`: sets where the sequence is;
/// returns `value`.
#[derive(Debug)]
pub struct SetVal {
    store: Arc<Store>,
    signature: Signature,
}

impl SetVal {
    pub fn new(store: Arc<Store>) -> Self {
        SetVal {
            store,
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64, DataType::Boolean]),
                ],
                Volatility::Volatile,
            ),
        }
    }
}

impl PartialEq for SetVal {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

impl Eq for SetVal {}

impl std::hash::Hash for SetVal {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "setval".hash(state);
    }
}

impl ScalarUDFImpl for SetVal {
    fn name(&self) -> &str {
        "setval"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let constant = |i: usize| match args.args.get(i) {
            Some(ColumnarValue::Scalar(s)) => Ok(Some(s.clone())),
            Some(ColumnarValue::Array(_)) => Err(SqlStateError::unsupported(
                "setval takes constants: setval('sequence', value [, is_called])",
            )
            .into_df()),
            None => Ok(None),
        };
        let (Some(ScalarValue::Utf8(Some(name))), Some(ScalarValue::Int64(Some(value)))) =
            (constant(0)?, constant(1)?)
        else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Int64(None)));
        };
        let called = match constant(2)? {
            Some(ScalarValue::Boolean(Some(b))) => b,
            _ => true,
        };
        let (schema, sequence) = resolve(&name, &args.config_options.catalog.default_schema);
        if !self
            .store
            .set_sequence(&schema, &sequence, value, called)
            .map_err(SqlStateError::into_df)?
        {
            return Err(missing(&schema, &sequence).into_df());
        }
        Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(value))))
    }
}

/// Creates each sequence in `names` (as `nextval` names them) that does not
/// exist yet: those of the `SERIAL` columns of a table being created.
pub fn create_missing(store: &Store, names: &[String], default_schema: &str) -> Result<()> {
    for name in names {
        let (schema, sequence) = resolve(name, default_schema);
        store.create_sequence(&schema, &sequence, 1, 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_as_regclass_text() {
        assert_eq!(
            resolve("t_id_seq", "public"),
            ("public".into(), "t_id_seq".into())
        );
        assert_eq!(resolve("S.Seq", "public"), ("s".into(), "seq".into()));
        assert_eq!(
            resolve("\"S\".\"Seq\"", "public"),
            ("S".into(), "Seq".into())
        );
    }

    #[test]
    fn a_batch_takes_consecutive_values_and_never_repeats() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s.db")).expect("store");
        assert!(store.create_sequence("public", "s", 10, 5).expect("create"));
        assert!(!store.create_sequence("public", "s", 1, 1).expect("again"));
        assert_eq!(
            store.next_values("public", "s", 3).expect("next"),
            Some((10, 5))
        );
        assert_eq!(
            store.next_values("public", "s", 1).expect("next"),
            Some((25, 5))
        );
        assert!(store.set_sequence("public", "s", 100, true).expect("set"));
        assert_eq!(
            store.next_values("public", "s", 1).expect("next"),
            Some((105, 5))
        );
        assert!(store.set_sequence("public", "s", 7, false).expect("set"));
        assert_eq!(
            store.next_values("public", "s", 1).expect("next"),
            Some((7, 5))
        );
        assert_eq!(
            store.next_values("public", "nope", 1).expect("missing"),
            None
        );
    }
}
