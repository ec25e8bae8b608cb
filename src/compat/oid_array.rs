//! `quarry_oids(list)`: a list of object identifiers, described to clients
//! as PostgreSQL's `oid[]` rather than `int4[]`.
//!
//! Catalog oids are Arrow `Int32` columns tagged `pg.oid_alias = oid`
//! (datafusion-pg-catalog), which the wire describes as `oid`; an aggregate
//! over them (`array_agg(a.atttypid)`) keeps the numbers but drops the tag,
//! so the array went out as `int4[]`. asyncpg decodes `oid[]` without asking
//! the server but must look `int4[]` up with the very query whose result is
//! that array, and recursed. The catalog rewrite (`server::rewrite`) wraps
//! aggregates of oid columns in this function; it is callable directly too.
//!
//! ```sql
//! SELECT quarry_oids([23, 25]);  -- {23,25}, described as oid[]
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use arrow_pg::datatypes::PG_OID_ALIAS_KEY as OID_ALIAS_KEY;

/// The Arrow type of `oid[]`: a list of `Int32` items tagged as oids.
pub fn oid_list_type() -> DataType {
    DataType::List(Arc::new(
        Field::new_list_field(DataType::Int32, true).with_metadata(HashMap::from([(
            OID_ALIAS_KEY.to_string(),
            "oid".to_string(),
        )])),
    ))
}

/// Whether `data_type` is a list of oid-tagged items (`oid[]` on the wire).
pub fn is_oid_list(data_type: &DataType) -> bool {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) => item
            .metadata()
            .get(OID_ALIAS_KEY)
            .is_some_and(|k| k == "oid"),
        _ => false,
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct QuarryOids {
    signature: Signature,
}

impl QuarryOids {
    pub fn new() -> Self {
        QuarryOids {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl Default for QuarryOids {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for QuarryOids {
    fn name(&self) -> &str {
        "quarry_oids"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(oid_list_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let input = args.arg_fields[0].data_type();
        let integers = match input {
            DataType::List(item) | DataType::LargeList(item) => item.data_type().is_integer(),
            DataType::Null => true,
            _ => false,
        };
        if !integers {
            return plan_err!("quarry_oids(list): expected an array of integers, got {input}");
        }
        Ok(Arc::new(Field::new(self.name(), oid_list_type(), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        let plain = DataType::new_list(DataType::Int32, true);
        let lists = datafusion::arrow::compute::cast(&input, &plain)
            .or_else(|e| exec_err!("quarry_oids(list): {e}"))?;
        let lists = lists.as_list::<i32>();
        let DataType::List(item) = oid_list_type() else {
            unreachable!("oid_list_type is a list")
        };
        let tagged = ListArray::try_new(
            item,
            lists.offsets().clone(),
            lists.values().clone(),
            lists.nulls().cloned(),
        )?;
        // An array even for a constant: a list scalar is rebuilt without
        // its items' metadata.
        Ok(ColumnarValue::Array(Arc::new(tagged)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int32Array;
    use datafusion::arrow::datatypes::Int32Type;
    use datafusion::config::ConfigOptions;

    #[test]
    fn integers_become_tagged_oids_with_their_values_and_nulls() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(23), Some(25)]),
            None,
            Some(vec![None]),
        ]);
        let udf = QuarryOids::new();
        let field = udf
            .return_field_from_args(ReturnFieldArgs {
                arg_fields: &[Arc::new(Field::new("a", list.data_type().clone(), true))],
                scalar_arguments: &[None],
            })
            .expect("test value");
        assert!(is_oid_list(field.data_type()));
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(Arc::new(list))],
                arg_fields: vec![],
                number_rows: 3,
                return_field: field,
                config_options: Arc::new(ConfigOptions::default()),
            })
            .expect("test value")
            .into_array(3)
            .expect("test value");
        assert!(is_oid_list(out.data_type()));
        let out = out
            .as_any()
            .downcast_ref::<ListArray>()
            .expect("test value");
        let first = out.value(0);
        let first = first
            .as_any()
            .downcast_ref::<Int32Array>()
            .expect("test value");
        assert_eq!(first.values(), &[23, 25]);
        assert!(out.is_null(1));
        assert!(out.value(2).is_null(0));
        assert!(!is_oid_list(&DataType::List(Arc::new(
            Field::new_list_field(DataType::Int32, true)
        ))));
    }

    #[test]
    fn other_arguments_are_refused() {
        let err = QuarryOids::new()
            .return_field_from_args(ReturnFieldArgs {
                arg_fields: &[Arc::new(Field::new("a", DataType::Utf8, true))],
                scalar_arguments: &[None],
            })
            .expect_err("refused");
        assert!(err.to_string().contains("expected an array of integers"));
    }
}
