//! What people write about a model: annotations (purpose, legal basis,
//! why this algorithm, limitations, bias mitigation, owners) and periodic
//! reviews. Kept as history (the latest annotation of a field counts);
//! removed with the model. A model's review is due a year after its last
//! review, or a year after it was created when it has none.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{SqlStateError, sqlstate};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ml_annotations (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    model  TEXT NOT NULL,
    field  TEXT NOT NULL,
    text   TEXT NOT NULL,
    by_user TEXT NOT NULL,
    at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS ml_reviews (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    model   TEXT NOT NULL,
    note    TEXT NOT NULL,
    by_user TEXT NOT NULL,
    at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"#;

/// The fields `ml_annotate` takes, in the order a model card shows them.
pub const FIELDS: &[(&str, &str)] = &[
    ("purpose", "Purpose"),
    ("legal_basis", "Legal basis"),
    ("rationale", "Why this algorithm"),
    ("limitations", "Limitations"),
    ("bias_mitigation", "Bias mitigation"),
    ("owner", "Owner"),
    ("ops_owner", "Operations owner"),
];

/// `22023` unless `field` is one of [`FIELDS`].
pub fn check_field(function: &str, field: &str) -> Result<(), SqlStateError> {
    if FIELDS.iter().any(|(f, _)| *f == field) {
        return Ok(());
    }
    Err(SqlStateError::bad_argument(format!(
        "{function}: field must be one of {}, got '{field}'",
        FIELDS
            .iter()
            .map(|(f, _)| *f)
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

pub fn annotate(
    conn: &Connection,
    model: &str,
    field: &str,
    text: &str,
    user: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO ml_annotations (model, field, text, by_user) VALUES (?1, ?2, ?3, ?4)",
        params![model, field, text, user],
    )?;
    Ok(())
}

/// The latest text of each annotated field of `model`: (field, text, by, at).
pub fn annotations(
    conn: &Connection,
    model: &str,
) -> rusqlite::Result<Vec<(String, String, String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT field, text, by_user, at FROM ml_annotations a
         WHERE model = ?1 AND id = (SELECT max(id) FROM ml_annotations b
                                    WHERE b.model = a.model AND b.field = a.field)
         ORDER BY field",
    )?;
    stmt.query_map([model], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?
    .collect()
}

pub fn review(conn: &Connection, model: &str, note: &str, user: &str) -> rusqlite::Result<String> {
    conn.execute(
        "INSERT INTO ml_reviews (model, note, by_user) VALUES (?1, ?2, ?3)",
        params![model, note, user],
    )?;
    due_at(conn, model).map(|d| d.unwrap_or_default())
}

/// Every review of `model`, oldest first: (note, by, at).
pub fn reviews(conn: &Connection, model: &str) -> rusqlite::Result<Vec<(String, String, String)>> {
    let mut stmt =
        conn.prepare("SELECT note, by_user, at FROM ml_reviews WHERE model = ?1 ORDER BY id")?;
    stmt.query_map([model], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}

/// When `model`'s next review is due: a year after the last review, or
/// after the model was created.
pub fn due_at(conn: &Connection, model: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', coalesce(
             (SELECT max(at) FROM ml_reviews WHERE model = ?1), m.created_at), '+1 year')
         FROM ml_models m WHERE m.name = ?1",
        [model],
        |r| r.get(0),
    )
    .optional()
}

/// One model whose review is due by a moment.
#[derive(Debug, Clone)]
pub struct Due {
    pub model: String,
    pub last_reviewed_at: Option<String>,
    pub last_reviewed_by: Option<String>,
    pub review_due_at: String,
    pub days_overdue: f64,
}

/// Models whose review is due at or before `as_of` (an ISO 8601 time;
/// now when `None`), most overdue first.
pub fn due(conn: &Connection, as_of: Option<&str>) -> Result<Vec<Due>, SqlStateError> {
    let store_err =
        |e: rusqlite::Error| SqlStateError::new(sqlstate::IO_ERROR, format!("catalog store: {e}"));
    let mut stmt = conn
        .prepare(
            "WITH last AS (
                 SELECT m.name AS model,
                        (SELECT max(at) FROM ml_reviews r WHERE r.model = m.name) AS reviewed_at,
                        (SELECT by_user FROM ml_reviews r WHERE r.model = m.name
                         ORDER BY id DESC LIMIT 1) AS reviewed_by,
                        m.created_at
                 FROM ml_models m),
             dues AS (
                 SELECT model, reviewed_at, reviewed_by,
                        strftime('%Y-%m-%dT%H:%M:%fZ', coalesce(reviewed_at, created_at), '+1 year') AS due_at
                 FROM last)
             SELECT model, reviewed_at, reviewed_by, due_at,
                    julianday(coalesce(?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - julianday(due_at)
             FROM dues
             WHERE due_at <= coalesce(?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
             ORDER BY due_at, model",
        )
        .map_err(store_err)?;
    stmt.query_map([as_of], |r| {
        Ok(Due {
            model: r.get(0)?,
            last_reviewed_at: r.get(1)?,
            last_reviewed_by: r.get(2)?,
            review_due_at: r.get(3)?,
            days_overdue: r.get(4)?,
        })
    })
    .map_err(store_err)?
    .collect::<rusqlite::Result<_>>()
    .map_err(store_err)
}

/// Forgets what was written about `model` (it is dropped).
pub fn forget(tx: &rusqlite::Transaction<'_>, model: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM ml_annotations WHERE model = ?1", [model])?;
    tx.execute("DELETE FROM ml_reviews WHERE model = ?1", [model])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().expect("db");
        c.execute_batch(SCHEMA).expect("schema");
        c.execute_batch(
            "CREATE TABLE ml_models (name TEXT PRIMARY KEY, created_by TEXT, created_at TEXT);
             INSERT INTO ml_models VALUES ('a', 'x', '2024-03-01T10:00:00.000Z'),
                                          ('b', 'x', '2025-06-01T10:00:00.000Z');",
        )
        .expect("models");
        c
    }

    #[test]
    fn a_review_is_due_a_year_after_the_last_or_the_creation() {
        let c = conn();
        assert_eq!(
            due_at(&c, "a").expect("ok").as_deref(),
            Some("2025-03-01T10:00:00.000Z")
        );
        let due_now = due(&c, Some("2025-07-01T00:00:00.000Z")).expect("due");
        assert_eq!(due_now.len(), 1);
        assert_eq!(due_now[0].model, "a");
        assert!(
            (due_now[0].days_overdue - 121.583).abs() < 0.01,
            "{}",
            due_now[0].days_overdue
        );
        c.execute(
            "INSERT INTO ml_reviews (model, note, by_user, at) VALUES ('a', 'ok', 'rev', '2025-05-01T00:00:00.000Z')",
            [],
        )
        .expect("review");
        assert_eq!(
            due_at(&c, "a").expect("ok").as_deref(),
            Some("2026-05-01T00:00:00.000Z")
        );
        let later = due(&c, Some("2026-06-02T00:00:00.000Z")).expect("due");
        let names: Vec<&str> = later.iter().map(|d| d.model.as_str()).collect();
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!(later[0].last_reviewed_by.as_deref(), Some("rev"));
    }

    #[test]
    fn the_latest_annotation_of_a_field_counts() {
        let c = conn();
        annotate(&c, "a", "purpose", "first", "x").expect("ok");
        annotate(&c, "a", "purpose", "second", "y").expect("ok");
        annotate(&c, "a", "limitations", "none known", "x").expect("ok");
        let notes = annotations(&c, "a").expect("ok");
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[1].0, "purpose");
        assert_eq!(notes[1].1, "second");
        assert!(check_field("f", "purpose").is_ok());
        assert!(check_field("f", "color").is_err());
    }
}
