//! Stopping statements: a statement's [`QueryControl`] (cancel token,
//! `statement_timeout` deadline, server shutdown) and the
//! [`SessionRegistry`] through which a cancel request from another connection
//! finds the session it names.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::Session;
use crate::error::{Result, SqlStateError, sqlstate};
use crate::sync::lock;

/// How a query ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    Cancel,
    Timeout,
    Shutdown,
}

impl Interrupt {
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
        }
    }
}

/// Cancellation and deadline of one running statement.
#[derive(Clone, Debug)]
pub struct QueryControl {
    pub token: CancellationToken,
    pub deadline: Option<tokio::time::Instant>,
    shutdown: CancellationToken,
}

impl QueryControl {
    /// Why the statement must stop, if it must.
    pub fn interrupted(&self) -> Option<Interrupt> {
        if self.shutdown.is_cancelled() {
            Some(Interrupt::Shutdown)
        } else if self.token.is_cancelled() {
            Some(Interrupt::Cancel)
        } else if self
            .deadline
            .is_some_and(|d| tokio::time::Instant::now() >= d)
        {
            Some(Interrupt::Timeout)
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
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => Interrupt::Shutdown,
            _ = self.token.cancelled() => Interrupt::Cancel,
            _ = deadline => Interrupt::Timeout,
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

impl Session {
    /// Starts a statement: a fresh cancel token and the session's deadline.
    /// (Not the session's token reused: a cancel would then also stop a
    /// portal of an earlier statement that is still being fetched.)
    pub fn start_query(&self) -> QueryControl {
        // A token of its own rather than a child of the server's shutdown
        // token (which `wait` watches beside it): a child token is linked
        // into its parent under the parent's lock, one lock every session
        // would take twice per statement.
        let token = CancellationToken::new();
        *lock(&self.current_query) = Some(token.clone());
        let deadline = lock(&self.statement_timeout).map(|d| tokio::time::Instant::now() + d);
        QueryControl {
            token,
            deadline,
            shutdown: self.shutdown.clone(),
        }
    }

    /// A cancel request from another connection.
    pub fn cancel(&self) {
        if let Some(token) = lock(&self.current_query).as_ref() {
            token.cancel();
        }
    }
}

/// A backend key: process id and secret, as sent in BackendKeyData.
type BackendKey = (i32, Vec<u8>);

/// Sessions by backend key, for cancel requests from other connections.
#[derive(Default)]
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
}
