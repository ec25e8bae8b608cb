//! The prediction log under load and under a crash: every scored row is
//! either in `ml_prediction_log` or counted as dropped, and a SIGKILL
//! leaves whole committed batches, never part of one.

use std::time::Duration;

use quarry::Config;
use quarry_test_macros::quarry_test;

use crate::harness::{
    Process, TestServer, connect, http_get, http_request, repo_root, scalar, texts,
};
use crate::ml::statements;

const SETUP: [&str; 3] = [
    "CREATE TABLE people AS SELECT value AS id, CAST(value % 10 AS DOUBLE) AS x1,
        CAST((value * 7) % 13 AS DOUBLE) AS x2,
        CASE WHEN (value * 7) % 13 > 6 THEN 'yes' ELSE 'no' END AS label
     FROM generate_series(1, 25000)",
    "CREATE MODEL m OPTIONS (algorithm = 'logistic', label = 'label', features = 'x1,x2')
        AS SELECT * FROM people",
    "SELECT ml_set_policy('m', '{\"log_sample_rate\": 1, \"key\": \"id\"}')",
];

async fn setup(client: &tokio_postgres::Client) {
    for statement in SETUP {
        client.simple_query(statement).await.expect("setup");
    }
}

/// The value of an unlabelled metric in a `/metrics` scrape.
fn metric(scrape: &str, name: &str) -> u64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in the scrape:\n{scrape}"))
}

#[quarry_test]
async fn every_scored_row_is_logged_or_counted_as_dropped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_data_dir(dir.path());
    // A whole 8192-row batch never fits, so drops happen however fast the
    // writer drains; a table's last, short batch does.
    config.prediction_log_queue = 5_000;
    let server = TestServer::with_config(config).await;
    let client = server.connect().await;
    setup(&client).await;
    let mut sessions = Vec::new();
    for _ in 0..4 {
        let client = server.connect().await;
        sessions.push(tokio::spawn(async move {
            scalar(
                &client,
                "SELECT count(prediction) FROM ml_predict('m', people)",
            )
            .await
        }));
    }
    for s in sessions {
        assert_eq!(s.await.expect("session"), "25000");
    }
    // Wait for the writer to account for every row (it runs at the lowest
    // priority: a busy machine makes it slow, never stops it).
    let mut scrape = String::new();
    for _ in 0..1200 {
        scrape = http_get(server.http, "/metrics").await;
        let accounted = metric(&scrape, "quarry_prediction_log_rows_written_total")
            + metric(&scrape, "quarry_prediction_log_rows_dropped_total");
        if accounted == 100_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let written = metric(&scrape, "quarry_prediction_log_rows_written_total");
    let dropped = metric(&scrape, "quarry_prediction_log_rows_dropped_total");
    let logged: u64 = scalar(&client, "SELECT count(*) FROM ml_prediction_log")
        .await
        .parse()
        .expect("count");
    assert_eq!(logged, written);
    assert_eq!(
        logged + dropped,
        100_000,
        "logged {logged}, dropped {dropped}"
    );
    assert!(
        dropped > 0 && logged > 0,
        "logged {logged}, dropped {dropped}"
    );
    assert!(
        scrape.contains("quarry_predictions_total{model=\"m\",version=\"1\"} 100000\n"),
        "{scrape}"
    );
    server.stop().await;
}

#[quarry_test]
async fn a_kill_leaves_whole_logged_batches() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    setup(&client).await;
    // Statements of 1000 rows: one scoring call (one partition, one
    // batch), one request id each.
    client
        .batch_execute("SET datafusion.execution.target_partitions = 1")
        .await
        .expect("set");
    let scoring = tokio::spawn(async move {
        loop {
            if client
                .simple_query(
                    "SELECT count(prediction) FROM ml_predict('m', (SELECT * FROM people WHERE id <= 1000))",
                )
                .await
                .is_err()
            {
                break;
            }
        }
    });
    // Kill once batches are being committed: the writer runs at the lowest
    // CPU priority, so on a loaded machine the first commit can take a
    // while; waiting for it keeps the kill in the middle of logging.
    for _ in 0..600 {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.http_port));
        let scrape = http_get(addr, "/metrics").await;
        if metric(&scrape, "quarry_prediction_log_rows_written_total") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill();
    let _ = scoring.await;

    let server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    let logged: u64 = scalar(&client, "SELECT count(*) FROM ml_prediction_log")
        .await
        .parse()
        .expect("count");
    assert!(logged > 0, "nothing was committed before the kill");
    let torn = scalar(
        &client,
        "SELECT count(*) FROM (SELECT request_id FROM ml_prediction_log GROUP BY request_id HAVING count(*) <> 1000 OR count(DISTINCT key) <> 1000)",
    )
    .await;
    assert_eq!(torn, "0", "a request's rows were logged in part");
    server.kill();
}

#[quarry_test]
async fn rest_predictions_equal_sql_bit_for_bit() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    setup(&client).await;
    let body = r#"{"rows": [{"id": 1, "x1": 1.5, "x2": 3}, {"id": 2, "x1": null, "x2": 12}, {"x1": 9, "x2": 0.25}]}"#;
    let (status, answer) =
        http_request(server.http, "POST", "/v1/models/m/predict", &[], body).await;
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["model"], "m");
    assert_eq!(answer["version"], 1);
    // Probabilities in binary, as the doubles they are.
    let sql: Vec<f64> = client
        .query(
            "SELECT ml_predict_proba('m', x1, x2) FROM (VALUES (1, 1.5, 3.0), (2, NULL, 12.0), (3, 9.0, 0.25)) AS t(n, x1, x2) ORDER BY n",
            &[],
        )
        .await
        .expect("probabilities")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let labels = texts(
        &client,
        "SELECT ml_predict('m', x1, x2) FROM (VALUES (1, 1.5, 3.0), (2, NULL, 12.0), (3, 9.0, 0.25)) AS t(n, x1, x2) ORDER BY n",
    )
    .await;
    for (i, (p, label)) in sql.iter().zip(&labels).enumerate() {
        let from_sql = *p;
        let from_rest = answer["probabilities"][i].as_f64().expect("probability");
        assert_eq!(from_rest.to_bits(), from_sql.to_bits(), "row {i}");
        assert_eq!(
            answer["predictions"][i].as_str(),
            label.as_deref(),
            "row {i}"
        );
    }
    // Bad input: 400 naming the row, the field and the type; unknown model 404.
    for (path, body, status, says) in [
        (
            "/v1/models/m/predict",
            r#"{"rows": [{"x1": 1, "x2": "a"}]}"#,
            400,
            "row 0: feature \"x2\" must be a number or null, got a string",
        ),
        (
            "/v1/models/m/predict",
            r#"{"rows": [{"x1": 1}]}"#,
            400,
            "row 0: feature \"x2\" is missing",
        ),
        (
            "/v1/models/m/predict",
            r#"{"rows": [{"x1": 1, "x2": 2}, {"x1": 1, "x2": 2, "x3": 0}]}"#,
            400,
            "row 1: \"x3\" is not a feature of model m@1",
        ),
        ("/v1/models/m/predict", r#"{"row": []}"#, 400, "\"rows\""),
        (
            "/v1/models/m/predict",
            "not json",
            400,
            "the body must be JSON",
        ),
        (
            "/v1/models/nope/predict",
            r#"{"rows": []}"#,
            404,
            "model \"nope\" does not exist",
        ),
        (
            "/v1/models/m@7/predict",
            r#"{"rows": []}"#,
            404,
            "version 7",
        ),
    ] {
        let (got, answer) = http_request(server.http, "POST", path, &[], body).await;
        assert_eq!(got, status, "{body}: {answer}");
        let error: serde_json::Value = serde_json::from_str(&answer).expect("JSON error");
        let message = error["error"].as_str().expect("error message");
        assert!(message.contains(says), "{body}: {message}");
    }
    let (status, listing) = http_request(server.http, "GET", "/v1/models", &[], "").await;
    assert_eq!(status, 200);
    assert!(listing.contains("\"name\":\"m\""), "{listing}");
    let (status, one) = http_request(server.http, "GET", "/v1/models/m", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        one.contains("\"features\":[{\"kind\":\"numeric\",\"name\":\"x1\""),
        "{one}"
    );
    // Logged like SQL's calls, with the key.
    // A scan of the log waits for the rows queued before it.
    let logged = scalar(
        &client,
        "SELECT count(*) || ' ' || count(key) FROM ml_prediction_log WHERE function = 'rest'",
    )
    .await;
    assert_eq!(logged, "3 2");
    server.stop().await;
}

#[quarry_test]
async fn the_api_needs_a_server_users_password_when_the_server_has_one() {
    use base64::Engine;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_data_dir(dir.path());
    config.password = Some("s3cret".into());
    let server = TestServer::with_config(config).await;
    // GET /v1/models with these Basic credentials, if any.
    let http = server.http;
    let models = |credentials: Option<&'static str>| async move {
        let auth = credentials.map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(c)
            )
        });
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        http_request(http, "GET", "/v1/models", &headers, "").await
    };
    for refused in [None, Some("quarry:nope"), Some("someone:s3cret")] {
        let (status, body) = models(refused).await;
        assert_eq!(status, 401, "{refused:?}: {body}");
    }
    // Twice: the second is answered from the verified-login cache.
    for _ in 0..2 {
        let (status, body) = models(Some("quarry:s3cret")).await;
        assert_eq!((status, body.as_str()), (200, "{\"models\":[]}"));
    }
    let (status, _) = http_request(server.http, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 401);
    let (status, _) = http_request(server.http, "GET", "/health", &[], "").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[quarry_test]
async fn operations_walkthrough_runs() {
    let server = TestServer::start_demo().await;
    let client = server.connect().await;
    let sql = std::fs::read_to_string(repo_root().join("sql/examples/operations.sql"))
        .expect("walkthrough exists");
    for statement in statements(&sql) {
        client
            .simple_query(&statement)
            .await
            .unwrap_or_else(|e| panic!("walkthrough statement failed:\n{statement}\n{e}"));
    }
    // What it claims: every customer scored is in the log once, keyed; the
    // feedback joins back to its predictions; the minutes count the rows.
    for (sql, expected) in [
        (
            "SELECT count(*) || ' ' || count(DISTINCT key) FROM ml_prediction_log WHERE model = 'churn_live'",
            "10000 10000",
        ),
        (
            "SELECT count(*) FROM ml_feedback f JOIN ml_prediction_log l ON l.model = f.model AND l.key = f.key AND l.at <= f.at WHERE f.model = 'churn_live'",
            "1001",
        ),
        (
            "SELECT sum(predictions) FROM ml_model_metrics WHERE model = 'churn_live'",
            "10000",
        ),
        // ml_monitor's day: every prediction, the joined feedback, AUC as
        // the aggregate gives it on those rows, the overridden call, and
        // drift as ml_drift sees the scored customers.
        (
            "SELECT predictions || ' ' || labelled || ' ' || CAST(round(override_rate * labelled) AS BIGINT) FROM ml_monitor('churn_live') WHERE metric = 'roc_auc'",
            "10000 1001 1",
        ),
        (
            "SELECT abs(m.value - j.auc) < 1e-12 FROM ml_monitor('churn_live') m,
               (SELECT ml_roc_auc(f.actual = 'true', l.probability) AS auc FROM ml_feedback f
                JOIN ml_prediction_log l ON l.model = f.model AND l.key = f.key AND l.at <= f.at
                WHERE f.model = 'churn_live') j
             WHERE m.metric = 'roc_auc'",
            "t",
        ),
        (
            "SELECT m.drifted_features || ' ' || d.drifted || ' ' || (abs(m.prediction_psi - d.psi) < 1e-12)
             FROM (SELECT * FROM ml_monitor('churn_live') LIMIT 1) m,
               (SELECT count(*) FILTER (WHERE feature <> 'prediction' AND drifted) AS drifted,
                       max(value) FILTER (WHERE feature = 'prediction') AS psi
                FROM ml_drift('churn_live', customers_recent) WHERE metric = 'psi') d",
            "3 3 true",
        ),
    ] {
        assert_eq!(scalar(&client, sql).await, expected, "{sql}");
    }
    let (status, scrape) = http_request(server.http, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        scrape.contains("quarry_predictions_total{model=\"churn_live\",version=\"1\"} 10000\n"),
        "{scrape}"
    );
    // Today's PSI of each feature, as ml_drift computes it on the same rows.
    let drift = texts(
        &client,
        "SELECT feature || ' ' || CAST(value AS TEXT) FROM ml_drift('churn_live', customers_recent)
         WHERE metric = 'psi' AND feature <> 'prediction' ORDER BY feature",
    )
    .await;
    assert_eq!(drift.len(), 6, "{drift:?}");
    for row in drift {
        let row = row.expect("a row");
        let (feature, psi) = row.split_once(' ').expect("feature and value");
        let psi: f64 = psi.parse().expect("a number");
        let prefix = format!(
            "quarry_feature_psi{{model=\"churn_live\",version=\"1\",feature=\"{feature}\"}} "
        );
        let live: f64 = scrape
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no PSI of {feature} in the scrape:\n{scrape}"))
            .parse()
            .expect("a number");
        assert!((live - psi).abs() < 1e-12, "{feature}: {live} vs {psi}");
    }
    server.stop().await;
}
