//! `__quarry_field(struct, name)`: one field of the struct a hidden scoring
//! scalar returns, for the table functions that split it into columns
//! (`ml_explain`, a classifier's `ml_predict`).
//!
//! Not DataFusion's `get_field`: the optimizer moves `get_field` over a
//! column towards the scan as a cheap expression (`ExtractLeafExpressions`),
//! which carried the scoring itself below the relation's sort, limit and
//! filter, scoring (or explaining) every row of the table for one row asked
//! for. This one keeps its place, so the relation is reduced first.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::scalar::ScalarValue;

use crate::error::SqlStateError;

const NAME: &str = "__quarry_field";

/// The function, to call as `udf().call(vec![struct_column, lit(name)])`.
pub fn udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(FieldOf::default()))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FieldOf {
    signature: Signature,
}

impl Default for FieldOf {
    fn default() -> Self {
        FieldOf {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

fn internal(what: impl std::fmt::Display) -> datafusion::error::DataFusionError {
    SqlStateError::internal(format!("{NAME}: {what}")).into_df()
}

impl ScalarUDFImpl for FieldOf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Err(internal("return_field_from_args is used"))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let name = match args.scalar_arguments.get(1).copied().flatten() {
            Some(ScalarValue::Utf8(Some(name))) => name,
            _ => return Err(internal("a field name")),
        };
        match args.arg_fields.first().map(|f| f.data_type()) {
            Some(DataType::Struct(fields)) => fields
                .find(name)
                .map(|(_, f)| f.clone())
                .ok_or_else(|| internal(format!("no field {name}"))),
            _ => Err(internal("a struct")),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))) = &args.args[1] else {
            return Err(internal("(struct, name)"));
        };
        // A struct computed once for a one-row input may come as a scalar.
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let array = args.args[0].to_array(args.number_rows.max(1))?;
        let column = array
            .as_struct_opt()
            .and_then(|s| s.column_by_name(name))
            .ok_or_else(|| internal(format!("no field {name}")))?;
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                column, 0,
            )?));
        }
        Ok(ColumnarValue::Array(column.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StructArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;

    #[test]
    fn takes_the_named_field_of_arrays_and_scalars() -> Result<()> {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let b: ArrayRef = Arc::new(Float64Array::from(vec![0.5, 0.25]));
        let fields = vec![
            Arc::new(Field::new("a", DataType::Int64, true)),
            Arc::new(Field::new("b", DataType::Float64, true)),
        ];
        let value: ArrayRef = Arc::new(StructArray::try_new(
            fields.clone().into(),
            vec![a, b.clone()],
            None,
        )?);
        let struct_field = Arc::new(Field::new("s", value.data_type().clone(), true));
        let name_field = Arc::new(Field::new("n", DataType::Utf8, false));
        let name = ScalarValue::Utf8(Some("b".into()));
        let f = FieldOf::default();
        let returned = f.return_field_from_args(ReturnFieldArgs {
            arg_fields: &[struct_field.clone(), name_field.clone()],
            scalar_arguments: &[None, Some(&name)],
        })?;
        assert_eq!(returned.data_type(), &DataType::Float64);
        let call = |value: ColumnarValue, rows| {
            f.invoke_with_args(ScalarFunctionArgs {
                args: vec![value, ColumnarValue::Scalar(name.clone())],
                arg_fields: vec![struct_field.clone(), name_field.clone()],
                number_rows: rows,
                return_field: returned.clone(),
                config_options: Arc::new(ConfigOptions::default()),
            })
        };
        let ColumnarValue::Array(out) = call(ColumnarValue::Array(value.clone()), 2)? else {
            panic!("an array for an array");
        };
        assert_eq!(&out, &b);
        let one = ScalarValue::try_from_array(&value, 1)?;
        let ColumnarValue::Scalar(out) = call(ColumnarValue::Scalar(one), 1)? else {
            panic!("a scalar for a scalar");
        };
        assert_eq!(out, ScalarValue::Float64(Some(0.25)));
        let missing = f.return_field_from_args(ReturnFieldArgs {
            arg_fields: &[struct_field, name_field],
            scalar_arguments: &[None, Some(&ScalarValue::Utf8(Some("c".into())))],
        });
        assert!(missing.is_err());
        Ok(())
    }
}
