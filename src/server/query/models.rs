//! Running the model statements: `CREATE MODEL`, `DROP MODEL`, `SHOW MODELS`,
//! `DESCRIBE MODEL`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use futures::SinkExt;
use pgwire::api::portal::Format;
use pgwire::api::results::{Response, Tag};
use quarry_udfs::model::ModelStore;
use quarry_udfs::model::preprocess::Step;

use super::QueryHandler;
use super::connection::{Client, notice};
use super::run::respond_batch;
use crate::error::{IntoSqlError, Result, SqlStateError, sqlstate};
use crate::registry::training::{self, TrainRequest};
use crate::server::stream::text_rows;
use crate::session::{QueryControl, Session};
use crate::statements::QuarryStatement;

/// Progress messages earlier than this are not worth a NOTICE.
const QUIET: Duration = Duration::from_secs(2);

/// The row description of a model statement.
pub fn result_schema(statement: &QuarryStatement) -> SchemaRef {
    match statement {
        QuarryStatement::CreateModel { .. } => training::result_schema(),
        QuarryStatement::DropModel { .. }
        | QuarryStatement::Refresh { .. }
        | QuarryStatement::Access(_) => Arc::new(Schema::empty()),
        QuarryStatement::ShowModels => Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("versions", DataType::Int64, false),
            Field::new("latest_version", DataType::Int64, false),
            Field::new("production_version", DataType::Int64, true),
            Field::new("task", DataType::Utf8, false),
            Field::new("algorithm", DataType::Utf8, false),
            Field::new("updated_at", DataType::Utf8, false),
        ])),
        QuarryStatement::DescribeModel { .. } => Arc::new(Schema::new(vec![
            Field::new("section", DataType::Utf8, false),
            Field::new("item", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
    }
}

fn describe_step(step: &Step) -> String {
    let number = |v: f64| format!("{}", (v * 1e6).round() / 1e6);
    match step {
        Step::Number {
            fill,
            center,
            scale,
        } => {
            let mut s = if fill.is_nan() {
                "NULL kept as missing (the trees route it)".to_string()
            } else {
                format!("NULL -> {}", number(*fill))
            };
            if *center != 0.0 || *scale != 1.0 {
                s.push_str(&format!(
                    "; scaled (x - {}) / {}",
                    number(*center),
                    number(*scale)
                ));
            }
            s
        }
        Step::OneHot {
            levels,
            other,
            fill,
        } => format!(
            "one-hot over {} levels{}{}",
            levels.len(),
            if *other { " + other" } else { "" },
            fill.as_ref()
                .map(|f| format!("; NULL -> '{f}'"))
                .unwrap_or_default()
        ),
        Step::Hash { buckets, .. } => format!("hashed into {buckets} buckets"),
        Step::Ordinal { levels, fill, .. } => format!(
            "ordinal over {} levels; unseen{} -> {}",
            levels.len(),
            if fill.is_none() { " and NULL" } else { "" },
            levels.len()
        ),
        Step::Target {
            levels, default, ..
        } => {
            format!(
                "target-encoded over {} levels; unseen -> {}",
                levels.len(),
                number(*default)
            )
        }
    }
}

impl QueryHandler {
    pub(super) async fn model_statement<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        statement: &QuarryStatement,
        format: &Format,
        control: &QueryControl,
    ) -> Result<Response> {
        let registry = self.state.registry.clone();
        match statement {
            QuarryStatement::CreateModel {
                name,
                or_replace,
                if_not_exists,
                options,
                query,
            } => {
                if registry.model_exists(name)? {
                    // Another version of an existing model: TRAIN on it
                    // (its owner holds it). The data is checked as any
                    // query's when the training query runs.
                    let model = crate::registry::normalize(name);
                    session
                        .checks()
                        .model(&model, crate::access::Privilege::Train)?;
                } else {
                    crate::access::require_new_model(
                        session.access.acl()?.as_ref(),
                        &session.current_user(),
                        &session.default_schema(),
                    )?;
                }
                if *if_not_exists && registry.model_exists(name)? {
                    let _ = client
                        .feed(notice(
                            "NOTICE",
                            sqlstate::DUPLICATE_OBJECT,
                            format!(
                                "model \"{}\" already exists, skipping",
                                crate::registry::normalize(name)
                            ),
                        ))
                        .await;
                    let schema = training::result_schema();
                    return respond_batch(
                        client,
                        RecordBatch::new_empty(schema),
                        format,
                        control,
                        None,
                    );
                }
                let planner = session.plan_state();
                let plan = control
                    .run(async {
                        planner
                            .statement_to_plan(DfStatement::Statement(Box::new(Statement::Query(
                                query.clone(),
                            ))))
                            .await
                            .sql_err()
                    })
                    .await?;
                let request = TrainRequest {
                    name: name.clone(),
                    replace: *or_replace,
                    options: options.clone(),
                    query: query.to_string(),
                    user: session.current_user(),
                    trigger: Some("create model"),
                };
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let started = Instant::now();
                // Progress is a NOTICE once training has run QUIET and a
                // DEBUG message before, each sent as client_min_messages
                // says (PostgreSQL's levels: debug5..debug1, log, notice,
                // warning, error).
                let level = session
                    .var("client_min_messages")
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let debug = level.starts_with("debug");
                let notices = debug || level == "log" || level == "notice";
                let report = |message: String| {
                    if started.elapsed() >= QUIET {
                        notices.then(|| notice("NOTICE", sqlstate::SUCCESSFUL_COMPLETION, message))
                    } else {
                        debug.then(|| notice("DEBUG", sqlstate::SUCCESSFUL_COMPLETION, message))
                    }
                };
                let training = training::run(&registry, &planner, plan, request, Some(tx));
                tokio::pin!(training);
                let batch = loop {
                    tokio::select! {
                        biased;
                        why = control.wait() => return Err(why.error()),
                        result = &mut training => break result?,
                        Some(message) = rx.recv() => {
                            if let Some(notice) = report(message) {
                                let _ = client.send(notice).await;
                            }
                        }
                    }
                };
                // The last messages (the version registered) may arrive
                // with the result.
                while let Ok(message) = rx.try_recv() {
                    if let Some(notice) = report(message) {
                        let _ = client.feed(notice).await;
                    }
                }
                if let Some(warnings) = batch.column(9).as_string_opt::<i32>()
                    && !warnings.is_null(0)
                {
                    let list: Vec<String> =
                        serde_json::from_str(warnings.value(0)).unwrap_or_default();
                    for w in list {
                        let _ = client.feed(notice("WARNING", sqlstate::WARNING, w)).await;
                    }
                }
                session.wrote();
                respond_batch(client, batch, format, control, None)
            }
            QuarryStatement::DropModel {
                name,
                if_exists,
                keep_snapshots,
            } => {
                if registry.model_exists(name)? {
                    let model = crate::registry::normalize(name);
                    session.access.acl()?.require_owner(
                        &session.current_user(),
                        crate::access::Object {
                            kind: crate::access::ObjectKind::Model,
                            key: &model,
                            name: &model,
                        },
                    )?;
                }
                if !registry.drop_model(name, *if_exists, *keep_snapshots)? {
                    let _ = client
                        .feed(notice(
                            "NOTICE",
                            sqlstate::SUCCESSFUL_COMPLETION,
                            format!("model \"{name}\" does not exist, skipping"),
                        ))
                        .await;
                }
                session.wrote();
                Ok(Response::Execution(Tag::new("DROP MODEL")))
            }
            QuarryStatement::Access(statement) => {
                let schema = session.default_schema();
                let user = session.current_user();
                let ctx = crate::access::commands::Context {
                    access: &self.state.access,
                    catalog: &self.state.catalog,
                    registry: &self.state.registry,
                    user: &user,
                    schema: &schema,
                    block: &session.block,
                };
                let done = crate::access::commands::run(&ctx, statement)?;
                for text in done.notices {
                    let _ = client
                        .feed(notice("NOTICE", sqlstate::SUCCESSFUL_COMPLETION, text))
                        .await;
                }
                // Roles and grants commit as the statement completes.
                session.wrote();
                Ok(Response::Execution(Tag::new(done.tag)))
            }
            QuarryStatement::Refresh { name, .. } => {
                let rel = super::names::object_name(session, name)?;
                let catalog = &self.state.catalog;
                session
                    .checks()
                    .relation_owner(catalog, &session.block, &rel)?;
                let (_, query) = catalog.materialized_view(&rel, &session.block)?;
                let stmt = self
                    .parser
                    .parse(&query)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        SqlStateError::internal("a materialized view without a query")
                    })?;
                let rows = control
                    .run(catalog.refresh(&rel, &session.block, async {
                        let plan = session
                            .plan_state()
                            .statement_to_plan(stmt)
                            .await
                            .sql_err()?;
                        super::run::execute_stream(session, plan).await
                    }))
                    .await?;
                tracing::debug!(view = %rel, rows, "materialized view refreshed");
                Ok(Response::Execution(Tag::new("REFRESH MATERIALIZED VIEW")))
            }
            QuarryStatement::ShowModels => {
                let sql = "SELECT name, versions, latest_version, production_version, task, algorithm, updated_at \
                           FROM public.ml_models ORDER BY name";
                let stmt = self
                    .parser
                    .parse(sql)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| SqlStateError::internal("SHOW MODELS"))?;
                let plan = session
                    .plan_state()
                    .statement_to_plan(stmt.clone())
                    .await
                    .sql_err()?;
                self.run_plan(client, session, &stmt, plan, format, control)
                    .await
            }
            QuarryStatement::DescribeModel { name } => {
                let model_ref = registry.describe_ref(name)?;
                let model = registry.load(&model_ref)?;
                let version = registry
                    .versions(Some(&model_ref.name))?
                    .into_iter()
                    .find(|v| v.version == model_ref.version)
                    .ok_or_else(|| {
                        SqlStateError::new(
                            sqlstate::UNDEFINED_OBJECT,
                            format!("model {model_ref} not found"),
                        )
                    })?;
                let mut rows: Vec<Vec<Option<String>>> = Vec::new();
                let mut row = |section: &str, item: &str, value: String| {
                    rows.push(vec![Some(section.into()), Some(item.into()), Some(value)]);
                };
                row("model", "name", model_ref.name.clone());
                row("model", "version", model_ref.version.to_string());
                row("model", "task", version.task.clone());
                row("model", "algorithm", version.algorithm.clone());
                row("model", "status", version.status.clone());
                row("model", "aliases", version.aliases.join(", "));
                row("model", "train_rows", version.train_rows.to_string());
                row("model", "test_rows", version.test_rows.to_string());
                row("model", "training_query", version.training_query.clone());
                row("model", "source_tables", version.source_tables.clone());
                row("model", "data_sha256", version.data_sha256.clone());
                row("model", "created_by", version.created_by.clone());
                row("model", "created_at", version.created_at.clone());
                let envelope = &model.envelope;
                if let Some(label) = &envelope.label {
                    row("label", &label.name, label.data_type.clone());
                    for (i, c) in label.classes.iter().enumerate() {
                        row("class", &i.to_string(), c.to_string());
                    }
                }
                let steps = &envelope.preprocessing.steps;
                for (i, f) in envelope.features.iter().enumerate() {
                    let prep = steps
                        .get(i)
                        .map(describe_step)
                        .unwrap_or_else(|| "used as is".into());
                    row(
                        "feature",
                        &f.name,
                        format!("{} ({}); {prep}", f.kind.name(), f.data_type),
                    );
                }
                for (section, item, value) in envelope.payload.fitted().describe() {
                    row(section, item, value);
                }
                if let Some(mut importance) = model.feature_importance() {
                    let total: f64 = importance.iter().map(|i| i.1).sum();
                    importance.sort_by(|a, b| b.1.total_cmp(&a.1));
                    for (feature, gain, splits) in importance {
                        let share = if total > 0.0 {
                            100.0 * gain / total
                        } else {
                            0.0
                        };
                        row(
                            "importance",
                            &feature,
                            format!("gain {share:.1}%, {splits} splits"),
                        );
                    }
                }
                for extra in &envelope.extras {
                    match extra {
                        quarry_udfs::model::artifact::Extra::Calibration { calibrator, rows } => {
                            row(
                                "uncertainty",
                                "calibration",
                                format!(
                                    "{} on {rows} hold-out rows: ml_predict_proba and ml_predict use calibrated probabilities",
                                    calibrator.name()
                                ),
                            )
                        }
                        quarry_udfs::model::artifact::Extra::Conformal {
                            level,
                            half_width,
                            rows,
                        } => row(
                            "uncertainty",
                            "interval",
                            format!(
                                "split-conformal {:.0}%: prediction ± {half_width:.6} (from {rows} hold-out rows), served by ml_predict_interval",
                                level * 100.0
                            ),
                        ),
                        _ => {}
                    }
                }
                let metrics: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&version.metrics).unwrap_or_default();
                for (k, v) in metrics {
                    row("metric", &k, v.to_string());
                }
                row("metric", "evaluated_on", version.evaluated_on.clone());
                let params: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&version.params).unwrap_or_default();
                for (k, v) in params {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    row("param", &k, text);
                }
                let warnings: Vec<String> =
                    serde_json::from_str(&version.warnings).unwrap_or_default();
                for (i, w) in warnings.into_iter().enumerate() {
                    row("warning", &(i + 1).to_string(), w);
                }
                Ok(Response::Query(
                    text_rows(&["section", "item", "value"], rows)
                        .map_err(SqlStateError::internal)?,
                ))
            }
        }
    }
}
