//! The hash chain of the audit log: each record's hash is SHA-256 over the
//! previous record's hash and the record's own fields, so changing,
//! removing or inserting any record breaks every link after it.
//!
//! The fields are hashed length-prefixed (`<len>:<bytes>` each, NULL as
//! `-`), so no two different records hash the same text: a statement
//! ending in what looks like the next field cannot shift a boundary.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored record, as hashed.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: i64,
    /// Microseconds since the Unix epoch, UTC.
    pub at_us: i64,
    /// Who logged in.
    pub user: String,
    /// The role in effect (`SET ROLE`) when it is not `user`.
    pub role: Option<String>,
    pub client: Option<String>,
    pub session: Option<i64>,
    /// `sql`, `http` or `audit` (what the log says about itself).
    pub kind: String,
    pub statement: String,
    pub objects: String,
    pub rows: Option<i64>,
    pub duration_us: i64,
    pub sqlstate: String,
}

impl Record {
    /// The hash of this record after one whose hash is `prev`, lower-case
    /// hex.
    pub fn hash(&self, prev: &str) -> String {
        let mut h = Sha256::new();
        let mut field = |bytes: Option<&[u8]>| match bytes {
            Some(b) => {
                h.update(b.len().to_string().as_bytes());
                h.update(b":");
                h.update(b);
            }
            None => h.update(b"-"),
        };
        field(Some(prev.as_bytes()));
        field(Some(self.seq.to_string().as_bytes()));
        field(Some(self.at_us.to_string().as_bytes()));
        field(Some(self.user.as_bytes()));
        field(self.role.as_deref().map(str::as_bytes));
        field(self.client.as_deref().map(str::as_bytes));
        field(
            self.session
                .map(|s| s.to_string())
                .as_deref()
                .map(str::as_bytes),
        );
        field(Some(self.kind.as_bytes()));
        field(Some(self.statement.as_bytes()));
        field(Some(self.objects.as_bytes()));
        field(
            self.rows
                .map(|r| r.to_string())
                .as_deref()
                .map(str::as_bytes),
        );
        field(Some(self.duration_us.to_string().as_bytes()));
        field(Some(self.sqlstate.as_bytes()));
        hex(&h.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What a walk along the chain found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    /// Records read.
    pub checked: u64,
    /// The first record whose link is broken, and why; `None` when the
    /// chain holds.
    pub broken: Option<(i64, String)>,
    /// The last record's sequence number and hash.
    pub head: Option<(i64, String)>,
}

/// Walks records in sequence order, each with its stored `prev_hash` and
/// `hash`.
#[derive(Debug, Default)]
pub struct Walker {
    verdict: Verdict,
}

impl Walker {
    /// Checks the next record; false once the chain is broken (later
    /// records are then not checked).
    pub fn next(&mut self, record: &Record, prev_hash: &str, hash: &str) -> bool {
        if self.verdict.broken.is_some() {
            return false;
        }
        self.verdict.checked += 1;
        let (expected_seq, expected_prev) = match &self.verdict.head {
            Some((seq, hash)) => (seq + 1, hash.as_str()),
            None => (1, GENESIS),
        };
        let why = if record.seq != expected_seq {
            Some(format!(
                "record {expected_seq} is missing (the next is {})",
                record.seq
            ))
        } else if prev_hash != expected_prev {
            Some("prev_hash is not the hash of the record before".to_string())
        } else if record.hash(prev_hash) != hash {
            Some("the record's contents do not match its hash".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            self.verdict.broken = Some((record.seq, why));
            return false;
        }
        self.verdict.head = Some((record.seq, hash.to_string()));
        true
    }

    pub fn finish(self) -> Verdict {
        self.verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: i64, statement: &str) -> Record {
        Record {
            seq,
            at_us: 1_700_000_000_000_000,
            user: "alice".into(),
            role: None,
            client: Some("127.0.0.1:5000".into()),
            session: Some(7),
            kind: "sql".into(),
            statement: statement.into(),
            objects: "customers".into(),
            rows: Some(3),
            duration_us: 120,
            sqlstate: "00000".into(),
        }
    }

    #[test]
    fn the_hash_is_sha256_of_the_length_prefixed_fields() {
        // Recomputed by hand: sha256 over the same framing.
        let r = record(1, "SELECT 1");
        let text = format!(
            "64:{GENESIS}1:116:17000000000000005:alice-14:127.0.0.1:50001:73:sql8:SELECT 19:customers1:33:1205:00000"
        );
        let expected = hex(&Sha256::digest(text.as_bytes()));
        assert_eq!(r.hash(GENESIS), expected);
        // NULLs hash apart from empty text.
        let mut a = r.clone();
        a.client = None;
        let mut b = r.clone();
        b.client = Some(String::new());
        assert_ne!(a.hash(GENESIS), b.hash(GENESIS));
    }

    #[test]
    fn field_boundaries_cannot_shift() {
        let mut a = record(1, "SELECT 1");
        a.objects = "x".into();
        let mut b = record(1, "SELECT 1x");
        b.objects = String::new();
        assert_ne!(a.hash(GENESIS), b.hash(GENESIS));
    }

    fn chain(n: i64) -> Vec<(Record, String, String)> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let r = record(seq, &format!("SELECT {seq}"));
                let hash = r.hash(&prev);
                let link = (r, prev.clone(), hash.clone());
                prev = hash;
                link
            })
            .collect()
    }

    fn walk(links: &[(Record, String, String)]) -> Verdict {
        let mut w = Walker::default();
        for (r, prev, hash) in links {
            if !w.next(r, prev, hash) {
                break;
            }
        }
        w.finish()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let v = walk(&chain(5));
        assert_eq!(v.checked, 5);
        assert_eq!(v.broken, None);
        assert_eq!(v.head.map(|h| h.0), Some(5));
    }

    #[test]
    fn an_edit_a_removal_and_a_rehash_are_each_found() {
        let mut edited = chain(5);
        edited[2].0.statement = "SELECT 42".into();
        assert_eq!(walk(&edited).broken.map(|b| b.0), Some(3));

        let mut removed = chain(5);
        removed.remove(1);
        let v = walk(&removed);
        assert_eq!(v.broken.as_ref().map(|b| b.0), Some(3));
        assert!(v.broken.expect("broken").1.contains("record 2 is missing"));

        // Rewriting a record's hash to match its new contents breaks the
        // next link instead.
        let mut rehashed = chain(5);
        rehashed[2].0.rows = Some(99);
        rehashed[2].2 = rehashed[2].0.hash(&rehashed[2].1);
        let v = walk(&rehashed);
        assert_eq!(v.broken.as_ref().map(|b| b.0), Some(4));
    }
}
