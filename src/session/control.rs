//! Stopping statements and seeing them: a statement's [`QueryControl`]
//! (cancel token, `statement_timeout` deadline, server shutdown, and the
//! [`Stop`] its kernels check), the session's [`Activity`] for
//! `pg_stat_activity`, and the [`SessionRegistry`] through which a cancel
//! request, `pg_cancel_backend` or `pg_terminate_backend` from another
//! connection finds the session it names.

use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

pub use quarry_udfs::control::{Interrupt, Stop};

use super::Session;
use crate::error::Result;
use crate::sync::lock;

/// Cancellation and deadline of one running statement.
#[derive(Clone, Debug)]
pub struct QueryControl {
    pub token: CancellationToken,
    /// What the statement's kernels check; set whenever it must stop.
    pub stop: Arc<Stop>,
    pub deadline: Option<tokio::time::Instant>,
    shutdown: CancellationToken,
    /// Marks the session idle once the statement's last handle is gone
    /// (its rows may stream after the handler returned).
    _running: Arc<Running>,
}

impl QueryControl {
    /// Why the statement must stop, if it must.
    pub fn interrupted(&self) -> Option<Interrupt> {
        if self.shutdown.is_cancelled() {
            Some(Interrupt::Shutdown)
        } else if let Some(why) = self.stop.interrupted() {
            Some(why)
        } else if self.token.is_cancelled() {
            Some(Interrupt::Cancel)
        } else {
            None
        }
    }

    /// Resolves when the statement must stop.
    pub async fn wait(&self) -> Interrupt {
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let why = tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => Interrupt::Shutdown,
            _ = self.token.cancelled() => Interrupt::Cancel,
            _ = deadline => Interrupt::Timeout,
        };
        // The stop knows the finer reason (a terminate cancels the token too).
        self.stop.stop(why);
        self.stop.interrupted().unwrap_or(why)
    }

    /// Adds `n` rows to what the statement answered (the audit log's
    /// `rows`).
    pub fn add_rows(&self, n: u64) {
        if let Some(audit) = &self._running.audit {
            use std::sync::atomic::Ordering::Relaxed;
            audit.rows.fetch_add(n, Relaxed);
            audit.counted.store(true, Relaxed);
        }
    }

    /// Marks the statement failed with `code`; the first failure counts.
    pub fn failed(&self, code: &str) {
        if let Some(audit) = &self._running.audit {
            lock(&audit.sqlstate).get_or_insert_with(|| code.to_string());
        }
    }

    /// Runs `fut` unless the statement is cancelled or times out first.
    pub async fn run<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            biased;
            why = self.wait() => Err(why.error()),
            out = fut => out,
        }
    }
}

/// What `pg_stat_activity` shows of a session.
#[derive(Debug, Clone)]
pub struct Activity {
    pub backend_start: SystemTime,
    /// The last statement's text (the running one while `active`).
    pub query: Arc<str>,
    pub query_start: Option<SystemTime>,
    pub state_change: SystemTime,
    pub active: bool,
}

/// Held by a running statement's controls; the last one dropped marks the
/// session idle.
#[derive(Debug)]
struct Running {
    activity: Weak<Mutex<Activity>>,
    started: std::time::Instant,
    audit: Option<Audited>,
}

/// What the audit log records of a statement as it ends.
#[derive(Debug)]
struct Audited {
    log: Arc<crate::audit::AuditLog>,
    text: Arc<str>,
    user: String,
    role: Option<String>,
    client: Option<String>,
    session: Option<i64>,
    at_us: i64,
    /// Rows answered or changed...
    rows: std::sync::atomic::AtomicU64,
    /// ...when the statement has a row count (`CREATE TABLE` has none).
    counted: std::sync::atomic::AtomicBool,
    sqlstate: Mutex<Option<String>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        crate::serving::metrics::QUERIES.finished(elapsed);
        if let Some(activity) = self.activity.upgrade() {
            let mut a = lock(&activity);
            a.active = false;
            a.state_change = SystemTime::now();
        }
        if let Some(a) = self.audit.take() {
            use std::sync::atomic::Ordering::Relaxed;
            let rows = a.counted.load(Relaxed).then(|| a.rows.load(Relaxed) as i64);
            let sqlstate = lock(&a.sqlstate).take();
            a.log.offer(crate::audit::Entry {
                at_us: a.at_us,
                user: a.user,
                role: a.role,
                client: a.client,
                session: a.session,
                kind: crate::audit::Kind::Sql,
                statement: a.text,
                objects: None,
                rows,
                duration_us: elapsed.as_micros() as i64,
                sqlstate: sqlstate.unwrap_or_else(|| "00000".into()),
            });
        }
    }
}

impl Session {
    /// Starts a statement: a fresh cancel token and stop, and the session's
    /// deadline. (Not the session's token reused: a cancel would then also
    /// stop a portal of an earlier statement that is still being fetched.)
    pub fn start_query(&self, text: &Arc<str>) -> QueryControl {
        // A token of its own rather than a child of the server's shutdown
        // token (which `wait` watches beside it): a child token is linked
        // into its parent under the parent's lock, one lock every session
        // would take twice per statement.
        let token = CancellationToken::new();
        let timeout = *lock(&self.statement_timeout);
        let stop = Arc::new(Stop::new(timeout.map(|d| std::time::Instant::now() + d)));
        self.control.statement.start(stop.clone());
        *lock(&self.current_query) = Some((token.clone(), stop.clone()));
        let now = SystemTime::now();
        {
            let mut a = lock(&self.activity);
            a.query = text.clone();
            a.query_start = Some(now);
            a.state_change = now;
            a.active = true;
        }
        QueryControl {
            token,
            stop,
            deadline: timeout.map(|d| tokio::time::Instant::now() + d),
            shutdown: self.shutdown.clone(),
            _running: Arc::new(Running {
                activity: Arc::downgrade(&self.activity),
                started: std::time::Instant::now(),
                audit: self.audit.get().map(|hook| Audited {
                    log: hook.log.clone(),
                    text: text.clone(),
                    user: self.user.clone(),
                    role: self.role_if_set(),
                    client: hook.client.clone(),
                    session: Some(i64::from(hook.pid)),
                    at_us: crate::serving::log::now_us(),
                    rows: Default::default(),
                    counted: Default::default(),
                    sqlstate: Mutex::new(None),
                }),
            }),
        }
    }

    /// Stops the running statement, if any: a cancel request,
    /// `pg_cancel_backend`, the client gone, or the server stopping.
    pub fn interrupt(&self, why: Interrupt) {
        if let Some((token, stop)) = lock(&self.current_query).as_ref() {
            stop.stop(why);
            token.cancel();
        }
    }

    /// A cancel request from another connection.
    pub fn cancel(&self) {
        self.interrupt(Interrupt::Cancel);
    }

    /// `pg_terminate_backend`: stops the running statement and closes the
    /// connection.
    pub fn terminate(&self) {
        self.interrupt(Interrupt::Terminate);
        self.close.cancel();
    }

    /// Resolves when the connection must close (`pg_terminate_backend`).
    pub fn closing(&self) -> CancellationToken {
        self.close.clone()
    }

    /// Whether a statement is running.
    pub fn is_active(&self) -> bool {
        lock(&self.activity).active
    }

    /// What `pg_stat_activity` shows.
    pub fn activity(&self) -> Activity {
        lock(&self.activity).clone()
    }
}

/// A backend key: process id and secret, as sent in BackendKeyData.
type BackendKey = (i32, Vec<u8>);

/// Sessions by backend key, for cancel requests from other connections.
#[derive(Default, Debug)]
pub struct SessionRegistry {
    sessions: Mutex<std::collections::HashMap<BackendKey, std::sync::Weak<Session>>>,
}

impl SessionRegistry {
    pub fn insert(&self, pid: i32, key: Vec<u8>, session: &Arc<Session>) {
        let mut map = lock(&self.sessions);
        map.retain(|_, s| s.strong_count() > 0);
        map.insert((pid, key), Arc::downgrade(session));
    }

    pub fn cancel(&self, pid: i32, key: &[u8]) -> bool {
        let session = lock(&self.sessions)
            .get(&(pid, key.to_vec()))
            .and_then(|w| w.upgrade());
        match session {
            Some(s) => {
                s.cancel();
                true
            }
            None => false,
        }
    }

    pub fn active(&self) -> usize {
        lock(&self.sessions)
            .values()
            .filter(|s| s.strong_count() > 0)
            .count()
    }

    /// The open sessions with their process ids, by process id.
    pub fn all(&self) -> Vec<(i32, Arc<Session>)> {
        let mut all: Vec<(i32, Arc<Session>)> = lock(&self.sessions)
            .iter()
            .filter_map(|((pid, _), s)| Some((*pid, s.upgrade()?)))
            .collect();
        all.sort_by_key(|(pid, _)| *pid);
        all
    }

    /// The open session with process id `pid`.
    pub fn by_pid(&self, pid: i32) -> Option<Arc<Session>> {
        lock(&self.sessions)
            .iter()
            .find(|((p, _), _)| *p == pid)
            .and_then(|(_, s)| s.upgrade())
    }

    /// The server is shutting down (PostgreSQL's fast shutdown): every
    /// running statement stops and every connection closes.
    pub fn shut_down_all(&self) {
        for (_, session) in self.all() {
            session.interrupt(Interrupt::Shutdown);
            session.close.cancel();
        }
    }
}
