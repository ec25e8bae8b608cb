//! Serving and monitoring: what happens to a model's predictions once it is
//! live.
//!
//! - [`Serving`] is the [`PredictionSink`] every scoring path reports to
//!   (SQL scalars, the `ml_predict` table function, the REST endpoint): it
//!   counts each call in [`metrics::Monitor`] and queues the rows the
//!   model's policy samples for [`log::PredictionLog`];
//! - [`log`]: the prediction log and its background writer;
//! - [`feedback`]: the `ml_feedback` table and function;
//! - [`metrics`]: live per-minute numbers, statement counters;
//! - [`model_metrics`]: the `ml_model_metrics` system table;
//! - [`prometheus`]: `GET /metrics`.

pub mod ab_report;
pub mod feedback;
pub mod joined;
pub mod live_drift;
pub mod log;
pub mod metrics;
pub mod model_metrics;
pub mod monitor;
pub mod prometheus;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::arrow::array::Array;
use quarry_udfs::model::serving::{LogPolicy, PredictionSink, Scored, sampled};
use quarry_udfs::model::{LoadedModel, ModelRef};
use tokio_util::sync::CancellationToken;

use crate::catalog::staging::Block;
use crate::catalog::table::TableData;
use crate::catalog::{Catalog, Columns, DEFAULT_SCHEMA, RelName};
use crate::error::{Result, SqlStateError, sqlstate};
use crate::registry::Registry;
use crate::sync::lock;

/// The server's serving state, shared by every session and the HTTP API.
#[derive(Debug)]
pub struct Serving {
    registry: Arc<Registry>,
    pub monitor: metrics::Monitor,
    pub log: Arc<log::PredictionLog>,
    /// `ml_prediction_log` and `ml_feedback`, once open.
    pub log_table: OnceLock<Arc<TableData>>,
    pub feedback_table: Arc<OnceLock<Arc<TableData>>>,
    /// The aliases of each version as of a registry epoch.
    aliases: Mutex<HashMap<ModelRef, (u64, Option<String>)>>,
    /// Makes request ids unique across restarts.
    boot: u64,
    /// Opening the tables, once.
    opening: tokio::sync::Mutex<()>,
    /// The log writer, once started, for shutdown to wait for.
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Serving {
    pub fn new(registry: Arc<Registry>, log_queue_rows: usize) -> Arc<Serving> {
        let log = Arc::new(log::PredictionLog::new(log_queue_rows));
        let _ = log
            .drift
            .set(Arc::new(live_drift::LiveDrift::new(registry.clone())));
        Arc::new(Serving {
            registry,
            monitor: metrics::Monitor::default(),
            log,
            log_table: OnceLock::new(),
            feedback_table: Arc::new(OnceLock::new()),
            aliases: Mutex::new(HashMap::new()),
            boot: (log::now_us() / 1_000_000) as u64,
            opening: tokio::sync::Mutex::new(()),
            writer: Mutex::new(None),
        })
    }

    /// Opens the serving tables now if a model exists, else once the first
    /// one is registered: a server without models has no `ml_feedback` or
    /// `ml_prediction_log` in its listings.
    pub async fn attach(
        self: &Arc<Self>,
        catalog: &Arc<Catalog>,
        shutdown: CancellationToken,
    ) -> Result<()> {
        if self.registry.has_models()? {
            return self.open(catalog, &shutdown).await;
        }
        let serving = Arc::downgrade(self);
        let catalog = Arc::downgrade(catalog);
        self.registry
            .on_model_registered(crate::registry::ModelHook(Arc::new(move || {
                let serving = serving.clone();
                let catalog = catalog.clone();
                let shutdown = shutdown.clone();
                Box::pin(async move {
                    if let (Some(s), Some(c)) = (serving.upgrade(), catalog.upgrade())
                        && let Err(e) = s.open(&c, &shutdown).await
                    {
                        tracing::warn!(error = %e.message, "serving tables could not be opened");
                    }
                })
            })));
        Ok(())
    }

    /// Opens the tables and starts the writer, unless done already.
    async fn open(
        self: &Arc<Self>,
        catalog: &Arc<Catalog>,
        shutdown: &CancellationToken,
    ) -> Result<()> {
        let _once = self.opening.lock().await;
        if self.log_table.get().is_some() {
            return Ok(());
        }
        self.open_tables(catalog).await?;
        let writer = self.start_writer(shutdown.clone());
        *lock(&self.writer) = writer;
        Ok(())
    }

    /// The log writer, for shutdown to wait for its last flush.
    pub fn take_writer(&self) -> Option<tokio::task::JoinHandle<()>> {
        lock(&self.writer).take()
    }

    /// The aliases pointing at `model` (comma-separated), cached until the
    /// registry changes.
    pub fn alias(&self, model: &ModelRef) -> Option<String> {
        let epoch = self.registry.epoch();
        if let Some((e, a)) = lock(&self.aliases).get(model)
            && *e == epoch
        {
            return a.clone();
        }
        let a = self.registry.aliases_of(model);
        lock(&self.aliases).insert(model.clone(), (epoch, a.clone()));
        a
    }

    /// A request id: the server's start and the statement's number.
    pub fn request_id(&self, request: u64) -> String {
        format!("{:x}-{request}", self.boot)
    }

    /// Creates the serving tables if absent and opens them. Run once at
    /// start, after the catalog is loaded.
    async fn open_tables(&self, catalog: &Arc<Catalog>) -> Result<()> {
        let log_table = ensure_table(catalog, log::TABLE, log::schema(), &[]).await?;
        let feedback = ensure_table(
            catalog,
            feedback::TABLE,
            feedback::schema(),
            &feedback::defaults(),
        )
        .await?;
        let _ = log_table.read_barrier.set(self.log.clone());
        let _ = self.log_table.set(log_table);
        let _ = self.feedback_table.set(feedback);
        Ok(())
    }

    /// Starts the log writer; it stops (after a last flush) on `shutdown`.
    fn start_writer(
        self: &Arc<Self>,
        shutdown: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let table = self.log_table.get()?.clone();
        let registry = self.registry.clone();
        let retention = move || {
            registry
                .policies()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(m, p)| Some((m, p.get("log_retention_days")?.as_u64()?)))
                .collect::<HashMap<String, u64>>()
        };
        Some(tokio::spawn(
            self.log.clone().run(table, retention, shutdown),
        ))
    }

    /// Logs `scored`'s sampled rows.
    fn log_rows(&self, scored: &Scored<'_>, policy: &LogPolicy, alias: Option<String>) {
        let Some(prediction) = scored.prediction else {
            return;
        };
        let keep = sampled(policy, scored.key, scored.rows, scored.request);
        if !keep.iter().any(|k| *k) {
            return;
        }
        let entry = log::Entry {
            model: scored.model.name.clone(),
            version: scored.model.version,
            alias,
            function: scored.function,
            user: scored.user.to_string(),
            request_id: self.request_id(scored.request),
            at_us: log::now_us(),
            latency_us: scored.elapsed.as_micros() as i64,
            feature_names: feature_names(scored.model),
            features: scored.features.to_vec(),
            key: scored.key.cloned(),
            prediction: prediction.clone(),
            probability: scored.probability.cloned(),
        };
        match entry.filtered(&keep) {
            Ok(e) => self.log.offer(e),
            Err(e) => tracing::warn!(error = %e.message, "prediction log: rows not logged"),
        }
    }
}

fn feature_names(model: &LoadedModel) -> Arc<[String]> {
    model.features().iter().map(|f| f.name.clone()).collect()
}

impl PredictionSink for Serving {
    fn policy(&self, model: &ModelRef) -> Option<LogPolicy> {
        self.registry.log_policy(&model.name)
    }

    fn record(&self, scored: &Scored<'_>) {
        let model = ModelRef {
            name: scored.model.name.clone(),
            version: scored.model.version,
        };
        // A routed call's arm is the alias that served its rows.
        let alias = match scored.arm {
            Some(arm) => Some(arm.to_string()),
            None => self.alias(&model),
        };
        let nulls: usize = scored.features.iter().map(|a| a.null_count()).sum();
        self.monitor.scored(
            &model.name,
            model.version,
            alias.clone(),
            scored.rows,
            nulls,
            scored.elapsed,
        );
        if let Some(policy) = scored.policy.filter(|p| p.logs()) {
            self.log_rows(scored, policy, alias);
        }
    }

    fn failed(&self, model: &ModelRef, _function: &'static str) {
        self.monitor.failed(&model.name, model.version);
    }
}

/// The managed table `name` in `public`, created with `schema` if absent;
/// then a system table (it cannot be dropped, renamed or replaced, only
/// written). An existing relation of that name must have the columns.
async fn ensure_table(
    catalog: &Arc<Catalog>,
    name: &str,
    schema: datafusion::arrow::datatypes::SchemaRef,
    defaults: &[(String, datafusion::logical_expr::Expr)],
) -> Result<Arc<TableData>> {
    let rel = RelName::new(DEFAULT_SCHEMA, name);
    catalog
        .create_table(
            &rel,
            Columns {
                schema: schema.clone(),
                constraints: None,
                defaults,
            },
            None,
            true,
            false,
            None,
            &Block::default(),
        )
        .await?;
    let data = catalog.managed(&rel).map_err(|e| {
        SqlStateError::new(
            sqlstate::WRONG_OBJECT_TYPE,
            format!(
                "{name} must be a table Quarry manages for serving: {}",
                e.message
            ),
        )
    })?;
    let have = data.schema.clone();
    for field in schema.fields() {
        if have.field_with_name(field.name()).is_err() {
            return Err(SqlStateError::new(
                sqlstate::WRONG_OBJECT_TYPE,
                format!(
                    "table {name} exists without column {}: rename it so the server can create its own",
                    field.name()
                ),
            ));
        }
    }
    catalog.protect(name);
    Ok(data)
}
