//! What the functions that read the prediction log share (`ml_monitor`,
//! `ml_ab_report`): their calls ([`LogCall`]), their scans ([`LogTable`])
//! and feedback joined to the prediction it is about: the latest prediction of
//! the same model and key logged at or before the feedback row. Shared by
//! `ml_monitor` and `ml_ab_report`; the shadow's predictions are joined in
//! a lane of their own ([`Lane`]), since nobody acted on them: feedback is
//! about what was served, and the shadow is measured against the same
//! outcomes.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMicrosecondType};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, execute_stream};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use quarry_udfs::ModelStore;
use quarry_udfs::control::Control;
use quarry_udfs::functions::evaluation::Options;
use quarry_udfs::functions::params::Args;
use quarry_udfs::model::ModelRef;
use quarry_udfs::model::route::SHADOW;

use crate::catalog::DEFAULT_SCHEMA;
use crate::error::SqlStateError;
use crate::registry::Registry;

/// Which predictions a feedback row can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The predictions served (production, a challenger, a pinned call).
    Served,
    /// The shadow's, scored for the log only.
    Shadow,
}

impl Lane {
    /// The lane of a logged row, by its alias.
    pub fn of(alias: Option<&str>) -> Lane {
        if alias == Some(SHADOW) {
            Lane::Shadow
        } else {
            Lane::Served
        }
    }
}

/// One feedback row.
#[derive(Debug, Clone)]
pub struct Feedback {
    pub actual: Option<String>,
    pub overridden: bool,
    pub at: i64,
}

/// The feedback of one model, each row waiting for its prediction in each
/// lane: `T` is what a matched prediction carries.
pub struct FeedbackJoin<T> {
    rows: Vec<Feedback>,
    by_key: HashMap<String, Vec<usize>>,
    /// Per lane and feedback row: (at, log order, payload) of the match.
    matched: [Vec<Option<(i64, u64, T)>>; 2],
    order: u64,
}

impl<T> FeedbackJoin<T> {
    /// Reads the feedback rows of `model` from `feedback` (a scan of
    /// `ml_feedback`, kept whole: it is small).
    pub async fn read(
        model: &str,
        feedback: Arc<dyn ExecutionPlan>,
        ctx: Arc<TaskContext>,
    ) -> Result<FeedbackJoin<T>> {
        let mut rows = Vec::new();
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        let mut stream = execute_stream(feedback, ctx)?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let (models, key, actual) = (
                texts(&batch, "model")?,
                texts(&batch, "key")?,
                texts(&batch, "actual")?,
            );
            let overridden = column(&batch, "overridden")?.as_boolean().clone();
            let at = micros(&batch, "at")?;
            for i in 0..batch.num_rows() {
                if models.is_null(i) || models.value(i) != model || key.is_null(i) {
                    continue;
                }
                by_key
                    .entry(key.value(i).to_string())
                    .or_default()
                    .push(rows.len());
                rows.push(Feedback {
                    actual: actual.is_valid(i).then(|| actual.value(i).to_string()),
                    overridden: overridden.is_valid(i) && overridden.value(i),
                    at: at.value(i),
                });
            }
        }
        let n = rows.len();
        Ok(FeedbackJoin {
            rows,
            by_key,
            matched: [
                std::iter::repeat_with(|| None).take(n).collect(),
                std::iter::repeat_with(|| None).take(n).collect(),
            ],
            order: 0,
        })
    }

    /// A logged prediction of `key` at `at`, in log order: it becomes the
    /// match of every feedback row of the key at or after it that has no
    /// later match in its lane. `payload` is made only when it matches.
    pub fn offer(&mut self, lane: Lane, key: &str, at: i64, payload: impl Fn() -> T) {
        self.order += 1;
        let Some(waiting) = self.by_key.get(key) else {
            return;
        };
        let matched = &mut self.matched[lane as usize];
        for &f in waiting {
            let later = matched[f]
                .as_ref()
                .is_none_or(|(t, o, _)| (at, self.order) > (*t, *o));
            if at <= self.rows[f].at && later {
                matched[f] = Some((at, self.order, payload()));
            }
        }
    }

    /// Whether any feedback row has `key`.
    pub fn wants(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// Each feedback row with the prediction it joined, lane by lane.
    pub fn joined(self) -> Vec<(Feedback, T)> {
        let FeedbackJoin { rows, matched, .. } = self;
        let [served, shadow] = matched;
        let mut out = Vec::new();
        for lane in [served, shadow] {
            for (f, m) in rows.iter().zip(lane) {
                if let Some((_, _, payload)) = m {
                    out.push((f.clone(), payload));
                }
            }
        }
        out
    }
}

pub fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        SqlStateError::internal(format!("serving table: no column {name}")).into_df()
    })
}

pub fn texts(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    Ok(cast(column(batch, name)?, &DataType::Utf8)?
        .as_string::<i32>()
        .clone())
}

pub fn micros(batch: &RecordBatch, name: &str) -> Result<TimestampMicrosecondArray> {
    let at = cast(
        column(batch, name)?,
        &DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
    )?;
    Ok(at.as_primitive::<TimestampMicrosecondType>().clone())
}

/// What reads a model's prediction log and feedback to answer a table
/// function (`ml_monitor`, `ml_ab_report`): [`LogTable`] plans the scans,
/// the job turns them into its rows.
#[async_trait]
pub trait LogJob: std::fmt::Debug + Clone + Send + Sync + 'static {
    /// The function's name, for errors.
    const NAME: &'static str;
    fn schema(&self) -> SchemaRef;
    /// The model whose log is read.
    fn model(&self) -> &str;
    /// Log rows at or after this instant (µs) are read.
    fn since(&self) -> i64;
    /// The rows, from a scan of the log and one of the feedback.
    async fn run(self, scans: Scans) -> Result<RecordBatch>;
}

/// What a [`LogJob`] reads, and how it may compute.
pub struct Scans {
    pub log: Arc<dyn ExecutionPlan>,
    pub feedback: Arc<dyn ExecutionPlan>,
    pub ctx: Arc<TaskContext>,
    pub control: Control,
    /// Threads the session gives one operator.
    pub threads: usize,
}

/// A table function's answer as a scan: it streams `ml_feedback` (kept
/// whole: it is small) and then the log, so the log of a busy model is read
/// once without being held. Per-day log files and their `at` statistics let
/// the scan skip days before `since`.
#[derive(Debug)]
pub struct LogTable<J: LogJob>(pub J);

/// A serving table, as the session's catalog has it (its transaction sees
/// its own writes).
pub async fn serving_table(
    function: &str,
    state: &dyn Session,
    name: &str,
) -> Result<Arc<dyn TableProvider>> {
    let state = state
        .as_any()
        .downcast_ref::<datafusion::execution::context::SessionState>()
        .ok_or_else(|| SqlStateError::internal("not a SessionState").into_df())?;
    let reference = TableReference::partial(DEFAULT_SCHEMA, name);
    state
        .schema_for_ref(reference)?
        .table(name)
        .await?
        .ok_or_else(|| {
            SqlStateError::new(
                crate::error::sqlstate::UNDEFINED_TABLE,
                format!("{function}: relation \"{name}\" does not exist yet: it is created with the first model"),
            )
            .into_df()
        })
}

#[async_trait]
impl<J: LogJob> TableProvider for LogTable<J> {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let function = J::NAME;
        let model = lit(self.0.model());
        let since = lit(ScalarValue::TimestampMicrosecond(
            Some(self.0.since()),
            Some("+00:00".into()),
        ));
        // Inexact: row groups and day files outside are skipped; rows are
        // checked again while read.
        let log_filters = [col("model").eq(model.clone()), col("at").gt_eq(since)];
        let log = serving_table(function, state, super::log::TABLE)
            .await?
            .scan(state, None, &log_filters, None)
            .await?;
        let feedback = serving_table(function, state, super::feedback::TABLE)
            .await?
            .scan(state, None, &[col("model").eq(model)], None)
            .await?;
        let partition = LogPartition {
            schema: self.0.schema(),
            job: self.0.clone(),
            log,
            feedback,
            control: Control::of(state.config_options()),
            threads: state.config().target_partitions().max(1),
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            self.0.schema(),
            vec![Arc::new(partition)],
            projection,
            vec![],
            false,
            limit,
        )?))
    }
}

#[derive(Debug)]
struct LogPartition<J: LogJob> {
    schema: SchemaRef,
    job: J,
    log: Arc<dyn ExecutionPlan>,
    feedback: Arc<dyn ExecutionPlan>,
    control: Control,
    threads: usize,
}

impl<J: LogJob> PartitionStream for LogPartition<J> {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let scans = Scans {
            log: self.log.clone(),
            feedback: self.feedback.clone(),
            ctx,
            control: self.control.clone(),
            threads: self.threads,
        };
        let job = self.job.clone();
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::once(job.run(scans)),
        ))
    }
}

/// A log-reading function's call, parsed once: the model (the caller must
/// be allowed to score it: the function reads its predictions), the positional
/// values after it by name, and the resampling options.
pub struct LogCall {
    /// The reference as written (`name@2` keeps its version).
    pub reference: String,
    pub model: ModelRef,
    /// `names`' values in order, positional or named.
    pub values: Vec<Option<Expr>>,
    pub options: Options,
}

impl LogCall {
    /// Parses `function(model [, names...], ci =>, bootstrap =>, seed =>)`.
    pub fn parse(
        function: &str,
        registry: &Registry,
        mut args: Args,
        ctx: &mut dyn RelationPlannerContext,
        names: &[&str],
    ) -> Result<LogCall> {
        if args.is_empty() {
            return Err(args.usage_error());
        }
        args.at_most(1 + names.len())?;
        let reference = args.model(0)?;
        crate::access::require_model(
            ctx.context_provider().options(),
            &reference,
            crate::access::Privilege::Predict,
        )
        .map_err(SqlStateError::into_df)?;
        let model = registry
            .resolve(&reference)
            .map_err(SqlStateError::into_df)?;
        let mut values: Vec<Option<Expr>> = (0..names.len()).map(|i| args.value(i + 1)).collect();
        let mut options = Options::default();
        for (name, value) in std::mem::take(&mut args.named) {
            let name = name.to_ascii_lowercase();
            if let Some(i) = names.iter().position(|n| *n == name) {
                values[i] = Some(value);
            } else if matches!(name.as_str(), "ci" | "bootstrap" | "seed") {
                let v = constant(function, &name, &value).map_err(SqlStateError::into_df)?;
                options
                    .set(function, &name, v)
                    .map_err(SqlStateError::into_df)?;
            } else {
                return Err(SqlStateError::bad_argument(format!(
                    "{function}: unknown option {name}; it takes {}, ci, bootstrap, seed",
                    names.join(", ")
                ))
                .into_df());
            }
        }
        Ok(LogCall {
            reference,
            model,
            values,
            options,
        })
    }
}

/// A constant argument's value; `22023` naming the argument otherwise.
pub fn constant<'a>(
    function: &str,
    argument: &str,
    value: &'a Expr,
) -> std::result::Result<&'a ScalarValue, SqlStateError> {
    match value {
        Expr::Literal(v, _) if !v.is_null() => Ok(v),
        other => Err(SqlStateError::arg(
            function,
            argument,
            "must be a constant",
            other,
        )),
    }
}

/// The text of a text value.
pub fn text_of(value: &ScalarValue) -> Option<&str> {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s.as_str()),
        _ => None,
    }
}
