//! Stopping heavy work, and keeping it off the async runtime.
//!
//! A statement's [`Stop`] says whether it must end (a cancel request, its
//! `statement_timeout`, the server shutting down, `pg_terminate_backend`, its
//! client gone). The host installs a fresh one in the session's
//! [`Statement`] slot as each statement starts; kernels read it through the
//! [`Control`] configuration extension and check it between units of work
//! (a block of rows, a tree, a bootstrap resample), so a stopped statement
//! stops computing within one unit, not when its last batch is done.
//!
//! CPU-bound kernels (scoring, explanation, bootstrap, training) run through
//! the [`ComputePool`]: a bounded number run at once, each on a thread the
//! async runtime has handed off (`tokio::task::block_in_place`), so the
//! runtime's workers keep answering the wire and HTTP front ends while every
//! slot is busy. A statement waiting for a slot sleeps on a condition
//! variable (no spinning) and still notices its [`Stop`].
//!
//! Measured: with one worker thread per core and the kernels inline, two
//! forest explanations on two cores left a new `SELECT 1` waiting 41 s.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use datafusion::config::ConfigOptions;
use datafusion::error::Result;

use crate::error::{SqlStateError, sqlstate};

/// Why a statement ends early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// A cancel request, `pg_cancel_backend`, or the client disconnected.
    Cancel,
    Timeout,
    /// The server is shutting down.
    Shutdown,
    /// `pg_terminate_backend`: the connection is being closed.
    Terminate,
}

impl Interrupt {
    const ALL: [Interrupt; 4] = [
        Interrupt::Cancel,
        Interrupt::Timeout,
        Interrupt::Shutdown,
        Interrupt::Terminate,
    ];

    fn code(self) -> u8 {
        self as u8 + 1
    }

    /// PostgreSQL's error for a statement ended this way.
    pub fn error(self) -> SqlStateError {
        match self {
            Interrupt::Cancel => SqlStateError::new(
                sqlstate::QUERY_CANCELED,
                "canceling statement due to user request",
            ),
            Interrupt::Timeout => SqlStateError::new(
                sqlstate::QUERY_CANCELED,
                "canceling statement due to statement timeout",
            ),
            Interrupt::Shutdown => SqlStateError::new(
                sqlstate::ADMIN_SHUTDOWN,
                "terminating statement: the server is shutting down",
            ),
            Interrupt::Terminate => SqlStateError::new(
                sqlstate::ADMIN_SHUTDOWN,
                "terminating connection due to administrator command",
            ),
        }
    }
}

/// Whether one statement must stop: set by whoever stops it, read by kernels.
#[derive(Debug)]
pub struct Stop {
    /// 0 while running, else an [`Interrupt`]'s code (the first one wins).
    reason: AtomicU8,
    deadline: Option<Instant>,
    /// The statement's number in this process, for whoever records what
    /// it did (the prediction log's request id).
    id: u64,
}

/// The next statement number.
static NEXT_STATEMENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A number for a statement or request, unique in this process (the
/// prediction log's request ids; statements get theirs in [`Stop::new`]).
pub fn next_request() -> u64 {
    NEXT_STATEMENT.fetch_add(1, Ordering::Relaxed)
}

impl Stop {
    /// A running statement that times out at `deadline`, if given.
    pub fn new(deadline: Option<Instant>) -> Self {
        Stop {
            reason: AtomicU8::new(0),
            deadline,
            id: next_request(),
        }
    }

    /// The statement's number, unique in this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Stops the statement (the first reason given is the one reported).
    pub fn stop(&self, why: Interrupt) {
        let _ = self
            .reason
            .compare_exchange(0, why.code(), Ordering::AcqRel, Ordering::Acquire);
    }

    /// Why the statement must stop, if it must.
    pub fn interrupted(&self) -> Option<Interrupt> {
        let code = self.reason.load(Ordering::Acquire);
        if code != 0 {
            return Interrupt::ALL.into_iter().find(|i| i.code() == code);
        }
        self.deadline
            .is_some_and(|d| Instant::now() >= d)
            .then_some(Interrupt::Timeout)
    }

    pub fn stopped(&self) -> bool {
        self.interrupted().is_some()
    }

    /// `Err` with PostgreSQL's error once the statement must stop.
    pub fn check(&self) -> Result<(), SqlStateError> {
        match self.interrupted() {
            Some(why) => Err(why.error()),
            None => Ok(()),
        }
    }
}

/// A session's running statement, as functions see it: the host replaces
/// the [`Stop`] as each statement starts.
#[derive(Debug)]
pub struct Statement {
    current: Mutex<Arc<Stop>>,
}

impl Default for Statement {
    fn default() -> Self {
        Statement {
            current: Mutex::new(Arc::new(Stop::new(None))),
        }
    }
}

impl Statement {
    /// Makes `stop` the running statement's.
    pub fn start(&self, stop: Arc<Stop>) {
        *lock(&self.current) = stop;
    }

    /// The running statement's stop.
    pub fn stop(&self) -> Arc<Stop> {
        lock(&self.current).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A bounded number of CPU-bound kernels at once.
#[derive(Debug)]
pub struct ComputePool {
    size: usize,
    busy: Mutex<usize>,
    freed: Condvar,
}

/// How often a kernel waiting for a slot looks at its [`Stop`].
const WAIT_CHECK: Duration = Duration::from_millis(20);

impl ComputePool {
    /// A pool running at most `size` kernels at once (at least one).
    pub fn new(size: usize) -> Self {
        ComputePool {
            size: size.max(1),
            busy: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Kernels running now.
    pub fn busy(&self) -> usize {
        *lock(&self.busy)
    }

    /// Runs `work` in a slot of the pool, off the async runtime's workers,
    /// unless `stop` ends the statement first. Errors of `work` pass through.
    pub fn run<T>(&self, stop: &Stop, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let run = || {
            let _slot = self.acquire(stop).map_err(SqlStateError::into_df)?;
            work()
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(run)
            }
            // No runtime (unit tests, a blocking thread's caller) or one that
            // cannot hand its worker off: run here.
            _ => run(),
        }
    }

    /// Waits (sleeping) for a free slot.
    pub fn acquire(&self, stop: &Stop) -> Result<Slot<'_>, SqlStateError> {
        let mut busy = lock(&self.busy);
        loop {
            stop.check()?;
            if *busy < self.size {
                *busy += 1;
                return Ok(Slot { pool: self });
            }
            busy = self
                .freed
                .wait_timeout(busy, WAIT_CHECK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A held slot of the [`ComputePool`], freed when dropped.
#[derive(Debug)]
pub struct Slot<'a> {
    pool: &'a ComputePool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *lock(&self.pool.busy) -= 1;
        self.pool.freed.notify_one();
    }
}

/// The compute pool and the running statement, carried in the session's
/// configuration (so a function reads them wherever it runs). Not a setting:
/// `SET` cannot reach it.
#[derive(Debug, Clone)]
pub struct Control {
    pub pool: Arc<ComputePool>,
    pub statement: Arc<Statement>,
}

impl Control {
    /// A session's control over the server's shared pool.
    pub fn new(pool: Arc<ComputePool>) -> Self {
        Control {
            pool,
            statement: Arc::new(Statement::default()),
        }
    }

    /// The control in `config`; without one (a bare `SessionContext`, a
    /// unit test), a pool of one slot per thread and a statement that never
    /// stops.
    pub fn of(config: &ConfigOptions) -> Control {
        config
            .extensions
            .get::<Control>()
            .cloned()
            .unwrap_or_else(|| {
                Control::new(Arc::new(ComputePool::new(
                    config.execution.target_partitions,
                )))
            })
    }

    /// Runs `work` in the pool under the running statement's stop, which
    /// `work` gets to check between its units.
    pub fn run<T>(&self, work: impl FnOnce(&Stop) -> Result<T>) -> Result<T> {
        let stop = self.statement.stop();
        self.pool.run(&stop, || work(&stop))
    }
}

/// Implements DataFusion's `ConfigExtension` for a handle carried in a
/// session's configuration, where functions and plans running anywhere find
/// it: not a setting (`SET` refuses it with 55P02, and it lists no entries).
#[macro_export]
macro_rules! config_handle {
    ($ty:ty, $prefix:literal) => {
        impl datafusion::common::config::ConfigExtension for $ty {
            const PREFIX: &'static str = $prefix;
        }

        impl datafusion::common::config::ExtensionOptions for $ty {
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }

            fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
                self
            }

            fn cloned(&self) -> Box<dyn datafusion::common::config::ExtensionOptions> {
                Box::new(self.clone())
            }

            fn set(&mut self, key: &str, _value: &str) -> datafusion::error::Result<()> {
                Err($crate::error::SqlStateError::new(
                    $crate::error::sqlstate::CANT_CHANGE_RUNTIME_PARAM,
                    format!("parameter \"{}.{key}\" cannot be changed", $prefix),
                )
                .into_df())
            }

            fn entries(&self) -> Vec<datafusion::common::config::ConfigEntry> {
                Vec::new()
            }
        }
    };
}

config_handle!(Control, "quarry_control");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_wins_and_deadlines_time_out() {
        let stop = Stop::new(None);
        assert_eq!(stop.interrupted(), None);
        stop.stop(Interrupt::Terminate);
        stop.stop(Interrupt::Cancel);
        assert_eq!(stop.interrupted(), Some(Interrupt::Terminate));
        let late = Stop::new(Some(Instant::now()));
        assert_eq!(late.interrupted(), Some(Interrupt::Timeout));
        assert_eq!(
            late.check().expect_err("timed out").code,
            sqlstate::QUERY_CANCELED
        );
    }

    #[test]
    fn the_pool_runs_at_most_its_size_and_waiters_notice_their_stop() {
        let pool = Arc::new(ComputePool::new(1));
        let held = pool.acquire(&Stop::new(None)).expect("a free slot");
        assert_eq!(pool.busy(), 1);
        let waiting = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let stop = Stop::new(Some(Instant::now() + Duration::from_millis(60)));
                pool.acquire(&stop).map(|_| ()).map_err(|e| e.message)
            })
        };
        let refused = waiting.join().expect("no panic");
        assert_eq!(
            refused.expect_err("no slot in time"),
            "canceling statement due to statement timeout"
        );
        drop(held);
        assert_eq!(pool.busy(), 0);
        let out = pool.run(&Stop::new(None), || Ok(7)).expect("runs");
        assert_eq!(out, 7);
        assert_eq!(pool.busy(), 0);
    }
}
