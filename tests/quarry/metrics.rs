//! The metric and drift aggregates against scikit-learn and scipy (fixtures
//! from scripts/fixtures/metrics.py and drift.py), over the wire, in one
//! partition, in three merged partitions and per GROUP BY group.

use quarry_test_macros::quarry_test;
use serde_json::Value;
use tokio_postgres::Client;

use crate::harness::{TestServer, repo_root};

/// Agreement to 1e-9 relative (exact for an expected 0), or to the check's
/// own absolute tolerance (p-values).
fn close(actual: f64, expected: f64, check: &Value) -> bool {
    if expected.is_infinite() {
        return actual == expected;
    }
    if let Some(abs) = check.get("tolerance").and_then(|t| t["abs"].as_f64()) {
        return (actual - expected).abs() <= abs;
    }
    (actual - expected).abs() <= 1e-9 * expected.abs()
}

fn sql_literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

async fn load_case(client: &Client, table: &str, case: &Value) {
    let columns = case["columns"].as_object().expect("columns");
    let names: Vec<&String> = columns.keys().collect();
    let definition: Vec<String> = columns
        .iter()
        .map(|(name, t)| format!("{name} {}", t.as_str().expect("type")))
        .collect();
    client
        .simple_query(&format!(
            "CREATE TABLE {table} (k BIGINT, {})",
            definition.join(", ")
        ))
        .await
        .expect("create table");
    let rows = case["rows"].as_array().expect("rows");
    for (chunk_index, chunk) in rows.chunks(1000).enumerate() {
        let values: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let cells: Vec<String> = names
                    .iter()
                    .map(|n| sql_literal(&row[n.as_str()]))
                    .collect();
                format!("({}, {})", chunk_index * 1000 + i, cells.join(", "))
            })
            .collect();
        client
            .simple_query(&format!("INSERT INTO {table} VALUES {}", values.join(", ")))
            .await
            .expect("insert");
    }
}

/// Runs every check of `checks` in one SELECT over `from` and compares.
async fn verify(client: &Client, label: &str, from: &str, checks: &[Value], group: Option<&str>) {
    let calls: Vec<String> = checks
        .iter()
        .map(|c| c["sql"].as_str().expect("sql").to_string())
        .collect();
    let (select, filter) = match group {
        Some(g) => (calls.join(", "), format!(" WHERE g = {g}")),
        None => (calls.join(", "), String::new()),
    };
    let sql = format!("SELECT {select} FROM {from}{filter}");
    let rows = client
        .query(&sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{label}: {sql}: {e}"));
    assert_eq!(rows.len(), 1, "{label}");
    let row = &rows[0];
    for (i, check) in checks.iter().enumerate() {
        let call = check["sql"].as_str().expect("sql");
        let expected = &check["expected"];
        if call.starts_with("ml_confusion_matrix") {
            let actual: Option<String> = row.get(i);
            let actual: Value = actual
                .map(|t| serde_json::from_str(&t).expect("json"))
                .unwrap_or(Value::Null);
            assert_eq!(&actual, expected, "{label}: {call}");
            continue;
        }
        let actual: Option<f64> = row.get(i);
        let expected = match expected {
            Value::Null => None,
            Value::String(s) if s == "Infinity" => Some(f64::INFINITY),
            v => Some(v.as_f64().expect("number")),
        };
        match (actual, expected) {
            (Some(a), Some(e)) => {
                assert!(close(a, e, check), "{label}: {call} = {a}, reference {e}")
            }
            (a, e) => assert_eq!(a, e, "{label}: {call}"),
        }
    }
}

#[quarry_test]
async fn metric_aggregates_match_scikit_learn_in_any_partitioning() {
    run_fixture("tests/fixtures/metrics.json").await;
}

#[quarry_test]
async fn drift_aggregates_match_scipy_in_any_partitioning() {
    run_fixture("tests/fixtures/drift.json").await;
}

/// Every case of a fixture: loaded into a table, each check's aggregate
/// compared in one partition, in three merged ones and per group.
async fn run_fixture(path: &str) {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join(path)).expect("fixture"))
            .expect("json");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let table = format!("{}_{}", case["kind"].as_str().expect("kind"), name);
        load_case(&client, &table, case).await;
        let checks = case["checks"].as_array().expect("checks");
        verify(&client, &table, &table, checks, None).await;
        // Three partitions, each aggregated on its own and merged.
        let parts = format!(
            "(SELECT * FROM {table} WHERE k % 3 = 0 UNION ALL SELECT * FROM {table} WHERE k % 3 = 1 \
             UNION ALL SELECT * FROM {table} WHERE k % 3 = 2) AS parts"
        );
        verify(
            &client,
            &format!("{table} in 3 partitions"),
            &parts,
            checks,
            None,
        )
        .await;
        if let Some(groups) = case.get("groups").and_then(Value::as_object) {
            // One GROUP BY query gives every group's value.
            let calls: Vec<&str> = checks
                .iter()
                .map(|c| c["sql"].as_str().expect("sql"))
                .collect();
            let rows = client
                .query(
                    &format!(
                        "SELECT g, {} FROM {parts} GROUP BY g ORDER BY g",
                        calls.join(", ")
                    ),
                    &[],
                )
                .await
                .expect("group by");
            assert_eq!(rows.len(), groups.len());
            for row in &rows {
                let g: i64 = row.get(0);
                let expected = groups[&g.to_string()].as_array().expect("checks");
                for (i, check) in expected.iter().enumerate() {
                    let call = check["sql"].as_str().expect("sql");
                    if call.starts_with("ml_confusion_matrix") {
                        continue;
                    }
                    let actual: Option<f64> = row.get(i + 1);
                    let e = match &check["expected"] {
                        Value::String(s) if s == "Infinity" => f64::INFINITY,
                        v => v.as_f64().expect("number"),
                    };
                    let a = actual.expect("defined");
                    assert!(
                        close(a, e, check),
                        "{table} group {g}: {call} = {a}, reference {e}"
                    );
                }
                verify(
                    &client,
                    &format!("{table} g={g}"),
                    &parts,
                    expected,
                    Some(&g.to_string()),
                )
                .await;
            }
        }
    }
}
