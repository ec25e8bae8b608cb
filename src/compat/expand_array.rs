//! `quarry_expandarray(list)`: each element of a list with its 1-based
//! position, as a list of `{x, n}` structs. The catalog rewrite
//! (`server::rewrite`) reads PostgreSQL's set-returning
//! `information_schema._pg_expandarray(a)` (pgJDBC's `getPrimaryKeys`
//! numbers key columns with it) as `unnest(quarry_expandarray(a))`.
//!
//! ```sql
//! SELECT quarry_expandarray([5, 7]);  -- [{x: 5, n: 1}, {x: 7, n: 2}]
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int32Array, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The `{x, n}` struct of an element of type `item`.
fn pair_fields(item: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("x", item.clone(), true),
        Field::new("n", DataType::Int32, false),
    ])
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ExpandArray {
    signature: Signature,
}

impl ExpandArray {
    pub fn new() -> Self {
        ExpandArray {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl Default for ExpandArray {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        "quarry_expandarray"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match &arg_types[0] {
            DataType::List(item) | DataType::LargeList(item) => Ok(DataType::new_list(
                DataType::Struct(pair_fields(item.data_type())),
                true,
            )),
            other => plan_err!("quarry_expandarray(array): expected an array, got {other}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        let lists: ListArray = match input.data_type() {
            DataType::List(_) => input.as_list::<i32>().clone(),
            DataType::LargeList(item) => {
                let plain = DataType::List(item.clone());
                datafusion::arrow::compute::cast(&input, &plain)?
                    .as_list::<i32>()
                    .clone()
            }
            other => return exec_err!("quarry_expandarray(array): expected an array, got {other}"),
        };
        // Positions restart at 1 in each row's list.
        let offsets = lists.value_offsets();
        let start = offsets[0];
        let mut positions = Vec::with_capacity((offsets[lists.len()] - start) as usize);
        for w in offsets.windows(2) {
            positions.extend(1..=(w[1] - w[0]));
        }
        let values = lists.values().slice(start as usize, positions.len());
        let pairs = StructArray::try_new(
            pair_fields(values.data_type()),
            vec![values, Arc::new(Int32Array::from(positions))],
            None,
        )?;
        let rebased =
            OffsetBuffer::new(offsets.iter().map(|o| o - start).collect::<Vec<_>>().into());
        let out = ListArray::try_new(
            Arc::new(Field::new_list_field(pairs.data_type().clone(), true)),
            rebased,
            Arc::new(pairs),
            lists.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::config::ConfigOptions;

    #[test]
    fn elements_are_numbered_from_one_in_each_list() {
        let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(5), Some(7)]),
            None,
            Some(vec![Some(9)]),
        ]);
        let udf = ExpandArray::new();
        let ty = udf
            .return_type(&[list.data_type().clone()])
            .expect("a list");
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(Arc::new(list.slice(0, 3)))],
                arg_fields: vec![],
                number_rows: 3,
                return_field: Arc::new(Field::new("e", ty.clone(), true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .expect("expands")
            .into_array(3)
            .expect("an array");
        assert_eq!(out.data_type(), &ty);
        let out = out.as_list::<i32>();
        assert!(out.is_null(1));
        let first = out.value(0);
        let first = first.as_struct();
        assert_eq!(
            first.column(0).as_primitive::<Int64Type>().values(),
            &[5, 7]
        );
        assert_eq!(
            first
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                .values(),
            &[1, 2]
        );
        let third = out.value(2);
        assert_eq!(
            third
                .as_struct()
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                .values(),
            &[1]
        );
        assert!(udf.return_type(&[DataType::Utf8]).is_err());
    }
}
