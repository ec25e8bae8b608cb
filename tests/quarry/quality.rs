//! Data quality functions against references: `ml_profile` against pandas
//! on every demo table (fixture from scripts/fixtures/profile.py), and
//! `ml_validate` counts against the same rules written as plain SQL.

use quarry_test_macros::quarry_test;
use serde_json::Value;
use tokio_postgres::Row;

use crate::harness::{TestServer, repo_root};

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-9 * expected.abs().max(1e-300)
}

fn float(row: &Row, column: &str) -> Option<f64> {
    row.get::<_, Option<f64>>(column)
}

#[quarry_test]
async fn profile_equals_pandas_describe_on_the_demo_tables() {
    let server = TestServer::start_demo().await;
    let client = server.connect().await;
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/profile.json")).expect("fixture"),
    )
    .expect("json");
    let tables = fixture["tables"].as_object().expect("tables");
    assert_eq!(tables.len(), 4);
    for (table, columns) in tables {
        let rows = client
            .query(&format!("SELECT * FROM ml_profile({table})"), &[])
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        let columns = columns.as_object().expect("columns");
        assert_eq!(rows.len(), columns.len(), "{table}: one row per column");
        for row in &rows {
            let name: String = row.get("name");
            let expected = &columns[&name];
            let label = format!("{table}.{name}");
            let int = |key: &str| expected[key].as_i64().expect("count");
            assert_eq!(row.get::<_, i64>("rows"), int("rows"), "{label} rows");
            assert_eq!(row.get::<_, i64>("nulls"), int("nulls"), "{label} nulls");
            assert_eq!(
                row.get::<_, i64>("distinct"),
                int("distinct"),
                "{label} distinct"
            );
            let top: Value =
                serde_json::from_str(&row.get::<_, String>("top_values")).expect("top json");
            if expected["numeric"] == Value::Bool(true) {
                for (column, key) in [
                    ("mean", "mean"),
                    ("stddev", "std"),
                    ("p01", "p01"),
                    ("p25", "p25"),
                    ("p50", "p50"),
                    ("p75", "p75"),
                    ("p99", "p99"),
                ] {
                    let (a, e) = (float(row, column), expected[key].as_f64());
                    match (a, e) {
                        (Some(a), Some(e)) => {
                            assert!(close(a, e), "{label} {column}: {a}, pandas {e}")
                        }
                        (a, e) => assert_eq!(a, e, "{label} {column}"),
                    }
                }
                for (column, key) in [("min", "min"), ("max", "max")] {
                    let text: String = row.get(column);
                    let a: f64 = text.parse().expect("numeric min/max");
                    let e = expected[key].as_f64().expect("pandas min/max");
                    assert!(close(a, e), "{label} {column}: {a}, pandas {e}");
                }
            } else {
                assert_eq!(
                    top[0]["count"].as_i64(),
                    expected["top_count"].as_i64(),
                    "{label}: count of the most frequent value"
                );
                assert_eq!(float(row, "mean"), None, "{label}: no mean for text");
            }
        }
    }
}

#[quarry_test]
async fn validate_counts_equal_plain_sql() {
    let server = TestServer::start_demo().await;
    let client = server.connect().await;
    let rules = [
        "age BETWEEN 20 AND 70",
        "gender IS NOT NULL",
        "monthly_fee < 90 OR plan = 'premium'",
        "usage_minutes > 100",
        "city LIKE 'city_0%'",
    ];
    let quoted: Vec<String> = rules
        .iter()
        .map(|r| format!("'{}'", r.replace('\'', "''")))
        .collect();
    let rows = client
        .query(
            &format!("SELECT rule, total_rows, failing_rows, passed, sample FROM ml_validate(customers, {}, 'unique(city, plan)')", quoted.join(", ")),
            &[],
        )
        .await
        .expect("validate");
    assert_eq!(rows.len(), rules.len() + 1);
    for (row, rule) in rows.iter().zip(rules) {
        assert_eq!(row.get::<_, String>("rule"), rule);
        // A rule fails where it is false, not where it is NULL.
        let failing: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM customers WHERE NOT ({rule})"),
                &[],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(row.get::<_, i64>("failing_rows"), failing, "{rule}");
        assert_eq!(row.get::<_, i64>("total_rows"), 50_000);
        assert_eq!(row.get::<_, bool>("passed"), failing == 0);
        let sample: Value = serde_json::from_str(&row.get::<_, String>("sample")).expect("json");
        let sample = sample.as_array().expect("array");
        assert_eq!(sample.len() as i64, failing.min(5), "{rule}: sample size");
        for failed in sample {
            // Each sampled row really breaks the rule.
            let id = failed["customer_id"].as_i64().expect("id");
            let holds: Option<bool> = client
                .query_one(
                    &format!("SELECT ({rule}) FROM customers WHERE customer_id = {id}"),
                    &[],
                )
                .await
                .expect("recheck")
                .get(0);
            assert_eq!(holds, Some(false), "{rule}: sampled row {id}");
        }
    }
    let unique = &rows[rules.len()];
    let duplicated: i64 = client
        .query_one(
            "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM customers GROUP BY city, plan HAVING count(*) > 1) t",
            &[],
        )
        .await
        .expect("duplicates")
        .get(0);
    assert_eq!(unique.get::<_, i64>("failing_rows"), duplicated);
}

#[quarry_test]
async fn stationarity_matches_statsmodels() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/stationarity.json"))
            .expect("fixture"),
    )
    .expect("json");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        client
            .simple_query(&format!("CREATE TABLE s_{name} (t BIGINT, v DOUBLE)"))
            .await
            .expect("create");
        let rows: Vec<String> = case["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| format!("({}, {})", r[0], r[1]))
            .collect();
        for chunk in rows.chunks(1000) {
            client
                .simple_query(&format!("INSERT INTO s_{name} VALUES {}", chunk.join(", ")))
                .await
                .expect("insert");
        }
        // The rows are stored shuffled: the time column orders them.
        let results = client
            .query(
                &format!("SELECT * FROM ml_stationarity(s_{name}, 'v', 't')"),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(results.len(), 2);
        for row in &results {
            let test: String = row.get("test");
            let expected = &case[test.as_str()];
            let label = format!("{name} {test}");
            let statistic: f64 = row.get::<_, Option<f64>>("statistic").expect("statistic");
            let e = expected["statistic"].as_f64().expect("statistic");
            assert!(
                (statistic - e).abs() <= 1e-9 * e.abs().max(1e-3),
                "{label}: statistic {statistic}, statsmodels {e}"
            );
            let p: f64 = row.get::<_, Option<f64>>("p_value").expect("p");
            let ep = expected["p_value"].as_f64().expect("p");
            assert!((p - ep).abs() <= 1e-6, "{label}: p {p}, statsmodels {ep}");
            assert_eq!(
                row.get::<_, Option<i64>>("lags"),
                expected["lags"].as_i64(),
                "{label} lags"
            );
            for c in ["critical_1", "critical_5", "critical_10"] {
                let a: f64 = row.get::<_, Option<f64>>(c).expect("critical");
                let e = expected[c].as_f64().expect("critical");
                assert!((a - e).abs() <= 1e-9 * e.abs(), "{label} {c}: {a} vs {e}");
            }
        }
    }
}
