//! Training runs, shared by `CREATE MODEL` and `ml_train`: read the query's
//! rows under the memory limit, fit off the async runtime, register the version.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::context::SessionState;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlanProperties;
use futures::StreamExt;
use quarry_udfs::model::{TrainContext, TrainOptions, TrainedModel, train};
use tokio::sync::mpsc::UnboundedSender;

use super::snapshots::Origin;
use super::{Registry, TrainingInfo, normalize};
use crate::error::{IntoSqlError, Result, SqlStateError, sqlstate};
use crate::lifecycle::jobs::{Jobs, Outcome};

/// A request to train `name` on the rows of `plan`.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub name: String,
    pub replace: bool,
    pub options: BTreeMap<String, String>,
    pub query: String,
    pub user: String,
    /// What started it, recorded as a job of its own in `ml_jobs`
    /// (`create model`, `ml_train`); `None` when the caller's job records
    /// it (a policy job's retraining).
    pub trigger: Option<&'static str>,
}

/// Where a training's progress goes: the client's NOTICEs, and its job's
/// `progress` in `ml_jobs`. Every message is written: training reports per
/// step and per cross-validation fold, not per iteration, and a throttle
/// would keep the step before a long one (a fit, a snapshot) as what the
/// job is doing.
#[derive(Clone)]
struct Progress {
    notices: Option<UnboundedSender<String>>,
    job: Option<(Jobs, i64)>,
}

impl Progress {
    fn report(&self, message: &str) {
        if let Some(notices) = &self.notices {
            let _ = notices.send(message.to_string());
        }
        if let Some((jobs, id)) = &self.job
            && let Err(e) = jobs.progress(*id, message)
        {
            tracing::debug!(job = id, error = %e.message, "training progress not recorded");
        }
    }
}

/// Fails a training's job when the training ends without finishing it:
/// the statement was cancelled, or its client went away.
struct JobGuard {
    jobs: Jobs,
    id: i64,
    finished: bool,
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.jobs.finish(
                self.id,
                &Outcome {
                    decision: "none".into(),
                    ..Outcome::default()
                },
                Some("57014: the training stopped: its statement was cancelled or its client went away"),
            );
        }
    }
}

/// Sets the flag when dropped: a cancelled statement drops the training
/// future, and the fitting thread sees the flag and stops.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The columns of the result row of a training run.
pub fn result_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("task", DataType::Utf8, false),
        Field::new("algorithm", DataType::Utf8, false),
        Field::new("train_rows", DataType::Int64, false),
        Field::new("test_rows", DataType::Int64, false),
        Field::new("metrics", DataType::Utf8, false),
        Field::new("params", DataType::Utf8, false),
        Field::new("seconds", DataType::Float64, false),
        Field::new("warnings", DataType::Utf8, true),
    ]))
}

fn result_batch(
    name: &str,
    version: u32,
    model: &TrainedModel,
    seconds: f64,
) -> Result<RecordBatch> {
    let mut metrics = serde_json::Map::new();
    for (k, v) in &model.metrics {
        metrics.insert(k.clone(), serde_json::json!((v * 1e6).round() / 1e6));
    }
    metrics.insert("evaluated_on".into(), serde_json::json!(model.evaluated_on));
    let warnings = (!model.warnings.is_empty())
        .then(|| serde_json::to_string(&model.warnings).unwrap_or_default());
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![name])),
        Arc::new(Int64Array::from(vec![i64::from(version)])),
        Arc::new(StringArray::from(vec![model.envelope.task.name()])),
        Arc::new(StringArray::from(vec![model.envelope.kind.as_str()])),
        Arc::new(Int64Array::from(vec![model.train_rows as i64])),
        Arc::new(Int64Array::from(vec![model.test_rows as i64])),
        Arc::new(StringArray::from(vec![
            serde_json::Value::Object(metrics).to_string(),
        ])),
        Arc::new(StringArray::from(vec![model.params.to_string()])),
        Arc::new(Float64Array::from(vec![
            (seconds * 1000.0).round() / 1000.0,
        ])),
        Arc::new(StringArray::from(vec![warnings])),
    ];
    RecordBatch::try_new(result_schema(), columns).map_err(SqlStateError::internal)
}

/// Tables a plan reads, for the version's lineage.
fn source_tables(plan: &LogicalPlan) -> Vec<String> {
    let mut out = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = scan.table_name.to_string();
            if !out.contains(&name) {
                out.push(name);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

fn out_of_memory(name: &str, what: &str, e: &datafusion::error::DataFusionError) -> SqlStateError {
    SqlStateError::new(
        sqlstate::OUT_OF_MEMORY,
        format!("training {name}: {what} do not fit in the memory limit: {e}"),
    )
    .with_hint("raise --memory-limit, or train on fewer rows or columns")
}

/// Trains and registers a model, as a job in `ml_jobs` when the request
/// names a trigger, sending progress to `notices`; returns its result row.
pub async fn run(
    registry: &Arc<Registry>,
    state: &SessionState,
    plan: LogicalPlan,
    request: TrainRequest,
    notices: Option<UnboundedSender<String>>,
) -> Result<RecordBatch> {
    let Some(trigger) = request.trigger else {
        let progress = Progress { notices, job: None };
        return train_and_register(registry, state, plan, request, progress).await;
    };
    let jobs = Jobs::of(registry.store().clone());
    let id = jobs.start_as(&normalize(&request.name), &request.user, Some(trigger))?;
    let mut guard = JobGuard {
        jobs: jobs.clone(),
        id,
        finished: false,
    };
    let progress = Progress {
        notices,
        job: Some((jobs.clone(), id)),
    };
    let result = train_and_register(registry, state, plan, request, progress).await;
    let (outcome, error) = match &result {
        Ok(batch) => {
            let version = batch
                .column_by_name("version")
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                .filter(|v| !v.is_empty())
                .map(|v| v.value(0));
            let outcome = Outcome {
                decision: "trained".into(),
                candidate_version: version.map(|v| v as u32),
                notes: version
                    .map(|v| format!("version {v} registered"))
                    .into_iter()
                    .collect(),
                ..Outcome::default()
            };
            (outcome, None)
        }
        Err(e) => (
            Outcome {
                decision: "none".into(),
                ..Outcome::default()
            },
            Some(format!("{}: {}", e.code, e.message)),
        ),
    };
    // The training's own answer (or error) is what the statement returns;
    // a job row that cannot be finished is failed at the next start.
    if let Err(e) = jobs.finish(id, &outcome, error.as_deref()) {
        tracing::warn!(job = id, error = %e.message, "training job not recorded as finished");
    }
    guard.finished = true;
    result
}

async fn train_and_register(
    registry: &Arc<Registry>,
    state: &SessionState,
    plan: LogicalPlan,
    request: TrainRequest,
    progress: Progress,
) -> Result<RecordBatch> {
    let started = Instant::now();
    let name = normalize(&request.name);
    // PostgreSQL's NAMEDATALEN - 1: names fit catalogs and file systems.
    if name.len() > MAX_NAME_BYTES {
        return Err(SqlStateError::new(
            sqlstate::NAME_TOO_LONG,
            format!(
                "model name \"{}...\" is too long: {} bytes, at most {MAX_NAME_BYTES}",
                name.chars().take(20).collect::<String>(),
                name.len()
            ),
        ));
    }
    if name.is_empty() || name.contains('@') {
        return Err(SqlStateError::bad_argument(format!(
            "model name must be non-empty and must not contain '@', got '{}'",
            request.name
        )));
    }
    let options = TrainOptions::parse(&request.options)?;
    let policy = options.policy.clone();
    let keep_snapshot = options.snapshot;
    let snapshot_all_columns = options.snapshot_all_columns;
    // Columns a training snapshot keeps besides features and label.
    let snapshot_extra: Vec<String> = options
        .weight
        .iter()
        .chain(&options.reweigh)
        .cloned()
        .chain(match &options.split {
            Some(quarry_udfs::model::options::Split::Time { column, .. }) => Some(column.clone()),
            _ => None,
        })
        .collect();
    let sources = source_tables(&plan);

    // Read the rows, accounting their memory against the server's pool.
    // Each output partition is read by its own task and the partitions are
    // joined in partition order, so the same data gives the same rows in the
    // same order (and, with the same seed, the same model); a merged stream
    // would interleave partitions in whatever order they finish.
    let physical = state.create_physical_plan(&plan).await.sql_err()?;
    let task = Arc::new(datafusion::execution::TaskContext::from(state));
    let schema = physical.schema();
    let mut readers = tokio::task::JoinSet::new();
    for partition in 0..physical.output_partitioning().partition_count() {
        let stream = physical.execute(partition, task.clone()).sql_err()?;
        let reservation = MemoryConsumer::new(format!("training {name}"))
            .register(&state.runtime_env().memory_pool);
        let name = name.clone();
        readers.spawn(async move {
            let mut stream = stream;
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch.sql_err()?;
                reservation
                    .try_grow(batch.get_array_memory_size())
                    .map_err(|e| out_of_memory(&name, "the training rows", &e))?;
                batches.push(batch);
            }
            Ok::<_, SqlStateError>((partition, batches, reservation))
        });
    }
    // Dropping the set (an error, a cancelled statement) aborts the readers.
    let mut parts = Vec::new();
    while let Some(joined) = readers.join_next().await {
        let part = joined
            .map_err(|e| SqlStateError::internal(format!("reading the training rows: {e}")))??;
        parts.push(part);
    }
    parts.sort_by_key(|(partition, _, _)| *partition);
    let mut batches = Vec::new();
    let mut reservations = Vec::new();
    for (_, part, reservation) in parts {
        batches.extend(part);
        reservations.push(reservation);
    }
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let read_seconds = started.elapsed().as_secs_f64();
    progress.report(&format!("{name}: read {rows} rows in {read_seconds:.1} s"));

    // The fit's working set (the feature matrix, its split copy, the
    // learner's per-row state: about three f64 copies of the rows) is
    // accounted too, before fitting, so a training too large for the limit
    // fails with 53200 instead of exhausting the machine.
    let fit_reservation = MemoryConsumer::new(format!("training {name} (fit)"))
        .register(&state.runtime_env().memory_pool);
    fit_reservation
        .try_grow(
            rows.saturating_mul(schema.fields().len().max(1))
                .saturating_mul(3 * size_of::<f64>()),
        )
        .map_err(|e| out_of_memory(&name, "the fit's working data", &e))?;
    reservations.push(fit_reservation);

    // Fit on a blocking thread in a slot of the compute pool; the runtime
    // keeps serving other sessions. It stops when the statement does (its
    // stop) or when this future is dropped (the guard).
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancel.clone());
    let threads = state.config().target_partitions().max(1);
    let control = quarry_udfs::control::Control::of(state.config_options());
    let statement = control.statement.stop();
    let fit_schema = schema.clone();
    let fit_progress = progress.clone();
    let fit_cancel = cancel.clone();
    let (trained, digest, batches) = tokio::task::spawn_blocking(
        move || -> Result<(TrainedModel, String, Vec<RecordBatch>)> {
            let _slot = control.pool.acquire(&statement)?;
            let digest = quarry_udfs::model::train::data_sha256(&fit_schema, &batches)?;
            let report = |m: &str| fit_progress.report(m);
            let stop = || fit_cancel.load(Ordering::Acquire) || statement.stopped();
            let ctx = TrainContext {
                threads,
                progress: &report,
                cancelled: &stop,
            };
            let trained = train(fit_schema, &batches, &options, &ctx)?;
            Ok((trained, digest, batches))
        },
    )
    .await
    .map_err(|e| SqlStateError::internal(format!("training failed: {e}")))??;

    let seconds = started.elapsed().as_secs_f64();
    let default_schema = state.config_options().catalog.default_schema.clone();
    let envelope = &trained.envelope;
    let label = envelope.label.as_ref().map(|l| l.name.clone());
    let feature = |column: &str| {
        envelope
            .features
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(column))
            .map(|f| format!("feature {}", f.name))
    };
    // The optimized plan reads only the columns the query needs, views
    // inlined: its scans are what the version really read.
    let optimized = state.optimize(&plan).unwrap_or_else(|_| plan.clone());
    let lineage =
        crate::governance::lineage::uses(&optimized, &default_schema, |column| match &label {
            Some(l) if l.eq_ignore_ascii_case(column) => Some("label".to_string()),
            _ => feature(column),
        });
    // The training snapshot's columns: those it keeps, from the same
    // sources.
    let kept = |column: &str| {
        snapshot_all_columns
            || label
                .as_ref()
                .is_some_and(|l| l.eq_ignore_ascii_case(column))
            || feature(column).is_some()
            || snapshot_extra
                .iter()
                .any(|c| c.eq_ignore_ascii_case(column))
    };
    let snapshot_lineage: Vec<crate::governance::lineage::Use> =
        crate::governance::lineage::uses(&optimized, &default_schema, |column| {
            kept(column).then(|| format!("column {column}"))
        })
        .into_iter()
        .filter(|u| u.used_as != "read")
        .collect();
    // Personal data in the model is said where the version is described.
    let mut trained = trained;
    trained
        .warnings
        .extend(crate::governance::ml_tag::pii_warnings(
            registry.store(),
            &lineage,
        ));
    let info = TrainingInfo {
        query: request.query.clone(),
        options: request.options.clone(),
        source_tables: sources,
        data_sha256: digest,
        user: request.user.clone(),
        seconds,
        lineage,
    };
    // The training snapshot (the rows this version learned from, readable
    // as ml_snapshot_read('training:<model>', n)) is written first and
    // listed in the transaction that registers the version: a version
    // exists with its snapshot or not at all, whatever fails or is killed.
    let staged = if keep_snapshot {
        progress.report(&format!("{name}: writing the training snapshot"));
        let (schema, batches) = if snapshot_all_columns {
            (schema, batches)
        } else {
            used_columns(&schema, batches, &trained, &snapshot_extra)?
        };
        let rows = futures::stream::iter(batches.into_iter().map(Ok));
        let snapshot = super::snapshots::training_name(&name);
        Some(registry.snapshots.stage(&snapshot, schema, rows).await?)
    } else {
        None
    };
    let origin = |version| Origin {
        query: request.query.clone(),
        user: request.user.clone(),
        model: Some((name.clone(), version)),
        lineage: snapshot_lineage.clone(),
    };
    let version = registry.register_with(
        &name,
        &trained,
        &info,
        request.replace,
        |tx, version| match &staged {
            Some(staged) => staged.insert(tx, &origin(version)).map(drop),
            None => Ok(()),
        },
    )?;
    if let Some(staged) = staged {
        staged.committed();
    }
    // `log_sample_rate` and `key` given as options set the model's policy.
    if let Some(policy) = &policy {
        registry.set_policy(&name, policy, &request.user)?;
    }
    registry.model_registered().await;
    progress.report(&format!(
        "{name}: version {version} registered in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    drop(reservations);
    result_batch(&name, version, &trained, seconds)
}

/// The longest model name, in bytes (PostgreSQL's identifier limit).
pub const MAX_NAME_BYTES: usize = 63;

/// The training rows with only the columns the model used (its features,
/// its label, and `extra`: weight and time-split columns), so a column the
/// training excluded (an id, a name) is not kept in its snapshot.
fn used_columns(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
    trained: &TrainedModel,
    extra: &[String],
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let envelope = &trained.envelope;
    let wanted: Vec<&str> = envelope
        .features
        .iter()
        .map(|f| f.name.as_str())
        .chain(envelope.label.as_ref().map(|l| l.name.as_str()))
        .chain(extra.iter().map(String::as_str))
        .collect();
    let indices: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| wanted.iter().any(|w| w.eq_ignore_ascii_case(f.name())))
        .map(|(i, _)| i)
        .collect();
    let projected = Arc::new(schema.project(&indices).map_err(SqlStateError::internal)?);
    let batches = batches
        .iter()
        .map(|b| b.project(&indices).map_err(SqlStateError::internal))
        .collect::<Result<Vec<_>>>()?;
    Ok((projected, batches))
}
