//! The prediction log: sampled scoring calls, queued in memory and written
//! by one background task into the managed table `ml_prediction_log`.
//!
//! Scoring never waits for the log. A call hands its sampled rows (the
//! arrays it already has, filtered) to [`PredictionLog::offer`], which
//! queues them when the queue has room for them and otherwise drops them
//! and counts the rows dropped (`GET /metrics`: `quarry_prediction_log_rows_dropped_total`).
//! The writer wakes every [`FLUSH_EVERY`] or when a batch's worth of rows is
//! waiting, turns the queued calls into log rows (the features as one JSON
//! object per row, the prediction as text) and commits them through the
//! same protocol as every table write: Parquet files written, fsynced,
//! then listed in one catalog transaction. A crash therefore leaves the
//! log holding the batches committed before it, never part of one; what
//! was still queued is lost, and counted nowhere (the server died).
//!
//! A scan of the log first waits (at most [`SETTLE_WAIT`]) for what was
//! queued before it to be committed ([`ReadBarrier`]): a session that
//! scores and then reads the log sees its rows without sleeping.
//!
//! Files are written one per day of `at`, so retention (a model's
//! `log_retention_days`) mostly removes whole files; the writer applies it
//! once an hour, rewriting only files that hold both expired and kept rows.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::{cast, concat_batches, filter, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::catalog::table::{ReadBarrier, TableData};
use crate::error::{Result, SqlStateError};
use crate::sync::lock;

/// The log table's name (schema `public`).
pub const TABLE: &str = "ml_prediction_log";

/// How often the writer commits what is queued.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Queued rows that wake the writer before its interval.
const FLUSH_ROWS: usize = 64 * 1024;
/// The longest a scan of the log waits for earlier calls' rows: long
/// enough for the lowest-priority writer on a machine kept busy (it waits
/// only while rows are queued; a failed write counts as done).
pub const SETTLE_WAIT: Duration = Duration::from_secs(30);
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// The log table's columns.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::Int32, false),
        Field::new("alias", DataType::Utf8, true),
        Field::new("key", DataType::Utf8, true),
        Field::new("inputs", DataType::Utf8, false),
        Field::new("output", DataType::Utf8, true),
        Field::new("probability", DataType::Float64, true),
        Field::new("latency_us", DataType::Int64, false),
        Field::new("user", DataType::Utf8, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
        Field::new("request_id", DataType::Utf8, false),
        Field::new("function", DataType::Utf8, false),
    ]))
}

/// One scoring call's sampled rows, waiting to be written.
#[derive(Debug)]
pub struct Entry {
    pub model: String,
    pub version: u32,
    pub alias: Option<String>,
    pub function: &'static str,
    pub user: String,
    pub request_id: String,
    pub at_us: i64,
    pub latency_us: i64,
    pub feature_names: Arc<[String]>,
    pub features: Vec<ArrayRef>,
    pub key: Option<ArrayRef>,
    pub prediction: ArrayRef,
    pub probability: Option<ArrayRef>,
}

impl Entry {
    pub fn rows(&self) -> usize {
        self.prediction.len()
    }

    /// Only the rows `keep` marks.
    pub fn filtered(mut self, keep: &[bool]) -> Result<Entry> {
        if keep.iter().all(|k| *k) {
            return Ok(self);
        }
        let mask = BooleanArray::from(keep.to_vec());
        let f = |a: &ArrayRef| filter(a.as_ref(), &mask).map_err(SqlStateError::internal);
        self.features = self.features.iter().map(f).collect::<Result<_>>()?;
        self.key = self.key.as_ref().map(f).transpose()?;
        self.prediction = f(&self.prediction)?;
        self.probability = self.probability.as_ref().map(f).transpose()?;
        Ok(self)
    }

    /// The log rows of this call.
    fn batch(&self, schema: &SchemaRef) -> Result<RecordBatch> {
        let n = self.rows();
        let text = |a: &ArrayRef| -> Result<ArrayRef> {
            cast(a, &DataType::Utf8).map_err(SqlStateError::internal)
        };
        let repeat = |s: &str| -> ArrayRef { Arc::new(StringArray::from(vec![s; n])) };
        let columns: Vec<ArrayRef> = vec![
            repeat(&self.model),
            Arc::new(Int32Array::from(vec![self.version as i32; n])),
            Arc::new(StringArray::from(vec![self.alias.as_deref(); n])),
            match &self.key {
                Some(k) => text(k)?,
                None => Arc::new(StringArray::new_null(n)),
            },
            Arc::new(inputs_json(&self.feature_names, &self.features, n)?),
            text(&self.prediction)?,
            match &self.probability {
                Some(p) => cast(p, &DataType::Float64).map_err(SqlStateError::internal)?,
                None => Arc::new(Float64Array::new_null(n)),
            },
            Arc::new(Int64Array::from(vec![self.latency_us; n])),
            repeat(&self.user),
            Arc::new(TimestampMicrosecondArray::from(vec![self.at_us; n]).with_timezone("+00:00")),
            repeat(&self.request_id),
            repeat(self.function),
        ];
        RecordBatch::try_new(schema.clone(), columns).map_err(SqlStateError::internal)
    }
}

/// Each row's features as one JSON object (`{"age":34,"plan":"basic"}`),
/// NULLs written as `null`.
fn inputs_json(names: &[String], features: &[ArrayRef], rows: usize) -> Result<StringArray> {
    use datafusion::arrow::json::WriterBuilder;
    use datafusion::arrow::json::writer::LineDelimited;
    let fields: Vec<Field> = names
        .iter()
        .zip(features)
        .map(|(n, a)| Field::new(n, a.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), features.to_vec())
        .map_err(SqlStateError::internal)?;
    let mut buf = Vec::with_capacity(rows * 64);
    {
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, LineDelimited>(&mut buf);
        writer.write(&batch).map_err(SqlStateError::internal)?;
        writer.finish().map_err(SqlStateError::internal)?;
    }
    let text = String::from_utf8(buf).map_err(SqlStateError::internal)?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != rows {
        return Err(SqlStateError::internal(format!(
            "{} JSON lines for {rows} logged rows",
            lines.len()
        )));
    }
    Ok(StringArray::from(lines))
}

/// The queue between scoring and the writer, and its counters.
#[derive(Debug)]
pub struct PredictionLog {
    queue: Mutex<VecDeque<Entry>>,
    queued_rows: AtomicUsize,
    capacity_rows: usize,
    wake: tokio::sync::Notify,
    /// Rows committed to the table.
    pub written: AtomicU64,
    /// Rows dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Rows lost because a write failed (disk full...); logged as errors.
    pub failed: AtomicU64,
    /// Counts the written inputs' drift, when set.
    pub drift: std::sync::OnceLock<Arc<super::live_drift::LiveDrift>>,
    /// Calls queued so far (changed under the queue's lock).
    offered: AtomicU64,
    /// Calls taken from the queue and written (or failed) so far: the
    /// writer takes them in order, so every call up to this count is done.
    settled: tokio::sync::watch::Sender<u64>,
}

impl PredictionLog {
    /// A log whose queue holds at most `capacity_rows` rows.
    pub fn new(capacity_rows: usize) -> Self {
        PredictionLog {
            queue: Mutex::new(VecDeque::new()),
            queued_rows: AtomicUsize::new(0),
            capacity_rows,
            wake: tokio::sync::Notify::new(),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            drift: std::sync::OnceLock::new(),
            offered: AtomicU64::new(0),
            settled: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Queues a call's rows, or drops and counts them when there is no room.
    pub fn offer(&self, entry: Entry) {
        let rows = entry.rows();
        if rows == 0 {
            return;
        }
        let mut queue = lock(&self.queue);
        let queued = self.queued_rows.load(Ordering::Relaxed);
        if queued + rows > self.capacity_rows {
            drop(queue);
            self.dropped.fetch_add(rows as u64, Ordering::Relaxed);
            return;
        }
        queue.push_back(entry);
        self.queued_rows.store(queued + rows, Ordering::Relaxed);
        self.offered.fetch_add(1, Ordering::Relaxed);
        drop(queue);
        if queued + rows >= FLUSH_ROWS {
            self.wake.notify_one();
        }
    }

    /// Rows waiting to be written.
    pub fn queued(&self) -> usize {
        self.queued_rows.load(Ordering::Relaxed)
    }

    fn take(&self) -> Vec<Entry> {
        let mut queue = lock(&self.queue);
        self.queued_rows.store(0, Ordering::Relaxed);
        queue.drain(..).collect()
    }

    /// Writes what is queued now; the rows written.
    pub async fn flush(&self, table: &Arc<TableData>) -> u64 {
        let entries = self.take();
        if entries.is_empty() {
            return 0;
        }
        let calls = entries.len() as u64;
        let rows: u64 = entries.iter().map(|e| e.rows() as u64).sum();
        let written = match write(table, entries, self.drift.get().cloned()).await {
            Ok(n) => {
                self.written.fetch_add(n, Ordering::Relaxed);
                n
            }
            Err(e) => {
                self.failed.fetch_add(rows, Ordering::Relaxed);
                warn!(rows, error = %e.message, "prediction log: a batch could not be written");
                0
            }
        };
        self.settled.send_modify(|n| *n += calls);
        written
    }

    /// The writer: flushes until `shutdown`, then once more; applies
    /// retention hourly with the policies `retention` returns.
    pub async fn run(
        self: Arc<Self>,
        table: Arc<TableData>,
        retention: impl Fn() -> HashMap<String, u64> + Send + 'static,
        shutdown: CancellationToken,
    ) {
        let mut last_retention: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(FLUSH_EVERY) => {}
            }
            self.flush(&table).await;
            if last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
                last_retention = Some(Instant::now());
                let days = retention();
                if !days.is_empty() {
                    match expire(&table, &days, now_us()).await {
                        Ok(0) => {}
                        Ok(n) => info!(rows = n, "prediction log: expired rows removed"),
                        Err(e) => warn!(error = %e.message, "prediction log: retention failed"),
                    }
                }
            }
        }
        let n = self.flush(&table).await;
        if n > 0 {
            info!(rows = n, "prediction log flushed at shutdown");
        }
    }
}

#[async_trait::async_trait]
impl ReadBarrier for PredictionLog {
    /// Wakes the writer and waits until every call queued before now is
    /// written, at most [`SETTLE_WAIT`] (then the scan reads what is
    /// committed: a reader is never held longer by a slow disk).
    async fn settle(&self) {
        let target = {
            let _queue = lock(&self.queue);
            self.offered.load(Ordering::Relaxed)
        };
        let mut settled = self.settled.subscribe();
        if *settled.borrow() >= target {
            return;
        }
        self.wake.notify_one();
        let _ = tokio::time::timeout(SETTLE_WAIT, settled.wait_for(|n| *n >= target)).await;
    }
}

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

const DAY_US: i64 = 86_400_000_000;

/// Runs `work` on a thread of its own at the lowest CPU priority: turning
/// rows into JSON and Parquet must yield the cores to queries (measured: at
/// normal priority the writer took a quarter of a 2-core machine's scoring
/// throughput while it encoded), and must not run on the async runtime.
async fn in_background<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("quarry-log-writer".into())
        .spawn(move || {
            lower_priority();
            let _ = tx.send(work());
        })
        .map_err(|e| SqlStateError::internal(format!("log writer thread: {e}")))?;
    rx.await
        .map_err(|_| SqlStateError::internal("the log writer thread ended"))?
}

/// The lowest CPU priority that still guarantees progress (Linux applies
/// both per thread): `SCHED_BATCH`, which never preempts a query thread on
/// wakeup, at nice 19, a 1/68 share of a core against each busy query
/// thread. Not `SCHED_IDLE`: it cost scoring less (2% against 12-21% at
/// nice 19, rate 1.0) but runs only on an idle core, so a server kept busy
/// by a long training starved its log for minutes (seen in CI: a scan of
/// the log a minute later still missed the rows). An unprivileged thread
/// cannot leave `SCHED_IDLE` once in it, so there is no promoting it later.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        let _ = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
        );
        // After the policy, which sets a nice value of its own.
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
    }
}

/// Commits the rows of `entries`, one file set (and commit) per day.
async fn write(
    table: &Arc<TableData>,
    entries: Vec<Entry>,
    drift: Option<Arc<super::live_drift::LiveDrift>>,
) -> Result<u64> {
    let data = table.clone();
    let pending = in_background(move || {
        if let Some(drift) = drift {
            drift.observe(&entries);
        }
        let schema = schema();
        let mut by_day: BTreeMap<i64, Vec<RecordBatch>> = BTreeMap::new();
        for e in &entries {
            by_day
                .entry(e.at_us.div_euclid(DAY_US))
                .or_default()
                .push(e.batch(&schema)?);
        }
        by_day
            .into_values()
            .map(|batches| {
                let batch = concat_batches(&schema, &batches).map_err(SqlStateError::internal)?;
                let mut writer = data.writer()?;
                writer.write(&batch)?;
                writer.finish()
            })
            .collect::<Result<Vec<_>>>()
    })
    .await?;
    let mut rows = 0;
    for day in pending {
        rows += table.commit(day, false).await?;
    }
    Ok(rows)
}

/// Removes rows older than their model's retention (days by model); the
/// rows removed.
pub async fn expire(table: &Arc<TableData>, days: &HashMap<String, u64>, now: i64) -> Result<u64> {
    let files = table.snapshot().files;
    let data = table.clone();
    let days = days.clone();
    let (pending, removed, gone) = in_background(move || {
        let mut writer = data.writer()?;
        let mut removed = Vec::new();
        let mut gone = 0u64;
        for file in &files {
            let mut kept = Vec::new();
            let mut dropped = 0usize;
            for batch in crate::catalog::rewrite::read_file(&data, &file.name)? {
                let batch = batch?;
                let keep = keep_mask(&batch, &days, now)?;
                dropped += keep.false_count();
                kept.push(filter_record_batch(&batch, &keep).map_err(SqlStateError::internal)?);
            }
            if dropped == 0 {
                continue;
            }
            gone += dropped as u64;
            removed.push(file.name.clone());
            for b in kept.iter().filter(|b| b.num_rows() > 0) {
                writer.write(b)?;
            }
        }
        Ok((writer.finish()?, removed, gone))
    })
    .await?;
    if removed.is_empty() {
        return Ok(0);
    }
    table.commit_rewrite(pending, &removed).await?;
    Ok(gone)
}

/// Which rows of a log batch are still within their model's retention.
fn keep_mask(batch: &RecordBatch, days: &HashMap<String, u64>, now: i64) -> Result<BooleanArray> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| SqlStateError::internal(format!("log file without {name}")))
    };
    let models = cast(column("model")?, &DataType::Utf8).map_err(SqlStateError::internal)?;
    let models = models
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| SqlStateError::internal("log model column"))?;
    let at = cast(column("at")?, &DataType::Int64).map_err(SqlStateError::internal)?;
    let at = at
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| SqlStateError::internal("log at column"))?;
    Ok((0..batch.num_rows())
        .map(|i| {
            Some(match days.get(models.value(i)) {
                Some(d) => at.value(i) >= now - (*d as i64) * DAY_US,
                None => true,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(model: &str, rows: usize) -> Entry {
        Entry {
            model: model.into(),
            version: 1,
            alias: Some("production".into()),
            function: "ml_predict",
            user: "quarry".into(),
            request_id: "r1".into(),
            at_us: 0,
            latency_us: 5,
            feature_names: Arc::from(vec!["age".to_string(), "plan".to_string()]),
            features: vec![
                Arc::new(Int64Array::from_iter(
                    (0..rows).map(|i| (i % 3 != 0).then_some(i as i64)),
                )),
                Arc::new(StringArray::from(vec!["basic"; rows])),
            ],
            key: Some(Arc::new(Int64Array::from_iter_values(0..rows as i64))),
            prediction: Arc::new(BooleanArray::from(vec![true; rows])),
            probability: Some(Arc::new(Float64Array::from(vec![0.75; rows]))),
        }
    }

    #[test]
    fn a_call_becomes_log_rows() {
        let b = entry("churn", 3).batch(&schema()).expect("ok");
        assert_eq!(b.num_rows(), 3);
        let inputs = b.column_by_name("inputs").expect("ok");
        let inputs = inputs.as_any().downcast_ref::<StringArray>().expect("ok");
        assert_eq!(inputs.value(0), r#"{"age":null,"plan":"basic"}"#);
        assert_eq!(inputs.value(1), r#"{"age":1,"plan":"basic"}"#);
        let output = b.column_by_name("output").expect("ok");
        let output = output.as_any().downcast_ref::<StringArray>().expect("ok");
        assert_eq!(output.value(0), "true");
        let key = b.column_by_name("key").expect("ok");
        assert_eq!(
            key.as_any()
                .downcast_ref::<StringArray>()
                .expect("ok")
                .value(2),
            "2"
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let log = PredictionLog::new(10);
        log.offer(entry("churn", 6));
        log.offer(entry("churn", 6));
        log.offer(entry("churn", 4));
        assert_eq!(log.queued(), 10);
        assert_eq!(log.dropped.load(Ordering::Relaxed), 6);
        assert_eq!(log.take().len(), 2);
        assert_eq!(log.queued(), 0);
    }

    #[test]
    fn filtering_keeps_the_sampled_rows() {
        let e = entry("churn", 4)
            .filtered(&[true, false, false, true])
            .expect("ok");
        assert_eq!(e.rows(), 2);
        assert_eq!(e.features[1].len(), 2);
        assert_eq!(e.key.expect("ok").len(), 2);
    }

    #[test]
    fn retention_keeps_recent_rows_and_other_models() {
        let mut old = entry("churn", 2).batch(&schema()).expect("ok");
        let other = entry("price", 2).batch(&schema()).expect("ok");
        old = concat_batches(&schema(), &[old, other]).expect("ok");
        let days = HashMap::from([("churn".to_string(), 1u64)]);
        let keep = keep_mask(&old, &days, 2 * DAY_US).expect("ok");
        assert_eq!(keep, BooleanArray::from(vec![false, false, true, true]));
        let keep = keep_mask(&old, &days, DAY_US / 2).expect("ok");
        assert_eq!(keep.true_count(), 4);
    }
}
