//! Result streaming: Arrow batches to PostgreSQL data rows, under the statement's
//! cancel token and deadline for the whole stream, not just planning.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion::arrow::datatypes::Schema;
use datafusion::execution::SendableRecordBatchStream;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldInfo, QueryResponse};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

use crate::error::{classify, to_pgwire};
use crate::session::{Interrupt, QueryControl};

/// Stops a stream with an error once the statement is cancelled or times out.
///
/// The stop future (a `select!` over the cancel token and the deadline) is
/// polled when the inner stream has nothing ready, which registers its waker
/// for a stream that is waiting, and otherwise once every [`CHECK_EVERY`]
/// items: polling it for each of a million rows cost more than encoding them.
pub struct Guarded<S> {
    inner: S,
    stop: BoxFuture<'static, Interrupt>,
    done: bool,
    since_check: u32,
}

/// Items streamed between two checks of the stop future.
const CHECK_EVERY: u32 = 1024;

impl<S> Guarded<S> {
    pub fn new(inner: S, control: QueryControl) -> Self {
        let stop = async move { control.wait().await }.boxed();
        Guarded {
            inner,
            stop,
            done: false,
            since_check: CHECK_EVERY,
        }
    }

    fn stopped(&mut self, cx: &mut Context<'_>) -> Option<Interrupt> {
        self.since_check = 0;
        match self.stop.poll_unpin(cx) {
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
        if self.since_check >= CHECK_EVERY
            && let Some(why) = self.stopped(cx)
        {
            self.done = true;
            return Poll::Ready(Some(Err(to_pgwire(why.error()))));
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

/// Encodes a batch stream as a query response that honours `control`.
pub fn query_response(
    batches: SendableRecordBatchStream,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
    control: QueryControl,
) -> PgWireResult<QueryResponse> {
    let schema = batches.schema();
    let fields = fields(&schema, format, options)?;
    let row_fields = fields.clone();
    let rows = batches
        .map(move |batch| {
            let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch {
                Ok(batch) => encode_recordbatch(row_fields.clone(), batch),
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
