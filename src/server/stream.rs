//! Result streaming: Arrow batches to PostgreSQL data rows, under the statement's
//! cancel token and deadline for the whole stream, not just planning.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt, stream};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldInfo, QueryResponse};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

use super::rows::BatchRows;
use crate::error::{classify, to_pgwire};
use crate::session::{Interrupt, QueryControl};
use crate::sync::lock;

/// Stops a stream with an error once the statement is cancelled or times out.
///
/// While the inner stream has nothing ready, a stop future (a `select!` over
/// the cancel token and the deadline, made the first time it is needed) is
/// polled too, so a waiting stream is woken by a cancel or the deadline. While
/// items are ready, the token and the clock are checked once every
/// `CHECK_EVERY` items, starting with the first: polling the stop future for
/// each of a million rows cost more than encoding them, and making it for a
/// one-row result was a tenth of a `SELECT 1`.
pub struct Guarded<S> {
    inner: S,
    control: QueryControl,
    stop: Option<BoxFuture<'static, Interrupt>>,
    done: bool,
    since_check: u32,
    /// Items streamed, for the audit log.
    rows: u64,
}

impl<S> Drop for Guarded<S> {
    fn drop(&mut self) {
        self.control.add_rows(self.rows);
    }
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
            rows: 0,
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
                let e = why.error();
                self.control.failed(e.code);
                return Poll::Ready(Some(Err(to_pgwire(e))));
            }
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                if let PgWireError::UserError(info) = &e {
                    self.control.failed(&info.code);
                }
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(item)) => {
                self.since_check += 1;
                self.rows += 1;
                Poll::Ready(Some(item))
            }
            Poll::Pending => {
                // Waiting on the query: be woken by a cancel or the deadline.
                if let Some(why) = self.stopped(cx) {
                    self.done = true;
                    let e = why.error();
                    self.control.failed(e.code);
                    return Poll::Ready(Some(Err(to_pgwire(e))));
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
    // Lists of lists are described by their innermost items, as PostgreSQL
    // describes an array of any dimensions (`server::arrays`).
    let nested = schema
        .fields()
        .iter()
        .any(|f| super::arrays::is_nested(f.data_type()));
    let mut fields = if nested {
        let flat = Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| match super::arrays::is_nested(f.data_type()) {
                    true => f
                        .as_ref()
                        .clone()
                        .with_data_type(super::arrays::described_as(f.data_type())),
                    false => f.as_ref().clone(),
                })
                .collect::<Vec<_>>(),
        );
        arrow_schema_to_pg_fields(&flat, format, options)?
    } else {
        arrow_schema_to_pg_fields(schema, format, options)?
    };
    for (info, field) in fields.iter_mut().zip(schema.fields()) {
        if crate::compat::oid_array::is_oid_list(field.data_type()) {
            // Lists of oids arrow-pg describes by their items' physical type.
            *info = retyped(info, Type::OID_ARRAY);
        } else if crate::compat::int2vector::is_int2vector(field)
            && info.format() == pgwire::api::results::FieldFormat::Text
        {
            // `pg_index.indkey`: psqlODBC parses an int2vector's numbers
            // and would copy a text's characters.
            *info = retyped(info, Type::INT2_VECTOR);
        } else if field.data_type() == &DataType::Int32 && is_oid_alias(info.datatype()) {
            // datafusion-pg-catalog tags catalog columns (`pg_class.relnamespace`,
            // `pg_attribute.attrelid`, `pg_type.typelem`...) `regnamespace`,
            // `regclass`, `regtype`, whose text PostgreSQL writes as a name;
            // the values here are numbers, and PostgreSQL's catalogs type
            // these columns `oid`. Described so, clients read numbers as
            // numbers (psycopg handed them over as strings).
            *info = retyped(info, Type::OID);
        } else if field.data_type() != &DataType::Int32
            && field
                .metadata()
                .contains_key(arrow_pg::datatypes::PG_OID_ALIAS_KEY)
        {
            // A cast keeps its operand's metadata: `typelem::text` is text,
            // not the oid arrow-pg would describe (and clients would read
            // four bytes of).
            let plain = Schema::new(vec![
                field.as_ref().clone().with_metadata(Default::default()),
            ]);
            if let Some(described) = arrow_schema_to_pg_fields(&plain, format, None)?.pop() {
                *info = retyped(info, described.datatype().clone());
            }
        }
    }
    Ok(Arc::new(fields))
}

/// Whether `ty` is one of the `reg*` aliases of `oid`.
fn is_oid_alias(ty: &Type) -> bool {
    [
        Type::REGCLASS,
        Type::REGTYPE,
        Type::REGNAMESPACE,
        Type::REGROLE,
        Type::REGPROCEDURE,
        Type::REGOPER,
        Type::REGOPERATOR,
        Type::REGCONFIG,
        Type::REGDICTIONARY,
        Type::REGCOLLATION,
    ]
    .contains(ty)
}

/// `field` described as of type `ty`.
fn retyped(field: &FieldInfo, ty: Type) -> FieldInfo {
    FieldInfo::new(
        field.name().to_string(),
        field.table_id(),
        field.column_id(),
        ty,
        field.format(),
    )
    .with_format_options(field.format_options().clone())
}

/// The row descriptions last built for one statement. Each Describe and each
/// execution built its own (names, types and format per column: a few
/// percent of a `SELECT 1` round trip); they are reused while the schema, the
/// requested formats and the session's format options are the same.
#[derive(Debug, Default)]
pub struct FieldsCache {
    cached: Mutex<Vec<CachedFields>>,
    /// PostgreSQL's names for the columns, where they differ from the
    /// plan's (`compat::colnames`).
    names: Option<Arc<[Option<String>]>>,
    /// The table and column each column is a plain reference to
    /// (`server::origins`).
    origins: Option<Arc<[Option<super::origins::Origin>]>>,
}

#[derive(Debug)]
struct CachedFields {
    schema: SchemaRef,
    format: Format,
    options: Option<Arc<FormatOptions>>,
    fields: Arc<Vec<FieldInfo>>,
}

/// A Describe (no options) and an execution (the session's) per format.
const CACHED_DESCRIPTIONS: usize = 4;

impl FieldsCache {
    /// A cache whose descriptions call the columns `names` (where `Some`).
    pub fn named(names: Option<Arc<[Option<String>]>>) -> Self {
        FieldsCache {
            cached: Mutex::default(),
            names,
            origins: None,
        }
    }

    /// The same, its columns described as coming from `origins`.
    pub fn with_origins(self, origins: Option<Arc<[Option<super::origins::Origin>]>>) -> Self {
        FieldsCache { origins, ..self }
    }

    pub fn fields(
        &self,
        schema: &SchemaRef,
        format: &Format,
        options: Option<Arc<FormatOptions>>,
    ) -> PgWireResult<Arc<Vec<FieldInfo>>> {
        let mut cached = lock(&self.cached);
        let hit = cached.iter().find(|c| {
            same_format(&c.format, format)
                && same_options(c.options.as_ref(), options.as_ref())
                && (Arc::ptr_eq(&c.schema, schema) || c.schema.fields() == schema.fields())
        });
        if let Some(hit) = hit {
            return Ok(hit.fields.clone());
        }
        let mut built = fields(schema, format, options.clone())?;
        if let Some(names) = &self.names
            && names.len() == built.len()
        {
            built = Arc::new(
                built
                    .iter()
                    .zip(names.iter())
                    .map(|(f, name)| match name {
                        Some(name) => renamed(f, name),
                        None => f.clone(),
                    })
                    .collect(),
            );
        }
        if let Some(origins) = &self.origins
            && origins.len() == built.len()
        {
            built = Arc::new(
                built
                    .iter()
                    .zip(origins.iter())
                    .map(|(f, origin)| match origin {
                        Some(origin) => from_table(f, *origin),
                        None => f.clone(),
                    })
                    .collect(),
            );
        }
        if cached.len() == CACHED_DESCRIPTIONS {
            cached.remove(0);
        }
        cached.push(CachedFields {
            schema: schema.clone(),
            format: format.clone(),
            options,
            fields: built.clone(),
        });
        Ok(built)
    }
}

/// `field` called `name`.
fn renamed(field: &FieldInfo, name: &str) -> FieldInfo {
    FieldInfo::new(
        name.to_string(),
        field.table_id(),
        field.column_id(),
        field.datatype().clone(),
        field.format(),
    )
    .with_format_options(field.format_options().clone())
    .with_type_size(field.type_size())
    .with_type_modifier(field.type_modifier())
}

/// `field` described as column `attnum` of the table `oid`.
fn from_table(field: &FieldInfo, (oid, attnum): super::origins::Origin) -> FieldInfo {
    FieldInfo::new(
        field.name().to_string(),
        Some(oid as i32),
        Some(attnum),
        field.datatype().clone(),
        field.format(),
    )
    .with_format_options(field.format_options().clone())
    .with_type_size(field.type_size())
    .with_type_modifier(field.type_modifier())
}

/// A session hands out the same `Arc` until a setting changes, so the
/// pointers usually answer without comparing the option strings.
fn same_options(a: Option<&Arc<FormatOptions>>, b: Option<&Arc<FormatOptions>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
        (None, None) => true,
        _ => false,
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
    let fields = match cache {
        Some(cache) => cache.fields(&schema, format, options)?,
        None => fields(&schema, format, options)?,
    };
    let row_fields = fields.clone();
    let rows = batches
        .map(move |batch| {
            let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch
                .map_err(|e| to_pgwire(classify(&e)))
                .and_then(|batch| BatchRows::new(batch, row_fields.clone()))
            {
                Ok(rows) => Box::new(rows),
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
            stream::iter(rows)
        })
        .flatten();
    Ok(QueryResponse::new(
        fields,
        Guarded::new(Box::pin(rows), control),
    ))
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

    #[test]
    fn row_descriptions_are_reused_only_for_the_same_request() {
        use datafusion::arrow::datatypes::{DataType, Field};
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
        // Equal options in another `Arc` (a session that set DateStyle and
        // set it back): the same descriptions.
        let equal = cache
            .fields(
                &schema,
                &Format::UnifiedText,
                Some(Arc::new(FormatOptions::default())),
            )
            .expect("fields");
        assert!(Arc::ptr_eq(&first, &equal));

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
}
