//! `COPY table [(columns)] FROM STDIN` in text, CSV and binary formats.
//!
//! Rows are parsed as they arrive and written to new Parquet files; the table
//! gains them only when `CopyDone` arrives and every row was good. A bad row
//! stops the copy with its line number, and nothing is committed.
//!
//! | format | field separator | NULL            | quoting / escapes                 |
//! |--------|-----------------|-----------------|-----------------------------------|
//! | text   | tab             | `\N`            | backslash escapes (`\t`, `\n`, …) |
//! | csv    | `,`             | unquoted empty  | `"` quotes, `""` inside quotes    |
//!
//! Binary (`FORMAT binary`: asyncpg's `copy_records_to_table`, pgx's
//! `CopyFrom`, psycopg's binary copy) is PostgreSQL's: a signature, then per
//! row a field count and each field's length and value in the type's binary
//! send format, read as the target column's type (`binary_value`). Each
//! value becomes the text the other formats would have sent, so one
//! conversion, with its errors, serves all three.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption, Ident};

use crate::catalog::table::TableData;
use crate::catalog::writer::FileSetWriter;
use crate::error::{Result, SqlStateError, sqlstate};

/// Rows parsed before they are converted and written as one batch.
const BATCH_ROWS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    Binary,
}

/// The options of one `COPY ... FROM STDIN`.
#[derive(Debug, Clone)]
pub struct CopySpec {
    pub format: CopyFormat,
    pub delimiter: u8,
    pub null: String,
    pub header: bool,
    pub quote: u8,
    pub escape: u8,
}

impl CopySpec {
    /// Reads both the modern `WITH (FORMAT csv, HEADER)` and the legacy
    /// `CSV HEADER` spellings (psql's `\copy` sends the latter).
    pub fn from_options(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<Self> {
        let mut format = CopyFormat::Text;
        let mut delimiter = None;
        let mut null = None;
        let mut header = false;
        let mut quote = None;
        let mut escape = None;
        for option in options {
            match option {
                CopyOption::Format(Ident { value, .. }) => {
                    format = match value.to_ascii_lowercase().as_str() {
                        "text" => CopyFormat::Text,
                        "csv" => CopyFormat::Csv,
                        "binary" => CopyFormat::Binary,
                        other => {
                            return Err(SqlStateError::bad_argument(format!(
                                "COPY format \"{other}\" not recognized; use text or csv"
                            )));
                        }
                    }
                }
                CopyOption::Delimiter(c) => delimiter = Some(ascii(*c, "DELIMITER")?),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Header(h) => header = *h,
                CopyOption::Quote(c) => quote = Some(ascii(*c, "QUOTE")?),
                CopyOption::Escape(c) => escape = Some(ascii(*c, "ESCAPE")?),
                CopyOption::Encoding(e) => {
                    let norm = e.to_ascii_uppercase().replace(['-', '_'], "");
                    if norm != "UTF8" {
                        return Err(SqlStateError::unsupported(format!(
                            "COPY ENCODING {e:?} is not supported; data must be UTF8"
                        )));
                    }
                }
                CopyOption::Freeze(_) => {}
                other => {
                    return Err(SqlStateError::unsupported(format!(
                        "COPY option {other} is not supported"
                    )));
                }
            }
        }
        for option in legacy {
            match option {
                CopyLegacyOption::Binary => format = CopyFormat::Binary,
                CopyLegacyOption::Delimiter(c) => delimiter = Some(ascii(*c, "DELIMITER")?),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                CopyLegacyOption::Csv(csv) => {
                    format = CopyFormat::Csv;
                    for o in csv {
                        match o {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(c) => quote = Some(ascii(*c, "QUOTE")?),
                            CopyLegacyCsvOption::Escape(c) => escape = Some(ascii(*c, "ESCAPE")?),
                            other => {
                                return Err(SqlStateError::unsupported(format!(
                                    "COPY option {other} is not supported"
                                )));
                            }
                        }
                    }
                }
                other => {
                    return Err(SqlStateError::unsupported(format!(
                        "COPY option {other} is not supported"
                    )));
                }
            }
        }
        let (default_delim, default_null) = match format {
            CopyFormat::Text | CopyFormat::Binary => (b'\t', "\\N"),
            CopyFormat::Csv => (b',', ""),
        };
        if header && format != CopyFormat::Csv {
            return Err(SqlStateError::unsupported(
                "COPY HEADER is available only in CSV mode",
            ));
        }
        let quote = quote.unwrap_or(b'"');
        Ok(CopySpec {
            format,
            delimiter: delimiter.unwrap_or(default_delim),
            null: null.unwrap_or_else(|| default_null.to_string()),
            header,
            quote,
            escape: escape.unwrap_or(quote),
        })
    }
}

fn ascii(c: char, what: &str) -> Result<u8> {
    if c.is_ascii() && c != '\n' && c != '\r' {
        Ok(c as u8)
    } else {
        Err(SqlStateError::bad_argument(format!(
            "COPY {what} must be a single one-byte character, got {c:?}"
        )))
    }
}

/// A running `COPY ... FROM STDIN`.
pub struct CopyIn {
    table_name: String,
    table: Arc<TableData>,
    /// The session's transaction block: inside one the rows wait for COMMIT.
    block: Option<Arc<crate::catalog::staging::Block>>,
    spec: CopySpec,
    /// For each field of an input row, the index of the table column it fills.
    targets: Vec<usize>,
    writer: FileSetWriter,
    buf: Vec<u8>,
    /// Line number (1-based) where the next unparsed record starts.
    line: u64,
    header_pending: bool,
    /// Binary format: the signature and header not read yet.
    signature_pending: bool,
    finished_input: bool,
    columns: Vec<StringBuilder>,
    row_lines: Vec<u64>,
    error: Option<SqlStateError>,
}

impl CopyIn {
    pub fn new(
        table_name: String,
        table: Arc<TableData>,
        spec: CopySpec,
        columns: &[Ident],
    ) -> Result<Self> {
        let schema = table.schema.clone();
        let targets = if columns.is_empty() {
            (0..schema.fields().len()).collect()
        } else {
            let mut targets = Vec::with_capacity(columns.len());
            for c in columns {
                let name = if c.quote_style.is_some() {
                    c.value.clone()
                } else {
                    c.value.to_lowercase()
                };
                let idx = schema.index_of(&name).map_err(|_| {
                    SqlStateError::new(
                        sqlstate::UNDEFINED_COLUMN,
                        format!("column \"{name}\" of relation \"{table_name}\" does not exist"),
                    )
                })?;
                if targets.contains(&idx) {
                    return Err(SqlStateError::new(
                        sqlstate::DUPLICATE_COLUMN,
                        format!("column \"{name}\" specified more than once"),
                    ));
                }
                targets.push(idx);
            }
            targets
        };
        let writer = table.writer()?;
        let columns = targets.iter().map(|_| StringBuilder::new()).collect();
        Ok(CopyIn {
            table_name,
            header_pending: spec.header,
            signature_pending: spec.format == CopyFormat::Binary,
            table,
            block: None,
            spec,
            targets,
            writer,
            buf: Vec::new(),
            line: 1,
            finished_input: false,
            columns,
            row_lines: Vec::new(),
            error: None,
        })
    }

    pub fn columns(&self) -> usize {
        self.targets.len()
    }

    /// The wire format of its data: 1 for binary, 0 for text and CSV.
    pub fn wire_format(&self) -> i8 {
        i8::from(self.spec.format == CopyFormat::Binary)
    }

    /// Feeds a chunk of `CopyData`. After the first error, input is ignored and
    /// the error is reported at `CopyDone`.
    pub fn feed(&mut self, data: &[u8]) {
        if self.error.is_some() || self.finished_input {
            return;
        }
        self.buf.extend_from_slice(data);
        if let Err(e) = self.parse(false) {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: SqlStateError) {
        self.error = Some(e);
        self.buf = Vec::new();
        self.columns.iter_mut().for_each(|c| {
            c.finish();
        });
        self.row_lines.clear();
    }

    /// Parses every complete record in the buffer (all of it when `eof`).
    fn parse(&mut self, eof: bool) -> Result<()> {
        let mut start = 0;
        if self.signature_pending {
            match binary_header(&self.buf)? {
                Some(length) => {
                    self.signature_pending = false;
                    start = length;
                }
                None if eof => {
                    return Err(self.row_error(
                        1,
                        sqlstate::BAD_COPY_FILE_FORMAT,
                        "COPY file signature not recognized".into(),
                    ));
                }
                None => return Ok(()),
            }
        }
        while start < self.buf.len() && !self.finished_input {
            let Some((fields, consumed, lines)) = self.next_record(start, eof)? else {
                break;
            };
            let record_line = self.line;
            start += consumed;
            self.line += lines;
            if self.header_pending {
                self.header_pending = false;
                continue;
            }
            let Some(fields) = fields else {
                // The `\.` end-of-data marker.
                self.finished_input = true;
                break;
            };
            self.add_row(fields, record_line)?;
            if self.row_lines.len() >= BATCH_ROWS {
                self.flush()?;
            }
        }
        self.buf.drain(..start);
        Ok(())
    }

    /// Parses one record starting at `start`. Returns the fields (`None` for the
    /// end-of-data marker), the bytes consumed and the newlines consumed; `None`
    /// when the record is not complete yet.
    #[allow(clippy::type_complexity)]
    fn next_record(
        &self,
        start: usize,
        eof: bool,
    ) -> Result<Option<(Option<Vec<Option<String>>>, usize, u64)>> {
        let bytes = &self.buf[start..];
        match self.spec.format {
            CopyFormat::Text => {
                let (line, consumed) = match bytes.iter().position(|&b| b == b'\n') {
                    Some(nl) => (&bytes[..nl], nl + 1),
                    None if eof => (bytes, bytes.len()),
                    None => return Ok(None),
                };
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line == b"\\." {
                    return Ok(Some((None, consumed, 1)));
                }
                let fields = self.parse_text_line(line)?;
                Ok(Some((Some(fields), consumed, 1)))
            }
            CopyFormat::Csv => self.parse_csv_record(bytes, eof),
            CopyFormat::Binary => self.binary_record(bytes),
        }
    }

    /// One binary tuple: a field count (-1 ends the data), then each
    /// field's length (-1 for NULL) and bytes. `None` until it is complete.
    #[allow(clippy::type_complexity)]
    fn binary_record(
        &self,
        bytes: &[u8],
    ) -> Result<Option<(Option<Vec<Option<String>>>, usize, u64)>> {
        let Some(count) = bytes.get(..2) else {
            return Ok(None);
        };
        let count = i16::from_be_bytes([count[0], count[1]]);
        if count == -1 {
            return Ok(Some((None, 2, 1)));
        }
        let mut at = 2;
        let mut fields = Vec::with_capacity(count.max(0) as usize);
        for i in 0..count.max(0) as usize {
            let Some(length) = bytes.get(at..at + 4) else {
                return Ok(None);
            };
            let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
            at += 4;
            if length < 0 {
                fields.push(None);
                continue;
            }
            let Some(value) = bytes.get(at..at + length as usize) else {
                return Ok(None);
            };
            at += length as usize;
            let target = self.targets.get(i).map(|&t| self.writer.schema().field(t));
            let text = match target {
                Some(field) => binary_value(value, field.data_type()).map_err(|message| {
                    self.row_error(
                        self.line,
                        sqlstate::INVALID_BINARY_REPRESENTATION,
                        format!("column \"{}\": {message}", field.name()),
                    )
                })?,
                // Too many fields: add_row reports it.
                None => String::new(),
            };
            fields.push(Some(text));
        }
        Ok(Some((Some(fields), at, 1)))
    }

    fn parse_text_line(&self, line: &[u8]) -> Result<Vec<Option<String>>> {
        let mut fields = Vec::with_capacity(self.targets.len());
        for raw in line.split(|&b| b == self.spec.delimiter) {
            if raw == self.spec.null.as_bytes() {
                fields.push(None);
                continue;
            }
            let mut out = Vec::with_capacity(raw.len());
            let mut i = 0;
            while i < raw.len() {
                let b = raw[i];
                if b == b'\\' && i + 1 < raw.len() {
                    i += 1;
                    let e = raw[i];
                    match e {
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'v' => out.push(11),
                        b'0'..=b'7' => {
                            let mut v: u32 = 0;
                            let mut n = 0;
                            while n < 3 && i < raw.len() && (b'0'..=b'7').contains(&raw[i]) {
                                v = v * 8 + u32::from(raw[i] - b'0');
                                i += 1;
                                n += 1;
                            }
                            out.push((v & 0xff) as u8);
                            continue;
                        }
                        b'x' if i + 1 < raw.len() && raw[i + 1].is_ascii_hexdigit() => {
                            let mut v: u32 = 0;
                            let mut n = 0;
                            i += 1;
                            while n < 2 && i < raw.len() && raw[i].is_ascii_hexdigit() {
                                v = v * 16 + (raw[i] as char).to_digit(16).unwrap_or(0);
                                i += 1;
                                n += 1;
                            }
                            out.push(v as u8);
                            continue;
                        }
                        other => out.push(other),
                    }
                    i += 1;
                } else {
                    out.push(b);
                    i += 1;
                }
            }
            fields.push(Some(self.utf8(out)?));
        }
        Ok(fields)
    }

    #[allow(clippy::type_complexity)]
    fn parse_csv_record(
        &self,
        bytes: &[u8],
        eof: bool,
    ) -> Result<Option<(Option<Vec<Option<String>>>, usize, u64)>> {
        let (quote, escape, delim) = (self.spec.quote, self.spec.escape, self.spec.delimiter);
        let mut fields = Vec::with_capacity(self.targets.len());
        let mut field: Vec<u8> = Vec::new();
        let mut quoted_field = false;
        let mut in_quotes = false;
        let mut lines = 0u64;
        let mut i = 0;
        // The end-of-data marker on a line of its own.
        if bytes.starts_with(b"\\.\n") || bytes.starts_with(b"\\.\r\n") || (eof && bytes == b"\\.")
        {
            let consumed = bytes
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |p| p + 1);
            return Ok(Some((None, consumed, 1)));
        }
        loop {
            if i >= bytes.len() {
                if !eof {
                    return Ok(None);
                }
                if in_quotes {
                    return Err(self.row_error(
                        self.line + lines,
                        sqlstate::BAD_COPY_FILE_FORMAT,
                        "unterminated CSV quoted field".into(),
                    ));
                }
                self.push_csv_field(&mut fields, &mut field, quoted_field)?;
                return Ok(Some((Some(fields), i, lines + 1)));
            }
            let b = bytes[i];
            if in_quotes {
                if b == escape && escape != quote && i + 1 < bytes.len() && bytes[i + 1] == quote {
                    field.push(quote);
                    i += 2;
                } else if b == quote {
                    if escape == quote && i + 1 < bytes.len() && bytes[i + 1] == quote {
                        field.push(quote);
                        i += 2;
                    } else if escape == quote && i + 1 >= bytes.len() && !eof {
                        // Cannot tell "" from a closing quote yet.
                        return Ok(None);
                    } else {
                        in_quotes = false;
                        i += 1;
                    }
                } else {
                    if b == b'\n' {
                        lines += 1;
                    }
                    field.push(b);
                    i += 1;
                }
                continue;
            }
            match b {
                _ if b == quote => {
                    in_quotes = true;
                    quoted_field = true;
                    i += 1;
                }
                _ if b == delim => {
                    self.push_csv_field(&mut fields, &mut field, quoted_field)?;
                    quoted_field = false;
                    i += 1;
                }
                b'\n' => {
                    if field.last() == Some(&b'\r') && !quoted_field {
                        field.pop();
                    }
                    self.push_csv_field(&mut fields, &mut field, quoted_field)?;
                    return Ok(Some((Some(fields), i + 1, lines + 1)));
                }
                _ => {
                    field.push(b);
                    i += 1;
                }
            }
        }
    }

    fn push_csv_field(
        &self,
        fields: &mut Vec<Option<String>>,
        field: &mut Vec<u8>,
        quoted: bool,
    ) -> Result<()> {
        let bytes = std::mem::take(field);
        if !quoted && bytes == self.spec.null.as_bytes() {
            fields.push(None);
        } else {
            fields.push(Some(self.utf8(bytes)?));
        }
        Ok(())
    }

    fn utf8(&self, bytes: Vec<u8>) -> Result<String> {
        // PostgreSQL text cannot hold a NUL, raw or escaped as `\0`.
        if bytes.contains(&0) {
            return Err(self.row_error(
                self.line,
                sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                "invalid byte sequence for encoding \"UTF8\": 0x00".into(),
            ));
        }
        String::from_utf8(bytes).map_err(|_| {
            self.row_error(
                self.line,
                sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                "invalid byte sequence for encoding \"UTF8\"".into(),
            )
        })
    }

    fn row_error(&self, line: u64, code: &'static str, message: String) -> SqlStateError {
        SqlStateError::new(
            code,
            format!("COPY {}, line {line}: {message}", self.table_name),
        )
        .with_hint("nothing was copied; fix the row and run the COPY again")
    }

    fn add_row(&mut self, fields: Vec<Option<String>>, line: u64) -> Result<()> {
        if fields.len() != self.targets.len() {
            let what = if fields.len() > self.targets.len() {
                "extra data after last expected column"
            } else {
                "missing data for a column"
            };
            return Err(self.row_error(
                line,
                sqlstate::BAD_COPY_FILE_FORMAT,
                format!(
                    "{what}: expected {} fields, got {}",
                    self.targets.len(),
                    fields.len()
                ),
            ));
        }
        for (builder, value) in self.columns.iter_mut().zip(fields) {
            builder.append_option(value);
        }
        self.row_lines.push(line);
        Ok(())
    }

    /// Converts the parsed rows to the table's types and writes them.
    fn flush(&mut self) -> Result<()> {
        let rows = self.row_lines.len();
        if rows == 0 {
            return Ok(());
        }
        let schema: SchemaRef = self.writer.schema().clone();
        let mut columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), rows))
            .collect();
        let options = CastOptions {
            safe: false,
            format_options: FormatOptions::default(),
        };
        for (input, &target) in self.columns.iter_mut().zip(&self.targets) {
            let text: ArrayRef = Arc::new(input.finish());
            let field = schema.field(target);
            let converted = match cast_with_options(&text, field.data_type(), &options) {
                Ok(array) => array,
                Err(_) => {
                    return Err(bad_value(
                        &self.table_name,
                        &text,
                        field.name(),
                        field.data_type(),
                        &self.row_lines,
                        &options,
                    ));
                }
            };
            columns[target] = converted;
        }
        for (i, field) in schema.fields().iter().enumerate() {
            if !field.is_nullable() && columns[i].null_count() > 0 {
                let row = (0..rows).find(|&r| columns[i].is_null(r)).unwrap_or(0);
                return Err(self.row_error(
                    self.row_lines[row],
                    sqlstate::NOT_NULL_VIOLATION,
                    format!(
                        "null value in column \"{}\" violates not-null constraint",
                        field.name()
                    ),
                ));
            }
        }
        self.row_lines.clear();
        let batch = RecordBatch::try_new(schema, columns).map_err(SqlStateError::internal)?;
        self.writer.write(&batch)
    }

    /// `CopyDone`: parses the rest, writes, and commits. Returns the row count.
    pub async fn finish(mut self) -> Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.parse(true)?;
        self.flush()?;
        let pending = self.writer.finish()?;
        let pending = match &self.block {
            Some(block) => match block.stage(&self.table, pending, false) {
                Ok(rows) => return Ok(rows),
                Err(pending) => pending,
            },
            None => pending,
        };
        self.table.commit(pending, false).await
    }

    /// Stages the rows in `block` when it is open (see `catalog::staging`).
    pub fn in_block(mut self, block: Arc<crate::catalog::staging::Block>) -> Self {
        self.block = Some(block);
        self
    }
}

/// The length of the binary format's signature and header at the start of
/// `buf`, once all of it arrived (`None` before).
fn binary_header(buf: &[u8]) -> Result<Option<usize>> {
    const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
    if buf.len() < SIGNATURE.len() + 8 {
        return Ok(None);
    }
    if &buf[..SIGNATURE.len()] != SIGNATURE {
        return Err(SqlStateError::new(
            sqlstate::BAD_COPY_FILE_FORMAT,
            "COPY file signature not recognized",
        ));
    }
    let at = SIGNATURE.len() + 4;
    let extension = u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
    let length = at + 4 + extension;
    Ok((buf.len() >= length).then_some(length))
}

/// A value in PostgreSQL's binary send format of a column of type `t`, as
/// the text the text format would carry.
fn binary_value(bytes: &[u8], t: &DataType) -> std::result::Result<String, String> {
    let int = |bytes: &[u8]| -> std::result::Result<i64, String> {
        Ok(match bytes.len() {
            2 => i16::from_be_bytes([bytes[0], bytes[1]]) as i64,
            4 => i32::from_be_bytes(bytes.try_into().expect("4 bytes")) as i64,
            8 => i64::from_be_bytes(bytes.try_into().expect("8 bytes")),
            n => return Err(format!("an integer of {n} bytes")),
        })
    };
    // PostgreSQL's epoch for dates and timestamps.
    let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date");
    Ok(match t {
        DataType::Boolean => match bytes {
            [0] => "f".into(),
            [_] => "t".into(),
            _ => return Err("a boolean is one byte".into()),
        },
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            int(bytes)?.to_string()
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            int(bytes)?.to_string()
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => match bytes.len() {
            4 => f32::from_be_bytes(bytes.try_into().expect("4 bytes")).to_string(),
            8 => f64::from_be_bytes(bytes.try_into().expect("8 bytes")).to_string(),
            n => return Err(format!("a float of {n} bytes")),
        },
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            String::from_utf8(bytes.to_vec()).map_err(|_| "text that is not UTF-8".to_string())?
        }
        DataType::Date32 | DataType::Date64 => {
            let days = int(bytes)?;
            epoch
                .checked_add_signed(chrono::Duration::days(days))
                .ok_or("a date out of range")?
                .format("%Y-%m-%d")
                .to_string()
        }
        DataType::Timestamp(_, zone) => {
            let micros = int(bytes)?;
            let at = epoch
                .and_hms_opt(0, 0, 0)
                .expect("midnight")
                .checked_add_signed(chrono::Duration::microseconds(micros))
                .ok_or("a timestamp out of range")?;
            let text = at.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            if zone.is_some() {
                format!("{text}+00:00")
            } else {
                text
            }
        }
        DataType::Decimal128(..) | DataType::Decimal256(..) => numeric(bytes)?,
        other => {
            return Err(format!(
                "binary COPY into a column of type {} is not supported; use text or csv",
                pg_type_name(other)
            ));
        }
    })
}

/// PostgreSQL's binary `numeric` (base-10000 digits, a weight, a sign and a
/// display scale) as decimal text.
fn numeric(bytes: &[u8]) -> std::result::Result<String, String> {
    let word = |i: usize| -> std::result::Result<i32, String> {
        bytes
            .get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]) as i32)
            .ok_or_else(|| "a truncated numeric".to_string())
    };
    let (ndigits, weight, sign, dscale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<i32> = (0..ndigits.max(0) as usize)
        .map(|i| word(4 + i))
        .collect::<std::result::Result<_, _>>()?;
    let group = |power: i32| -> i32 {
        let k = weight - power;
        if k >= 0 && (k as usize) < digits.len() {
            digits[k as usize]
        } else {
            0
        }
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for power in (0..=weight).rev() {
            if power == weight {
                text.push_str(&group(power).to_string());
            } else {
                text.push_str(&format!("{:04}", group(power)));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut power = -1;
        while (fraction.len() as i32) < dscale {
            fraction.push_str(&format!("{:04}", group(power)));
            power -= 1;
        }
        fraction.truncate(dscale as usize);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

/// Finds the first value that does not convert and names its line.
fn bad_value(
    table: &str,
    text: &ArrayRef,
    column: &str,
    data_type: &DataType,
    lines: &[u64],
    options: &CastOptions,
) -> SqlStateError {
    for row in 0..text.len() {
        if text.is_null(row) {
            continue;
        }
        let one = text.slice(row, 1);
        if cast_with_options(&one, data_type, options).is_err() {
            let value = datafusion::arrow::array::as_string_array(&one)
                .value(0)
                .to_string();
            let line = lines.get(row).copied().unwrap_or(0);
            let name = crate::error::pg_integer_name(&data_type.to_string())
                .map_or_else(|| pg_type_name(data_type), str::to_string);
            let bad = crate::error::bad_input(&name, &value, data_type.is_integer());
            return SqlStateError::new(
                bad.code,
                format!(
                    "COPY {table}, line {line}, column {column}: {}",
                    bad.message
                ),
            )
            .with_hint("nothing was copied; fix the row and run the COPY again");
        }
    }
    SqlStateError::bad_data(format!(
        "COPY {table}, column {column}: values do not convert to {}",
        pg_type_name(data_type)
    ))
}

fn pg_type_name(t: &DataType) -> String {
    match arrow_pg::datatypes::into_pg_type(t) {
        Ok(ty) => ty.name().to_string(),
        Err(_) => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::store::Store;
    use crate::catalog::table::{FileList, ManagedTable};
    use datafusion::arrow::datatypes::{Field, Schema};

    fn copy_in(spec: CopySpec) -> (tempfile::TempDir, CopyIn) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(&dir.path().join("c.db")).expect("store"));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let table = ManagedTable::new(
            "t".into(),
            schema,
            dir.path().join("t"),
            None,
            store,
            FileList::default(),
        );
        let c = CopyIn::new("t".into(), table.data().clone(), spec, &[]).expect("copy");
        (dir, c)
    }

    fn csv() -> CopySpec {
        CopySpec::from_options(&[CopyOption::Format(Ident::new("csv"))], &[]).expect("spec")
    }

    fn text() -> CopySpec {
        CopySpec::from_options(&[], &[]).expect("spec")
    }

    #[test]
    fn binary_values_read_as_their_text() {
        assert_eq!(
            binary_value(&42i32.to_be_bytes(), &DataType::Int64),
            Ok("42".into())
        );
        assert_eq!(
            binary_value(&(-7i64).to_be_bytes(), &DataType::Int32),
            Ok("-7".into())
        );
        assert_eq!(
            binary_value(&1.5f64.to_be_bytes(), &DataType::Float64),
            Ok("1.5".into())
        );
        assert_eq!(binary_value(&[1], &DataType::Boolean), Ok("t".into()));
        assert_eq!(binary_value(b"hi", &DataType::Utf8), Ok("hi".into()));
        // 2024-03-05 is 8830 days after 2000-01-01.
        assert_eq!(
            binary_value(&8830i32.to_be_bytes(), &DataType::Date32),
            Ok("2024-03-05".into())
        );
        let micros: i64 = 8830 * 86_400_000_000 + 3_600_000_000 + 500_000;
        assert_eq!(
            binary_value(
                &micros.to_be_bytes(),
                &DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None)
            ),
            Ok("2024-03-05 01:00:00.500000".into())
        );
        // numeric 12345.678: digits 1, 2345, 6780; weight 1; scale 3.
        let words: [i16; 7] = [3, 1, 0, 3, 1, 2345, 6780];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(numeric(&bytes), Ok("12345.678".into()));
        // -0.05: one digit 500 at weight -1, scale 2.
        let words: [i16; 5] = [1, -1, 0x4000, 2, 500];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(numeric(&bytes), Ok("-0.05".into()));
        assert!(binary_value(&[1, 2, 3], &DataType::Int32).is_err());
    }

    #[test]
    fn binary_copy_reads_signature_rows_nulls_and_trailer_in_pieces() {
        let spec = CopySpec::from_options(&[CopyOption::Format(Ident::new("binary"))], &[])
            .expect("binary");
        let (_dir, mut copy) = copy_in(spec);
        let mut data = b"PGCOPY\n\xff\r\n\0".to_vec();
        data.extend(0i32.to_be_bytes());
        data.extend(0i32.to_be_bytes());
        for (id, name) in [(1i64, Some("a")), (2, None)] {
            data.extend(2i16.to_be_bytes());
            data.extend(8i32.to_be_bytes());
            data.extend(id.to_be_bytes());
            match name {
                Some(n) => {
                    data.extend((n.len() as i32).to_be_bytes());
                    data.extend(n.as_bytes());
                }
                None => data.extend((-1i32).to_be_bytes()),
            }
        }
        data.extend((-1i16).to_be_bytes());
        for chunk in data.chunks(5) {
            copy.feed(chunk);
        }
        assert!(copy.error.is_none(), "{:?}", copy.error);
        assert!(copy.finished_input);
        assert_eq!(copy.row_lines.len(), 2);
    }

    #[test]
    fn csv_quotes_nulls_and_split_chunks() {
        let (_d, mut c) = copy_in(csv());
        c.feed(b"1,\"a,\"\"b\"\"\"\n2,");
        c.feed(b"\n3,\"\"\n");
        assert!(c.error.is_none());
        assert_eq!(c.row_lines, vec![1, 2, 3]);
        let names = c.columns[1].finish();
        assert_eq!(names.value(0), "a,\"b\"");
        assert!(names.is_null(1));
        assert!(!names.is_null(2) && names.value(2).is_empty());
    }

    #[test]
    fn csv_quoted_newlines_count_lines() {
        let (_d, mut c) = copy_in(csv());
        c.feed(b"1,\"two\nlines\"\n2,x\n");
        assert_eq!(c.row_lines, vec![1, 3]);
    }

    #[test]
    fn text_escapes_and_null_marker() {
        let (_d, mut c) = copy_in(text());
        c.feed(b"1\ta\\tb\n2\t\\N\n\\.\n");
        assert_eq!(c.row_lines, vec![1, 2]);
        let names = c.columns[1].finish();
        assert_eq!(names.value(0), "a\tb");
        assert!(names.is_null(1));
    }

    #[test]
    fn bad_value_names_its_line() {
        let (_d, mut c) = copy_in(csv());
        c.feed(b"1,a\n2,b\nthree,c\n");
        let err = c.flush().expect_err("bad int");
        assert_eq!(err.code, "22P02");
        assert!(err.message.contains("line 3"), "{}", err.message);
        let (_d, mut c) = copy_in(csv());
        c.feed(b"1,a\n99999999999999999999,b\n");
        let err = c.flush().expect_err("too large");
        assert_eq!(err.code, "22003");
        assert!(err.message.contains("line 2"), "{}", err.message);
        let (_d, mut c) = copy_in(csv());
        c.feed(b"1,a\x00b\n");
        let err = c.error.clone().or_else(|| c.flush().err()).expect("NUL");
        assert_eq!(err.code, "22021");
    }

    #[test]
    fn wrong_field_count_is_reported() {
        let (_d, mut c) = copy_in(csv());
        c.feed(b"1,a\n2,b,extra\n");
        let err = c.error.clone().expect("error");
        assert_eq!(err.code, "22P04");
        assert!(err.message.contains("line 2"));
    }
}
