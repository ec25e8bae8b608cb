//! `COPY table | (query) TO STDOUT` in text and CSV formats (psql's `\copy ... to`).
//!
//! Values use PostgreSQL's text representation, written by the same `BatchRows` as
//! query results, so `COPY` and `SELECT` print a value identically. One CopyData
//! message per row, as PostgreSQL sends them.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use datafusion::execution::SendableRecordBatchStream;
use futures::{StreamExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyResponse, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

use super::copy::{CopyFormat, CopySpec};
use super::rows::BatchRows;
use super::stream::{Guarded, fields};
use crate::error::{classify, to_pgwire};
use crate::session::QueryControl;

/// Builds the CopyOut response for a stream of batches.
pub fn copy_out(
    batches: SendableRecordBatchStream,
    spec: CopySpec,
    options: Arc<FormatOptions>,
    control: QueryControl,
) -> PgWireResult<CopyResponse> {
    let schema = batches.schema();
    let fields: Arc<Vec<FieldInfo>> = fields(&schema, &Format::UnifiedText, Some(options))?;
    let columns = fields.len();
    let spec = Arc::new(spec);
    let header = (spec.format == CopyFormat::Csv && spec.header).then(|| {
        let mut out = BytesMut::new();
        for (i, field) in fields.iter().enumerate() {
            put_value(&mut out, i, Some(field.name().as_bytes()), &spec);
        }
        out.put_u8(b'\n');
        Ok(CopyData::new(out.freeze()))
    });
    let row_fields = fields.clone();
    let rows = batches
        .map(move |batch| {
            let lines = match batch {
                Ok(batch) => BatchRows::new(batch, row_fields.clone()).map(|rows| Lines {
                    rows,
                    spec: spec.clone(),
                    buf: BytesMut::new(),
                }),
                Err(e) => Err(to_pgwire(classify(&e))),
            };
            match lines {
                Ok(lines) => stream::iter(lines).left_stream(),
                Err(e) => stream::once(futures::future::ready(Err(e))).right_stream(),
            }
        })
        .flatten();
    let all = stream::iter(header).chain(rows);
    Ok(CopyResponse::new(
        0,
        columns,
        Guarded::new(Box::pin(all), control),
    ))
}

/// The COPY lines of one batch, one CopyData message each (as PostgreSQL
/// sends them), split off one buffer so a batch makes a handful of
/// allocations rather than one per line.
struct Lines {
    rows: BatchRows,
    spec: Arc<CopySpec>,
    buf: BytesMut,
}

impl Iterator for Lines {
    type Item = PgWireResult<CopyData>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = match self.rows.next()? {
            Ok(row) => row,
            Err(e) => return Some(Err(e)),
        };
        if self.buf.capacity() - self.buf.len() < row.data.len() + 64 {
            self.buf
                .reserve((row.data.len() * 64).clamp(4096, 64 * 1024));
        }
        for (i, value) in fields_of(&row).enumerate() {
            put_value(&mut self.buf, i, value, &self.spec);
        }
        self.buf.put_u8(b'\n');
        Some(Ok(CopyData::new(self.buf.split().freeze())))
    }
}

/// The values of an encoded text data row (None for NULL): its fields are
/// each a length, -1 for NULL, and that many bytes.
fn fields_of(row: &DataRow) -> impl Iterator<Item = Option<&[u8]>> {
    let mut rest = &row.data[..];
    (0..row.field_count).map_while(move |_| {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = i32::from_be_bytes(*len);
        let Ok(len) = usize::try_from(len) else {
            rest = tail;
            return Some(None);
        };
        let (value, tail) = tail.split_at_checked(len)?;
        rest = tail;
        Some(Some(value))
    })
}

/// Writes the `i`th value of a line: its delimiter, then the value escaped
/// for the format, or the NULL marker.
fn put_value(out: &mut BytesMut, i: usize, value: Option<&[u8]>, spec: &CopySpec) {
    if i > 0 {
        out.put_u8(spec.delimiter);
    }
    match (spec.format, value) {
        (_, None) => out.put_slice(spec.null.as_bytes()),
        (CopyFormat::Text, Some(v)) => escape_text(v, spec.delimiter, out),
        (CopyFormat::Csv, Some(v)) => quote_csv(v, spec, out),
        // Refused before a CopyOut starts (`commands::copy`).
        (CopyFormat::Binary, Some(v)) => escape_text(v, spec.delimiter, out),
    }
}

/// Text format, as PostgreSQL's `CopyAttributeOutText`: backslash and the
/// delimiter get a backslash before them, and backspace, form feed,
/// newline, carriage return, tab and vertical tab are written as `\b`,
/// `\f`, `\n`, `\r`, `\t`, `\v`; the runs between are copied whole.
fn escape_text(value: &[u8], delimiter: u8, out: &mut BytesMut) {
    let mut rest = value;
    while let Some(at) = rest
        .iter()
        .position(|&b| matches!(b, b'\\' | 8 | 9 | 10 | 11 | 12 | 13) || b == delimiter)
    {
        out.put_slice(&rest[..at]);
        out.put_u8(b'\\');
        out.put_u8(match rest[at] {
            8 => b'b',
            9 => b't',
            10 => b'n',
            11 => b'v',
            12 => b'f',
            13 => b'r',
            b => b,
        });
        rest = &rest[at + 1..];
    }
    out.put_slice(rest);
}

fn quote_csv(value: &[u8], spec: &CopySpec, out: &mut BytesMut) {
    // An empty string is quoted so it reads back as '' rather than NULL.
    let needs = value.is_empty()
        || value == spec.null.as_bytes()
        || value
            .iter()
            .any(|&b| b == spec.delimiter || b == spec.quote || b == b'\n' || b == b'\r');
    if !needs {
        out.put_slice(value);
        return;
    }
    out.put_u8(spec.quote);
    for &b in value {
        if b == spec.quote || b == spec.escape {
            out.put_u8(spec.escape);
        }
        out.put_u8(b);
    }
    out.put_u8(spec.quote);
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::ast::{CopyOption, Ident};

    fn spec(csv: bool) -> CopySpec {
        let options = if csv {
            vec![CopyOption::Format(Ident::new("csv"))]
        } else {
            vec![]
        };
        CopySpec::from_options(&options, &[]).expect("spec")
    }

    fn line(values: &[Option<&[u8]>], spec: &CopySpec) -> Vec<u8> {
        let mut out = BytesMut::new();
        for (i, value) in values.iter().enumerate() {
            put_value(&mut out, i, *value, spec);
        }
        out.to_vec()
    }

    #[test]
    fn text_format_escapes_and_marks_null() {
        let out = line(&[Some(b"a\tb\\c"), None, Some(b"")], &spec(false));
        assert_eq!(&out[..], b"a\\tb\\\\c\t\\N\t");
        let out = line(&[Some(b"\\x\ny\rz\t"), Some(b"plain")], &spec(false));
        assert_eq!(&out[..], b"\\\\x\\ny\\rz\\t\tplain");
    }

    #[test]
    fn text_format_escapes_another_delimiter_and_control_characters() {
        let mut pipe = spec(false);
        pipe.delimiter = b'|';
        let out = line(&[Some(b"a|b\tc\x08\x0b\x0c"), Some(b"d")], &pipe);
        assert_eq!(&out[..], b"a\\|b\\tc\\b\\v\\f|d");
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        let out = line(
            &[
                Some(b"plain"),
                Some(b"a,b"),
                Some(b"say \"hi\""),
                Some(b""),
                None,
            ],
            &spec(true),
        );
        assert_eq!(&out[..], b"plain,\"a,b\",\"say \"\"hi\"\"\",\"\",");
    }

    #[test]
    fn fields_of_an_encoded_row() {
        let mut data = BytesMut::new();
        for value in [Some(&b"ab"[..]), None, Some(b"")] {
            match value {
                Some(v) => {
                    data.put_i32(v.len() as i32);
                    data.put_slice(v);
                }
                None => data.put_i32(-1),
            }
        }
        let row = DataRow::new(data, 3);
        let got: Vec<_> = fields_of(&row).collect();
        assert_eq!(got, vec![Some(&b"ab"[..]), None, Some(&b""[..])]);
    }
}
