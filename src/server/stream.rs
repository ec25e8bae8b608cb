//! Result streaming: Arrow batches to PostgreSQL data rows, under the statement's
//! cancel token and deadline for the whole stream, not just planning.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion::arrow::array::{AsArray, Date32Array, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Date32Type, FieldRef, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldInfo, QueryResponse};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

use crate::error::{classify, to_pgwire};
use crate::session::{Interrupt, QueryControl, lock};

/// Stops a stream with an error once the statement is cancelled or times out.
///
/// While the inner stream has nothing ready, a stop future (a `select!` over
/// the cancel token and the deadline, made the first time it is needed) is
/// polled too, so a waiting stream is woken by a cancel or the deadline. While
/// items are ready, the token and the clock are checked once every
/// [`CHECK_EVERY`] items, starting with the first: polling the stop future for
/// each of a million rows cost more than encoding them, and making it for a
/// one-row result was a tenth of a `SELECT 1`.
pub struct Guarded<S> {
    inner: S,
    control: QueryControl,
    stop: Option<BoxFuture<'static, Interrupt>>,
    done: bool,
    since_check: u32,
}

/// Items streamed between two checks of the token and the clock.
const CHECK_EVERY: u32 = 1024;

impl<S> Guarded<S> {
    pub fn new(inner: S, control: QueryControl) -> Self {
        Guarded {
            inner,
            control,
            stop: None,
            done: false,
            since_check: CHECK_EVERY,
        }
    }

    /// Polls the stop future, registering the waker for a cancel or the deadline.
    fn stopped(&mut self, cx: &mut Context<'_>) -> Option<Interrupt> {
        self.since_check = 0;
        let control = &self.control;
        let stop = self.stop.get_or_insert_with(|| {
            let control = control.clone();
            async move { control.wait().await }.boxed()
        });
        match stop.poll_unpin(cx) {
            Poll::Ready(why) => Some(why),
            Poll::Pending => None,
        }
    }
}

impl<S, T> Stream for Guarded<S>
where
    S: Stream<Item = PgWireResult<T>> + Unpin,
{
    type Item = PgWireResult<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.since_check >= CHECK_EVERY {
            self.since_check = 0;
            if let Some(why) = self.control.interrupted() {
                self.done = true;
                return Poll::Ready(Some(Err(to_pgwire(why.error()))));
            }
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(item)) => {
                self.since_check += 1;
                Poll::Ready(Some(item))
            }
            Poll::Pending => {
                // Waiting on the query: be woken by a cancel or the deadline.
                if let Some(why) = self.stopped(cx) {
                    self.done = true;
                    return Poll::Ready(Some(Err(to_pgwire(why.error()))));
                }
                Poll::Pending
            }
        }
    }
}

/// The row description for `schema` in `format`.
pub fn fields(
    schema: &Schema,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
) -> PgWireResult<Arc<Vec<FieldInfo>>> {
    Ok(Arc::new(arrow_schema_to_pg_fields(
        schema, format, options,
    )?))
}

/// The row descriptions last built for one statement. Each Describe and each
/// execution built its own (names, types and format per column: a few
/// percent of a `SELECT 1` round trip); they are reused while the schema, the
/// requested formats and the session's format options are the same.
#[derive(Debug, Default)]
pub struct FieldsCache(Mutex<Vec<CachedFields>>);

#[derive(Debug)]
struct CachedFields {
    schema: SchemaRef,
    format: Format,
    options: Option<FormatOptions>,
    fields: Arc<Vec<FieldInfo>>,
}

/// A Describe (no options) and an execution (the session's) per format.
const CACHED_DESCRIPTIONS: usize = 4;

impl FieldsCache {
    pub fn fields(
        &self,
        schema: &SchemaRef,
        format: &Format,
        options: Option<Arc<FormatOptions>>,
    ) -> PgWireResult<Arc<Vec<FieldInfo>>> {
        let mut cached = lock(&self.0);
        let hit = cached.iter().find(|c| {
            same_format(&c.format, format)
                && c.options.as_ref() == options.as_deref()
                && (Arc::ptr_eq(&c.schema, schema) || c.schema.fields() == schema.fields())
        });
        if let Some(hit) = hit {
            return Ok(hit.fields.clone());
        }
        let built = fields(schema, format, options.clone())?;
        if cached.len() == CACHED_DESCRIPTIONS {
            cached.remove(0);
        }
        cached.push(CachedFields {
            schema: schema.clone(),
            format: format.clone(),
            options: options.as_deref().cloned(),
            fields: built.clone(),
        });
        Ok(built)
    }
}

fn same_format(a: &Format, b: &Format) -> bool {
    match (a, b) {
        (Format::UnifiedText, Format::UnifiedText)
        | (Format::UnifiedBinary, Format::UnifiedBinary) => true,
        (Format::Individual(a), Format::Individual(b)) => a == b,
        _ => false,
    }
}

/// Encodes a batch stream as a query response that honours `control`.
/// `cache`, when given, holds the statement's row descriptions.
pub fn query_response(
    batches: SendableRecordBatchStream,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
    control: QueryControl,
    cache: Option<&FieldsCache>,
) -> PgWireResult<QueryResponse> {
    let schema = batches.schema();
    let iso = options
        .as_ref()
        .is_none_or(|o| o.date_style.trim().to_ascii_uppercase().starts_with("ISO"));
    let text_dates: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(i, f)| iso && *f.data_type() == DataType::Date32 && !format.is_binary(*i))
        .map(|(i, _)| i)
        .collect();
    let fields = match cache {
        Some(cache) => cache.fields(&schema, format, options)?,
        None => fields(&schema, format, options)?,
    };
    let row_fields = fields.clone();
    let rows = batches
        .map(move |batch| {
            let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch {
                Ok(batch) => {
                    encode_recordbatch(row_fields.clone(), with_iso_dates(batch, &text_dates))
                }
                Err(e) => Box::new(std::iter::once(Err(to_pgwire(classify(&e))))),
            };
            stream::iter(rows)
        })
        .flatten();
    Ok(QueryResponse::new(
        fields,
        Guarded::new(Box::pin(rows), control),
    ))
}

/// `batch` with its `columns` (dates, sent as text in the ISO style) already
/// formatted. pgwire formats each date with chrono's `strftime` after parsing
/// the DateStyle setting again for every value, a fifth of a million-row text
/// fetch; the ISO form is fixed, so it is written here (hand-written: no crate
/// formats Arrow dates in PostgreSQL's style). A column with a year outside
/// 1..=9999 (PostgreSQL writes `BC`) keeps pgwire's formatting.
fn with_iso_dates(batch: RecordBatch, columns: &[usize]) -> RecordBatch {
    if columns.is_empty() {
        return batch;
    }
    let mut fields: Vec<FieldRef> = batch.schema().fields().iter().cloned().collect();
    let mut arrays = batch.columns().to_vec();
    for &i in columns {
        if let Some(text) = arrays[i]
            .as_primitive_opt::<Date32Type>()
            .and_then(iso_dates)
        {
            arrays[i] = Arc::new(text);
            fields[i] = Arc::new(fields[i].as_ref().clone().with_data_type(DataType::Utf8));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap_or(batch)
}

/// ISO dates (`YYYY-MM-DD`), or `None` if a year is outside 1..=9999.
fn iso_dates(dates: &Date32Array) -> Option<StringArray> {
    let mut out = StringBuilder::with_capacity(dates.len(), dates.len() * 10);
    for day in dates.iter() {
        match day {
            None => out.append_null(),
            Some(day) => {
                let (year, month, day) = civil_from_days(day);
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
                out.append_value(std::str::from_utf8(&text).ok()?);
            }
        }
    }
    Some(out.finish())
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

/// A response with fixed text rows, for `SHOW` and friends.
pub fn text_rows(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> PgWireResult<QueryResponse> {
    use pgwire::api::Type;
    use pgwire::api::results::{DataRowEncoder, FieldFormat};
    let fields: Arc<Vec<FieldInfo>> = Arc::new(
        columns
            .iter()
            .map(|c| FieldInfo::new((*c).to_string(), None, None, Type::TEXT, FieldFormat::Text))
            .collect(),
    );
    let encoded = rows
        .into_iter()
        .map(|row| {
            let mut encoder = DataRowEncoder::new(fields.clone());
            for value in row {
                encoder.encode_field(&value)?;
            }
            Ok(encoder.take_row())
        })
        .collect::<Vec<PgWireResult<DataRow>>>();
    Ok(QueryResponse::new(fields, stream::iter(encoded)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    #[test]
    fn row_descriptions_are_reused_only_for_the_same_request() {
        use datafusion::arrow::datatypes::Field;
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        let cache = FieldsCache::default();
        let iso = Arc::new(FormatOptions::default());
        let mut german = FormatOptions::default();
        german.date_style = "German, DMY".into();
        let german = Arc::new(german);

        let first = cache
            .fields(&schema, &Format::UnifiedText, Some(iso.clone()))
            .expect("fields");
        let again = cache
            .fields(&schema, &Format::UnifiedText, Some(iso.clone()))
            .expect("fields");
        assert!(Arc::ptr_eq(&first, &again));

        // Another format, other options, or another schema: built anew.
        let binary = cache
            .fields(&schema, &Format::UnifiedBinary, Some(iso.clone()))
            .expect("fields");
        assert!(!Arc::ptr_eq(&first, &binary));
        let mixed = cache
            .fields(&schema, &Format::Individual(vec![0, 1]), Some(iso.clone()))
            .expect("fields");
        assert!(!Arc::ptr_eq(&binary, &mixed));
        let other = cache
            .fields(&schema, &Format::UnifiedText, Some(german))
            .expect("fields");
        assert!(!Arc::ptr_eq(&first, &other));
        let described = cache
            .fields(&schema, &Format::UnifiedText, None)
            .expect("fields");
        assert!(!Arc::ptr_eq(&first, &described));
        let renamed: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("c", DataType::Utf8, true),
        ]));
        let fresh = cache
            .fields(&renamed, &Format::UnifiedText, None)
            .expect("fields");
        assert_eq!(fresh[1].name(), "c");
        assert_eq!(
            fresh
                .iter()
                .map(|f| f.name().to_string())
                .collect::<Vec<_>>(),
            fields(&renamed, &Format::UnifiedText, None)
                .expect("fields")
                .iter()
                .map(|f| f.name().to_string())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn iso_dates_match_chrono() {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
        // 0001-01-01 is day -719162; 9999-12-31 is day 2932896.
        let days: Vec<Option<i32>> = (-719_162..=2_932_896)
            .step_by(97)
            .chain([-719_162, 2_932_896, 0, -1, 59, 11_016, 11_017])
            .map(Some)
            .chain([None])
            .collect();
        let text = iso_dates(&Date32Array::from(days.clone())).expect("in range");
        for (i, day) in days.iter().enumerate() {
            match day {
                None => assert!(text.is_null(i)),
                Some(d) => {
                    let want = (epoch + chrono::Duration::days(i64::from(*d)))
                        .format("%Y-%m-%d")
                        .to_string();
                    assert_eq!(text.value(i), want, "day {d}");
                }
            }
        }
        assert!(iso_dates(&Date32Array::from(vec![Some(-719_163)])).is_none());
        assert!(iso_dates(&Date32Array::from(vec![Some(2_932_897)])).is_none());
    }
}
