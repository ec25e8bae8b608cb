//! `COPY table | (query) TO STDOUT` in text and CSV formats (psql's `\copy ... to`).
//!
//! Values use PostgreSQL's text representation, written by the same `BatchRows` as
//! query results, so `COPY` and `SELECT` print a value identically. One CopyData
//! message per row, as PostgreSQL sends them.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
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
    let header = (spec.format == CopyFormat::Csv && spec.header).then(|| {
        let names: Vec<Option<&[u8]>> = fields.iter().map(|f| Some(f.name().as_bytes())).collect();
        Ok(CopyData::new(line(&names, &spec)))
    });
    let row_fields = fields.clone();
    let rows = batches
        .map(move |batch| {
            let rows: Vec<PgWireResult<CopyData>> = match batch {
                Ok(batch) => match BatchRows::new(batch, row_fields.clone()) {
                    Ok(rows) => rows
                        .map(|row| row.map(|r| CopyData::new(row_line(&r, &spec))))
                        .collect(),
                    Err(e) => vec![Err(e)],
                },
                Err(e) => vec![Err(to_pgwire(classify(&e)))],
            };
            stream::iter(rows)
        })
        .flatten();
    let all = stream::iter(header).chain(rows);
    Ok(CopyResponse::new(
        0,
        columns,
        Guarded::new(Box::pin(all), control),
    ))
}

/// Splits an encoded data row back into its fields (None for NULL).
fn row_line(row: &DataRow, spec: &CopySpec) -> Bytes {
    let data = &row.data[..];
    let mut values: Vec<Option<&[u8]>> = Vec::with_capacity(row.field_count.max(0) as usize);
    let mut at = 0usize;
    for _ in 0..row.field_count {
        if at + 4 > data.len() {
            break;
        }
        let len = i32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        at += 4;
        if len < 0 {
            values.push(None);
        } else {
            let end = (at + len as usize).min(data.len());
            values.push(Some(&data[at..end]));
            at = end;
        }
    }
    line(&values, spec)
}

fn line(values: &[Option<&[u8]>], spec: &CopySpec) -> Bytes {
    let mut out = BytesMut::with_capacity(
        values
            .iter()
            .map(|v| v.map_or(2, |b| b.len() + 1))
            .sum::<usize>()
            + 1,
    );
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.put_u8(spec.delimiter);
        }
        match (spec.format, value) {
            (_, None) => out.put_slice(spec.null.as_bytes()),
            (CopyFormat::Text, Some(v)) => escape_text(v, spec.delimiter, &mut out),
            (CopyFormat::Csv, Some(v)) => quote_csv(v, spec, &mut out),
        }
    }
    out.put_u8(b'\n');
    out.freeze()
}

fn escape_text(value: &[u8], delimiter: u8, out: &mut BytesMut) {
    for &b in value {
        match b {
            b'\\' => out.put_slice(b"\\\\"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' if delimiter == b'\t' => out.put_slice(b"\\t"),
            _ if b == delimiter => {
                out.put_u8(b'\\');
                out.put_u8(b);
            }
            _ => out.put_u8(b),
        }
    }
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

    #[test]
    fn text_format_escapes_and_marks_null() {
        let out = line(&[Some(b"a\tb\\c"), None, Some(b"")], &spec(false));
        assert_eq!(&out[..], b"a\\tb\\\\c\t\\N\t\n");
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
        assert_eq!(&out[..], b"plain,\"a,b\",\"say \"\"hi\"\"\",\"\",\n");
    }
}
