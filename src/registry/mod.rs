//! The model registry: versions, aliases and deployments in the metadata store;
//! artifacts as immutable files.
//!
//! An artifact is written to a temporary file, fsynced and renamed into place
//! before the transaction that registers its version commits, so a version
//! that exists always has its artifact, and a crash leaves at most an
//! unregistered file, removed at the next start.
//!
//! | reference        | resolves to                                      |
//! |------------------|--------------------------------------------------|
//! | `churn`          | the `production` alias if set, else the latest version |
//! | `churn@3`        | version 3                                        |
//! | `churn@shadow`   | the version the alias `shadow` points to         |

pub mod approvals;
pub mod documentation;
pub mod functions;
pub mod policy;
pub mod snapshots;
pub mod system_tables;
pub mod training;

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use quarry_udfs::model::route::{self, Route};
use quarry_udfs::model::{LoadedModel, ModelRef, ModelStore, TrainedModel};
use rusqlite::{OptionalExtension, params};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use tracing::info;

use crate::catalog::store::Store;
use crate::catalog::writer::sync_dir;
use crate::error::{Result, SqlStateError, sqlstate};
use crate::sync::lock;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ml_models (
    name       TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS ml_model_versions (
    model           TEXT NOT NULL REFERENCES ml_models(name) ON DELETE CASCADE,
    version         INTEGER NOT NULL,
    task            TEXT NOT NULL,
    algorithm       TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'staged',
    params          TEXT NOT NULL,
    metrics         TEXT NOT NULL,
    evaluated_on    TEXT NOT NULL,
    training_query  TEXT NOT NULL,
    source_tables   TEXT NOT NULL,
    data_sha256     TEXT NOT NULL,
    artifact        TEXT NOT NULL,
    artifact_sha256 TEXT NOT NULL,
    features        TEXT NOT NULL,
    label           TEXT,
    train_rows      INTEGER NOT NULL,
    test_rows       INTEGER NOT NULL,
    seconds         REAL NOT NULL,
    warnings        TEXT NOT NULL,
    profile         TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (model, version)
);
CREATE TABLE IF NOT EXISTS ml_model_aliases (
    model   TEXT NOT NULL REFERENCES ml_models(name) ON DELETE CASCADE,
    alias   TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (model, alias)
);
CREATE TABLE IF NOT EXISTS ml_deployments (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    model            TEXT NOT NULL,
    alias            TEXT NOT NULL,
    version          INTEGER NOT NULL,
    previous_version INTEGER,
    action           TEXT NOT NULL,
    by_user          TEXT NOT NULL,
    at               TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"#;

fn unknown_model(name: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::UNDEFINED_OBJECT,
        format!("model \"{name}\" does not exist"),
    )
    .with_hint("SHOW MODELS lists the models; CREATE MODEL trains one")
}

/// A traffic share must be a number in [0, 1], for an alias that can take one.
fn check_traffic(alias: &str, traffic: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&traffic) {
        return Err(SqlStateError::bad_argument(format!(
            "ml_deploy: traffic must be a share between 0 and 1, got {traffic}"
        )));
    }
    if traffic > 0.0 && matches!(alias, "production" | route::SHADOW) {
        return Err(SqlStateError::bad_argument(format!(
            "ml_deploy: alias \"{alias}\" takes no traffic share: {}",
            if alias == "production" {
                "production serves the rows the other alias does not take"
            } else {
                "the shadow scores every row, for the prediction log only"
            }
        )));
    }
    Ok(())
}

/// What a training run contributes to its version besides the model.
#[derive(Debug, Clone)]
pub struct TrainingInfo {
    pub query: String,
    /// The options as given (`CREATE MODEL ... OPTIONS`, `ml_train`'s
    /// JSON), kept so that a policy retrains the same way.
    pub options: std::collections::BTreeMap<String, String>,
    pub source_tables: Vec<String>,
    pub data_sha256: String,
    pub user: String,
    pub seconds: f64,
    /// The stored columns each feature and the label come from, and the
    /// columns the query read besides (`governance::lineage`).
    pub lineage: Vec<crate::governance::lineage::Use>,
}

/// What runs after a version is registered.
#[derive(Clone)]
pub struct ModelHook(pub Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>);

impl std::fmt::Debug for ModelHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModelHook")
    }
}

/// What the lifecycle (`crate::lifecycle`) does for the registry's SQL
/// functions: it needs sessions, which the registry does not have.
#[async_trait::async_trait]
pub trait Automation: Send + Sync {
    /// `ml_run_policy`: runs `model`'s policy now for `user`; the job's id.
    async fn run_policy(&self, model: &str, user: &str) -> Result<i64>;
    /// `ml_lifecycle`: `model`'s versions through their life, read as `user`.
    async fn lifecycle_view(
        &self,
        model: &str,
        user: &str,
    ) -> Result<datafusion::arrow::array::RecordBatch>;
    /// `42501` unless alerts may be sent to webhook `url`.
    fn check_webhook(&self, url: &str) -> Result<()>;
}

/// How a version was trained: what a policy needs to train it again.
#[derive(Debug, Clone)]
pub struct Retraining {
    pub version: u32,
    pub query: String,
    /// `None` for versions registered before options were kept.
    pub options: Option<std::collections::BTreeMap<String, String>>,
    /// Rows it trained and was tested on.
    pub rows: i64,
    pub created_at: String,
    /// The model's owner, whose privileges a retraining runs with.
    pub owner: String,
}

/// One row of `ml_deployments`: an alias moved (`deploy`, `rollback`).
#[derive(Debug, Clone)]
pub struct DeploymentRow {
    pub id: i64,
    pub model: String,
    pub alias: String,
    pub version: i64,
    pub previous_version: Option<i64>,
    /// The share of traffic a deploy gave the alias.
    pub traffic: Option<f64>,
    pub action: String,
    pub by_user: String,
    pub at: String,
}

/// One row of `ml_model_versions`, as DESCRIBE MODEL and the system tables show it.
#[derive(Debug, Clone)]
pub struct VersionRow {
    pub model: String,
    pub version: u32,
    pub task: String,
    pub algorithm: String,
    pub status: String,
    pub params: String,
    pub metrics: String,
    pub evaluated_on: String,
    pub training_query: String,
    pub source_tables: String,
    pub data_sha256: String,
    pub features: String,
    pub label: Option<String>,
    pub train_rows: i64,
    pub test_rows: i64,
    pub seconds: f64,
    pub warnings: String,
    pub created_by: String,
    pub created_at: String,
    pub aliases: Vec<String>,
}

/// The status of an archived version.
const ARCHIVED: &str = "archived";

/// A version's status: `staged`, `production` or `archived`.
fn status_of(
    tx: &rusqlite::Transaction<'_>,
    model: &str,
    version: u32,
) -> rusqlite::Result<String> {
    tx.query_row(
        "SELECT status FROM ml_model_versions WHERE model = ?1 AND version = ?2",
        params![model, version],
        |r| r.get(0),
    )
}

/// `55000` for an archived version asked to serve.
fn archived_version(function: &str, model: &str, version: u32) -> SqlStateError {
    SqlStateError::new(
        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!("{function}: {model}@{version} is archived"),
    )
    .with_hint(format!(
        "SELECT ml_unarchive('{model}', {version}) brings it back; until then it is scored only as {model}@{version}"
    ))
}

/// The registry.
#[derive(Debug)]
pub struct Registry {
    store: Arc<Store>,
    dir: PathBuf,
    cache: Mutex<HashMap<ModelRef, Arc<LoadedModel>>>,
    /// Run after a version is registered (the serving tables appear with
    /// the first model).
    model_hook: std::sync::OnceLock<ModelHook>,
    /// Runs policies and reads lifecycles (set by `lifecycle`).
    automation: std::sync::OnceLock<std::sync::Weak<dyn Automation>>,
    /// Each model's logging policy as scoring asks for it, read once.
    log_policies: Mutex<HashMap<String, Option<quarry_udfs::model::serving::LogPolicy>>>,
    /// Unpinned references (`churn`, `churn@production`) as resolved at a
    /// [`Registry::epoch`]: every change to versions or aliases advances it,
    /// so an entry of an older epoch is never used. Saves the two metadata
    /// queries a bare name costs on every REST request and scoring plan.
    resolved: Mutex<HashMap<String, (u64, ModelRef)>>,
    /// Bare names' routes as of an epoch, as `resolved`.
    routes: Mutex<HashMap<String, (u64, Option<Route>)>>,
    pub snapshots: snapshots::Snapshots,
}

fn io_err(context: &str, e: impl std::fmt::Display) -> SqlStateError {
    SqlStateError::new(sqlstate::IO_ERROR, format!("{context}: {e}"))
}

/// Model names: lower case unless the user quoted them.
pub fn normalize(name: &str) -> String {
    quarry_udfs::model::store::normalize_name(name)
}

impl Registry {
    /// A metadata transaction that changes what model references resolve
    /// to (a version added or dropped, an alias moved); once it commits,
    /// plans that resolved one are made again ([`Store::models`]).
    fn models_tx<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let out = self.store.with_tx(f)?;
        self.store.models_changed();
        // A model made or dropped: its owner (`created_by`) too.
        self.store.acl_changed();
        Ok(out)
    }

    pub fn open(data_dir: &Path, store: Arc<Store>) -> Result<Arc<Registry>> {
        store.execute_batch(SCHEMA)?;
        // Catalogs made before traffic splits have no `traffic` column.
        let alias_columns =
            store.strings("SELECT name FROM pragma_table_info('ml_model_aliases')")?;
        if !alias_columns.iter().any(|c| c == "traffic") {
            store.execute_batch(
                "ALTER TABLE ml_model_aliases ADD COLUMN traffic REAL;
                 ALTER TABLE ml_deployments ADD COLUMN traffic REAL;",
            )?;
        }
        // Nor the options a version was trained with (retraining reuses
        // them): NULL for those versions, which a policy cannot retrain.
        let version_columns =
            store.strings("SELECT name FROM pragma_table_info('ml_model_versions')")?;
        if !version_columns.iter().any(|c| c == "options") {
            store.execute_batch("ALTER TABLE ml_model_versions ADD COLUMN options TEXT;")?;
        }
        store.execute_batch(policy::SCHEMA)?;
        store.execute_batch(approvals::SCHEMA)?;
        store.execute_batch(crate::governance::lineage::SCHEMA)?;
        store.execute_batch(crate::governance::ml_tag::SCHEMA)?;
        store.execute_batch(documentation::SCHEMA)?;
        store.execute_batch(crate::lifecycle::jobs::SCHEMA)?;
        crate::lifecycle::jobs::Jobs::migrate(&store)?;
        store.execute_batch(crate::lifecycle::alerts::SCHEMA)?;
        let dir = data_dir.join("models");
        std::fs::create_dir_all(&dir).map_err(|e| io_err("create models directory", e))?;
        let registry = Arc::new(Registry {
            snapshots: snapshots::Snapshots::open(data_dir, store.clone())?,
            store,
            dir,
            cache: Mutex::new(HashMap::new()),
            log_policies: Mutex::new(HashMap::new()),
            resolved: Mutex::new(HashMap::new()),
            routes: Mutex::new(HashMap::new()),
            model_hook: std::sync::OnceLock::new(),
            automation: std::sync::OnceLock::new(),
        });
        registry.collect_garbage()?;
        Ok(registry)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<ModelRef, Arc<LoadedModel>>> {
        lock(&self.cache)
    }

    /// Removes artifact files no registered version points to.
    fn collect_garbage(&self) -> Result<()> {
        let referenced = self
            .store
            .strings("SELECT artifact FROM ml_model_versions")?;
        let mut removed = 0;
        if let Ok(models) = std::fs::read_dir(&self.dir) {
            for model_dir in models.flatten() {
                if let Ok(files) = std::fs::read_dir(model_dir.path()) {
                    for f in files.flatten() {
                        let rel = format!(
                            "{}/{}",
                            model_dir.file_name().to_string_lossy(),
                            f.file_name().to_string_lossy()
                        );
                        if !referenced.contains(&rel) {
                            let _ = std::fs::remove_file(f.path());
                            removed += 1;
                        }
                    }
                }
                let _ = std::fs::remove_dir(model_dir.path()); // only if empty
            }
        }
        if removed > 0 {
            info!(removed, "removed model files no version refers to");
        }
        Ok(())
    }

    /// Stores a trained model as the next version of `name` (the first, after
    /// dropping the old versions, when `replace`). Returns the version.
    pub fn register(
        &self,
        name: &str,
        model: &TrainedModel,
        training: &TrainingInfo,
        replace: bool,
    ) -> Result<u32> {
        self.register_with(name, model, training, replace, |_, _| Ok(()))
    }

    /// [`Registry::register`], running `also` (given the new version) in the
    /// same transaction: what must exist exactly when the version does, such
    /// as its training snapshot.
    pub fn register_with(
        &self,
        name: &str,
        model: &TrainedModel,
        training: &TrainingInfo,
        replace: bool,
        also: impl FnOnce(&rusqlite::Transaction<'_>, u32) -> rusqlite::Result<()>,
    ) -> Result<u32> {
        let bytes = model.envelope.to_bytes()?;
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let model_dir = self.dir.join(dir_name(name));
        std::fs::create_dir_all(&model_dir).map_err(|e| io_err("create model directory", e))?;
        let file_name = format!("{}-{}.qmdl", uuid::Uuid::new_v4().simple(), &digest[..12]);
        let tmp = model_dir.join(format!(".{file_name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, model_dir.join(&file_name))
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err("write model artifact", e));
        }
        sync_dir(&model_dir)?;
        let artifact = format!("{}/{}", dir_name(name), file_name);
        let label = model.envelope.label.as_ref().map(|l| {
            serde_json::json!({
                "name": l.name,
                "type": l.data_type,
                "classes": l.classes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            })
            .to_string()
        });
        let features = serde_json::to_string(&model.envelope.features).unwrap_or_default();
        let result = self.models_tx(|tx| {
            // The creator owns the model; CREATE OR REPLACE by another
            // user (one with TRAIN on it) keeps that owner, as CREATE OR
            // REPLACE VIEW keeps a view's.
            let owner: Option<String> = tx
                .query_row(
                    "SELECT created_by FROM ml_models WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?;
            if replace {
                tx.execute("DELETE FROM ml_models WHERE name = ?1", [name])?;
                // The replaced versions' sign-offs go with them: numbering
                // starts again at 1.
                tx.execute("DELETE FROM ml_approvals WHERE model = ?1", [name])?;
                crate::governance::lineage::delete(tx, "model", name)?;
            }
            tx.execute(
                "INSERT OR IGNORE INTO ml_models (name, created_by) VALUES (?1, ?2)",
                params![name, owner.as_deref().unwrap_or(&training.user)],
            )?;
            let next: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) + 1 FROM ml_model_versions WHERE model = ?1",
                [name],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO ml_model_versions (model, version, task, algorithm, params, metrics,
                    evaluated_on, training_query, source_tables, data_sha256, artifact, artifact_sha256,
                    features, label, train_rows, test_rows, seconds, warnings, profile, created_by, options)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
                params![
                    name,
                    next,
                    model.envelope.task.name(),
                    model.envelope.kind,
                    model.params.to_string(),
                    serde_json::to_string(&model.metrics).unwrap_or_default(),
                    model.evaluated_on,
                    training.query,
                    serde_json::to_string(&training.source_tables).unwrap_or_default(),
                    training.data_sha256,
                    artifact,
                    digest,
                    features,
                    label,
                    model.train_rows as i64,
                    model.test_rows as i64,
                    training.seconds,
                    serde_json::to_string(&model.warnings).unwrap_or_default(),
                    model.profile.to_string(),
                    training.user,
                    serde_json::to_string(&training.options).unwrap_or_default(),
                ],
            )?;
            crate::governance::lineage::insert(tx, "model", name, next, &training.lineage)?;
            also(tx, next as u32)?;
            Ok(next as u32)
        });
        match result {
            Ok(version) => {
                if replace {
                    self.cache().retain(|k, _| k.name != name);
                }
                Ok(version)
            }
            Err(e) => {
                let _ = std::fs::remove_file(model_dir.join(&file_name));
                Err(e)
            }
        }
    }

    /// Sets what runs policies and reads lifecycles (once, at start-up).
    pub fn automate(&self, automation: std::sync::Weak<dyn Automation>) {
        let _ = self.automation.set(automation);
    }

    fn automation(&self) -> Result<Arc<dyn Automation>> {
        self.automation
            .get()
            .and_then(std::sync::Weak::upgrade)
            .ok_or_else(|| {
                SqlStateError::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    "policies are not run by this server",
                )
            })
    }

    /// Runs `name`'s policy now for `user`; the `ml_jobs` id of the run.
    pub async fn run_policy(&self, name: &str, user: &str) -> Result<i64> {
        self.automation()?.run_policy(&normalize(name), user).await
    }

    /// `ml_lifecycle(name)` as `user` reads it.
    pub async fn lifecycle_view(
        &self,
        name: &str,
        user: &str,
    ) -> Result<datafusion::arrow::array::RecordBatch> {
        self.automation()?
            .lifecycle_view(&normalize(name), user)
            .await
    }

    /// How `version` of `name` was trained, and the model's owner.
    pub fn retraining(&self, name: &str, version: u32) -> Result<Retraining> {
        let name = normalize(name);
        let found = self.store.with_conn(|c| {
            c.query_row(
                "SELECT v.training_query, v.options, v.train_rows + v.test_rows, v.created_at, m.created_by
                 FROM ml_model_versions v JOIN ml_models m ON m.name = v.model
                 WHERE v.model = ?1 AND v.version = ?2",
                params![name, version],
                |r| {
                    Ok(Retraining {
                        version,
                        query: r.get(0)?,
                        options: r
                            .get::<_, Option<String>>(1)?
                            .and_then(|o| serde_json::from_str(&o).ok()),
                        rows: r.get(2)?,
                        created_at: r.get(3)?,
                        owner: r.get(4)?,
                    })
                },
            )
            .optional()
        })?;
        found.ok_or_else(|| {
            SqlStateError::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("model \"{name}\" has no version {version}"),
            )
        })
    }

    /// Whether a model called `name` (as written: normalized here) exists.
    /// `42704` unless model `name` exists.
    pub fn require_exists(&self, name: &str) -> Result<()> {
        if self.model_exists(name)? {
            return Ok(());
        }
        Err(unknown_model(name))
    }

    /// The metadata store the registry keeps its tables in.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn model_exists(&self, name: &str) -> Result<bool> {
        self.exists(&normalize(name))
    }

    fn exists(&self, name: &str) -> Result<bool> {
        self.store.with_conn(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM ml_models WHERE name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
    }

    /// `DROP MODEL`: the model, its versions and artifacts, and (unless
    /// `keep_snapshots`) the training snapshots CREATE MODEL kept of its
    /// rows, in one transaction; files are removed after it commits.
    pub fn drop_model(&self, name: &str, if_exists: bool, keep_snapshots: bool) -> Result<bool> {
        let name = normalize(name);
        if !self.exists(&name)? {
            return if if_exists {
                Ok(false)
            } else {
                Err(unknown_model(&name))
            };
        }
        let training = snapshots::normalize(&snapshots::training_name(&name))?;
        let (artifacts, snapshot_dirs) = self.models_tx(|tx| {
            let artifacts: Vec<String> = tx
                .prepare("SELECT artifact FROM ml_model_versions WHERE model = ?1")?
                .query_map([&name], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let dirs = if keep_snapshots {
                Vec::new()
            } else {
                snapshots::delete_versions(tx, &training)?
            };
            tx.execute("DELETE FROM ml_models WHERE name = ?1", [&name])?;
            tx.execute("DELETE FROM ml_policies WHERE model = ?1", [&name])?;
            // Sign-offs were for versions that are gone; a model made
            // again under this name numbers its versions from 1 again.
            tx.execute("DELETE FROM ml_approvals WHERE model = ?1", [&name])?;
            crate::governance::lineage::delete(tx, "model", &name)?;
            documentation::forget(tx, &name)?;
            for table in ["privileges", "owners"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE object_kind = 'model' AND object = ?1"),
                    [&name],
                )?;
            }
            Ok((artifacts, dirs))
        })?;
        self.cache().retain(|k, _| k.name != name);
        lock(&self.log_policies).remove(&name);
        // The model's own files, by the paths its versions recorded (not its
        // directory: a directory name could be shared by two names).
        for artifact in &artifacts {
            let path = self.dir.join(artifact);
            let _ = std::fs::remove_file(&path);
            if let Some(dir) = path.parent()
                && dir != self.dir
            {
                // Only once empty.
                let _ = std::fs::remove_dir(dir);
            }
        }
        self.snapshots.remove_dirs(&snapshot_dirs);
        Ok(true)
    }

    /// Merges `changes` (JSON text) into `name`'s policy; the result.
    pub fn set_policy(&self, name: &str, changes: &str, user: &str) -> Result<Json> {
        let name = normalize(name);
        if !self.exists(&name)? {
            return Err(unknown_model(&name));
        }
        let current = self.store.with_conn(|c| policy::read(c, &name))?;
        let merged = policy::merge("ml_set_policy", &current, changes)?;
        // The webhooks this call names must be on the server's list (those
        // already in the policy are checked again at delivery).
        if let Ok(automation) = self.automation() {
            for url in policy::webhooks(changes) {
                automation.check_webhook(&url)?;
            }
        }
        self.store
            .with_tx(|tx| policy::write(tx, &name, &merged, user))?;
        lock(&self.log_policies).remove(&name);
        Ok(merged)
    }

    /// Sets what runs after each registered version.
    pub fn on_model_registered(&self, hook: ModelHook) {
        let _ = self.model_hook.set(hook);
    }

    /// A version was registered: runs the hook.
    pub async fn model_registered(&self) {
        if let Some(hook) = self.model_hook.get() {
            (hook.0)().await;
        }
    }

    /// Whether any model exists.
    pub fn has_models(&self) -> Result<bool> {
        Ok(!self
            .store
            .strings("SELECT name FROM ml_models LIMIT 1")?
            .is_empty())
    }

    /// Changes whenever what model references resolve to may have changed.
    pub fn epoch(&self) -> u64 {
        self.store.models()
    }

    /// `name`'s policy (an empty object when it has none).
    pub fn policy(&self, name: &str) -> Result<Json> {
        let name = normalize(name);
        self.store.with_conn(|c| policy::read(c, &name))
    }

    /// Every model's policy.
    pub fn policies(&self) -> Result<Vec<(String, Json)>> {
        self.store.with_conn(policy::all)
    }

    /// How `model` logs its predictions (cached; `set_policy` refreshes it).
    pub fn log_policy(&self, model: &str) -> Option<quarry_udfs::model::serving::LogPolicy> {
        if let Some(p) = lock(&self.log_policies).get(model) {
            return p.clone();
        }
        let stored = self.store.with_conn(|c| policy::read(c, model)).ok()?;
        let p = policy::log_policy(&stored);
        lock(&self.log_policies).insert(model.to_string(), p.clone());
        p
    }

    /// The aliases that point at `model` now, comma-separated.
    pub fn aliases_of(&self, model: &ModelRef) -> Option<String> {
        self.store
            .with_conn(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT group_concat(alias, ',') FROM (SELECT alias FROM ml_model_aliases \
                     WHERE model = ?1 AND version = ?2 ORDER BY alias)",
                )?;
                stmt.query_row(params![model.name, model.version], |r| {
                    r.get::<_, Option<String>>(0)
                })
            })
            .ok()
            .flatten()
    }

    /// Points `alias` (default `production`) at `version`; with `traffic`,
    /// the alias takes that share of a bare name's rows (0 ends the split;
    /// `None` keeps the alias's share). Returns the version it pointed at
    /// before.
    pub fn deploy(
        &self,
        name: &str,
        version: u32,
        alias: &str,
        traffic: Option<f64>,
        user: &str,
    ) -> Result<Option<u32>> {
        let name = normalize(name);
        let alias = alias.trim().to_lowercase();
        if alias.is_empty()
            || alias
                .chars()
                .any(|c| !(c.is_alphanumeric() || c == '_' || c == '-'))
            || alias.parse::<u32>().is_ok()
        {
            return Err(SqlStateError::bad_argument(format!(
                "ml_deploy: alias must be a word of letters, digits, _ or -, got '{alias}'"
            )));
        }
        if let Some(t) = traffic {
            check_traffic(&alias, t)?;
        }
        // A share given (0 included) replaces the alias's; none keeps it.
        let set_traffic =
            traffic.is_some() || matches!(alias.as_str(), "production" | route::SHADOW);
        let traffic = traffic.filter(|t| *t > 0.0);
        self.version_exists(&name, version)?;
        if traffic.is_some() || alias == route::SHADOW {
            self.check_split(&name, version, &alias)?;
        }
        // Production needs the approvals the policy requires, checked in
        // the transaction that moves the alias (a rejection cannot slip in
        // between); `refusal` carries why out of it.
        let mut refusal: Option<SqlStateError> = None;
        let moved = self.models_tx(|tx| {
            if status_of(tx, &name, version)? == ARCHIVED {
                refusal = Some(archived_version("ml_deploy", &name, version));
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
            if alias == "production" {
                let required = approvals::required(&policy::read(tx, &name)?);
                let lacking = approvals::missing(tx, &name, version, &required)?;
                if !lacking.is_empty() {
                    refusal = Some(approvals::lacking(&name, version, &lacking));
                    return Err(rusqlite::Error::QueryReturnedNoRows);
                }
            }
            if traffic.is_some() {
                let other: Option<(String, f64)> = tx
                    .query_row(
                        "SELECT alias, traffic FROM ml_model_aliases
                         WHERE model = ?1 AND alias <> ?2 AND traffic > 0",
                        params![name, alias],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((other, share)) = other {
                    refusal = Some(
                        SqlStateError::new(
                            sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                            format!(
                                "ml_deploy: alias \"{other}\" of model \"{name}\" already takes {share} of the traffic: one alias besides production takes a share"
                            ),
                        )
                        .with_hint(format!("ml_deploy('{name}', version, '{other}', 0) ends that split")),
                    );
                    return Err(rusqlite::Error::QueryReturnedNoRows);
                }
            }
            let previous: Option<u32> = tx
                .query_row(
                    "SELECT version FROM ml_model_aliases WHERE model = ?1 AND alias = ?2",
                    params![name, alias],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT INTO ml_model_aliases (model, alias, version, traffic) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version,
                   traffic = CASE WHEN ?5 THEN excluded.traffic ELSE traffic END",
                params![name, alias, version, traffic, set_traffic],
            )?;
            tx.execute(
                "INSERT INTO ml_deployments (model, alias, version, previous_version, action, by_user, traffic)
                 VALUES (?1, ?2, ?3, ?4, 'deploy', ?5, ?6)",
                params![name, alias, version, previous, user, traffic],
            )?;
            if alias == "production" {
                // The version it replaces is kept, ready to come back
                // (ml_rollback); archiving it is a decision of its own.
                if let Some(p) = previous.filter(|p| *p != version) {
                    tx.execute(
                        "UPDATE ml_model_versions SET status = 'staged' WHERE model = ?1 AND version = ?2",
                        params![name, p],
                    )?;
                }
                tx.execute(
                    "UPDATE ml_model_versions SET status = 'production' WHERE model = ?1 AND version = ?2",
                    params![name, version],
                )?;
            }
            Ok(previous)
        });
        match refusal {
            Some(e) => Err(e),
            None => moved,
        }
    }

    /// Whether `version` may take rows of production's (a traffic share or
    /// the shadow): production must exist, and the version must answer in
    /// production's type, or one query's column would mix types.
    fn check_split(&self, name: &str, version: u32, alias: &str) -> Result<()> {
        let production: Option<u32> = self.store.with_conn(|c| {
            c.query_row(
                "SELECT version FROM ml_model_aliases WHERE model = ?1 AND alias = 'production'",
                [name],
                |r| r.get(0),
            )
            .optional()
        })?;
        let Some(production) = production else {
            return Err(SqlStateError::new(
                sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("ml_deploy: model \"{name}\" has no production version for \"{alias}\" to share traffic with"),
            )
            .with_hint(format!("ml_deploy('{name}', version) sets production first")));
        };
        if alias != route::SHADOW && self.log_policy(name).and_then(|p| p.key).is_none() {
            return Err(SqlStateError::new(
                sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("ml_deploy: model \"{name}\" has no key: traffic is split by a hash of the key column, so the same customer always meets the same version"),
            )
            .with_hint(format!("ml_set_policy('{name}', '{{\"key\": \"customer_id\"}}') names the key column")));
        }
        let output = |v: u32| -> Result<datafusion::arrow::datatypes::DataType> {
            let model = self.load(&ModelRef {
                name: name.to_string(),
                version: v,
            })?;
            quarry_udfs::functions::scoring::ModelOutput::output_type(
                &quarry_udfs::functions::scoring::predict::PredictUdf,
                &model,
            )
        };
        let (ours, theirs) = (output(version)?, output(production)?);
        if ours != theirs {
            return Err(SqlStateError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!(
                    "ml_deploy: {name}@{version} predicts {ours}, production ({name}@{production}) predicts {theirs}: a version that shares production's traffic must predict the same type"
                ),
            ));
        }
        Ok(())
    }

    /// When the model's current traffic split began (µs): its last deploy
    /// that gave an alias a share, if the split still stands.
    pub fn split_started(&self, name: &str) -> Result<Option<i64>> {
        let Some(route) = self.route_of(name)? else {
            return Ok(None);
        };
        let Some(split) = route.challenger else {
            return Ok(None);
        };
        let at: Option<String> = self.store.with_conn(|c| {
            c.query_row(
                "SELECT max(at) FROM ml_deployments WHERE model = ?1 AND alias = ?2 AND traffic > 0",
                params![route.name, split.alias],
                |r| r.get(0),
            )
        })?;
        Ok(at.and_then(|t| {
            chrono::DateTime::parse_from_rfc3339(&t)
                .ok()
                .map(|t| t.timestamp_micros())
        }))
    }

    /// How the bare name `name` routes now: `None` unless another alias
    /// takes a share of production's rows or a shadow scores them.
    pub fn route_of(&self, name: &str) -> Result<Option<Route>> {
        let name = normalize(name);
        let epoch = self.epoch();
        if let Some((at, route)) = lock(&self.routes).get(&name)
            && *at == epoch
        {
            return Ok(route.clone());
        }
        let aliases: Vec<(String, u32, Option<f64>)> = self.store.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT alias, version, traffic FROM ml_model_aliases WHERE model = ?1 ORDER BY alias",
            )?;
            stmt.query_map([&name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })?;
        let production = aliases
            .iter()
            .find(|(a, _, _)| a == "production")
            .map(|(_, v, _)| *v);
        let route = production.and_then(|production| {
            let challenger = aliases.iter().find_map(|(alias, version, traffic)| {
                let traffic = (*traffic)?;
                (traffic > 0.0 && *version != production && alias != route::SHADOW).then(|| {
                    route::Split {
                        alias: alias.clone(),
                        version: *version,
                        traffic,
                    }
                })
            });
            let shadow = aliases
                .iter()
                .find(|(a, v, _)| a == route::SHADOW && *v != production)
                .map(|(_, v, _)| *v);
            let route = Route {
                name: name.clone(),
                production,
                challenger,
                shadow,
            };
            route.splits().then_some(route)
        });
        let mut routes = lock(&self.routes);
        if routes.len() >= 4096 {
            routes.clear();
        }
        routes.insert(name, (epoch, route.clone()));
        Ok(route)
    }

    /// The version `DESCRIBE MODEL reference` shows: the one scoring
    /// resolves, or for a bare name whose every version is archived (which
    /// scoring refuses), the latest: an archived version can still be read.
    pub fn describe_ref(&self, reference: &str) -> Result<ModelRef> {
        let resolved = ModelStore::resolve(self, reference);
        if resolved.is_ok() || reference.contains('@') {
            return resolved;
        }
        let name = normalize(reference);
        let latest: Option<u32> = self.store.with_conn(|c| {
            c.query_row(
                "SELECT max(version) FROM ml_model_versions WHERE model = ?1",
                [&name],
                |r| r.get(0),
            )
        })?;
        match latest {
            Some(version) => Ok(ModelRef { name, version }),
            None => resolved,
        }
    }

    /// `ml_archive` (`archive`) or `ml_unarchive`: an archived version keeps
    /// its artifact, metadata, lineage and metrics and is scored only by
    /// `name@N`; it holds no alias and cannot be deployed until
    /// unarchived. Returns whether the status changed (each change is in
    /// `ml_deployments`).
    pub fn set_archived(
        &self,
        name: &str,
        version: u32,
        archive: bool,
        user: &str,
    ) -> Result<bool> {
        let name = normalize(name);
        self.version_exists(&name, version)?;
        let mut held: Vec<String> = Vec::new();
        let changed = self.models_tx(|tx| {
            let status = status_of(tx, &name, version)?;
            if archive {
                let mut stmt = tx.prepare(
                    "SELECT alias FROM ml_model_aliases WHERE model = ?1 AND version = ?2 ORDER BY alias",
                )?;
                held = stmt
                    .query_map(params![name, version], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                if !held.is_empty() {
                    return Err(rusqlite::Error::QueryReturnedNoRows);
                }
            }
            let wanted = if archive { ARCHIVED } else { "staged" };
            if status == wanted || (!archive && status != ARCHIVED) {
                return Ok(false);
            }
            tx.execute(
                "UPDATE ml_model_versions SET status = ?3 WHERE model = ?1 AND version = ?2",
                params![name, version, wanted],
            )?;
            tx.execute(
                "INSERT INTO ml_deployments (model, alias, version, previous_version, action, by_user)
                 VALUES (?1, '', ?2, NULL, ?3, ?4)",
                params![name, version, if archive { "archive" } else { "unarchive" }, user],
            )?;
            Ok(true)
        });
        if !held.is_empty() {
            return Err(SqlStateError::new(
                sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "ml_archive: {name}@{version} is {}: an archived version holds no alias",
                    held.join(", ")
                ),
            )
            .with_hint("deploy another version to that alias first (ml_deploy)"));
        }
        changed
    }

    /// Moves `production` back to the version it pointed at before the last
    /// deploy. Returns (from, to).
    pub fn rollback(&self, name: &str, user: &str) -> Result<(u32, u32)> {
        let name = normalize(name);
        if !self.exists(&name)? {
            return Err(unknown_model(&name));
        }
        let mut archived_target = None;
        let rolled = self.models_tx(|tx| {
            let current: Option<u32> = tx
                .query_row(
                    "SELECT version FROM ml_model_aliases WHERE model = ?1 AND alias = 'production'",
                    [&name],
                    |r| r.get(0),
                )
                .optional()?;
            // The deploy that made the current version production; rollbacks
            // are skipped so that repeated rollbacks walk back through history.
            let previous: Option<Option<u32>> = tx
                .query_row(
                    "SELECT previous_version FROM ml_deployments
                     WHERE model = ?1 AND alias = 'production' AND version = ?2 AND action = 'deploy'
                     ORDER BY id DESC LIMIT 1",
                    params![name, current],
                    |r| r.get(0),
                )
                .optional()?;
            let (Some(from), Some(Some(to))) = (current, previous) else {
                return Err(rusqlite::Error::QueryReturnedNoRows);
            };
            if status_of(tx, &name, to)? == ARCHIVED {
                archived_target = Some(to);
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
            tx.execute(
                "UPDATE ml_model_aliases SET version = ?3 WHERE model = ?1 AND alias = ?2",
                params![name, "production", to],
            )?;
            tx.execute(
                "INSERT INTO ml_deployments (model, alias, version, previous_version, action, by_user)
                 VALUES (?1, 'production', ?2, ?3, 'rollback', ?4)",
                params![name, to, from, user],
            )?;
            tx.execute(
                "UPDATE ml_model_versions SET status = 'staged' WHERE model = ?1 AND version = ?2",
                params![name, from],
            )?;
            tx.execute(
                "UPDATE ml_model_versions SET status = 'production' WHERE model = ?1 AND version = ?2",
                params![name, to],
            )?;
            Ok((from, to))
        });
        if let Some(to) = archived_target {
            return Err(archived_version("ml_rollback", &name, to));
        }
        rolled
        .map_err(|e| {
            if e.message.contains("no rows") || e.message.contains("QueryReturnedNoRows") {
                SqlStateError::new(
                    "55000",
                    format!("ml_rollback: model \"{name}\" has no earlier production version to return to"),
                )
                .with_hint("ml_deploy(model, version) sets the production version")
            } else {
                e
            }
        })
    }

    /// The roles of `name`'s `approvals_required` whose approval of
    /// `version` is missing (none when the policy requires none).
    pub fn missing_approvals(&self, name: &str, version: u32) -> Result<Vec<String>> {
        let name = normalize(name);
        self.store.with_conn(|c| {
            let required = approvals::required(&policy::read(c, &name)?);
            approvals::missing(c, &name, version, &required)
        })
    }

    /// Records `user`'s `decision` for `role` on `name@version`; the roles
    /// still missing after it. 22023 when the model's policy does not ask
    /// `role` for approvals.
    pub fn decide(
        &self,
        name: &str,
        version: u32,
        role: &str,
        decision: approvals::Decision,
        note: &str,
        user: &str,
    ) -> Result<Vec<String>> {
        let name = normalize(name);
        self.version_exists(&name, version)?;
        let required = approvals::required(&self.policy(&name)?);
        if !required.iter().any(|r| r == role) {
            return Err(SqlStateError::bad_argument(format!(
                "role \"{role}\" does not approve model {name}: its policy's approvals_required is [{}]",
                required.join(", ")
            ))
            .with_hint(format!(
                "SELECT ml_set_policy('{name}', '{{\"approvals_required\": [\"{role}\"]}}') asks it"
            )));
        }
        self.store.with_tx(|tx| {
            approvals::record(tx, &name, version, role, decision, note, user)?;
            approvals::missing(tx, &name, version, &required)
        })
    }

    /// Every approval and rejection, oldest first.
    pub fn approvals(&self) -> Result<Vec<approvals::ApprovalRow>> {
        self.store.with_conn(approvals::all)
    }

    /// 42704 unless model `name` has version `version`.
    pub fn version_exists(&self, name: &str, version: u32) -> Result<()> {
        if !self.exists(name)? {
            return Err(unknown_model(name));
        }
        let found = self.store.with_conn(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM ml_model_versions WHERE model = ?1 AND version = ?2",
                params![name, version],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })?;
        if found {
            Ok(())
        } else {
            let versions = self.versions_of(name)?;
            Err(SqlStateError::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("model \"{name}\" has no version {version}"),
            )
            .with_hint(format!(
                "versions: {}",
                versions
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    fn versions_of(&self, name: &str) -> Result<Vec<u32>> {
        self.store.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT version FROM ml_model_versions WHERE model = ?1 ORDER BY version",
            )?;
            let rows = stmt
                .query_map([name], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<u32>>>()?;
            Ok(rows)
        })
    }

    /// Every version, newest model first then by version, with aliases.
    /// Every version of `model` (a stored name, as `ModelRef::name`), or of
    /// every model.
    pub fn versions(&self, model: Option<&str>) -> Result<Vec<VersionRow>> {
        self.store.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT v.model, v.version, v.task, v.algorithm, v.status, v.params, v.metrics, v.evaluated_on,
                        v.training_query, v.source_tables, v.data_sha256, v.features, v.label, v.train_rows,
                        v.test_rows, v.seconds, v.warnings, v.created_by, v.created_at,
                        (SELECT group_concat(alias, ',') FROM ml_model_aliases a
                          WHERE a.model = v.model AND a.version = v.version)
                 FROM ml_model_versions v
                 WHERE ?1 IS NULL OR v.model = ?1
                 ORDER BY v.model, v.version",
            )?;
            let rows = stmt
                .query_map([&model], |r| {
                    Ok(VersionRow {
                        model: r.get(0)?,
                        version: r.get(1)?,
                        task: r.get(2)?,
                        algorithm: r.get(3)?,
                        status: r.get(4)?,
                        params: r.get(5)?,
                        metrics: r.get(6)?,
                        evaluated_on: r.get(7)?,
                        training_query: r.get(8)?,
                        source_tables: r.get(9)?,
                        data_sha256: r.get(10)?,
                        features: r.get(11)?,
                        label: r.get(12)?,
                        train_rows: r.get(13)?,
                        test_rows: r.get(14)?,
                        seconds: r.get(15)?,
                        warnings: r.get(16)?,
                        created_by: r.get(17)?,
                        created_at: r.get(18)?,
                        aliases: r
                            .get::<_, Option<String>>(19)?
                            .map(|s| s.split(',').map(str::to_string).collect())
                            .unwrap_or_default(),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// The deployment history, oldest first.
    pub fn deployments(&self) -> Result<Vec<DeploymentRow>> {
        self.store.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT id, model, alias, version, previous_version, action, by_user, at, traffic
                 FROM ml_deployments ORDER BY id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(DeploymentRow {
                        id: r.get(0)?,
                        model: r.get(1)?,
                        alias: r.get(2)?,
                        version: r.get(3)?,
                        previous_version: r.get(4)?,
                        action: r.get(5)?,
                        by_user: r.get(6)?,
                        at: r.get(7)?,
                        traffic: r.get(8)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// The stored training profile of a version.
    pub fn profile(&self, model: &ModelRef) -> Result<Json> {
        let text: String = self.store.with_conn(|c| {
            c.query_row(
                "SELECT profile FROM ml_model_versions WHERE model = ?1 AND version = ?2",
                params![model.name, model.version],
                |r| r.get(0),
            )
        })?;
        serde_json::from_str(&text).map_err(|e| {
            SqlStateError::new(
                sqlstate::DATA_CORRUPTED,
                format!("stored profile is corrupt: {e}"),
            )
        })
    }
}

/// The directory of a model's artifacts: a digest of its name, so it is
/// safe on any file system, the same length for every name, and distinct for
/// distinct names (names differing only in characters a path cannot hold
/// included). Models registered before this kept their own directory
/// names; their versions record where their files are.
fn dir_name(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("model-{hex}")
}

impl Registry {
    /// [`ModelStore::resolve`] of a reference without a version number,
    /// from the metadata.
    fn resolve_unpinned(&self, reference: &str) -> quarry_udfs::model::schema::Result<ModelRef> {
        let (name, alias) = match reference.rsplit_once('@') {
            Some((n, a)) => (normalize(n), Some(a.trim().to_lowercase())),
            None => (normalize(reference), None),
        };
        if name.is_empty() {
            return Err(SqlStateError::bad_argument("model name must not be empty"));
        }
        if !self.exists(&name)? {
            return Err(unknown_model(&name));
        }
        let version: Option<u32> = self.store.with_conn(|c| match &alias {
            Some(a) => c
                .query_row(
                    "SELECT version FROM ml_model_aliases WHERE model = ?1 AND alias = ?2",
                    params![name, a],
                    |r| r.get(0),
                )
                .optional(),
            None => c
                .query_row(
                    "SELECT coalesce(
                        (SELECT version FROM ml_model_aliases WHERE model = ?1 AND alias = 'production'),
                        (SELECT max(version) FROM ml_model_versions
                         WHERE model = ?1 AND status <> 'archived'))",
                    [&name],
                    |r| r.get(0),
                )
                .optional()
                .map(Option::flatten),
        })?;
        match version {
            Some(version) => Ok(ModelRef { name, version }),
            None => Err(SqlStateError::new(
                sqlstate::UNDEFINED_OBJECT,
                match alias {
                    Some(a) => format!("model \"{name}\" has no alias \"{a}\""),
                    None => format!(
                        "model \"{name}\" has no version to serve: every version is archived (score one as {name}@N)"
                    ),
                },
            )),
        }
    }
}

impl ModelStore for Registry {
    fn authorize_read(
        &self,
        config: &datafusion::config::ConfigOptions,
        model: &ModelRef,
    ) -> quarry_udfs::model::schema::Result<()> {
        crate::access::require_model(
            config,
            &model.to_string(),
            crate::access::Privilege::Predict,
        )
    }

    fn route(&self, reference: &str) -> quarry_udfs::model::schema::Result<Option<Route>> {
        if reference.contains('@') {
            return Ok(None);
        }
        // An unknown model has no aliases: resolving it raises 42704.
        self.route_of(reference)
    }

    fn resolve(&self, reference: &str) -> quarry_udfs::model::schema::Result<ModelRef> {
        // A query planned with a route scores production's rows with it.
        let pinned = Route::parse(reference)
            .map(|r| r.production_ref())
            .or_else(|| ModelRef::parse_pinned(reference));
        if let Some(pinned) = pinned {
            // A loaded version exists: versions are immutable and DROP MODEL
            // evicts them, so the cache answers without a metadata query
            // (this runs several times while every scoring query is planned).
            if !self.cache().contains_key(&pinned) {
                self.version_exists(&pinned.name, pinned.version)?;
            }
            return Ok(pinned);
        }
        let epoch = self.epoch();
        if let Some((at, model)) = lock(&self.resolved).get(reference)
            && *at == epoch
        {
            return Ok(model.clone());
        }
        let model = self.resolve_unpinned(reference)?;
        let mut resolved = lock(&self.resolved);
        if resolved.len() >= 4096 {
            resolved.clear();
        }
        resolved.insert(reference.to_string(), (epoch, model.clone()));
        Ok(model)
    }

    fn load(&self, model: &ModelRef) -> quarry_udfs::model::schema::Result<Arc<LoadedModel>> {
        if let Some(m) = self.cache().get(model) {
            return Ok(m.clone());
        }
        let (artifact, digest): (String, String) = self
            .store
            .with_conn(|c| {
                c.query_row(
                    "SELECT artifact, artifact_sha256 FROM ml_model_versions WHERE model = ?1 AND version = ?2",
                    params![model.name, model.version],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })?
            .ok_or_else(|| {
                SqlStateError::new(sqlstate::UNDEFINED_OBJECT, format!("model version {model} does not exist"))
            })?;
        let bytes = std::fs::read(self.dir.join(&artifact))
            .map_err(|e| io_err(&format!("read model {model}"), e))?;
        let actual: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if actual != digest {
            return Err(SqlStateError::new(
                sqlstate::DATA_CORRUPTED,
                format!("model artifact of {model} is corrupt (checksum mismatch)"),
            ));
        }
        let loaded = Arc::new(LoadedModel::from_bytes(&model.name, model.version, &bytes)?);
        self.cache().insert(model.clone(), loaded.clone());
        Ok(loaded)
    }

    fn profile(&self, model: &ModelRef) -> quarry_udfs::model::schema::Result<Json> {
        Registry::profile(self, model)
    }
}
