//! A model's policy: what the server does for it on its own: how its
//! predictions are logged, who must approve a version, and when the
//! scheduler retrains, deploys, rolls back and alerts (`lifecycle`).
//!
//! | key                  | type           | meaning |
//! |----------------------|----------------|---------|
//! | `log_sample_rate`    | number in [0, 1] | share of keys (rows, without a key) whose predictions are logged |
//! | `key`                | text           | the column that identifies whom a prediction is about |
//! | `log_retention_days` | integer ≥ 1    | logged predictions older than this are removed |
//! | `approvals_required` | array of role names | roles whose approval (`ml_approve`) a version needs before `ml_deploy` to production (`registry::approvals`) |
//! | `retrain_every`, `retrain_on_drift`, `retrain_on_metric`, `min_new_rows`, `auto_deploy`, `deploy_metric`, `deploy_p_value`, `compare_on`, `rollback_on_metric`, `monitor_window`, `min_labelled`, `job_retention_days` | see `lifecycle::rules` | what the scheduler does |
//!
//! Stored as JSON in `ml_policies`, one row per model; `ml_set_policy`
//! merges what it is given into it (a key set to `null` is removed). Keys
//! are checked strictly: an unknown key or a value of the wrong type is
//! 22023 naming it.

use quarry_udfs::model::serving::LogPolicy;
use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value as Json};

use crate::error::{Result, SqlStateError};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ml_policies (
    model      TEXT PRIMARY KEY,
    policy     TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"#;

/// The keys a policy may have, with what each must be.
const KEYS: &[(&str, &str)] = &[
    ("log_sample_rate", "a number from 0 to 1"),
    ("key", "a column name (text)"),
    ("log_retention_days", "a whole number of days, at least 1"),
    (
        "approvals_required",
        "an array of role names, e.g. [\"risk\", \"compliance\"]",
    ),
];

/// Every key: the logging and approval keys, then the lifecycle's.
fn known() -> impl Iterator<Item = (&'static str, &'static str)> {
    KEYS.iter()
        .copied()
        .chain(crate::lifecycle::rules::KEYS.iter().copied())
}

/// The webhook URLs the routes in `changes` (policy JSON text) name.
pub fn webhooks(changes: &str) -> Vec<String> {
    use crate::lifecycle::alerts::Route;
    let Ok(Json::Object(changes)) = serde_json::from_str::<Json>(changes) else {
        return Vec::new();
    };
    ["alert_to", "escalate_to"]
        .iter()
        .filter_map(|key| Route::list(changes.get(*key)?))
        .flatten()
        .filter_map(|route| match route {
            Route::Webhook(url) => Some(url),
            _ => None,
        })
        .collect()
}

/// Checks `changes` (a JSON object) and merges it into `current`.
pub fn merge(function: &str, current: &Json, changes: &str) -> Result<Json> {
    let parsed: Json = serde_json::from_str(changes).map_err(|e| {
        SqlStateError::arg(
            function,
            "policy",
            "must be a JSON object",
            format!("'{changes}' ({e})"),
        )
    })?;
    let Json::Object(changes) = parsed else {
        return Err(SqlStateError::arg(
            function,
            "policy",
            "must be a JSON object",
            changes,
        ));
    };
    let mut merged = match current {
        Json::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for (key, value) in changes {
        let Some((_, expected)) = known().find(|(k, _)| *k == key) else {
            let known: Vec<&str> = known().map(|(k, _)| k).collect();
            return Err(SqlStateError::arg(
                function,
                "policy",
                format!("keys must be among {}", known.join(", ")),
                format!("unknown key \"{key}\""),
            ));
        };
        if value.is_null() {
            merged.remove(&key);
            continue;
        }
        let valid = match key.as_str() {
            "log_sample_rate" => value.as_f64().is_some_and(|r| (0.0..=1.0).contains(&r)),
            "key" => value.as_str().is_some_and(|k| !k.trim().is_empty()),
            "log_retention_days" => value.as_u64().is_some_and(|d| d >= 1),
            "approvals_required" => value.as_array().is_some_and(|roles| {
                roles
                    .iter()
                    .all(|r| r.as_str().is_some_and(|r| !r.trim().is_empty()))
            }),
            lifecycle => crate::lifecycle::rules::valid(lifecycle, &value),
        };
        if !valid {
            return Err(SqlStateError::arg(
                function,
                &format!("policy key \"{key}\""),
                format!("must be {expected}"),
                value,
            ));
        }
        merged.insert(key, value);
    }
    Ok(Json::Object(merged))
}

/// What a stored policy says about logging and the key; `None` when it
/// neither logs nor names a key.
pub fn log_policy(policy: &Json) -> Option<LogPolicy> {
    let rate = policy
        .get("log_sample_rate")
        .and_then(Json::as_f64)
        .unwrap_or(0.0)
        .max(0.0);
    let key = policy
        .get("key")
        .and_then(Json::as_str)
        .map(quarry_udfs::model::store::normalize_name);
    // A key without logging still routes traffic splits.
    (rate > 0.0 || key.is_some()).then_some(LogPolicy {
        sample_rate: rate,
        key,
    })
}

/// The stored policy of `model` (an empty object if none).
pub fn read(conn: &rusqlite::Connection, model: &str) -> rusqlite::Result<Json> {
    let text: Option<String> = conn
        .query_row(
            "SELECT policy FROM ml_policies WHERE model = ?1",
            [model],
            |r| r.get(0),
        )
        .optional()?;
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| Json::Object(Map::new())))
}

/// Stores `policy` as `model`'s.
pub fn write(
    tx: &rusqlite::Transaction<'_>,
    model: &str,
    policy: &Json,
    user: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO ml_policies (model, policy, updated_by) VALUES (?1, ?2, ?3)
         ON CONFLICT (model) DO UPDATE SET policy = excluded.policy,
             updated_by = excluded.updated_by,
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        params![model, policy.to_string(), user],
    )?;
    Ok(())
}

/// Every model's stored policy.
pub fn all(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<(String, Json)>> {
    let mut stmt = conn.prepare("SELECT model, policy FROM ml_policies ORDER BY model")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    rows.map(|r| r.map(|(m, p)| (m, serde_json::from_str(&p).unwrap_or(Json::Null))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_removes_keys() {
        let p = merge(
            "f",
            &Json::Null,
            r#"{"log_sample_rate": 0.1, "key": "customer_id"}"#,
        )
        .expect("ok");
        let p = merge("f", &p, r#"{"log_sample_rate": 1, "key": null}"#).expect("ok");
        assert_eq!(p, serde_json::json!({"log_sample_rate": 1}));
        assert_eq!(
            log_policy(&p),
            Some(LogPolicy {
                sample_rate: 1.0,
                key: None
            })
        );
        assert_eq!(log_policy(&serde_json::json!({"log_sample_rate": 0})), None);
        assert_eq!(
            log_policy(&serde_json::json!({"key": "id"})),
            Some(LogPolicy {
                sample_rate: 0.0,
                key: Some("id".into())
            })
        );
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        let e = merge("f", &Json::Null, r#"{"sample": 1}"#).expect_err("an error");
        assert_eq!(e.code, "22023");
        assert!(
            e.message.contains("unknown key \"sample\""),
            "{}",
            e.message
        );
        let e = merge("f", &Json::Null, r#"{"log_sample_rate": 1.5}"#).expect_err("an error");
        assert!(e.message.contains("from 0 to 1, got 1.5"), "{}", e.message);
        let e = merge("f", &Json::Null, "[1]").expect_err("an error");
        assert!(e.message.contains("must be a JSON object"), "{}", e.message);
        let e = merge("f", &Json::Null, "{").expect_err("an error");
        assert_eq!(e.code, "22023");
        assert!(merge("f", &Json::Null, r#"{"log_retention_days": 0}"#).is_err());
    }
}
