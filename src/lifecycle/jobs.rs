//! `ml_jobs`: every evaluation of a model's policy, and every training
//! (`CREATE MODEL`, `ml_train`; trigger `create model` or `ml_train`), and
//! what it did. A row is written `running` when a job starts, its
//! `progress` updated as training reports each step, and
//! finished in one statement at its end, so a job a crash interrupts is
//! found `running` at the next start and marked failed
//! ([`Jobs::fail_interrupted`]), never left running; a training cancelled
//! or failed is marked failed as it ends. A version a job trains is
//! registered in its own transaction (`Registry::register`): a crash
//! leaves it whole or absent.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use rusqlite::{OptionalExtension, params};

use crate::catalog::live::LiveRows;
use crate::catalog::store::Store;
use crate::error::{Result, SqlStateError};

pub const NAME: &str = "ml_jobs";

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ml_jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    model             TEXT NOT NULL,
    run_by            TEXT NOT NULL,
    trigger           TEXT,
    started_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at       TEXT,
    status            TEXT NOT NULL,
    candidate_version INTEGER,
    decision          TEXT,
    reason            TEXT,
    error             TEXT,
    progress          TEXT
);
CREATE INDEX IF NOT EXISTS ml_jobs_model ON ml_jobs (model, id);
"#;

/// How a job ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The rule that fired (`retrain_on_drift`, ...), if one did.
    pub trigger: Option<String>,
    pub candidate_version: Option<u32>,
    /// `none`, `trained`, `deployed`, `kept`, `rolled back`.
    pub decision: String,
    /// What each step measured and decided, in words, in order.
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn reason(&self) -> String {
        self.notes.join("; ")
    }
}

/// One row of `ml_jobs`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub id: i64,
    pub model: String,
    pub run_by: String,
    pub trigger: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub candidate_version: Option<i64>,
    pub decision: Option<String>,
    pub reason: Option<String>,
    pub error: Option<String>,
    /// What a training reported last.
    pub progress: Option<String>,
    /// Seconds from start to finish, or to now while it runs.
    pub elapsed: Option<f64>,
}

/// The jobs table in the catalog's store.
#[derive(Debug, Clone)]
pub struct Jobs {
    store: Arc<Store>,
}

impl Jobs {
    /// The table in `store` (made by `Registry::open`).
    pub fn of(store: Arc<Store>) -> Jobs {
        Jobs { store }
    }

    /// Adds the columns later releases added to a table an earlier one
    /// made (at open, before anything reads it).
    pub fn migrate(store: &Store) -> Result<()> {
        let columns = store.strings("SELECT name FROM pragma_table_info('ml_jobs')")?;
        if !columns.iter().any(|c| c == "progress") {
            store.execute_batch("ALTER TABLE ml_jobs ADD COLUMN progress TEXT;")?;
        }
        Ok(())
    }

    /// At start-up: fails the jobs a crash left running.
    pub fn open(store: Arc<Store>) -> Result<Jobs> {
        let jobs = Jobs { store };
        let failed = jobs.fail_interrupted()?;
        if failed > 0 {
            tracing::warn!(
                failed,
                "jobs interrupted by the server stopping were marked failed"
            );
        }
        Ok(jobs)
    }

    /// Marks every `running` job failed: at start-up, none can be.
    pub fn fail_interrupted(&self) -> Result<usize> {
        self.store.with_tx(|tx| {
            tx.execute(
                "UPDATE ml_jobs SET status = 'failed',
                     error = 'interrupted: the server stopped while the job ran',
                     finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE status = 'running'",
                [],
            )
        })
    }

    /// Records a job starting; its id.
    pub fn start(&self, model: &str, run_by: &str) -> Result<i64> {
        self.start_as(model, run_by, None)
    }

    /// Records a job starting, with what started it when known (a
    /// training's `create model` or `ml_train`); its id.
    pub fn start_as(&self, model: &str, run_by: &str, trigger: Option<&str>) -> Result<i64> {
        self.store.with_tx(|tx| {
            tx.execute(
                "INSERT INTO ml_jobs (model, run_by, trigger, status) VALUES (?1, ?2, ?3, 'running')",
                params![model, run_by, trigger],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Records what a running job reports.
    pub fn progress(&self, id: i64, text: &str) -> Result<()> {
        self.store.with_tx(|tx| {
            tx.execute(
                "UPDATE ml_jobs SET progress = ?2 WHERE id = ?1 AND status = 'running'",
                params![id, text],
            )?;
            Ok(())
        })
    }

    /// Records a job's end: `succeeded` with its outcome, or `failed` with
    /// its error (and what it had decided before failing).
    pub fn finish(&self, id: i64, outcome: &Outcome, error: Option<&str>) -> Result<()> {
        self.store.with_tx(|tx| {
            tx.execute(
                "UPDATE ml_jobs SET status = ?2, trigger = coalesce(?3, trigger),
                     candidate_version = ?4, decision = ?5, reason = ?6, error = ?7,
                     finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE id = ?1",
                params![
                    id,
                    if error.is_some() {
                        "failed"
                    } else {
                        "succeeded"
                    },
                    outcome.trigger,
                    outcome.candidate_version,
                    outcome.decision,
                    outcome.reason(),
                    error,
                ],
            )?;
            Ok(())
        })
    }

    /// Deletes `model`'s jobs that changed nothing (decision `none`,
    /// succeeded or failed) and finished more than `days` ago: a scheduler
    /// evaluating every 5 minutes writes 288 of them a day. Jobs that
    /// trained, deployed, kept or rolled back stay: they are the model's
    /// history. The number deleted.
    pub fn prune(&self, model: &str, days: u64) -> Result<usize> {
        self.store.with_tx(|tx| {
            tx.execute(
                "DELETE FROM ml_jobs
                 WHERE model = ?1 AND status <> 'running' AND coalesce(decision, 'none') = 'none'
                   AND finished_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?2)",
                params![model, format!("-{days} days")],
            )
        })
    }

    /// One job.
    pub fn get(&self, id: i64) -> Result<Option<JobRow>> {
        self.store.with_conn(|c| {
            c.query_row(&format!("{SELECT} WHERE id = ?1"), [id], row)
                .optional()
        })
    }

    /// Every job, oldest first.
    pub fn all(&self) -> Result<Vec<JobRow>> {
        self.store.with_conn(|c| {
            let mut stmt = c.prepare(&format!("{SELECT} ORDER BY id"))?;
            let rows = stmt.query_map([], row)?;
            rows.collect()
        })
    }
}

const SELECT: &str = "SELECT id, model, run_by, trigger, started_at, finished_at, status,
    candidate_version, decision, reason, error, progress,
    (julianday(coalesce(finished_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - julianday(started_at)) * 86400.0
    FROM ml_jobs";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        model: r.get(1)?,
        run_by: r.get(2)?,
        trigger: r.get(3)?,
        started_at: r.get(4)?,
        finished_at: r.get(5)?,
        status: r.get(6)?,
        candidate_version: r.get(7)?,
        decision: r.get(8)?,
        reason: r.get(9)?,
        error: r.get(10)?,
        progress: r.get(11)?,
        elapsed: r.get(12)?,
    })
}

/// The columns of `ml_jobs` and of `ml_run_policy`'s answer.
pub fn schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        text("model", false),
        text("run_by", false),
        text("trigger", true),
        text("started_at", false),
        text("finished_at", true),
        text("status", false),
        Field::new("candidate_version", DataType::Int64, true),
        text("decision", true),
        text("reason", true),
        text("error", true),
        text("progress", true),
        Field::new("elapsed", DataType::Float64, true),
    ]))
}

/// Rows as a batch of [`schema`].
pub fn batch(rows: &[JobRow]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&JobRow) -> Option<&str>| -> ArrayRef {
        Arc::new(StringArray::from_iter(rows.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))),
        text(&|r| Some(&r.model)),
        text(&|r| Some(&r.run_by)),
        text(&|r| r.trigger.as_deref()),
        text(&|r| Some(&r.started_at)),
        text(&|r| r.finished_at.as_deref()),
        text(&|r| Some(&r.status)),
        Arc::new(Int64Array::from_iter(
            rows.iter().map(|r| r.candidate_version),
        )),
        text(&|r| r.decision.as_deref()),
        text(&|r| r.reason.as_deref()),
        text(&|r| r.error.as_deref()),
        text(&|r| r.progress.as_deref()),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
            // Milliseconds are what the timestamps hold.
            r.elapsed.map(|s| (s * 1000.0).round() / 1000.0)
        }))),
    ];
    RecordBatch::try_new(schema(), columns).map_err(SqlStateError::internal)
}

/// `ml_jobs` as a system table, read fresh at every scan.
#[derive(Debug)]
pub struct JobsTable(pub Jobs);

#[async_trait::async_trait]
impl LiveRows for JobsTable {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    async fn batch(&self, _state: &dyn Session) -> datafusion::error::Result<RecordBatch> {
        self.0
            .all()
            .and_then(|rows| batch(&rows))
            .map_err(SqlStateError::into_df)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_left_running_is_failed_at_open() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(Store::open(&dir.path().join("c.db")).expect("store"));
        store.execute_batch(SCHEMA).expect("schema");
        let jobs = Jobs::open(store.clone()).expect("open");
        let done = jobs.start("m", "alice").expect("start");
        let outcome = Outcome {
            trigger: Some("retrain_every".into()),
            candidate_version: Some(2),
            decision: "trained".into(),
            notes: vec!["the newest version is older than 7 days".into()],
        };
        jobs.finish(done, &outcome, None).expect("finish");
        let crashed = jobs.start("m", "scheduler").expect("start");
        drop(jobs);
        let jobs = Jobs::open(store).expect("reopen");
        let rows = jobs.all().expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].status, "succeeded");
        assert_eq!(rows[0].candidate_version, Some(2));
        assert_eq!(rows[0].decision.as_deref(), Some("trained"));
        let failed = jobs.get(crashed).expect("get").expect("row");
        assert_eq!(failed.status, "failed");
        assert!(
            failed
                .error
                .as_deref()
                .unwrap_or("")
                .contains("interrupted")
        );
        assert!(failed.finished_at.is_some());
        assert_eq!(batch(&rows).expect("batch").num_rows(), 2);
    }

    #[test]
    fn old_jobs_that_changed_nothing_are_pruned() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(Store::open(&dir.path().join("c.db")).expect("store"));
        store.execute_batch(SCHEMA).expect("schema");
        let jobs = Jobs::open(store.clone()).expect("open");
        let idle = Outcome {
            decision: "none".into(),
            ..Outcome::default()
        };
        let acted = Outcome {
            decision: "deployed".into(),
            candidate_version: Some(2),
            ..Outcome::default()
        };
        let mut ids = Vec::new();
        for (model, outcome, error) in [
            ("m", &idle, None),
            ("m", &idle, Some("42501: denied")),
            ("m", &acted, None),
            ("other", &idle, None),
            ("m", &idle, None),
        ] {
            let id = jobs.start(model, "scheduler").expect("start");
            jobs.finish(id, outcome, error).expect("finish");
            ids.push(id);
        }
        let running = jobs.start("m", "scheduler").expect("start");
        // The first four finished 40 days ago; the last is today's.
        store
            .with_tx(|tx| {
                tx.execute(
                    "UPDATE ml_jobs SET finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-40 days'),
                         started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-40 days')
                     WHERE id <= ?1",
                    [ids[3]],
                )
            })
            .expect("age");
        assert_eq!(jobs.prune("m", 60).expect("prune"), 0);
        assert_eq!(jobs.prune("m", 30).expect("prune"), 2);
        let left: Vec<i64> = jobs.all().expect("rows").iter().map(|r| r.id).collect();
        assert_eq!(left, vec![ids[2], ids[3], ids[4], running]);
    }
}
