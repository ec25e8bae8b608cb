//! Lifecycle automation: what the server does for a model on its own.
//!
//! A model's policy (`registry::policy`, keys in [`rules`]) says when to
//! retrain, whether to deploy the result, and when to roll a deploy back.
//! [`Lifecycle::run`] evaluates it once as a job recorded in `ml_jobs`
//! ([`jobs`]); the scheduler ([`scheduler`]) does that for every model
//! with a policy at each `--scheduler-interval`, and `ml_run_policy(model)`
//! does it now.
//!
//! A job runs in a server-side session of the model's owner, so it reads
//! and trains with the owner's privileges (a privilege revoked since makes
//! the job fail, never bypasses the check) and its statements are audited
//! under that user. It measures through the same SQL users call
//! (`ml_monitor`, `ml_compare`), retrains with the stored training query
//! and options of the version in production, and deploys only as its last
//! step: a job that fails anywhere deploys nothing.
//!
//! Guarantees: one job per model at a time (a second is refused with
//! 55006, or skipped by the scheduler); a job interrupted by a crash is
//! marked failed at the next start; the version it trained is registered
//! whole or not at all.

pub mod ack_alert;
pub mod alerts;
mod checks;
pub mod jobs;
pub mod notify;
pub mod rules;
pub mod run_policy;
pub mod scheduler;
pub mod view;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionState;
use quarry_udfs::model::ModelStore;
use tokio_util::sync::CancellationToken;

use crate::error::{IntoSqlError, Result, SqlStateError, sqlstate};
use crate::registry::training::{self, TrainRequest};
use crate::registry::{Automation, Registry};
use crate::session::Session;
use crate::sync::lock;
use jobs::{Jobs, Outcome};
use rules::{AutoDeploy, Rules};

/// Runs policies as jobs.
pub struct Lifecycle {
    registry: Arc<Registry>,
    base: SessionState,
    access: Arc<crate::access::Access>,
    audit: Arc<crate::audit::AuditLog>,
    shutdown: CancellationToken,
    jobs: Jobs,
    alerts: alerts::Alerts,
    /// Where webhook routes are delivered from.
    pub notifier: notify::Notifier,
    /// Models with a job running.
    running: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle").finish_non_exhaustive()
    }
}

/// Holds a model's job slot; frees it when dropped.
struct Claim<'a> {
    running: &'a Mutex<HashSet<String>>,
    model: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        lock(self.running).remove(&self.model);
    }
}

/// A SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Rounds for a reason's text.
fn show(x: f64) -> String {
    format!("{}", (x * 1e4).round() / 1e4)
}

/// The `f64` at `row` of column `name` (any numeric type), if not NULL.
fn number(batch: &RecordBatch, name: &str, row: usize) -> Option<f64> {
    let column = batch.column_by_name(name)?;
    let column = cast(column, &DataType::Float64).ok()?;
    let values = column.as_primitive::<Float64Type>();
    values.is_valid(row).then(|| values.value(row))
}

fn text(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let column = batch.column_by_name(name)?;
    let column = cast(column, &DataType::Utf8).ok()?;
    let values = column.as_string::<i32>();
    values.is_valid(row).then(|| values.value(row).to_string())
}

/// Every row of `batches` as (batch, row) pairs.
fn rows(batches: &[RecordBatch]) -> impl Iterator<Item = (&RecordBatch, usize)> {
    batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |i| (b, i)))
}

/// A registry timestamp (`2026-12-07T03:05:55.123Z`).
fn registry_time(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.fZ")
        .ok()
        .map(|t| t.and_utc())
}

#[async_trait::async_trait]
impl Automation for Lifecycle {
    async fn run_policy(&self, model: &str, user: &str) -> Result<i64> {
        self.run(model, user).await
    }

    async fn lifecycle_view(&self, model: &str, user: &str) -> Result<RecordBatch> {
        self.view(model, user).await
    }

    fn check_webhook(&self, url: &str) -> Result<()> {
        let hosts = &self.notifier.hosts;
        if hosts.allow(url) {
            return Ok(());
        }
        Err(SqlStateError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!(
                "ml_set_policy: webhook {url} is not on a host the server may send alerts to \
                 (--alert-webhook-hosts: {})",
                hosts.describe()
            ),
        ))
    }
}

/// One version's live metric over the monitoring window.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Live {
    labelled: i64,
    value: f64,
}

/// One version's logged rows over a window, as `ml_monitor(...,
/// grain => 'window')` measures them: read once per job, for the alert
/// checks and the retraining rules alike.
#[derive(Debug, Clone, Default, PartialEq)]
struct Monitored {
    prediction_psi: Option<f64>,
    /// The largest PSI of a logged feature, and the feature.
    feature_psi: Option<(f64, String)>,
    /// Each live metric: its name, labelled rows and value.
    metrics: Vec<(String, Live)>,
}

impl Monitored {
    fn of(batches: &[RecordBatch]) -> Monitored {
        let mut monitored = Monitored::default();
        // Every metric row repeats the drift columns.
        if let Some((b, i)) = rows(batches).next() {
            monitored.prediction_psi = number(b, "prediction_psi", i);
            monitored.feature_psi =
                number(b, "max_feature_psi", i).zip(text(b, "max_psi_feature", i));
        }
        monitored.metrics = rows(batches)
            .filter_map(|(b, i)| {
                Some((
                    text(b, "metric", i)?,
                    Live {
                        labelled: number(b, "labelled", i)? as i64,
                        value: number(b, "value", i)?,
                    },
                ))
            })
            .collect();
        monitored
    }

    fn live(&self, metric: &str) -> Option<Live> {
        self.metrics
            .iter()
            .find_map(|(m, live)| (m == metric).then_some(*live))
    }
}

impl Lifecycle {
    /// Opens `ml_jobs` (failing jobs a crash left running) and answers
    /// `ml_run_policy` from now on.
    pub fn start(
        registry: Arc<Registry>,
        base: SessionState,
        access: Arc<crate::access::Access>,
        audit: Arc<crate::audit::AuditLog>,
        webhook_hosts: notify::Hosts,
        shutdown: CancellationToken,
    ) -> Result<Arc<Lifecycle>> {
        let jobs = Jobs::open(registry.store().clone())?;
        let lifecycle = Arc::new(Lifecycle {
            registry: registry.clone(),
            base,
            access,
            audit,
            notifier: notify::Notifier::start(webhook_hosts, shutdown.clone()),
            alerts: alerts::Alerts::of(registry.store().clone()),
            shutdown,
            jobs,
            running: Mutex::new(HashSet::new()),
        });
        let automation: Arc<dyn Automation> = lifecycle.clone();
        registry.automate(Arc::downgrade(&automation));
        Ok(lifecycle)
    }

    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// Models whose policy has a lifecycle rule.
    pub fn models(&self) -> Result<Vec<String>> {
        Ok(self
            .registry
            .policies()?
            .into_iter()
            .filter(|(_, p)| Rules::of(p).any())
            .map(|(m, _)| m)
            .collect())
    }

    fn claim(&self, model: &str) -> Result<Claim<'_>> {
        if !lock(&self.running).insert(model.to_string()) {
            return Err(SqlStateError::new(
                sqlstate::OBJECT_IN_USE,
                format!("a job for model \"{model}\" is already running"),
            )
            .with_hint("SELECT * FROM ml_jobs WHERE status = 'running' shows it"));
        }
        Ok(Claim {
            running: &self.running,
            model: model.to_string(),
        })
    }

    /// Evaluates `model`'s policy now, as a job run by `run_by`; the job's
    /// id. The job's own failure is recorded in `ml_jobs`, not returned;
    /// 55006 if a job for the model is already running.
    pub async fn run(&self, model: &str, run_by: &str) -> Result<i64> {
        self.registry.require_exists(model)?;
        let _claim = self.claim(model)?;
        let id = self.jobs.start(model, run_by)?;
        let mut outcome = Outcome {
            decision: "none".into(),
            ..Outcome::default()
        };
        let result = self.evaluate(model, &mut outcome).await;
        match &result {
            Ok(()) => self.jobs.finish(id, &outcome, None)?,
            Err(e) => {
                tracing::warn!(model, job = id, code = e.code, error = %e.message, "policy job failed");
                let error = format!("{}: {}", e.code, e.message);
                self.jobs.finish(id, &outcome, Some(&error))?;
            }
        }
        let days = Rules::of(&self.registry.policy(model)?).job_retention_days;
        let pruned = self.jobs.prune(model, days)?;
        if pruned > 0 {
            tracing::debug!(model, pruned, days, "ml_jobs: old idle jobs deleted");
        }
        Ok(id)
    }

    /// A session of `user` for one job's statements.
    fn session(&self, user: &str) -> Arc<Session> {
        let session = Session::new(
            &self.base,
            user,
            self.shutdown.clone(),
            None,
            CancellationToken::new(),
            self.access.clone(),
        );
        session.audit_to(self.audit.clone(), 0);
        session
    }

    /// Runs one query in `session`, as a statement of it.
    async fn query(&self, session: &Arc<Session>, sql: &str) -> Result<Vec<RecordBatch>> {
        let control = session.start_query(&Arc::from(sql));
        let state = session.plan_state();
        let result = control
            .run(async {
                let plan = crate::complexity::plan(&state, sql).await?;
                DataFrame::new((*state).clone(), plan)
                    .collect()
                    .await
                    .sql_err()
            })
            .await;
        if let Err(e) = &result {
            control.failed(e.code);
        }
        result
    }

    /// `reference`'s logged rows over `window`, from `ml_monitor`.
    async fn monitored(
        &self,
        session: &Arc<Session>,
        reference: &str,
        window: &str,
    ) -> Result<Monitored> {
        let sql = format!(
            "SELECT metric, labelled, value, prediction_psi, max_feature_psi, max_psi_feature FROM ml_monitor({}, window => {}, grain => 'window', bootstrap => 0)",
            quote(reference),
            quote(window)
        );
        Ok(Monitored::of(&self.query(session, &sql).await?))
    }

    async fn evaluate(&self, model: &str, out: &mut Outcome) -> Result<()> {
        let model = &crate::registry::normalize(model);
        let rules = Rules::of(&self.registry.policy(model)?);
        if !rules.any() {
            out.notes.push("the policy has no retrain_every, retrain_on_drift, retrain_on_metric, rollback_on_metric or alert_to rule".into());
            return Ok(());
        }
        let production = ModelStore::resolve(&*self.registry, &format!("{model}@production"))
            .ok()
            .map(|r| r.version);
        let versions = self.registry.versions(Some(model))?;
        let newest = versions.last().ok_or_else(|| {
            SqlStateError::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("model \"{model}\" has no versions"),
            )
        })?;
        let recipe = self
            .registry
            .retraining(model, production.unwrap_or(newest.version))?;
        let session = self.session(&recipe.owner);
        // The version the checks and rules watch, over the window, read once.
        let watched = production.unwrap_or(newest.version);
        let monitored = if rules.alerts.is_some()
            || rules.retrain_on_drift.is_some()
            || rules.retrain_on_metric.is_some()
        {
            self.monitored(
                &session,
                &format!("{model}@{watched}"),
                &rules.monitor_window,
            )
            .await?
        } else {
            Monitored::default()
        };
        if let Some(alerting) = &rules.alerts {
            self.check_alerts(
                model,
                watched,
                alerting,
                &rules.monitor_window,
                rules.min_labelled,
                &monitored,
                &session,
                out,
            )
            .await?;
        }

        // A deploy doing worse than the version it replaced goes back first.
        let replaced = match (&rules.rollback_on_metric, production) {
            (Some(_), Some(current)) => self.replaced(model, current)?,
            _ => None,
        };
        if let (Some(_), Some(current), None) = (&rules.rollback_on_metric, production, replaced) {
            out.notes.push(format!(
                "rollback_on_metric: production version {current} replaced no version, or was rolled back to"
            ));
        }
        if let (Some(rollback), Some(current), Some(previous)) =
            (&rules.rollback_on_metric, production, replaced)
        {
            // The current version since its deploy (it may have served
            // before, as a challenger or an earlier production); the one
            // it replaced over the monitoring window.
            let (previous, deployed) = previous;
            let since = deployed.map_or_else(
                || rules.monitor_window.clone(),
                |at| {
                    format!(
                        "{} microseconds",
                        (Utc::now() - at)
                            .num_microseconds()
                            .unwrap_or(i64::MAX)
                            .max(1)
                    )
                },
            );
            let now_live = self
                .monitored(&session, &format!("{model}@{current}"), &since)
                .await?;
            let before_live = self
                .monitored(
                    &session,
                    &format!("{model}@{previous}"),
                    &rules.monitor_window,
                )
                .await?;
            let enough = |monitored: Monitored| {
                monitored
                    .live(&rollback.metric)
                    .filter(|l| l.labelled >= rules.min_labelled as i64)
            };
            match (enough(now_live), enough(before_live)) {
                (Some(now), Some(before)) => {
                    let worse = if rules::lower_is_better(&rollback.metric) {
                        now.value > before.value + rollback.margin
                    } else {
                        now.value < before.value - rollback.margin
                    };
                    let compared = format!(
                        "live {} of version {current} since its deploy {} (n={}) against version {previous}'s over the last {} {} (n={})",
                        rollback.metric,
                        show(now.value),
                        now.labelled,
                        rules.monitor_window,
                        show(before.value),
                        before.labelled
                    );
                    if worse {
                        self.registry.rollback(model, &recipe.owner)?;
                        out.trigger = Some("rollback_on_metric".into());
                        out.decision = "rolled back".into();
                        out.notes.push(format!(
                            "{compared}: worse by more than the margin {}; production is version {previous} again",
                            rollback.margin
                        ));
                        return Ok(());
                    }
                    out.notes.push(format!("rollback_on_metric: {compared}, within the margin"));
                }
                _ => out.notes.push(format!(
                    "rollback_on_metric: fewer than {} labelled rows for version {current} or {previous}",
                    rules.min_labelled
                )),
            }
        }

        let fired = self.fired(&rules, newest, watched, &monitored, &mut out.notes);
        let Some(trigger) = fired else {
            if rules.retrain_every.is_some()
                || rules.retrain_on_drift.is_some()
                || rules.retrain_on_metric.is_some()
                || rules.rollback_on_metric.is_some()
            {
                out.notes.insert(0, "no rule fired".into());
            }
            return Ok(());
        };
        out.trigger = Some(trigger);
        let Some(options) = recipe.options.clone() else {
            return Err(SqlStateError::new(
                sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "version {} of model \"{model}\" was trained before Quarry kept training options, so a policy cannot retrain it",
                    recipe.version
                ),
            )
            .with_hint("train it again with CREATE MODEL or ml_train"));
        };
        if rules.min_new_rows > 0 {
            let sql = format!(
                "SELECT count(*) AS n FROM ({}) AS training_rows",
                recipe.query
            );
            let batches = self.query(&session, &sql).await?;
            let now = rows(&batches)
                .find_map(|(b, i)| number(b, "n", i))
                .unwrap_or(0.0) as i64;
            let new = now - recipe.rows;
            if new < rules.min_new_rows as i64 {
                out.notes.push(format!(
                    "but the training query returns {new} rows more than version {} learned from, fewer than min_new_rows {}",
                    recipe.version, rules.min_new_rows
                ));
                return Ok(());
            }
            out.notes.push(format!("{new} new rows"));
        }

        // Retrain with the production version's query and options.
        let candidate = {
            let control = session.start_query(&Arc::from(recipe.query.as_str()));
            let state = session.plan_state();
            let request = TrainRequest {
                name: model.clone(),
                replace: false,
                options,
                query: recipe.query.clone(),
                user: recipe.owner.clone(),
                // This job's row is the record.
                trigger: None,
            };
            let trained = control
                .run(async {
                    let plan = crate::complexity::plan(&state, &recipe.query).await?;
                    training::run(&self.registry, &state, plan, request, None).await
                })
                .await;
            if let Err(e) = &trained {
                control.failed(e.code);
            }
            let batch = trained?;
            number(&batch, "version", 0)
                .map(|v| v as u32)
                .ok_or_else(|| SqlStateError::internal("training answered no version"))?
        };
        out.candidate_version = Some(candidate);
        out.decision = "trained".into();
        out.notes.push(format!("trained version {candidate}"));

        match (rules.auto_deploy, production) {
            (AutoDeploy::Never, _) => {
                out.notes.push("left staged (auto_deploy is never)".into());
            }
            (AutoDeploy::IfBetter, None) => {
                out.decision = "kept".into();
                out.notes
                    .push("left staged: there is no production version to beat".into());
            }
            (AutoDeploy::IfBetter, Some(current)) => {
                // A parenthesized subquery, not text: a statement's tables
                // are resolved from its syntax tree before planning, and a
                // name inside a string is not in it.
                let relation = rules.compare_on.as_deref().unwrap_or(&recipe.query);
                let relation = quarry_udfs::functions::relation::parse_relation_text(relation)
                    .map_err(|e| {
                        SqlStateError::bad_argument(format!(
                            "compare_on '{relation}' is not a table name or query: {e}"
                        ))
                    })?;
                let sql = format!(
                    "SELECT metric, a, b, diff, p_value FROM ml_compare({}, {}, ({relation}), seed => 42)",
                    quote(&format!("{model}@{current}")),
                    quote(&format!("{model}@{candidate}")),
                );
                let batches = self.query(&session, &sql).await?;
                let found: Vec<(String, f64, f64, f64, f64)> = rows(&batches)
                    .filter_map(|(b, i)| {
                        Some((
                            text(b, "metric", i)?,
                            number(b, "a", i)?,
                            number(b, "b", i)?,
                            number(b, "diff", i)?,
                            number(b, "p_value", i)?,
                        ))
                    })
                    .collect();
                let wanted = rules.deploy_metric.clone();
                let pick = |m: &str| found.iter().find(|f| f.0 == m).cloned();
                let chosen = match &wanted {
                    Some(m) => pick(m),
                    None => pick("roc_auc")
                        .or_else(|| pick("accuracy"))
                        .or_else(|| pick("rmse")),
                };
                let Some((metric, a, b, diff, p)) = chosen else {
                    return Err(SqlStateError::bad_argument(format!(
                        "ml_compare gave no {} for versions {current} and {candidate}",
                        wanted.as_deref().unwrap_or("roc_auc, accuracy or rmse")
                    )));
                };
                let better_side = if rules::lower_is_better(&metric) {
                    diff < 0.0
                } else {
                    diff > 0.0
                };
                let compared = format!(
                    "{metric} of version {candidate} {} against production version {current}'s {} (p={:.3e})",
                    show(b),
                    show(a),
                    p
                );
                if better_side && p < rules.deploy_p_value {
                    match self
                        .registry
                        .deploy(model, candidate, "production", None, &recipe.owner)
                    {
                        Ok(_) => {
                            out.decision = "deployed".into();
                            out.notes
                                .push(format!("{compared}: better, deployed to production"));
                        }
                        // Approvals still missing: the candidate waits for them.
                        Err(e) if e.code == sqlstate::INSUFFICIENT_PRIVILEGE => {
                            out.decision = "kept".into();
                            out.notes.push(format!(
                                "{compared}: better, but not deployed: {}",
                                e.message
                            ));
                        }
                        Err(e) => return Err(e),
                    }
                } else {
                    out.decision = "kept".into();
                    out.notes.push(format!(
                        "{compared}: not better at p < {}; production stays version {current}",
                        rules.deploy_p_value
                    ));
                }
            }
        }
        Ok(())
    }

    /// The version the deploy that made `current` production replaced,
    /// when that deploy is production's latest move (a rollback since
    /// means it was already undone).
    /// With when that deploy was.
    fn replaced(&self, model: &str, current: u32) -> Result<Option<(u32, Option<DateTime<Utc>>)>> {
        let last = self
            .registry
            .deployments()?
            .into_iter()
            .rfind(|d| d.model == model && d.alias == "production");
        Ok(last
            .filter(|d| d.action == "deploy" && d.version == i64::from(current))
            .and_then(|d| Some((d.previous_version?, registry_time(&d.at))))
            .filter(|(p, _)| *p != i64::from(current))
            .map(|(p, at)| (p as u32, at)))
    }

    /// The first retraining rule that fires, noting what each measured
    /// (drift and live metrics of `version`, production or the newest).
    fn fired(
        &self,
        rules: &Rules,
        newest: &crate::registry::VersionRow,
        version: u32,
        monitored: &Monitored,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        let mut fired = None;
        let now = Utc::now();
        if let Some(every) = &rules.retrain_every {
            let trained = registry_time(&newest.created_at);
            let due = rules::interval_start(every, now);
            match (trained, due) {
                (Some(t), Some(due)) if t <= due => {
                    notes.push(format!(
                        "retrain_every: the newest version ({}) was trained {} ago, at least {every}",
                        newest.version,
                        humanize(now - t)
                    ));
                    fired.get_or_insert("retrain_every");
                }
                _ => notes.push(format!(
                    "retrain_every: the newest version ({}) is younger than {every}",
                    newest.version
                )),
            }
        }
        if let Some(threshold) = rules.retrain_on_drift {
            let prediction = monitored.prediction_psi;
            let feature = &monitored.feature_psi;
            let mut drifted = Vec::new();
            if let Some(p) = prediction.filter(|p| *p > threshold) {
                drifted.push(format!("the prediction's PSI {}", show(p)));
            }
            if let Some((psi, name)) = feature.as_ref().filter(|(psi, _)| *psi > threshold) {
                drifted.push(format!("feature {name}'s PSI {}", show(*psi)));
            }
            if drifted.is_empty() {
                notes.push(match (prediction, &feature) {
                    (None, None) => format!(
                        "retrain_on_drift: nothing logged for version {version} in the last {}",
                        rules.monitor_window
                    ),
                    _ => format!(
                        "retrain_on_drift: largest PSI {} over the last {}, not above {threshold}",
                        show(
                            prediction
                                .into_iter()
                                .chain(feature.as_ref().map(|f| f.0))
                                .fold(0.0, f64::max)
                        ),
                        rules.monitor_window
                    ),
                });
            } else {
                notes.push(format!(
                    "retrain_on_drift: {} over the last {} of version {version}'s logged rows is above {threshold}",
                    drifted.join(" and "),
                    rules.monitor_window
                ));
                fired.get_or_insert("retrain_on_drift");
            }
        }
        if let Some(condition) = &rules.retrain_on_metric {
            match monitored.live(&condition.metric) {
                Some(Live {
                    labelled: n,
                    value,
                }) if n >= rules.min_labelled as i64 => {
                    if condition.holds(value) {
                        notes.push(format!(
                            "retrain_on_metric: live {} of version {version} is {} (n={n}), {condition}",
                            condition.metric,
                            show(value)
                        ));
                        fired.get_or_insert("retrain_on_metric");
                    } else {
                        notes.push(format!(
                            "retrain_on_metric: live {} of version {version} is {} (n={n}), not {condition}",
                            condition.metric,
                            show(value)
                        ));
                    }
                }
                _ => notes.push(format!(
                    "retrain_on_metric: fewer than {} labelled rows for version {version} in the last {}",
                    rules.min_labelled, rules.monitor_window
                )),
            }
        }
        fired.map(str::to_string)
    }
}

/// `3 days`, `5 hours`, `12 minutes`.
fn humanize(span: chrono::TimeDelta) -> String {
    let (days, hours, minutes) = (span.num_days(), span.num_hours(), span.num_minutes());
    if days >= 1 {
        format!("{days} day{}", if days == 1 { "" } else { "s" })
    } else if hours >= 1 {
        format!("{hours} hour{}", if hours == 1 { "" } else { "s" })
    } else if minutes >= 1 {
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    } else {
        "less than a minute".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitored_window_is_read_from_its_rows() -> datafusion::error::Result<()> {
        use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
        use datafusion::arrow::datatypes::{Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("metric", DataType::Utf8, true),
            Field::new("labelled", DataType::Int64, true),
            Field::new("value", DataType::Float64, true),
            Field::new("prediction_psi", DataType::Float64, true),
            Field::new("max_feature_psi", DataType::Float64, true),
            Field::new("max_psi_feature", DataType::Utf8, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("roc_auc"),
                Some("accuracy"),
                None,
            ])),
            Arc::new(Int64Array::from(vec![Some(40), Some(40), None])),
            Arc::new(Float64Array::from(vec![Some(0.8), Some(0.7), None])),
            Arc::new(Float64Array::from(vec![Some(0.3); 3])),
            Arc::new(Float64Array::from(vec![Some(0.5); 3])),
            Arc::new(StringArray::from(vec![Some("fee"); 3])),
        ];
        let batch = RecordBatch::try_new(schema, columns)?;
        let monitored = Monitored::of(&[batch]);
        assert_eq!(monitored.prediction_psi, Some(0.3));
        assert_eq!(monitored.feature_psi, Some((0.5, "fee".to_string())));
        assert_eq!(
            monitored.live("accuracy"),
            Some(Live {
                labelled: 40,
                value: 0.7
            })
        );
        assert_eq!(monitored.live("rmse"), None);
        assert_eq!(Monitored::of(&[]), Monitored::default());
        Ok(())
    }

    #[test]
    fn reads_registry_times_and_quotes() {
        let t = registry_time("2026-12-07T03:05:55.123Z").expect("parses");
        assert_eq!(t.timestamp_millis() % 1000, 123);
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(humanize(chrono::TimeDelta::hours(49)), "2 days");
        assert_eq!(humanize(chrono::TimeDelta::minutes(61)), "1 hour");
        assert_eq!(show(0.123456), "0.1235");
    }
}
