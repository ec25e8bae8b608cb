//! The audit log: every statement and HTTP call, who made it, from where,
//! what it named, how many rows, how long and how it ended, in an
//! append-only, hash-chained record (`ml_audit_log`, checked by
//! `ml_audit_verify()`).
//!
//! A statement hands its record to [`AuditLog::offer`] when it ends (its
//! last rows sent); the record waits in a bounded queue and one writer
//! thread, at the lowest CPU priority, takes what is queued every
//! [`FLUSH_EVERY`] (or `BATCH` records), redacts secrets from the text,
//! works out the objects it names ([`statement`]), chains each record to
//! the one before ([`chain`]) and appends the batch in one transaction
//! ([`store`]). A statement never waits for the log: when the queue is
//! full its record is dropped and counted, and the next batch records how
//! many were lost (`kind = 'audit'`). A crash loses what was still
//! queued, never part of a batch, and the chain stays whole.
//!
//! After each batch the newest record's number and hash are also kept in
//! the catalog (`meta.audit_head`), so cutting records off the end of the
//! log is found too.

pub mod chain;
pub mod statement;
pub mod store;
pub mod table;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

use crate::catalog::store::Store;
use crate::error::{Result, SqlStateError};
use crate::sync::lock;
use chain::{Record, Verdict, Walker};

/// How long queued records wait for the writer at most.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Records written in one transaction at most.
const BATCH: usize = 4096;
/// Statement text kept per record; longer text is cut, saying how much.
const MAX_TEXT: usize = 64 * 1024;
/// The catalog key of the newest record's number and hash.
const HEAD_KEY: &str = "audit_head";

/// What was audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sql,
    Http,
    /// A login over the PostgreSQL protocol, accepted or refused.
    Login,
    /// The log about itself (records it had to drop).
    Audit,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sql => "sql",
            Kind::Http => "http",
            Kind::Login => "login",
            Kind::Audit => "audit",
        }
    }
}

/// A record as a statement or request hands it over; the writer adds the
/// rest.
#[derive(Debug, Clone)]
pub struct Entry {
    pub at_us: i64,
    pub user: String,
    pub role: Option<String>,
    pub client: Option<String>,
    pub session: Option<i64>,
    pub kind: Kind,
    /// The text as it came (secrets are redacted by the writer).
    pub statement: Arc<str>,
    /// The objects, when known without parsing (an HTTP call's model).
    pub objects: Option<String>,
    pub rows: Option<i64>,
    pub duration_us: i64,
    /// `00000` for success.
    pub sqlstate: String,
}

enum Message {
    Entry(Box<Entry>),
    /// Write what is queued, then answer.
    Flush(std::sync::mpsc::Sender<()>),
    Stop,
}

/// The queue, its counters and the writer.
#[derive(Debug)]
pub struct AuditLog {
    sender: SyncSender<Message>,
    path: PathBuf,
    catalog: Arc<Store>,
    /// Records written.
    pub written: Arc<AtomicU64>,
    /// Records dropped because the queue was full.
    pub dropped: Arc<AtomicU64>,
    /// Records lost because a batch could not be written (disk full...).
    pub failed: Arc<AtomicU64>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Entry(_) => "Entry",
            Message::Flush(_) => "Flush",
            Message::Stop => "Stop",
        })
    }
}

impl AuditLog {
    /// Opens the log in `data_dir` and starts its writer; the queue holds
    /// `capacity` records.
    pub fn start(data_dir: &Path, catalog: Arc<Store>, capacity: usize) -> Result<Arc<AuditLog>> {
        let path = store::path(data_dir);
        let conn = store::open(&path)?;
        // Numbering goes on after the newest record the catalog saw
        // written, even when the log ends before it (records were cut
        // off): the gap stays visible to `verify`.
        let head = match (
            store::head(&conn)?,
            catalog.meta(HEAD_KEY)?.as_deref().and_then(parse_head),
        ) {
            (Some(log), Some(seen)) if seen.0 > log.0 => Some(seen),
            (None, seen) => seen,
            (log, _) => log,
        };
        let (sender, receiver) = std::sync::mpsc::sync_channel(capacity.max(1));
        let log = AuditLog {
            sender,
            path,
            catalog: catalog.clone(),
            written: Arc::default(),
            dropped: Arc::default(),
            failed: Arc::default(),
            writer: Mutex::new(None),
        };
        let writer = Writer {
            conn,
            head,
            catalog,
            written: log.written.clone(),
            dropped: log.dropped.clone(),
            failed: log.failed.clone(),
            reported: 0,
        };
        let handle = std::thread::Builder::new()
            .name("quarry-audit".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| SqlStateError::internal(format!("audit writer thread: {e}")))?;
        *lock(&log.writer) = Some(handle);
        Ok(Arc::new(log))
    }

    /// Queues a record, or drops and counts it when the queue is full.
    pub fn offer(&self, entry: Entry) {
        match self.sender.try_send(Message::Entry(Box::new(entry))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits (at most `timeout`) until everything queued before this call
    /// is written; false when the wait ran out. Blocks: call it off the
    /// async runtime.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        let deadline = Instant::now() + timeout;
        let mut message = Message::Flush(tx);
        // A full queue: wait for room rather than give up at once.
        loop {
            match self.sender.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(m)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    message = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }

    /// [`AuditLog::flush`] from async code.
    pub async fn flushed(self: &Arc<Self>, timeout: Duration) -> bool {
        let log = self.clone();
        tokio::task::spawn_blocking(move || log.flush(timeout))
            .await
            .unwrap_or(false)
    }

    /// Writes what is queued and stops the writer (at shutdown).
    pub fn stop(&self) {
        let _ = self.sender.send(Message::Stop);
        if let Some(handle) = lock(&self.writer).take() {
            let _ = handle.join();
        }
    }

    /// A connection reading the log.
    pub fn reader(&self) -> Result<rusqlite::Connection> {
        store::open_reader(&self.path)
    }

    /// Walks the whole chain; then checks that the newest record the
    /// catalog remembers is still there, unchanged.
    pub fn verify(&self) -> Result<Verdict> {
        let conn = self.reader()?;
        let mut walker = Walker::default();
        store::each(&conn, 0, |record, prev, hash| {
            walker.next(&record, &prev, &hash)
        })?;
        let mut verdict = walker.finish();
        if verdict.broken.is_some() {
            return Ok(verdict);
        }
        if let Some((seq, hash)) = self.catalog.meta(HEAD_KEY)?.as_deref().and_then(parse_head) {
            match store::hash_of(&conn, seq)? {
                Some(stored) if stored == hash => {}
                Some(_) => {
                    verdict.broken = Some((
                        seq,
                        "the record differs from the one the catalog last saw written".into(),
                    ))
                }
                None => {
                    let last = verdict.head.as_ref().map_or(0, |h| h.0);
                    verdict.broken = Some((
                        last + 1,
                        format!(
                            "records {}..{seq} are missing: the log was cut short",
                            last + 1
                        ),
                    ))
                }
            }
        }
        Ok(verdict)
    }
}

fn parse_head(text: &str) -> Option<(i64, String)> {
    let (seq, hash) = text.split_once(' ')?;
    Some((seq.parse().ok()?, hash.to_string()))
}

/// The writer thread's state.
struct Writer {
    conn: rusqlite::Connection,
    head: Option<(i64, String)>,
    catalog: Arc<Store>,
    written: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    /// Drops already recorded in the log.
    reported: u64,
}

impl Writer {
    /// At normal priority, unlike the prediction log's writer: its work is
    /// a small part of each statement's, and at the lowest priority a busy
    /// server would starve it until the queue overflowed.
    fn run(mut self, receiver: Receiver<Message>) {
        let mut batch: Vec<Entry> = Vec::new();
        let mut acks: Vec<std::sync::mpsc::Sender<()>> = Vec::new();
        let mut since: Option<Instant> = None;
        loop {
            let message = match since {
                None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(t) => receiver.recv_timeout(FLUSH_EVERY.saturating_sub(t.elapsed())),
            };
            let stop = match message {
                Ok(Message::Entry(e)) => {
                    batch.push(*e);
                    since.get_or_insert_with(Instant::now);
                    if batch.len() < BATCH {
                        continue;
                    }
                    false
                }
                Ok(Message::Flush(ack)) => {
                    acks.push(ack);
                    false
                }
                Err(RecvTimeoutError::Timeout) => false,
                Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => true,
            };
            self.write(std::mem::take(&mut batch));
            since = None;
            for ack in acks.drain(..) {
                let _ = ack.send(());
            }
            if stop {
                break;
            }
        }
    }

    /// Appends `entries` (and a note of any drops) as one transaction.
    fn write(&mut self, mut entries: Vec<Entry>) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > self.reported {
            entries.push(Entry {
                at_us: crate::serving::log::now_us(),
                user: String::new(),
                role: None,
                client: None,
                session: None,
                kind: Kind::Audit,
                statement: format!(
                    "{} audit record(s) dropped: the queue was full",
                    dropped - self.reported
                )
                .into(),
                objects: Some(String::new()),
                rows: Some((dropped - self.reported) as i64),
                duration_us: 0,
                sqlstate: "01000".into(),
            });
        }
        if entries.is_empty() {
            return;
        }
        let n = entries.len() as u64;
        let (mut seq, mut prev) = self
            .head
            .clone()
            .unwrap_or_else(|| (0, chain::GENESIS.to_string()));
        let mut records = Vec::with_capacity(entries.len());
        for e in entries {
            seq += 1;
            let record = record(seq, e);
            let hash = record.hash(&prev);
            records.push((record, std::mem::replace(&mut prev, hash.clone()), hash));
        }
        match store::append(&mut self.conn, &records) {
            Ok(()) => {
                self.written.fetch_add(n, Ordering::Relaxed);
                self.reported = dropped;
                self.head = Some((seq, prev.clone()));
                if let Err(e) = self.catalog.set_meta(HEAD_KEY, &format!("{seq} {prev}")) {
                    warn!(error = %e.message, "audit log: the head could not be kept in the catalog");
                }
            }
            Err(e) => {
                self.failed.fetch_add(n, Ordering::Relaxed);
                warn!(records = n, error = %e.message, "audit log: a batch could not be written");
            }
        }
    }
}

/// The stored record of `entry`: text redacted and cut to size, objects
/// worked out.
fn record(seq: i64, e: Entry) -> Record {
    let objects = e
        .objects
        .unwrap_or_else(|| statement::objects(cut(&e.statement, MAX_TEXT * 16).0).join(", "));
    let mut text = statement::redact(&e.statement);
    let (kept, rest) = cut(&text, MAX_TEXT);
    if rest > 0 {
        text = format!("{kept}... ({rest} more bytes)");
    }
    Record {
        seq,
        at_us: e.at_us,
        user: e.user,
        role: e.role,
        client: e.client,
        session: e.session,
        kind: e.kind.as_str().to_string(),
        statement: text,
        objects,
        rows: e.rows,
        duration_us: e.duration_us,
        sqlstate: e.sqlstate,
    }
}

/// `text` cut to at most `max` bytes at a character boundary, and how
/// many bytes were cut.
fn cut(text: &str, max: usize) -> (&str, usize) {
    if text.len() <= max {
        return (text, 0);
    }
    let mut at = max;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    (&text[..at], text.len() - at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(statement: &str) -> Entry {
        Entry {
            at_us: 1,
            user: "alice".into(),
            role: None,
            client: None,
            session: Some(3),
            kind: Kind::Sql,
            statement: Arc::from(statement),
            objects: None,
            rows: None,
            duration_us: 10,
            sqlstate: "00000".into(),
        }
    }

    #[test]
    fn records_are_redacted_and_cut() {
        let r = record(1, entry("ALTER USER alice PASSWORD 'x'"));
        assert_eq!(r.statement, "ALTER USER alice PASSWORD '********'");
        let long = format!("SELECT '{}'", "é".repeat(MAX_TEXT));
        let r = record(2, entry(&long));
        assert!(
            r.statement
                .ends_with(&format!("... ({} more bytes)", long.len() - MAX_TEXT))
        );
        assert!(r.statement.len() < MAX_TEXT + 40);
    }

    #[test]
    fn batches_chain_drops_are_recorded_and_verify_finds_edits() {
        let dir = tempfile::tempdir().expect("dir");
        let catalog = Arc::new(Store::open(&dir.path().join("catalog.db")).expect("store"));
        let log = AuditLog::start(dir.path(), catalog.clone(), 2).expect("log");
        log.offer(entry("SELECT 1"));
        log.offer(entry("SELECT 2"));
        assert!(log.flush(Duration::from_secs(5)));
        // A full queue drops and counts.
        for i in 0..50 {
            log.offer(entry(&format!("SELECT {i}")));
        }
        assert!(log.flush(Duration::from_secs(5)));
        log.offer(entry("SELECT 'last'"));
        assert!(log.flush(Duration::from_secs(5)));
        let dropped = log.dropped.load(Ordering::Relaxed);
        let written = log.written.load(Ordering::Relaxed);
        assert!(dropped > 0);
        let verdict = log.verify().expect("verify");
        assert_eq!(verdict.broken, None);
        assert_eq!(verdict.checked, written);
        // The drops are in the log, as a record of their own.
        let conn = log.reader().expect("reader");
        let noted: i64 = conn
            .query_row(
                "SELECT coalesce(sum(rows), 0) FROM audit_log WHERE kind = 'audit'",
                [],
                |r| r.get(0),
            )
            .expect("noted");
        assert_eq!(noted as u64, dropped);
        log.stop();

        // An edit on disk is found; so is cutting records off the end.
        let edit = rusqlite::Connection::open(store::path(dir.path())).expect("open");
        edit.execute(
            "UPDATE audit_log SET user_name = 'mallory' WHERE seq = 2",
            [],
        )
        .expect("edit");
        let log = AuditLog::start(dir.path(), catalog.clone(), 2).expect("log");
        let verdict = log.verify().expect("verify");
        assert_eq!(verdict.broken.map(|b| b.0), Some(2));
        edit.execute("UPDATE audit_log SET user_name = 'alice' WHERE seq = 2", [])
            .expect("undo");
        let last = written as i64;
        edit.execute("DELETE FROM audit_log WHERE seq = ?1", [last])
            .expect("cut");
        let verdict = log.verify().expect("verify");
        let (at, why) = verdict.broken.expect("cut short");
        assert_eq!(at, last);
        assert!(why.contains("cut short"), "{why}");
        log.stop();
        // Writing on after the cut does not hide it.
        let log = AuditLog::start(dir.path(), catalog, 2).expect("log");
        log.offer(entry("SELECT 'after'"));
        assert!(log.flush(Duration::from_secs(5)));
        let (at, why) = log.verify().expect("verify").broken.expect("gap");
        assert_eq!(at, last + 1);
        assert!(why.contains(&format!("record {last} is missing")), "{why}");
        log.stop();
    }
}
