//! Data rows written straight from Arrow arrays.
//!
//! arrow-pg encodes a batch one value at a time: for every value it matches the
//! Arrow type, downcasts the array, looks at the field's metadata and formats
//! through `fmt` or a `SmolStr`. In a million-row text fetch that was over half
//! of the server's CPU, and PostgreSQL spent a third less in all. Here each
//! column's writer is chosen once per batch, the common scalar types are
//! written directly (`itoa`, ISO dates and timestamps, times, floats and
//! one-dimensional float arrays as PostgreSQL spells them, see
//! [`super::floats`]) into one buffer per batch that every row is split
//! from, and everything else (other types, pg_catalog columns with type
//! metadata, dates that PostgreSQL writes with `BC`) goes through arrow-pg's
//! own encoder, value by value. Hand-written because no crate writes
//! PostgreSQL data rows from Arrow columns; the unit tests check every fast
//! path byte for byte against arrow-pg, or, where arrow-pg spells a value
//! differently from PostgreSQL (floats, timestamps), against PostgreSQL's
//! own text.
//!
//! One file because every type's writer shares the row loop it is inlined
//! into; past its ~670 lines of code, the rest is the byte-for-byte tests.

use std::sync::Arc;

use arrow_pg::encoder::{Encoder, encode_value};
use bytes::{BufMut, BytesMut};
use chrono::{Offset, TimeZone};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, FixedSizeListArray, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray, LargeListArray,
    LargeStringArray, ListArray, RecordBatch, StringArray, StringViewArray,
};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    IntervalMonthDayNanoType, IntervalUnit, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::ToSqlText;
use postgres_types::{IsNull, ToSql};

use super::floats::{f32_text_at, f64_text_at};
use super::short_text::ShortText;

/// The data rows of one batch, encoded as they are taken.
pub struct BatchRows {
    batch: RecordBatch,
    fields: Arc<Vec<FieldInfo>>,
    columns: Vec<Column>,
    /// The field count every row carries.
    count: i16,
    row: usize,
    buf: BytesMut,
}

/// Bytes reserved at a time for the rows of a batch: each row is split off
/// this buffer, so a batch makes a handful of allocations, not one per row.
const CHUNK: usize = 64 * 1024;

impl BatchRows {
    /// Rows of `batch` described by `fields` (one per column, as the row
    /// description sent to the client says).
    pub fn new(batch: RecordBatch, fields: Arc<Vec<FieldInfo>>) -> PgWireResult<Self> {
        if batch.num_columns() != fields.len() {
            return Err(PgWireError::ApiError(
                format!(
                    "a batch of {} columns for a row description of {}",
                    batch.num_columns(),
                    fields.len()
                )
                .into(),
            ));
        }
        // Field counts are i16 on the wire; a wider result cannot be described either.
        let count = i16::try_from(fields.len())
            .map_err(|_| PgWireError::ApiError("more than 32767 columns in a row".into()))?;
        let schema = batch.schema();
        let columns = batch
            .columns()
            .iter()
            .zip(schema.fields().iter())
            .zip(fields.iter())
            .map(|((array, field), pg)| Column::for_array(array, field.metadata().is_empty(), pg))
            .collect();
        Ok(BatchRows {
            batch,
            fields,
            columns,
            count,
            row: 0,
            buf: BytesMut::new(),
        })
    }

    fn encode_row(&mut self) -> PgWireResult<DataRow> {
        let row = self.row;
        if self.buf.capacity() - self.buf.len() < 1024 {
            // A guess at what is left of the batch, so a one-row answer does
            // not take a whole chunk; a longer row just grows the buffer.
            let left = (self.batch.num_rows() - row) * (self.columns.len() * 16 + 8);
            self.buf.reserve(left.clamp(1024, CHUNK));
        }
        let schema = self.batch.schema_ref();
        for (c, column) in self.columns.iter().enumerate() {
            if let Column::Nested(array, format, digits) = column {
                super::arrays::write(&mut self.buf, array, row, *format, *digits)?;
                continue;
            }
            let written = column.write(&mut self.buf, row);
            if !written {
                encode_value(
                    &mut Cells(&mut self.buf),
                    self.batch.column(c),
                    row,
                    schema.field(c),
                    &self.fields[c],
                )?;
            }
        }
        Ok(DataRow::new(self.buf.split(), self.count))
    }
}

impl Iterator for BatchRows {
    type Item = PgWireResult<DataRow>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.row == self.batch.num_rows() {
            return None;
        }
        let row = self.encode_row();
        self.row += 1;
        if row.is_err() {
            // The statement ends with the error: no row after it, and not
            // the half-written one.
            self.row = self.batch.num_rows();
            self.buf.clear();
        }
        Some(row)
    }
}

/// How one column's values are written.
enum Column {
    Bool(BooleanArray, FieldFormat),
    Int16(Int16Array, FieldFormat),
    Int32(Int32Array, FieldFormat),
    /// Object identifiers, kept as Arrow `Int32`, written as PostgreSQL's
    /// unsigned `oid` (`stream::fields` describes catalog columns tagged
    /// `regclass`, `regtype`... as `oid`, the type PostgreSQL gives them).
    Oid(Int32Array, FieldFormat),
    Int64(Int64Array, FieldFormat),
    /// With the session's extra_float_digits, for text.
    Float32(Float32Array, FieldFormat, i8),
    Float64(Float64Array, FieldFormat, i8),
    /// A one-dimensional `real[]` or `double precision[]` sent as text.
    FloatList(FloatList),
    Text(StringArray),
    LargeText(LargeStringArray),
    TextView(StringViewArray),
    /// Dates sent as text in the ISO style (`YYYY-MM-DD`).
    IsoDate(Date32Array),
    /// Timestamps without time zone sent as text in the ISO style
    /// (`YYYY-MM-DD HH:MM:SS[.ffffff]`): the values in `TimeUnit`s.
    IsoTimestamp(Int64Array, TimeUnit),
    /// Timestamps with time zone sent as text in the ISO style: the instant
    /// in the session's TimeZone, then its UTC offset (`+05:30`, `-08`).
    IsoTimestampTz(Int64Array, TimeUnit, Tz),
    /// Times of day sent as text (`HH:MM:SS[.ffffff]`, in every DateStyle).
    Time(Int64Array, TimeUnit),
    /// Intervals sent as text in PostgreSQL's default style (`1 year 2
    /// mons -3 days +04:05:06.5`).
    Interval(IntervalMonthDayNanoArray),
    /// Lists of lists, as multidimensional arrays (`super::arrays`).
    Nested(ArrayRef, FieldFormat, i8),
    /// Left to arrow-pg.
    Other,
}

impl Column {
    /// The writer for `array`, whose Arrow field has no metadata when
    /// `plain` and whose wire field is `pg`. Each fast path requires the wire
    /// type arrow-pg gives that Arrow type, so a column described otherwise
    /// is written as arrow-pg would write it.
    fn for_array(array: &ArrayRef, plain: bool, pg: &FieldInfo) -> Column {
        if super::arrays::is_nested(array.data_type()) {
            let digits = pg.format_options().extra_float_digits;
            return Column::Nested(array.clone(), pg.format(), digits);
        }
        if let DataType::Int32 = array.data_type()
            && *pg.datatype() == Type::OID
        {
            return Column::Oid(array.as_primitive::<Int32Type>().clone(), pg.format());
        }
        if !plain {
            // pg_catalog columns carry their PostgreSQL type ("char", oid) in
            // metadata that changes how arrow-pg writes them.
            return Column::Other;
        }
        let format = pg.format();
        let text = format == FieldFormat::Text;
        let digits = pg.format_options().extra_float_digits;
        let ty = pg.datatype();
        match array.data_type() {
            DataType::Boolean if *ty == Type::BOOL => {
                Column::Bool(array.as_boolean().clone(), format)
            }
            DataType::Int16 if *ty == Type::INT2 => {
                Column::Int16(array.as_primitive::<Int16Type>().clone(), format)
            }
            DataType::Int32 if *ty == Type::INT4 => {
                Column::Int32(array.as_primitive::<Int32Type>().clone(), format)
            }
            DataType::Int64 if *ty == Type::INT8 => {
                Column::Int64(array.as_primitive::<Int64Type>().clone(), format)
            }
            DataType::Float32 if *ty == Type::FLOAT4 => {
                Column::Float32(array.as_primitive::<Float32Type>().clone(), format, digits)
            }
            DataType::Float64 if *ty == Type::FLOAT8 => {
                Column::Float64(array.as_primitive::<Float64Type>().clone(), format, digits)
            }
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) if text => {
                FloatList::for_array(array, ty, digits).map_or(Column::Other, Column::FloatList)
            }
            DataType::Utf8 if *ty == Type::TEXT => Column::Text(array.as_string::<i32>().clone()),
            DataType::LargeUtf8 if *ty == Type::TEXT => {
                Column::LargeText(array.as_string::<i64>().clone())
            }
            DataType::Utf8View if *ty == Type::TEXT => {
                Column::TextView(array.as_string_view().clone())
            }
            DataType::Date32 if *ty == Type::DATE && text && iso(pg) => {
                Column::IsoDate(array.as_primitive::<Date32Type>().clone())
            }
            DataType::Timestamp(unit, None) if *ty == Type::TIMESTAMP && text && iso(pg) => {
                Column::IsoTimestamp(int64s(array, unit), *unit)
            }
            DataType::Timestamp(unit, Some(_)) if *ty == Type::TIMESTAMPTZ && text && iso(pg) => {
                match session_zone(pg) {
                    Some(zone) => Column::IsoTimestampTz(int64s(array, unit), *unit, zone),
                    None => Column::Other,
                }
            }
            DataType::Time64(unit) if *ty == Type::TIME && text => {
                Column::Time(int64s(array, unit), *unit)
            }
            DataType::Interval(IntervalUnit::MonthDayNano) if *ty == Type::INTERVAL && text => {
                Column::Interval(array.as_primitive::<IntervalMonthDayNanoType>().clone())
            }
            _ => Column::Other,
        }
    }

    /// Writes the value at `row` (its length, then its bytes), or returns
    /// false with nothing written when arrow-pg has to write it.
    fn write(&self, buf: &mut BytesMut, row: usize) -> bool {
        use FieldFormat::{Binary, Text};
        match self {
            Column::Other | Column::Nested(..) => return false,
            Column::Bool(a, format) => {
                if a.is_null(row) {
                    buf.put_i32(-1);
                } else {
                    let v = a.value(row);
                    buf.put_i32(1);
                    buf.put_u8(match format {
                        Text => {
                            if v {
                                b't'
                            } else {
                                b'f'
                            }
                        }
                        Binary => u8::from(v),
                    });
                }
            }
            Column::Int16(a, format) => write_int(buf, a.is_null(row), a.value(row), *format),
            Column::Int32(a, format) => write_int(buf, a.is_null(row), a.value(row), *format),
            Column::Oid(a, format) => write_int(buf, a.is_null(row), a.value(row) as u32, *format),
            Column::Int64(a, format) => write_int(buf, a.is_null(row), a.value(row), *format),
            Column::Float32(a, format, digits) => {
                if a.is_null(row) {
                    buf.put_i32(-1);
                } else {
                    let v = a.value(row);
                    match format {
                        Binary => {
                            buf.put_i32(4);
                            buf.put_f32(v);
                        }
                        Text => put_text(buf, f32_text_at(v, *digits).as_bytes()),
                    }
                }
            }
            Column::Float64(a, format, digits) => {
                if a.is_null(row) {
                    buf.put_i32(-1);
                } else {
                    let v = a.value(row);
                    match format {
                        Binary => {
                            buf.put_i32(8);
                            buf.put_f64(v);
                        }
                        Text => put_text(buf, f64_text_at(v, *digits).as_bytes()),
                    }
                }
            }
            Column::FloatList(list) => list.write(buf, row),
            // Text and binary are the same bytes for `text`.
            Column::Text(a) => put_str(buf, a.is_null(row), || a.value(row)),
            Column::LargeText(a) => put_str(buf, a.is_null(row), || a.value(row)),
            Column::TextView(a) => put_str(buf, a.is_null(row), || a.value(row)),
            Column::IsoDate(a) => {
                if a.is_null(row) {
                    buf.put_i32(-1);
                } else {
                    match iso_date(a.value(row)) {
                        Some(text) => put_text(buf, &text),
                        None => return false,
                    }
                }
            }
            Column::IsoTimestamp(a, unit) => {
                return put_micros(buf, a, row, *unit, iso_timestamp);
            }
            Column::IsoTimestampTz(a, unit, zone) => {
                return put_micros(buf, a, row, *unit, |m| iso_timestamp_tz(m, zone));
            }
            Column::Time(a, unit) => return put_micros(buf, a, row, *unit, time_of_day),
            Column::Interval(a) => {
                if a.is_null(row) {
                    buf.put_i32(-1);
                } else {
                    let v = a.value(row);
                    // PostgreSQL keeps microseconds.
                    let micros = (v.nanoseconds as f64 / 1e3).round() as i64;
                    put_text(buf, interval_text(v.months, v.days, micros).as_bytes());
                }
            }
        }
        true
    }
}

/// An interval as PostgreSQL writes it in its default `IntervalStyle`
/// (`postgres`, `EncodeInterval`): years, months and days each with its
/// sign and unit (plural but for 1), a `+` before a positive part that
/// follows a negative one, then the time if any (or if nothing else),
/// seconds without trailing zeros in their fraction.
pub fn interval_text(months: i32, days: i32, micros: i64) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(32);
    let (mut zero, mut before) = (true, false);
    let mut part = |out: &mut String, value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        let _ = write!(
            out,
            "{}{}{value} {unit}{}",
            if zero { "" } else { " " },
            if before && value > 0 { "+" } else { "" },
            if value != 1 { "s" } else { "" }
        );
        before = value < 0;
        zero = false;
    };
    part(&mut out, i64::from(months / 12), "year");
    part(&mut out, i64::from(months % 12), "mon");
    part(&mut out, i64::from(days), "day");
    if zero || micros != 0 {
        let minus = micros < 0;
        let abs = micros.unsigned_abs();
        let (hours, rest) = (abs / 3_600_000_000, abs % 3_600_000_000);
        let (minutes, rest) = (rest / 60_000_000, rest % 60_000_000);
        let (seconds, fraction) = (rest / 1_000_000, rest % 1_000_000);
        let _ = write!(
            out,
            "{}{}{hours:02}:{minutes:02}:{seconds:02}",
            if zero { "" } else { " " },
            if minus {
                "-"
            } else if before {
                "+"
            } else {
                ""
            }
        );
        if fraction != 0 {
            let digits = format!("{fraction:06}");
            let _ = write!(out, ".{}", digits.trim_end_matches('0'));
        }
    }
    out
}

/// Writes the timestamp or time at `row` of `a` (in `unit`s) as `text` spells
/// its microseconds, or returns false with nothing written when `text` cannot
/// (arrow-pg writes it then).
fn put_micros(
    buf: &mut BytesMut,
    a: &Int64Array,
    row: usize,
    unit: TimeUnit,
    text: impl FnOnce(i64) -> Option<ShortText>,
) -> bool {
    if a.is_null(row) {
        buf.put_i32(-1);
        return true;
    }
    match micros(a.value(row), unit).and_then(text) {
        Some(text) => put_text(buf, text.as_bytes()),
        None => return false,
    }
    true
}

/// Whether the session's DateStyle writes dates and timestamps in ISO 8601.
fn iso(pg: &FieldInfo) -> bool {
    let style = pg.format_options().date_style.trim().as_bytes();
    style
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"ISO"))
}

/// The session's TimeZone (an IANA name or an offset), if arrow knows it.
fn session_zone(pg: &FieldInfo) -> Option<Tz> {
    let name = pg.format_options().time_zone.trim();
    if name.eq_ignore_ascii_case("utc") {
        return "+00:00".parse().ok();
    }
    name.parse().ok()
}

/// The values of a timestamp or time array of `unit`, all of which are i64.
fn int64s(array: &ArrayRef, unit: &TimeUnit) -> Int64Array {
    match (array.data_type(), unit) {
        (DataType::Timestamp(..), TimeUnit::Second) => array
            .as_primitive::<TimestampSecondType>()
            .reinterpret_cast::<Int64Type>(),
        (DataType::Timestamp(..), TimeUnit::Millisecond) => array
            .as_primitive::<TimestampMillisecondType>()
            .reinterpret_cast::<Int64Type>(),
        (DataType::Timestamp(..), TimeUnit::Microsecond) => array
            .as_primitive::<TimestampMicrosecondType>()
            .reinterpret_cast::<Int64Type>(),
        (DataType::Timestamp(..), TimeUnit::Nanosecond) => array
            .as_primitive::<TimestampNanosecondType>()
            .reinterpret_cast::<Int64Type>(),
        (_, TimeUnit::Nanosecond) => array
            .as_primitive::<Time64NanosecondType>()
            .reinterpret_cast::<Int64Type>(),
        _ => array
            .as_primitive::<Time64MicrosecondType>()
            .reinterpret_cast::<Int64Type>(),
    }
}

/// `value` in `unit` as whole microseconds, rounded down as arrow-pg (and
/// the binary format) do for nanoseconds; None if that overflows.
fn micros(value: i64, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => value.checked_mul(1_000_000),
        TimeUnit::Millisecond => value.checked_mul(1_000),
        TimeUnit::Microsecond => Some(value),
        TimeUnit::Nanosecond => Some(value.div_euclid(1_000)),
    }
}

/// A UTC offset as PostgreSQL writes it: `+HH`, and `:MM` and `:SS` only
/// when they are not zero (`+05:30`, `-03:30`, `-00:44:30`).
fn push_offset(out: &mut ShortText, seconds: i32) {
    out.push(if seconds < 0 { b'-' } else { b'+' });
    let seconds = seconds.unsigned_abs();
    out.push_digits(seconds / 3600, 2);
    if !seconds.is_multiple_of(3600) {
        out.push(b':');
        out.push_digits(seconds / 60 % 60, 2);
    }
    if !seconds.is_multiple_of(60) {
        out.push(b':');
        out.push_digits(seconds % 60, 2);
    }
}

/// `HH:MM:SS`, then the microseconds if any, without trailing zeros, as
/// PostgreSQL writes a time of day.
fn push_time(out: &mut ShortText, micros_of_day: i64) {
    let seconds = micros_of_day / 1_000_000;
    let mut fraction = (micros_of_day % 1_000_000) as u32;
    out.push_digits((seconds / 3600) as u32, 2);
    out.push(b':');
    out.push_digits((seconds / 60 % 60) as u32, 2);
    out.push(b':');
    out.push_digits((seconds % 60) as u32, 2);
    if fraction > 0 {
        let mut width = 6;
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            width -= 1;
        }
        out.push(b'.');
        out.push_digits(fraction, width);
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The ISO text of the timestamp `micros` after 1970-01-01 00:00:00, as
/// PostgreSQL writes it (`2024-01-02 03:04:05.5`), or `None` outside the
/// years 1..=9999 (see [`iso_date`]).
fn iso_timestamp(micros: i64) -> Option<ShortText> {
    let days = i32::try_from(micros.div_euclid(MICROS_PER_DAY)).ok()?;
    let mut out = ShortText::new();
    out.push_all(&iso_date(days)?);
    out.push(b' ');
    push_time(&mut out, micros.rem_euclid(MICROS_PER_DAY));
    Some(out)
}

/// The ISO text of the instant `micros` after the epoch in `zone`, with its
/// offset, as PostgreSQL writes a `timestamptz` (`2024-01-02 08:34:05+05:30`),
/// or `None` outside the years 1..=9999.
fn iso_timestamp_tz(micros: i64, zone: &Tz) -> Option<ShortText> {
    let utc = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
    let offset = zone.offset_from_utc_datetime(&utc).fix().local_minus_utc();
    let mut out = iso_timestamp(micros.checked_add(i64::from(offset) * 1_000_000)?)?;
    push_offset(&mut out, offset);
    Some(out)
}

/// The text of a time of day `micros` after midnight (`03:04:05.25`), or
/// `None` outside the day.
fn time_of_day(micros: i64) -> Option<ShortText> {
    if !(0..MICROS_PER_DAY).contains(&micros) {
        return None;
    }
    let mut out = ShortText::new();
    push_time(&mut out, micros);
    Some(out)
}

/// A list column of floats written as PostgreSQL writes a one-dimensional
/// float array in text: `{1,2.5,NULL,Infinity}` (no element needs quotes).
struct FloatList {
    lists: Lists,
    values: Floats,
    digits: i8,
}

/// The three list layouts: which slots of the values each row owns.
enum Lists {
    List(ListArray),
    Large(LargeListArray),
    Fixed(FixedSizeListArray),
}

enum Floats {
    F32(Float32Array),
    F64(Float64Array),
}

impl FloatList {
    /// The writer for a list `array` described as `ty`, when it is a list of
    /// `real` (`real[]`) or `double precision` (`double precision[]`).
    fn for_array(array: &ArrayRef, ty: &Type, digits: i8) -> Option<FloatList> {
        let lists = match array.data_type() {
            DataType::List(_) => Lists::List(array.as_list::<i32>().clone()),
            DataType::LargeList(_) => Lists::Large(array.as_list::<i64>().clone()),
            DataType::FixedSizeList(..) => Lists::Fixed(array.as_fixed_size_list().clone()),
            _ => return None,
        };
        let values = match &lists {
            Lists::List(a) => a.values(),
            Lists::Large(a) => a.values(),
            Lists::Fixed(a) => a.values(),
        };
        let values = match values.data_type() {
            DataType::Float32 if *ty == Type::FLOAT4_ARRAY => {
                Floats::F32(values.as_primitive::<Float32Type>().clone())
            }
            DataType::Float64 if *ty == Type::FLOAT8_ARRAY => {
                Floats::F64(values.as_primitive::<Float64Type>().clone())
            }
            _ => return None,
        };
        Some(FloatList {
            lists,
            values,
            digits,
        })
    }

    /// The slots of the values that hold the list at `row`, or None for NULL.
    fn bounds(&self, row: usize) -> Option<std::ops::Range<usize>> {
        match &self.lists {
            Lists::List(a) => (!a.is_null(row)).then(|| {
                let offsets = a.value_offsets();
                offsets[row] as usize..offsets[row + 1] as usize
            }),
            Lists::Large(a) => (!a.is_null(row)).then(|| {
                let offsets = a.value_offsets();
                offsets[row] as usize..offsets[row + 1] as usize
            }),
            Lists::Fixed(a) => (!a.is_null(row)).then(|| {
                let start = a.value_offset(row) as usize;
                start..start + a.value_length() as usize
            }),
        }
    }

    fn write(&self, buf: &mut BytesMut, row: usize) {
        let Some(slots) = self.bounds(row) else {
            buf.put_i32(-1);
            return;
        };
        let at = buf.len();
        buf.put_i32(0);
        buf.put_u8(b'{');
        for (n, i) in slots.enumerate() {
            if n > 0 {
                buf.put_u8(b',');
            }
            match &self.values {
                Floats::F32(v) if !v.is_null(i) => {
                    buf.put_slice(f32_text_at(v.value(i), self.digits).as_bytes())
                }
                Floats::F64(v) if !v.is_null(i) => {
                    buf.put_slice(f64_text_at(v.value(i), self.digits).as_bytes())
                }
                _ => buf.put_slice(b"NULL"),
            }
        }
        buf.put_u8(b'}');
        // One Arrow list of floats: far below 2 GiB of text.
        let len = (buf.len() - at - 4) as i32;
        buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

fn put_text(buf: &mut BytesMut, bytes: &[u8]) {
    // Values are far below 2 GiB: they come from one Arrow array slot.
    buf.put_i32(bytes.len() as i32);
    buf.put_slice(bytes);
}

fn put_str<'a>(buf: &mut BytesMut, null: bool, value: impl FnOnce() -> &'a str) {
    if null {
        buf.put_i32(-1);
    } else {
        put_text(buf, value().as_bytes());
    }
}

/// An integer in text (decimal) or binary (big-endian, its own width).
trait WireInt: itoa::Integer + Copy {
    const WIDTH: i32;
    fn put_be(self, buf: &mut BytesMut);
}

macro_rules! wire_int {
    ($t:ty, $put:ident) => {
        impl WireInt for $t {
            const WIDTH: i32 = std::mem::size_of::<$t>() as i32;
            fn put_be(self, buf: &mut BytesMut) {
                buf.$put(self);
            }
        }
    };
}
wire_int!(i16, put_i16);
wire_int!(i32, put_i32);
wire_int!(u32, put_u32);
wire_int!(i64, put_i64);

fn write_int<T: WireInt>(buf: &mut BytesMut, null: bool, value: T, format: FieldFormat) {
    if null {
        buf.put_i32(-1);
        return;
    }
    match format {
        FieldFormat::Text => put_text(buf, itoa::Buffer::new().format(value).as_bytes()),
        FieldFormat::Binary => {
            buf.put_i32(T::WIDTH);
            value.put_be(buf);
        }
    }
}

/// The ISO text (`YYYY-MM-DD`) of the date `days` after 1970-01-01, or `None`
/// if its year is outside 1..=9999 (PostgreSQL writes those with `BC` or more
/// digits; arrow-pg's formatting is kept for them).
pub fn iso_date(days: i32) -> Option<[u8; 10]> {
    let (year, month, day) = civil_from_days(days);
    if !(1..=9999).contains(&year) {
        return None;
    }
    let mut text = [b'-'; 10];
    for (at, value, width) in [(0, year as u32, 4), (5, month, 2), (8, day, 2)] {
        let mut v = value;
        for k in (0..width).rev() {
            text[at + k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    Some(text)
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i32) -> (i64, u32, u32) {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// arrow-pg's encoder writing one value into the row being built, as
/// pgwire's `DataRowEncoder` would: its length (-1 for NULL), then its bytes
/// in the field's format.
struct Cells<'a>(&'a mut BytesMut);

impl Encoder for Cells<'_> {
    type Item = ();

    fn encode_field<T>(&mut self, value: &T, pg_field: &FieldInfo) -> PgWireResult<()>
    where
        T: ToSql + ToSqlText + Sized,
    {
        let buf = &mut *self.0;
        let at = buf.len();
        buf.put_i32(-1);
        let is_null = match pg_field.format() {
            FieldFormat::Text => {
                value.to_sql_text(pg_field.datatype(), buf, pg_field.format_options())
            }
            FieldFormat::Binary => value.to_sql(pg_field.datatype(), buf),
        }
        .map_err(PgWireError::ApiError)?;
        if let IsNull::No = is_null {
            let len = i32::try_from(buf.len() - at - 4)
                .map_err(|_| PgWireError::ApiError("a value over 2 GiB".into()))?;
            buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    fn take_row(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
    use datafusion::arrow::datatypes::{Field, Schema};
    use pgwire::api::portal::Format;
    use pgwire::types::format::FormatOptions;

    fn batch() -> RecordBatch {
        let n = 300;
        let at = |i: usize| i % 7 != 3;
        let floats: Vec<Option<f64>> = (0..n)
            .map(|i| {
                at(i).then(|| match i % 11 {
                    0 => 0.0,
                    1 => f64::NAN,
                    2 => f64::NEG_INFINITY,
                    3 => 1e300 / (i as f64),
                    4 => -1e-300 * i as f64,
                    5 => 1.0,
                    _ => (i as f64 - 150.0) / 7.0,
                })
            })
            .collect();
        let strings: Vec<Option<String>> = (0..n)
            .map(|i| at(i).then(|| format!("row {i} {}", "é".repeat(i % 5))))
            .collect();
        let strs: Vec<Option<&str>> = strings.iter().map(|s| s.as_deref()).collect();
        let days: Vec<Option<i32>> = (0..n)
            .map(|i| {
                at(i).then(|| match i % 13 {
                    0 => -719_163,  // year 0: 1 BC
                    1 => 2_932_897, // year 10000
                    _ => (i as i32 - 150) * 397,
                })
            })
            .collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "b",
                Arc::new(BooleanArray::from(
                    (0..n)
                        .map(|i| at(i).then_some(i % 2 == 0))
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "i16",
                Arc::new(Int16Array::from(
                    (0..n)
                        .map(|i| at(i).then(|| (i as i16 - 150).wrapping_mul(211)))
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "i32",
                Arc::new(Int32Array::from(
                    (0..n)
                        .map(|i| at(i).then(|| (i as i32 - 150).wrapping_mul(14_348_907)))
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "i64",
                Arc::new(Int64Array::from(
                    (0..n)
                        .map(|i| {
                            at(i).then(|| (i as i64 - 150).wrapping_mul(61_489_146_912_365_172))
                        })
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "f32",
                Arc::new(Float32Array::from(
                    floats
                        .iter()
                        .map(|f| f.map(|f| f as f32))
                        .collect::<Vec<_>>(),
                )),
            ),
            ("f64", Arc::new(Float64Array::from(floats))),
            ("s", Arc::new(StringArray::from(strs.clone()))),
            ("ls", Arc::new(LargeStringArray::from(strs.clone()))),
            ("sv", Arc::new(StringViewArray::from(strs))),
            ("d", Arc::new(Date32Array::from(days))),
            // Not a fast path: left to arrow-pg.
            (
                "u8",
                Arc::new(datafusion::arrow::array::UInt8Array::from(
                    (0..n).map(|i| at(i).then_some(i as u8)).collect::<Vec<_>>(),
                )),
            ),
        ];
        let schema = Schema::new(
            columns
                .iter()
                .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(
            Arc::new(schema),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .expect("batch")
    }

    fn rows_of(
        batch: &RecordBatch,
        format: &Format,
        options: FormatOptions,
    ) -> (Vec<DataRow>, Vec<DataRow>) {
        let fields = Arc::new(
            arrow_schema_to_pg_fields(batch.schema_ref(), format, Some(Arc::new(options)))
                .expect("fields"),
        );
        let ours = BatchRows::new(batch.clone(), fields.clone())
            .expect("rows")
            .collect::<PgWireResult<Vec<_>>>()
            .expect("ours");
        let (batch, fields) = floats_as_postgres_text(batch, &fields);
        let theirs = encode_recordbatch(fields, batch)
            .collect::<PgWireResult<Vec<_>>>()
            .expect("arrow-pg");
        (ours, theirs)
    }

    /// `batch` with each float column sent as text already written as
    /// PostgreSQL writes it (arrow-pg spells floats pgwire's way: `1.0`,
    /// `inf`, and rounds its own way below extra_float_digits 1), and the
    /// fields to encode it with.
    fn floats_as_postgres_text(
        batch: &RecordBatch,
        fields: &[FieldInfo],
    ) -> (RecordBatch, Arc<Vec<FieldInfo>>) {
        let mut columns = batch.columns().to_vec();
        let mut out_fields = fields.to_vec();
        for (i, field) in fields.iter().enumerate() {
            if field.format() != FieldFormat::Text {
                continue;
            }
            let digits = field.format_options().extra_float_digits;
            let texts: Option<Vec<Option<String>>> = match batch.column(i).data_type() {
                DataType::Float32 => Some(
                    batch
                        .column(i)
                        .as_primitive::<Float32Type>()
                        .iter()
                        .map(|v| v.map(|v| text(f32_text_at(v, digits).as_bytes())))
                        .collect(),
                ),
                DataType::Float64 => Some(
                    batch
                        .column(i)
                        .as_primitive::<Float64Type>()
                        .iter()
                        .map(|v| v.map(|v| text(f64_text_at(v, digits).as_bytes())))
                        .collect(),
                ),
                _ => None,
            };
            if let Some(texts) = texts {
                columns[i] = Arc::new(StringArray::from(texts));
                out_fields[i] = FieldInfo::new(
                    field.name().to_string(),
                    None,
                    None,
                    Type::TEXT,
                    FieldFormat::Text,
                );
            }
        }
        let schema = Schema::new(
            columns
                .iter()
                .enumerate()
                .map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        let batch = RecordBatch::try_new(Arc::new(schema), columns).expect("batch");
        (batch, Arc::new(out_fields))
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).expect("ascii")
    }

    #[test]
    fn rows_are_the_bytes_arrow_pg_writes() {
        let batch = batch();
        let mut german = FormatOptions::default();
        german.date_style = "German, DMY".into();
        let mut rounded = FormatOptions::default();
        rounded.extra_float_digits = -3;
        let mixed = Format::Individual((0..batch.num_columns() as i16).map(|i| i % 2).collect());
        for (format, options) in [
            (Format::UnifiedText, FormatOptions::default()),
            (Format::UnifiedBinary, FormatOptions::default()),
            (mixed, FormatOptions::default()),
            (Format::UnifiedText, german),
            (Format::UnifiedText, rounded),
        ] {
            let (ours, theirs) = rows_of(&batch, &format, options);
            assert_eq!(ours.len(), batch.num_rows());
            for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert_eq!(a, b, "row {i} in {format:?}");
            }
        }
    }

    /// Float lists in text, each list layout, sliced, with NULL lists and
    /// NULL elements, at the default and a rounding extra_float_digits.
    #[test]
    fn intervals_as_postgresql_writes_them() {
        use super::interval_text;
        // PostgreSQL 15's output (IntervalStyle postgres).
        assert_eq!(interval_text(0, 0, 1_500_000), "00:00:01.5");
        assert_eq!(interval_text(0, -1, 7_200_000_000), "-1 days +02:00:00");
        assert_eq!(
            interval_text(14, 3, 14_706_250_000),
            "1 year 2 mons 3 days 04:05:06.25"
        );
        assert_eq!(interval_text(0, 0, 0), "00:00:00");
        assert_eq!(interval_text(-1, -2, 0), "-1 mons -2 days");
        assert_eq!(interval_text(0, 1, -1_000_000), "1 day -00:00:01");
        assert_eq!(interval_text(-13, 1, 0), "-1 years -1 mons +1 day");
    }

    #[test]
    fn float_lists_as_postgresql_writes_them() {
        use datafusion::arrow::array::{FixedSizeListBuilder, Float64Builder};
        use datafusion::arrow::datatypes::{Float32Type, Float64Type};
        let rows = vec![
            Some(vec![Some(1.0), Some(2.5), None, Some(f64::INFINITY)]),
            None,
            Some(vec![]),
            Some(vec![Some(1e16), Some(1e-5), Some(-0.0), Some(f64::NAN)]),
            Some(vec![Some(0.1 + 0.2)]),
        ];
        let list = ListArray::from_iter_primitive::<Float64Type, _, _>(rows.clone());
        let large = LargeListArray::from_iter_primitive::<Float64Type, _, _>(rows.clone());
        let real = ListArray::from_iter_primitive::<Float32Type, _, _>(rows.iter().map(|r| {
            r.as_ref()
                .map(|r| r.iter().map(|v| v.map(|v| v as f32)).collect::<Vec<_>>())
        }));
        let mut fixed = FixedSizeListBuilder::new(Float64Builder::new(), 2);
        for pair in [
            [Some(1.0), None],
            [Some(3.0), Some(-4.5)],
            [Some(5.0), Some(6.0)],
        ] {
            for v in pair {
                fixed.values().append_option(v);
            }
            fixed.append(true);
        }
        let fixed = fixed.finish();
        let write = |array: ArrayRef, ty: Type, digits: i8| -> Vec<Option<String>> {
            let field = Field::new("l", array.data_type().clone(), true);
            let mut options = FormatOptions::default();
            options.extra_float_digits = digits;
            let mut pg = FieldInfo::new("l".into(), None, None, ty, FieldFormat::Text);
            pg = pg.with_format_options(Arc::new(options));
            let batch = RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![array])
                .expect("batch");
            let rows = BatchRows::new(batch, Arc::new(vec![pg])).expect("rows");
            assert!(matches!(rows.columns[0], Column::FloatList(_)));
            rows.map(|row| {
                let row = row.expect("row");
                let data = &row.data[..];
                let len = i32::from_be_bytes(data[..4].try_into().expect("length"));
                (len >= 0)
                    .then(|| text(&data[4..]))
                    .inspect(|t: &String| assert_eq!(t.len(), len as usize))
            })
            .collect()
        };
        let want = |texts: &[Option<&str>]| -> Vec<Option<String>> {
            texts.iter().map(|t| t.map(str::to_string)).collect()
        };
        let double = want(&[
            Some("{1,2.5,NULL,Infinity}"),
            None,
            Some("{}"),
            Some("{1e+16,1e-05,-0,NaN}"),
            Some("{0.30000000000000004}"),
        ]);
        assert_eq!(write(Arc::new(list.clone()), Type::FLOAT8_ARRAY, 1), double);
        assert_eq!(write(Arc::new(large), Type::FLOAT8_ARRAY, 1), double);
        assert_eq!(
            write(Arc::new(list.slice(3, 2)), Type::FLOAT8_ARRAY, 1),
            double[3..]
        );
        assert_eq!(
            write(Arc::new(list), Type::FLOAT8_ARRAY, 0)[3..],
            want(&[Some("{1e+16,1e-05,-0,NaN}"), Some("{0.3}")])
        );
        assert_eq!(
            write(Arc::new(real), Type::FLOAT4_ARRAY, 1)[3..],
            want(&[Some("{1e+16,1e-05,-0,NaN}"), Some("{0.3}")])
        );
        assert_eq!(
            write(Arc::new(fixed.slice(1, 2)), Type::FLOAT8_ARRAY, 1),
            want(&[Some("{3,-4.5}"), Some("{5,6}")])
        );
        assert_eq!(
            write(Arc::new(fixed), Type::FLOAT8_ARRAY, 1)[..1],
            want(&[Some("{1,NULL}")])
        );
    }

    #[test]
    fn a_sliced_batch_writes_its_own_rows() {
        let batch = batch();
        let slice = batch.slice(17, 40);
        let (ours, theirs) = rows_of(&slice, &Format::UnifiedText, FormatOptions::default());
        assert_eq!(ours.len(), 40);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn a_value_that_cannot_be_written_ends_the_rows() {
        use pgwire::api::results::FieldInfo;
        // A time zone arrow-pg cannot resolve: it refuses the first value.
        // (Sent as binary: in text Quarry writes the instant in the
        // session's time zone, whatever the array's says.)
        let stamps = datafusion::arrow::array::TimestampSecondArray::from(vec![1, 2, 3])
            .with_timezone("Not/AZone");
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "t",
                stamps.data_type().clone(),
                false,
            )])),
            vec![Arc::new(stamps)],
        )
        .expect("batch");
        let fields = Arc::new(vec![FieldInfo::new(
            "t".into(),
            None,
            None,
            Type::TIMESTAMPTZ,
            FieldFormat::Binary,
        )]);
        let rows: Vec<_> = BatchRows::new(batch, fields).expect("rows").collect();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].is_err());
    }

    /// Timestamps and times as PostgreSQL writes them: chrono's text with
    /// the fraction's trailing zeros (and a bare point) dropped.
    #[test]
    fn timestamps_and_times_match_chrono_without_trailing_zeros() {
        let trimmed = |t: String| {
            let t = t.trim_end_matches('0');
            t.strip_suffix('.').unwrap_or(t).to_string()
        };
        let epoch = chrono::DateTime::UNIX_EPOCH.naive_utc();
        let mut values: Vec<i64> = vec![0, -1, 1, 500_000, -500_000, 86_399_999_999, 123_456];
        // 0001-01-01 to 9999-12-31, irregular steps through every field.
        let (low, high) = (-62_135_596_800_000_000i64, 253_402_300_799_999_999i64);
        values.extend((0..5_000i64).map(|i| low + (high - low) / 5_000 * i + i * 7_777_777));
        values.extend([low, high]);
        for m in values {
            let want = (epoch + chrono::Duration::microseconds(m))
                .format("%Y-%m-%d %H:%M:%S%.6f")
                .to_string();
            let got = iso_timestamp(m).expect("in range");
            assert_eq!(
                std::str::from_utf8(got.as_bytes()).expect("ascii"),
                trimmed(want),
                "{m}"
            );
            let of_day = m.rem_euclid(MICROS_PER_DAY);
            let want = (chrono::NaiveTime::MIN + chrono::Duration::microseconds(of_day))
                .format("%H:%M:%S%.6f")
                .to_string();
            let got = time_of_day(of_day).expect("in the day");
            assert_eq!(
                std::str::from_utf8(got.as_bytes()).expect("ascii"),
                trimmed(want),
                "{m}"
            );
        }
        assert!(iso_timestamp(low - 1).is_none());
        assert!(iso_timestamp(high + 1).is_none());
        assert!(iso_timestamp(i64::MIN).is_none());
        assert!(time_of_day(MICROS_PER_DAY).is_none());
        assert_eq!(micros(-1, TimeUnit::Nanosecond), Some(-1));
        assert_eq!(micros(i64::MAX, TimeUnit::Second), None);
    }

    /// Instants in a session time zone, as PostgreSQL 15 writes them
    /// (`SET TimeZone = ...; SELECT '...+00'::timestamptz`).
    #[test]
    fn timestamptz_as_postgresql_writes_it() {
        let utc = |text: &str| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .expect("timestamp")
                .and_utc()
                .timestamp_micros()
        };
        for (instant, zone, want) in [
            (
                "2024-01-02 03:04:05",
                "Asia/Kolkata",
                "2024-01-02 08:34:05+05:30",
            ),
            (
                "2024-07-01 12:00:00.5",
                "America/St_Johns",
                "2024-07-01 09:30:00.5-02:30",
            ),
            (
                "2024-01-01 12:00:00",
                "America/St_Johns",
                "2024-01-01 08:30:00-03:30",
            ),
            (
                "1970-06-01 12:00:00",
                "Africa/Monrovia",
                "1970-06-01 11:15:30-00:44:30",
            ),
            (
                "1969-12-31 23:59:59.999999",
                "+00:00",
                "1969-12-31 23:59:59.999999+00",
            ),
        ] {
            let zone: Tz = zone.parse().expect("zone");
            let got = iso_timestamp_tz(utc(instant), &zone).expect("in range");
            assert_eq!(std::str::from_utf8(got.as_bytes()).expect("ascii"), want);
        }
        let utc_zone: Tz = "+00:00".parse().expect("zone");
        assert!(iso_timestamp_tz(i64::MAX, &utc_zone).is_none());
    }

    #[test]
    fn iso_dates_match_chrono() {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
        // 0001-01-01 is day -719162; 9999-12-31 is day 2932896.
        for day in (-719_162..=2_932_896)
            .step_by(97)
            .chain([-719_162, 2_932_896, 0, -1, 59, 11_016, 11_017])
        {
            let want = (epoch + chrono::Duration::days(i64::from(day)))
                .format("%Y-%m-%d")
                .to_string();
            let got = iso_date(day).expect("in range");
            assert_eq!(std::str::from_utf8(&got).expect("ascii"), want, "day {day}");
        }
        assert!(iso_date(-719_163).is_none());
        assert!(iso_date(2_932_897).is_none());
    }
}
