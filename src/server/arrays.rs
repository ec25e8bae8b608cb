//! Multidimensional arrays: an Arrow list of lists written as one
//! PostgreSQL array of several dimensions (`{{1,2},{3,4}}`), as PostgreSQL
//! has no arrays of arrays. arrow-pg writes one dimension only.
//!
//! PostgreSQL's arrays are rectangular: every sub-array at one depth has
//! the same length and none is NULL, or the value is refused (`2202E`, as
//! PostgreSQL refuses `ARRAY[ARRAY[1,2], ARRAY[3]]`). An array with an
//! empty dimension is the empty array `{}`. The elements are booleans,
//! integers, floats (spelled as PostgreSQL spells them), numerics or text;
//! other element types are refused with `0A000`.

use arrow_pg::datatypes::into_pg_type;
use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pgwire::api::results::FieldFormat;
use pgwire::error::PgWireResult;

use super::floats::{f32_text_at, f64_text_at};
use crate::error::{SqlStateError, sqlstate, to_pgwire};

/// Whether `data_type` is a list whose items are lists.
pub fn is_nested(data_type: &DataType) -> bool {
    list_item(data_type).is_some_and(|item| list_item(item).is_some())
}

/// The item type of a list type.
fn list_item(data_type: &DataType) -> Option<&DataType> {
    match data_type {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

/// The innermost item type of a (nested) list type.
pub fn element_type(data_type: &DataType) -> &DataType {
    let mut t = data_type;
    while let Some(item) = list_item(t) {
        t = item;
    }
    t
}

/// `data_type` as the one-dimensional list PostgreSQL describes it as:
/// `int8[]` for a list of lists of `int8`.
pub fn described_as(data_type: &DataType) -> DataType {
    DataType::new_list(element_type(data_type).clone(), true)
}

/// The sub-array at `i` of the list array `lists`, or None where it is NULL.
fn sub_array(lists: &dyn Array, i: usize) -> Option<ArrayRef> {
    if lists.is_null(i) {
        return None;
    }
    match lists.data_type() {
        DataType::List(_) => Some(lists.as_list::<i32>().value(i)),
        DataType::LargeList(_) => Some(lists.as_list::<i64>().value(i)),
        DataType::FixedSizeList(..) => Some(lists.as_fixed_size_list().value(i)),
        _ => None,
    }
}

fn mismatched() -> pgwire::error::PgWireError {
    to_pgwire(SqlStateError::new(
        sqlstate::ARRAY_SUBSCRIPT_ERROR,
        "multidimensional arrays must have array expressions with matching dimensions",
    ))
}

/// The lengths of each dimension of `top`, checked rectangular, or an empty
/// list for an array with an empty dimension.
fn dimensions(top: &ArrayRef) -> PgWireResult<Vec<usize>> {
    let mut dims = vec![top.len()];
    let mut level = vec![top.clone()];
    while list_item(level[0].data_type()).is_some() {
        let mut next = Vec::new();
        let mut len = None;
        for lists in &level {
            for i in 0..lists.len() {
                let sub = sub_array(lists.as_ref(), i).ok_or_else(mismatched)?;
                if *len.get_or_insert(sub.len()) != sub.len() {
                    return Err(mismatched());
                }
                next.push(sub);
            }
        }
        let Some(len) = len else {
            return Ok(Vec::new());
        };
        dims.push(len);
        level = next;
    }
    if dims.contains(&0) {
        return Ok(Vec::new());
    }
    Ok(dims)
}

/// The innermost values of `top`, in order (rectangular, see [`dimensions`]).
fn leaves(top: &ArrayRef) -> Vec<ArrayRef> {
    let mut level = vec![top.clone()];
    while level
        .first()
        .is_some_and(|l| list_item(l.data_type()).is_some())
    {
        level = level
            .iter()
            .flat_map(|lists| (0..lists.len()).filter_map(|i| sub_array(lists.as_ref(), i)))
            .collect();
    }
    level
}

/// Writes the nested list at `row` of `array` (its length, then its bytes)
/// in `format`, floats with `digits` extra digits.
pub fn write(
    buf: &mut BytesMut,
    array: &ArrayRef,
    row: usize,
    format: FieldFormat,
    digits: i8,
) -> PgWireResult<()> {
    let Some(top) = sub_array(array.as_ref(), row) else {
        buf.put_i32(-1);
        return Ok(());
    };
    let dims = dimensions(&top)?;
    let values = if dims.is_empty() {
        Vec::new()
    } else {
        leaves(&top)
    };
    let at = buf.len();
    buf.put_i32(0);
    match format {
        FieldFormat::Text => write_text(buf, &dims, &values, digits)?,
        FieldFormat::Binary => write_binary(buf, element_type(array.data_type()), &dims, &values)?,
    }
    let len = i32::try_from(buf.len() - at - 4).map_err(|_| {
        to_pgwire(SqlStateError::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            "array over 2 GiB",
        ))
    })?;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn unsupported(data_type: &DataType) -> pgwire::error::PgWireError {
    to_pgwire(SqlStateError::new(
        sqlstate::FEATURE_NOT_SUPPORTED,
        format!(
            "multidimensional arrays of {} cannot be sent yet",
            crate::compat::pg_typeof::type_name(data_type)
        ),
    ))
}

/// PostgreSQL's text form: braces per dimension, elements quoted where
/// `array_out` quotes them.
fn write_text(
    buf: &mut BytesMut,
    dims: &[usize],
    values: &[ArrayRef],
    digits: i8,
) -> PgWireResult<()> {
    if dims.is_empty() {
        buf.put_slice(b"{}");
        return Ok(());
    }
    let texts = element_texts(values, digits)?;
    // Element k opens a brace for each dimension whose block starts at k and
    // closes one for each whose block ends after it.
    let mut spans = Vec::with_capacity(dims.len());
    let mut span = 1;
    for d in dims.iter().rev() {
        span *= d;
        spans.push(span);
    }
    spans.reverse();
    for (k, text) in texts.iter().enumerate() {
        let opens = spans.iter().filter(|s| k % **s == 0).count();
        if k > 0 {
            buf.put_u8(b',');
        }
        buf.put_bytes(b'{', opens);
        match text {
            Some(t) => buf.put_slice(t.as_bytes()),
            None => buf.put_slice(b"NULL"),
        }
        let closes = spans.iter().filter(|s| (k + 1) % **s == 0).count();
        buf.put_bytes(b'}', closes);
    }
    Ok(())
}

/// Each innermost value as `array_out` writes it, None for NULL.
fn element_texts(values: &[ArrayRef], digits: i8) -> PgWireResult<Vec<Option<String>>> {
    let mut out = Vec::new();
    for v in values {
        match v.data_type() {
            DataType::Float32 => {
                let v = v.as_primitive::<Float32Type>();
                out.extend(
                    (0..v.len())
                        .map(|i| (!v.is_null(i)).then(|| owned(f32_text_at(v.value(i), digits)))),
                );
            }
            DataType::Float64 => {
                let v = v.as_primitive::<Float64Type>();
                out.extend(
                    (0..v.len())
                        .map(|i| (!v.is_null(i)).then(|| owned(f64_text_at(v.value(i), digits)))),
                );
            }
            DataType::Boolean => {
                let v = v.as_boolean();
                out.extend((0..v.len()).map(|i| {
                    (!v.is_null(i)).then(|| if v.value(i) { "t" } else { "f" }.to_string())
                }));
            }
            t if t.is_integer() || matches!(t, DataType::Decimal128(..)) => {
                let f = ArrayFormatter::try_new(v.as_ref(), &FormatOptions::default())
                    .map_err(|_| unsupported(t))?;
                out.extend((0..v.len()).map(|i| (!v.is_null(i)).then(|| f.value(i).to_string())));
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let f = ArrayFormatter::try_new(v.as_ref(), &FormatOptions::default())
                    .map_err(|_| unsupported(v.data_type()))?;
                out.extend(
                    (0..v.len()).map(|i| (!v.is_null(i)).then(|| quoted(&f.value(i).to_string()))),
                );
            }
            DataType::Null => out.extend((0..v.len()).map(|_| None)),
            t => return Err(unsupported(t)),
        }
    }
    Ok(out)
}

fn owned(text: super::short_text::ShortText) -> String {
    String::from_utf8_lossy(text.as_bytes()).into_owned()
}

/// `s` as an array element: in double quotes, with `"` and `\` escaped,
/// when it is empty, `NULL` in any case, or holds a brace, quote,
/// backslash, comma or white space.
fn quoted(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.eq_ignore_ascii_case("null")
        && !s
            .chars()
            .any(|c| matches!(c, '{' | '}' | '"' | '\\' | ',') || c.is_ascii_whitespace());
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// PostgreSQL's binary form (`array_send`): dimensions, a has-NULLs flag,
/// the element type, each dimension's length and lower bound (1), then
/// each element's length and bytes.
fn write_binary(
    buf: &mut BytesMut,
    element: &DataType,
    dims: &[usize],
    values: &[ArrayRef],
) -> PgWireResult<()> {
    let element_oid = match into_pg_type(&DataType::new_list(element.clone(), true))
        .ok()
        .and_then(|t| match t.kind() {
            postgres_types::Kind::Array(item) => Some(item.oid()),
            _ => None,
        }) {
        Some(oid) => oid,
        None => return Err(unsupported(element)),
    };
    buf.put_i32(dims.len() as i32);
    buf.put_i32(i32::from(values.iter().any(|v| v.null_count() > 0)));
    buf.put_u32(element_oid);
    for d in dims {
        buf.put_i32(*d as i32);
        buf.put_i32(1);
    }
    if dims.is_empty() {
        return Ok(());
    }
    for v in values {
        for i in 0..v.len() {
            if v.is_null(i) {
                buf.put_i32(-1);
                continue;
            }
            match v.data_type() {
                DataType::Boolean => {
                    buf.put_i32(1);
                    buf.put_u8(u8::from(v.as_boolean().value(i)));
                }
                DataType::Int16 => {
                    buf.put_i32(2);
                    buf.put_i16(
                        v.as_primitive::<datafusion::arrow::datatypes::Int16Type>()
                            .value(i),
                    );
                }
                DataType::Int32 => {
                    buf.put_i32(4);
                    buf.put_i32(
                        v.as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                            .value(i),
                    );
                }
                DataType::Int64 => {
                    buf.put_i32(8);
                    buf.put_i64(
                        v.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                            .value(i),
                    );
                }
                DataType::Float32 => {
                    buf.put_i32(4);
                    buf.put_f32(v.as_primitive::<Float32Type>().value(i));
                }
                DataType::Float64 => {
                    buf.put_i32(8);
                    buf.put_f64(v.as_primitive::<Float64Type>().value(i));
                }
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    let f = ArrayFormatter::try_new(v.as_ref(), &FormatOptions::default())
                        .map_err(|_| unsupported(v.data_type()))?;
                    let s = f.value(i).to_string();
                    buf.put_i32(s.len() as i32);
                    buf.put_slice(s.as_bytes());
                }
                t => return Err(unsupported(t)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Builder, ListBuilder, StringBuilder};
    use pgwire::api::Type;
    use std::sync::Arc;

    /// Rows of sub-arrays of values, each level nullable.
    type Rows = [Option<Vec<Option<Vec<Option<i64>>>>>];

    fn matrix(rows: &Rows) -> ArrayRef {
        let mut b = ListBuilder::new(ListBuilder::new(Int64Builder::new()));
        for row in rows {
            match row {
                None => b.append_null(),
                Some(subs) => {
                    for sub in subs {
                        match sub {
                            None => b.values().append_null(),
                            Some(xs) => {
                                for x in xs {
                                    b.values().values().append_option(*x);
                                }
                                b.values().append(true);
                            }
                        }
                    }
                    b.append(true);
                }
            }
        }
        Arc::new(b.finish())
    }

    fn text(array: &ArrayRef, row: usize) -> PgWireResult<String> {
        let mut buf = BytesMut::new();
        write(&mut buf, array, row, FieldFormat::Text, 1)?;
        Ok(String::from_utf8(buf[4..].to_vec()).expect("test value"))
    }

    #[test]
    fn lists_of_lists_read_as_postgresql_writes_them() {
        let a = matrix(&[
            Some(vec![
                Some(vec![Some(1), Some(2)]),
                Some(vec![Some(3), None]),
            ]),
            Some(vec![Some(vec![]), Some(vec![])]),
            Some(vec![]),
            None,
            Some(vec![Some(vec![Some(1)]), Some(vec![Some(2), Some(3)])]),
            Some(vec![Some(vec![Some(1)]), None]),
        ]);
        assert!(is_nested(a.data_type()));
        assert_eq!(
            into_pg_type(&described_as(a.data_type())).expect("test value"),
            Type::INT8_ARRAY
        );
        assert_eq!(text(&a, 0).expect("test value"), "{{1,2},{3,NULL}}");
        assert_eq!(text(&a, 1).expect("test value"), "{}");
        assert_eq!(text(&a, 2).expect("test value"), "{}");
        let mut buf = BytesMut::new();
        write(&mut buf, &a, 3, FieldFormat::Text, 1).expect("test value");
        assert_eq!(&buf[..], &(-1i32).to_be_bytes());
        // PostgreSQL refuses ragged and NULL sub-arrays.
        assert!(text(&a, 4).is_err());
        assert!(text(&a, 5).is_err());
    }

    #[test]
    fn three_dimensions_and_quoted_text() {
        let mut b = ListBuilder::new(ListBuilder::new(ListBuilder::new(StringBuilder::new())));
        for block in [["a", "b c"], ["", "null"]] {
            for s in block {
                b.values().values().values().append_value(s);
                b.values().values().append(true);
            }
            b.values().append(true);
        }
        b.append(true);
        let a: ArrayRef = Arc::new(b.finish());
        assert_eq!(
            text(&a, 0).expect("test value"),
            r#"{{{a},{"b c"}},{{""},{"null"}}}"#
        );
        assert_eq!(quoted(r#"x"y\z"#), r#""x\"y\\z""#);
    }

    #[test]
    fn binary_is_array_send() {
        let a = matrix(&[Some(vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![Some(3), None]),
        ])]);
        let mut buf = BytesMut::new();
        write(&mut buf, &a, 0, FieldFormat::Binary, 1).expect("test value");
        let mut want = BytesMut::new();
        want.put_i32(2); // dimensions
        want.put_i32(1); // has NULLs
        want.put_u32(20); // int8
        for d in [2, 2] {
            want.put_i32(d);
            want.put_i32(1);
        }
        for v in [Some(1i64), Some(2), Some(3), None] {
            match v {
                Some(v) => {
                    want.put_i32(8);
                    want.put_i64(v);
                }
                None => want.put_i32(-1),
            }
        }
        assert_eq!(&buf[4..], &want[..]);
        assert_eq!(
            i32::from_be_bytes(buf[..4].try_into().expect("test value")) as usize,
            want.len()
        );
    }
}
