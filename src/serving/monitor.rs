//! `SELECT * FROM ml_monitor(model [, window => '7 days', grain => 'day'])`:
//! how a live model is doing, per period, from its prediction log and the
//! feedback joined to it.
//!
//! A feedback row is about the latest logged prediction of the same model
//! and key made at or before it; it counts in the period (and version) of
//! that prediction, so a period's metric describes what the model said then,
//! whenever the truth came back. Per (period, version) the function gives
//! the predictions logged, the labelled ones, each of the task's metrics on
//! the labelled rows with a percentile bootstrap interval (the kernel, the
//! defaults and the definitions of `ml_evaluate`), the override rate, the
//! mean prediction, the PSI of the predictions against the version's
//! training profile, and how many features drifted (PSI above 0.2, as
//! `ml_drift` flags it) in the logged inputs.
//!
//! Plan: the call becomes a scan of a `MonitorTable`, whose execution
//! streams `ml_feedback` (kept whole: it is small) and then the log (only
//! bin counts and the joined rows are kept), so the log of a busy model is
//! read once without being held. Per-day log files and their `at` statistics
//! let the scan skip days outside the window.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, LogicalPlan, LogicalPlanBuilder,
};
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use quarry_udfs::ModelStore;
use quarry_udfs::control::Control;
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::drift::binned::{Binned, Comparable};
use quarry_udfs::functions::drift::findings::Thresholds;
use quarry_udfs::functions::evaluation::Options;
use quarry_udfs::functions::params::{Args, MODEL, Param, Params};
use quarry_udfs::functions::relation::RelationFunction;
use quarry_udfs::kernels::bootstrap::{self, Kind, Prepared};
use quarry_udfs::model::schema::{ClassValue, FeatureKind, Task};
use quarry_udfs::model::{LoadedModel, ModelRef};
use serde_json::Value as Json;

use super::joined::{
    Feedback, FeedbackJoin, Lane, LogCall, LogJob, LogTable, Scans, column, constant, micros,
    text_of, texts,
};
use crate::error::SqlStateError;
use crate::registry::Registry;

pub const NAME: &str = "ml_monitor";
const DEFAULT_WINDOW: &str = "7 days";

#[derive(Debug)]
pub struct MonitorUdtf {
    registry: Arc<Registry>,
}

impl MonitorUdtf {
    pub fn new(registry: Arc<Registry>) -> Self {
        MonitorUdtf { registry }
    }
}

impl TableFunctionSpec for MonitorUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        MODEL,
        Param::value(
            "window",
            "How far back, from now: an interval or its text (default '7 days').",
        )
        .optional(),
        Param::value(
            "grain",
            "The period of each row: 'minute', 'hour', 'day' (default), 'week' (from Monday) or 'month'; UTC.",
        )
        .optional(),
        Param::named("ci", "Confidence level of the intervals (default 0.95)."),
        Param::named("bootstrap", "Resamples per interval (default 1000; 0 for none)."),
        Param::named("seed", "Seed of the resamples (default 42)."),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Model monitoring", description: None },
            "How a live model is doing, per period and version, from its prediction log (ml_prediction_log) and the feedback joined to it (ml_feedback: a feedback row is about the latest prediction of the same model and key logged at or before it, and counts in that prediction's period). Columns: period, version, predictions (logged in the period), labelled (feedback rows joined to them), metric and value with ci_lower and ci_upper (one row per metric: roc_auc, accuracy and f1 for binary classifiers, accuracy for multi-class, rmse and mae for regressors, on the labelled rows whose actual is a class of the model or a number; the definitions and percentile bootstrap of ml_evaluate), override_rate (overridden / labelled), mean_prediction (the mean logged probability of a classifier, the mean prediction of a regressor), prediction_psi (the logged predictions against the version's training profile), drifted_features (features whose logged inputs have a PSI above 0.2 against the training profile, ml_drift's flag), max_feature_psi and max_psi_feature (the largest of those PSIs and its feature), and feature_means (a JSON object: each numeric feature's mean logged value). Grain 'window' gives one row per version and metric for the whole window. Only sampled predictions are in the log (the policy's log_sample_rate). A bare name covers every version; 'name@2' or 'name@alias' one. Errors: 42704 unknown model; 22023 for a bad window, grain or option.",
            "SELECT * FROM ml_monitor(model [, window [, grain]])",
        )
        .with_sql_example(
r#"```sql
> SELECT ml_set_policy('churn', '{"log_sample_rate": 1, "key": "customer_id"}');
+-------------------------------------------+
| ml_set_policy                             |
+-------------------------------------------+
| {"key":"customer_id","log_sample_rate":1} |
+-------------------------------------------+
> SELECT count(prediction) AS scored FROM ml_predict('churn', customers_recent);
+--------+
| scored |
+--------+
| 10000  |
+--------+
> INSERT INTO ml_feedback (model, key, actual)
  SELECT 'churn', CAST(customer_id AS TEXT), CAST(churned AS TEXT) FROM customers_recent;
> SELECT predictions, labelled, metric, round(value, 3) AS value, round(ci_lower, 3) AS ci_lower,
         round(ci_upper, 3) AS ci_upper, round(prediction_psi, 3) AS prediction_psi, drifted_features
  FROM ml_monitor('churn', window => '1 day');
+-------------+----------+----------+-------+----------+----------+----------------+------------------+
| predictions | labelled | metric   | value | ci_lower | ci_upper | prediction_psi | drifted_features |
+-------------+----------+----------+-------+----------+----------+----------------+------------------+
| 10000       | 10000    | roc_auc  | 0.756 | 0.744    | 0.767    | 0.256          | 3                |
| 10000       | 10000    | accuracy | 0.808 | 0.801    | 0.816    | 0.256          | 3                |
| 10000       | 10000    | f1       | 0.346 | 0.323    | 0.368    | 0.256          | 3                |
+-------------+----------+----------+-------+----------+----------+----------------+------------------+
```"#,
        )
    }
}

/// The period of each output row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grain {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    /// The whole window as one period, starting at the window's start.
    Window,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl Grain {
    fn parse(text: &str) -> Option<Grain> {
        match text.trim().to_ascii_lowercase().as_str() {
            "minute" => Some(Grain::Minute),
            "hour" => Some(Grain::Hour),
            "day" => Some(Grain::Day),
            "week" => Some(Grain::Week),
            "month" => Some(Grain::Month),
            "window" => Some(Grain::Window),
            _ => None,
        }
    }

    /// The start of the period holding `at` (microseconds, UTC), as
    /// PostgreSQL's `date_trunc` gives it; `since` for the whole window.
    fn start(self, at: i64, since: i64) -> i64 {
        let floor = |unit: i64| at.div_euclid(unit) * unit;
        match self {
            Grain::Minute => floor(60_000_000),
            Grain::Hour => floor(3_600_000_000),
            Grain::Day => floor(MICROS_PER_DAY),
            // 1970-01-01 was a Thursday: weeks start 3 days before.
            Grain::Week => {
                let day = at.div_euclid(MICROS_PER_DAY);
                ((day + 3).div_euclid(7) * 7 - 3) * MICROS_PER_DAY
            }
            Grain::Window => since,
            Grain::Month => {
                let date = DateTime::<Utc>::from_timestamp_micros(at)
                    .map(|t| t.date_naive())
                    .and_then(|d| NaiveDate::from_ymd_opt(d.year(), d.month(), 1));
                match date.and_then(|d| d.and_hms_opt(0, 0, 0)) {
                    Some(t) => t.and_utc().timestamp_micros(),
                    None => floor(MICROS_PER_DAY),
                }
            }
        }
    }
}

/// The start of a window that ends at `now`, from an interval or its text.
fn window_start(value: &ScalarValue, now: DateTime<Utc>) -> Result<i64, SqlStateError> {
    window_start_of(NAME, "window", WINDOW, value, now)
}

/// A start instant (µs) from a timestamp, or from an interval back from
/// `now` (`since => '7 days'`).
pub(crate) fn since_value(
    function: &str,
    value: &ScalarValue,
    now: DateTime<Utc>,
) -> Result<i64, SqlStateError> {
    let at = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
    if let Ok(ScalarValue::TimestampMicrosecond(Some(t), _)) = value.cast_to(&at) {
        return Ok(t);
    }
    window_start_of(
        function,
        "since",
        "must be a timestamp, or a positive interval back from now such as '7 days'",
        value,
        now,
    )
}

/// What a window must be.
const WINDOW: &str = "must be a positive interval such as '7 days' or INTERVAL '1 hour'";

fn window_start_of(
    function: &str,
    argument: &str,
    expected: &str,
    value: &ScalarValue,
    now: DateTime<Utc>,
) -> Result<i64, SqlStateError> {
    crate::session::intervals::before(value, now)
        .map(|start| start.timestamp_micros())
        .ok_or_else(|| SqlStateError::arg(function, argument, expected, value))
}

impl RelationFunction for MonitorUdtf {
    fn plan(&self, args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let LogCall {
            reference,
            model,
            values,
            options,
        } = LogCall::parse(NAME, &self.registry, args, ctx, &["window", "grain"])?;
        let pinned = reference.contains('@');
        let (window, grain) = (&values[0], &values[1]);
        let now = Utc::now();
        let since = match window {
            Some(w) => window_start(
                constant(NAME, "window", w).map_err(SqlStateError::into_df)?,
                now,
            ),
            None => window_start(&ScalarValue::Utf8(Some(DEFAULT_WINDOW.into())), now),
        }
        .map_err(SqlStateError::into_df)?;
        let grain = match grain {
            None => Grain::Day,
            Some(g) => {
                let v = constant(NAME, "grain", g).map_err(SqlStateError::into_df)?;
                text_of(v).and_then(Grain::parse).ok_or_else(|| {
                    SqlStateError::arg(
                        NAME,
                        "grain",
                        "must be 'minute', 'hour', 'day', 'week', 'month' or 'window'",
                        v,
                    )
                    .into_df()
                })?
            }
        };
        let job = MonitorJob {
            registry: self.registry.clone(),
            request: Request {
                model: model.name.clone(),
                version: pinned.then_some(model.version),
                since,
                grain,
                options,
            },
        };
        LogicalPlanBuilder::scan(NAME, provider_as_source(Arc::new(LogTable(job))), None)?.build()
    }
}

/// What one call asks for.
#[derive(Debug, Clone)]
struct Request {
    model: String,
    /// Only this version (a pinned reference).
    version: Option<u32>,
    /// Predictions logged at or after this instant (µs).
    since: i64,
    grain: Grain,
    options: Options,
}

fn output_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "period",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
        Field::new("version", DataType::Int32, false),
        Field::new("predictions", DataType::Int64, false),
        Field::new("labelled", DataType::Int64, false),
        Field::new("metric", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new("ci_lower", DataType::Float64, true),
        Field::new("ci_upper", DataType::Float64, true),
        Field::new("override_rate", DataType::Float64, true),
        Field::new("mean_prediction", DataType::Float64, true),
        Field::new("prediction_psi", DataType::Float64, true),
        Field::new("drifted_features", DataType::Int64, true),
        Field::new("max_feature_psi", DataType::Float64, true),
        Field::new("max_psi_feature", DataType::Utf8, true),
        Field::new("feature_means", DataType::Utf8, true),
    ]))
}

/// The relation an `ml_monitor` call scans; it reads when executed.
/// One `ml_monitor` call, run over the log and the feedback.
#[derive(Debug, Clone)]
struct MonitorJob {
    registry: Arc<Registry>,
    request: Request,
}

#[async_trait]
impl LogJob for MonitorJob {
    const NAME: &'static str = NAME;

    fn schema(&self) -> SchemaRef {
        output_schema()
    }

    fn model(&self) -> &str {
        &self.request.model
    }

    fn since(&self) -> i64 {
        self.request.since
    }

    async fn run(self, scans: Scans) -> Result<RecordBatch> {
        let run = Run {
            registry: self.registry,
            request: self.request,
            control: scans.control,
            threads: scans.threads,
            versions: HashMap::new(),
            groups: BTreeMap::new(),
        };
        run.run(scans.log, scans.feedback, scans.ctx)
            .await?
            .batch(output_schema())
    }
}

/// What a version needs to be monitored: its task and training profile.
pub(crate) struct VersionInfo {
    task: Task,
    classes: Vec<ClassValue>,
    /// The logged inputs' decoding schema, and each feature's reference.
    inputs: SchemaRef,
    features: Vec<(FeatureKind, Option<Binned>)>,
    prediction: Option<Binned>,
}

impl VersionInfo {
    pub(crate) fn load(registry: &Registry, model: &str, version: u32) -> Option<VersionInfo> {
        let reference = ModelRef {
            name: model.to_string(),
            version,
        };
        let loaded: Arc<LoadedModel> = registry.load(&reference).ok()?;
        let profile = registry.profile(&reference).unwrap_or(Json::Null);
        let profiles = profile
            .get("features")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let bins = Thresholds::default().bins;
        let mut fields = Vec::new();
        let mut features = Vec::new();
        for feature in &loaded.envelope.features {
            let data_type = match feature.kind {
                FeatureKind::Numeric => DataType::Float64,
                FeatureKind::Boolean => DataType::Boolean,
                FeatureKind::Categorical => DataType::Utf8,
                FeatureKind::Temporal => {
                    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
                }
            };
            fields.push(Field::new(&feature.name, data_type, true));
            let reference = profiles
                .iter()
                .find(|p| p.get("name").and_then(Json::as_str) == Some(feature.name.as_str()))
                .and_then(|p| Binned::of_profile(p, bins));
            features.push((feature.kind, reference));
        }
        let prediction = profile
            .get("prediction")
            .and_then(|p| Binned::of_profile(p, bins));
        Some(VersionInfo {
            task: loaded.task(),
            classes: loaded
                .envelope
                .label
                .as_ref()
                .map(|l| l.classes.clone())
                .unwrap_or_default(),
            inputs: Arc::new(Schema::new(fields)),
            features,
            prediction,
        })
    }

    /// How the version's predictions are evaluated.
    fn kind(&self) -> Option<Kind> {
        match self.task {
            Task::Classification if self.classes.len() == 2 => Some(Kind::Binary),
            Task::Classification => Some(Kind::Multiclass),
            Task::Regression => Some(Kind::Regression),
            _ => None,
        }
    }

    /// [`VersionInfo::kind`] of a loaded model.
    pub(crate) fn kind_of(model: &LoadedModel) -> Option<Kind> {
        let classes = model.envelope.label.as_ref().map_or(0, |l| l.classes.len());
        match model.task() {
            Task::Classification if classes == 2 => Some(Kind::Binary),
            Task::Classification => Some(Kind::Multiclass),
            Task::Regression => Some(Kind::Regression),
            _ => None,
        }
    }

    /// The class a text names: PostgreSQL's boolean spellings for boolean
    /// labels, the number for integer ones, the exact text otherwise.
    fn class_of(&self, text: &str) -> Option<usize> {
        let t = text.trim();
        self.classes.iter().position(|c| match c {
            ClassValue::Bool(b) => pg_bool(t) == Some(*b),
            ClassValue::Int(i) => t.parse::<i64>().ok() == Some(*i),
            ClassValue::Text(s) => s == text,
        })
    }
}

/// PostgreSQL's boolean input: unique prefixes of true/false/yes/no, on/off, 1/0.
fn pg_bool(text: &str) -> Option<bool> {
    let t = text.to_ascii_lowercase();
    let prefix = |word: &str| !t.is_empty() && word.starts_with(t.as_str());
    match t.as_str() {
        "1" | "on" => Some(true),
        "0" | "of" | "off" => Some(false),
        _ if prefix("true") || prefix("yes") => Some(true),
        _ if prefix("false") || prefix("no") => Some(false),
        _ => None,
    }
}

/// A prediction that feedback joined.
#[derive(Clone)]
struct Labelled {
    group: (i64, i32),
    output: Option<String>,
    probability: Option<f64>,
}

/// One (period, version).
#[derive(Default)]
struct Group {
    predictions: i64,
    prediction_sum: f64,
    prediction_values: i64,
    prediction_counts: Vec<u64>,
    feature_counts: Vec<Vec<u64>>,
    /// Sum and count of each numeric feature's logged values.
    feature_sums: Vec<(f64, u64)>,
}

struct Run {
    registry: Arc<Registry>,
    request: Request,
    control: Control,
    threads: usize,
    versions: HashMap<i32, Option<VersionInfo>>,
    groups: BTreeMap<(i64, i32), Group>,
}

/// Output rows, column by column.
#[derive(Default)]
struct Rows {
    period: Vec<i64>,
    version: Vec<i32>,
    predictions: Vec<i64>,
    labelled: Vec<i64>,
    metric: Vec<Option<&'static str>>,
    value: Vec<Option<f64>>,
    ci_lower: Vec<Option<f64>>,
    ci_upper: Vec<Option<f64>>,
    override_rate: Vec<Option<f64>>,
    mean_prediction: Vec<Option<f64>>,
    prediction_psi: Vec<Option<f64>>,
    drifted: Vec<Option<i64>>,
    max_psi: Vec<Option<f64>>,
    max_psi_feature: Vec<Option<String>>,
    feature_means: Vec<Option<String>>,
}

impl Rows {
    fn batch(self, schema: SchemaRef) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(self.period).with_timezone("+00:00")),
            Arc::new(Int32Array::from(self.version)),
            Arc::new(Int64Array::from(self.predictions)),
            Arc::new(Int64Array::from(self.labelled)),
            Arc::new(StringArray::from(self.metric)),
            Arc::new(Float64Array::from(self.value)),
            Arc::new(Float64Array::from(self.ci_lower)),
            Arc::new(Float64Array::from(self.ci_upper)),
            Arc::new(Float64Array::from(self.override_rate)),
            Arc::new(Float64Array::from(self.mean_prediction)),
            Arc::new(Float64Array::from(self.prediction_psi)),
            Arc::new(Int64Array::from(self.drifted)),
            Arc::new(Float64Array::from(self.max_psi)),
            Arc::new(StringArray::from(self.max_psi_feature)),
            Arc::new(StringArray::from(self.feature_means)),
        ];
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

impl Run {
    async fn run(
        mut self,
        log: Arc<dyn ExecutionPlan>,
        feedback: Arc<dyn ExecutionPlan>,
        ctx: Arc<TaskContext>,
    ) -> Result<Rows> {
        let mut join = FeedbackJoin::read(&self.request.model, feedback, ctx.clone()).await?;
        let mut stream = execute_stream(log, ctx)?;
        while let Some(batch) = stream.next().await {
            self.log_batch(&batch?, &mut join)?;
        }
        self.finish(join.joined()).await
    }

    /// Counts one batch of log rows and joins the feedback about them.
    fn log_batch(&mut self, batch: &RecordBatch, join: &mut FeedbackJoin<Labelled>) -> Result<()> {
        let model = texts(batch, "model")?;
        let alias = texts(batch, "alias")?;
        let version = cast(column(batch, "version")?, &DataType::Int32)?;
        let version = version.as_primitive::<Int32Type>();
        let (key, output, inputs) = (
            texts(batch, "key")?,
            texts(batch, "output")?,
            texts(batch, "inputs")?,
        );
        let probability = cast(column(batch, "probability")?, &DataType::Float64)?;
        let probability = probability.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        let at = micros(batch, "at")?;
        // The rows of this call, by version (usually one).
        let mut rows: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
        for i in 0..batch.num_rows() {
            let keep = model.is_valid(i)
                && model.value(i) == self.request.model
                && at.value(i) >= self.request.since
                && self
                    .request
                    .version
                    .is_none_or(|v| i64::from(version.value(i)) == i64::from(v));
            if keep {
                rows.entry(version.value(i)).or_default().push(i);
            }
        }
        for (v, rows) in rows {
            let registry = self.registry.clone();
            let model_name = self.request.model.clone();
            let info = self
                .versions
                .entry(v)
                .or_insert_with(|| VersionInfo::load(&registry, &model_name, v as u32));
            let decoded = info
                .as_ref()
                .and_then(|info| decode(&info.inputs, &inputs, &rows));
            for (n, &i) in rows.iter().enumerate() {
                let group_key = (self.request.grain.start(at.value(i), self.request.since), v);
                let group = self.groups.entry(group_key).or_default();
                group.predictions += 1;
                let p = probability.is_valid(i).then(|| probability.value(i));
                let out = output.is_valid(i).then(|| output.value(i));
                if let Some(info) = info.as_ref() {
                    let value = match info.task {
                        Task::Regression => out.and_then(|o| o.trim().parse::<f64>().ok()),
                        _ => p,
                    };
                    if let Some(value) = value.filter(|v| v.is_finite()) {
                        group.prediction_sum += value;
                        group.prediction_values += 1;
                    }
                    if let Some(reference) = &info.prediction {
                        if group.prediction_counts.is_empty() {
                            group.prediction_counts = reference.counts();
                        }
                        if reference.is_numeric() {
                            // The form the profile kept: the probability
                            // of a classifier, the value of a regressor.
                            if let Some(x) = value {
                                reference.add_number(&mut group.prediction_counts, x);
                            }
                        } else if let Some(o) = out {
                            reference.add_category(&mut group.prediction_counts, o);
                        }
                    }
                    if let Some(columns) = &decoded {
                        if group.feature_counts.is_empty() {
                            group.feature_counts = info
                                .features
                                .iter()
                                .map(|(_, r)| r.as_ref().map(Binned::counts).unwrap_or_default())
                                .collect();
                        }
                        if group.feature_sums.is_empty() {
                            group.feature_sums = vec![(0.0, 0); info.features.len()];
                        }
                        for (f, (kind, reference)) in info.features.iter().enumerate() {
                            if let (Some(reference), Some(values)) = (reference, &columns[f]) {
                                reference.add_row(&mut group.feature_counts[f], values, n);
                            }
                            if *kind == FeatureKind::Numeric
                                && let Some(Comparable::Numbers(a)) = &columns[f]
                                && a.is_valid(n)
                                && a.value(n).is_finite()
                            {
                                group.feature_sums[f].0 += a.value(n);
                                group.feature_sums[f].1 += 1;
                            }
                        }
                    }
                }
                if key.is_valid(i) && join.wants(key.value(i)) {
                    let lane = Lane::of(alias.is_valid(i).then(|| alias.value(i)));
                    join.offer(lane, key.value(i), at.value(i), || Labelled {
                        group: group_key,
                        output: out.map(str::to_string),
                        probability: p,
                    });
                }
            }
        }
        Ok(())
    }

    /// Each group's rows, with metrics computed in the compute pool.
    async fn finish(self, joined: Vec<(Feedback, Labelled)>) -> Result<Rows> {
        let Run {
            request,
            control,
            threads,
            versions,
            groups,
            ..
        } = self;
        let work = move || -> Result<Rows> {
            let mut labelled: HashMap<(i64, i32), Vec<(Feedback, Labelled)>> = HashMap::new();
            for (f, l) in joined {
                labelled.entry(l.group).or_default().push((f, l));
            }
            let mut rows = Rows::default();
            for (group_key, group) in groups {
                let info = versions.get(&group_key.1).and_then(Option::as_ref);
                let joined = labelled.remove(&group_key).unwrap_or_default();
                let overridden = joined.iter().filter(|(f, _)| f.overridden).count();
                let metrics = match info {
                    Some(info) => control
                        .run(|stop| metrics(info, &joined, &request.options, threads, stop))?,
                    None => Vec::new(),
                };
                let prediction_psi = info
                    .and_then(|i| i.prediction.as_ref())
                    .and_then(|r| r.psi(&group.prediction_counts));
                let psi_threshold = Thresholds::default().psi;
                // Each feature's PSI, where its logged inputs could be binned.
                let psis: Vec<(&str, f64)> = info
                    .filter(|_| !group.feature_counts.is_empty())
                    .map(|info| {
                        info.features
                            .iter()
                            .zip(info.inputs.fields())
                            .zip(&group.feature_counts)
                            .filter_map(|(((_, r), field), counts)| {
                                r.as_ref()
                                    .and_then(|r| r.psi(counts))
                                    .map(|psi| (field.name().as_str(), psi))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let drifted = info
                    .filter(|_| !group.feature_counts.is_empty())
                    .map(|_| psis.iter().filter(|(_, psi)| *psi > psi_threshold).count() as i64);
                let max_psi = psis.iter().copied().fold(
                    None,
                    |best: Option<(&str, f64)>, (f, psi)| match best {
                        Some((_, b)) if b >= psi => best,
                        _ => Some((f, psi)),
                    },
                );
                // Each numeric feature's mean, as a JSON object.
                let feature_means = info.filter(|_| !group.feature_sums.is_empty()).map(|info| {
                    let mut means = serde_json::Map::new();
                    for ((sum, count), field) in group.feature_sums.iter().zip(info.inputs.fields())
                    {
                        if *count > 0 {
                            means.insert(
                                field.name().clone(),
                                serde_json::json!(sum / *count as f64),
                            );
                        }
                    }
                    Json::Object(means).to_string()
                });
                let metrics = if metrics.is_empty() {
                    vec![(None, None, None, None)]
                } else {
                    metrics
                        .into_iter()
                        .map(|(m, v, lo, hi)| (Some(m), v, lo, hi))
                        .collect()
                };
                for (metric, value, lower, upper) in metrics {
                    rows.period.push(group_key.0);
                    rows.version.push(group_key.1);
                    rows.predictions.push(group.predictions);
                    rows.labelled.push(joined.len() as i64);
                    rows.metric.push(metric);
                    rows.value.push(value);
                    rows.ci_lower.push(lower);
                    rows.ci_upper.push(upper);
                    rows.override_rate.push(
                        (!joined.is_empty()).then(|| overridden as f64 / joined.len() as f64),
                    );
                    rows.mean_prediction.push(
                        (group.prediction_values > 0)
                            .then(|| group.prediction_sum / group.prediction_values as f64),
                    );
                    rows.prediction_psi.push(prediction_psi);
                    rows.drifted.push(drifted);
                    rows.max_psi.push(max_psi.map(|(_, psi)| psi));
                    rows.max_psi_feature
                        .push(max_psi.map(|(f, _)| f.to_string()));
                    rows.feature_means.push(feature_means.clone());
                }
            }
            Ok(rows)
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| SqlStateError::internal(format!("{NAME}: {e}")).into_df())?
    }
}

/// The logged inputs of `rows`, decoded into the version's feature types,
/// each made comparable with its profile; `None` where the JSON does not
/// decode (the group's drift then covers the rows that did).
fn decode(
    schema: &SchemaRef,
    inputs: &StringArray,
    rows: &[usize],
) -> Option<Vec<Option<Comparable>>> {
    use datafusion::arrow::json::ReaderBuilder;
    let mut text = Vec::with_capacity(rows.len() * 64);
    for &i in rows {
        text.extend_from_slice(if inputs.is_valid(i) {
            inputs.value(i).as_bytes()
        } else {
            b"{}"
        });
        text.push(b'\n');
    }
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .with_coerce_primitive(true)
        .build_decoder()
        .ok()?;
    let mut offset = 0;
    while offset < text.len() {
        let read = decoder.decode(&text[offset..]).ok()?;
        if read == 0 {
            break;
        }
        offset += read;
    }
    let batch = decoder.flush().ok()??;
    if batch.num_rows() != rows.len() {
        return None;
    }
    Some(
        batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(array, field)| {
                let kind = FeatureKind::of(field.data_type()).unwrap_or(FeatureKind::Categorical);
                let numeric = !matches!(field.data_type(), DataType::Utf8);
                Comparable::of(array, kind, numeric).ok()
            })
            .collect(),
    )
}

type MetricRow = (&'static str, Option<f64>, Option<f64>, Option<f64>);

/// The task's metrics on the labelled rows, with bootstrap intervals.
/// The labelled rows as the bootstrap kernel takes them: (actual, what the
/// prediction said, its probability) turned into y, prediction and score
/// for the version's kind of evaluation, skipping rows whose actual is not
/// a class of the model (or a number, for a regressor). `None` for a model
/// that is neither a classifier nor a regressor.
pub(crate) fn labelled_vectors(
    info: &VersionInfo,
    rows: &[(Option<&str>, Option<&str>, Option<f64>)],
) -> Option<Vectors> {
    let kind = info.kind()?;
    let (mut y, mut prediction, mut score) = (Vec::new(), Vec::new(), Vec::new());
    for &(actual, output, probability) in rows {
        let Some(actual) = actual else { continue };
        match kind {
            Kind::Binary => {
                let (Some(a), Some(o), Some(p)) = (
                    info.class_of(actual),
                    output.and_then(|o| info.class_of(o)),
                    probability.filter(|p| p.is_finite()),
                ) else {
                    continue;
                };
                y.push((a == 1) as u8 as f64);
                prediction.push((o == 1) as u8 as f64);
                score.push(p);
            }
            Kind::Multiclass => {
                let Some(o) = output.and_then(|o| info.class_of(o)) else {
                    continue;
                };
                y.push((info.class_of(actual) == Some(o)) as u8 as f64);
                prediction.push(0.0);
                score.push(0.0);
            }
            Kind::Regression => {
                let (Ok(a), Some(o)) = (
                    actual.trim().parse::<f64>(),
                    output.and_then(|o| o.trim().parse::<f64>().ok()),
                ) else {
                    continue;
                };
                if !(a.is_finite() && o.is_finite()) {
                    continue;
                }
                y.push(a);
                prediction.push(o);
                score.push(0.0);
            }
        }
    }
    Some(Vectors {
        kind,
        y,
        prediction,
        score,
    })
}

/// Labelled rows as the bootstrap kernel takes them ([`Prepared::new`]).
pub(crate) struct Vectors {
    pub kind: Kind,
    pub y: Vec<f64>,
    pub prediction: Vec<f64>,
    pub score: Vec<f64>,
}

fn metrics(
    info: &VersionInfo,
    joined: &[(Feedback, Labelled)],
    options: &Options,
    threads: usize,
    stop: &quarry_udfs::control::Stop,
) -> Result<Vec<MetricRow>> {
    let wanted: &[&'static str] = match info.kind() {
        Some(Kind::Binary) => &["roc_auc", "accuracy", "f1"],
        Some(Kind::Multiclass) => &["accuracy"],
        Some(Kind::Regression) => &["rmse", "mae"],
        None => return Ok(Vec::new()),
    };
    let rows: Vec<(Option<&str>, Option<&str>, Option<f64>)> = joined
        .iter()
        .map(|(f, l)| (f.actual.as_deref(), l.output.as_deref(), l.probability))
        .collect();
    let Some(Vectors {
        kind,
        y,
        prediction,
        score,
    }) = labelled_vectors(info, &rows)
    else {
        return Ok(Vec::new());
    };
    let names = kind.metrics();
    let index = |m: &str| names.iter().position(|n| *n == m);
    if y.is_empty() {
        return Ok(wanted.iter().map(|m| (*m, None, None, None)).collect());
    }
    let prepared = Prepared::new(kind, y, prediction, score);
    let point = prepared.metrics(None);
    let runs = if options.bootstrap > 0 {
        bootstrap::resampled(&[&prepared], options.bootstrap, options.seed, threads, stop)
            .map_err(SqlStateError::into_df)?
    } else {
        Vec::new()
    };
    let finite = |v: f64| v.is_finite().then_some(v);
    Ok(wanted
        .iter()
        .filter_map(|m| index(m).map(|i| (*m, i)))
        .map(|(m, i)| {
            let values: Vec<f64> = runs.iter().map(|r| r[0][i]).collect();
            let (lo, hi) = if values.is_empty() {
                (f64::NAN, f64::NAN)
            } else {
                bootstrap::interval(&values, options.ci)
            };
            (m, finite(point[i]), finite(lo), finite(hi))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .timestamp_micros()
    }

    #[test]
    fn periods_start_where_date_trunc_puts_them() {
        let t = at("2026-12-03T17:45:31.250+00:00");
        assert_eq!(Grain::Minute.start(t, 0), at("2026-12-03T17:45:00+00:00"));
        assert_eq!(Grain::Hour.start(t, 0), at("2026-12-03T17:00:00+00:00"));
        assert_eq!(Grain::Day.start(t, 0), at("2026-12-03T00:00:00+00:00"));
        // A Thursday: its week started on Monday the 30th.
        assert_eq!(Grain::Week.start(t, 0), at("2026-11-30T00:00:00+00:00"));
        assert_eq!(
            Grain::Week.start(at("2026-11-30T00:00:00+00:00"), 0),
            at("2026-11-30T00:00:00+00:00")
        );
        assert_eq!(Grain::Month.start(t, 0), at("2026-12-01T00:00:00+00:00"));
        assert_eq!(
            Grain::Day.start(at("1969-12-31T23:00:00+00:00"), 0),
            at("1969-12-31T00:00:00+00:00")
        );
    }

    #[test]
    fn windows_count_back_from_now() {
        let now = DateTime::parse_from_rfc3339("2026-03-31T12:00:00+00:00")
            .expect("a time")
            .with_timezone(&Utc);
        let start = |s: &str| window_start(&ScalarValue::Utf8(Some(s.into())), now);
        assert_eq!(start("7 days").ok(), Some(at("2026-03-24T12:00:00+00:00")));
        assert_eq!(start("1 month").ok(), Some(at("2026-02-28T12:00:00+00:00")));
        assert_eq!(
            start("90 minutes").ok(),
            Some(at("2026-03-31T10:30:00+00:00"))
        );
        for bad in ["0 days", "-1 day", "soon"] {
            let e = start(bad).expect_err(bad);
            assert_eq!(e.code, "22023", "{bad}");
        }
    }

    #[test]
    fn boolean_labels_read_postgres_spellings() {
        for (text, v) in [
            ("t", true),
            ("TRUE", true),
            ("yes", true),
            ("1", true),
            ("on", true),
        ] {
            assert_eq!(pg_bool(text), Some(v), "{text}");
        }
        for (text, v) in [
            ("f", false),
            ("false", false),
            ("no", false),
            ("0", false),
            ("off", false),
        ] {
            assert_eq!(pg_bool(text), Some(v), "{text}");
        }
        assert_eq!(pg_bool("maybe"), None);
        assert_eq!(pg_bool("o"), None);
    }
}
