//! Lifecycle automation: traffic splits between production and a
//! challenger, by key, over SQL and REST, stable across a restart; the
//! shadow's rows logged and never returned.

use quarry_test_macros::quarry_test;
use serde_json::Value;

use crate::harness::{TestServer, http_request, scalar};

const KEYS: i64 = 100_000;

const SETUP: [&str; 6] = [
    "CREATE TABLE users AS SELECT CAST(value AS BIGINT) AS id, CAST(value % 11 AS DOUBLE) AS x,
        CAST(value % 3 AS DOUBLE) AS y FROM generate_series(1, 100000) AS g(value)",
    "CREATE MODEL m OPTIONS (algorithm = 'sql_rule', task = 'regression', label = 'y', expression = 'x * 0 + 1.0') AS SELECT x, y FROM users",
    "CREATE MODEL m OPTIONS (algorithm = 'sql_rule', task = 'regression', label = 'y', expression = 'x * 0 + 2.0') AS SELECT x, y FROM users",
    "SELECT ml_deploy('m', 1)",
    "SELECT ml_set_policy('m', '{\"key\": \"id\"}')",
    "SELECT ml_deploy('m', 2, 'challenger', 0.3)",
];

/// The challenger's share of the keys and a digest of which keys it has,
/// through the scalar and the table form (which must agree).
async fn split(client: &tokio_postgres::Client) -> (f64, String) {
    let scalar_form = scalar(
        client,
        "SELECT count(*) FILTER (WHERE p = 2) || ' ' || md5(string_agg(CAST(id AS TEXT), ',' ORDER BY id) FILTER (WHERE p = 2))
         FROM (SELECT id, ml_predict('m', x) AS p FROM users) s",
    )
    .await;
    let table_form = scalar(
        client,
        "SELECT count(*) FILTER (WHERE arm = 'challenger' AND prediction = 2) || ' ' || md5(string_agg(CAST(id AS TEXT), ',' ORDER BY id) FILTER (WHERE arm = 'challenger'))
         FROM ml_predict('m', users)",
    )
    .await;
    assert_eq!(scalar_form, table_form);
    let (count, digest) = scalar_form.split_once(' ').expect("count and digest");
    (
        count.parse::<f64>().expect("count") / KEYS as f64,
        digest.to_string(),
    )
}

/// Each row's arm as REST answers for users 1..=n, checked against the
/// version that answered.
async fn rest_arms(server: &TestServer, n: i64) -> Vec<String> {
    let rows: Vec<Value> = (1..=n)
        .map(|id| serde_json::json!({"id": id, "x": (id % 11) as f64}))
        .collect();
    let body = serde_json::json!({ "rows": rows }).to_string();
    let (status, answer) =
        http_request(server.http, "POST", "/v1/models/m/predict", &[], &body).await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    let arms: Vec<String> = answer["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .map(|a| a.as_str().expect("text").to_string())
        .collect();
    for (i, arm) in arms.iter().enumerate() {
        let (version, prediction) = if arm == "challenger" {
            (2, 2.0)
        } else {
            (1, 1.0)
        };
        assert_eq!(answer["versions"][i], version, "{answer}");
        assert_eq!(answer["predictions"][i], prediction, "{answer}");
    }
    arms
}

#[quarry_test]
async fn traffic_splits_by_key_alike_everywhere_and_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    for sql in SETUP {
        client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let (share, keys) = split(&client).await;
    assert!((share - 0.3).abs() <= 0.01, "challenger share {share}");
    // REST routes each key as SQL does.
    let sql_arms: Vec<String> = crate::harness::texts(
        &client,
        "SELECT ml_predict_arm('m', id) FROM users WHERE id <= 300 ORDER BY id",
    )
    .await
    .into_iter()
    .map(Option::unwrap_or_default)
    .collect();
    let arms = rest_arms(&server, 300).await;
    assert_eq!(arms, sql_arms);
    assert!(arms.iter().any(|a| a == "challenger") && arms.iter().any(|a| a == "production"));
    drop(client);
    server.stop().await;

    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    assert_eq!(
        split(&client).await,
        (share, keys),
        "the split moved across a restart"
    );
    assert_eq!(rest_arms(&server, 300).await, arms);
    server.stop().await;
}

#[quarry_test]
async fn the_shadow_is_logged_and_never_answers() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    for sql in SETUP.iter().chain(&[
        "CREATE MODEL m OPTIONS (algorithm = 'sql_rule', task = 'regression', label = 'y', expression = 'x * 0 + 3.0') AS SELECT x, y FROM users",
        "SELECT ml_deploy('m', 3, 'shadow')",
        "SELECT ml_set_policy('m', '{\"log_sample_rate\": 1}')",
    ]) {
        client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) || ' ' || max(prediction) FROM ml_predict('m', (SELECT * FROM users WHERE id <= 2000))"
        )
        .await,
        "2000 2.0"
    );
    let body = r#"{"rows": [{"id": 1, "x": 1.0}, {"id": 2, "x": 2.0}, {"id": 3, "x": 3.0}]}"#;
    let (status, answer) =
        http_request(server.http, "POST", "/v1/models/m/predict", &[], body).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    let predictions = answer["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), 3);
    assert!(
        predictions.iter().all(|p| p == 1.0 || p == 2.0),
        "the shadow answered: {answer}"
    );
    // The log: every row by its arm, and again by the shadow, keyed.
    assert_eq!(
        scalar(
            &client,
            "SELECT string_agg(alias || ':' || version || ':' || n, ' ' ORDER BY alias) FROM
               (SELECT alias, version, count(*) AS n FROM ml_prediction_log WHERE model = 'm' AND key IS NOT NULL AND version = 3 GROUP BY alias, version) s",
        )
        .await,
        "shadow:3:2003"
    );
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) FROM ml_prediction_log WHERE model = 'm' AND version <> 3",
        )
        .await,
        "2003"
    );
    server.stop().await;
}
