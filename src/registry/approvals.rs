//! Sign-off before production: a model's policy names the roles whose
//! approval a version needs (`{"approvals_required": ["risk",
//! "compliance"]}`), members of those roles approve or reject a version
//! (`ml_approve`, `ml_reject`), and `ml_deploy` to `production` refuses a
//! version that lacks one with 42501.
//!
//! Every decision is a row of `ml_approvals`, never updated or deleted
//! while the version exists: the latest decision of each role counts, so
//! a rejection after an approval blocks the version again and a later
//! approval lifts it, and the history stays readable. Other aliases
//! (`challenger`, `staging`) need no approvals; `ml_rollback` returns to a
//! version that was production before and is not held back either (a
//! rollback is the emergency exit).

use rusqlite::{Connection, Transaction, params};

use crate::error::{SqlStateError, sqlstate};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ml_approvals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    model       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    role        TEXT NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
    note        TEXT NOT NULL,
    decided_by  TEXT NOT NULL,
    at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS ml_approvals_version ON ml_approvals (model, version);
"#;

/// An approval or a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Rejected,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
        }
    }
}

/// One row of `ml_approvals`.
#[derive(Debug, Clone)]
pub struct ApprovalRow {
    pub id: i64,
    pub model: String,
    pub version: i64,
    pub role: String,
    pub decision: String,
    pub note: String,
    pub decided_by: String,
    pub at: String,
}

/// Records `decision` by `user` for `role` on `model@version`.
pub fn record(
    tx: &Transaction<'_>,
    model: &str,
    version: u32,
    role: &str,
    decision: Decision,
    note: &str,
    user: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO ml_approvals (model, version, role, decision, note, decided_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![model, version, role, decision.as_str(), note, user],
    )?;
    Ok(())
}

/// The roles of `required` whose latest decision on `model@version` is
/// not an approval, in `required`'s order.
pub fn missing(
    c: &Connection,
    model: &str,
    version: u32,
    required: &[String],
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = c.prepare(
        "SELECT decision FROM ml_approvals WHERE model = ?1 AND version = ?2 AND role = ?3
         ORDER BY id DESC LIMIT 1",
    )?;
    let mut out = Vec::new();
    for role in required {
        let latest: Option<String> = stmt
            .query_map(params![model, version, role], |r| r.get(0))?
            .next()
            .transpose()?;
        if latest.as_deref() != Some(Decision::Approved.as_str()) {
            out.push(role.clone());
        }
    }
    Ok(out)
}

/// Every decision, oldest first.
pub fn all(c: &Connection) -> rusqlite::Result<Vec<ApprovalRow>> {
    let mut stmt = c.prepare(
        "SELECT id, model, version, role, decision, note, decided_by, at
         FROM ml_approvals ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(ApprovalRow {
                id: r.get(0)?,
                model: r.get(1)?,
                version: r.get(2)?,
                role: r.get(3)?,
                decision: r.get(4)?,
                note: r.get(5)?,
                decided_by: r.get(6)?,
                at: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The roles a policy requires approvals from (`approvals_required`).
pub fn required(policy: &serde_json::Value) -> Vec<String> {
    policy
        .get("approvals_required")
        .and_then(serde_json::Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(serde_json::Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// 42501 for deploying `model@version` to production without `missing`.
pub fn lacking(model: &str, version: u32, missing: &[String]) -> SqlStateError {
    SqlStateError::new(
        sqlstate::INSUFFICIENT_PRIVILEGE,
        format!(
            "ml_deploy: {model}@{version} cannot go to production: it lacks the approval of {} (the model's policy requires it)",
            missing.join(", ")
        ),
    )
    .with_hint(format!(
        "a member of each role runs SELECT ml_approve('{model}', {version}, '<role>', '<note>')"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().expect("db");
        c.execute_batch(SCHEMA).expect("schema");
        c
    }

    #[test]
    fn the_latest_decision_of_each_role_counts() {
        let mut c = db();
        let required = vec!["risk".to_string(), "legal".to_string()];
        assert_eq!(missing(&c, "m", 1, &required).expect("missing"), required);
        let tx = c.transaction().expect("tx");
        record(&tx, "m", 1, "risk", Decision::Approved, "ok", "rita").expect("record");
        record(
            &tx,
            "m",
            2,
            "legal",
            Decision::Approved,
            "other version",
            "lee",
        )
        .expect("record");
        tx.commit().expect("commit");
        assert_eq!(
            missing(&c, "m", 1, &required).expect("missing"),
            vec!["legal"]
        );
        let tx = c.transaction().expect("tx");
        record(&tx, "m", 1, "legal", Decision::Approved, "ok", "lee").expect("record");
        record(&tx, "m", 1, "risk", Decision::Rejected, "bias", "rita").expect("record");
        tx.commit().expect("commit");
        assert_eq!(
            missing(&c, "m", 1, &required).expect("missing"),
            vec!["risk"]
        );
        let tx = c.transaction().expect("tx");
        record(&tx, "m", 1, "risk", Decision::Approved, "fixed", "rita").expect("record");
        tx.commit().expect("commit");
        assert!(missing(&c, "m", 1, &required).expect("missing").is_empty());
        assert_eq!(all(&c).expect("all").len(), 5);
    }

    #[test]
    fn required_roles_come_from_the_policy() {
        let policy = serde_json::json!({"approvals_required": ["risk", "compliance"]});
        assert_eq!(required(&policy), vec!["risk", "compliance"]);
        assert!(required(&serde_json::json!({})).is_empty());
    }
}
